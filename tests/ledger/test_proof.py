"""Proof generation matches the RFC 9162 reference; verification rejects every mutation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import (
    ProofShapeError,
    RootMismatchError,
    consistency_proof,
    inclusion_proof,
    root_at,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from ledger.adapters.memory import InMemoryLog
from ledger.proof import NodeID, range_nodes, rehash, root_of_range
from tests.ledger import reference as ref

N = 70  # every shape up to 70 leaves: all split patterns of 7-bit sizes


@pytest.fixture(scope="module")
def data() -> list[bytes]:
    return [b"entry-%d" % i for i in range(N)]


@pytest.fixture(scope="module")
def log(data: list[bytes]) -> InMemoryLog:
    log = InMemoryLog()
    log.append(data)
    return log


def test_roots_match_reference(log: InMemoryLog, data: list[bytes]) -> None:
    """root_at(size) is MTH of the first size entries, for every size."""
    for size in range(N + 1):
        assert root_at(log, size) == ref.mth(data[:size])


def test_inclusion_proofs_match_reference(log: InMemoryLog, data: list[bytes]) -> None:
    """Every inclusion proof equals RFC PATH and verifies, and the reference agrees."""
    for size in range(1, N + 1):
        root = ref.mth(data[:size])
        for index in range(size):
            proof = inclusion_proof(log, index, size)
            assert proof == ref.path(index, data[:size])
            leaf = ref.leaf(data[index])
            verify_inclusion(index, size, leaf, proof, root)
            assert ref.verify_inclusion(index, size, leaf, proof, root)


def test_consistency_proofs_match_reference(
    log: InMemoryLog, data: list[bytes]
) -> None:
    """Every consistency proof equals RFC PROOF and verifies."""
    for size2 in range(1, N + 1):
        for size1 in range(1, size2 + 1):
            proof = consistency_proof(log, size1, size2)
            assert proof == ref.proof(size1, data[:size2])
            verify_consistency(
                size1, size2, proof, ref.mth(data[:size1]), ref.mth(data[:size2])
            )


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, N),
    index=st.integers(0, N - 1),
    which=st.integers(0, 63),
    bit=st.integers(0, 255),
)
def test_flipped_bit_in_inclusion_proof_is_rejected(
    log: InMemoryLog, data: list[bytes], size: int, index: int, which: int, bit: int
) -> None:
    """Changing any bit of any proof hash makes verification fail."""
    index %= size
    proof = inclusion_proof(log, index, size)
    if not proof:
        return
    i = which % len(proof)
    bad = bytearray(proof[i])
    bad[bit // 8] ^= 1 << (bit % 8)
    proof[i] = bytes(bad)
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, ref.leaf(data[index]), proof, root_at(log, size))


@settings(max_examples=200, deadline=None)
@given(size1=st.integers(1, N), size2=st.integers(1, N), which=st.integers(0, 63))
def test_flipped_bit_in_consistency_proof_is_rejected(
    log: InMemoryLog, size1: int, size2: int, which: int
) -> None:
    """Changing a consistency proof hash makes verification fail."""
    size1, size2 = sorted((size1, size2))
    proof = consistency_proof(log, size1, size2)
    if not proof:
        return
    i = which % len(proof)
    proof[i] = bytes([proof[i][0] ^ 1]) + proof[i][1:]
    with pytest.raises(RootMismatchError):
        verify_consistency(
            size1, size2, proof, root_at(log, size1), root_at(log, size2)
        )


@pytest.mark.parametrize(
    ("index", "size", "proof_len", "match"),
    [
        (3, 3, 2, "index is beyond size"),
        (0, 0, 0, "index is beyond size"),
        (-1, 4, 2, "index is beyond size"),
        (0, 4, 3, "wrong proof size 3, want 2"),
        (0, 4, 1, "wrong proof size 1, want 2"),
    ],
)
def test_inclusion_shape_errors(
    index: int, size: int, proof_len: int, match: str
) -> None:
    """Impossible indices and proof lengths raise ProofShapeError, never a crash."""
    with pytest.raises(ProofShapeError, match=match):
        root_from_inclusion_proof(index, size, bytes(32), [bytes(32)] * proof_len)


def test_inclusion_rejects_short_hashes() -> None:
    """Hashes that are not 32 bytes are refused by name."""
    with pytest.raises(ProofShapeError, match="leaf hash has size 31"):
        verify_inclusion(0, 2, bytes(31), [bytes(32)], bytes(32))
    with pytest.raises(ProofShapeError, match=r"proof\[0\] has size 33"):
        verify_inclusion(0, 2, bytes(32), [bytes(33)], bytes(32))
    with pytest.raises(ProofShapeError, match="root has size 0"):
        verify_inclusion(0, 2, bytes(32), [bytes(32)], b"")
    with pytest.raises(ProofShapeError, match=r"proof\[0\] has size str"):
        verify_inclusion(0, 2, bytes(32), ["x" * 32], bytes(32))  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("size1", "size2", "proof_len", "match"),
    [
        (0, 4, 0, "from size 0"),
        (5, 4, 1, r"size2 \(4\) < size1 \(5\)"),
        (4, 4, 1, "proof has 1 hashes"),
        (3, 4, 0, "empty proof"),
        (3, 4, 1, "wrong proof size 1, want 3"),
    ],
)
def test_consistency_shape_errors(
    size1: int, size2: int, proof_len: int, match: str
) -> None:
    """Impossible sizes and proof lengths raise ProofShapeError."""
    with pytest.raises(ProofShapeError, match=match):
        verify_consistency(size1, size2, [bytes(32)] * proof_len, bytes(32), bytes(32))


def test_equal_sizes_need_equal_roots() -> None:
    """Two checkpoints of one size verify only when their roots are equal."""
    verify_consistency(4, 4, [], b"a" * 32, b"a" * 32)
    with pytest.raises(RootMismatchError) as info:
        verify_consistency(4, 4, [], b"a" * 32, b"b" * 32)
    assert info.value.expected_root == b"b" * 32
    assert info.value.calculated_root == b"a" * 32


def test_node_planning_preconditions(log: InMemoryLog) -> None:
    """Proof planners refuse impossible ranges instead of reading garbage."""
    with pytest.raises(ProofShapeError):
        inclusion_proof(log, 5, 5)
    with pytest.raises(ProofShapeError):
        consistency_proof(log, 0, 5)
    with pytest.raises(ProofShapeError):
        consistency_proof(log, 6, 5)
    with pytest.raises(ProofShapeError, match="empty or negative"):
        range_nodes(3, 3)
    with pytest.raises(ProofShapeError, match="not aligned"):
        range_nodes(1, 3)
    with pytest.raises(ProofShapeError, match="negative"):
        root_at(log, -1)


def test_rehash_accepts_a_callable() -> None:
    """rehash fetches through a mapping or a function alike."""
    groups = [(NodeID(0, 0), NodeID(0, 1))]
    table = {NodeID(0, 0): b"a" * 32, NodeID(0, 1): b"b" * 32}
    assert rehash(groups, table) == rehash(groups, table.__getitem__)
    assert root_of_range([]) == ref.mth([])
