"""In-memory log and anchor: the same code paths as the durable ones, no I/O."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection, Iterable, Mapping

from ledger.errors import AnchorRejectedError, AnchorUnavailableError
from ledger.models import AnchorReceipt, Checkpoint, Entry
from ledger.ports import PendingAnchor
from ledger.tree import Head, sequence

__all__ = ["InMemoryAnchor", "InMemoryLog"]


class InMemoryLog:
    """A thread-safe in-memory log store: append, read hashes, list entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._head = Head.empty()

    @property
    def head(self) -> Head:
        """The current sequencer head."""
        return self._head

    def append(self, items: Iterable[bytes]) -> list[Entry]:
        """Append entries atomically; return them with their indices."""
        with self._lock:
            entries, self._head = sequence(self._head, items)
            self._entries.extend(entries)
            return entries

    def entries(self, start: int = 0) -> list[Entry]:
        """Return the stored entries from ``start`` on."""
        return self._entries[start:]

    def read_hashes(
        self, indices: Collection[int]
    ) -> Mapping[int, tuple[bytes, bytes]]:
        """Return ``{index: (leaf_hash, nodes)}`` for stored ``indices``."""
        n = len(self._entries)
        return {
            i: (self._entries[i].leaf_hash, self._entries[i].nodes)
            for i in indices
            if 0 <= i < n
        }


class InMemoryAnchor:
    """A fake chain with the contract's rules: one writer, strictly growing sizes.

    Args:
        chain_id: the id it reports.
        available: set to False to simulate an unreachable chain.
    """

    def __init__(self, chain_id: int = 1337) -> None:
        self._chain_id = chain_id
        self.available = True
        self._heads: dict[bytes, tuple[int, bytes]] = {}
        self._mined: dict[str, AnchorReceipt] = {}
        self._nonce = 0
        self.sent = 0  # transactions that changed state (for tests)

    @property
    def chain_id(self) -> int:
        """The chain id it reports."""
        return self._chain_id

    def _check(self) -> None:
        if not self.available:
            raise AnchorUnavailableError("in-memory chain marked unavailable")

    def prepare(self, checkpoint: Checkpoint) -> PendingAnchor:
        """Sign (hash) an anchor transaction, refusing a size that does not grow."""
        self._check()
        size, _ = self._heads.get(checkpoint.log_id, (0, bytes(32)))
        if checkpoint.size <= size:
            raise AnchorRejectedError(
                f"tree size {checkpoint.size} does not exceed anchored size {size}"
            )
        raw = b"%d|%d|" % (self._nonce, checkpoint.size) + checkpoint.root_hash
        self._nonce += 1
        return PendingAnchor(
            chain_id=self._chain_id,
            log_id=checkpoint.log_id,
            tree_size=checkpoint.size,
            root_hash=checkpoint.root_hash,
            tx_hash="0x" + hashlib.sha256(raw).hexdigest(),
            raw_tx=raw,
        )

    def submit(self, pending: PendingAnchor) -> AnchorReceipt:
        """Mine the transaction once; later calls return the same receipt."""
        self._check()
        if pending.tx_hash in self._mined:
            return self._mined[pending.tx_hash]
        size, _ = self._heads.get(pending.log_id, (0, bytes(32)))
        if pending.tree_size <= size:
            raise AnchorRejectedError(
                f"tree size {pending.tree_size} does not exceed anchored size {size}"
            )
        self._heads[pending.log_id] = (pending.tree_size, pending.root_hash)
        receipt = AnchorReceipt(self._chain_id, pending.tx_hash, len(self._mined) + 1)
        self._mined[pending.tx_hash] = receipt
        self.sent += 1
        return receipt

    def find(self, tx_hash: str) -> AnchorReceipt | None:
        """Return the receipt of a mined transaction, or None."""
        self._check()
        return self._mined.get(tx_hash)

    def anchored(self, log_id: bytes) -> tuple[int, bytes]:
        """Return the latest anchored ``(size, root)`` of a log."""
        self._check()
        return self._heads.get(log_id, (0, bytes(32)))
