"""OGC API - Features at /ogc: the classes it declares are the ones it meets, and GDAL reads it.

The world: farmer F-1 insures nine Austrian fields (AT-0488 and its eight
peers) from 1 April 2021, farmer F-2 six more from 15 May 2021; F-1's hail
claim on AT-0488 is assessed on a pair with hail planted on the field's real
pixels (damage polygons stored), F-2 has an unassessed claim on AT-0010 and
one on AT-0011 on another day.

* Core and GeoJSON, against the requirements claimed (``/req/core/...``,
  ``/req/geojson/...``): the landing page's links, the conformance
  declaration, collections with extents and an items link per encoding,
  items pages with ``numberMatched`` / ``numberReturned``, self, alternate,
  collection and next links followed to the end, ``bbox`` on the shapes (a box
  that meets a plot's bounds but not the plot leaves it out, on SQLite too),
  across the antimeridian, ``datetime`` instants and open and closed
  intervals, ``limit``, one feature by id; 400 naming the parameter for a
  bad value or an unknown parameter; every answer valid GeoJSON (RFC 7946,
  right-hand rule) and valid against the API definition's own schemas.
* OpenAPI 3.0: ``/ogc/api`` is a valid OpenAPI 3.0 document
  (openapi-spec-validator) naming exactly the routes served.
* Access: a farmer reads only his own features; another's by id is 404; no
  token is 401 with ``WWW-Authenticate: Bearer``.
* GDAL's OAPIF driver (Debian's ``ogr2ogr``, as QGIS opens such a service)
  against ``agri serve`` on a loopback port, the token in
  ``GDAL_HTTP_HEADERS``: every collection read whole (paged by GDAL's own
  page size of 10: the next links), its count, ids, areas and shapes equal to
  the records; a spatial filter (GDAL sends ``bbox``) reads the same features
  as the API's own answer.

Each test runs on SQLite and on PostgreSQL (PostGIS).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import shapely
from fastapi.testclient import TestClient
from geojson_pydantic import Feature, FeatureCollection
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_openapi
from sqlalchemy import select

from server.context import AppContext
from server.http.app import create_app
from server.http.ogc import CONFORMANCE, GEOJSON, OPENAPI30
from server.services.auth import UserStore
from server.services.work import reading
from server.storage.schema import claim_assessments, plots
from tests.server.live import agri_serve
from tests.server.pages_records import PASSWORD, PEERS, crop_policy, hail_pair

OGC = "/ogc"
HAIL_PLOT = "AT-0488"
F1_PLOTS = [HAIL_PLOT, *PEERS]
F2_PLOTS = [f"AT-{i:04d}" for i in range(10, 16)]
HAIL_DAY = date(2021, 6, 20)
F2_DAYS = {"AT-0010": date(2021, 6, 24), "AT-0011": date(2021, 7, 2)}
USERS = {"adjuster": ("adjuster", None), "farmer": ("farmer", "F-1")}
COLLECTIONS = ("plots", "claims", "damage")


@dataclass(frozen=True)
class World:
    """The records, as the database holds them, to compare the features with."""

    app: AppContext
    plots: dict[str, dict[str, Any]]  # row id -> farmer, ref, policy, shape, area_m2
    claims: dict[str, dict[str, Any]]  # claim id -> farmer, ref, day, shape
    damage: dict[str, Any]  # claim id -> the damage polygons' shape


def _file(app: AppContext, policy: str, farmer: str, plot: str, day: date) -> str:
    return app.claims.file(
        policy_id=policy,
        farmer_id=farmer,
        subject_kind="plot",
        subject_id=plot,
        event_date=day,
        reported_at=datetime.combine(day, datetime.min.time(), UTC),
        claimed_fraction=0.8,
        growth_stage="heading",
        actor="agent",
    ).id


@pytest.fixture
def world(app: AppContext, shared_data: Path, tmp_path: Path) -> World:
    _, policy1 = crop_policy(app, F1_PLOTS, farmer="F-1")
    _, policy2 = crop_policy(app, F2_PLOTS, farmer="F-2", start=date(2021, 5, 15))
    before, after = hail_pair(shared_data, tmp_path, [HAIL_PLOT])
    hail = _file(app, policy1, "F-1", HAIL_PLOT, HAIL_DAY)
    app.claims.assess_by_map(hail, before, after, actor="adjuster")
    with reading(app.engine) as conn:
        rows = conn.execute(
            select(
                plots.c.id,
                plots.c.plot_ref,
                plots.c.farmer_id,
                plots.c.policy_id,
                plots.c.geometry,
                plots.c.area_m2,
            )
        ).all()
        stored = json.loads(
            conn.execute(
                select(claim_assessments.c.damage).where(
                    claim_assessments.c.claim_id == hail
                )
            ).scalar_one()
        )
    records = {
        r.id: {
            "farmer": r.farmer_id,
            "ref": r.plot_ref,
            "policy": r.policy_id,
            "shape": shapely.from_wkb(bytes(r.geometry)),
            "area_m2": round(float(r.area_m2), 2),
        }
        for r in rows
    }
    by_ref = {(p["policy"], p["ref"]): p for p in records.values()}
    claims = {hail: {"farmer": "F-1", "ref": HAIL_PLOT, "day": HAIL_DAY}}
    for ref, day in F2_DAYS.items():
        claims[_file(app, policy2, "F-2", ref, day)] = {
            "farmer": "F-2",
            "ref": ref,
            "day": day,
        }
    for c in claims.values():
        policy = policy1 if c["farmer"] == "F-1" else policy2
        c["shape"] = by_ref[(policy, c["ref"])]["shape"]
    assert stored["features"], "the planted hail drew no damage polygon"
    damage = {
        hail: shapely.union_all(
            [shapely.geometry.shape(f["geometry"]) for f in stored["features"]]
        )
    }
    users = UserStore(app.engine)
    for name, (role, farmer) in USERS.items():
        users.create(name, PASSWORD, role, farmer)
    return World(app, records, claims, damage)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.app), raise_server_exceptions=False) as c:
        yield c


def _token(client: Any, user: str, base: str = "") -> dict[str, str]:
    r = client.post(
        f"{base}/api/v1/auth/token", json={"username": user, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# --- helpers ---------------------------------------------------------------------------


def _ids(doc: dict[str, Any]) -> list[str]:
    return [f["id"] for f in doc["features"]]


def _links(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for link in doc["links"]:
        out.setdefault(link["rel"], []).append(link)
    return out


def _right_handed(shape: Any) -> bool:
    """RFC 7946: exterior rings counter-clockwise, holes clockwise."""
    for polygon in shapely.get_parts(shape):
        if not shapely.is_ccw(polygon.exterior):
            return False
        if any(shapely.is_ccw(ring) for ring in polygon.interiors):
            return False
    return True


def _valid_against(definition: dict[str, Any], name: str, instance: Any) -> None:
    """``instance`` is valid against the API definition's schema ``name`` (OpenAPI 3.0)."""
    schema = {
        "$ref": f"#/components/schemas/{name}",
        "components": definition["components"],
    }
    OAS30Validator(schema).validate(instance)


