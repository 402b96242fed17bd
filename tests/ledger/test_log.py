"""Sequencing, events, notes, checkpoints, receipts and the audit, on in-memory storage."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger import (
    GENESIS_LINK,
    Checkpoint,
    CheckpointError,
    Entry,
    Event,
    EventValidationError,
    Head,
    InconsistentCheckpointError,
    IntegrityError,
    NoteFormatError,
    NoteSigner,
    NoteVerifier,
    Receipt,
    ReceiptError,
    SignatureError,
    audit_log,
    chain_link,
    consistency_proof,
    generate_key,
    inclusion_proof,
    open_checkpoint,
    open_note,
    sequence,
    sign_checkpoint,
    sign_note,
    verify_receipt,
)
from ledger.adapters.memory import InMemoryLog
from tests.ledger import reference as ref

T = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class TestSequence:
    def test_batches_equal_one_at_a_time(self) -> None:
        """Appending in any batching gives the same entries and head."""
        items = [b"%d" % i for i in range(37)]
        all_at_once, head1 = sequence(Head.empty(), items)
        head2 = Head.empty()
        one_by_one: list[Entry] = []
        for chunk in (items[:5], items[5:6], items[6:30], items[30:]):
            entries, head2 = sequence(head2, chunk)
            one_by_one += entries
        assert all_at_once == one_by_one
        assert head1 == head2
        assert head1.root() == ref.mth(items)

    def test_chain_links_previous_entry(self) -> None:
        """Each entry holds the previous entry's link; entry 0 the genesis link."""
        entries, head = sequence(Head.empty(), [b"a", b"b"])
        assert entries[0].prev_link == GENESIS_LINK
        link0 = chain_link(GENESIS_LINK, ref.leaf(b"a"))
        assert entries[1].prev_link == link0
        assert head.link == chain_link(link0, ref.leaf(b"b"))

    def test_head_checks_frontier_length(self) -> None:
        """A head whose frontier does not fit its size is refused."""
        with pytest.raises(IntegrityError, match="frontier"):
            Head(3, GENESIS_LINK, (bytes(32),))
        head = sequence(Head.empty(), [b"a", b"b", b"c"])[1]
        assert Head.from_blob(3, head.link, head.frontier_blob()) == head

    def test_empty_append(self) -> None:
        """Appending nothing changes nothing."""
        log = InMemoryLog()
        assert log.append([]) == []
        assert log.head == Head.empty()
        assert log.entries() == []


class TestEvent:
    def test_canonical_bytes_are_rfc8785(self) -> None:
        """Keys sorted, no whitespace, UTC timestamp with microseconds."""
        local = T.astimezone(timezone(timedelta(hours=8)))
        e = Event("claim.filed", {"claim": "C-1"}, "agent:7", local, {"b": 1, "a": "x"})
        data = e.to_canonical_bytes()
        assert data == (
            b'{"actor":"agent:7","payload":{"a":"x","b":1},"subjects":{"claim":"C-1"},'
            b'"timestamp":"2026-05-01T08:00:00.000000Z","type":"claim.filed","v":1}'
        )
        back = Event.from_canonical_bytes(data)
        assert back.to_canonical_bytes() == data

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"type": "Claim"}, "dotted lower case"),
            ({"subjects": {}}, "subjects"),
            ({"subjects": {"claim": ""}}, "subjects"),
            ({"actor": ""}, "actor"),
            ({"timestamp": datetime(2026, 1, 1)}, "timezone-aware"),
            ({"payload": [1]}, "JSON object"),
        ],
    )
    def test_invalid_events_are_refused(self, kwargs: dict, match: str) -> None:
        """Each invalid field is named."""
        base = {
            "type": "claim.filed",
            "subjects": {"claim": "C-1"},
            "actor": "a",
            "timestamp": T,
            "payload": {},
        }
        with pytest.raises(EventValidationError, match=match):
            Event(**{**base, **kwargs})

    def test_unencodable_payload(self) -> None:
        """A payload JSON cannot hold is refused at encoding."""
        e = Event("claim.filed", {"claim": "C"}, "a", T, {"x": object()})
        with pytest.raises(EventValidationError, match="not JSON"):
            e.to_canonical_bytes()
        with pytest.raises(EventValidationError, match="not a ledger event"):
            Event.from_canonical_bytes(b"[]")


