"""Sequencing: extend the log's compact range and hash chain with new entries.

The log keeps, for its current size n, the *compact range* of [0, n): the hashes of
the perfect subtrees that decompose it, one per set bit of n, largest first. Appending
a leaf pushes its hash and merges equal-level neighbours, which completes exactly the
perfect subtrees that end at the new leaf. Those hashes are stored with the entry,
so every perfect subtree of the tree is stored exactly once, in the row of its last
leaf: node (level, index) lives in entry ``(index + 1) * 2**level - 1``, at slot
``level - 1`` of that entry's ``nodes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.errors import IntegrityError, ProofShapeError
from ledger.hashing import (
    CHAIN_PREFIX,
    DEFAULT_HASHER,
    GENESIS_LINK,
    LEAF_PREFIX,
    NODE_PREFIX,
    Hasher,
    Sha256Hasher,
    chain_link,
)
from ledger.models import Entry
from ledger.proof import NodeID, root_of_range

__all__ = ["Head", "node_location", "sequence"]


@dataclass(frozen=True, slots=True)
class Head:
    """The sequencer's state after ``size`` entries.

    Attributes:
        size: number of entries.
        link: hash-chain link of the last entry (``GENESIS_LINK`` when empty).
        frontier: compact range of [0, size), largest subtree first.
    """

    size: int
    link: bytes
    frontier: tuple[bytes, ...]

    @classmethod
    def empty(cls) -> Head:
        """The state of an empty log."""
        return cls(0, GENESIS_LINK, ())

    def __post_init__(self) -> None:
        if len(self.frontier) != self.size.bit_count():
            raise IntegrityError(
                f"head of size {self.size} has {len(self.frontier)} frontier hashes, "
                f"want {self.size.bit_count()}",
                index=None,
            )

    def root(self, hasher: Hasher = DEFAULT_HASHER) -> bytes:
        """Return the RFC 9162 root hash of the first ``size`` entries."""
        return root_of_range(self.frontier, hasher)

    def frontier_blob(self) -> bytes:
        """Return the frontier hashes concatenated, for storage."""
        return b"".join(self.frontier)

    @classmethod
    def from_blob(cls, size: int, link: bytes, blob: bytes) -> Head:
        """Rebuild a head from :meth:`frontier_blob` output."""
        return cls(size, link, tuple(blob[i : i + 32] for i in range(0, len(blob), 32)))


def sequence(
    head: Head, items: Iterable[bytes], hasher: Hasher = DEFAULT_HASHER
) -> tuple[list[Entry], Head]:
    """Assign indices to ``items`` after ``head`` and hash them into the log.

    Pure: the caller stores the entries and the new head in one transaction, holding
    the sequencer lock, so no two writers can extend the same head.

    Returns:
        The new entries, in order, and the head after them.

    Examples:
        >>> entries, head = sequence(Head.empty(), [b"a", b"b", b"c"])
        >>> [e.index for e in entries], head.size, len(entries[1].nodes)
        ([0, 1, 2], 3, 32)
    """
    if type(hasher) is Sha256Hasher:
        return _sequence_sha256(head, items)
    frontier = list(head.frontier)
    link = head.link
    index = head.size
    out = []
    hash_leaf, hash_children = hasher.hash_leaf, hasher.hash_children
    for data in items:
        leaf = hash_leaf(data)
        new_link = chain_link(link, leaf)
        completed = []
        node = leaf
        # Each trailing one bit of `index` is a left sibling waiting on the frontier.
        n = index
        while n & 1:
            node = hash_children(frontier.pop(), node)
            completed.append(node)
            n >>= 1
        frontier.append(node)
        out.append(Entry(index, data, leaf, link, b"".join(completed)))
        link = new_link
        index += 1
    return out, Head(index, link, tuple(frontier))


def _sequence_sha256(head: Head, items: Iterable[bytes]) -> tuple[list[Entry], Head]:
    """:func:`sequence` with SHA-256 inlined: the append hot path, ~40 % faster."""
    sha256 = hashlib.sha256
    frontier = list(head.frontier)
    link = head.link
    index = head.size
    out = []
    for data in items:
        leaf = sha256(LEAF_PREFIX + data).digest()
        completed = []
        node = leaf
        n = index
        while n & 1:
            node = sha256(NODE_PREFIX + frontier.pop() + node).digest()
            completed.append(node)
            n >>= 1
        frontier.append(node)
        out.append(Entry(index, data, leaf, link, b"".join(completed)))
        link = sha256(CHAIN_PREFIX + link + leaf).digest()
        index += 1
    return out, Head(index, link, tuple(frontier))


def node_location(node: NodeID) -> tuple[int, int]:
    """Return ``(entry index, slot)`` where a perfect subtree's hash is stored.

    Slot -1 is the entry's leaf hash; slot k >= 0 is bytes ``32k:32k+32`` of its
    ``nodes``.

    Examples:
        >>> node_location(NodeID(0, 5)), node_location(NodeID(2, 1))
        ((5, -1), (7, 1))
    """
    if node.level < 0 or node.index < 0:
        raise ProofShapeError(f"invalid node {node}")
    return ((node.index + 1) << node.level) - 1, node.level - 1
