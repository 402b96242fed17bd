"""OGC API - Features (Part 1: Core, GeoJSON, OpenAPI 3.0) at ``/ogc``: what QGIS opens.

The insurer's plots, crop claims and damage polygons as three feature
collections (:mod:`server.services.ogc`), behind the API's bearer tokens
(``Authorization: Bearer ...``; 401 with ``WWW-Authenticate`` without one). A
farmer reads only his own records; staff read everyone's.

* ``/ogc``: the landing page (links to the API definition, the conformance
  declaration and the collections);
* ``/ogc/conformance``: the conformance classes met;
* ``/ogc/api``: the API definition, OpenAPI 3.0 (``application/vnd.oai.openapi+json;version=3.0``);
* ``/ogc/collections``, ``/ogc/collections/{collectionId}``: the collections,
  with their extents (of the records the reader sees);
* ``/ogc/collections/{collectionId}/items``: a page of features, filtered by
  ``bbox`` and ``datetime``, paged by ``limit`` (and ``offset``, which the
  ``next`` link carries), with ``numberMatched`` and ``numberReturned``;
* ``/ogc/collections/{collectionId}/items/{featureId}``: one feature.

Features come as GeoJSON (``application/geo+json``) or, when asked
(``Accept: application/json`` or ``f=json``), as the same body in
``application/json``; everything else is JSON. As the standard asks, an
unknown query parameter or an invalid value is 400 (in the API's one error
body, naming the parameter). Collection and link titles are in the reader's
language (``Accept-Language``).

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

import copy
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.errors import InvalidInputError
from server.http.deps import MAX_OFFSET, Deps, ErrorOut, FieldHTTPError, ReaderLang
from server.http.errors import validation_error
from server.i18n import Lang, render_message
from server.services.auth import User
from server.services.ogc import (
    BBOX_PATTERN,
    COLLECTIONS,
    DATETIME_PATTERN,
    MAX_PAGE,
    CollectionId,
    Extent,
    FeaturePage,
    FeaturesService,
    parse_bbox,
    parse_datetime,
)

__all__ = [
    "CONFORMANCE",
    "GEOJSON",
    "OGC",
    "OPENAPI30",
    "ogc_router",
]

OGC = "/ogc"
GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI30 = "application/vnd.oai.openapi+json;version=3.0"
HTML = "text/html"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
_CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf"
CONFORMANCE = (f"{_CONF}/core", f"{_CONF}/geojson", f"{_CONF}/oas30")
"""The conformance classes met: Core, GeoJSON and OpenAPI 3.0 (not HTML)."""
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


# --- what the answers hold (the API definition's schemas) ---------------------------


class Link(BaseModel):
    """A link (RFC 8288): where, how it relates, in which media type."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    """The landing page: what this is, and links to the definition, conformance and data."""

    title: str
    description: str
    links: list[Link]


class ConfClasses(BaseModel):
    """The conformance classes the API meets."""

    conformsTo: list[str]  # the standard's name


class SpatialExtent(BaseModel):
    """Bounds in CRS84 (longitude, latitude): one box [west, south, east, north]."""

    bbox: list[list[float]] = Field(min_length=1)
    crs: str = CRS84


class TemporalExtent(BaseModel):
    """The span of the features' days: one interval of two ISO dates (null: open)."""

    interval: list[list[str | None]] = Field(min_length=1)
    trs: str = GREGORIAN


class ExtentOut(BaseModel):
    """Where and when a collection's features lie (of those the reader sees)."""

    spatial: SpatialExtent
    temporal: TemporalExtent


class CollectionOut(BaseModel):
    """A feature collection: its id, words, extent and links (items in each encoding)."""

    id: str
    title: str
    description: str
    links: list[Link]
    extent: ExtentOut | None = None
    itemType: str = "feature"  # the standard's name


class CollectionsOut(BaseModel):
    """The feature collections."""

    links: list[Link]
    collections: list[CollectionOut]


