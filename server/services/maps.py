"""Vector data for the maps: plots, overlaps, damage polygons, NDVI series (GeoJSON, RFC 7946).

Every geometry is WGS84 longitude/latitude (RFC 7946: no ``crs`` member),
polygons wound by the right-hand rule (exterior rings counter-clockwise).
Areas are geodesic, ``*_m2`` to 0.01 m2 and ``*_ha`` to 1e-6 ha (the
precision of the computation, :mod:`remote_sensing`'s units).

Who sees what: every logged-in role sees the plots, damage and series of any
record, except a farmer, who sees only his own (403 otherwise); the insured
plots of a map view (:meth:`MapsService.insured_plots`) are, for a farmer,
only his own.

The damage polygons of a crop claim are computed when the claim is assessed
by map (``ClaimsService.assess_by_map``) and stored with the assessment
(:func:`store_assessment`): a map shows what the adjuster decided on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine

from remote_sensing import (
    M2_PER_HA,
    PlotSeries,
    RemoteSensingError,
    SeasonWindow,
    SeriesPoint,
    find_overlaps,
    json_number,
    loss_context,
    ndvi_series,
    plots_from_geometries,
    read_dates,
)
from server.errors import InvalidInputError, NotFoundError
from server.services.access import Caller, check_may_see, may_see, own_farmer
from server.services.work import reading
from server.storage.assessment_store import AssessmentStore
from server.storage.claims_store import ClaimRecord, ClaimStore
from server.storage.plots_store import MapPlot, PlotStore, insured_plots_meeting
from server.storage.underwriting_store import ApplicationRecord, PolicyStore
from underwriting import concerns_plot, traffic_light

__all__ = [
    "NO_SERIES",
    "BBox",
    "MapsService",
    "NdviStack",
    "area_properties",
    "parse_bbox",
    "scene_dates",
    "stack_series",
    "store_assessment",
]

NO_SERIES = "no NDVI time series covers this plot"
"""The ``reason`` of an empty NDVI series."""

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


@dataclass(frozen=True)
class BBox:
    """A map view in WGS84 degrees: west, south, east, north."""

    west: float
    south: float
    east: float
    north: float


@dataclass(frozen=True)
class NdviStack:
    """A multi-date NDVI stack for claims' series (``AGRI_NDVI_*``).

    Attributes:
        path: one band per date, NDVI x (1 / ``scale``).
        clouds: a cloud stack on the same grid (1 = cloud), or None.
        dates: a JSON list of the bands' ISO dates, or None (band descriptions).
        scale: NDVI = stored value x ``scale``.
    """

    path: Path
    clouds: Path | None = None
    dates: Path | None = None
    scale: float = 1.0


def parse_bbox(text: str) -> BBox:
    """``w,s,e,n`` in degrees as a :class:`BBox`.

    Raises:
        InvalidInputError: (field ``bbox``) not four finite numbers, out of
            range, or west > east / south > north.
    """
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInputError(
            "bbox must be four numbers west,south,east,north in degrees",
            field="bbox",
        )
    w, s, e, n = values
    if not (
        -180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90
    ):
        raise InvalidInputError(
            "bbox: longitudes must be within [-180, 180] and latitudes within [-90, 90]",
            field="bbox",
        )
    if w > e or s > n:
        raise InvalidInputError(
            "bbox: west must not exceed east, nor south north", field="bbox"
        )
    return BBox(w, s, e, n)


def scene_dates(before: str, after: str) -> tuple[date | None, date | None]:
    """The dates of a before/after pair, read from the scenes' file names.

    One file holding both dates (``..._2021-06-17_2021-09-25.tif``, the
    before bands then the after bands) gives its first date to ``before``
    and its last to ``after``; two files give each its first date. A name
    without an ISO date gives None.
    """

    def found(name: str) -> list[date]:
        out = []
        for y, m, d in _ISO_DATE.findall(name):
            try:
                out.append(date(int(y), int(m), int(d)))
            except ValueError:
                continue
        return out

    b, a = found(before), found(after)
    if before == after:
        return (b[0], b[-1]) if b else (None, None)
    return (b[0] if b else None, a[0] if a else None)


def area_properties(prefix: str, area_m2: float | None) -> dict[str, float | None]:
    """``{prefix}_m2`` to 0.01 m2 and ``{prefix}_ha`` to 1e-6 ha (None when unknown)."""
    if area_m2 is None or not math.isfinite(area_m2):
        return {f"{prefix}_m2": None, f"{prefix}_ha": None}
    return {
        f"{prefix}_m2": json_number(area_m2, 2),
        f"{prefix}_ha": json_number(area_m2 / M2_PER_HA, 6),
    }


def _geometry(wkb: bytes) -> dict[str, Any]:
    """A stored WKB geometry as RFC 7946 GeoJSON (right-hand rule)."""
    geom = shapely.orient_polygons(shapely.from_wkb(wkb))
    doc: dict[str, Any] = json.loads(shapely.to_geojson(geom))
    return doc


def stack_series(stack: NdviStack, plot_id: str, wkb: bytes) -> PlotSeries:
    """One plot's NDVI series from the stack (WKB geometry in WGS84).

    Raises:
        RemoteSensingError, OSError: the stack or the plot cannot be read.
    """
    plot_set = plots_from_geometries(
        [shapely.from_wkb(wkb)], 4326, ids=[plot_id], source="policy"
    )
    (series,) = ndvi_series(
        plot_set,
        stack.path,
        dates=read_dates(stack.path, stack.dates),
        cloud_stack=stack.clouds,
        scale=stack.scale,
    )
    return series


def store_assessment(
    conn: Connection,
    claim_id: str,
    *,
    before_scene: str,
    after_scene: str,
    dates: tuple[date | None, date | None],
    ndvi_before: float,
    ndvi_after: float,
    features: Sequence[dict[str, Any]],
    threshold: float | None = None,
) -> None:
    """Record (replace) the claim's assessment by map: scenes, dates, NDVI, damage polygons.

    ``dates`` are the scenes' (:func:`scene_dates`); ``threshold`` the NDVI
    drop counted as damage (the baseline's drop plus the pixel threshold),
    kept with the polygons so the map's damage layer draws the same. Run in
    the transaction that records the assessment.
    """
    before_date, after_date = dates
    AssessmentStore().replace(
        conn,
        claim_id,
        before_scene=before_scene,
        after_scene=after_scene,
        before_date=before_date,
        after_date=after_date,
        ndvi_before=ndvi_before if math.isfinite(ndvi_before) else None,
        ndvi_after=ndvi_after if math.isfinite(ndvi_after) else None,
        damage={"type": "FeatureCollection", "features": list(features)}
        | ({"threshold": round(threshold, 2)} if threshold is not None else {}),
    )


def _point(p: SeriesPoint, anchor: date | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "date": p.date.isoformat(),
        "ndvi": json_number(p.ndvi),
        "clear_fraction": json_number(p.clear_fraction),
    }
    if anchor is not None:
        doc["day"] = (p.date - anchor).days
    return doc


def _season(w: SeasonWindow, loss: date) -> dict[str, Any]:
    try:
        anchor = loss.replace(year=w.year)
    except ValueError:  # 29 February
        anchor = loss.replace(year=w.year, day=28)
    return {
        "year": w.year,
        "start": w.start.isoformat(),
        "end": w.end.isoformat(),
        "ndvi_before": json_number(w.ndvi_before),
        "ndvi_after": json_number(w.ndvi_after),
        "drop": json_number(w.drop),
        "points": [_point(p, anchor) for p in w.points],
    }


class MapsService:
    """GeoJSON of plots, overlaps and damage, and NDVI series, for the maps.

    Args:
        engine: the database.
        min_overlap_m2: overlaps with insured plots above this are listed
            (the underwriting rule's figure).
        ndvi: the NDVI stack for claims' series, or None.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        min_overlap_m2: float = 100.0,
        ndvi: NdviStack | None = None,
    ) -> None:
        self.engine = engine
        self.min_overlap_m2 = min_overlap_m2
        self.ndvi = ndvi
        self._claims = ClaimStore(engine)
        self._policies = PolicyStore()
        self._plots = PlotStore()
        self._assessments = AssessmentStore()

    @staticmethod
    def _feature(row: MapPlot, **extra: Any) -> dict[str, Any]:
        return {
            "type": "Feature",
            "id": row.plot_ref,
            "geometry": _geometry(row.geometry),
            "properties": {
                "plot_id": row.plot_ref,
                "application_id": row.application_id,
                "policy_id": row.policy_id,
                "farmer_id": row.farmer_id,
                **area_properties("area", row.area_m2),
                **area_properties("declared", row.declared_m2),
                **extra,
            },
        }

    # --- applications and policies ------------------------------------------------

    def _overlaps(
        self, conn: Connection, app: ApplicationRecord, rows: Sequence[MapPlot]
    ) -> dict[str, list[dict[str, Any]]]:
        """Each plot's overlaps with plots of other policies in force in the period."""
        if not rows:
            return {}
        geoms = shapely.from_wkb([r.geometry for r in rows])
        insured = insured_plots_meeting(
            conn,
            app.start_date,
            app.end_date,
            tuple(shapely.bounds(shapely.union_all(geoms)).tolist()),
            except_application=app.id,
        )
        out: dict[str, list[dict[str, Any]]] = {}
        if not insured:
            return out
        others = shapely.from_wkb([bytes(r.geometry) for r in insured])
        ov = find_overlaps(
            geoms,
            others,
            min_overlap_m2=self.min_overlap_m2,
            areas_m2=np.array([r.area_m2 for r in rows], dtype=np.float64),
            other_areas_m2=np.array([r.area_m2 for r in insured], dtype=np.float64),
        )
        for a, b, area, share in zip(
            ov.left.tolist(),
            ov.right.tolist(),
            ov.area_m2.tolist(),
            ov.share_left.tolist(),
            strict=True,
        ):
            o = insured[b]
            out.setdefault(rows[a].plot_ref, []).append(
                {
                    "plot_id": o.plot_ref,
                    "policy_id": o.policy_id,
                    "farmer_id": o.farmer_id,
                    **area_properties("area", area),
                    "share": json_number(share),
                    "geometry": json.loads(
                        shapely.to_geojson(
                            shapely.orient_polygons(
                                shapely.intersection(geoms[a], others[b])
                            )
                        )
                    ),
                }
            )
        return out

    def application_plots(self, viewer: Caller, application_id: str) -> dict[str, Any]:
        """The plots of an application: areas, their checks and light, insured overlaps.

        Each feature's properties: ``plot_id``, ``area_m2``/``area_ha`` (measured,
        geodesic), ``declared_m2``/``declared_ha``, ``checks`` (the application's
        checks about this plot, :class:`Check` values the caller renders in its
        reader's language), ``light`` (the worst of them), ``overlaps``
        (plots of other policies in force in the period that it overlaps by
        more than the rule's minimum: their plot, policy, farmer, overlap area,
        share of this plot and the overlap's geometry; for a farmer, another
        farmer's plot is only its overlap area and share, ``other_farmer`` true).

        Raises:
            NotFoundError: no such application.
            ForbiddenError: a farmer asking for another farmer's application.
        """
        with reading(self.engine) as conn:
            app = self._policies.application(conn, application_id)
            if app is None:
                raise NotFoundError(
                    f"no application {application_id}", field="application_id"
                )
            check_may_see(viewer, app.farmer_id, "application")
            rows = self._plots.of_application(conn, application_id)
            overlaps = self._overlaps(conn, app, rows)
        if own_farmer(viewer) is not None:
            # A farmer learns that his plot overlaps insured land, and by how much,
            # not whose it is nor its shape.
            overlaps = {
                ref: [_for_a_farmer(o, viewer) for o in found]
                for ref, found in overlaps.items()
            }
        checks = app.checks
        features = []
        for r in rows:
            mine = [c for c in checks if concerns_plot(c, r.plot_ref)]
            features.append(
                self._feature(
                    r,
                    light=traffic_light(mine) if mine else None,
                    checks=mine,
                    overlaps=overlaps.get(r.plot_ref, []),
                )
            )
        return {"type": "FeatureCollection", "features": features}

    def policy_plots(self, viewer: Caller, policy_id: str) -> dict[str, Any]:
        """The plots a policy insures, with their measured and declared areas.

        Raises:
            NotFoundError: no such policy.
            ForbiddenError: a farmer asking for another farmer's policy.
        """
        with reading(self.engine) as conn:
            policy = self._policies.policy(conn, policy_id)
            if policy is None:
                raise NotFoundError(f"no policy {policy_id}", field="policy_id")
            check_may_see(viewer, policy, "policy")
            rows = self._plots.of_policy(conn, policy_id)
        return {
            "type": "FeatureCollection",
            "features": [self._feature(r) for r in rows],
        }

    def insured_plots(
        self,
        viewer: Caller,
        bbox: BBox,
        *,
        on: date | None = None,
        offset: int = 0,
        limit: int = 200,
    ) -> dict[str, Any]:
        """Plots of policies in force on ``on`` (default today, UTC) whose bounds meet ``bbox``.

        A page of features in (policy, plot) order, with foreign members
        ``total``, ``offset`` and ``limit``; a farmer gets only his own.
        """
        day = on or datetime.now(UTC).date()
        with reading(self.engine) as conn:
            rows, total = self._plots.in_force_meeting(
                conn,
                day,
                (bbox.west, bbox.south, bbox.east, bbox.north),
                farmer_id=own_farmer(viewer),
                offset=offset,
                limit=limit,
            )
        return {
            "type": "FeatureCollection",
            "features": [self._feature(r) for r in rows],
            "total": total,
            "offset": offset,
            "limit": limit,
        }

    # --- claims -------------------------------------------------------------------

    def _claim(self, viewer: Caller, claim_id: str) -> ClaimRecord:
        claim = self._claims.get(claim_id)
        check_may_see(viewer, claim.farmer_id, "claim")
        return claim

    def claim_damage(self, viewer: Caller, claim_id: str) -> dict[str, Any]:
        """The damage polygons of the claim's last assessment by map (empty before one).

        Foreign members: ``claim_id``, ``assessed`` (whether an assessment ran),
        ``before``/``after`` (scene names and dates).

        Raises:
            NotFoundError: no such claim.
            ForbiddenError: a farmer asking for another farmer's claim.
        """
        self._claim(viewer, claim_id)
        with reading(self.engine) as conn:
            row = self._assessments.get(conn, claim_id)
        if row is None:
            return {
                "type": "FeatureCollection",
                "features": [],
                "claim_id": claim_id,
                "assessed": False,
            }
        doc = row.damage
        doc.update(
            claim_id=claim_id,
            assessed=True,
            before={
                "scene": row.before_scene,
                "date": row.before_date.isoformat() if row.before_date else None,
            },
            after={
                "scene": row.after_scene,
                "date": row.after_date.isoformat() if row.after_date else None,
            },
        )
        return doc

    def claim_series(self, viewer: Caller, claim_id: str) -> dict[str, Any]:
        """The NDVI series of a crop claim's plot around the loss date, beside earlier seasons.

        With an NDVI stack covering the plot (``AGRI_NDVI_STACK``): every date's
        mean NDVI and clear fraction (``points``), the loss season's window and
        the same weeks of earlier seasons (``season``, ``earlier``: each point's
        ``day`` counts from the loss date's anniversary) and the verdict of
        :func:`remote_sensing.loss_context`. Otherwise the two dates of the
        claim's assessment by map, when it ran; else no points and a ``reason``.

        Raises:
            NotFoundError: no such claim.
            ForbiddenError: a farmer asking for another farmer's claim.
        """
        claim = self._claim(viewer, claim_id)
        base: dict[str, Any] = {
            "claim_id": claim_id,
            "plot_id": claim.subject_id if claim.subject_kind == "plot" else None,
            "loss_date": claim.event_date.isoformat() if claim.event_date else None,
        }
        if claim.subject_kind != "plot":
            return base | {
                "source": None,
                "points": [],
                "reason": "only crop claims (plots) have an NDVI series",
            }
        with reading(self.engine) as conn:
            plot = self._claims.insured_plot(conn, claim.policy_id, claim.subject_id)
            row = self._assessments.get(conn, claim_id)
        if plot is not None and self.ndvi is not None and claim.event_date:
            found = self._stack_series(
                claim.subject_id, plot.geometry, claim.event_date
            )
            if found is not None:
                return base | found
        if row is not None and (
            row.ndvi_before is not None or row.ndvi_after is not None
        ):
            points = [
                {
                    "date": d.isoformat() if d else None,
                    "ndvi": json_number(v),
                    "scene": s,
                    "role": role,
                }
                for d, v, s, role in (
                    (row.before_date, row.ndvi_before, row.before_scene, "before"),
                    (row.after_date, row.ndvi_after, row.after_scene, "after"),
                )
                if v is not None
            ]
            return base | {"source": "assessment", "points": points, "earlier": []}
        return base | {"source": None, "points": [], "reason": NO_SERIES}

    def _stack_series(
        self, plot_id: str, wkb: bytes, loss: date
    ) -> dict[str, Any] | None:
        """The stack's series and loss context of one plot; None if it does not cover it."""
        assert self.ndvi is not None
        try:
            series = stack_series(self.ndvi, plot_id, wkb)
        except (RemoteSensingError, OSError) as exc:
            return {"source": None, "points": [], "reason": f"{NO_SERIES} ({exc})"}
        if not any(math.isfinite(p.ndvi) for p in series.points):
            return None
        ctx = loss_context(series, loss)
        return {
            "source": "stack",
            "points": [_point(p) for p in series.points],
            "window_days": ctx.window_days,
            "season": _season(ctx.season, loss),
            "earlier": [_season(w, loss) for w in ctx.earlier],
            "typical_drop": json_number(ctx.typical_drop),
            "excess_drop": json_number(ctx.excess_drop),
            "verdict": ctx.verdict,
        }


def _for_a_farmer(overlap: dict[str, Any], viewer: Caller) -> dict[str, Any]:
    """An overlap as a farmer may see it: another farmer's plot reduced to its size."""
    if may_see(viewer, overlap["farmer_id"]):
        return overlap
    hidden = ("plot_id", "policy_id", "farmer_id", "geometry")
    return {k: v for k, v in overlap.items() if k not in hidden} | {
        "other_farmer": True
    }
