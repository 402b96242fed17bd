"""Scenes over HTTP: the list, TileJSON 3.0.0 and XYZ tiles of the real Sentinel-2 pair."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import morecantile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ledger.adapters.memory import InMemoryAnchor
from server.chain import ChainContext
from server.cli.imagery import register_demo_scenes
from server.config import Settings
from server.context import AppContext, build_context
from server.http.app import create_app
from server.services.auth import UserStore
from server.services.imagery import ImageryService, TileCache

API = "/api/v1"
PASSWORD = "correct horse battery"
PAIR = "sentinel2/austria_T33UUP_2021-06-17_2021-09-25.tif"
AFTER, BEFORE = "austria-2021-09-25", "austria-2021-06-17"
TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def imagery_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("imagery")
    register_demo_scenes(folder, shared_data / PAIR)
    return folder


@pytest.fixture
def ctx(tmp_path: Path, key_file: Path, imagery_dir: Path) -> Iterator[AppContext]:
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'agri.db'}",
        ledger_key_file=key_file,
        anchor_enabled=False,
        imagery_dir=imagery_dir,
    )
    app = build_context(
        settings, chain=ChainContext(InMemoryAnchor(), ephemeral=False, contract="m")
    )
    yield app
    app.close()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    UserStore(ctx.engine).create("wang.fang", PASSWORD, "adjuster")
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        yield c


def _token(client: TestClient) -> dict[str, str]:
    r = client.post(
        f"{API}/auth/token", json={"username": "wang.fang", "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _centre_tile(client: TestClient, scene: str, z: int) -> morecantile.Tile:
    doc = client.get(f"{API}/scenes/{scene}/tilejson.json").json()
    lon, lat, _ = doc["center"]
    return TMS.tile(lon, lat, z)


def test_scenes_are_listed_by_date_with_bounds_and_zooms_for_a_logged_in_user(
    client: TestClient,
) -> None:
    assert client.get(f"{API}/scenes").status_code == 401
    r = client.get(f"{API}/scenes", headers=_token(client))
    assert r.status_code == 200, r.text
    page = r.json()
    assert (page["total"], page["offset"], page["limit"]) == (2, 0, 50)
    first, second = page["items"]
    assert [first["name"], second["name"]] == [BEFORE, AFTER]
    assert first["date"] == "2021-06-17" and first["crs"] == "EPSG:32633"
    w, s, e, n = first["bounds"]
    assert 13.0 < w < e < 13.3 and 48.2 < s < n < 48.4
    assert (first["minzoom"], first["maxzoom"]) == (12, 13)
    assert first["bands"] == {"red": 1, "green": 2, "blue": 3, "nir": 4}
    assert first["layers"] == ["truecolor", "ndvi", "damage"]
    one = client.get(f"{API}/scenes?offset=1&limit=1", headers=_token(client)).json()
    assert [x["name"] for x in one["items"]] == [AFTER] and one["total"] == 2


@pytest.mark.parametrize("layer", ["truecolor", "ndvi", "damage"])
def test_tilejson_is_tilejson_3_whose_tiles_url_answers_an_image(
    client: TestClient, layer: str
) -> None:
    r = client.get(
        f"{API}/scenes/{AFTER}/tilejson.json", params={"layer": layer, "before": BEFORE}
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["tilejson"] == "3.0.0"
    assert set(doc) >= {
        "tiles",
        "bounds",
        "center",
        "minzoom",
        "maxzoom",
        "name",
        "attribution",
    }
    assert doc["attribution"].startswith("Contains modified Copernicus Sentinel data")
    (url,) = doc["tiles"]
    query = f"?layer={layer}" + (f"&before={BEFORE}" if layer == "damage" else "")
    assert url == f"{API}/scenes/{AFTER}/tiles/{{z}}/{{x}}/{{y}}.png{query}"
    w, s, e, n = doc["bounds"]
    lon, lat, zoom = doc["center"]
    assert w < lon < e and s < lat < n and zoom == doc["minzoom"]
    t = TMS.tile(lon, lat, doc["maxzoom"])
    tile = client.get(url.format(z=t.z, x=t.x, y=t.y))
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(tile.content))
    assert image.size == (256, 256) and image.mode == "RGBA"


def test_tiles_need_no_token_and_are_cached_with_an_etag_and_304(
    client: TestClient,
) -> None:
    t = _centre_tile(client, AFTER, 13)
    url = f"{API}/scenes/{AFTER}/tiles/{t.z}/{t.x}/{t.y}.png?layer=ndvi"
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and "max-age=" in first.headers["cache-control"]
    assert "public" in first.headers["cache-control"]
    second = client.get(url)
    assert second.content == first.content and second.headers["etag"] == etag
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    weak = client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    other = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content
    webp = client.get(url.replace(".png", ".webp"))
    assert webp.headers["content-type"] == "image/webp"
    assert webp.headers["etag"] != etag and webp.content[8:12] == b"WEBP"


def test_the_cache_returns_the_same_bytes_without_rendering_again(
    imagery_dir: Path,
) -> None:
    service = ImageryService(imagery_dir)
    t = TMS.tile(*service.scene(AFTER).center, 13)
    first = service.tile(AFTER, "damage", t.z, t.x, t.y, before=BEFORE)
    assert (service.cache.misses, service.cache.hits, len(service.cache)) == (1, 0, 1)
    second = service.tile(AFTER, "damage", t.z, t.x, t.y, before=BEFORE)
    assert second == first and service.cache.hits == 1
    assert service.cache.size == len(first.content or b"")


def test_the_tile_cache_keeps_the_most_recently_used_within_its_bytes() -> None:
    cache = TileCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # now a is the most recent
    cache.put("c", b"1234")  # 12 bytes: b, the least recently used, goes
    assert (cache.get("b"), cache.get("a"), cache.get("c")) == (None, b"1234", b"1234")
    assert cache.size == 8
    cache.put("huge", b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get("huge") is None and cache.size == 8


def test_a_tile_outside_the_scene_is_204_with_no_body(client: TestClient) -> None:
    t = TMS.tile(0.0, 0.0, 13)
    for layer in ("truecolor", "ndvi", "damage"):
        r = client.get(
            f"{API}/scenes/{AFTER}/tiles/{t.z}/{t.x}/{t.y}.png",
            params={"layer": layer, "before": BEFORE},
        )
        assert (r.status_code, r.content) == (204, b""), layer


def test_a_tile_far_below_the_scenes_zoom_costs_no_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An anonymous low-zoom damage tile (the scene a few pixels of it) renders nothing."""
    import server.services.imagery as imagery

    def no_render(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("a tile below the scene's zoom was rendered")

    monkeypatch.setattr(imagery, "render_tile", no_render)
    doc = client.get(f"{API}/scenes/{AFTER}/tilejson.json").json()
    z = doc["minzoom"] - imagery.UNDERZOOM - 1
    t = _centre_tile(client, AFTER, z)
    for layer in ("truecolor", "damage"):
        r = client.get(
            f"{API}/scenes/{AFTER}/tiles/{t.z}/{t.x}/{t.y}.png",
            params={"layer": layer, "before": BEFORE},
        )
        assert (r.status_code, r.content) == (204, b""), layer


@pytest.mark.parametrize(
    ("path", "status", "field", "detail"),
    [
        ("/scenes/nope/tilejson.json", 404, "scene", "no scene 'nope'"),
        ("/scenes/nope/tiles/13/4395/2837.png", 404, "scene", "no scene 'nope'"),
        ("/scenes/../x/tilejson.json", 404, None, "Not Found"),
        ("/scenes/..%2Fx/tilejson.json", 404, None, "Not Found"),
        ("/scenes/%2E%2E/tilejson.json", 404, "scene", "scene name '..'"),
        ("/scenes/a.tif/tiles/13/4395/2837.png", 404, "scene", "scene name 'a.tif'"),
        (
            "/scenes/catalogue/tiles/13/4395/2837.png",
            404,
            "scene",
            "no scene 'catalogue'",
        ),
        (
            f"/scenes/{AFTER}/tiles/13/4395/2837.png?layer=damage&before=..",
            404,
            "before",
            "scene name '..'",
        ),
        (
            f"/scenes/{AFTER}/tiles/13/4395/2837.png?layer=damage",
            422,
            "before",
            "name the earlier one",
        ),
        (
            f"/scenes/{BEFORE}/tilejson.json?layer=damage&before={AFTER}",
            422,
            "before",
            "is not earlier than",
        ),
        (
            f"/scenes/{AFTER}/tiles/13/4395/2837.png?layer=damage&before={AFTER}",
            422,
            "before",
            "is not earlier than",
        ),
        (f"/scenes/{AFTER}/tilejson.json?layer=infrared", 422, "layer", "layer"),
        (f"/scenes/{AFTER}/tiles/2/4/0.png", 422, "z", "tile 2/4/0"),
        (f"/scenes/{AFTER}/tiles/25/0/0.png", 422, "z", "less than or equal to 24"),
        # Past the scene's detail (maxzoom 13, two levels of overzoom): not rendered.
        (f"/scenes/{AFTER}/tiles/16/35160/22700.png", 422, "z", "no detail beyond"),
        (f"/scenes/{AFTER}/tiles/13/4395/2837.gif", 422, "format", "png"),
    ],
)
def test_bad_names_and_requests_get_the_error_body(
    client: TestClient, path: str, status: int, field: str | None, detail: str
) -> None:
    r = client.get(API + path)
    assert r.status_code == status, r.text
    body = r.json()
    assert body.get("field") == field and detail in body["detail"], body


def test_a_corrupt_scene_file_is_a_422_naming_the_imagery_not_a_500(
    tmp_path: Path, shared_data: Path
) -> None:
    folder = tmp_path / "imagery"
    (scene, _) = register_demo_scenes(folder, shared_data / PAIR)
    service = ImageryService(folder)
    (folder / scene.file).write_bytes(b"truncated")
    t = TMS.tile(*scene.center, 13)
    from server.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="cannot read tile") as caught:
        service.tile(scene.name, "truecolor", t.z, t.x, t.y)
    assert caught.value.field == "imagery"