class GeometryOut(BaseModel):
    """A GeoJSON polygon or multipolygon (RFC 7946: WGS84 lon/lat, right-hand rule)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class FeatureOut(BaseModel):
    """A GeoJSON Feature: id, shape, the record's properties, links."""

    type: Literal["Feature"]
    id: str
    geometry: GeometryOut
    properties: dict[str, Any]
    links: list[Link] | None = None


class FeatureCollectionOut(BaseModel):
    """A page of features: GeoJSON FeatureCollection with links and counts."""

    type: Literal["FeatureCollection"]
    features: list[FeatureOut]
    links: list[Link]
    numberMatched: int = Field(ge=0)  # the standard's name
    numberReturned: int = Field(ge=0)  # the standard's name
    timeStamp: datetime  # the standard's name


def _json_doc(model: type[BaseModel], description: str) -> dict[int | str, Any]:
    return {200: {"model": model, "description": description}}


def _features_doc(model: type[BaseModel], description: str) -> dict[int | str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        200: {
            "model": model,
            "description": description,
            "content": {GEOJSON: {"schema": ref}},
        }
    }


# --- parameters ------------------------------------------------------------------------

CollectionPath = Annotated[
    str,
    Path(
        alias="collectionId",
        max_length=64,
        description="The collection: " + ", ".join(COLLECTIONS) + ".",
        examples=["plots"],
    ),
]
FeaturePath = Annotated[
    str,
    Path(
        alias="featureId",
        max_length=64,
        description="The feature: a plot's row id (plots), a claim id (claims, damage).",
    ),
]
JsonFormat = Annotated[
    Literal["json"] | None,
    Query(description="The encoding: json (the only one of this resource)."),
]
FeatureFormat = Annotated[
    Literal["geojson", "json"] | None,
    Query(
        description="The encoding: geojson (application/geo+json, the default) or "
        "json (the same body as application/json). Without it, Accept decides."
    ),
]
BBoxQuery = Annotated[
    str | None,
    Query(
        max_length=400,
        pattern=BBOX_PATTERN,
        description="Only features whose shape meets the box: west,south,east,north "
        "in degrees (WGS84 lon/lat; six numbers: with heights, ignored). West "
        "beyond east crosses the antimeridian; south must not exceed north (400).",
        examples=["13.10,48.27,13.18,48.31"],
    ),
]
DatetimeQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=DATETIME_PATTERN,
        description="Only features whose day meets it: an RFC 3339 date-time or date "
        "(UTC day), or an interval start/end with '..' (or nothing) for an open end. "
        "Plots: the policy's period; claims and damage: the loss day.",
        examples=["2021-09-01/2021-09-30", "2021-09-10T00:00:00Z/.."],
    ),
]
LimitQuery = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_LIMIT,
        description=f"Features per page; at most {MAX_PAGE} are served at once "
        "(the next link goes on).",
    ),
]
OffsetQuery = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_OFFSET,
        description="Features to skip: what the next link carries.",
    ),
]


