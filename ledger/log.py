"""Proofs and roots read from stored tree hashes: O(log n) reads per proof."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import IntegrityError, ProofShapeError
from ledger.hashing import DEFAULT_HASHER, Hasher
from ledger.ports import NodeReader
from ledger.proof import NodeID, consistency_nodes, inclusion_nodes, range_nodes, rehash
from ledger.tree import node_location

__all__ = ["consistency_proof", "inclusion_proof", "root_at"]


def _fetch(
    reader: NodeReader, groups: Sequence[Sequence[NodeID]], hasher: Hasher
) -> list[bytes]:
    where = {n: node_location(n) for group in groups for n in group}
    rows = reader.read_hashes({row for row, _ in where.values()})
    found: dict[NodeID, bytes] = {}
    for node, (row, slot) in where.items():
        if row not in rows:
            raise IntegrityError(f"entry {row} is missing from storage", index=row)
        leaf, nodes = rows[row]
        h = leaf if slot < 0 else nodes[32 * slot : 32 * slot + 32]
        if len(h) != hasher.size:
            raise IntegrityError(
                f"entry {row} lacks the level-{node.level} subtree hash", index=row
            )
        found[node] = h
    return rehash(groups, found, hasher)


def inclusion_proof(
    reader: NodeReader, index: int, size: int, hasher: Hasher = DEFAULT_HASHER
) -> list[bytes]:
    """Return the audit path of entry ``index`` in the tree of ``size``.

    Requires ``0 <= index < size <= stored size``.
    """
    return _fetch(reader, inclusion_nodes(index, size), hasher)


def consistency_proof(
    reader: NodeReader, size1: int, size2: int, hasher: Hasher = DEFAULT_HASHER
) -> list[bytes]:
    """Return the consistency proof from ``size1`` to ``size2``.

    Requires ``0 < size1 <= size2 <= stored size``.
    """
    return _fetch(reader, consistency_nodes(size1, size2), hasher)


def root_at(reader: NodeReader, size: int, hasher: Hasher = DEFAULT_HASHER) -> bytes:
    """Return the root hash of the first ``size`` entries (``size >= 0``)."""
    if size < 0:
        raise ProofShapeError(f"tree size {size} is negative")
    if size == 0:
        return hasher.empty_root()
    return _fetch(reader, [range_nodes(0, size)], hasher)[0]
