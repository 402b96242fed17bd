"""The scene catalogue makes valid COGs; tiles show the source's own pixels.

Unit tests run on tiny rasters written here; the pixel checks also run on the
real Sentinel-2 pair of ../shared/data.
"""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin
from rasterio.warp import transform, transform_bounds
from rio_cogeo.cogeo import cog_validate
from rio_tiler.colormap import cmap

from remote_sensing import (
    BandError,
    ParameterError,
    RasterError,
    SceneCatalogue,
    SceneExistsError,
    SceneNotFoundError,
    TileSource,
    check_scene_name,
    render_tile,
    tile_ndvi,
    tile_read_pixels,
)
from remote_sensing.tiles import DAMAGE_RGBA, NDVI_RANGE, TRUECOLOR_STRETCH

TMS = morecantile.tms.get("WebMercatorQuad")
UTM33 = "EPSG:32633"
ORIGIN = (359130.0, 5352340.0)  # the Austrian scene's corner, in UTM 33N
SIZE = 100  # pixels of the synthetic scenes (1 km at 10 m)
PAIR = "sentinel2/austria_T33UUP_2021-06-17_2021-09-25.tif"


def write_scene(
    path: Path, *, nir_right: int = 1000, crs: str | None = UTM33, count: int = 4
) -> Path:
    """4 bands uint16 (red 500, green 600, blue 400, nir 4500 | nir_right) at 10 m."""
    data = np.empty((count, SIZE, SIZE), dtype=np.uint16)
    for i, value in enumerate((500, 600, 400, 4500)[:count]):
        data[i] = value
    if count >= 4:
        data[3, :, SIZE // 2 :] = nir_right
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=count,
        dtype="uint16",
        crs=crs,
        transform=from_origin(*ORIGIN, 10, 10),
    ) as dst:
        dst.write(data)
    return path


BANDS = {"red": 1, "green": 2, "blue": 3, "nir": 4}


@pytest.fixture
def catalogue(tmp_path: Path) -> SceneCatalogue:
    return SceneCatalogue(tmp_path / "imagery")


def _tile_at(lon: float, lat: float, z: int) -> morecantile.Tile:
    return TMS.tile(lon, lat, z)


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _pixel_lonlat(tile: morecantile.Tile, row: int, col: int) -> tuple[float, float]:
    b = TMS.xy_bounds(tile)
    x = b.left + (col + 0.5) * (b.right - b.left) / 256
    y = b.top - (row + 0.5) * (b.top - b.bottom) / 256
    (lon,), (lat,) = transform("EPSG:3857", "EPSG:4326", [x], [y])
    return lon, lat


# --- registration ----------------------------------------------------------------


