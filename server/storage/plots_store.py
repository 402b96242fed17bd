"""Plots as the maps read them, and plots of policies in force found by period and box.

:func:`insured_plots_meeting` is the double-insurance search; :class:`PlotStore`
reads the plots of an application or a policy, a page of the plots in force
on a day in a map view, and the insured plots as features (OGC API -
Features): a page filtered by boxes and days, one plot, the extent.

The exact box filters (:func:`plots_meeting_boxes`) test the shape, not only
its bounds: on PostgreSQL ``ST_Intersects`` on the GiST index of ``plots.geom``
(migration 0018), on SQLite the indexed bounds, then the shape by a SQL
function of the connection (``agri_wkb_meets_box``, shapely) on what they let
through. Both databases answer the same plots.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    false,
    func,
    or_,
    select,
    text,
)

from server.storage.overlaps_sql import postgis_schema
from server.storage.schema import applications, plots, policies

__all__ = [
    "Box",
    "Days",
    "Extent",
    "InsuredPlotRecord",
    "MapPlot",
    "PlotStore",
    "days_meeting",
    "envelope_sql",
    "geometry_functions",
    "insured_plots_meeting",
    "plot_bounds_meet",
    "plots_meeting_boxes",
]

Box = tuple[float, float, float, float]
"""(west, south, east, north) in WGS84 degrees, west <= east and south <= north."""

Days = tuple[date | None, date | None]
"""The first and last day (both inclusive, UTC calendar days) a record's day or
period must meet; None leaves that end open."""


@dataclass(frozen=True)
class MapPlot:
    """A stored plot (a row of ``plots``): WKB geometry (WGS84 lon/lat), areas in m2.

    Attributes:
        plot_ref: its id in the farmer's file.
        policy_id: the policy that insures it, None while its application is undecided.
        declared_m2: the area the farmer declared, if any.
    """

    plot_ref: str
    application_id: str
    policy_id: str | None
    farmer_id: str
    geometry: bytes
    area_m2: float
    declared_m2: float | None


@dataclass(frozen=True)
class InsuredPlotRecord:
    """An insured plot (a plot of a policy) with its policy's product and period.

    Attributes:
        id: the plot's row id (unique; the feature id of the OGC collection).
        plot_ref: its id in the farmer's file (unique within its application).
        geometry: WKB, WGS84 lon/lat.
        area_m2: measured (geodesic) area in m2; ``declared_m2`` the farmer's, if any.
        start_date: first day of the policy's period; ``end_date`` its last (inclusive).
    """

    id: str
    plot_ref: str
    application_id: str
    policy_id: str
    farmer_id: str
    product_code: str
    start_date: date
    end_date: date
    geometry: bytes
    area_m2: float
    declared_m2: float | None


@dataclass(frozen=True)
class Extent:
    """Where and when a collection's records lie.

    Attributes:
        west, south, east, north: the bounds of their plots, WGS84 degrees.
        first_day, last_day: their earliest and latest day (None when unknown).
    """

    west: float
    south: float
    east: float
    north: float
    first_day: date | None
    last_day: date | None


def _wkb_meets_box(
    wkb: bytes | None, west: float, south: float, east: float, north: float
) -> int:
    """SQLite's ``agri_wkb_meets_box``: 1 when a WKB shape meets the box, else 0."""
    import shapely

    if wkb is None:
        return 0
    shape = shapely.from_wkb(bytes(wkb))
    return int(shapely.intersects(shape, shapely.box(west, south, east, north)))


def _geojson_meets_box(
    doc: str | None, west: float, south: float, east: float, north: float
) -> int:
    """SQLite's ``agri_geojson_meets_box``: 1 when a feature of a stored collection meets it."""
    import shapely

    if doc is None:
        return 0
    box = shapely.box(west, south, east, north)
    for feature in json.loads(doc).get("features") or ():
        geometry = feature.get("geometry")
        if geometry and shapely.intersects(
            shapely.from_geojson(json.dumps(geometry)), box
        ):
            return 1
    return 0


def geometry_functions(conn: Connection) -> None:
    """Give a SQLite connection the shape tests the box filters call (once per connection).

    ``agri_wkb_meets_box(wkb, w, s, e, n)`` and ``agri_geojson_meets_box(doc,
    w, s, e, n)`` (a stored FeatureCollection's text). Nothing on PostgreSQL,
    where PostGIS tests the shapes.
    """
    if conn.dialect.name != "sqlite":
        return
    pooled = conn.connection
    if pooled.info.get("agri.geometry_functions"):
        return
    raw: Any = pooled.driver_connection
    raw.create_function("agri_wkb_meets_box", 5, _wkb_meets_box, deterministic=True)
    raw.create_function(
        "agri_geojson_meets_box", 5, _geojson_meets_box, deterministic=True
    )
    pooled.info["agri.geometry_functions"] = True