def _expected(world: World, collection: str, farmer: str | None = None) -> set[str]:
    records: dict[str, dict[str, Any]] = {
        "plots": world.plots,
        "claims": world.claims,
        "damage": {c: world.claims[c] for c in world.damage},
    }[collection]
    return {k for k, r in records.items() if farmer is None or r["farmer"] == farmer}


def _shape_of(world: World, collection: str, fid: str) -> Any:
    if collection == "plots":
        return world.plots[fid]["shape"]
    if collection == "claims":
        return world.claims[fid]["shape"]
    return world.damage[fid]


def _all_pages(
    client: TestClient, url: str, headers: dict[str, str]
) -> tuple[list[str], int, int]:
    """Follow the next links from ``url``: every id, numberMatched, the pages read."""
    ids: list[str] = []
    pages = 0
    matched = -1
    next_url: str | None = url
    while next_url is not None:
        r = client.get(next_url, headers=headers)
        assert r.status_code == 200, r.text
        doc = r.json()
        pages += 1
        assert doc["numberReturned"] == len(doc["features"])
        matched = doc["numberMatched"]
        ids += _ids(doc)
        nexts = _links(doc).get("next", [])
        assert len(nexts) <= 1
        next_url = nexts[0]["href"] if nexts else None
        if next_url is not None:  # a next link only while features remain
            assert len(ids) < matched
        assert pages < 100
    return ids, matched, pages


