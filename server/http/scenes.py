"""API routes of imagery: the scene list, TileJSON and XYZ tiles, as TiTiler has them.

``GET /scenes`` needs a login. TileJSON and tiles do not: a map library
fetches tiles as plain image requests, which carry no bearer token. They
serve only scenes registered in the catalogue (``AGRI_IMAGERY_DIR``), named
by scene name (letters, digits, ``-``, ``_``: never a path).

Tiles: ``200`` with the image, ``204 No Content`` where the tile misses the
scene (TiTiler answers 404 there; 204 tells "nothing to draw here" from "no
such scene", and map libraries leave the tile empty), ``304`` when
``If-None-Match`` names the tile's ETag. A tile that needs a render is
drawn on the render pool of :mod:`server.http.tile_guard` (its own threads,
a bounded queue, a time budget: 503 with ``Retry-After`` when busy), never on
the threads serving the API's other requests; one client address may ask for
``AGRI_TILE_RATE_PER_S`` tiles a second (429 with ``Retry-After`` beyond).

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

import math
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from remote_sensing import DAMAGE_THRESHOLD
from server.http.deps import API, Deps, ErrorOut, Limit, Offset, PageOut, page_of
from server.http.tile_guard import (
    ClientRate,
    RenderBusyError,
    RenderPool,
    default_render_workers,
)
from server.services.auth import User
from server.services.imagery import MIB, ImageryService, drawn_threshold

__all__ = ["SceneOut", "scenes_router"]

LayerName = Literal["truecolor", "ndvi", "damage"]
MAX_TILE = 2**24 - 1
"""The last column or row of the deepest zoom (24): no tile address is beyond it."""
SceneName = Annotated[
    str,
    PathParam(
        max_length=100,
        description="A registered scene's name (letters, digits, '-', '_').",
        examples=["austria-2021-09-25"],
    ),
]
LayerQuery = Annotated[
    LayerName,
    Query(
        description="truecolor (RGB, reflectance 0..0.3), ndvi (RdYlGn, -0.2..0.9) or "
        "damage (NDVI drop >= 0.3 since before, in red)."
    ),
]
BeforeQuery = Annotated[
    str | None,
    Query(
        max_length=100,
        description="damage only: the earlier scene the NDVI drop is measured from.",
        examples=["austria-2021-06-17"],
    ),
]
ThresholdQuery = Annotated[
    float,
    Query(
        gt=0,
        le=2,
        description="damage only: the NDVI drop drawn as damage (default 0.3; a claim's "
        "page adds the drop its baseline explains), rounded to 0.01.",
        examples=[0.3],
    ),
]
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such scene."},
    422: {"model": ErrorOut},
}


class SceneOut(BaseModel):
    """A scene of the imagery catalogue."""

    name: str = Field(examples=["austria-2021-09-25"])
    date: date
    bounds: list[float] = Field(
        description="[west, south, east, north] in WGS84 degrees.",
        examples=[[13.1001524, 48.2744754, 13.1792752, 48.3098152]],
    )
    bands: dict[str, int] = Field(
        description="Role -> band number in the scene's COG.",
        examples=[{"red": 1, "green": 2, "blue": 3, "nir": 4}],
    )
    crs: str = Field(examples=["EPSG:32633"])
    resolution: list[float] = Field(
        description="Pixel size [x, y] in CRS units.", examples=[[10.0, 10.0]]
    )
    minzoom: int = Field(examples=[12])
    maxzoom: int = Field(examples=[13])
    layers: list[str] = Field(
        description="The tile layers the scene's bands allow.",
        examples=[["truecolor", "ndvi", "damage"]],
    )


def _scene_out(s: Any) -> SceneOut:
    layers = [
        layer
        for layer, roles in (
            ("truecolor", ("red", "green", "blue")),
            ("ndvi", ("red", "nir")),
            ("damage", ("red", "nir")),
        )
        if all(r in s.bands for r in roles)
    ]
    return SceneOut(
        name=s.name,
        date=s.date,
        bounds=list(s.bounds),
        bands=dict(s.bands),
        crs=s.crs,
        resolution=list(s.resolution),
        minzoom=s.minzoom,
        maxzoom=s.maxzoom,
        layers=layers,
    )


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags


def scenes_router(deps: Deps, imagery: ImageryService | None = None) -> APIRouter:
    """Routes for the imagery catalogue and its tiles.

    Args:
        deps: the wired context and role check.
        imagery: the service (default: one over ``AGRI_IMAGERY_DIR`` with a tile
            cache of ``AGRI_TILE_CACHE_MB``).
    """
    router = APIRouter(prefix=API)
    settings = deps.ctx.settings
    service = imagery or ImageryService(
        settings.resolved_imagery_dir(),
        cache_bytes=settings.tile_cache_mb * MIB,
        max_read_pixels=int(settings.tile_max_read_mpx * 1e6),
    )
    renders = RenderPool(
        settings.tile_render_workers or default_render_workers(),
        settings.tile_render_queue,
        settings.tile_render_timeout_s,
    )
    rate = ClientRate(settings.tile_rate_per_s, settings.tile_burst)
    cache_control = f"public, max-age={settings.tile_max_age_s}"
    anyone = deps.may("read")

    @router.get("/scenes", tags=["imagery"])
    def list_scenes(
        _: Annotated[User, Depends(anyone)],
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[SceneOut]:
        """Scenes of the imagery catalogue, by date then name (any role)."""
        return page_of(SceneOut, service.scenes(offset, limit), _scene_out)

    @router.get("/scenes/{scene}/tilejson.json", tags=["imagery"], responses=_ERRORS)
    def tilejson(
        scene: SceneName,
        layer: LayerQuery = "truecolor",
        before: BeforeQuery = None,
        format: Annotated[
            Literal["png", "webp"], Query(description="Tile image format.")
        ] = "png",
        threshold: ThresholdQuery = DAMAGE_THRESHOLD,
    ) -> dict[str, Any]:
        """TileJSON 3.0.0 of one layer of a scene (no login: map libraries fetch it).

        ``tiles[0]`` is an absolute path on this host, e.g.
        ``/api/v1/scenes/{scene}/tiles/{z}/{x}/{y}.png?layer=ndvi``. For ``damage``
        the bounds are where both scenes overlap.
        """
        query = {"layer": layer} | (
            {"before": before} if layer == "damage" and before else {}
        )
        drawn = drawn_threshold(layer, threshold)
        if drawn != DAMAGE_THRESHOLD:
            query["threshold"] = f"{drawn:.2f}"
        url = f"{API}/scenes/{scene}/tiles/{{z}}/{{x}}/{{y}}.{format}?" + urlencode(
            query
        )
        return service.tilejson(scene, layer, before, url)

    @router.get(
        "/scenes/{scene}/tiles/{z}/{x}/{y}.{format}",
        tags=["imagery"],
        response_class=Response,
        responses={
            200: {
                "content": {
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                    "image/webp": {"schema": {"type": "string", "format": "binary"}},
                },
                "description": "The tile, with an alpha band (transparent: no data).",
            },
            204: {
                "description": "Nothing to draw: the tile misses the scene, or would "
                "read more of it than a render may (zoom in)."
            },
            304: {"description": "Not modified: If-None-Match names the ETag."},
            **_ERRORS,
            429: {
                "model": ErrorOut,
                "description": "Too many tile requests from this client: wait "
                "``Retry-After`` seconds.",
                "headers": _RETRY_AFTER,
            },
            503: {
                "model": ErrorOut,
                "description": "The tile renderer is busy or the render ran past its "
                "time budget: retry after ``Retry-After`` seconds.",
                "headers": _RETRY_AFTER,
            },
        },
    )
    async def tile(
        request: Request,
        scene: SceneName,
        z: Annotated[int, PathParam(ge=0, le=24, description="Zoom.")],
        x: Annotated[
            int,
            PathParam(
                ge=0, le=MAX_TILE, description="Column, 0..2**z - 1 (422 beyond)."
            ),
        ],
        y: Annotated[
            int,
            PathParam(
                ge=0,
                le=MAX_TILE,
                description="Row from the north, 0..2**z - 1 (422 beyond).",
            ),
        ],
        format: Annotated[
            Literal["png", "webp"],
            PathParam(
                description="png (exact) or webp (lossy, quality 90: an eighth of the bytes)."
            ),
        ],
        layer: LayerQuery = "truecolor",
        before: BeforeQuery = None,
        threshold: ThresholdQuery = DAMAGE_THRESHOLD,
        if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
    ) -> Response:
        """One 256 px XYZ tile of a layer of a scene (no login: map libraries fetch it).

        Cached in memory once rendered; ``ETag`` and ``Cache-Control`` let the
        browser keep it too.
        """
        client = request.client.host if request.client else "unknown"
        wait = rate.take(client)
        if wait:
            raise HTTPException(
                429,
                "too many map tile requests from this address: slow down",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        before = before if layer == "damage" else None
        cached = await run_in_threadpool(
            lambda: service.cached_tile(
                scene, layer, z, x, y, before=before, fmt=format, threshold=threshold
            )
        )
        if cached is None and if_none_match:  # the browser has it: no render
            etag = await run_in_threadpool(
                lambda: service.tile_etag(
                    scene,
                    layer,
                    z,
                    x,
                    y,
                    before=before,
                    fmt=format,
                    threshold=threshold,
                )
            )
            if _matches(if_none_match, etag):
                headers = {"ETag": etag, "Cache-Control": cache_control}
                return Response(status_code=304, headers=headers)
        found = cached
        try:
            if found is None:
                found = await renders.run(
                    lambda: service.tile(
                        scene,
                        layer,
                        z,
                        x,
                        y,
                        before=before,
                        fmt=format,
                        threshold=threshold,
                    )
                )
        except RenderBusyError as exc:
            raise HTTPException(
                503, str(exc), headers={"Retry-After": str(exc.retry_after_s)}
            ) from exc
        headers = {"ETag": found.etag, "Cache-Control": cache_control}
        if _matches(if_none_match, found.etag):
            return Response(status_code=304, headers=headers)
        if found.content is None:
            return Response(status_code=204, headers=headers)
        return Response(found.content, media_type=found.media_type, headers=headers)

    return router
