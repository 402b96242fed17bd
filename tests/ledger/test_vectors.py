"""The verifier passes every transparency-dev/merkle and C2SP vector in shared data."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ledger import (
    DEFAULT_HASHER,
    Checkpoint,
    LedgerError,
    NoteSigner,
    NoteVerifier,
    SignatureError,
    open_note,
    sign_note,
    verify_consistency,
    verify_inclusion,
)
from ledger.adapters.memory import InMemoryLog
from ledger.log import root_at
from tests.conftest import shared_data_dir

MERKLE = shared_data_dir() / "merkle"


def _b64(s: str | None) -> bytes:
    return base64.b64decode(s) if s else b""


def _vectors(kind: str) -> list[Path]:
    return sorted((MERKLE / kind).rglob("*.json"))


def _id(p: Path) -> str:
    return str(p.relative_to(MERKLE))


@pytest.mark.parametrize("path", _vectors("inclusion"), ids=_id)
def test_inclusion_vector(path: Path) -> None:
    """Happy paths verify; every mutated probe is rejected with a ledger error."""
    v = json.loads(path.read_text())
    args = (
        v["leafIdx"],
        v["treeSize"],
        _b64(v["leafHash"]),
        [_b64(h) for h in v["proof"] or []],
        _b64(v["root"]),
    )
    if v["wantErr"]:
        with pytest.raises(LedgerError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _vectors("consistency"), ids=_id)
def test_consistency_vector(path: Path) -> None:
    """Happy paths verify; every mutated probe is rejected with a ledger error."""
    v = json.loads(path.read_text())
    args = (
        v["size1"],
        v["size2"],
        [_b64(h) for h in v["proof"] or []],
        _b64(v["root1"]),
        _b64(v["root2"]),
    )
    if v["wantErr"]:
        with pytest.raises(LedgerError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vector_counts() -> None:
    """The shared data holds the full vector set (guards against an empty glob)."""
    assert len(_vectors("inclusion")) >= 90
    assert len(_vectors("consistency")) >= 90


HASHER_NOTES = json.loads((MERKLE / "hasher_and_note_vectors.json").read_text())
EXTRA = json.loads((MERKLE / "tlog-extra-vectors.json").read_text())


@pytest.mark.parametrize("v", HASHER_NOTES["rfc6962_hasher"], ids=lambda v: v["desc"])
def test_hasher_vector(v: dict[str, str]) -> None:
    """RFC 6962 leaf, node and empty-root hashes match the known answers."""
    h = DEFAULT_HASHER
    if "empty_root" in v:
        assert h.empty_root().hex() == v["empty_root"]
    elif "node_hash" in v:
        got = h.hash_children(v["left_ascii"].encode(), v["right_ascii"].encode())
        assert got.hex() == v["node_hash"]
    else:
        data = (
            bytes.fromhex(v["leaf_hex"])
            if "leaf_hex" in v
            else v["leaf_ascii"].encode()
        )
        assert h.hash_leaf(data).hex() == v["leaf_hash"]


def test_tree_roots_by_size() -> None:
    """Roots of the reference 8-leaf tree at every size 0..8 match merkle's constants."""
    tree = EXTRA["rfc6962_tree"]
    log = InMemoryLog()
    log.append(bytes.fromhex(x) for x in tree["leaves_hex"])
    for size, want in enumerate(tree["roots_by_size_0_to_8"]):
        assert root_at(log, size).hex() == want


@pytest.mark.parametrize("v", HASHER_NOTES["signed_notes"], ids=lambda v: v["desc"])
def test_signed_note_vector(v: dict[str, str]) -> None:
    """C2SP and Go sumdb notes open with the right key; unknown signers are ignored."""
    verifier = NoteVerifier.parse(v["vkey"])
    note = v.get("note") or v["signed"]
    text, names = open_note(note, [verifier])
    assert names == [verifier.name]
    assert note.startswith(text)
    if "skey" in v:
        signer = NoteSigner.parse(v["skey"])
        assert str(signer.verifier()) == v["vkey"]
        # Ed25519 is deterministic, so signing again is byte-exact.
        assert sign_note(v["text"], signer) == v["signed"]
        assert str(signer) == v["skey"]
    if "unknown_vkey" in v:
        # The other signature verifies under its own key, so it is well formed:
        # it was skipped above only because its key was not trusted.
        unknown = NoteVerifier.parse(v["unknown_vkey"])
        assert open_note(note, [unknown])[1] == [unknown.name]


def test_note_without_trusted_signature_is_refused() -> None:
    """A note none of whose signatures is by a trusted key does not open."""
    v = HASHER_NOTES["signed_notes"][0]
    other = NoteVerifier.parse(HASHER_NOTES["signed_notes"][1]["vkey"])
    with pytest.raises(SignatureError, match="no valid signature"):
        open_note(v["note"], [other])


@pytest.mark.parametrize(
    "v", HASHER_NOTES["checkpoint_bodies"], ids=lambda v: v["desc"]
)
def test_checkpoint_body_vector(v: dict[str, object]) -> None:
    """Checkpoint bodies format and parse byte-exactly (Go tlog FormatTree)."""
    cp = Checkpoint.parse(str(v["body"]))
    assert cp.origin == v["origin"]
    assert cp.size == v["size"]
    assert cp.root_hash == DEFAULT_HASHER.hash_leaf(b"hello world")
    assert cp.body() == v["body"]
