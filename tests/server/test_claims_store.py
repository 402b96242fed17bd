"""The claims store: SQL only; conditional moves, earlier claims, the indexed pHash search."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection, Engine, insert, select, text

from claims import hamming, probe_sets
from server.errors import NotFoundError
from server.storage.claims_store import ClaimRecord, ClaimStore, EvidenceRow
from server.storage.migrate import upgrade
from server.storage.schema import claims, evidence, ledger_entries, make_engine
from underwriting import Money


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def new_claim(
    store: ClaimStore,
    conn: Connection,
    subject: str = "998230000006455",
    kind: str = "animal",
    policy: str = "P-1",
    day: date = date(2026, 5, 10),
) -> ClaimRecord:
    return store.insert(
        conn,
        policy_id=policy,
        farmer_id="F-1",
        subject_kind=kind,
        subject_id=subject,
        event_date=day,
        amount=Money.parse("7400"),
        reported_at=datetime(2026, 5, 11, tzinfo=UTC),
        claimed={},
        checks=(),
        indemnity=(),
    )


def test_moves_are_conditional_updates(engine: Engine) -> None:
    store = ClaimStore(engine)
    with engine.begin() as conn:
        c = new_claim(store, conn)
        assert (c.status, c.event_date, c.decided_by) == (
            "filed",
            date(2026, 5, 10),
            None,
        )
        assert not store.move(
            conn, c.id, from_status={"approved"}, to_status="paid", values={}
        )
        assert store.move(
            conn,
            c.id,
            from_status=("filed", "survey"),
            to_status="approved",
            values={"decided_by": "adj-1", "reason": None},
        )
        assert not store.reassess(
            conn,
            c.id,
            open_statuses=("filed", "survey"),
            checks=(),
            amount=Money.parse("1"),
            indemnity=(),
        )
        got = store.get(c.id, conn, for_update=True)
    assert (got.status, got.decided_by, got.amount) == (
        "approved",
        "adj-1",
        Money.parse("7400"),
    )
    with pytest.raises(NotFoundError, match="no claim"):
        store.get("missing")


def test_earlier_claims_of_a_subject(engine: Engine) -> None:
    store = ClaimStore(engine)
    with engine.begin() as conn:
        a = new_claim(store, conn)
        b = new_claim(store, conn)
        store.move(conn, b.id, from_status={"filed"}, to_status="rejected", values={})
        new_claim(store, conn, subject="998230000006456")
        p = new_claim(store, conn, subject="P1", kind="plot", policy="P-1")
        new_claim(store, conn, subject="P1", kind="plot", policy="P-2")
        assert [
            e.id for e in store.earlier_claims(conn, "animal", "998230000006455")
        ] == [a.id]
        assert [
            e.id for e in store.earlier_claims(conn, "plot", "P1", policy_id="P-1")
        ] == [p.id]


def _random_hashes(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.getrandbits(64) for _ in range(n)]


def _flip(h: int, bits: list[int]) -> int:
    for b in bits:
        h ^= 1 << b
    return h


def test_the_band_search_finds_exactly_what_a_scan_finds(engine: Engine) -> None:
    """Every stored hash within distance 6 comes back; the rest are filtered by the caller."""
    store = ClaimStore(engine)
    rng = random.Random(1)
    query = _random_hashes(3, 2)
    stored = _random_hashes(3000, 3)
    # Near-duplicates at every distance up to 8, flips spread over the bands.
    for q in query:
        for d in range(9):
            stored.append(_flip(q, rng.sample(range(64), d)))
    with engine.begin() as conn:
        c = new_claim(store, conn)
        store.add_evidence(
            conn,
            c.id,
            [
                EvidenceRow(f"{i}.jpg", h, None, None, None)
                for i, h in enumerate(stored)
            ],
        )
        found = store.similar_evidence(conn, probe_sets(query, 6))
    got = {s.phash for s in found}
    for q in query:
        expected = {h for h in stored if hamming(q, h) <= 6}
        assert expected <= got
    assert len(found) < 200  # candidates, not the table


def test_the_band_search_uses_the_band_indexes(engine: Engine) -> None:
    """The query plan reads the band indexes, never the whole table."""
    store = ClaimStore(engine)
    probes = probe_sets([0x0123_4567_89AB_CDEF], 6)
    with engine.begin() as conn:
        c = new_claim(store, conn)
        store.add_evidence(
            conn,
            c.id,
            [
                EvidenceRow(f"{i}.jpg", h, None, None, None)
                for i, h in enumerate(_random_hashes(500, 4))
            ],
        )
        terms = " OR ".join(
            f"band{i} IN ({', '.join(str(v) for v in sorted(p))})"
            for i, p in enumerate(probes)
        )
        sql = f"SELECT phash, claim_id FROM evidence WHERE {terms}"
        if conn.dialect.name == "sqlite":
            plan = " ".join(
                str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql))
            )
            assert "SCAN evidence" not in plan.replace("USING INDEX", "")
            assert all(f"ix_evidence_band{i}" in plan for i in range(4)), plan
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
            assert "Seq Scan" not in plan
            assert all(f"ix_evidence_band{i}" in plan for i in range(4)), plan


def test_earlier_claims_use_the_subject_index(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip(
            "the plan is checked on SQLite; the index exists on both (migrations test)"
        )
    with engine.connect() as conn:
        plan = " ".join(
            str(r[-1])
            for r in conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM claims "
                    "WHERE subject_kind = 'animal' AND subject_id = 'x'"
                )
            )
        )
    assert "ix_claims_subject" in plan


def test_migration_0008_fills_bands_and_approvers_of_earlier_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0007")
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                insert(claims).values(
                    id="C-1",
                    policy_id="P-1",
                    farmer_id="F-1",
                    subject_kind="animal",
                    subject_id="998230000006455",
                    event_date=now,
                    status="approved",
                    amount_minor=740000,
                    currency="CNY",
                    updated_at=now,
                )
            )
            conn.execute(
                text(
                    "INSERT INTO evidence (claim_id, name, phash, created_at) "
                    "VALUES ('C-1', 'a.jpg', '0123456789abcdef', :now)"
                ),
                {"now": now},
            )
            event = {
                "type": "claim.approved",
                "subjects": {"claim": "C-1"},
                "actor": "adj-1",
            }
            conn.execute(
                insert(ledger_entries).values(
                    idx=0,
                    data=json.dumps(event).encode(),
                    leaf_hash=b"\0" * 32,
                    prev_link=b"\0" * 32,
                    nodes=b"",
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            row = conn.execute(select(evidence)).one()
            decided = conn.execute(select(claims.c.decided_by)).scalar_one()
        assert (row.band0, row.band1, row.band2, row.band3) == (
            0x0123,
            0x4567,
            0x89AB,
            0xCDEF,
        )
        assert decided == "adj-1"
        assert ClaimStore(engine).get("C-1").decided_by == "adj-1"
    finally:
        engine.dispose()
