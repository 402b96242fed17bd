"""API routes of the maps' vector data (GeoJSON, RFC 7946) and a claim's NDVI series.

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from server.http.deps import API, Deps, Offset, ReaderLang
from server.http.records import check_out
from server.services.auth import User
from server.services.maps import MapsService, parse_bbox

__all__ = ["BBOX", "GEOJSON", "maps_router"]

GEOJSON = "application/geo+json"
"""The GeoJSON media type (RFC 7946 section 12)."""

_GEOJSON_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {GEOJSON: {"schema": {"type": "object"}}},
        "description": "A GeoJSON FeatureCollection (RFC 7946, WGS84 lon/lat).",
    }
}

_LON = r"-?(?:180(?:\.0{1,15})?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]{1,15})?)"
_LAT = r"-?(?:90(?:\.0{1,15})?|[0-8]?[0-9](?:\.[0-9]{1,15})?)"
BBOX = rf"^{_LON},{_LAT},{_LON},{_LAT}$"
"""``west,south,east,north``: four decimals (up to 15 places), longitudes within
[-180, 180] and latitudes within [-90, 90]. West must not exceed east, nor
south north, which no pattern can say (422 naming ``bbox``)."""

MapLimit = Annotated[
    int, Query(ge=1, le=1000, description="Features per page (at most 1000).")
]


def _geojson(doc: dict[str, Any]) -> JSONResponse:
    return JSONResponse(doc, media_type=GEOJSON)


def maps_router(deps: Deps) -> APIRouter:
    """Routes for plots, damage polygons and NDVI series."""
    router = APIRouter(prefix=API)
    readers = deps.may("read")
    stack = deps.ctx.ndvi_stack
    maps: list[MapsService] = []

    def service() -> MapsService:
        if not maps:  # built on first use: the underwriting service loads on demand
            maps.append(
                MapsService(
                    deps.ctx.engine,
                    min_overlap_m2=deps.ctx.underwriting.overlap_rules.min_overlap_m2,
                    ndvi=stack,
                )
            )
        return maps[0]

    @router.get(
        "/applications/{application_id}/plots.geojson",
        tags=["maps"],
        response_class=JSONResponse,
        responses=_GEOJSON_DOC,
    )
    def application_plots(
        application_id: str, user: Annotated[User, Depends(readers)], lang: ReaderLang
    ) -> JSONResponse:
        """The plots of an application (a farmer: his own).

        Each feature: ``plot_id``, measured ``area_m2``/``area_ha`` (geodesic) and
        ``declared_m2``/``declared_ha``, the application's ``checks`` about the
        plot and their worst ``light``, and ``overlaps`` with plots of other
        policies in force in the period (plot, policy, farmer, ``area_m2``,
        ``area_ha``, ``share`` of this plot, the overlap's ``geometry``).
        """
        doc = service().application_plots(user, application_id)
        for feature in doc["features"]:
            props = feature["properties"]
            props["checks"] = [
                check_out(c, lang, user).model_dump(mode="json")
                for c in props["checks"]
            ]
        return _geojson(doc)

    @router.get(
        "/policies/{policy_id}/plots.geojson",
        tags=["maps"],
        response_class=JSONResponse,
        responses=_GEOJSON_DOC,
    )
    def policy_plots(
        policy_id: str, user: Annotated[User, Depends(readers)]
    ) -> JSONResponse:
        """The plots a policy insures, with measured and declared areas (a farmer: his own)."""
        return _geojson(service().policy_plots(user, policy_id))

    @router.get(
        "/plots.geojson",
        tags=["maps"],
        response_class=JSONResponse,
        responses=_GEOJSON_DOC,
    )
    def insured_plots(
        user: Annotated[User, Depends(readers)],
        bbox: Annotated[
            str,
            Query(
                max_length=200,
                pattern=BBOX,
                description="The view: west,south,east,north in degrees (WGS84); "
                "west not past east, south not past north.",
                examples=["13.10,48.27,13.18,48.31"],
            ),
        ],
        on: Annotated[
            date | None,
            Query(description="Policies in force on this day (default: today)."),
        ] = None,
        offset: Offset = 0,
        limit: MapLimit = 200,
    ) -> JSONResponse:
        """Insured plots in view: plots of policies in force whose bounds meet ``bbox``.

        Paged (``total``, ``offset``, ``limit`` beside the features); a farmer
        sees only his own plots. A malformed ``bbox`` is 422 naming ``bbox``.
        """
        box = parse_bbox(bbox)
        return _geojson(
            service().insured_plots(user, box, on=on, offset=offset, limit=limit)
        )

    @router.get(
        "/claims/{claim_id}/damage.geojson",
        tags=["maps"],
        response_class=JSONResponse,
        responses=_GEOJSON_DOC,
    )
    def claim_damage(
        claim_id: str, user: Annotated[User, Depends(readers)]
    ) -> JSONResponse:
        """The damage polygons of a crop claim's last assessment by map (a farmer: his own).

        Each feature: ``plot_id``, ``damaged_area_m2``, ``damaged_area_ha``;
        beside them ``assessed`` and the ``before``/``after`` scenes and dates.
        """
        return _geojson(service().claim_damage(user, claim_id))

    @router.get("/claims/{claim_id}/series", tags=["maps"])
    def claim_series(
        claim_id: str, user: Annotated[User, Depends(readers)]
    ) -> dict[str, Any]:
        """The NDVI series of a crop claim's plot around the loss date, beside earlier seasons.

        ``source`` is ``stack`` (AGRI_NDVI_STACK covers the plot: every date's
        ``points``, the loss ``season`` and the ``earlier`` seasons' same weeks,
        a ``verdict``), ``assessment`` (the two dates of the assessment by map),
        or null with no points and a ``reason``.
        """
        return service().claim_series(user, claim_id)

    return router
