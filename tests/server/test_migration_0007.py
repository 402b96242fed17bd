"""Migration 0007 rebuilds each policy's animals from the ledger, not the overwritten column."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import insert, select, text

from server.storage.migrate import upgrade
from server.storage.schema import ledger_entries, make_engine, policy_animals


def test_cover_recorded_before_the_fix_is_kept_for_both_policies(db_url: str) -> None:
    """Two policies took one cow under the old code; animals.policy names only the second."""
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0006")
        now = datetime.now(UTC)
        tag = "998230000006455"
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO farmers (id, name, region, created_at) "
                    "VALUES ('F-1', 'Liu', 'Hohhot', :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO products (code, kind, terms, created_at)"
                    " VALUES ('COW', 'livestock', '{}', :now)"
                ),
                {"now": now},
            )
            for pid in ("P-1", "P-2"):
                conn.execute(
                    text(
                        "INSERT INTO applications (id, farmer_id, product_code, kind,"
                        " start_date, end_date, status, light, recommendation, checks,"
                        " animals, created_at, updated_at) VALUES (:id, 'F-1', 'COW',"
                        " 'livestock', :start, :end, 'approved', 'green', 'approve',"
                        " '[]', '[]', :now, :now)"
                    ),
                    {
                        "id": "A-" + pid,
                        "start": date(2025, 4, 1),
                        "end": date(2026, 3, 31),
                        "now": now,
                    },
                )
                conn.execute(
                    text(
                        "INSERT INTO policies (id, farmer_id, product_code, application_id,"
                        " kind, start_date, end_date, sum_insured_minor, premium, currency,"
                        " created_at) VALUES (:id, 'F-1', 'COW', :app, 'livestock',"
                        " :start, :end, 100, '{}', 'CNY', :now)"
                    ),
                    {
                        "id": pid,
                        "app": "A-" + pid,
                        "start": date(2025, 4, 1),
                        "end": date(2026, 3, 31),
                        "now": now,
                    },
                )
            conn.execute(
                text(
                    "INSERT INTO animals (tag, scheme, farm, policy, template, photos,"
                    " photo_hashes, enrolled_at)"
                    " VALUES (:tag, 'iso11784', 'F-1', 'P-2', :t, 3, '[]', :now)"
                ),
                {"tag": tag, "t": b"\0" * 512, "now": now},
            )
            for i, pid in enumerate(("P-1", "P-2")):
                event = {
                    "v": 1,
                    "type": "policy.issued",
                    "subjects": {"policy": pid, "farmer": "F-1"},
                    "actor": "uw",
                    "timestamp": "2025-04-01T00:00:00Z",
                    "payload": {
                        "start": "2025-04-01",
                        "end": "2026-03-31",
                        "animals": [tag],
                    },
                }
                conn.execute(
                    insert(ledger_entries).values(
                        idx=i,
                        data=json.dumps(event).encode(),
                        leaf_hash=b"\0" * 32,
                        prev_link=b"\0" * 32,
                        nodes=b"",
                    )
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                select(policy_animals.c.policy_id, policy_animals.c.tag).order_by(
                    policy_animals.c.policy_id
                )
            ).all()
        assert [tuple(r) for r in rows] == [("P-1", tag), ("P-2", tag)]
    finally:
        engine.dispose()