def envelope_sql(g: str, box: Box, key: str) -> tuple[str, dict[str, float]]:
    """PostGIS's box (SRID 4326) as SQL text over schema ``g``, and its bound corners.

    The corners are bound as ``{key}_w``, ``{key}_s``, ``{key}_e``, ``{key}_n``:
    ``key`` must be unique within the statement.
    """
    names = [f"{key}_{c}" for c in "wsen"]
    sql = (
        f"{g}.ST_MakeEnvelope(:{names[0]}, :{names[1]}, :{names[2]}, :{names[3]}, 4326)"
    )
    return sql, dict(zip(names, box, strict=True))


def plot_bounds_meet(box: Box) -> ColumnElement[bool]:
    """Plots whose indexed bounds meet ``box`` (``ix_plots_bounds``)."""
    west, south, east, north = box
    return and_(
        plots.c.max_lon >= west,
        plots.c.min_lon <= east,
        plots.c.max_lat >= south,
        plots.c.min_lat <= north,
    )


def plots_meeting_boxes(conn: Connection, boxes: Sequence[Box]) -> ColumnElement[bool]:
    """Plots whose shape meets any of ``boxes``, as a condition on ``plots``.

    The indexed bounds first, then the shape: PostGIS's ``ST_Intersects`` on
    ``plots.geom`` (PostgreSQL), ``agri_wkb_meets_box`` on the WKB (SQLite;
    :func:`geometry_functions` must have run on ``conn``). No boxes: no plot.
    """
    terms = []
    for i, box in enumerate(boxes):
        if conn.dialect.name == "postgresql":
            g = postgis_schema(conn)
            envelope, corners = envelope_sql(g, box, f"plot_box{i}")
            exact: ColumnElement[bool] = text(
                f"{g}.ST_Intersects(plots.geom, {envelope})"
            ).bindparams(**corners)  # type: ignore[assignment]
        else:
            exact = func.agri_wkb_meets_box(plots.c.geometry, *box) == 1
        terms.append(and_(plot_bounds_meet(box), exact))
    return or_(*terms) if terms else false()


def days_meeting(
    first: ColumnElement[Any], last: ColumnElement[Any], days: Days
) -> list[ColumnElement[bool]]:
    """Conditions: the period [first, last] (dates) meets ``days``."""
    start, end = days
    where: list[ColumnElement[bool]] = []
    if end is not None:
        where.append(first <= end)
    if start is not None:
        where.append(last >= start)
    return where


def _in_force_meeting(
    start: date, end: date, bounds: tuple[float, float, float, float]
) -> list[ColumnElement[bool]]:
    """Plots of policies in force on a day of [start, end] whose boxes meet ``bounds``.

    ``bounds`` is (west, south, east, north) in WGS84 degrees, against the indexed
    plot bounds (``ix_plots_bounds``); the policies are joined by the caller.
    """
    west, south, east, north = bounds
    return [
        policies.c.start_date <= end,
        policies.c.end_date >= start,
        plots.c.max_lon >= west,
        plots.c.min_lon <= east,
        plots.c.max_lat >= south,
        plots.c.min_lat <= north,
    ]


# Every column but ``geom`` (PostGIS's copy of the shape, for SQL only).
_COLUMNS = [c for c in plots.c if c.name != "geom"]


def _map_plot(row: Any) -> MapPlot:
    return MapPlot(
        row.plot_ref,
        row.application_id,
        row.policy_id,
        row.farmer_id,
        bytes(row.geometry),
        float(row.area_m2),
        float(row.declared_m2) if row.declared_m2 is not None else None,
    )


