"""Web map tiles of scenes with rio-tiler: true colour, NDVI and the damage mask.

Tiles are 256 x 256 pixel tiles of the Web Mercator quad (``WebMercatorQuad``,
the XYZ scheme of OpenStreetMap, Leaflet and TiTiler), read from a scene's COG
with :class:`rio_tiler.io.Reader` (nearest-neighbour reprojection of the
overview level that fits the zoom) and encoded as PNG (or WebP) with
an alpha band: transparent where the scene has no data. PNG is exact; WebP
is lossy (quality 90): an eighth of the bytes, for slow links.

Layers, each from reflectance (``DN x scale + offset``):

* ``truecolor``: red, green, blue, each stretched linearly from reflectance
  :data:`TRUECOLOR_STRETCH` ``(0.0, 0.3)`` to 0..255 (clipped). 0.3 keeps
  vegetation and soil (reflectance 0.02-0.25 in the visible) bright without
  saturating them; only clouds, snow and roofs clip to white.
* ``ndvi``: ``(nir - red) / (nir + red)`` from :data:`NDVI_RANGE`
  ``(-0.2, 0.9)`` mapped to 0..255 through rio-tiler's ``rdylgn`` colormap
  (red bare, yellow sparse, green dense vegetation).
* ``damage``: the NDVI drop from a ``before`` scene to this one, both read for
  the same tile: red (:data:`DAMAGE_RGBA`, semi-transparent) where the drop is
  at least :data:`DAMAGE_THRESHOLD` (0.3, as the damage assessment's default),
  transparent elsewhere and wherever either scene has no data.

A tile that does not intersect the scene (for ``damage``: both scenes) is not
rendered: :func:`render_tile` returns ``None``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from remote_sensing.errors import ParameterError, RasterError

__all__ = [
    "DAMAGE_RGBA",
    "DAMAGE_THRESHOLD",
    "LAYERS",
    "MAX_ZOOM",
    "NDVI_COLORMAP",
    "NDVI_RANGE",
    "TILE_FORMATS",
    "TRUECOLOR_STRETCH",
    "Layer",
    "TileSource",
    "layer_roles",
    "render_tile",
    "tile_ndvi",
]

Layer = Literal["truecolor", "ndvi", "damage"]
LAYERS: tuple[Layer, ...] = ("truecolor", "ndvi", "damage")
TRUECOLOR_STRETCH = (0.0, 0.3)
NDVI_RANGE = (-0.2, 0.9)
NDVI_COLORMAP = "rdylgn"
DAMAGE_THRESHOLD = 0.3
DAMAGE_RGBA = (215, 25, 28, 160)
TILE_FORMATS = {"png": "image/png", "webp": "image/webp"}
MAX_ZOOM = 24  # the deepest level of WebMercatorQuad
_ROLES: dict[Layer, tuple[str, ...]] = {
    "truecolor": ("red", "green", "blue"),
    "ndvi": ("red", "nir"),
    "damage": ("red", "nir"),
}


@dataclass(frozen=True)
class TileSource:
    """A raster to tile and how to read reflectance from it.

    Attributes:
        path: a (Cloud-Optimised) GeoTIFF with a CRS.
        bands: role (red, green, blue, nir) -> 1-based band number.
        scale: reflectance = DN x scale + offset.
        offset: see ``scale``.
    """

    path: Path
    bands: Mapping[str, int]
    scale: float = 1.0
    offset: float = 0.0


def layer_roles(layer: str) -> tuple[str, ...]:
    """The band roles ``layer`` reads (of both scenes, for ``damage``).

    Raises:
        ParameterError: an unknown layer.
    """
    try:
        return _ROLES[layer]  # type: ignore[index]
    except KeyError:
        raise ParameterError(
            f"layer {layer!r}: use one of {', '.join(LAYERS)}"
        ) from None


def _check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise ParameterError(f"zoom {z}: use 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise ParameterError(f"tile {z}/{x}/{y}: x and y run 0..{n - 1} at zoom {z}")


def _indexes(source: TileSource, roles: tuple[str, ...], layer: str) -> list[int]:
    missing = [r for r in roles if r not in source.bands]
    if missing:
        raise ParameterError(
            f"{source.path.name}: the {layer} layer needs the {', '.join(missing)} "
            "band(s), which the scene does not have"
        )
    return [source.bands[r] for r in roles]


def _quiet() -> None:
    """Silence the two warnings every tile render raises, for the whole process.

    A tile carries no CRS (``NotGeoreferencedWarning``) and a small scene has
    no overviews (``NoOverviewWarning``): neither says anything. Filters are
    added once, process-wide: ``warnings.catch_warnings`` around each render
    would swap the process's filters under concurrent renders (it is not
    thread-safe) and could leave them changed.
    """
    from rasterio.errors import NotGeoreferencedWarning
    from rio_tiler.errors import NoOverviewWarning

    warnings.filterwarnings("ignore", category=NoOverviewWarning)
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)


def _read(
    source: TileSource, indexes: list[int], z: int, x: int, y: int, tilesize: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]] | None:
    """Reflectance of ``indexes`` on tile z/x/y and where it is invalid (None: outside)."""
    from rasterio.errors import RasterioError
    from rio_tiler.errors import RioTilerError, TileOutsideBounds
    from rio_tiler.io import Reader

    _quiet()
    try:
        with Reader(str(source.path)) as src:
            img = src.tile(x, y, z, tilesize=tilesize, indexes=indexes)
    except TileOutsideBounds:
        return None
    except (RioTilerError, RasterioError, OSError) as exc:
        raise RasterError(
            f"{source.path.name}: cannot read tile {z}/{x}/{y}: {exc}"
        ) from exc
    data = img.array.data.astype(np.float32) * np.float32(source.scale) + np.float32(
        source.offset
    )
    invalid = np.ma.getmaskarray(img.array).any(axis=0) | ~np.isfinite(data).all(axis=0)
    return data, invalid


def tile_read_pixels(
    source: TileSource, z: int, x: int, y: int, *, tilesize: int = 256
) -> int:
    """Source pixels (per band) a render of tile z/x/y reads: 0 where it misses the scene.

    The tile's Web-Mercator bounds, clipped to the scene, as a window of the
    scene's grid, read from the coarsest overview that still has at least
    ``tilesize`` pixels across the tile (as GDAL picks one). A tile far below
    the scene's native zoom without overviews reads millions of pixels to
    draw 65,536: this is what a render budget is checked against.

    Raises:
        ParameterError: a bad tile address.
        RasterError: the file cannot be read.
    """
    import morecantile
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.warp import transform_bounds

    _check_tile(z, x, y)
    bounds = morecantile.tms.get("WebMercatorQuad").xy_bounds(morecantile.Tile(x, y, z))
    try:
        with rasterio.open(source.path) as ds:
            west, south, east, north = transform_bounds(
                "EPSG:3857", ds.crs, *bounds, densify_pts=21
            )
            pixel, pixel_y = abs(float(ds.transform.a)), abs(float(ds.transform.e))
            left, bottom = max(west, ds.bounds.left), max(south, ds.bounds.bottom)
            right, top = min(east, ds.bounds.right), min(north, ds.bounds.top)
            factors = ds.overviews(1)
    except RasterioError as exc:
        raise RasterError(
            f"{source.path.name}: cannot read tile {z}/{x}/{y}: {exc}"
        ) from exc
    if left >= right or bottom >= top:
        return 0
    width, height = (right - left) / pixel, (top - bottom) / pixel_y
    decimation = (east - west) / pixel / tilesize  # source pixels per tile pixel
    best = max([1, *(int(f) for f in factors if f <= decimation)])
    return int(math.ceil(width / best) * math.ceil(height / best))


def tile_ndvi(
    source: TileSource, z: int, x: int, y: int, *, tilesize: int = 256
) -> np.ma.MaskedArray[Any, np.dtype[np.float32]] | None:
    """NDVI on tile z/x/y, masked where there is no data (None: the tile misses the scene).

    Raises:
        ParameterError: a bad tile address, or the source lacks red or nir.
        RasterError: the file cannot be read.
    """
    _check_tile(z, x, y)
    read = _read(source, _indexes(source, ("red", "nir"), "ndvi"), z, x, y, tilesize)
    if read is None:
        return None
    (red, nir), invalid = read
    total = nir + red
    invalid = invalid | ~(total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = np.where(invalid, np.float32(0), (nir - red) / total).astype(np.float32)
    return np.ma.MaskedArray(ndvi, mask=invalid)


def _stretch(
    values: npt.NDArray[np.float32], lo: float, hi: float
) -> npt.NDArray[np.uint8]:
    scaled = (np.clip(values, lo, hi) - np.float32(lo)) * np.float32(255 / (hi - lo))
    out: npt.NDArray[np.uint8] = np.rint(scaled).astype(np.uint8)
    return out


def _encode(
    data: npt.NDArray[np.uint8],
    alpha: npt.NDArray[np.uint8],
    fmt: str,
    colormap: Any = None,
) -> bytes:
    from rio_tiler.utils import render

    _quiet()
    # PNG at zlib level 1: a third of level 6's encoding time for ~12 % more
    # bytes. WebP lossy at quality 90: an eighth of the PNG's bytes, for slow
    # links (lossless WebP took ~140 ms a tile to encode, more than a whole render).
    options: dict[str, Any] = {"QUALITY": 90} if fmt == "webp" else {"ZLEVEL": 1}
    return render(data, alpha, img_format=fmt.upper(), colormap=colormap, **options)


def render_tile(
    source: TileSource,
    layer: str,
    z: int,
    x: int,
    y: int,
    *,
    before: TileSource | None = None,
    fmt: str = "png",
    tilesize: int = 256,
    threshold: float = DAMAGE_THRESHOLD,
) -> bytes | None:
    """Tile z/x/y of ``layer`` as PNG or WebP bytes; None where the tile misses the scene.

    Args:
        source: the scene.
        layer: ``truecolor``, ``ndvi`` or ``damage``.
        z: zoom, 0..24.
        x: column, 0..2**z - 1.
        y: row, 0..2**z - 1 (from the north).
        before: the earlier scene ``damage`` compares with (required for it,
            ignored otherwise).
        fmt: ``png`` (exact) or ``webp`` (lossy, quality 90).
        tilesize: pixels on a side.
        threshold: the NDVI drop marked as damage.

    Raises:
        ParameterError: bad layer, tile address or format; a band the layer
            needs is missing; ``damage`` without ``before``.
        RasterError: a file cannot be read.
    """
    roles = layer_roles(layer)
    _check_tile(z, x, y)
    if fmt not in TILE_FORMATS:
        raise ParameterError(f"format {fmt!r}: use {' or '.join(TILE_FORMATS)}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ParameterError(f"threshold {threshold}: must be > 0")
    if layer == "truecolor":
        read = _read(source, _indexes(source, roles, layer), z, x, y, tilesize)
        if read is None:
            return None
        refl, invalid = read
        rgb = _stretch(refl, *TRUECOLOR_STRETCH)
        rgb[:, invalid] = 0
        return _encode(rgb, np.where(invalid, 0, 255).astype(np.uint8), fmt)
    if layer == "ndvi":
        ndvi = tile_ndvi(source, z, x, y, tilesize=tilesize)
        if ndvi is None:
            return None
        from rio_tiler.colormap import cmap

        index = _stretch(ndvi.filled(NDVI_RANGE[0]), *NDVI_RANGE)[np.newaxis]
        alpha = np.where(np.ma.getmaskarray(ndvi), 0, 255).astype(np.uint8)
        return _encode(index, alpha, fmt, cmap.get(NDVI_COLORMAP))
    if before is None:
        raise ParameterError("the damage layer needs a before scene")
    _indexes(before, roles, layer)
    after_ndvi = tile_ndvi(source, z, x, y, tilesize=tilesize)
    if after_ndvi is None:
        return None
    before_ndvi = tile_ndvi(before, z, x, y, tilesize=tilesize)
    if before_ndvi is None:
        return None
    drop = before_ndvi.filled(np.nan) - after_ndvi.filled(np.nan)
    with np.errstate(invalid="ignore"):
        damaged = drop >= np.float32(threshold)
    rgba = np.zeros((4, tilesize, tilesize), dtype=np.uint8)
    rgba[:, damaged] = np.array(DAMAGE_RGBA, dtype=np.uint8)[:, np.newaxis]
    return _encode(rgba[:3], rgba[3], fmt)
