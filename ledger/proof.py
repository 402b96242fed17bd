"""Inclusion and consistency proofs (RFC 9162 §2.1.3-2.1.4): compute and verify.

Computing a proof is split in two, as transparency-dev/merkle does, so the algorithm
never touches storage: :func:`inclusion_nodes` and :func:`consistency_nodes` name the
perfect subtrees whose hashes the proof needs, the caller fetches them from wherever
it keeps them, and :func:`rehash` folds them into proof hashes.

A perfect subtree is addressed by a :class:`NodeID` ``(level, index)``: it covers
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 is a leaf hash.
Each proof element is the Merkle tree hash (MTH) of one contiguous leaf range. All
but at most one of those ranges are perfect subtrees; the exception ("ephemeral"
node on the tree's right border) is the right-fold of at most log2(size) perfect
subtrees. A proof therefore reads O(log size) stored hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from ledger.errors import ProofShapeError, RootMismatchError
from ledger.hashing import DEFAULT_HASHER, Hasher

__all__ = [
    "NodeID",
    "consistency_nodes",
    "inclusion_nodes",
    "range_nodes",
    "rehash",
    "root_from_inclusion_proof",
    "root_of_range",
    "verify_consistency",
    "verify_inclusion",
]


class NodeID(NamedTuple):
    """A perfect subtree: ``2**level`` leaves starting at ``index * 2**level``."""

    level: int
    index: int  # type: ignore[assignment]  # the RFC's word; shadows tuple.index


def range_nodes(begin: int, end: int) -> tuple[NodeID, ...]:
    """Return the perfect subtrees whose right-fold is MTH(D[begin:end]).

    Requires ``0 <= begin < end`` and ``begin`` aligned as it is inside RFC 9162's
    recursive split (a multiple of the largest power of two not above
    ``end - begin``), which holds for every range a proof uses.

    Examples:
        >>> range_nodes(0, 6)
        (NodeID(level=2, index=0), NodeID(level=1, index=2))
        >>> range_nodes(4, 5)
        (NodeID(level=0, index=4),)
    """
    if not 0 <= begin < end:
        raise ProofShapeError(f"empty or negative range [{begin}, {end})")
    nodes = []
    size = end - begin
    # Binary digits of the size, most significant first: the largest power of two
    # strictly below n is RFC 9162's split point k, recursively down the right side.
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if begin % (1 << level):
                raise ProofShapeError(f"range [{begin}, {end}) is not aligned")
            nodes.append(NodeID(level, begin >> level))
            begin += 1 << level
    return tuple(nodes)


def root_of_range(hashes: Sequence[bytes], hasher: Hasher = DEFAULT_HASHER) -> bytes:
    """Right-fold perfect subtree hashes (left to right) into one MTH."""
    if not hashes:
        return hasher.empty_root()
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hasher.hash_children(h, acc)
    return acc


def _path(m: int, begin: int, end: int) -> list[tuple[int, int]]:
    """RFC 9162 PATH(m, D[begin:end]) as leaf ranges, deepest sibling first."""
    out: list[tuple[int, int]] = []
    while end - begin > 1:
        k = 1 << ((end - begin - 1).bit_length() - 1)
        if m < begin + k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            begin += k
    out.reverse()
    return out


def inclusion_nodes(index: int, size: int) -> list[tuple[NodeID, ...]]:
    """Name the hashes of the inclusion proof of leaf ``index`` in a tree of ``size``.

    Requires ``0 <= index < size``.

    Returns:
        One group per proof element, deepest first; each group right-folds
        (:func:`rehash`) into that element.

    Examples:
        >>> inclusion_nodes(0, 3)
        [(NodeID(level=0, index=1),), (NodeID(level=0, index=2),)]
    """
    if not 0 <= index < size:
        raise ProofShapeError(f"index {index} out of range for tree size {size}")
    return [range_nodes(b, e) for b, e in _path(index, 0, size)]


def consistency_nodes(size1: int, size2: int) -> list[tuple[NodeID, ...]]:
    """Name the hashes of the consistency proof between tree sizes ``size1`` and ``size2``.

    Requires ``0 < size1 <= size2``. The proof is empty when the sizes are equal.

    Examples:
        >>> consistency_nodes(3, 4)
        [(NodeID(level=0, index=2),), (NodeID(level=0, index=3),), (NodeID(level=1, index=0),)]
    """
    if not 0 < size1 <= size2:
        raise ProofShapeError(
            f"consistency needs 0 < size1 <= size2, got size1={size1}, size2={size2}"
        )
    out: list[tuple[int, int]] = []
    # RFC 9162 §2.1.4.1 SUBPROOF(m, D[begin:end], known), unrolled; entries are
    # appended outermost first and reversed at the end.
    m, begin, end, known = size1, 0, size2, True
    while True:
        if begin + m == end:
            if not known:
                out.append((begin, end))
            break
        k = 1 << ((end - begin - 1).bit_length() - 1)
        if m <= k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            m -= k
            begin += k
            known = False
    out.reverse()
    return [range_nodes(b, e) for b, e in out]


def rehash(
    groups: Sequence[Sequence[NodeID]],
    fetch: Mapping[NodeID, bytes] | Callable[[NodeID], bytes],
    hasher: Hasher = DEFAULT_HASHER,
) -> list[bytes]:
    """Turn node groups into proof hashes, fetching each node's hash.

    Args:
        groups: output of :func:`inclusion_nodes` or :func:`consistency_nodes`.
        fetch: a mapping or a callable from NodeID to its stored hash.
        hasher: the tree hasher.
    """
    get = fetch.__getitem__ if isinstance(fetch, Mapping) else fetch
    return [root_of_range([get(n) for n in group], hasher) for group in groups]


# --- verification (transparency-dev/merkle proof/verify.go) -----------------------


def _decomp_inclusion(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof's length into (inner, border) parts."""
    # Inner: levels below the point where the paths to `index` and `size - 1` fork.
    inner = (index ^ (size - 1)).bit_length()
    # Border: one left sibling for each set bit above the fork.
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(
    hasher: Hasher, seed: bytes, proof: Sequence[bytes], index: int
) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 0:
            seed = hasher.hash_children(seed, h)
        else:
            seed = hasher.hash_children(h, seed)
    return seed