class TestNotes:
    signer = generate_key("test.example/log")

    def test_sign_and_open(self) -> None:
        """A note signed by a key opens with its verifier key."""
        note = sign_note("hello\n", self.signer)
        assert open_note(note, [self.signer.verifier()]) == (
            "hello\n",
            [self.signer.name],
        )
        parsed = NoteVerifier.parse(str(self.signer.verifier()))
        assert parsed == self.signer.verifier()
        assert NoteSigner.parse(str(self.signer)) == self.signer

    def test_altered_text_fails(self) -> None:
        """Changing the text breaks the signature."""
        note = sign_note("size 5\n", self.signer).replace("5", "6", 1)
        with pytest.raises(SignatureError, match="does not verify"):
            open_note(note, [self.signer.verifier()])

    @pytest.mark.parametrize(
        ("note", "match"),
        [
            ("no newline", "ending with a newline"),
            ("text\n\u2014 x AAAA\n", "no blank line"),
            ("text\n\nsig line\n", "em dash"),
            ("text\n\n\u2014 name !!!\n", "not base64"),
            ("text\n\n\u2014 name AAAA\n", "too short"),
            ("te\x01xt\n\n\u2014 name AAAAAAAA\n", "control characters"),
            ("text\n\n" + "\u2014 n AAAAAAAA\n" * 101, "at most 100"),
        ],
    )
    def test_malformed_notes(self, note: str, match: str) -> None:
        """Malformed notes raise NoteFormatError naming the problem."""
        with pytest.raises(NoteFormatError, match=match):
            open_note(note, [self.signer.verifier()])

    @pytest.mark.parametrize(
        ("key", "match"),
        [
            ("name+1234", "fields"),
            ("na me+01234567+AQ==", "without spaces"),
            ("name+zz+AQ==", "hex id"),
            ("name+0123+" + base64.b64encode(bytes(33)).decode(), "8 hex digits"),
            ("name+01234567+" + base64.b64encode(bytes(33)).decode(), "0x01 \\+ 32"),
            (
                "name+01234567+" + base64.b64encode(b"\x01" + bytes(32)).decode(),
                "key id",
            ),
        ],
    )
    def test_malformed_verifier_keys(self, key: str, match: str) -> None:
        """Verifier keys are checked field by field, key id included."""
        with pytest.raises(NoteFormatError, match=match):
            NoteVerifier.parse(key)

    def test_malformed_signer_keys(self) -> None:
        """Signer keys need the PRIVATE+KEY prefix and a matching key id."""
        with pytest.raises(NoteFormatError, match="PRIVATE"):
            NoteSigner.parse("PUBLIC+KEY+" + str(self.signer.verifier()))
        wrong_id = str(self.signer).replace(f"+{self.signer.key_id:08x}+", "+00000000+")
        with pytest.raises(NoteFormatError, match="key id"):
            NoteSigner.parse(wrong_id)
        with pytest.raises(NoteFormatError):
            generate_key("bad+name")

    def test_text_rules_on_signing(self) -> None:
        """Only newline-terminated text without control characters is signed."""
        with pytest.raises(NoteFormatError):
            sign_note("no newline", self.signer)


class TestCheckpoints:
    signer = generate_key("test.example/log")

    def _log(self, n: int) -> InMemoryLog:
        log = InMemoryLog()
        log.append(b"%d" % i for i in range(n))
        return log

    def test_sign_extends_previous(self) -> None:
        """A checkpoint consistent with the previous one is signed and opens."""
        log = self._log(9)
        old = Checkpoint("test.example/log", 5, ref.mth([b"%d" % i for i in range(5)]))
        new = Checkpoint("test.example/log", 9, log.head.root())
        note = sign_checkpoint(
            new, self.signer, previous=old, proof=consistency_proof(log, 5, 9)
        )
        assert open_checkpoint(note, [self.signer.verifier()]) == new

    def test_refuses_fork(self) -> None:
        """A checkpoint that does not extend the previous root is never signed."""
        log = self._log(9)
        forked = Checkpoint("test.example/log", 5, b"\x07" * 32)
        new = Checkpoint("test.example/log", 9, log.head.root())
        with pytest.raises(InconsistentCheckpointError) as info:
            sign_checkpoint(
                new, self.signer, previous=forked, proof=consistency_proof(log, 5, 9)
            )
        assert (info.value.previous_size, info.value.size) == (5, 9)
        shrunk = Checkpoint("test.example/log", 4, log.head.root())
        with pytest.raises(InconsistentCheckpointError):
            sign_checkpoint(shrunk, self.signer, previous=new, proof=[])
        other = Checkpoint("other/log", 9, log.head.root())
        with pytest.raises(InconsistentCheckpointError, match="origin"):
            sign_checkpoint(other, self.signer, previous=new, proof=[])

    @pytest.mark.parametrize(
        ("body", "match"),
        [
            ("o\n1\n", "end with a newline|at least 3"),
            ("o\n1", "newline"),
            ("o\n01\n" + "A" * 43 + "=\n", "not a decimal"),
            ("o\n1\n!!!\n", "not base64"),
            ("o\n1\nAAAA\n", "want 32"),
            ("\n1\n" + base64.b64encode(bytes(32)).decode() + "\n", "origin"),
        ],
    )
    def test_malformed_bodies(self, body: str, match: str) -> None:
        """Checkpoint bodies are parsed strictly."""
        with pytest.raises(CheckpointError, match=match):
            Checkpoint.parse(body)

    def test_extension_lines_round_trip(self) -> None:
        """Extension lines are kept verbatim; empty ones and bad sizes are refused."""
        cp = Checkpoint("o", 1, bytes(32), ("ext one",))
        assert Checkpoint.parse(cp.body()) == cp
        with pytest.raises(CheckpointError):
            Checkpoint("o", 1, bytes(32), ("",))
        with pytest.raises(CheckpointError):
            Checkpoint("o", -1, bytes(32))


