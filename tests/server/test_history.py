"""A record's history: the ledger entries naming it, oldest first, with receipts that verify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger import Event, Receipt, verify_receipt
from server.context import AppContext
from server.http.app import create_app
from server.storage.ledger_store import subject_rows
from server.storage.migrate import upgrade
from server.storage.schema import ledger_subjects
from tests.server.notices import clear_for_payment
from tests.server.pages_records import (
    Cows,
    add_users,
    animal_claim,
    insure_herd,
    login,
    pick_cows,
)


@pytest.fixture(scope="module")
def cows(shared_data: Path) -> Cows:
    return pick_cows(shared_data)


@pytest.fixture
def client(app: AppContext) -> Iterator[TestClient]:
    add_users(app)
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


def event(kind: str, **subjects: str) -> bytes:
    return Event(
        kind, subjects, "tester", datetime(2025, 4, 1, tzinfo=UTC)
    ).to_canonical_bytes()


def index_rows(app: AppContext) -> list[tuple[str, str, int]]:
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(ledger_subjects).order_by(
                ledger_subjects.c.idx, ledger_subjects.c.kind
            )
        ).all()
    return [(r.kind, r.subject_id, r.idx) for r in rows]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            event("claim.filed", claim="C-1", farmer="F-1"),
            [("claim", "C-1", 7), ("farmer", "F-1", 7)],
        ),
        (b"not json at all", []),
        (b"{broken", []),
        (b'{"subjects": ["claim"]}', []),
        (b'{"subjects": {"claim": 5, "farmer": "F-1"}}', [("farmer", "F-1", 7)]),
        (b'{"subjects": {"claim": ""}}', []),
        (json.dumps({"subjects": {"plot": "x" * 256}}).encode(), []),
        (json.dumps({"subjects": {"k" * 33: "x"}}).encode(), []),
        (b"\xff\xfe{", []),
    ],
)
def test_an_entry_is_indexed_by_the_subjects_its_event_names(
    data: bytes, expected: list[tuple[str, str, int]]
) -> None:
    assert subject_rows(7, data) == expected


def test_appends_index_their_subjects_in_the_same_transaction(app: AppContext) -> None:
    store = app.ledger.store
    base = store.size()
    store.append_many(
        [
            event("a.b", claim="C-1", farmer="F-1"),
            b"raw bytes",
            event("a.c", claim="C-2"),
        ]
    )
    assert index_rows(app)[-3:] == [
        ("claim", "C-1", base),
        ("farmer", "F-1", base),
        ("claim", "C-2", base + 2),
    ]
    before = index_rows(app)

    def failing_change() -> None:
        with app.engine.begin() as conn:
            store.append(conn, [event("a.d", claim="C-3")])
            raise RuntimeError("the domain change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert index_rows(app) == before and store.size() == base + 3


def test_the_migration_indexes_the_entries_stored_before_it(app: AppContext) -> None:
    from alembic import command

    from server.storage.migrate import _config

    app.ledger.append([event("a.b", claim="C-1", farmer="F-1"), event("a.c", plot="P")])
    indexed = index_rows(app)
    assert len(indexed) >= 3
    cfg = _config()
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    upgrade(app.engine)
    assert index_rows(app) == indexed


def test_a_claims_history_lists_filed_evidence_decided_paid_with_receipts(
    app: AppContext, client: TestClient, cows: Cows
) -> None:
    herd = insure_herd(app, cows)
    claim, _ = animal_claim(app, cows, herd, "F-1")
    app.claims.decide(claim.id, "approve", actor="adjuster", reason="the photos match")
    clear_for_payment(app, claim.id)
    app.claims.pay(claim.id, actor="adjuster2", payment_ref="BANK-1")
    other, _ = animal_claim(app, cows, herd, "F-2", n=1)

    adjuster = login(client, "adjuster")
    r = client.get(f"/api/v1/history/claim/{claim.id}", headers=adjuster)
    assert r.status_code == 200, r.text
    page = r.json()
    types = [e["type"] for e in page["items"]]
    assert types == [
        "claim.filed",
        "claim.evidence_checked",
        "claim.approved",
        "claim.paid",
    ]
    assert page["total"] == 4
    indices = [e["index"] for e in page["items"]]
    assert indices == sorted(indices)
    paid = page["items"][-1]
    assert paid["actor"] == "adjuster2" and paid["payload"]["payment_ref"] == "BANK-1"
    assert paid["subjects"]["claim"] == claim.id
    for e in page["items"]:
        assert e["receipt"] == f"/api/v1/ledger/receipts/{e['index']}"
        doc = client.get(e["receipt"], headers=adjuster).json()
        receipt = Receipt.from_json(doc)
        assert verify_receipt(receipt, [app.ledger.verifier]).size > e["index"]
        assert json.loads(receipt.entry)["type"] == e["type"]
        datetime.fromisoformat(e["timestamp"])

    # Paged, oldest first.
    part = client.get(
        f"/api/v1/history/claim/{claim.id}",
        params={"offset": 1, "limit": 2},
        headers=adjuster,
    ).json()
    assert [e["type"] for e in part["items"]] == types[1:3] and part["total"] == 4

    # A policy's and an animal's history; a farmer's, with every record of his.
    policy = client.get(
        f"/api/v1/history/policy/{herd.policies['F-1']}", headers=adjuster
    ).json()
    assert [e["type"] for e in policy["items"]][:1] == ["policy.issued"]
    assert set(types) <= {e["type"] for e in policy["items"]}
    animal = client.get(
        f"/api/v1/history/animal/{cows.tags[0]}", headers=adjuster
    ).json()
    assert [e["type"] for e in animal["items"]] == ["animal.enrolled"]

    # Farmers: their own records only.
    farmer = login(client, "farmer")
    mine = client.get(f"/api/v1/history/claim/{claim.id}", headers=farmer)
    assert [e["type"] for e in mine.json()["items"]] == types
    for e in mine.json()["items"]:  # every receipt listed is one he may fetch
        assert client.get(e["receipt"], headers=farmer).status_code == 200
    for kind, sid in (
        ("claim", other.id),
        ("policy", herd.policies["F-2"]),
        ("animal", cows.tags[1]),
        ("farmer", "F-2"),
    ):
        r = client.get(f"/api/v1/history/{kind}/{sid}", headers=farmer)
        assert r.status_code == 403, (kind, r.text)
    own = client.get("/api/v1/history/farmer/F-1", headers=farmer).json()
    assert own["total"] >= 6 and all(
        e["subjects"].get("farmer") == "F-1" for e in own["items"]
    )
    assert (
        client.get("/api/v1/history/farmer/F-2", headers=adjuster).json()["total"] >= 4
    )

    # Unknown kinds are 422 naming kind; an unknown id has no history.
    bad = client.get(f"/api/v1/history/spaceship/{claim.id}", headers=adjuster)
    assert (bad.status_code, bad.json()["field"]) == (422, "kind")
    none = client.get("/api/v1/history/claim/nope", headers=adjuster).json()
    assert (none["items"], none["total"]) == ([], 0)
    assert client.get(f"/api/v1/history/claim/{claim.id}").status_code == 401


def test_a_plots_history_shows_a_farmer_only_the_entries_naming_him(
    app: AppContext, client: TestClient
) -> None:
    """Plot ids are the farmer's own labels: two farmers may both have a plot "G-1"."""
    app.ledger.append(
        [
            event("plot.surveyed", plot="G-1", farmer="F-1"),
            event("plot.surveyed", plot="G-1", farmer="F-2"),
        ]
    )
    staff = client.get("/api/v1/history/plot/G-1", headers=login(client, "underwriter"))
    assert staff.json()["total"] == 2
    mine = client.get(
        "/api/v1/history/plot/G-1", headers=login(client, "farmer")
    ).json()
    assert [e["subjects"]["farmer"] for e in mine["items"]] == ["F-1"]
    assert mine["total"] == 1
