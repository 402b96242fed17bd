"""The insurer's records as OGC API - Features collections: plots, crop claims, damage.

Three collections, each a page of GeoJSON features (RFC 7946: WGS84
longitude/latitude, right-hand rule) read through the stores:

* ``plots``: insured plots (plots of policies), feature id the plot's row id;
  the policy's period is the feature's time.
* ``claims``: crop claims on their plot's shape, feature id the claim id; the
  loss day is the feature's time.
* ``damage``: the damage polygons of crop claims' assessments by map (the
  damaged pixels that :func:`remote_sensing.damage_polygons` vectorised and
  clipped to the plot when the claim was assessed, as stored with the
  assessment), one feature per assessed claim that found damage, feature id
  the claim id; the loss day is the feature's time.

Who sees what is :mod:`server.services.access`'s: a farmer reads only his own
records (another farmer's feature is "not found", as if it did not exist);
staff read everyone's.

The query parameters of the standard are parsed here: :func:`parse_bbox`
(``bbox``: four or six numbers; west beyond east crosses the antimeridian) and
:func:`parse_datetime` (``datetime``: an RFC 3339 instant or interval, ``..``
or nothing for an open end). A feature's day (a loss day, a policy's days) is
a UTC calendar day: it meets an instant that falls on it, and an interval that
reaches it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

import shapely
from sqlalchemy import Engine

from server.errors import InvalidInputError, NotFoundError
from server.services.access import Caller, may_see, own_farmer
from server.services.maps import area_properties
from server.services.work import reading
from server.storage.assessment_store import AssessmentStore, DamageRecord
from server.storage.claims_store import ClaimStore, PlotClaimRecord
from server.storage.plots_store import Box, Days, Extent, InsuredPlotRecord, PlotStore

__all__ = [
    "BBOX_PATTERN",
    "COLLECTIONS",
    "DATETIME_PATTERN",
    "MAX_PAGE",
    "CollectionId",
    "Extent",
    "FeaturePage",
    "FeaturesService",
    "parse_bbox",
    "parse_datetime",
]

CollectionId = Literal["plots", "claims", "damage"]
COLLECTIONS: tuple[CollectionId, ...] = ("plots", "claims", "damage")
"""The collections, in the order they are listed."""

MAX_PAGE = 1000
"""The most features one page holds; a larger ``limit`` is served in pages this size."""

_NUMBER = r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?(?:[eE][-+]?[0-9]{1,3})?"
BBOX_PATTERN = (
    "^" + _NUMBER + "(?:," + _NUMBER + "){3}(?:," + _NUMBER + "," + _NUMBER + ")?$"
)
"""``bbox``: four numbers (west, south, east, north in degrees, WGS84), or six
(with the lowest and highest height after each corner's latitude; heights are
ignored). Decimals or exponent notation, as GDAL writes them (``%.18g``)."""

# A calendar date, leap years included: what the pattern admits, Python can read.
_YEAR = r"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP = (
    r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
)
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)"
)
_DATE = "(?:" + _YEAR + "-" + _MONTH_DAY + "|" + _LEAP + "-02-29)"
_TIME = (
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[-+](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_INSTANT = _DATE + "(?:" + _TIME + ")?"
DATETIME_PATTERN = (
    "^(?:" + _INSTANT + "|(?:" + _INSTANT + r"|\.\.)?/(?:" + _INSTANT + r"|\.\.)?)$"
)
"""``datetime``: an RFC 3339 date-time or full-date, or an interval of two
joined by ``/`` whose open end is ``..`` or nothing."""

_INSTANT_PARTS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([-+])(\d{2}):(\d{2})))?$"
)
_CRS84_LON = 180.0
_CRS84_LAT = 90.0


def parse_bbox(text: str) -> list[Box]:
    """``bbox`` as the boxes it covers: one, or two where it crosses the antimeridian.

    Four numbers are west, south, east, north (degrees, WGS84 lon/lat); six
    put a height after each corner's latitude (ignored). West beyond east is
    a box across the antimeridian (west to 180, then -180 to east).

    Raises:
        InvalidInputError: (field ``bbox``) not four or six finite numbers, a
            longitude outside [-180, 180] or a latitude outside [-90, 90], or
            south beyond north.
    """
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (4, 6) or not all(math.isfinite(v) for v in values):
        raise InvalidInputError(
            "bbox must be four numbers west,south,east,north in degrees "
            "(or six, with heights)",
            field="bbox",
        )
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    west, south, east, north = values
    if not all(abs(v) <= _CRS84_LON for v in (west, east)) or not all(
        abs(v) <= _CRS84_LAT for v in (south, north)
    ):
        raise InvalidInputError(
            "bbox: longitudes must be within [-180, 180] and latitudes within [-90, 90]",
            field="bbox",
        )
    if south > north:
        raise InvalidInputError("bbox: south must not exceed north", field="bbox")
    if west > east:
        return [(west, south, _CRS84_LON, north), (-_CRS84_LON, south, east, north)]
    return [(west, south, east, north)]


def _utc_day(text: str) -> date:
    """The UTC calendar day of an RFC 3339 date-time, or the date of a full-date.

    Raises:
        InvalidInputError: (field ``datetime``) not a real instant.
    """
    m = _INSTANT_PARTS.match(text)
    problem = f"datetime: {text[:40]!r} is not an RFC 3339 date-time or date"
    if m is None:
        raise InvalidInputError(problem, field="datetime")
    year, month, day = (int(m.group(i)) for i in (1, 2, 3))
    try:
        if m.group(4) is None:
            return date(year, month, day)
        fraction = (m.group(7) or "").ljust(6, "0")[:6]
        if m.group(8):
            zone: timezone = UTC
        else:
            sign = -1 if m.group(9) == "-" else 1
            zone = timezone(
                sign * timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
            )
        instant = datetime(
            year,
            month,
            day,
            int(m.group(4)),
            int(m.group(5)),
            int(m.group(6)),
            int(fraction),
            tzinfo=zone,
        )
        return instant.astimezone(UTC).date()
    except (ValueError, OverflowError) as exc:
        raise InvalidInputError(problem, field="datetime") from exc


def parse_datetime(text: str) -> Days:
    """``datetime`` as the first and last UTC day a feature's day must meet.

    An instant gives its own day twice; an interval its two ends' days, an
    open end (``..`` or nothing) None. ``../..`` limits nothing.

    Raises:
        InvalidInputError: (field ``datetime``) not an instant or an interval of
            two, or an interval that ends before it starts.
    """
    parts = text.split("/")
    if len(parts) == 1:
        day = _utc_day(parts[0])
        return day, day
    if len(parts) != 2:
        raise InvalidInputError(
            "datetime: an instant, or two joined by '/' (.. or nothing for an open end)",
            field="datetime",
        )
    first, last = (None if p in ("", "..") else _utc_day(p) for p in parts)
    if first is not None and last is not None and first > last:
        raise InvalidInputError(
            "datetime: the interval ends before it starts", field="datetime"
        )
    return first, last


@dataclass(frozen=True)
class FeaturePage:
    """One page of a collection's features.

    Attributes:
        features: GeoJSON Feature objects.
        matched: how many features match the query in all.
        offset: features skipped before this page.
        limit: the page size served (at most :data:`MAX_PAGE`).
    """

    features: list[dict[str, Any]]
    matched: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        """Whether features follow this page."""
        return self.offset + len(self.features) < self.matched


def _geometry(shape: Any) -> dict[str, Any]:
    """A shapely shape as RFC 7946 GeoJSON (right-hand rule)."""
    doc: dict[str, Any] = json.loads(shapely.to_geojson(shapely.orient_polygons(shape)))
    return doc


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plot_feature(r: InsuredPlotRecord) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": r.id,
        "geometry": _geometry(shapely.from_wkb(r.geometry)),
        "properties": {
            "plot_id": r.plot_ref,
            "application_id": r.application_id,
            "policy_id": r.policy_id,
            "farmer_id": r.farmer_id,
            "product_code": r.product_code,
            "start_date": r.start_date.isoformat(),
            "end_date": r.end_date.isoformat(),
            **area_properties("area", r.area_m2),
            **area_properties("declared", r.declared_m2),
        },
    }


def _claim_feature(r: PlotClaimRecord) -> dict[str, Any]:
    c = r.claim
    return {
        "type": "Feature",
        "id": c.id,
        "geometry": _geometry(shapely.from_wkb(r.geometry)),
        "properties": {
            "claim_id": c.id,
            "policy_id": c.policy_id,
            "farmer_id": c.farmer_id,
            "plot_id": c.subject_id,
            "status": c.status,
            "light": c.light,
            "event_date": _iso(c.event_date),
            "reported_at": _iso(c.reported_at),
            "event_id": c.event_id,
            "amount": str(c.amount.amount),
            "amount_minor": c.amount.minor,
            "currency": c.amount.currency,
            **area_properties("plot_area", r.area_m2),
        },
    }


def _damage_feature(r: DamageRecord) -> dict[str, Any]:
    a = r.assessment
    parts = [f for f in a.damage.get("features") or () if f.get("geometry")]
    shapes = [shapely.from_geojson(json.dumps(f["geometry"])) for f in parts]
    shape = shapes[0] if len(shapes) == 1 else shapely.union_all(shapes)
    damaged = [
        f.get("properties", {}).get("damaged_area_m2")
        for f in parts
        if isinstance(f.get("properties", {}).get("damaged_area_m2"), (int, float))
    ]
    threshold = a.damage.get("threshold")
    return {
        "type": "Feature",
        "id": r.claim_id,
        "geometry": _geometry(shape),
        "properties": {
            "claim_id": r.claim_id,
            "policy_id": r.policy_id,
            "farmer_id": r.farmer_id,
            "plot_id": r.plot_ref,
            "event_date": r.event_date.isoformat(),
            **area_properties("damaged_area", sum(damaged) if damaged else None),
            "threshold": threshold if isinstance(threshold, (int, float)) else None,
            "before_scene": a.before_scene,
            "after_scene": a.after_scene,
            "before_date": _iso(a.before_date),
            "after_date": _iso(a.after_date),
            "ndvi_before": a.ndvi_before,
            "ndvi_after": a.ndvi_after,
            "assessed_at": _iso(a.assessed_at),
        },
    }


class FeaturesService:
    """Reads the three collections for a viewer (a farmer: his own records only).

    Args:
        engine: the database.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._plots = PlotStore()
        self._claims = ClaimStore(engine)
        self._damage = AssessmentStore()

    def extent(self, viewer: Caller, collection: CollectionId) -> Extent | None:
        """Where and when the collection's records the viewer sees lie; None if he sees none."""
        farmer = own_farmer(viewer)
        with reading(self.engine) as conn:
            if collection == "plots":
                return self._plots.insured_extent(conn, farmer_id=farmer)
            if collection == "claims":
                return self._claims.plot_claims_extent(conn, farmer_id=farmer)
            return self._damage.damage_extent(conn, farmer_id=farmer)

    def items(
        self,
        viewer: Caller,
        collection: CollectionId,
        *,
        boxes: Sequence[Box] | None = None,
        days: Days = (None, None),
        offset: int = 0,
        limit: int = 10,
    ) -> FeaturePage:
        """A page of the collection's features the viewer sees.

        Args:
            viewer: who reads (a farmer: only his own records).
            collection: which collection.
            boxes: only features whose shape meets one of these boxes (WGS84
                degrees, :func:`parse_bbox`); None for anywhere.
            days: only features whose day or period meets these UTC days
                (:func:`parse_datetime`).
            offset: features to skip (>= 0).
            limit: features wanted (>= 1); at most :data:`MAX_PAGE` are served.
        """
        size = max(1, min(limit, MAX_PAGE))
        farmer = own_farmer(viewer)
        query: dict[str, Any] = {
            "farmer_id": farmer,
            "boxes": boxes,
            "days": days,
            "offset": offset,
            "limit": size,
        }
        with reading(self.engine) as conn:
            if collection == "plots":
                plots, total = self._plots.insured_page(conn, **query)
                features = [_plot_feature(r) for r in plots]
            elif collection == "claims":
                claims, total = self._claims.plot_claims_page(conn, **query)
                features = [_claim_feature(r) for r in claims]
            else:
                damage, total = self._damage.damage_page(conn, **query)
                features = [_damage_feature(r) for r in damage]
        return FeaturePage(features, total, offset, size)

    def item(
        self, viewer: Caller, collection: CollectionId, feature_id: str
    ) -> dict[str, Any]:
        """One feature of the collection.

        Raises:
            NotFoundError: (field ``featureId``) no such feature, or one of
                another farmer's records (a farmer is not told it exists).
        """
        feature: dict[str, Any] | None = None
        owner: str | None = None
        with reading(self.engine) as conn:
            if collection == "plots":
                plot = self._plots.insured_one(conn, feature_id)
                if plot is not None:
                    feature, owner = _plot_feature(plot), plot.farmer_id
            elif collection == "claims":
                claim = self._claims.plot_claim(conn, feature_id)
                if claim is not None:
                    feature, owner = _claim_feature(claim), claim.claim.farmer_id
            else:
                damage = self._damage.damage_one(conn, feature_id)
                if damage is not None:
                    feature, owner = _damage_feature(damage), damage.farmer_id
        if feature is None or not may_see(viewer, owner):
            raise NotFoundError(
                f"no feature {feature_id[:64]} in collection {collection}",
                field="featureId",
            )
        return feature
