"""Double insurance in PostGIS gives the Python path's answers, on real parcel registers.

On PostgreSQL the service searches and measures overlaps in SQL
(``server.storage.overlaps_sql``); the Python path (the box prefilter, then
remote sensing's STR-tree and geodesic areas) is what SQLite runs. Both are
run here on the same database: the same pairs in the same order, areas within
0.01 m2 or 1e-6 of each other. The tests' schemas leave ``public`` (where
PostGIS lives) off the search path, so every PostGIS name must be qualified.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import shapely
from alembic import command
from sqlalchemy import Connection, func, select, text, update

from remote_sensing import PlotSet, find_overlaps, plots_from_geometries, read_plots
from server.context import AppContext
from server.services.underwriting import UnderwritingService
from server.storage import overlaps_sql
from server.storage.migrate import _config, upgrade
from server.storage.plots_store import insured_plots_meeting
from server.storage.schema import plots
from tests.remote_sensing.conftest import REGISTERS
from underwriting import InsuredOverlap

SPRING, AUTUMN = date(2025, 3, 1), date(2025, 10, 31)
SLOVENIA = "sentinel2/slovenia/landuse_parcels_RABA.gpkg"
# Registers insured by F-1 for the season; Slovenia's by F-2 from the season's
# last day (in force on it: both ends count); the Dutch one by F-2 for the year
# before (ended: never found).
IN_FORCE = ("at", "be_vlg", "dk", "fr")
ENDED = "nl"
MOVE = np.array([0.0002, 0.00009])  # degrees: about 15 m east, 10 m north


def _postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostGIS is PostgreSQL's: SQLite searches overlaps in Python")


@pytest.fixture(scope="module")
def registers(shared_data: Path) -> dict[str, PlotSet]:
    """Five national parcel registers and Slovenia's land-use parcels, in WGS84."""
    out = {
        name: read_plots(shared_data / path, declared_column=column)
        for name, (path, column) in REGISTERS.items()
    }
    out["si"] = read_plots(shared_data / SLOVENIA)
    return out


def _insure(
    uw: UnderwritingService, farmer: str, plot_set: PlotSet, start: date, end: date
) -> str:
    rec = uw.apply_crop(farmer, "WHEAT", plot_set, start=start, end=end, actor="agent")
    decided = uw.decide(rec.id, "approve", actor="uw", reason="the register's parcels")
    assert decided.policy_id
    return decided.policy_id


def _application(registers: dict[str, PlotSet]) -> PlotSet:
    """Plots over every register: parcels moved 15 m east and 10 m north (every third),
    grown by about 8 m (every seventh, so they meet their neighbours), one parcel
    copied exactly, and one far from any."""
    geoms: list[shapely.Geometry] = []
    for name in sorted(registers):
        shapes = registers[name].geometry[registers[name].usable]
        geoms += list(shapely.transform(shapes[::3], lambda xy: xy + MOVE))
        geoms += list(shapely.buffer(shapes[1::7], 0.0001, quad_segs=4))
        geoms.append(shapes[2])
    geoms.append(shapely.box(108.90, 34.30, 108.903, 34.303))
    return plots_from_geometries(
        geoms, 4326, ids=[f"a{i:04d}" for i in range(len(geoms))]
    )


def _python_path(
    conn: Connection,
    plot_ids: Sequence[str],
    geoms: npt.NDArray[np.object_],
    areas_m2: npt.NDArray[np.float64],
) -> list[InsuredOverlap]:
    """What the service runs on SQLite: box prefilter in SQL, STR-tree and areas in Python."""
    found = np.flatnonzero(~shapely.is_missing(geoms))
    insured = insured_plots_meeting(
        conn,
        SPRING,
        AUTUMN,
        tuple(shapely.bounds(shapely.union_all(geoms[found])).tolist()),
    )
    ov = find_overlaps(
        geoms,
        shapely.from_wkb([r.geometry for r in insured]),
        min_overlap_m2=1.0,
        areas_m2=areas_m2,
        other_areas_m2=np.array([r.area_m2 for r in insured]),
    )
    return [
        InsuredOverlap(
            plot_ids[a],
            insured[b].plot_ref,
            insured[b].policy_id,
            insured[b].farmer_id,
            area,
            share,
        )
        for a, b, area, share in zip(
            ov.left.tolist(),
            ov.right.tolist(),
            ov.area_m2.tolist(),
            ov.share_left.tolist(),
            strict=True,
        )
    ]


