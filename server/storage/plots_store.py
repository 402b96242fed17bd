"""Plots of policies in force, found by period and bounding box (the double-insurance search)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from server.storage.schema import plots, policies

__all__ = ["insured_plots_meeting"]


def insured_plots_meeting(
    conn: Connection,
    start: date,
    end: date,
    bounds: tuple[float, float, float, float],
    *,
    except_application: str | None = None,
) -> list[Any]:
    """Plots of policies in force on any day of ``[start, end]`` whose boxes meet ``bounds``.

    Args:
        conn: the connection (and transaction) to read on.
        start: first day of the period (inclusive).
        end: last day of the period (inclusive): underwriting.periods_overlap's rule.
        bounds: (min_lon, min_lat, max_lon, max_lat) in WGS84 degrees; the prefilter
            uses the indexed plot bounds (``ix_plots_bounds``).
        except_application: leave out the plots of this application (its own policy).

    Returns:
        Rows with ``plot_ref``, ``geometry`` (WKB), ``area_m2``, ``farmer_id`` and
        ``policy_id``, by policy then plot.
    """
    x0, y0, x1, y1 = bounds
    where = [
        policies.c.start_date <= end,
        policies.c.end_date >= start,
        plots.c.max_lon >= x0,
        plots.c.min_lon <= x1,
        plots.c.max_lat >= y0,
        plots.c.min_lat <= y1,
    ]
    if except_application is not None:
        where.append(plots.c.application_id != except_application)
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
