"""Claims in the database: lifecycle with ledger events, and payment exactly once under races."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from server.storage.claims_store import ClaimStateError, ClaimStore
from server.context import AppContext
from server.errors import NotFoundError
from underwriting import Money


def ledger_events(app: AppContext) -> list[dict]:
    return [json.loads(e.data) for e in app.ledger.store.iter_entries()]


def filed(store: ClaimStore):
    return store.file(
        policy_id="P-1",
        farmer_id="F-1",
        subject_kind="animal",
        subject_id="998230000006455",
        event_date=datetime(2026, 5, 10, tzinfo=UTC),
        amount=Money.parse("7500"),
        actor="agent-1",
    )


def test_lifecycle_appends_one_event_per_change(app: AppContext) -> None:
    store = ClaimStore(app.ledger)
    claim = filed(store)
    assert claim.status == "filed"
    assert store.decide(claim.id, approve=True, actor="adjuster-1").status == "approved"
    paid, changed = store.pay(claim.id, actor="adjuster-1", payment_ref="PAY-1")
    assert (paid.status, paid.payment_ref, changed) == ("paid", "PAY-1", True)
    events = ledger_events(app)
    assert [e["type"] for e in events] == [
        "claim.filed",
        "claim.approved",
        "claim.paid",
    ]
    assert events[2]["subjects"] == {
        "claim": claim.id,
        "farmer": "F-1",
        "policy": "P-1",
    }
    assert events[2]["payload"]["amount_minor"] == 750000


def test_a_retried_payment_pays_nothing_more(app: AppContext) -> None:
    store = ClaimStore(app.ledger)
    claim = filed(store)
    store.decide(claim.id, approve=True, actor="adjuster-1")
    store.pay(claim.id, actor="adjuster-1", payment_ref="PAY-1")
    again, changed = store.pay(claim.id, actor="adjuster-1", payment_ref="PAY-2")
    assert (changed, again.payment_ref) == (False, "PAY-1")
    assert [e["type"] for e in ledger_events(app)].count("claim.paid") == 1


def test_two_adjusters_paying_at_once_pay_once(app: AppContext) -> None:
    store = ClaimStore(app.ledger)
    claim = filed(store)
    store.decide(claim.id, approve=True, actor="adjuster-1")
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def pay(n: int) -> None:
        barrier.wait()
        results.append(
            store.pay(claim.id, actor=f"adjuster-{n}", payment_ref=f"PAY-{n}")[1]
        )

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert [e["type"] for e in ledger_events(app)].count("claim.paid") == 1
    assert app.ledger.verify().ok


def test_invalid_transitions_change_nothing(app: AppContext) -> None:
    store = ClaimStore(app.ledger)
    claim = filed(store)
    with pytest.raises(ClaimStateError, match="not approved"):
        store.pay(claim.id, actor="adjuster-1", payment_ref="PAY-1")
    with pytest.raises(ClaimStateError, match="needs a reason"):
        store.decide(claim.id, approve=False, actor="adjuster-1")
    store.decide(
        claim.id,
        approve=False,
        actor="adjuster-1",
        reason="photo does not match the tag",
    )
    with pytest.raises(ClaimStateError, match="is rejected: it is already decided"):
        store.decide(claim.id, approve=True, actor="adjuster-2")
    with pytest.raises(NotFoundError, match="no claim"):
        store.get("missing")
    assert [e["type"] for e in ledger_events(app)] == ["claim.filed", "claim.rejected"]
