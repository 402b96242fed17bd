"""Plots as the maps read them, and plots of policies in force found by period and box.

:func:`insured_plots_meeting` is the double-insurance search; :class:`PlotStore`
reads the plots of an application or a policy, and a page of the plots in force
on a day in a map view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from server.storage.schema import plots, policies

__all__ = ["MapPlot", "PlotStore", "insured_plots_meeting"]


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