class TestReceipts:
    signer = generate_key("test.example/log")

    @pytest.fixture
    def receipt_doc(self) -> dict:
        log = InMemoryLog()
        log.append(b"event %d" % i for i in range(6))
        cp = Checkpoint(self.signer.name, 6, log.head.root())
        note = sign_checkpoint(cp, self.signer, previous=None)
        e = log.entries()[3]
        return Receipt(
            3, 6, e.data, e.leaf_hash, tuple(inclusion_proof(log, 3, 6)), note
        ).to_json()

    def _verify(self, doc: dict) -> None:
        verify_receipt(
            Receipt.from_json(json.loads(json.dumps(doc))), [self.signer.verifier()]
        )

    def test_valid_receipt(self, receipt_doc: dict) -> None:
        """A receipt verifies with nothing but the verifier key."""
        self._verify(receipt_doc)
        assert Receipt.from_json(receipt_doc).to_json() == receipt_doc

    @pytest.mark.parametrize(
        ("mutate", "match"),
        [
            (lambda d: d.pop("leaf_hash"), "lacks field"),
            (lambda d: d.update(extra=1), "unknown field"),
            (lambda d: d.update(index=-1), "index must be"),
            (lambda d: d.update(index=True), "index must be"),
            (lambda d: d.update(index=6), "beyond size"),
            (lambda d: d.update(index=2), "inclusion_proof"),
            (lambda d: d.update(tree_size=0), "tree_size 0 differs"),
            (lambda d: d.update(entry="%%%"), "entry is not standard base64"),
            (lambda d: d.update(entry=5), "entry must be a base64 string"),
            (
                lambda d: d.update(entry=base64.b64encode(b"forged").decode()),
                "leaf_hash is not",
            ),
            (
                lambda d: d.update(leaf_hash=base64.b64encode(bytes(31)).decode()),
                "31 bytes",
            ),
            (lambda d: d["inclusion_proof"].pop(), "wrong proof size"),
            (lambda d: d.update(inclusion_proof="x"), "list"),
            (lambda d: d["inclusion_proof"].__setitem__(0, "AAAA"), "want 32"),
            (lambda d: d.update(checkpoint=d["checkpoint"][:40]), "checkpoint"),
            (lambda d: d.update(checkpoint=7), "signed note text"),
            (lambda d: d.update(anchor={"chain_id": 1}), "anchor must be"),
            (
                lambda d: d.update(
                    anchor={"chain_id": 1, "tx_hash": "0x12", "block_number": 1}
                ),
                "tx_hash",
            ),
        ],
    )
    def test_malformed_receipts(self, receipt_doc: dict, mutate, match: str) -> None:
        """Every malformed receipt gives a specific ReceiptError, never an accept."""
        mutate(receipt_doc)
        with pytest.raises(ReceiptError, match=match):
            self._verify(receipt_doc)

    def test_wrong_key(self, receipt_doc: dict) -> None:
        """A receipt signed by another key is refused."""
        with pytest.raises(ReceiptError, match="no valid signature"):
            verify_receipt(
                Receipt.from_json(receipt_doc), [generate_key("x").verifier()]
            )

    def test_not_an_object(self) -> None:
        with pytest.raises(ReceiptError, match="JSON object"):
            Receipt.from_json([1])

    def test_anchor_round_trip(self, receipt_doc: dict) -> None:
        """A well-formed anchor is parsed and printed back unchanged."""
        receipt_doc["anchor"] = {
            "chain_id": 5,
            "tx_hash": "0x" + "ab" * 32,
            "block_number": 9,
        }
        assert Receipt.from_json(receipt_doc).to_json() == receipt_doc