def test_registration_writes_a_valid_cog_of_the_named_bands_only_and_records_it(
    tmp_path: Path, catalogue: SceneCatalogue
) -> None:
    source = write_scene(tmp_path / "s.tif")
    scene = catalogue.register(
        source, "field-2021-06-17", date(2021, 6, 17), {"nir": 4, "red": 1}, scale=1e-4
    )
    cog = catalogue.path(scene)
    assert cog == tmp_path / "imagery" / "field-2021-06-17.tif"
    valid, errors, _ = cog_validate(str(cog), quiet=True)
    assert valid, errors
    with rasterio.open(cog) as ds, rasterio.open(source) as src:
        assert ds.count == 2 and ds.crs == src.crs and ds.transform == src.transform
        assert (ds.read(1) == src.read(4)).all() and (ds.read(2) == src.read(1)).all()
        expected = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    assert scene.bands == {"nir": 1, "red": 2}
    assert scene.source_bands == {"nir": 4, "red": 1}
    assert scene.bounds == pytest.approx(expected, abs=1e-6)
    assert (scene.crs, scene.scale, scene.width, scene.height) == (
        UTM33,
        1e-4,
        100,
        100,
    )
    doc = json.loads((tmp_path / "imagery" / "catalogue.json").read_text())
    (entry,) = doc["scenes"]
    import hashlib

    assert entry["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert entry["date"] == "2021-06-17" and entry["bounds"] == list(scene.bounds)
    assert SceneCatalogue(tmp_path / "imagery").get("field-2021-06-17") == scene


def test_registering_the_same_file_again_is_a_no_op_and_another_is_refused(
    tmp_path: Path, catalogue: SceneCatalogue
) -> None:
    source = write_scene(tmp_path / "s.tif")
    first = catalogue.register(source, "a", date(2021, 6, 17), BANDS)
    assert catalogue.register(source, "a", date(2021, 6, 17), BANDS) == first
    with pytest.raises(SceneExistsError, match="'a' is taken"):
        catalogue.register(source, "a", date(2021, 6, 18), BANDS)
    (tmp_path / "imagery" / "b.tif").write_bytes(b"a user's own file")
    with pytest.raises(SceneExistsError, match=r"b\.tif already exists"):
        catalogue.register(source, "b", date(2021, 6, 17), BANDS)
    assert (tmp_path / "imagery" / "b.tif").read_bytes() == b"a user's own file"


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("name ../x", ParameterError, r"scene name '\.\./x'"),
        ("name a.tif", ParameterError, r"scene name 'a\.tif'"),
        ("name empty", ParameterError, "scene name ''"),
        (
            "band swir",
            ParameterError,
            "band 'swir': the roles are red, green, blue, nir",
        ),
        ("band 0", ParameterError, "band red=0"),
        ("band 9", BandError, "nir is band 9, but the raster has 4 bands"),
        ("same band twice", ParameterError, "each role needs its own band"),
        ("no crs", RasterError, "has no coordinate reference system"),
        ("not a raster", RasterError, "not a readable raster"),
        ("missing file", RasterError, "no such file"),
        ("scale 0", ParameterError, "scale must be > 0"),
    ],
)
def test_bad_registrations_name_the_item_and_leave_nothing_behind(
    tmp_path: Path, catalogue: SceneCatalogue, case: str, error: type, message: str
) -> None:
    good = write_scene(tmp_path / "good.tif")
    catalogue.register(good, "kept", date(2021, 6, 1), BANDS)
    before = sorted(p.name for p in catalogue.folder.iterdir())
    source, name, bands, scale = good, "new", dict(BANDS), 1.0
    if case.startswith("name "):
        name = case.removeprefix("name ").replace("empty", "")
    elif case == "band swir":
        bands["swir"] = 4
    elif case == "band 0":
        bands["red"] = 0
    elif case == "band 9":
        bands["nir"] = 9
    elif case == "same band twice":
        bands["green"] = 1
    elif case == "no crs":
        source = write_scene(tmp_path / "nocrs.tif", crs=None)
    elif case == "not a raster":
        source = tmp_path / "notes.tif"
        source.write_text("not an image")
    elif case == "missing file":
        source = tmp_path / "absent.tif"
    elif case == "scale 0":
        scale = 0.0
    with pytest.raises(error, match=message):
        catalogue.register(source, name, date(2021, 6, 17), bands, scale=scale)
    assert sorted(p.name for p in catalogue.folder.iterdir()) == before
    assert [s.name for s in catalogue.scenes()] == ["kept"]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("austria-2021-06-17", True),
        ("A_1", True),
        ("x" * 100, True),
        ("x" * 101, False),
        ("../x", False),
        ("..", False),
        (".hidden", False),
        ("a/b", False),
        ("a\\b", False),
        ("-a", False),
        ("a b", False),
        ("catalogue.json", False),
    ],
)
def test_scene_names_are_file_stems_that_cannot_leave_the_folder(
    name: str, ok: bool
) -> None:
    if ok:
        assert check_scene_name(name) == name
    else:
        with pytest.raises(ParameterError):
            check_scene_name(name)


def test_an_unknown_or_malformed_name_is_not_found(catalogue: SceneCatalogue) -> None:
    with pytest.raises(SceneNotFoundError, match="no scene 'nope'"):
        catalogue.get("nope")
    with pytest.raises(SceneNotFoundError, match=r"'\.\./x'"):
        catalogue.get("../x")


# --- tiles on synthetic scenes ---------------------------------------------------


@pytest.fixture
def pair(
    tmp_path: Path, catalogue: SceneCatalogue
) -> tuple[TileSource, TileSource, morecantile.Tile]:
    """Before: NDVI 0.8 everywhere; after: 0.8 on the left half, 1/3 on the right."""
    b = catalogue.register(
        write_scene(tmp_path / "b.tif", nir_right=4500), "b", date(2021, 6, 17), BANDS
    )
    a = catalogue.register(
        write_scene(tmp_path / "a.tif"), "a", date(2021, 9, 25), BANDS
    )
    src = [TileSource(catalogue.path(s), s.bands, 1e-4) for s in (b, a)]
    lon, lat = b.center
    return src[0], src[1], _tile_at(lon, lat, 18)  # a tile inside, ~0.4 m pixels


