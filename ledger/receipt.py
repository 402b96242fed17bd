"""Verify a receipt offline: entry, leaf hash, inclusion proof and signed checkpoint."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.checkpoint import open_checkpoint
from ledger.errors import LedgerError, ReceiptError
from ledger.hashing import DEFAULT_HASHER, Hasher
from ledger.models import Checkpoint, Receipt
from ledger.note import NoteVerifier
from ledger.proof import verify_inclusion

__all__ = ["verify_receipt"]


def verify_receipt(
    receipt: Receipt,
    verifiers: Iterable[NoteVerifier],
    hasher: Hasher = DEFAULT_HASHER,
) -> Checkpoint:
    """Check a receipt with nothing but the log's verifier key.

    Checks, in order: the leaf hash is the hash of the entry bytes; the checkpoint
    note is signed by a trusted key and parses; its size is the receipt's
    ``tree_size``; the inclusion proof leads from the leaf to its root.

    Returns:
        The verified checkpoint.

    Raises:
        ReceiptError: the first check that failed, with the reason.
    """
    if hasher.hash_leaf(receipt.entry) != receipt.leaf_hash:
        raise ReceiptError("leaf_hash is not the RFC 9162 leaf hash of entry")
    try:
        checkpoint = open_checkpoint(receipt.checkpoint, verifiers)
    except LedgerError as exc:
        raise ReceiptError(f"checkpoint: {exc}") from exc
    if checkpoint.size != receipt.tree_size:
        raise ReceiptError(
            f"tree_size {receipt.tree_size} differs from the checkpoint's size "
            f"{checkpoint.size}"
        )
    try:
        verify_inclusion(
            receipt.index,
            receipt.tree_size,
            receipt.leaf_hash,
            receipt.inclusion_proof,
            checkpoint.root_hash,
            hasher,
        )
    except LedgerError as exc:
        raise ReceiptError(f"inclusion_proof: {exc}") from exc
    return checkpoint
