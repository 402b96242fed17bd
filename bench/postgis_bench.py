"""Double insurance against 1,000,000 insured plots: PostGIS beside the Python path.

Ours, on PostgreSQL: ``server.storage.overlaps_sql.insured_overlaps`` (one
query: ST_Intersects on the GiST index of ``plots.geom``, each overlap
measured on the ellipsoid with ``geography``), what the underwriting service
runs there. Reference: the Python path the service runs on SQLite, on the same
database (``insured_plots_meeting``: the plots of policies in force whose
boxes meet the application's, on the indexed bounds; then remote sensing's
STR-tree and geodesic areas). Both must find the same pairs and areas.

The insured plots are the shared registers' parcels (Austria, Flanders,
Denmark, France, the Netherlands, Slovenia: about 680 shapes), packed side by
side into a tile and the tile repeated over a region by ``generate_series``,
in a schema of its own (migrated as an installation's, dropped at the end).
One policy per 100 plots, one in ten of them ended the year before. An
application is 5 of those shapes dropped at a random place in the region.

PostgreSQL: ``AGRI_BENCH_POSTGRES_URL``, else ``AGRI_TEST_POSTGRES_URL``, else
the tests' local default; the group is skipped (``Skipped``) when no server
answers or it has no PostGIS to create.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from bench.report import Result, Skipped
from remote_sensing import find_overlaps, geodesic_area_perimeter, read_plots
from server.storage import overlaps_sql
from server.storage.migrate import DatabaseAccessError, upgrade
from server.storage.plots_store import insured_plots_meeting
from server.storage.schema import make_engine

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AGRI_SHARED_DATA", REPO.parent / "shared" / "data"))
REGISTERS = (
    "parcels/at/inspire_schlaege_2025-1_polygon.gpkg.zip",
    "parcels/be_vlg/Landbouwgebruikspercelen_2023_-_Definitief_"
    "(extractie_28-03-2024)_GPKG.zip",
    "parcels/dk/Marker_2026.zip",
    "parcels/fr_rpg_ain_193.gpkg",
    "parcels/nl/brpgewaspercelen_definitief_2023.gpkg",
    "sentinel2/slovenia/landuse_parcels_RABA.gpkg",
)
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START, END = date(2025, 3, 1), date(2025, 10, 31)
ORIGIN = (100.0, 30.0)  # the region's south-west corner, degrees
TILE_WIDTH = 0.06  # degrees of longitude per tile row of shapes
PLOTS_PER_POLICY = 100
APPLICATION_PLOTS = 5
FLOOR_M2 = 1.0  # the service's floor: min(OverlapRules.min_overlap_m2, 1)
GOAL_MS = 50.0


def _row(label: str, ours: str, ref: str, ratio: str = "") -> None:
    print(f"{label:<48} {ours:>16} {ref:>30} {ratio:>8}")


def _shapes() -> npt.NDArray[np.object_]:
    """The registers' usable parcels, WGS84, in file order."""
    out: list[shapely.Geometry] = []
    for path in REGISTERS:
        plots = read_plots(SHARED / path)
        out += list(plots.geometry[plots.usable])
    return np.asarray(out, dtype=object)


def _pack(shapes: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.object_], float]:
    """The shapes side by side in rows TILE_WIDTH wide (boxes touching, no overlap).

    Returns the packed shapes (the tile's south-west corner at 0, 0) and the
    tile's height in degrees.
    """
    bounds = shapely.bounds(shapes)
    size = bounds[:, 2:] - bounds[:, :2]
    order = np.argsort(-size[:, 1], kind="stable")
    out = np.empty(len(shapes), dtype=object)
    x = y = row_height = 0.0
    for i in order.tolist():
        w, h = size[i]
        if x + w > TILE_WIDTH and x > 0:
            x, y, row_height = 0.0, y + row_height, 0.0
        out[i] = shapely.transform(
            shapes[i], lambda xy, i=i, x=x, y=y: xy - bounds[i, :2] + (x, y)
        )
        x += w
        row_height = max(row_height, h)
    return out, y + row_height