def test_a_tile_outside_the_scene_is_not_rendered(
    pair: tuple[TileSource, TileSource, morecantile.Tile],
) -> None:
    before, after, _ = pair
    far = _tile_at(0.0, 0.0, 15)
    for layer in ("truecolor", "ndvi", "damage"):
        assert render_tile(after, layer, far.z, far.x, far.y, before=before) is None
    assert tile_ndvi(after, far.z, far.x, far.y) is None


def test_truecolor_stretches_reflectance_0_to_0_3_onto_0_to_255(
    pair: tuple[TileSource, TileSource, morecantile.Tile],
) -> None:
    _, after, t = pair
    rgba = _decode(render_tile(after, "truecolor", t.z, t.x, t.y) or b"")
    lo, hi = TRUECOLOR_STRETCH
    expected = [(v * 1e-4 - lo) / (hi - lo) * 255 for v in (500, 600, 400)]
    assert rgba[128, 128, :3] == pytest.approx(expected, abs=0.51)  # rounded
    assert rgba[128, 128, 3] == 255


def test_ndvi_tiles_colour_each_pixel_by_its_ndvi(
    pair: tuple[TileSource, TileSource, morecantile.Tile],
) -> None:
    _, after, t = pair
    ndvi = tile_ndvi(after, t.z, t.x, t.y)
    assert ndvi is not None and not ndvi.mask.any()
    assert {round(float(v), 4) for v in np.unique(ndvi)} <= {0.8, round(1 / 3, 4)}
    rgba = _decode(render_tile(after, "ndvi", t.z, t.x, t.y) or b"")
    colours = cmap.get("rdylgn")
    lo, hi = NDVI_RANGE
    for row, col in ((10, 10), (128, 128), (250, 250), (5, 200)):
        index = round((float(ndvi[row, col]) - lo) / (hi - lo) * 255)
        assert tuple(rgba[row, col]) == (*tuple(colours[index])[:3], 255)


def test_damage_is_red_where_ndvi_dropped_by_0_3_and_transparent_elsewhere(
    tmp_path: Path, pair: tuple[TileSource, TileSource, morecantile.Tile]
) -> None:
    before, after, _ = pair
    with rasterio.open(after.path) as ds:  # the middle of each half, in lon/lat
        xs = [ds.bounds.left + 250, ds.bounds.right - 250]
        y = (ds.bounds.bottom + ds.bounds.top) / 2
    lons, lats = transform(UTM33, "EPSG:4326", xs, [y, y])
    left, right = (_tile_at(lon, lat, 17) for lon, lat in zip(lons, lats, strict=True))
    kept = _decode(
        render_tile(after, "damage", left.z, left.x, left.y, before=before) or b""
    )
    lost = _decode(
        render_tile(after, "damage", right.z, right.x, right.y, before=before) or b""
    )
    assert (kept[..., 3] == 0).all()
    assert tuple(lost[128, 128]) == DAMAGE_RGBA
    with pytest.raises(ParameterError, match="needs a before scene"):
        render_tile(after, "damage", left.z, left.x, left.y)


def test_webp_tiles_are_webp(
    pair: tuple[TileSource, TileSource, morecantile.Tile],
) -> None:
    _, after, t = pair
    out = render_tile(after, "ndvi", t.z, t.x, t.y, fmt="webp") or b""
    assert out[:4] == b"RIFF" and out[8:12] == b"WEBP"


@pytest.mark.parametrize(
    ("layer", "z", "x", "y", "fmt", "bands", "message"),
    [
        ("infrared", 10, 0, 0, "png", BANDS, "layer 'infrared'"),
        ("ndvi", 25, 0, 0, "png", BANDS, "zoom 25"),
        ("ndvi", -1, 0, 0, "png", BANDS, "zoom -1"),
        ("ndvi", 2, 4, 0, "png", BANDS, "x and y run 0..3"),
        ("ndvi", 2, 0, -1, "png", BANDS, "x and y run 0..3"),
        ("ndvi", 2, 0, 0, "gif", BANDS, "format 'gif'"),
        ("truecolor", 2, 0, 0, "png", {"red": 1, "nir": 4}, "needs the green, blue"),
        ("ndvi", 2, 0, 0, "png", {"red": 1}, "needs the nir"),
    ],
)
def test_bad_tile_requests_are_refused_by_name(
    tmp_path: Path,
    layer: str,
    z: int,
    x: int,
    y: int,
    fmt: str,
    bands: dict[str, int],
    message: str,
) -> None:
    source = TileSource(write_scene(tmp_path / "s.tif"), bands)
    with pytest.raises(ParameterError, match=message):
        render_tile(source, layer, z, x, y, fmt=fmt)


