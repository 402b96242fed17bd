"""Ports: what the ledger needs from storage and from a chain."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from ledger.models import AnchorReceipt, Checkpoint

__all__ = ["Anchor", "NodeReader", "PendingAnchor"]


class NodeReader(Protocol):
    """Read access to stored tree hashes, by entry index.

    Implementations must return, for each requested index below the log's size,
    the entry's leaf hash and its ``nodes`` blob (see :mod:`ledger.tree`), and omit
    indices that are not stored.
    """

    def read_hashes(
        self, indices: Collection[int]
    ) -> Mapping[int, tuple[bytes, bytes]]:
        """Return ``{index: (leaf_hash, nodes)}`` for the stored ``indices``."""
        ...


@dataclass(frozen=True, slots=True)
class PendingAnchor:
    """A signed anchor transaction, recorded before it is sent.

    Sending the same ``raw_tx`` twice can only land once (it carries a fixed nonce),
    so a restart re-sends it instead of anchoring again.
    """

    chain_id: int
    log_id: bytes
    tree_size: int
    root_hash: bytes
    tx_hash: str
    raw_tx: bytes


class Anchor(Protocol):
    """A public chain that records checkpoints (size and root) of a log.

    ``submit`` must be idempotent for the same ``PendingAnchor`` and must raise
    ``AnchorUnavailableError`` when the chain cannot be reached and
    ``AnchorRejectedError`` when it refuses the transaction.
    """

    @property
    def chain_id(self) -> int:
        """The chain's EIP-155 id."""
        ...

    def prepare(self, checkpoint: Checkpoint) -> PendingAnchor:
        """Build and sign (but do not send) the anchor transaction."""
        ...

    def submit(self, pending: PendingAnchor) -> AnchorReceipt:
        """Send a prepared transaction (again, if needed) and wait for its receipt."""
        ...

    def find(self, tx_hash: str) -> AnchorReceipt | None:
        """Return the receipt of a mined transaction, or None if it is not mined."""
        ...

    def anchored(self, log_id: bytes) -> tuple[int, bytes]:
        """Return the latest anchored ``(tree_size, root)`` of a log (0, zeros if none)."""
        ...