class PlotStore:
    """Reads of ``plots`` for the maps."""

    def of_application(self, conn: Connection, application_id: str) -> list[MapPlot]:
        """The plots of an application, by plot id."""
        rows = conn.execute(
            select(*_COLUMNS)
            .where(plots.c.application_id == application_id)
            .order_by(plots.c.plot_ref)
        ).all()
        return [_map_plot(r) for r in rows]

    def of_policy(self, conn: Connection, policy_id: str) -> list[MapPlot]:
        """The plots a policy insures, by plot id."""
        rows = conn.execute(
            select(*_COLUMNS)
            .where(plots.c.policy_id == policy_id)
            .order_by(plots.c.plot_ref)
        ).all()
        return [_map_plot(r) for r in rows]

    def in_force_meeting(
        self,
        conn: Connection,
        day: date,
        bounds: tuple[float, float, float, float],
        *,
        farmer_id: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[MapPlot], int]:
        """Plots of policies in force on ``day`` whose boxes meet ``bounds``: a page and the total.

        Args:
            conn: the connection to read on.
            day: the day the policy is in force (both ends of its period inclusive).
            bounds: (west, south, east, north) in WGS84 degrees, against the indexed
                plot bounds.
            farmer_id: only this farmer's plots; None for every farmer's.
            offset: plots to skip, in (policy, plot) order.
            limit: most plots on the page.
        """
        where = _in_force_meeting(day, day, bounds)
        if farmer_id is not None:
            where.append(plots.c.farmer_id == farmer_id)
        joined = plots.join(policies, policies.c.id == plots.c.policy_id)
        total = conn.execute(
            select(func.count()).select_from(joined).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(*_COLUMNS)
            .select_from(joined)
            .where(*where)
            .order_by(plots.c.policy_id, plots.c.plot_ref, plots.c.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return [_map_plot(r) for r in rows], int(total)

    # --- insured plots as features (OGC API - Features) ----------------------------

    def insured_page(
        self,
        conn: Connection,
        *,
        farmer_id: str | None,
        boxes: Sequence[Box] | None,
        days: Days,
        offset: int,
        limit: int,
    ) -> tuple[list[InsuredPlotRecord], int]:
        """Insured plots (plots of policies): a page in (policy, plot, row) order and the total.

        Args:
            conn: the connection to read on.
            farmer_id: only this farmer's plots; None for every farmer's.
            boxes: only plots whose shape meets one of these boxes
                (:func:`plots_meeting_boxes`); None for anywhere.
            days: only plots whose policy's period meets these days.
            offset: plots to skip.
            limit: most plots on the page.
        """
        where = self._insured_where(conn, farmer_id, boxes, days)
        joined = plots.join(policies, policies.c.id == plots.c.policy_id)
        total = conn.execute(
            select(func.count()).select_from(joined).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(*_INSURED)
            .select_from(joined)
            .where(*where)
            .order_by(plots.c.policy_id, plots.c.plot_ref, plots.c.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return [_insured(r) for r in rows], int(total)

    def insured_one(self, conn: Connection, plot_id: str) -> InsuredPlotRecord | None:
        """The insured plot with row id ``plot_id``; None if none (or not of a policy)."""
        row = conn.execute(
            select(*_INSURED)
            .join(policies, policies.c.id == plots.c.policy_id)
            .where(plots.c.id == plot_id)
        ).first()
        return _insured(row) if row is not None else None

    def insured_extent(
        self, conn: Connection, *, farmer_id: str | None
    ) -> Extent | None:
        """The bounds and the span of periods of the insured plots (one farmer's, or all).

        None when there is no insured plot.
        """
        query = select(
            func.count(),
            func.min(plots.c.min_lon),
            func.min(plots.c.min_lat),
            func.max(plots.c.max_lon),
            func.max(plots.c.max_lat),
            func.min(policies.c.start_date),
            func.max(policies.c.end_date),
        ).join(policies, policies.c.id == plots.c.policy_id)
        if farmer_id is not None:
            query = query.where(plots.c.farmer_id == farmer_id)
        row = conn.execute(query).one()
        if not row[0]:
            return None
        west, south, east, north = (float(v) for v in row[1:5])
        return Extent(west, south, east, north, row[5], row[6])

    @staticmethod
    def _insured_where(
        conn: Connection,
        farmer_id: str | None,
        boxes: Sequence[Box] | None,
        days: Days,
    ) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if farmer_id is not None:
            where.append(plots.c.farmer_id == farmer_id)
        if boxes is not None:
            geometry_functions(conn)
            where.append(plots_meeting_boxes(conn, boxes))
        where += days_meeting(policies.c.start_date, policies.c.end_date, days)
        return where

    def insured_for_export(
        self,
        conn: Connection,
        *,
        day: date | None,
        product_code: str | None,
        farmer_id: str | None,
        limit: int,
    ) -> tuple[list[ExportedPlot], int]:
        """Insured plots (plots of issued policies) with their policy's terms: a page and the total.

        By policy then plot id, the first ``limit``. ``day``: only policies in
        force on it (both ends inclusive); ``product_code``, ``farmer_id``: only
        that product's, that farmer's (None: any).
        """
        joined = plots.join(policies, policies.c.id == plots.c.policy_id).join(
            applications, applications.c.id == plots.c.application_id
        )
        where: list[ColumnElement[bool]] = []
        if day is not None:
            where += [policies.c.start_date <= day, policies.c.end_date >= day]
        if product_code is not None:
            where.append(policies.c.product_code == product_code)
        if farmer_id is not None:
            where.append(plots.c.farmer_id == farmer_id)
        total = conn.execute(
            select(func.count()).select_from(joined).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(
                plots.c.plot_ref,
                plots.c.policy_id,
                plots.c.farmer_id,
                policies.c.product_code,
                policies.c.start_date,
                policies.c.end_date,
                policies.c.currency,
                plots.c.geometry,
                plots.c.area_m2,
                plots.c.declared_m2,
                applications.c.created_at,
            )
            .select_from(joined)
            .where(*where)
            .order_by(plots.c.policy_id, plots.c.plot_ref, plots.c.id)
            .limit(limit)
        ).all()
        return [
            ExportedPlot(
                r.plot_ref,
                r.policy_id,
                r.farmer_id,
                r.product_code,
                r.start_date,
                r.end_date,
                r.currency,
                bytes(r.geometry),
                float(r.area_m2),
                float(r.declared_m2) if r.declared_m2 is not None else None,
                r.created_at,
            )
            for r in rows
        ], int(total)


_INSURED = [
    plots.c.id,
    plots.c.plot_ref,
    plots.c.application_id,
    plots.c.policy_id,
    plots.c.farmer_id,
    policies.c.product_code,
    policies.c.start_date,
    policies.c.end_date,
    plots.c.geometry,
    plots.c.area_m2,
    plots.c.declared_m2,
]


def _insured(row: Any) -> InsuredPlotRecord:
    return InsuredPlotRecord(
        row.id,
        row.plot_ref,
        row.application_id,
        row.policy_id,
        row.farmer_id,
        row.product_code,
        row.start_date,
        row.end_date,
        bytes(row.geometry),
        float(row.area_m2),
        float(row.declared_m2) if row.declared_m2 is not None else None,
    )


def insured_plots_meeting(
    conn: Connection,
    start: date,
    end: date,
    bounds: tuple[float, float, float, float],
    *,
    except_application: str | None = None,
    product_code: str | None = None,
) -> list[Any]:
    """Plots of policies in force on any day of ``[start, end]`` whose boxes meet ``bounds``.

    Args:
        conn: the connection (and transaction) to read on.
        start: first day of the period (inclusive).
        end: last day of the period (inclusive): underwriting.periods_overlap's rule.
        bounds: (min_lon, min_lat, max_lon, max_lat) in WGS84 degrees; the prefilter
            uses the indexed plot bounds (``ix_plots_bounds``).
        except_application: leave out the plots of this application (its own policy).
        product_code: only plots of policies of this product (a crop's peers).

    Returns:
        Rows with ``plot_ref``, ``geometry`` (WKB), ``area_m2``, ``farmer_id`` and
        ``policy_id``, by policy then plot.
    """
    where = _in_force_meeting(start, end, bounds)
    if except_application is not None:
        where.append(plots.c.application_id != except_application)
    if product_code is not None:
        where.append(policies.c.product_code == product_code)
    return list(
        conn.execute(
            select(
                plots.c.plot_ref,
                plots.c.geometry,
                plots.c.area_m2,
                policies.c.farmer_id,
                policies.c.id.label("policy_id"),
            )
            .join(policies, policies.c.id == plots.c.policy_id)
            .where(*where)
            .order_by(plots.c.policy_id, plots.c.plot_ref)
        ).all()
    )


@dataclass(frozen=True)
class ExportedPlot:
    """An insured plot with its policy's terms, as the exports read it.

    Attributes:
        plot_ref: its id in the farmer's file (unique within its policy).
        geometry: WKB, WGS84 lon/lat.
        area_m2: measured (geodesic) area in m2; ``declared_m2`` the farmer's, if any.
        start_date: first day of the policy's period; ``end_date`` its last (inclusive).
        currency: the policy's currency (ISO 4217).
        surveyed_at: when the plot was surveyed (its application submitted), UTC.
    """

    plot_ref: str
    policy_id: str
    farmer_id: str
    product_code: str
    start_date: date
    end_date: date
    currency: str
    geometry: bytes
    area_m2: float
    declared_m2: float | None
    surveyed_at: datetime