# --- the real Sentinel-2 pair ----------------------------------------------------


@pytest.fixture(scope="module")
def austria(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SceneCatalogue, Path]:
    catalogue = SceneCatalogue(tmp_path_factory.mktemp("imagery"))
    source = shared_data / PAIR
    for name, day, bands in (
        ("june", date(2021, 6, 17), BANDS),
        ("september", date(2021, 9, 25), {"red": 5, "green": 6, "blue": 7, "nir": 8}),
    ):
        catalogue.register(source, name, day, bands, scale=1e-4)
    return catalogue, source


@pytest.mark.parametrize(
    ("scene", "red", "nir", "z", "row", "col"),
    [
        ("june", 1, 4, 15, 128, 128),
        ("september", 5, 8, 15, 128, 128),
        ("september", 5, 8, 16, 40, 200),
        ("june", 1, 4, 14, 200, 60),
    ],
)
def test_tile_ndvi_equals_the_source_pixel_at_that_lon_lat(
    austria: tuple[SceneCatalogue, Path],
    scene: str,
    red: int,
    nir: int,
    z: int,
    row: int,
    col: int,
) -> None:
    catalogue, source = austria
    s = catalogue.get(scene)
    t = _tile_at(*s.center, z)
    ndvi = tile_ndvi(TileSource(catalogue.path(s), s.bands, s.scale), t.z, t.x, t.y)
    assert ndvi is not None
    lon, lat = _pixel_lonlat(t, row, col)
    with rasterio.open(source) as ds:
        (x,), (y,) = transform("EPSG:4326", ds.crs, [lon], [lat])
        r, c = ds.index(x, y)
        window = ((r, r + 1), (c, c + 1))
        dn_red, dn_nir = (float(ds.read(b, window=window)[0, 0]) for b in (red, nir))
    expected = (dn_nir - dn_red) / (dn_nir + dn_red)
    assert float(ndvi[row, col]) == pytest.approx(expected, abs=1e-5)


def test_the_real_pair_shows_damage_and_ndvi_tiles_at_its_zooms(
    austria: tuple[SceneCatalogue, Path],
) -> None:
    catalogue, _ = austria
    june, sept = catalogue.get("june"), catalogue.get("september")
    assert (june.minzoom, june.maxzoom) == (12, 13)
    src = [TileSource(catalogue.path(s), s.bands, s.scale) for s in (june, sept)]
    t = _tile_at(*sept.center, sept.maxzoom)
    damage = _decode(render_tile(src[1], "damage", t.z, t.x, t.y, before=src[0]) or b"")
    red = (damage[..., 3] > 0).mean()
    assert 0.01 < red < 0.5  # harvested fields, not the whole tile
    assert set(map(tuple, damage[damage[..., 3] > 0].reshape(-1, 4))) == {DAMAGE_RGBA}


# --- what a render reads -------------------------------------------------------------


def test_a_tile_reads_the_scene_pixels_under_it_from_the_coarsest_fitting_overview(
    tmp_path: Path,
) -> None:
    path = write_scene(tmp_path / "s.tif")
    source = TileSource(path, BANDS)
    lon, lat = transform_bounds(UTM33, "EPSG:4326", *_bounds_of(path))[:2]
    corner = (lon + 0.005, lat + 0.004)  # inside, near the south-west corner
    native = _tile_at(*corner, 16)  # about 410 m across at 48 N: 41 x 41 pixels
    assert 1600 < tile_read_pixels(source, native.z, native.x, native.y) < 2000
    low = _tile_at(*corner, 8)  # the whole scene, decimated far beyond it
    whole = tile_read_pixels(source, low.z, low.x, low.y)
    assert whole == SIZE * SIZE
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews([2, 4])
    assert tile_read_pixels(source, low.z, low.x, low.y) == (SIZE // 4) ** 2
    far = _tile_at(0.0, 0.0, 15)
    assert tile_read_pixels(source, far.z, far.x, far.y) == 0
    with pytest.raises(ParameterError, match="zoom 40"):
        tile_read_pixels(source, 40, 0, 0)
    path.write_bytes(b"not a tiff")
    with pytest.raises(RasterError, match=r"s\.tif: cannot read tile 8/"):
        tile_read_pixels(source, low.z, low.x, low.y)


def _bounds_of(path: Path) -> tuple[float, float, float, float]:
    with rasterio.open(path) as ds:
        b = ds.bounds
    return b.left, b.bottom, b.right, b.top