def _assert_same(sql: list[InsuredOverlap], python: list[InsuredOverlap]) -> None:
    def key(o: InsuredOverlap) -> tuple[str, str, str, str]:
        return (o.plot_id, o.other_plot, o.policy_id, o.farmer_id)

    assert [key(o) for o in sql] == [key(o) for o in python]
    for s, p in zip(sql, python, strict=True):
        assert s.area_m2 == pytest.approx(p.area_m2, rel=1e-6, abs=0.01), key(s)
        # The share is of the application's plot's own area, on both paths.
        assert s.area_m2 / s.share == pytest.approx(p.area_m2 / p.share, rel=1e-12)


def test_postgis_finds_and_measures_what_the_python_path_does_on_real_registers(
    db_url: str, app: AppContext, uw: UnderwritingService, registers: dict[str, PlotSet]
) -> None:
    _postgres_only(db_url)
    policy = {
        name: _insure(uw, "F-1", registers[name], SPRING, AUTUMN) for name in IN_FORCE
    }
    policy["si"] = _insure(uw, "F-2", registers["si"], AUTUMN, date(2026, 6, 30))
    policy[ENDED] = _insure(
        uw, "F-2", registers[ENDED], date(2024, 3, 1), date(2025, 2, 28)
    )
    mine = _application(registers)
    args = (mine.ids, mine.geometry, mine.area_m2)
    with app.engine.connect() as conn:
        assert overlaps_sql.spatial_sql(conn)
        sql = uw._insured_overlaps(conn, SPRING, AUTUMN, *args)
        python = _python_path(conn, *args)
    _assert_same(sql, python)
    # Every register in force is met (Slovenia's on its first day), the ended one never.
    met = {o.policy_id for o in sql}
    assert met == {policy[name] for name in (*IN_FORCE, "si")}
    assert len(sql) > 500
    copied = [o for o in sql if o.share == pytest.approx(1.0, abs=1e-6)]
    assert len(copied) >= len(registers) - 1  # each exact copy, Dutch aside
    assert not [o for o in sql if o.plot_id == mine.ids[-1]]  # the far plot


def test_a_plot_not_searched_and_an_application_with_none(
    db_url: str, app: AppContext, uw: UnderwritingService, registers: dict[str, PlotSet]
) -> None:
    _postgres_only(db_url)
    _insure(uw, "F-1", registers["at"], SPRING, AUTUMN)
    mine = _application({"at": registers["at"]})
    geoms = mine.geometry.copy()
    geoms[::2] = None  # unusable plots are not searched
    with app.engine.connect() as conn:
        conn.execute(text("SET jit = on"))
        sql = uw._insured_overlaps(conn, SPRING, AUTUMN, mine.ids, geoms, mine.area_m2)
        assert (
            conn.execute(text("SHOW jit")).scalar_one() == "on"
        )  # off for the query only
        python = _python_path(conn, mine.ids, geoms, mine.area_m2)
        nothing = np.full(len(geoms), None, dtype=object)
        assert (
            uw._insured_overlaps(conn, SPRING, AUTUMN, mine.ids, nothing, mine.area_m2)
            == []
        )
    _assert_same(sql, python)
    assert sql and all(mine.ids.index(o.plot_id) % 2 for o in sql)