class _OgcRoute(APIRoute):
    """A route answering a malformed parameter with 400, as the standard asks (not 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                body = validation_error(exc)
                raise FieldHTTPError(400, body["detail"], field=body["field"]) from exc
            except InvalidInputError as exc:
                raise FieldHTTPError(400, str(exc), field=exc.field) from exc

        return handle


def _only(*names: str) -> Any:
    """A dependency refusing (400) a query parameter the route does not take."""
    known = set(names)

    def check(request: Request) -> None:
        for name in request.query_params:
            if name not in known:
                takes = ", ".join(sorted(known)) or "none"
                raise FieldHTTPError(
                    400,
                    f"unknown query parameter {name[:40]!r} (this resource takes: {takes})",
                    field=name[:40],
                )

    return Depends(check)


def _wants_geojson(f: str | None, accept: str | None) -> bool:
    """GeoJSON unless ``f=json`` or an Accept header preferring application/json."""
    if f is not None:
        return f == "geojson"
    weights: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.strip().lower()] = q
    geo, plain = weights.get(GEOJSON), weights.get(JSON)
    if geo is None and plain is None:
        return True
    return (geo or 0.0) >= (plain or 0.0)


def _words(key: str, lang: Lang) -> str:
    return render_message(f"ogc.{key}", {}, lang)


def _extent_out(extent: Extent | None) -> ExtentOut | None:
    if extent is None:
        return None
    first = extent.first_day.isoformat() if extent.first_day else None
    last = extent.last_day.isoformat() if extent.last_day else None
    return ExtentOut(
        spatial=SpatialExtent(
            bbox=[[extent.west, extent.south, extent.east, extent.north]]
        ),
        temporal=TemporalExtent(interval=[[first, last]]),
    )


def _url(base: str, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
    return f"{base}{OGC}{path}" + (f"?{urlencode(list(query))}" if query else "")


def ogc_router(deps: Deps) -> APIRouter:
    """The OGC API - Features routes under ``/ogc`` (every one behind the bearer token)."""
    router = APIRouter(prefix=OGC, tags=["ogc"], route_class=_OgcRoute)
    readers = deps.may("read")
    services: list[FeaturesService] = []
    definition: list[dict[str, Any]] = []

    def service() -> FeaturesService:
        if not services:
            services.append(FeaturesService(deps.ctx.engine))
        return services[0]

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def collection_of(name: str) -> CollectionId:
        for known in COLLECTIONS:
            if name == known:
                return known
        raise FieldHTTPError(
            404,
            f"no collection {name[:64]} (the collections: {', '.join(COLLECTIONS)})",
            field="collectionId",
        )

    def collection_out(
        root: str, name: CollectionId, user: User, lang: Lang
    ) -> CollectionOut:
        here = f"/collections/{name}"
        return CollectionOut(
            id=name,
            title=_words(f"{name}.title", lang),
            description=_words(f"{name}.description", lang),
            links=[
                Link(href=_url(root, here), rel="self", type=JSON),
                Link(href=_url(root, f"{here}/items"), rel="items", type=GEOJSON),
                Link(
                    href=_url(root, f"{here}/items", [("f", "json")]),
                    rel="items",
                    type=JSON,
                ),
            ],
            extent=_extent_out(service().extent(user, name)),
        )

    def answer(doc: dict[str, Any], geojson: bool) -> JSONResponse:
        return JSONResponse(doc, media_type=GEOJSON if geojson else JSON)

    @router.get(
        "",
        response_model=LandingPage,
        response_model_exclude_none=True,
        responses=_json_doc(LandingPage, "The landing page."),
        dependencies=[_only("f")],
    )
    def landing(
        request: Request,
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
        f: JsonFormat = None,
    ) -> LandingPage:
        """The landing page: links to the API definition, the conformance classes, the data."""
        root = base(request)
        return LandingPage(
            title=_words("title", lang),
            description=_words("description", lang),
            links=[
                Link(href=_url(root, ""), rel="self", type=JSON),
                Link(href=_url(root, "/api"), rel="service-desc", type=OPENAPI30),
                Link(href=f"{root}/api/v1/docs", rel="service-doc", type=HTML),
                Link(href=_url(root, "/conformance"), rel="conformance", type=JSON),
                Link(href=_url(root, "/collections"), rel="data", type=JSON),
            ],
        )

    @router.get(
        "/conformance",
        response_model=ConfClasses,
        responses=_json_doc(ConfClasses, "The conformance classes met."),
        dependencies=[_only("f")],
    )
    def conformance(
        user: Annotated[User, Depends(readers)], f: JsonFormat = None
    ) -> ConfClasses:
        """The conformance classes met: Core, GeoJSON, OpenAPI 3.0."""
        return ConfClasses(conformsTo=list(CONFORMANCE))

    @router.get(
        "/api",
        response_class=JSONResponse,
        responses={
            200: {
                "description": "The API definition of /ogc, OpenAPI 3.0.",
                "content": {OPENAPI30: {"schema": {"type": "object"}}},
            }
        },
        dependencies=[_only("f")],
    )
    def api(
        request: Request,
        user: Annotated[User, Depends(readers)],
        f: JsonFormat = None,
    ) -> JSONResponse:
        """The API definition of these routes: an OpenAPI 3.0 document."""
        if not definition:
            definition.append(openapi30(router.routes))
        doc = copy.deepcopy(definition[0])
        doc["servers"] = [{"url": str(request.base_url).rstrip("/")}]
        return JSONResponse(doc, media_type=OPENAPI30)

    @router.get(
        "/collections",
        response_model=CollectionsOut,
        response_model_exclude_none=True,
        responses=_json_doc(CollectionsOut, "The feature collections."),
        dependencies=[_only("f")],
    )
    async def collections(
        request: Request,
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
        f: JsonFormat = None,
    ) -> CollectionsOut:
        """The feature collections: insured plots, crop claims, damage polygons."""
        root = base(request)
        found = [
            await run_in_threadpool(collection_out, root, name, user, lang)
            for name in COLLECTIONS
        ]
        return CollectionsOut(
            links=[Link(href=_url(root, "/collections"), rel="self", type=JSON)],
            collections=found,
        )

    @router.get(
        "/collections/{collectionId}",
        response_model=CollectionOut,
        response_model_exclude_none=True,
        responses=_json_doc(CollectionOut, "The collection."),
        dependencies=[_only("f")],
    )
    def collection(
        request: Request,
        collection_id: CollectionPath,
        user: Annotated[User, Depends(readers)],
        lang: ReaderLang,
        f: JsonFormat = None,
    ) -> CollectionOut:
        """One collection: its words, its extent (of the records the reader sees), its links."""
        return collection_out(base(request), collection_of(collection_id), user, lang)

    @router.get(
        "/collections/{collectionId}/items",
        response_class=JSONResponse,
        responses=_features_doc(FeatureCollectionOut, "A page of features."),
        dependencies=[_only("f", "bbox", "datetime", "limit", "offset")],
    )
    def items(
        request: Request,
        collection_id: CollectionPath,
        user: Annotated[User, Depends(readers)],
        bbox: BBoxQuery = None,
        datetime_: Annotated[DatetimeQuery, Query(alias="datetime")] = None,
        limit: LimitQuery = DEFAULT_LIMIT,
        offset: OffsetQuery = 0,
        f: FeatureFormat = None,
    ) -> JSONResponse:
        """A page of the collection's features (a farmer: his own), filtered and paged.

        ``numberMatched`` counts every feature the query matches,
        ``numberReturned`` those on the page; a ``next`` link follows while
        more remain.
        """
        name = collection_of(collection_id)
        boxes = parse_bbox(bbox) if bbox is not None else None
        days = parse_datetime(datetime_) if datetime_ is not None else (None, None)
        page = service().items(
            user, name, boxes=boxes, days=days, offset=offset, limit=limit
        )
        geojson = _wants_geojson(f, request.headers.get("accept"))
        return answer(
            _collection_doc(base(request), name, page, bbox, datetime_, limit, geojson),
            geojson,
        )

    @router.get(
        "/collections/{collectionId}/items/{featureId}",
        response_class=JSONResponse,
        responses=_features_doc(FeatureOut, "The feature."),
        dependencies=[_only("f")],
    )
    def item(
        request: Request,
        collection_id: CollectionPath,
        feature_id: FeaturePath,
        user: Annotated[User, Depends(readers)],
        f: FeatureFormat = None,
    ) -> JSONResponse:
        """One feature (a farmer: only his own; another farmer's is not found)."""
        name = collection_of(collection_id)
        feature = service().item(user, name, feature_id)
        geojson = _wants_geojson(f, request.headers.get("accept"))
        root = base(request)
        here = f"/collections/{name}/items/{feature['id']}"
        mine, other = (GEOJSON, JSON) if geojson else (JSON, GEOJSON)
        feature["links"] = [
            Link(href=_url(root, here), rel="self", type=mine).model_dump(
                exclude_none=True
            ),
            Link(
                href=_url(root, here, [("f", "json" if geojson else "geojson")]),
                rel="alternate",
                type=other,
            ).model_dump(exclude_none=True),
            Link(
                href=_url(root, f"/collections/{name}"), rel="collection", type=JSON
            ).model_dump(exclude_none=True),
        ]
        return answer(feature, geojson)

    return router


def _collection_doc(
    root: str,
    name: CollectionId,
    page: FeaturePage,
    bbox: str | None,
    datetime_: str | None,
    limit: int,
    geojson: bool,
) -> dict[str, Any]:
    """A page as a GeoJSON FeatureCollection with its links (self, alternate, next, prev)."""
    path = f"/collections/{name}/items"
    filters = [(k, v) for k, v in (("bbox", bbox), ("datetime", datetime_)) if v]

    def at(offset: int, f: str) -> str:
        query = [*filters, ("limit", str(limit))]
        if offset:
            query.append(("offset", str(offset)))
        return _url(root, path, [*query, ("f", f)])

    mine, other = ("geojson", "json") if geojson else ("json", "geojson")
    media = {"geojson": GEOJSON, "json": JSON}
    links = [
        {"href": at(page.offset, mine), "rel": "self", "type": media[mine]},
        {"href": at(page.offset, other), "rel": "alternate", "type": media[other]},
        {"href": _url(root, f"/collections/{name}"), "rel": "collection", "type": JSON},
    ]
    if page.has_next:
        following = page.offset + len(page.features)
        links.append({"href": at(following, mine), "rel": "next", "type": media[mine]})
    if page.offset > 0:
        before = max(0, page.offset - page.limit)
        links.append({"href": at(before, mine), "rel": "prev", "type": media[mine]})
    return {
        "type": "FeatureCollection",
        "features": page.features,
        "links": links,
        "numberMatched": page.matched,
        "numberReturned": len(page.features),
        "timeStamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


# --- the API definition, OpenAPI 3.0 -------------------------------------------------

_REASONS = {
    "400": "A query parameter is unknown or its value invalid (``field`` names it).",
    "401": "Not logged in, or the token expired.",
    "403": "The role may not read these records.",
    "404": "No such collection or feature (or another farmer's).",
    "413": "The request is over a limit.",
    "422": "The request holds NUL (U+0000) or a number that is not finite.",
}


def openapi30(routes: Sequence[Any]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the ``/ogc`` routes (what ``/ogc/api`` serves).

    FastAPI writes OpenAPI 3.1 schemas (JSON Schema 2020-12); they are
    written back in 3.0's dialect (``nullable``, ``example``, ``enum`` for
    ``const``), and every refusal is the API's one error body.
    """
    doc = get_openapi(
        title="Agricultural insurance: OGC API - Features",
        version="1",
        openapi_version="3.0.3",
        description="Insured plots, crop claims and damage polygons as feature "
        "collections (OGC API - Features - Part 1: Core, GeoJSON, OpenAPI 3.0). "
        "Every route needs the API's bearer token.",
        routes=list(routes),
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorOut"] = ErrorOut.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for item in doc.get("paths", {}).values():
        for op in item.values():
            responses = op.setdefault("responses", {})
            for code, reason in _REASONS.items():
                responses[code] = {
                    "description": reason,
                    "content": {JSON: {"schema": error}},
                }
    out: dict[str, Any] = _to_30(doc)
    return out


def _to_30(node: Any) -> Any:
    """A JSON Schema 2020-12 fragment (as FastAPI writes) in OpenAPI 3.0's dialect."""
    if isinstance(node, list):
        return [_to_30(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_30(v) for k, v in node.items()}
    any_of = out.get("anyOf")
    if isinstance(any_of, list) and {"type": "null"} in any_of:
        rest = [x for x in any_of if x != {"type": "null"}]
        del out["anyOf"]
        out["nullable"] = True
        if len(rest) == 1 and "$ref" not in rest[0]:
            out.update(rest[0])
        elif rest:
            out["anyOf"] = rest
    if "const" in out:
        out["enum"] = [out.pop("const")]
    examples = out.get("examples")
    if isinstance(examples, list):
        del out["examples"]
        if examples:
            out["example"] = examples[0]
    for key, bound in (
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ):
        value = out.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[bound] = value
            out[key] = True
    return out
