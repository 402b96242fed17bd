"""Claims' assessments by map: the scenes, their dates, NDVI and the damage polygons.

The damage polygons are kept as the GeoJSON FeatureCollection the assessment
drew (``remote_sensing.damage_polygons``: the damaged pixels vectorised and
clipped to the plot). :meth:`AssessmentStore.damage_page` reads the
assessments that found damage as features (OGC API - Features), filtered by
the claims' loss days and by boxes: the claim's plot's indexed bounds first,
then the polygons themselves (PostGIS on PostgreSQL, shapely through a SQL
function of the connection on SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, false, func, insert, or_, select, text

from server.storage.claims_store import claims_with_plots
from server.storage.overlaps_sql import postgis_schema
from server.storage.plots_store import (
    Box,
    Days,
    Extent,
    envelope_sql,
    geometry_functions,
    plot_bounds_meet,
)
from server.storage.schema import claim_assessments, claims, plots

__all__ = ["AssessmentRecord", "AssessmentStore", "DamageRecord"]


@dataclass(frozen=True)
class AssessmentRecord:
    """A claim's last assessment by map (a row of ``claim_assessments``).

    Attributes:
        damage: the damage polygons, a GeoJSON FeatureCollection (a fresh dict each read).
    """

    claim_id: str
    before_scene: str
    after_scene: str
    before_date: date | None
    after_date: date | None
    ndvi_before: float | None
    ndvi_after: float | None
    damage: dict[str, Any]
    assessed_at: datetime


@dataclass(frozen=True)
class DamageRecord:
    """A crop claim's assessment that found damage, with the claim it belongs to.

    Attributes:
        claim_id: the claim (one assessment per claim).
        policy_id, farmer_id: the claim's.
        plot_ref: the plot the claim names (its id in the farmer's file).
        event_date: the loss day.
        assessment: the assessment, its polygons in ``damage``.
    """

    claim_id: str
    policy_id: str
    farmer_id: str
    plot_ref: str
    event_date: date
    assessment: AssessmentRecord


class AssessmentStore:
    """Rows of ``claim_assessments``, one per claim; writes run in the caller's transaction."""

    def replace(
        self,
        conn: Connection,
        claim_id: str,
        *,
        before_scene: str,
        after_scene: str,
        before_date: date | None,
        after_date: date | None,
        ndvi_before: float | None,
        ndvi_after: float | None,
        damage: Mapping[str, Any],
    ) -> None:
        """Record the claim's assessment, replacing an earlier one (scene names cut to 255)."""
        conn.execute(
            delete(claim_assessments).where(claim_assessments.c.claim_id == claim_id)
        )
        conn.execute(
            insert(claim_assessments).values(
                claim_id=claim_id,
                before_scene=before_scene[:255],
                after_scene=after_scene[:255],
                before_date=before_date,
                after_date=after_date,
                ndvi_before=ndvi_before,
                ndvi_after=ndvi_after,
                damage=json.dumps(dict(damage)),
                assessed_at=datetime.now(UTC),
            )
        )

    def get(self, conn: Connection, claim_id: str) -> AssessmentRecord | None:
        """The claim's assessment by map, or None before one ran."""
        row = conn.execute(
            select(claim_assessments).where(claim_assessments.c.claim_id == claim_id)
        ).first()
        if row is None:
            return None
        return _assessment(row)

    # --- damage as features (OGC API - Features) ------------------------------------

    def damage_page(
        self,
        conn: Connection,
        *,
        farmer_id: str | None,
        boxes: Sequence[Box] | None,
        days: Days,
        offset: int,
        limit: int,
    ) -> tuple[list[DamageRecord], int]:
        """Assessments with damage polygons: a page by loss day then claim, and the total.

        Args:
            conn: the connection to read on.
            farmer_id: only this farmer's claims; None for every farmer's.
            boxes: only assessments with a polygon meeting one of these boxes;
                None for anywhere.
            days: only claims whose loss day lies within these days.
            offset: assessments to skip.
            limit: most assessments on the page.
        """
        where = _damage_where(conn, farmer_id, boxes, days)
        joined = _damage_joined()
        total = conn.execute(
            select(func.count()).select_from(joined).where(*where)
        ).scalar_one()
        rows = conn.execute(
            select(*_DAMAGE)
            .select_from(joined)
            .where(*where)
            .order_by(claims.c.event_date, claims.c.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return [_damage(r) for r in rows], int(total)

    def damage_one(self, conn: Connection, claim_id: str) -> DamageRecord | None:
        """The damage of claim ``claim_id``'s assessment; None if none found or not assessed."""
        rows = conn.execute(
            select(*_DAMAGE)
            .select_from(_damage_joined())
            .where(claims.c.id == claim_id, _has_damage(conn))
        ).all()
        return _damage(rows[0]) if rows else None

    def damage_extent(
        self, conn: Connection, *, farmer_id: str | None
    ) -> Extent | None:
        """The bounds of the damaged claims' plots and the span of their loss days; None if none."""
        query = (
            select(
                func.count(),
                func.min(plots.c.min_lon),
                func.min(plots.c.min_lat),
                func.max(plots.c.max_lon),
                func.max(plots.c.max_lat),
                func.min(claims.c.event_date),
                func.max(claims.c.event_date),
            )
            .select_from(_damage_joined())
            .where(_has_damage(conn))
        )
        if farmer_id is not None:
            query = query.where(claims.c.farmer_id == farmer_id)
        row = conn.execute(query).one()
        if not row[0]:
            return None
        west, south, east, north = (float(v) for v in row[1:5])
        return Extent(west, south, east, north, row[5].date(), row[6].date())


def _assessment(row: Any) -> AssessmentRecord:
    return AssessmentRecord(
        row.claim_id,
        row.before_scene,
        row.after_scene,
        row.before_date,
        row.after_date,
        row.ndvi_before,
        row.ndvi_after,
        json.loads(row.damage),
        row.assessed_at,
    )


def _damage_joined() -> Any:
    """Assessments, their claims and the plots the claims name."""
    return claims_with_plots().join(
        claim_assessments, claim_assessments.c.claim_id == claims.c.id
    )


_DAMAGE: list[Any] = [
    claim_assessments,
    claims.c.policy_id,
    claims.c.farmer_id,
    claims.c.subject_id,
    claims.c.event_date,
]


def _damage(row: Any) -> DamageRecord:
    return DamageRecord(
        row.claim_id,
        row.policy_id,
        row.farmer_id,
        row.subject_id,
        row.event_date.date(),
        _assessment(row),
    )


def _has_damage(conn: Connection) -> Any:
    """Assessments whose stored collection holds at least one feature."""
    if conn.dialect.name == "postgresql":
        return text(
            "jsonb_array_length(CAST(claim_assessments.damage AS jsonb) -> 'features') > 0"
        )
    return func.json_array_length(claim_assessments.c.damage, "$.features") > 0


def _damage_meets_box(conn: Connection, box: Box, key: str) -> Any:
    """Assessments with a damage polygon meeting ``box`` (after the plot's bounds)."""
    if conn.dialect.name == "postgresql":
        g = postgis_schema(conn)
        envelope, corners = envelope_sql(g, box, key)
        exact: Any = text(
            "EXISTS (SELECT 1 FROM jsonb_array_elements("
            "CAST(claim_assessments.damage AS jsonb) -> 'features') AS f(feature) "
            f"WHERE {g}.ST_Intersects({g}.ST_GeomFromGeoJSON(f.feature -> 'geometry'), "
            f"{envelope}))"
        ).bindparams(**corners)
    else:
        exact = func.agri_geojson_meets_box(claim_assessments.c.damage, *box) == 1
    return and_(plot_bounds_meet(box), exact)


def _damage_where(
    conn: Connection,
    farmer_id: str | None,
    boxes: Sequence[Box] | None,
    days: Days,
) -> list[Any]:
    where: list[Any] = [claims.c.subject_kind == "plot", _has_damage(conn)]
    if farmer_id is not None:
        where.append(claims.c.farmer_id == farmer_id)
    if boxes is not None:
        geometry_functions(conn)
        terms = [
            _damage_meets_box(conn, b, f"damage_box{i}") for i, b in enumerate(boxes)
        ]
        where.append(or_(*terms) if terms else false())
    first, last = days
    if first is not None:
        where.append(claims.c.event_date >= _utc_midnight(first))
    if last is not None:
        where.append(claims.c.event_date <= _utc_midnight(last))
    return where


def _utc_midnight(day: date) -> datetime:
    """A loss day as claims store it: midnight UTC of that date."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