def _geom_matches_wkb(conn: Connection) -> tuple[int, int]:
    """(plots, plots whose geom is exactly their stored WKB as a MultiPolygon)."""
    g = overlaps_sql.postgis_schema(conn)
    same = conn.execute(
        text(
            f"SELECT count(*) FROM plots WHERE {g}.ST_Equals(geom, "
            f"{g}.ST_Multi({g}.ST_GeomFromWKB(geometry, 4326))) "
            f"AND {g}.ST_SRID(geom) = 4326"
        )
    ).scalar_one()
    total = conn.execute(select(func.count()).select_from(plots)).scalar_one()
    return int(total), int(same)


def test_geom_follows_every_insert_and_change_and_is_refilled_by_the_migration(
    db_url: str, app: AppContext, uw: UnderwritingService, registers: dict[str, PlotSet]
) -> None:
    _postgres_only(db_url)
    _insure(uw, "F-1", registers["fr"], SPRING, AUTUMN)
    with app.engine.connect() as conn:
        total, same = _geom_matches_wkb(conn)
    assert total == same == int(registers["fr"].usable.sum())
    # A plot moved by a writer that knows nothing of geom: the search follows it.
    far = shapely.box(108.90, 34.30, 108.903, 34.303)
    with app.engine.begin() as conn:
        ref = conn.execute(select(plots.c.plot_ref).limit(1)).scalar_one()
        conn.execute(
            update(plots)
            .where(plots.c.plot_ref == ref)
            .values(geometry=shapely.to_wkb(far))
        )
        assert _geom_matches_wkb(conn) == (total, total)
        hits = overlaps_sql.insured_overlaps(
            conn, SPRING, AUTUMN, [shapely.to_wkb(far)], min_overlap_m2=1.0
        )
        assert [h.plot_ref for h in hits] == [ref]
        assert hits[0].area_m2 == pytest.approx(
            float(plots_from_geometries([far], 4326).area_m2[0]), abs=0.01
        )
    # Down to 0017 drops the column; up again fills it from the stored WKB.
    cfg = _config()
    with app.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0017")
        assert "geom" not in {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'plots'"
                )
            )
        }
    upgrade(app.engine)
    with app.engine.connect() as conn:
        assert _geom_matches_wkb(conn) == (total, total)


def test_the_search_uses_the_gist_index(
    db_url: str, app: AppContext, uw: UnderwritingService, registers: dict[str, PlotSet]
) -> None:
    _postgres_only(db_url)
    _insure(uw, "F-1", registers["at"], SPRING, AUTUMN)
    wkb = shapely.to_wkb(registers["at"].geometry[0])
    with app.engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        query = overlaps_sql._QUERY.format(g=overlaps_sql.postgis_schema(conn))
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text("EXPLAIN " + query).bindparams(
                    *overlaps_sql._PARAMS  # the query's typed parameters
                ),
                {"wkbs": [wkb], "start": SPRING, "end": AUTUMN, "floor": 1.0},
            )
        )
    assert "ix_plots_geom" in plan


def test_sqlite_keeps_the_python_path(
    db_url: str, app: AppContext, uw: UnderwritingService
) -> None:
    """On SQLite the column is there (one declared schema) and stays empty."""
    if db_url.startswith("postgresql"):
        pytest.skip("SQLite's path")
    box = shapely.box(108.90, 34.30, 108.903, 34.303)
    _insure(uw, "F-1", plots_from_geometries([box], 4326, ids=["A"]), SPRING, AUTUMN)
    mine = plots_from_geometries(
        [shapely.box(108.901, 34.30, 108.904, 34.303)], 4326, ids=["B"]
    )
    with app.engine.connect() as conn:
        assert not overlaps_sql.spatial_sql(conn)
        assert conn.execute(select(plots.c.geom)).scalars().all() == [None]
        found = uw._insured_overlaps(
            conn, SPRING, AUTUMN, mine.ids, mine.geometry, mine.area_m2
        )
    assert [(o.plot_id, o.other_plot) for o in found] == [("B", "A")]
    assert found[0].share == pytest.approx(2 / 3, rel=1e-3)
