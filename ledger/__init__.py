"""A verifiable, append-only ledger: RFC 9162 Merkle tree, hash chain, C2SP checkpoints.

The ledger owns hashing, proofs, sequencing, signed checkpoints, receipts, the audit
and the anchor port. It stores nothing itself: storage adapters (``server``) and the
in-memory adapters here keep entries; ``ledger.adapters.evm`` anchors on a chain.
It sees events only as bytes plus the :class:`Event` envelope.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.audit import AuditReport, audit_log
    from ledger.checkpoint import open_checkpoint, sign_checkpoint
    from ledger.errors import (
        AnchorConfigError,
        AnchorError,
        AnchorRejectedError,
        AnchorUnavailableError,
        CheckpointError,
        EntryNotFoundError,
        EventValidationError,
        InconsistentCheckpointError,
        IntegrityError,
        LedgerError,
        NoteError,
        NoteFormatError,
        ProofError,
        ProofShapeError,
        ReceiptError,
        RootMismatchError,
        SignatureError,
    )
    from ledger.hashing import (
        DEFAULT_HASHER,
        GENESIS_LINK,
        Hasher,
        Sha256Hasher,
        chain_link,
    )
    from ledger.log import consistency_proof, inclusion_proof, root_at
    from ledger.models import (
        AnchorReceipt,
        Checkpoint,
        Entry,
        Event,
        Receipt,
        log_id_for,
    )
    from ledger.note import NoteSigner, NoteVerifier, generate_key, open_note, sign_note
    from ledger.ports import Anchor, NodeReader, PendingAnchor
    from ledger.proof import (
        NodeID,
        consistency_nodes,
        inclusion_nodes,
        root_from_inclusion_proof,
        verify_consistency,
        verify_inclusion,
    )
    from ledger.receipt import verify_receipt
    from ledger.tree import Head, node_location, sequence

# Public name -> the submodule that defines it. Importing the package loads
# nothing else; a name's submodule (and its libraries) loads on first use (PEP 562).
_SUBMODULE = {
    "DEFAULT_HASHER": "ledger.hashing",
    "GENESIS_LINK": "ledger.hashing",
    "Anchor": "ledger.ports",
    "AnchorConfigError": "ledger.errors",
    "AnchorError": "ledger.errors",
    "AnchorReceipt": "ledger.models",
    "AnchorRejectedError": "ledger.errors",
    "AnchorUnavailableError": "ledger.errors",
    "AuditReport": "ledger.audit",
    "Checkpoint": "ledger.models",
    "CheckpointError": "ledger.errors",
    "Entry": "ledger.models",
    "EntryNotFoundError": "ledger.errors",
    "Event": "ledger.models",
    "EventValidationError": "ledger.errors",
    "Hasher": "ledger.hashing",
    "Head": "ledger.tree",
    "InconsistentCheckpointError": "ledger.errors",
    "IntegrityError": "ledger.errors",
    "LedgerError": "ledger.errors",
    "NodeID": "ledger.proof",
    "NodeReader": "ledger.ports",
    "NoteError": "ledger.errors",
    "NoteFormatError": "ledger.errors",
    "NoteSigner": "ledger.note",
    "NoteVerifier": "ledger.note",
    "PendingAnchor": "ledger.ports",
    "ProofError": "ledger.errors",
    "ProofShapeError": "ledger.errors",
    "Receipt": "ledger.models",
    "ReceiptError": "ledger.errors",
    "RootMismatchError": "ledger.errors",
    "Sha256Hasher": "ledger.hashing",
    "SignatureError": "ledger.errors",
    "audit_log": "ledger.audit",
    "chain_link": "ledger.hashing",
    "consistency_nodes": "ledger.proof",
    "consistency_proof": "ledger.log",
    "generate_key": "ledger.note",
    "inclusion_nodes": "ledger.proof",
    "inclusion_proof": "ledger.log",
    "log_id_for": "ledger.models",
    "node_location": "ledger.tree",
    "open_checkpoint": "ledger.checkpoint",
    "open_note": "ledger.note",
    "root_at": "ledger.log",
    "root_from_inclusion_proof": "ledger.proof",
    "sequence": "ledger.tree",
    "sign_checkpoint": "ledger.checkpoint",
    "sign_note": "ledger.note",
    "verify_consistency": "ledger.proof",
    "verify_inclusion": "ledger.proof",
    "verify_receipt": "ledger.receipt",
}

__all__ = [
    "DEFAULT_HASHER",
    "GENESIS_LINK",
    "Anchor",
    "AnchorConfigError",
    "AnchorError",
    "AnchorReceipt",
    "AnchorRejectedError",
    "AnchorUnavailableError",
    "AuditReport",
    "Checkpoint",
    "CheckpointError",
    "Entry",
    "EntryNotFoundError",
    "Event",
    "EventValidationError",
    "Hasher",
    "Head",
    "InconsistentCheckpointError",
    "IntegrityError",
    "LedgerError",
    "NodeID",
    "NodeReader",
    "NoteError",
    "NoteFormatError",
    "NoteSigner",
    "NoteVerifier",
    "PendingAnchor",
    "ProofError",
    "ProofShapeError",
    "Receipt",
    "ReceiptError",
    "RootMismatchError",
    "Sha256Hasher",
    "SignatureError",
    "audit_log",
    "chain_link",
    "consistency_nodes",
    "consistency_proof",
    "generate_key",
    "inclusion_nodes",
    "inclusion_proof",
    "log_id_for",
    "node_location",
    "open_checkpoint",
    "open_note",
    "root_at",
    "root_from_inclusion_proof",
    "sequence",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
    "verify_receipt",
]


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any name

    def __getattr__(name: str) -> Any:
        """Import the submodule that defines ``name`` on first use, then keep it here."""
        try:
            module = _SUBMODULE[name]
        except KeyError:
            raise AttributeError(
                f"module {__name__!r} has no attribute {name!r}"
            ) from None
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        """The public names, loaded or not."""
        return sorted(set(globals()) | set(__all__))