def _url() -> str:
    return os.environ.get(
        "AGRI_BENCH_POSTGRES_URL", os.environ.get("AGRI_TEST_POSTGRES_URL", DEFAULT_PG)
    )


_FILL = """
INSERT INTO plots (id, plot_ref, application_id, policy_id, farmer_id, geometry,
                   area_m2, declared_m2, min_lon, min_lat, max_lon, max_lat)
SELECT 'pl' || n, 'p' || n, 'ap' || (n / :per), 'po' || (n / :per),
       'BF-' || ((n / :per) % 1000), {g}.ST_AsBinary(shape),
       {g}.ST_Area({g}.geography(shape)), NULL,
       {g}.ST_XMin(shape), {g}.ST_YMin(shape), {g}.ST_XMax(shape), {g}.ST_YMax(shape)
FROM (
    SELECT t * :k + s.k AS n,
           {g}.ST_Translate(s.shape, :x0 + (t % :cols) * :tw, :y0 + (t / :cols) * :th) AS shape
    FROM generate_series(0, :tiles - 1) AS t CROSS JOIN bench_shapes AS s
) AS placed
WHERE n < :n
"""


def _fill(
    conn: Connection, packed: npt.NDArray[np.object_], height: float, n: int
) -> int:
    """``n`` insured plots tiling the region; returns the tiles per row."""
    g = overlaps_sql.postgis_schema(conn)
    policies = -(-n // PLOTS_PER_POLICY)
    conn.execute(
        text(
            "INSERT INTO farmers (id, name, region, created_at) "
            "SELECT 'BF-' || i, 'bench farmer', 'bench', now() FROM generate_series(0, 999) i"
        )
    )
    conn.execute(
        text(
            "INSERT INTO products (code, kind, terms, created_at) "
            "VALUES ('BENCH', 'crop', '{}', now())"
        )
    )
    # One in ten policies ended the year before: the period decides, not only the place.
    period = (
        "CASE WHEN p % 10 = 0 THEN DATE '2024-03-01' ELSE DATE '2025-03-01' END, "
        "CASE WHEN p % 10 = 0 THEN DATE '2024-10-31' ELSE DATE '2025-10-31' END"
    )
    conn.execute(
        text(
            "INSERT INTO applications (id, farmer_id, product_code, kind, start_date, "
            "end_date, status, light, recommendation, checks, animals, policy_id, "
            "created_at, updated_at) "
            f"SELECT 'ap' || p, 'BF-' || (p % 1000), 'BENCH', 'crop', {period}, "
            "'approved', 'green', 'approve', '[]', '[]', 'po' || p, now(), now() "
            "FROM generate_series(0, :m - 1) p"
        ),
        {"m": policies},
    )
    conn.execute(
        text(
            "INSERT INTO policies (id, farmer_id, product_code, application_id, kind, "
            "start_date, end_date, sum_insured_minor, premium, currency, created_at) "
            f"SELECT 'po' || p, 'BF-' || (p % 1000), 'BENCH', 'ap' || p, 'crop', {period}, "
            "100000, '{}', 'CNY', now() FROM generate_series(0, :m - 1) p"
        ),
        {"m": policies},
    )
    conn.execute(
        text(
            f"CREATE TEMPORARY TABLE bench_shapes (k integer, shape {g}.geometry) ON COMMIT DROP"
        )
    )
    conn.execute(
        text(f"INSERT INTO bench_shapes VALUES (:k, {g}.ST_GeomFromWKB(:wkb, 4326))"),
        [{"k": k, "wkb": w} for k, w in enumerate(shapely.to_wkb(packed).tolist())],
    )
    tiles = -(-n // len(packed))
    cols = max(1, round(float(np.sqrt(tiles * height / TILE_WIDTH))))
    # Bulk-built indexes: dropped for the load, made once after it.
    for index in (
        "ix_plots_geom",
        "ix_plots_bounds",
        "ix_plots_application_id",
        "ix_plots_policy_id",
    ):
        conn.execute(text(f"DROP INDEX {index}"))
    conn.execute(
        text(_FILL.format(g=g)),
        {
            "per": PLOTS_PER_POLICY,
            "k": len(packed),
            "x0": ORIGIN[0],
            "y0": ORIGIN[1],
            "cols": cols,
            "tw": TILE_WIDTH,
            "th": height,
            "tiles": tiles,
            "n": n,
        },
    )
    conn.execute(text("CREATE INDEX ix_plots_geom ON plots USING gist (geom)"))
    conn.execute(
        text(
            "CREATE INDEX ix_plots_bounds ON plots (min_lon, min_lat, max_lon, max_lat)"
        )
    )
    conn.execute(text("CREATE INDEX ix_plots_application_id ON plots (application_id)"))
    conn.execute(text("CREATE INDEX ix_plots_policy_id ON plots (policy_id)"))
    return cols


def _applications(
    packed: npt.NDArray[np.object_], height: float, cols: int, rows: int, count: int
) -> list[npt.NDArray[np.object_]]:
    """``count`` applications of APPLICATION_PLOTS shapes each, at random places."""
    rng = np.random.default_rng(18)
    out = []
    for _ in range(count):
        dx = ORIGIN[0] + rng.uniform(0, cols * TILE_WIDTH - TILE_WIDTH)
        dy = ORIGIN[1] + rng.uniform(0, max(rows - 1, 1) * height)
        pick = packed[rng.choice(len(packed), APPLICATION_PLOTS, replace=False)]
        out.append(
            shapely.transform(pick, lambda xy, dx=dx, dy=dy: xy + np.array([dx, dy]))
        )
    return out


def _sql_check(
    conn: Connection, geoms: npt.NDArray[np.object_]
) -> list[tuple[int, str, float]]:
    hits = overlaps_sql.insured_overlaps(
        conn, START, END, shapely.to_wkb(geoms).tolist(), min_overlap_m2=FLOOR_M2
    )
    return [(h.index, f"{h.policy_id}/{h.plot_ref}", h.area_m2) for h in hits]


def _python_check(
    conn: Connection, geoms: npt.NDArray[np.object_], areas: npt.NDArray[np.float64]
) -> list[tuple[int, str, float]]:
    insured = insured_plots_meeting(
        conn, START, END, tuple(shapely.bounds(shapely.union_all(geoms)).tolist())
    )
    if not insured:
        return []
    ov = find_overlaps(
        geoms,
        shapely.from_wkb([r.geometry for r in insured]),
        min_overlap_m2=FLOOR_M2,
        areas_m2=areas,
        other_areas_m2=np.array([r.area_m2 for r in insured]),
    )
    return [
        (a, f"{insured[b].policy_id}/{insured[b].plot_ref}", area)
        for a, b, area in zip(
            ov.left.tolist(), ov.right.tolist(), ov.area_m2.tolist(), strict=True
        )
    ]


def _same(a: list[tuple[int, str, float]], b: list[tuple[int, str, float]]) -> bool:
    return [x[:2] for x in a] == [x[:2] for x in b] and all(
        abs(x[2] - y[2]) <= max(0.01, 1e-6 * y[2]) for x, y in zip(a, b, strict=True)
    )


def bench_check(n: int, checks: int) -> list[Result]:
    """Time ``checks`` applications' overlap checks against ``n`` insured plots."""
    base = _url()
    schema = f"bench_postgis_{uuid.uuid4().hex[:8]}"
    admin: Engine = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server: the group has nothing to measure
        admin.dispose()
        where = make_url(base).render_as_string()
        raise Skipped(f"no PostgreSQL at {where} ({type(exc).__name__})") from exc
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        try:
            upgrade(engine)
        except DatabaseAccessError as exc:  # e.g. a server without PostGIS
            raise Skipped(str(exc)) from exc
        packed, height = _pack(_shapes())
        t = time.perf_counter()
        with engine.begin() as conn:
            cols = _fill(conn, packed, height, n)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE plots"))
            conn.execute(text("ANALYZE policies"))
            conn.commit()
        fill_s = time.perf_counter() - t
        tiles = -(-n // len(packed))
        apps = _applications(packed, height, cols, -(-tiles // cols), checks)
        areas = [geodesic_area_perimeter(a)[0] for a in apps]
        ours: list[float] = []
        ref: list[float] = []
        agree = pairs = 0
        with engine.connect() as conn:
            _sql_check(conn, apps[0])  # warm the cache and the PostGIS lookup
            _python_check(conn, apps[0], areas[0])
            conn.rollback()
            for geoms, area in zip(apps, areas, strict=True):
                t = time.perf_counter()
                got = _sql_check(conn, geoms)
                ours.append(time.perf_counter() - t)
                conn.rollback()
                t = time.perf_counter()
                want = _python_check(conn, geoms, area)
                ref.append(time.perf_counter() - t)
                conn.rollback()
                agree += _same(got, want)
                pairs += len(got)
        ms, ref_ms = statistics.median(ours) * 1e3, statistics.median(ref) * 1e3
        p95, ref_p95 = (float(np.percentile(x, 95)) * 1e3 for x in (ours, ref))
        with engine.connect() as conn:
            g = overlaps_sql.postgis_schema(conn)
            version = conn.execute(
                text(f"SELECT {g}.postgis_lib_version()")
            ).scalar_one()
        _row(
            f"overlap check, {n:,} insured plots (ms/app)",
            f"{ms:.2f} ms",
            f"box prefilter + STR-tree {ref_ms:,.1f} ms",
            f"{ref_ms / ms:,.1f}x",
        )
        _row(
            f"  p95 over {checks} applications of {APPLICATION_PLOTS} plots",
            f"{p95:.2f} ms",
            f"{ref_p95:,.1f} ms; same pairs in {agree}/{checks}",
        )
        _row(
            "  goal",
            f"< {GOAL_MS:.0f} ms",
            f"{pairs / checks:.1f} pairs per application",
        )
        _row(
            "  settings",
            f"PostGIS {version}",
            f"fill {fill_s:.0f} s ({len(packed)} shapes)",
        )
        settings = (
            f"overlaps_sql.insured_overlaps: ST_Intersects on the GiST index, "
            f"ST_Area(geography); PostGIS {version}; median of {checks} applications of "
            f"{APPLICATION_PLOTS} plots, p95 {p95:.2f} ms; same pairs and areas in "
            f"{agree}/{checks}; {pairs / checks:.1f} pairs per application"
        )
        return [
            Result(
                f"double-insurance check against {n:,} insured plots",
                "ms",
                ms,
                "Python path (SQL box prefilter + STR-tree)",
                ref_ms,
                settings=settings,
                reference_settings=(
                    "insured_plots_meeting on the indexed bounds, then "
                    f"remote_sensing.find_overlaps; same database; p95 {ref_p95:.1f} ms"
                ),
            ),
            Result(
                f"double-insurance check against {n:,} insured plots, p95",
                "ms",
                p95,
                "goal",
                GOAL_MS,
                settings=settings,
            ),
        ]
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def run(*, quick: bool = False) -> list[Result]:
    """Print the PostGIS overlap-check figures beside the Python path and return them."""
    print("\n## Double insurance: PostGIS vs the Python path (PostgreSQL)")
    _row("figure", "agri", "reference", "ratio")
    if quick:
        return bench_check(100_000, 20)
    return bench_check(1_000_000, 50)