def _chain_inner_right(
    hasher: Hasher, seed: bytes, proof: Sequence[bytes], index: int
) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = hasher.hash_children(h, seed)
    return seed


def _chain_border_right(hasher: Hasher, seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = hasher.hash_children(h, seed)
    return seed


def _check_hashes(hasher: Hasher, what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != hasher.size:
            got = len(h) if isinstance(h, bytes) else type(h).__name__
            raise ProofShapeError(f"{what}[{i}] has size {got}, want {hasher.size}")


def _check_hash(hasher: Hasher, what: str, h: bytes) -> None:
    if not isinstance(h, bytes) or len(h) != hasher.size:
        got = len(h) if isinstance(h, bytes) else type(h).__name__
        raise ProofShapeError(f"{what} has size {got}, want {hasher.size}")


def root_from_inclusion_proof(
    index: int,
    size: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    hasher: Hasher = DEFAULT_HASHER,
) -> bytes:
    """Return the root that an inclusion proof leads to.

    Requires ``0 <= index < size``, a ``hasher.size``-byte leaf hash and proof
    hashes, and exactly as many proof hashes as the tree shape needs.

    Raises:
        ProofShapeError: any precondition fails ("wrong proof size 3, want 2").
    """
    if not 0 <= index < size:
        raise ProofShapeError(f"index is beyond size: {index} >= {size}")
    _check_hash(hasher, "leaf hash", leaf_hash)
    _check_hashes(hasher, "proof", proof)
    inner, border = _decomp_inclusion(index, size)
    if len(proof) != inner + border:
        raise ProofShapeError(f"wrong proof size {len(proof)}, want {inner + border}")
    res = _chain_inner(hasher, leaf_hash, proof[:inner], index)
    return _chain_border_right(hasher, res, proof[inner:])


def verify_inclusion(
    index: int,
    size: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    root: bytes,
    hasher: Hasher = DEFAULT_HASHER,
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Raises:
        ProofShapeError: the inputs cannot form a proof (see
            :func:`root_from_inclusion_proof`).
        RootMismatchError: the proof is well formed but leads to another root.
    """
    _check_hash(hasher, "root", root)
    calculated = root_from_inclusion_proof(index, size, leaf_hash, proof, hasher)
    if calculated != root:
        raise RootMismatchError(
            f"calculated root {calculated.hex()} does not match {root.hex()}",
            expected_root=root,
            calculated_root=calculated,
        )


def verify_consistency(
    size1: int,
    size2: int,
    proof: Sequence[bytes],
    root1: bytes,
    root2: bytes,
    hasher: Hasher = DEFAULT_HASHER,
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the one of ``size1``.

    Requires ``0 < size1 <= size2`` (a proof from the empty tree proves nothing and
    is refused); an equal-size proof must be empty and the roots equal.

    Raises:
        ProofShapeError: sizes, hash lengths or the proof length are impossible.
        RootMismatchError: the proof does not lead to ``root1`` or to ``root2``.
    """
    # Roots are compared, not length-checked, as merkle's verifier does: a root of
    # the wrong length can never equal a computed one.
    _check_hashes(hasher, "proof", proof)
    if size1 <= 0:
        raise ProofShapeError(f"consistency proof from size {size1} is not supported")
    if size2 < size1:
        raise ProofShapeError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == size2:
        if proof:
            raise ProofShapeError(
                f"size1 = size2 = {size1}, but the proof has {len(proof)} hashes"
            )
        _match(root2, root1)
        return
    if not proof:
        raise ProofShapeError("empty proof for size1 < size2")

    inner, border = _decomp_inclusion(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    inner -= shift  # shift < inner because size1 < size2

    # The proof starts with the root of the subtree of size 2**shift ending at
    # size1, unless that subtree is the whole old tree, whose root is root1.
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise ProofShapeError(
            f"wrong proof size {len(proof)}, want {start + inner + border}"
        )
    rest = proof[start:]
    mask = (size1 - 1) >> shift  # start chaining from level `shift`
    hash1 = _chain_inner_right(hasher, seed, rest[:inner], mask)
    hash1 = _chain_border_right(hasher, hash1, rest[inner:])
    _match(root1, hash1)
    hash2 = _chain_inner(hasher, seed, rest[:inner], mask)
    hash2 = _chain_border_right(hasher, hash2, rest[inner:])
    _match(root2, hash2)


def _match(expected: bytes, calculated: bytes) -> None:
    if calculated != expected:
        raise RootMismatchError(
            f"calculated root {calculated.hex()} does not match {expected.hex()}",
            expected_root=expected,
            calculated_root=calculated,
        )