# --- Core, GeoJSON, OpenAPI 3.0 -------------------------------------------------------


def test_the_landing_page_conformance_and_definition_are_what_they_claim(
    world: World, client: TestClient
) -> None:
    staff = _token(client, "adjuster")
    landing = client.get(OGC, headers=staff)
    assert landing.status_code == 200, landing.text
    assert landing.headers["content-type"].startswith("application/json")
    links = _links(landing.json())
    # /req/core/root-success: the definition, the conformance, the data
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    assert links["service-desc"][0]["type"] == OPENAPI30
    for rel in ("self", "service-desc", "conformance", "data"):
        link = links[rel][0]
        r = client.get(link["href"], headers=staff)
        assert r.status_code == 200, (rel, r.text)
        assert r.headers["content-type"].replace(" ", "") == link["type"].replace(
            " ", ""
        ), rel
    # /req/core/conformance-success: exactly the classes met
    conf = client.get(links["conformance"][0]["href"], headers=staff).json()
    assert conf["conformsTo"] == list(CONFORMANCE)
    assert not any(c.endswith("/html") for c in conf["conformsTo"])
    # /req/oas30/oas-definition-1, -2: a valid OpenAPI 3.0 document of exactly these routes
    definition = client.get(links["service-desc"][0]["href"], headers=staff).json()
    assert definition["openapi"].startswith("3.0.")
    validate_openapi(definition)
    served = {
        path
        for path, ops in client.get("/api/v1/openapi.json").json()["paths"].items()
        if path.startswith(OGC)
    }
    assert set(definition["paths"]) == served
    # /req/oas30/security: the bearer token is declared on every operation
    schemes = definition["components"]["securitySchemes"]
    for item in definition["paths"].values():
        for op in item.values():
            assert {next(iter(s)) for s in op["security"]} <= set(schemes)
            assert {"400", "401", "404"} <= set(op["responses"])
    # every answer is valid against the definition's own schemas
    _valid_against(definition, "LandingPage", landing.json())
    _valid_against(definition, "ConfClasses", conf)
    collections = client.get(f"{OGC}/collections", headers=staff).json()
    _valid_against(definition, "CollectionsOut", collections)
    assert [c["id"] for c in collections["collections"]] == list(COLLECTIONS)
    for c in collections["collections"]:
        # /req/core/sfc-md-links: an items link per encoding
        types = {link["type"] for link in c["links"] if link["rel"] == "items"}
        assert types == {GEOJSON, "application/json"}
        one = client.get(f"{OGC}/collections/{c['id']}", headers=staff)
        assert one.json() == c
        # /req/core/sfc-md-extent: the extent holds every feature
        west, south, east, north = c["extent"]["spatial"]["bbox"][0]
        box = shapely.box(west, south, east, north)
        for fid in _expected(world, c["id"]):
            assert box.covers(_shape_of(world, c["id"], fid)), (c["id"], fid)
        first, last = c["extent"]["temporal"]["interval"][0]
        assert first is not None and last is not None and first <= last
        for rel in ("items",):
            for link in (x for x in c["links"] if x["rel"] == rel):
                page = client.get(link["href"], headers=staff)
                assert page.status_code == 200
                assert page.headers["content-type"] == link["type"]
                _valid_against(definition, "FeatureCollectionOut", page.json())
    # the titles speak the reader's language
    zh = client.get(OGC, headers=staff | {"Accept-Language": "zh-CN"}).json()
    assert zh["title"] != landing.json()["title"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh["title"])


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_items_page_filter_and_link_as_the_core_requires(
    world: World, client: TestClient, collection: str
) -> None:
    staff = _token(client, "adjuster")
    definition = client.get(f"{OGC}/api", headers=staff).json()
    items = f"{OGC}/collections/{collection}/items"
    expected = _expected(world, collection)
    r = client.get(items, headers=staff)
    assert r.status_code == 200, r.text
    # /req/geojson/definition, /req/geojson/content
    assert r.headers["content-type"] == GEOJSON
    doc = r.json()
    FeatureCollection.model_validate(doc)
    _valid_against(definition, "FeatureCollectionOut", doc)
    # /req/core/fc-response: every match (under the default limit), counted
    assert set(_ids(doc)) == expected and len(_ids(doc)) == len(expected)
    assert doc["numberMatched"] == doc["numberReturned"] == len(expected)
    for f in doc["features"]:
        shape = shapely.geometry.shape(f["geometry"])
        assert _right_handed(shape), f["id"]
        assert shape.equals_exact(_shape_of(world, collection, f["id"]), 1e-9) or (
            shape.symmetric_difference(_shape_of(world, collection, f["id"])).area
            < 1e-14
        ), f["id"]
        if collection == "plots":
            assert f["properties"]["area_m2"] == world.plots[f["id"]]["area_m2"]
    # /req/core/fc-links: self and alternate (the other encoding), and the collection
    links = _links(doc)
    assert links["self"][0]["type"] == GEOJSON
    assert links["alternate"][0]["type"] == "application/json"
    alternate = client.get(links["alternate"][0]["href"], headers=staff)
    assert alternate.headers["content-type"] == "application/json"
    assert _ids(alternate.json()) == _ids(doc)
    assert "next" not in links
    # Accept decides without f
    plain = client.get(items, headers=staff | {"Accept": "application/json"})
    assert plain.headers["content-type"] == "application/json"
    # /req/core/fc-limit-response-1, fc-next-1..3: pages of 2 followed to the end
    ids, matched, pages = _all_pages(client, f"{items}?limit=2", staff)
    assert sorted(ids) == sorted(expected) and matched == len(expected)
    assert pages == -(-len(expected) // 2)
    # /req/core/f-success, f-links: each feature by its id
    for fid in expected:
        one = client.get(f"{items}/{fid}", headers=staff)
        assert one.status_code == 200, one.text
        assert one.headers["content-type"] == GEOJSON
        feature = one.json()
        Feature.model_validate(feature)
        _valid_against(definition, "FeatureOut", feature)
        assert {"self", "alternate", "collection"} <= set(_links(feature))
        listed = next(f for f in doc["features"] if f["id"] == fid)
        assert feature["geometry"] == listed["geometry"]
        assert feature["properties"] == listed["properties"]
    unknown = client.get(f"{items}/no-such-feature", headers=staff)
    assert unknown.status_code == 404 and unknown.json()["field"] == "featureId"


def _fetch(client: TestClient, collection: str, query: str, headers: Any) -> set[str]:
    r = client.get(f"{OGC}/collections/{collection}/items?{query}", headers=headers)
    assert r.status_code == 200, (query, r.text)
    doc = r.json()
    assert doc["numberMatched"] == len(doc["features"]), query
    return set(_ids(doc))


def test_bbox_tests_the_shapes_and_crosses_the_antimeridian(
    world: World, client: TestClient
) -> None:
    staff = _token(client, "adjuster")
    hail_id = next(k for k, p in world.plots.items() if p["ref"] == HAIL_PLOT)
    hail = world.plots[hail_id]["shape"]
    # /req/core/fc-bbox-response: the features whose shape meets the box
    box = shapely.box(*hail.bounds)
    bbox = ",".join(repr(v) for v in hail.bounds)
    for collection in COLLECTIONS:
        want = {
            fid
            for fid in _expected(world, collection)
            if _shape_of(world, collection, fid).intersects(box)
        }
        assert want, collection
        assert _fetch(client, collection, f"bbox={bbox}", staff) == want
    # A box inside a plot's bounds but outside every plot: the bounds meet, no shape does.
    everything = shapely.union_all([p["shape"] for p in world.plots.values()])
    corner = None
    for fid, p in world.plots.items():
        hole = shapely.box(*p["shape"].bounds).difference(everything.buffer(1e-5))
        if hole.area > 1e-12:
            corner = (fid, hole.representative_point().buffer(1e-7).bounds)
            break
    assert corner is not None, "every plot fills its bounds: no test of the shapes"
    fid, small = corner
    assert shapely.box(*world.plots[fid]["shape"].bounds).intersects(
        shapely.box(*small)
    )
    assert _fetch(client, "plots", "bbox=" + ",".join(map(repr, small)), staff) == set()
    # Six numbers (heights ignored), and a box across the antimeridian.
    w, s, e, n = hail.bounds
    six = f"{w!r},{s!r},0,{e!r},{n!r},100"
    assert _fetch(client, "plots", f"bbox={six}", staff) == _fetch(
        client, "plots", f"bbox={bbox}", staff
    )
    assert _fetch(client, "plots", "bbox=170,-90,-170,90", staff) == set()
    assert _fetch(client, "plots", "bbox=10,-90,-170,90", staff) == set(world.plots)
    # GDAL writes %.18g: 17 decimals and exponents pass
    assert _fetch(client, "plots", "bbox=1.00000000000000008e-05,0,179.9,89.9", staff)


def test_datetime_instants_and_intervals_meet_the_features_days(
    world: World, client: TestClient
) -> None:
    staff = _token(client, "adjuster")
    by_day = {c["day"]: cid for cid, c in world.claims.items()}
    hail, june24, july2 = (
        by_day[HAIL_DAY],
        by_day[date(2021, 6, 24)],
        by_day[date(2021, 7, 2)],
    )
    claims = {
        "2021-06-20": {hail},
        "2021-06-20T23:59:59Z": {hail},
        "2021-06-21/2021-06-30": {june24},
        # 01:30 in UTC+3 is 22:30 UTC the day before: 24 June
        "2021-06-25T01:30:00%2B03:00": {june24},
        "2021-06-24T23:30:00-02:00": set(),  # 25 June in UTC
        "2021-07-01/..": {july2},
        "../2021-06-20": {hail},
        "/2021-06-24": {hail, june24},
        "../..": {hail, june24, july2},
        "2021-06-20T00:00:00.123456789Z/2021-07-02T00:00:00Z": {hail, june24, july2},
    }
    for query, want in claims.items():
        assert _fetch(client, "claims", f"datetime={query}", staff) == want, query
    f1 = {k for k, p in world.plots.items() if p["farmer"] == "F-1"}
    periods = {
        "2021-04-15": f1,  # F-2's policies start on 15 May
        "2021-05-15": set(world.plots),
        "2021-10-31/..": set(world.plots),
        "../2021-03-31": set(),
        "2021-11-01/..": set(),
    }
    for query, want in periods.items():
        assert _fetch(client, "plots", f"datetime={query}", staff) == want, query
    assert _fetch(client, "damage", "datetime=2021-06-20", staff) == {hail}
    assert _fetch(client, "damage", "datetime=2021-06-21/..", staff) == set()


BAD = [
    ("bbox=1,2,3", "bbox"),
    ("bbox=0,50,10,40", "bbox"),  # south beyond north
    ("bbox=0,0,200,10", "bbox"),
    ("bbox=a,b,c,d", "bbox"),
    ("datetime=2021-02-30", "datetime"),
    ("datetime=2021-06-30/2021-06-01", "datetime"),
    ("datetime=yesterday", "datetime"),
    ("datetime=2021-06-01/2021-06-02/2021-06-03", "datetime"),
    ("limit=0", "limit"),
    ("limit=ten", "limit"),
    ("offset=-1", "offset"),
    ("f=html", "f"),
    ("color=red", "color"),
]


def test_a_bad_parameter_is_400_naming_it(world: World, client: TestClient) -> None:
    """/req/core/query-param-invalid, query-param-unknown: 400 in the one error body."""
    staff = _token(client, "adjuster")
    for query, field in BAD:
        r = client.get(f"{OGC}/collections/plots/items?{query}", headers=staff)
        assert r.status_code == 400, (query, r.status_code, r.text)
        body = r.json()
        assert set(body) == {"detail", "field"} and body["field"] == field, query
        assert body["detail"], query
    r = client.get(f"{OGC}/conformance?limit=3", headers=staff)
    assert r.status_code == 400 and r.json()["field"] == "limit"
    r = client.get(f"{OGC}/collections/fields/items", headers=staff)
    assert r.status_code == 404 and r.json()["field"] == "collectionId"
    # a limit over the page size is served in pages, never refused
    r = client.get(f"{OGC}/collections/plots/items?limit=10000", headers=staff)
    assert r.status_code == 200 and r.json()["numberReturned"] == len(world.plots)


def test_a_farmer_reads_only_his_own_features(world: World, client: TestClient) -> None:
    anonymous = client.get(f"{OGC}/collections/plots/items")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert client.get(OGC).status_code == 401
    farmer = _token(client, "farmer")
    for collection in COLLECTIONS:
        mine = _expected(world, collection, "F-1")
        theirs = _expected(world, collection, "F-2")
        assert mine, collection
        ids, matched, _ = _all_pages(
            client, f"{OGC}/collections/{collection}/items?limit=4", farmer
        )
        assert set(ids) == mine and matched == len(mine), collection
        for fid in theirs:
            r = client.get(
                f"{OGC}/collections/{collection}/items/{fid}", headers=farmer
            )
            assert r.status_code == 404, (collection, fid, r.text)
            assert "F-2" not in r.text  # nothing of the record beyond the id sent
        for fid in mine:
            r = client.get(
                f"{OGC}/collections/{collection}/items/{fid}", headers=farmer
            )
            assert r.status_code == 200, r.text
    # the extent a farmer reads is of his own plots
    extent = client.get(f"{OGC}/collections/plots", headers=farmer).json()["extent"]
    own = shapely.union_all(
        [p["shape"] for p in world.plots.values() if p["farmer"] == "F-1"]
    ).bounds
    assert extent["spatial"]["bbox"][0] == pytest.approx(list(own))
    assert extent["temporal"]["interval"][0][0] == "2021-04-01"


# --- GDAL's OAPIF driver against a real server ------------------------------------------

OGR2OGR = shutil.which("ogr2ogr")
OGRINFO = shutil.which("ogrinfo")
needs_gdal = pytest.mark.skipif(
    (OGR2OGR is None or OGRINFO is None) and not os.environ.get("CI"),  # CI has them
    reason="GDAL's command line tools (Debian's gdal-bin) are not installed: make setup",
)


@pytest.fixture
def served(world: World, db_url: str, tmp_path: Path, key_file: Path) -> Iterator[str]:
    """``agri serve`` on a loopback port over the world's database; its base URL."""
    env = {
        "AGRI_DATABASE_URL": db_url,
        "AGRI_DATA_DIR": str(tmp_path / "var"),
        "AGRI_LEDGER_KEY_FILE": str(key_file),
        "AGRI_ANCHOR_ENABLED": "false",
    }
    with agri_serve(env) as (base, _):
        yield base


def _gdal_env(token: dict[str, str] | None) -> dict[str, str]:
    env = os.environ | {"GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF"}
    env.pop("GDAL_HTTP_HEADERS", None)
    if token is not None:
        # GDAL >= 3.6; GDAL_HTTP_AUTH=BEARER with GDAL_HTTP_BEARER from 3.9 on
        env["GDAL_HTTP_HEADERS"] = f"Authorization: {token['Authorization']}"
    return env


def _ogr2ogr(
    base: str, layer: str, out: Path, token: dict[str, str], *spat: float
) -> tuple[dict[str, Any], str]:
    """What GDAL reads of ``layer`` (as QGIS opens it), as GeoJSON, and the URLs it fetched."""
    assert OGR2OGR is not None
    args = [OGR2OGR, "-f", "GeoJSON", str(out), f"OAPIF:{base}{OGC}", layer]
    if spat:
        args += ["-spat", *(repr(v) for v in spat)]
    env = _gdal_env(token) | {"CPL_DEBUG": "ON"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(out.read_text())
    fetched = "\n".join(
        line for line in done.stderr.splitlines() if "HTTP: Fetch" in line
    )
    return doc, fetched


@needs_gdal
def test_gdal_reads_every_collection_as_the_records_hold_it(
    world: World, served: str, tmp_path: Path
) -> None:
    staff = _token(httpx2, "adjuster", served)
    assert OGRINFO is not None
    # The layers and their counts (numberMatched), as QGIS lists them.
    info = subprocess.run(
        [OGRINFO, "-ro", "-so", "-al", f"OAPIF:{served}{OGC}"],
        env=_gdal_env(staff),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert info.returncode == 0, info.stderr
    for collection in COLLECTIONS:
        assert f"Layer name: {collection}" in info.stdout
    counts = [int(x) for x in re.findall(r"Feature Count: (\d+)", info.stdout)]
    assert counts == [len(_expected(world, c)) for c in COLLECTIONS], info.stdout
    for collection in COLLECTIONS:
        doc, fetched = _ogr2ogr(
            served, collection, tmp_path / f"{collection}.geojson", staff
        )
        got = {f["properties"]["id"]: f for f in doc["features"]}
        # every feature once (plots: 15 in pages of GDAL's 10, by the next link)
        assert len(got) == len(doc["features"]) == len(_expected(world, collection))
        if collection == "plots":
            assert "offset=10" in fetched, fetched
        assert set(got) == _expected(world, collection), collection
        for fid, f in got.items():
            shape = shapely.geometry.shape(f["geometry"])
            record = _shape_of(world, collection, fid)
            assert shapely.hausdorff_distance(shape, record) < 1e-9, (collection, fid)
            props = f["properties"]
            if collection == "plots":
                assert props["area_m2"] == world.plots[fid]["area_m2"]
                assert props["plot_id"] == world.plots[fid]["ref"]
                assert props["farmer_id"] == world.plots[fid]["farmer"]
            elif collection == "claims":
                assert props["plot_id"] == world.claims[fid]["ref"]
                # GDAL reads the ISO day as a date field (and writes it 2021/06/20)
                day = props["event_date"].replace("/", "-")
                assert day == world.claims[fid]["day"].isoformat()
            else:
                assert props["damaged_area_m2"] > 0
    # A spatial filter in GDAL (QGIS's view) reads what the API's bbox answers.
    hail = next(p["shape"] for p in world.plots.values() if p["ref"] == HAIL_PLOT)
    w, s, e, n = hail.bounds
    doc, fetched = _ogr2ogr(
        served, "plots", tmp_path / "view.geojson", staff, w, s, e, n
    )
    assert "bbox=" in fetched, fetched  # the filter is the server's, not only GDAL's
    bbox = ",".join(repr(v) for v in (w, s, e, n))
    api = httpx2.get(
        f"{served}{OGC}/collections/plots/items?bbox={bbox}", headers=staff
    ).json()
    assert {f["properties"]["id"] for f in doc["features"]} == set(_ids(api))
    assert len(doc["features"]) == api["numberMatched"] >= 1
    # A farmer's GDAL reads his own plots only; without a token GDAL gets nothing.
    farmer = _token(httpx2, "farmer", served)
    doc, _ = _ogr2ogr(served, "plots", tmp_path / "mine.geojson", farmer)
    assert {f["properties"]["id"] for f in doc["features"]} == _expected(
        world, "plots", "F-1"
    )
    refused = subprocess.run(
        [OGRINFO, "-ro", "-so", f"OAPIF:{served}{OGC}"],
        env=_gdal_env(None),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode != 0