def test_the_damage_tile_shows_the_harvest_in_red(client: TestClient) -> None:
    t = _centre_tile(client, AFTER, 13)
    r = client.get(
        f"{API}/scenes/{AFTER}/tiles/{t.z}/{t.x}/{t.y}.png",
        params={"layer": "damage", "before": BEFORE},
    )
    rgba = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert 0.01 < (rgba[..., 3] > 0).mean() < 0.5


def test_the_damage_tile_draws_only_the_drop_beyond_a_threshold(
    client: TestClient,
) -> None:
    """A claim's page asks for its baseline's drop plus 0.3: less is drawn, its own ETag."""
    doc = client.get(
        f"{API}/scenes/{AFTER}/tilejson.json",
        params={"layer": "damage", "before": BEFORE, "threshold": 0.7},
    ).json()
    assert "threshold=0.70" in doc["tiles"][0]
    t = _centre_tile(client, AFTER, 13)

    def drawn(threshold: float) -> tuple[float, str]:
        r = client.get(
            f"{API}/scenes/{AFTER}/tiles/{t.z}/{t.x}/{t.y}.png",
            params={"layer": "damage", "before": BEFORE, "threshold": threshold},
        )
        assert r.status_code == 200, r.text
        rgba = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
        return float((rgba[..., 3] > 0).mean()), r.headers["ETag"]

    (low, low_tag), (high, high_tag) = drawn(0.3), drawn(0.7)
    assert high < low and low_tag != high_tag
    for bad in (0, -1, 3, "nan"):
        r = client.get(
            f"{API}/scenes/{AFTER}/tiles/{t.z}/{t.x}/{t.y}.png",
            params={"layer": "damage", "before": BEFORE, "threshold": bad},
        )
        assert r.status_code == 422 and r.json()["field"] == "threshold", bad
