"""Claims' assessments by map: the scenes, their dates, NDVI and the damage polygons."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from server.storage.schema import claim_assessments

__all__ = ["AssessmentRecord", "AssessmentStore"]


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
