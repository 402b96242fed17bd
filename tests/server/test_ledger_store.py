"""The ledger on SQLite and PostgreSQL: appends, checkpoints, anchors, receipts, audit."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from ledger import (
    AnchorReceipt,
    AnchorUnavailableError,
    Event,
    PendingAnchor,
    Receipt,
    verify_receipt,
)
from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.config import Settings
from server.context import AppContext, build_context
from server.storage.ledger_store import SqlLedgerStore
from server.storage.schema import make_engine

T = datetime(2026, 6, 1, tzinfo=UTC)


def _event(i: int) -> Event:
    return Event("claim.filed", {"claim": f"C-{i}"}, "agent:1", T, {"n": i})


def test_append_assigns_consecutive_indices(app: AppContext) -> None:
    """Entries get indices 0, 1, 2 ... across calls, and the head follows."""
    first = app.ledger.append([b"a", b"b"])
    second = app.ledger.append([b"c"])
    assert [e.index for e in first + second] == [0, 1, 2]
    assert app.ledger.store.size() == 3
    assert app.ledger.store.entry(2).data == b"c"
    assert [e.data for e in app.ledger.store.iter_entries(1)] == [b"b", b"c"]


def test_entry_and_domain_change_share_a_transaction(app: AppContext) -> None:
    """A rolled-back transaction leaves neither the domain row nor the ledger entry."""
    engine = app.engine
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY)"))

    def change_then_fail() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO scratch (id) VALUES (1)"))
            app.ledger.append_events(conn, [_event(1)])
            raise RuntimeError("domain rule failed after the append")

    with pytest.raises(RuntimeError):
        change_then_fail()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 0
    assert app.ledger.store.size() == 0
    assert app.ledger.store.count_rows() == 0


def test_checkpoint_policy_every_n(make_settings: Callable[..., Settings]) -> None:
    """A checkpoint is signed as soon as N entries are unsigned."""
    ctx = build_context(make_settings(checkpoint_every=3), chain=False)
    try:
        ctx.ledger.append([b"1", b"2"])
        assert ctx.ledger.store.latest_checkpoint() is None
        ctx.ledger.append([b"3"])
        cp = ctx.ledger.store.latest_checkpoint()
        assert cp is not None
        assert cp.size == 3
    finally:
        ctx.close()


def test_checkpoint_policy_interval(make_settings: Callable[..., Settings]) -> None:
    """A checkpoint older than the interval is followed by a new one on append."""
    ctx = build_context(make_settings(checkpoint_interval_s=1e-6), chain=False)
    try:
        ctx.ledger.append([b"1"])
        ctx.ledger.checkpoint()
        ctx.ledger.append([b"2"])
        cp = ctx.ledger.store.latest_checkpoint()
        assert cp is not None
        assert cp.size == 2
    finally:
        ctx.close()


def test_checkpoint_of_unchanged_head_is_the_latest(app: AppContext) -> None:
    """Asking twice for a checkpoint of the same head signs once."""
    app.ledger.append([b"x"])
    first = app.ledger.checkpoint()
    assert app.ledger.checkpoint() == first
    assert len(app.ledger.store.checkpoints()) == 1


def test_receipt_verifies_offline_and_carries_anchor(
    app: AppContext, anchor: InMemoryAnchor
) -> None:
    """A receipt signs a covering checkpoint when needed and verifies offline."""
    app.ledger.append([b"e%d" % i for i in range(11)])
    receipt = app.ledger.receipt(6)
    assert receipt.tree_size == 11
    assert receipt.anchor is not None
    assert receipt.anchor.chain_id == anchor.chain_id
    doc = receipt.to_json()
    cp = verify_receipt(Receipt.from_json(doc), [app.ledger.verifier])
    assert cp.size == 11
    with pytest.raises(LookupError):
        app.ledger.receipt(11)


def test_unreachable_chain_never_blocks_appends(
    app: AppContext, anchor: InMemoryAnchor
) -> None:
    """With the chain down, appends and checkpoints go on; anchoring catches up."""
    anchor.available = False
    app.ledger.append([b"a", b"b"])
    app.ledger.checkpoint()
    assert "unavailable" in app.ledger.anchor_catch_up()
    assert app.ledger.receipt(0).anchor is None
    anchor.available = True
    assert "anchored size 2" in app.ledger.anchor_catch_up()
    assert app.ledger.receipt(0).anchor is not None


class _DropsFirstSubmit(InMemoryAnchor):
    """A chain that accepts a transaction but the connection drops before the reply."""

    def __init__(self) -> None:
        super().__init__()
        self.drops = 1

    def submit(self, pending: PendingAnchor) -> AnchorReceipt:
        if self.drops:
            self.drops -= 1
            raise AnchorUnavailableError("connection reset")
        return super().submit(pending)


def test_pending_anchor_is_resent_not_duplicated(
    make_settings: Callable[..., Settings],
) -> None:
    """A transaction recorded before sending is re-sent after a failure, never re-made."""
    chain = _DropsFirstSubmit()
    ctx = build_context(make_settings(), chain=ChainContext(chain, False, "mem"))
    try:
        ctx.ledger.append([b"a"])
        ctx.ledger.checkpoint()
        (pending,) = ctx.ledger.store.anchors(["pending"])
        # A restart: a new service over the same database and chain.
        ctx2 = build_context(make_settings(), chain=ChainContext(chain, False, "mem"))
        ctx2.ledger.anchor_catch_up()
        (mined,) = ctx2.ledger.store.anchors()
        assert mined.status == "mined"
        assert mined.tx_hash == pending.tx_hash
        assert chain.sent == 1
        ctx2.close()
    finally:
        ctx.close()


def test_verify_clean_log_checks_anchors(app: AppContext) -> None:
    """The audit of an untouched log passes and confirms the anchors."""
    app.ledger.append([b"e%d" % i for i in range(30)])
    app.ledger.checkpoint()
    app.ledger.append([b"tail"])
    report = app.ledger.verify()
    assert report.ok, report.error
    assert (report.size, report.checkpoints, report.anchors_checked) == (31, 1, 1)
    assert any("not signed yet" in n for n in report.notes)


TAMPERS = {
    "update": ["UPDATE ledger_entries SET data = :forged WHERE idx = 5"],
    "delete": ["DELETE FROM ledger_entries WHERE idx = 5"],
    "insert": [
        "UPDATE ledger_entries SET idx = idx + 1000 WHERE idx >= 5",
        "UPDATE ledger_entries SET idx = idx - 999 WHERE idx >= 1005",
        "INSERT INTO ledger_entries (idx, data, leaf_hash, prev_link, nodes) "
        "SELECT 5, :forged, leaf_hash, prev_link, nodes FROM ledger_entries "
        "WHERE idx = 6",
    ],
    "swap": [
        "UPDATE ledger_entries SET idx = -1 WHERE idx = 5",
        "UPDATE ledger_entries SET idx = 5 WHERE idx = 9",
        "UPDATE ledger_entries SET idx = 9 WHERE idx = -1",
    ],
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_verify_names_first_bad_index(app: AppContext, tamper: str) -> None:
    """Any row changed, deleted, inserted or swapped in SQL fails at index 5."""
    app.ledger.append([b"e%d" % i for i in range(16)])
    app.ledger.checkpoint()
    with app.engine.begin() as conn:
        for stmt in TAMPERS[tamper]:
            conn.execute(text(stmt), {"forged": b"forged"} if ":forged" in stmt else {})
    report = app.ledger.verify()
    assert not report.ok
    assert report.first_bad_index == 5, report.error


def test_verify_detects_rewritten_checkpoint(app: AppContext) -> None:
    """A checkpoint row whose columns disagree with its signed note is reported."""
    app.ledger.append([b"a", b"b"])
    app.ledger.checkpoint()
    with app.engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_checkpoints SET root_hash = :r"), {"r": bytes(32)}
        )
    assert "differs from its signed note" in (app.ledger.verify().error or "")


def test_refuses_to_sign_after_history_rewrite(app: AppContext) -> None:
    """After a rewrite of signed history, no new checkpoint is ever signed."""
    app.ledger.append([b"a", b"b", b"c"])
    app.ledger.checkpoint()
    other = build_context(app.settings, chain=False)
    with app.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_entries"))
        conn.execute(
            text("UPDATE ledger_head SET size = 0, link = :z, frontier = :e"),
            {"z": bytes(32), "e": b""},
        )
    other.ledger.append([b"x", b"y", b"z", b"w"])
    from ledger import InconsistentCheckpointError

    with pytest.raises(InconsistentCheckpointError):
        other.ledger.checkpoint()
    other.close()


def _worker(url: str, worker: int, count: int) -> None:
    store = SqlLedgerStore(make_engine(url))
    for i in range(count):
        store.append_many([b"w%d-%d" % (worker, i)])
    store.engine.dispose()


def test_concurrent_processes_leave_no_gap_or_fork(app: AppContext) -> None:
    """8 processes x 500 appends: indices 0..3999 once each, one clean history."""
    url = app.settings.resolved_database_url()
    procs = [
        multiprocessing.get_context("fork").Process(target=_worker, args=(url, w, 500))
        for w in range(8)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    entries = list(app.ledger.store.iter_entries())
    assert [e.index for e in entries] == list(range(4000))
    assert sorted(e.data for e in entries) == sorted(
        b"w%d-%d" % (w, i) for w in range(8) for i in range(500)
    )
    app.ledger.checkpoint()
    report = app.ledger.verify()
    assert report.ok, report.error


def test_concurrent_threads(app: AppContext) -> None:
    """Threads sharing one engine also append without gaps or duplicates."""

    def run(w: int) -> None:
        for i in range(50):
            app.ledger.store.append_many([b"t%d-%d" % (w, i)])

    threads = [threading.Thread(target=run, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.index for e in app.ledger.store.iter_entries()] == list(range(400))
    assert app.ledger.verify().ok


def test_receipt_checks_with_an_independent_verifier(app: AppContext) -> None:
    """The receipt's fields alone satisfy the RFC 9162 §2.1.3.2 algorithm, written apart."""
    import base64

    from tests.ledger import reference

    app.ledger.append([b"e%d" % i for i in range(13)])
    doc = app.ledger.receipt(9).to_json()
    root = base64.b64decode(doc["checkpoint"].split("\n")[2])
    entry = base64.b64decode(doc["entry"])
    assert reference.leaf(entry) == base64.b64decode(doc["leaf_hash"])
    proof = [base64.b64decode(h) for h in doc["inclusion_proof"]]
    assert reference.verify_inclusion(
        doc["index"], doc["tree_size"], reference.leaf(entry), proof, root
    )
    assert not reference.verify_inclusion(
        8, doc["tree_size"], reference.leaf(entry), proof, root
    )
