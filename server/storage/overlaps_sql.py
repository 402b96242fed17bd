"""Double insurance in SQL: PostGIS finds and measures the overlaps (PostgreSQL).

The embedded default (SQLite) reads the insured plots whose boxes meet the
application's (:func:`server.storage.plots_store.insured_plots_meeting`) and
hands them to remote sensing's STR-tree. On PostgreSQL one query does it all
where the plots are: ``ST_Intersects`` on the GiST index of ``plots.geom``
(migration 0018) finds the insured plots an application's plot meets, and
``ST_Area(geography)`` measures each overlap on the WGS84 ellipsoid (PostGIS
uses GeographicLib, as :func:`remote_sensing.geodesic_area_perimeter` does).
The pairs, their order and their areas are the Python path's (a test holds
them to it on real registers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA

__all__ = ["SqlOverlap", "insured_overlaps", "postgis_schema", "spatial_sql"]

_FIND = text(
    "SELECT n.nspname FROM pg_extension AS e "
    "JOIN pg_namespace AS n ON n.oid = e.extnamespace WHERE e.extname = 'postgis'"
)

# {g}: the extension's schema, quoted. The application's plots come in as WKB,
# one array element each (NULL: a plot that is not searched), parsed once;
# ``idx`` is the element's position. Policies in force on any day of
# [start, end] as underwriting.periods_overlap has it (both ends inclusive).
# The polygonal part of each intersection is measured (once: the lateral
# subquery is not folded into the floor's filter): a shared edge or corner
# measures 0 and is left out by the floor, as in remote_sensing.find_overlaps.
_QUERY = """
WITH app AS MATERIALIZED (
    SELECT (u.ord - 1)::integer AS idx,
           {g}.ST_Force2D({g}.ST_GeomFromWKB(u.wkb, 4326)) AS shape
    FROM unnest(:wkbs) WITH ORDINALITY AS u(wkb, ord)
    WHERE u.wkb IS NOT NULL
)
SELECT app.idx, p.plot_ref, p.policy_id, pol.farmer_id, m.area_m2
FROM app
JOIN plots AS p ON {g}.ST_Intersects(p.geom, app.shape)
JOIN policies AS pol ON pol.id = p.policy_id
CROSS JOIN LATERAL (
    SELECT {g}.ST_Area({g}.geography({g}.ST_CollectionExtract(
               {g}.ST_Intersection(app.shape, p.geom), 3))) AS area_m2
    OFFSET 0
) AS m
WHERE pol.start_date <= :end AND pol.end_date >= :start AND m.area_m2 > :floor
ORDER BY app.idx, p.policy_id, p.plot_ref
"""
_PARAMS = (bindparam("wkbs", type_=ARRAY(BYTEA)),)
# In the caller's transaction only (is_local): the setting before, then off.
_JIT_OFF = text("SELECT current_setting('jit'), set_config('jit', 'off', true)")
_JIT_SET = text("SELECT set_config('jit', :jit, true)")


@dataclass(frozen=True, slots=True)
class SqlOverlap:
    """An application's plot over a plot of a policy in force.

    Attributes:
        index: the application's plot, as its position in the WKB list given.
        plot_ref: the insured plot's id (in its farmer's file).
        policy_id: the policy that insures it.
        farmer_id: that policy's farmer.
        area_m2: the overlap on the WGS84 ellipsoid, in square metres.
    """

    index: int
    plot_ref: str
    policy_id: str
    farmer_id: str
    area_m2: float


def spatial_sql(conn: Connection) -> bool:
    """Whether overlaps are searched in SQL on ``conn``: PostgreSQL (with PostGIS).

    PostGIS is required there (migration 0018 refuses a server without it);
    SQLite searches in Python.
    """
    return conn.dialect.name == "postgresql"


def postgis_schema(conn: Connection) -> str:
    """The schema holding PostGIS's types and functions, quoted for SQL.

    Looked up once per database connection (kept in its ``info``).

    Raises:
        LookupError: PostGIS is not installed in this database (a schema not
            upgraded to revision 0018).
    """
    key = "agri.postgis_schema"
    found = conn.info.get(key)
    if found is None:
        name = conn.execute(_FIND).scalar()
        if name is None:
            raise LookupError(
                "PostGIS is not installed in this database: run `agri db upgrade`"
            )
        found = conn.dialect.identifier_preparer.quote(str(name))
        conn.info[key] = found
    return str(found)


def insured_overlaps(
    conn: Connection,
    start: date,
    end: date,
    wkbs: Sequence[bytes | None],
    *,
    min_overlap_m2: float,
) -> list[SqlOverlap]:
    """Overlaps of the given plots with plots of policies in force during [start, end].

    Args:
        conn: a PostgreSQL connection (and transaction) on a schema at revision
            0018 or later (:func:`spatial_sql` is true).
        start: first day of the period (inclusive).
        end: last day of the period (inclusive).
        wkbs: the application's plots as WKB in WGS84 lon/lat (EPSG:4326), None
            for a plot not to search (unusable).
        min_overlap_m2: only overlaps larger than this many square metres.

    Returns:
        One row per (plot, insured plot) pair overlapping by more than
        ``min_overlap_m2``, by plot position, then policy, then insured plot id.
    """
    if not any(w is not None for w in wkbs):
        return []
    query = text(_QUERY.format(g=postgis_schema(conn))).bindparams(*_PARAMS)
    # PostGIS's function costs make the planner JIT-compile this query, which
    # costs ten times what the query does: off for it, then as it was.
    jit = conn.execute(_JIT_OFF).scalar_one()
    rows = conn.execute(
        query,
        {
            "wkbs": list(wkbs),
            "start": start,
            "end": end,
            "floor": float(min_overlap_m2),
        },
    ).all()
    conn.execute(_JIT_SET, {"jit": jit})
    return [
        SqlOverlap(
            int(r.idx),
            str(r.plot_ref),
            str(r.policy_id),
            str(r.farmer_id),
            float(r.area_m2),
        )
        for r in rows
    ]