class TestAudit:
    signer = generate_key("test.example/log")

    def _log(self) -> tuple[list[Entry], Head, list[Checkpoint]]:
        log = InMemoryLog()
        log.append(b"e%d" % i for i in range(20))
        cps = [
            Checkpoint("o", 8, ref.mth([b"e%d" % i for i in range(8)])),
            Checkpoint("o", 20, log.head.root()),
        ]
        return log.entries(), log.head, cps

    def test_clean_log(self) -> None:
        """An untouched log audits clean and reports what it checked."""
        entries, head, cps = self._log()
        report = audit_log(entries, head=head, checkpoints=cps)
        assert (report.size, report.checkpoints, report.unsigned_tail) == (
            20,
            [8, 20],
            0,
        )

    def _bad(
        self, entries: list[Entry], head: Head, cps: list[Checkpoint]
    ) -> IntegrityError:
        with pytest.raises(IntegrityError) as info:
            audit_log(entries, head=head, checkpoints=cps)
        return info.value

    def test_changed_data(self) -> None:
        entries, head, cps = self._log()
        entries[5] = entries[5]._replace(data=b"forged")
        assert self._bad(entries, head, cps).index == 5

    def test_deleted_row(self) -> None:
        entries, head, cps = self._log()
        del entries[7]
        err = self._bad(entries, head, cps)
        assert err.index == 7
        assert "missing" in str(err)

    def test_deleted_tail(self) -> None:
        """Deleting the newest rows is caught by the head and the checkpoints."""
        entries, head, cps = self._log()
        assert self._bad(entries[:15], head, cps).index == 15

    def test_swapped_rows(self) -> None:
        entries, head, cps = self._log()
        a, b = entries[3], entries[9]
        entries[3] = b._replace(index=3)
        entries[9] = a._replace(index=9)
        assert self._bad(entries, head, cps).index == 3

    def test_inserted_row(self) -> None:
        entries, head, cps = self._log()
        forged = sequence(Head.empty(), [b"forged"])[0][0]
        entries.insert(4, forged._replace(index=4))
        entries[5:] = [e._replace(index=e.index + 1) for e in entries[5:]]
        assert self._bad(entries, head, cps).index == 4

    def test_repeated_index(self) -> None:
        entries, head, cps = self._log()
        entries.insert(3, entries[2])
        assert self._bad(entries, head, cps).index == 2

    def test_rewritten_history_caught_by_checkpoint(self) -> None:
        """Recomputing every hash after a change still fails the signed root."""
        _, _, cps = self._log()
        items = [b"e%d" % i for i in range(20)]
        items[2] = b"rewritten"
        log = InMemoryLog()
        log.append(items)
        err = self._bad(log.entries(), log.head, cps)
        assert err.index == 0
        assert "[0, 8)" in str(err)

    def test_bad_stored_nodes_link_and_head(self) -> None:
        entries, head, cps = self._log()
        e = list(entries)
        e[7] = e[7]._replace(nodes=bytes(len(e[7].nodes)))
        assert self._bad(e, head, cps).index == 7
        e = list(entries)
        e[6] = e[6]._replace(prev_link=bytes(32))
        assert self._bad(e, head, cps).index == 6
        wrong_head = Head(head.size, bytes(32), head.frontier)
        assert self._bad(entries, wrong_head, cps).index is None
        more = Checkpoint("o", 25, bytes(32))
        assert self._bad(entries, head, [*cps, more]).index == 20


class _PlainSha256:
    """The default hasher's behaviour, but not its class: forces the generic path."""

    size = 32

    def empty_root(self) -> bytes:
        return ref.mth([])

    def hash_leaf(self, data: bytes) -> bytes:
        return ref.leaf(data)

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        return ref.node(left, right)


def test_fast_path_equals_generic_hasher_path() -> None:
    """The inlined SHA-256 sequencer gives exactly what any hasher's path gives."""
    items = [b"%d" % i for i in range(50)]
    assert sequence(Head.empty(), items) == sequence(
        Head.empty(), items, _PlainSha256()
    )


class _Missing:
    """A store that lost rows or subtree hashes."""

    def __init__(self, log: InMemoryLog, *, drop_row: int | None, truncate: int | None):
        self.log, self.drop_row, self.truncate = log, drop_row, truncate

    def read_hashes(self, indices):
        rows = dict(self.log.read_hashes(indices))
        rows.pop(self.drop_row, None)
        if self.truncate in rows:
            leaf, _ = rows[self.truncate]
            rows[self.truncate] = (leaf, b"")
        return rows


def test_proofs_name_missing_storage() -> None:
    """A proof over lost rows or hashes raises IntegrityError naming the entry."""
    log = InMemoryLog()
    log.append(b"%d" % i for i in range(8))
    with pytest.raises(IntegrityError, match="entry 1 is missing") as info:
        inclusion_proof(_Missing(log, drop_row=1, truncate=None), 0, 8)
    assert info.value.index == 1
    with pytest.raises(IntegrityError, match="level-2 subtree"):
        inclusion_proof(_Missing(log, drop_row=None, truncate=7), 0, 8)


def test_node_location_refuses_negative_nodes() -> None:
    from ledger import NodeID, ProofShapeError, node_location

    with pytest.raises(ProofShapeError):
        node_location(NodeID(-1, 0))
