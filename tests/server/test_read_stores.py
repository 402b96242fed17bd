"""The stores the maps, photo and history reads go through: SQL only, narrowed by a farmer id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import shapely
from sqlalchemy import Connection, Engine, insert

from server.storage.assessment_store import AssessmentStore
from server.storage.history_store import HistoryStore
from server.storage.migrate import upgrade
from server.storage.owner_store import OWNED_KINDS, OwnerStore
from server.storage.plots_store import PlotStore
from server.storage.schema import (
    animals,
    applications,
    claims,
    farmers,
    ledger_entries,
    ledger_subjects,
    make_engine,
    plots,
    policies,
    products,
)

NOW = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _square(x: float, y: float) -> bytes:
    return bytes(shapely.to_wkb(shapely.box(x, y, x + 0.01, y + 0.01)))


def _policy(conn: Connection, farmer: str, app_id: str, policy_id: str | None) -> None:
    """An application of ``farmer`` with plots A and B at (x, 48), insured by ``policy_id``."""
    conn.execute(
        insert(applications).values(
            id=app_id,
            farmer_id=farmer,
            product_code="WHEAT",
            kind="crop",
            start_date=date(2026, 4, 1),
            end_date=date(2026, 10, 31),
            status="approved" if policy_id else "pending",
            light="green",
            recommendation="approve",
            checks="[]",
            animals="[]",
            policy_id=policy_id,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    if policy_id:
        conn.execute(
            insert(policies).values(
                id=policy_id,
                farmer_id=farmer,
                product_code="WHEAT",
                application_id=app_id,
                kind="crop",
                start_date=date(2026, 4, 1),
                end_date=date(2026, 10, 31),
                sum_insured_minor=100,
                premium="{}",
                currency="CNY",
                created_at=NOW,
            )
        )
    x = 13.0 if farmer == "F-1" else 13.1
    for ref, dx in (("B", 0.02), ("A", 0.0)):
        conn.execute(
            insert(plots).values(
                id=f"{app_id}-{ref}",
                plot_ref=ref,
                application_id=app_id,
                policy_id=policy_id,
                farmer_id=farmer,
                geometry=_square(x + dx, 48.0),
                area_m2=1000.0 + dx,
                declared_m2=None if ref == "A" else 1500.0,
                min_lon=x + dx,
                min_lat=48.0,
                max_lon=x + dx + 0.01,
                max_lat=48.01,
            )
        )


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    with engine.begin() as conn:
        for fid in ("F-1", "F-2"):
            conn.execute(
                insert(farmers).values(id=fid, name=fid, region="R", created_at=NOW)
            )
        conn.execute(
            insert(products).values(
                code="WHEAT", kind="crop", terms="{}", created_at=NOW
            )
        )
        _policy(conn, "F-1", "APP-1", "POL-1")
        _policy(conn, "F-2", "APP-2", "POL-2")
        _policy(conn, "F-2", "APP-3", None)  # not insured: never on a map of policies
    return engine


# --- plots ---------------------------------------------------------------------------


def test_plots_of_an_application_and_of_a_policy_by_plot_id(seeded: Engine) -> None:
    store = PlotStore()
    with seeded.connect() as conn:
        mine = store.of_application(conn, "APP-1")
        insured = store.of_policy(conn, "POL-2")
        assert store.of_application(conn, "nope") == []
    assert [p.plot_ref for p in mine] == ["A", "B"]
    a = mine[0]
    assert (a.application_id, a.policy_id, a.farmer_id) == ("APP-1", "POL-1", "F-1")
    assert (a.area_m2, a.declared_m2, mine[1].declared_m2) == (1000.0, None, 1500.0)
    assert shapely.from_wkb(a.geometry).equals(shapely.from_wkb(_square(13.0, 48.0)))
    assert [(p.plot_ref, p.application_id) for p in insured] == [
        ("A", "APP-2"),
        ("B", "APP-2"),
    ]


WORLD = (-180.0, -90.0, 180.0, 90.0)
SUMMER = date(2026, 6, 1)


def test_plots_in_force_a_page_in_policy_order(seeded: Engine) -> None:
    store = PlotStore()
    with seeded.connect() as conn:
        rows, total = store.in_force_meeting(
            conn, SUMMER, WORLD, farmer_id=None, offset=0, limit=10
        )
        page, same = store.in_force_meeting(
            conn, SUMMER, WORLD, farmer_id=None, offset=1, limit=2
        )
        before, none = store.in_force_meeting(
            conn, date(2026, 3, 31), WORLD, farmer_id=None, offset=0, limit=10
        )
    assert [(p.policy_id, p.plot_ref) for p in rows] == [
        ("POL-1", "A"),
        ("POL-1", "B"),
        ("POL-2", "A"),
        ("POL-2", "B"),
    ]
    assert total == same == 4
    assert page == rows[1:3]
    assert (before, none) == ([], 0)


def test_plots_in_force_narrowed_to_a_farmer_and_a_view(seeded: Engine) -> None:
    store = PlotStore()
    with seeded.connect() as conn:
        theirs, n = store.in_force_meeting(
            conn, SUMMER, WORLD, farmer_id="F-2", offset=0, limit=10
        )
        nobody, zero = store.in_force_meeting(
            conn, SUMMER, WORLD, farmer_id="", offset=0, limit=10
        )
        # a view around F-1's plot A only
        view, one = store.in_force_meeting(
            conn,
            SUMMER,
            (13.0, 48.0, 13.005, 48.005),
            farmer_id=None,
            offset=0,
            limit=10,
        )
    assert n == 2 and {p.farmer_id for p in theirs} == {"F-2"}
    assert (nobody, zero) == ([], 0)
    assert one == 1 and [(p.policy_id, p.plot_ref) for p in view] == [("POL-1", "A")]


# --- assessments by map --------------------------------------------------------------


def test_an_assessment_is_replaced_and_read_back(engine: Engine) -> None:
    store = AssessmentStore()
    damage = {"type": "FeatureCollection", "features": [{"type": "Feature", "n": 1}]}
    with engine.begin() as conn:
        conn.execute(
            insert(claims).values(
                id="C-1",
                policy_id="POL-1",
                farmer_id="F-1",
                subject_kind="plot",
                subject_id="A",
                event_date=NOW,
                status="filed",
                amount_minor=1,
                currency="CNY",
                updated_at=NOW,
            )
        )
        assert store.get(conn, "C-1") is None
        store.replace(
            conn,
            "C-1",
            before_scene="b.tif",
            after_scene="a.tif",
            before_date=None,
            after_date=None,
            ndvi_before=None,
            ndvi_after=None,
            damage={"type": "FeatureCollection", "features": []},
        )
        store.replace(
            conn,
            "C-1",
            before_scene="x" * 300,
            after_scene="after.tif",
            before_date=date(2026, 4, 1),
            after_date=date(2026, 5, 2),
            ndvi_before=0.8,
            ndvi_after=None,
            damage=damage,
        )
        got = store.get(conn, "C-1")
    assert got is not None
    assert got.before_scene == "x" * 255 and got.after_scene == "after.tif"
    assert (got.before_date, got.after_date) == (date(2026, 4, 1), date(2026, 5, 2))
    assert (got.ndvi_before, got.ndvi_after) == (0.8, None)
    assert got.damage == damage and got.damage is not damage


# --- owners --------------------------------------------------------------------------


def test_the_farmer_a_record_belongs_to(seeded: Engine) -> None:
    with seeded.begin() as conn:
        conn.execute(
            insert(claims).values(
                id="C-9",
                policy_id="POL-2",
                farmer_id="F-2",
                subject_kind="plot",
                subject_id="A",
                event_date=NOW,
                status="filed",
                amount_minor=1,
                currency="CNY",
                updated_at=NOW,
            )
        )
        conn.execute(
            insert(animals).values(
                tag="998230000006455",
                scheme="CN",
                farm="F-1",
                template=b"\x00" * 4,
                photos=1,
                photo_hashes="[]",
                enrolled_at=NOW,
            )
        )
    store = OwnerStore()
    with seeded.connect() as conn:
        assert store.farmer_of(conn, "claim", "C-9") == "F-2"
        assert store.farmer_of(conn, "policy", "POL-1") == "F-1"
        assert store.farmer_of(conn, "application", "APP-3") == "F-2"
        assert store.farmer_of(conn, "animal", "998230000006455") == "F-1"
        for kind in OWNED_KINDS:
            assert store.farmer_of(conn, kind, "unknown") is None
        with pytest.raises(ValueError, match="carry no farmer id"):
            store.farmer_of(conn, "plot", "A")  # type: ignore[arg-type]


# --- a subject's ledger entries ------------------------------------------------------


def test_a_subjects_entries_oldest_first_narrowed_to_a_farmer(engine: Engine) -> None:
    names = {
        1: {"plot": "A", "farmer": "F-1"},
        2: {"plot": "A", "farmer": "F-2"},
        3: {"claim": "C-1", "farmer": "F-1"},
        4: {"plot": "A"},
        5: {"plot": "A", "farmer": "F-1"},
    }
    with engine.begin() as conn:
        for idx, subjects in names.items():
            conn.execute(
                insert(ledger_entries).values(
                    idx=idx,
                    data=json.dumps({"subjects": subjects}).encode(),
                    leaf_hash=b"h",
                    prev_link=b"p",
                    nodes=b"",
                )
            )
            for kind, sid in subjects.items():
                conn.execute(
                    insert(ledger_subjects).values(kind=kind, subject_id=sid, idx=idx)
                )
    store = HistoryStore()
    with engine.connect() as conn:
        every, total = store.entries(
            conn, "plot", "A", farmer_id=None, offset=0, limit=50
        )
        page, same = store.entries(conn, "plot", "A", farmer_id=None, offset=1, limit=2)
        his, n = store.entries(conn, "plot", "A", farmer_id="F-1", offset=0, limit=50)
        nobody, zero = store.entries(
            conn, "plot", "A", farmer_id="", offset=0, limit=50
        )
    assert [e.index for e in every] == [1, 2, 4, 5] and total == same == 4
    assert page == every[1:3]
    assert json.loads(every[0].data) == {"subjects": names[1]}
    assert [e.index for e in his] == [1, 5] and n == 2
    assert (nobody, zero) == ([], 0)
