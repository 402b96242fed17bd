"""Imagery: the scene catalogue and its map tiles, rendered once and kept in memory.

The catalogue is the folder ``AGRI_IMAGERY_DIR`` (a JSON file beside the
COGs, see :class:`remote_sensing.SceneCatalogue`); no database table. Tiles
are rendered by :func:`remote_sensing.render_tile` and kept in a
least-recently-used cache bounded in bytes. Each tile has a strong ETag
derived from what determines its bytes (the COGs' SHA-256, the layer, the
``before`` scene, the address, the format and :data:`RENDER_VERSION`), so a
client's ``If-None-Match`` is answered without rendering anything.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from remote_sensing import (
    DAMAGE_THRESHOLD,
    TILE_FORMATS,
    BandError,
    ParameterError,
    RasterError,
    Scene,
    SceneCatalogue,
    SceneExistsError,
    SceneNotFoundError,
    TileSource,
    check_scene_name,
    layer_roles,
    render_tile,
    tile_read_pixels,
)
from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.storage.paging import Page

__all__ = [
    "ATTRIBUTION",
    "MIB",
    "RENDER_VERSION",
    "ImageryService",
    "Tile",
    "TileCache",
    "drawn_threshold",
]

# Zoom levels past a scene's native maximum that are still rendered (maps scale
# the native tiles beyond it themselves: the pages set maxNativeZoom).
OVERZOOM = 2
# Zoom levels below a scene's minimum (the whole scene in about one tile) still
# rendered; further out the scene is a few pixels of a tile: answered with no
# content and no read, so a low-zoom request costs nothing.
UNDERZOOM = 2

MIB = 1 << 20
RENDER_VERSION = "1"  # bump when the rendering of a layer changes: new ETags
ATTRIBUTION = "Contains modified Copernicus Sentinel data"


@dataclass(frozen=True)
class Tile:
    """A rendered tile: ``content`` is None where the tile misses the scene (HTTP 204)."""

    content: bytes | None
    media_type: str
    etag: str


class TileCache:
    """A thread-safe LRU of tile bytes, bounded by their total size.

    Args:
        max_bytes: the most bytes held (0: nothing is kept).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._size

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> bytes | None:
        """The bytes under ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Keep ``value``, dropping the least recently used until it fits."""
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = value
            self._size += len(value)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


class ImageryService:
    """Scenes of the imagery catalogue, their TileJSON and their tiles.

    Args:
        folder: the catalogue folder (``Settings.resolved_imagery_dir()``).
        cache_bytes: memory for rendered tiles, in bytes.
        max_read_pixels: the most source pixels (per band, per scene) one tile
            render may read; a tile that would read more is not drawn (no
            content), so a scene without overviews cannot be made to read
            itself whole for one low-zoom tile.
    """

    def __init__(
        self,
        folder: Path,
        *,
        cache_bytes: int = 64 * MIB,
        max_read_pixels: int = 16_000_000,
    ) -> None:
        self.catalogue = SceneCatalogue(folder)
        self.cache = TileCache(cache_bytes)
        self.max_read_pixels = max_read_pixels

    def _call(self, fn: Any, *args: Any, field: str) -> Any:
        try:
            return fn(*args)
        except SceneNotFoundError as exc:
            raise NotFoundError(str(exc), field=field) from exc
        except RasterError as exc:
            raise InvalidInputError(f"imagery: {exc}", field="imagery") from exc

    def scene(self, name: str, *, field: str = "scene") -> Scene:
        """The registered scene ``name``.

        Raises:
            NotFoundError: no such scene, or not a scene name (``field`` named).
            InvalidInputError: the catalogue file is unreadable.
        """
        scene: Scene = self._call(self.catalogue.get, name, field=field)
        return scene

    def scenes(self, offset: int = 0, limit: int = 50) -> Page:
        """A page of the scenes, by date then name."""
        every: list[Scene] = self._call(self.catalogue.scenes, field="imagery")
        return Page(every[offset : offset + limit], len(every), offset, limit)

    def register(
        self,
        source: Path,
        name: str,
        day: date,
        bands: Mapping[str, int],
        *,
        scale: float = 1.0,
        offset: float = 0.0,
        check_descriptions: bool = True,
    ) -> Scene:
        """Register ``source``'s ``bands`` as scene ``name`` of ``day`` (a COG in the folder).

        ``check_descriptions``: refuse a band map the file's band descriptions
        contradict (B04 named as nir, say); False takes the numbers as given.

        Raises:
            InvalidInputError: a bad name, band map or scale; not a raster, no
                CRS, a band the file lacks (the field named).
            ConflictError: the name (or its file) is taken by another scene.
        """
        try:
            check_scene_name(name)
        except ParameterError as exc:
            raise InvalidInputError(str(exc), field="name") from exc
        if not (math.isfinite(scale) and scale > 0):
            raise InvalidInputError(f"scale {scale}: must be > 0", field="scale")
        try:
            return self.catalogue.register(
                source,
                name,
                day,
                bands,
                scale=scale,
                offset=offset,
                check_descriptions=check_descriptions,
            )
        except SceneExistsError as exc:
            raise ConflictError(str(exc), field="name") from exc
        except (ParameterError, BandError) as exc:
            raise InvalidInputError(str(exc), field="bands") from exc
        except RasterError as exc:
            raise InvalidInputError(str(exc), field="file") from exc

    def _source(self, scene: Scene) -> TileSource:
        return TileSource(
            self.catalogue.path(scene), scene.bands, scene.scale, scene.offset
        )

    def layer_scenes(
        self, name: str, layer: str, before: str | None
    ) -> tuple[Scene, Scene | None]:
        """The scene and (for ``damage``) the before scene, checked for ``layer``.

        ``before`` is ignored by the ``truecolor`` and ``ndvi`` layers.

        Raises:
            NotFoundError: an unknown scene or before scene.
            InvalidInputError: an unknown layer; ``damage`` without ``before``, with
                a ``before`` not earlier than the scene or not overlapping it; a
                scene lacking a band the layer needs.
        """
        scene = self.scene(name)
        try:
            roles = layer_roles(layer)
        except ParameterError as exc:
            raise InvalidInputError(str(exc), field="layer") from exc
        missing = [r for r in roles if r not in scene.bands]
        if missing:
            raise InvalidInputError(
                f"scene {name!r} has no {', '.join(missing)} band for the {layer} layer",
                field="layer",
            )
        if layer != "damage":
            return scene, None
        if not before:
            raise InvalidInputError(
                "the damage layer compares two scenes: name the earlier one in before",
                field="before",
            )
        earlier = self.scene(before, field="before")
        missing = [r for r in roles if r not in earlier.bands]
        if missing:
            raise InvalidInputError(
                f"scene {before!r} has no {', '.join(missing)} band", field="before"
            )
        if earlier.date >= scene.date:
            raise InvalidInputError(
                f"before scene {before!r} ({earlier.date}) is not earlier than "
                f"{name!r} ({scene.date})",
                field="before",
            )
        if _overlap(scene.bounds, earlier.bounds) is None:
            raise InvalidInputError(
                f"scenes {before!r} and {name!r} do not overlap", field="before"
            )
        return scene, earlier

    def tilejson(
        self, name: str, layer: str, before: str | None, tiles_url: str
    ) -> dict[str, Any]:
        """TileJSON 3.0.0 of ``layer`` of scene ``name``; ``tiles_url`` is its tile template.

        For ``damage`` the bounds are where both scenes overlap.

        Raises:
            NotFoundError, InvalidInputError: see :meth:`layer_scenes`.
        """
        scene, earlier = self.layer_scenes(name, layer, before)
        bounds = scene.bounds
        title = f"{scene.name} {layer}"
        years = {scene.date.year}
        if earlier is not None:
            bounds = _overlap(scene.bounds, earlier.bounds) or bounds
            title = f"{scene.name} damage since {earlier.name}"
            years.add(earlier.date.year)
        w, s, e, n = bounds
        return {
            "tilejson": "3.0.0",
            "name": title,
            "description": _DESCRIPTIONS[layer],
            "version": "1.0.0",
            "attribution": f"{ATTRIBUTION} {', '.join(map(str, sorted(years)))}",
            "scheme": "xyz",
            "tiles": [tiles_url],
            "minzoom": scene.minzoom,
            "maxzoom": scene.maxzoom,
            "bounds": [w, s, e, n],
            "center": [
                round((w + e) / 2, 7),
                round((s + n) / 2, 7),
                scene.minzoom,
            ],
        }

    def tile_etag(
        self,
        name: str,
        layer: str,
        z: int,
        x: int,
        y: int,
        *,
        before: str | None = None,
        fmt: str = "png",
        threshold: float = DAMAGE_THRESHOLD,
    ) -> str:
        """The strong ETag of a tile, computed without rendering it (inputs checked).

        Raises:
            NotFoundError, InvalidInputError: see :meth:`layer_scenes`; a bad
                format or tile address.
        """
        scene, earlier = self.layer_scenes(name, layer, before)
        return self._etag(
            scene, earlier, layer, z, x, y, fmt, drawn_threshold(layer, threshold)
        )

    def _etag(
        self,
        scene: Scene,
        earlier: Scene | None,
        layer: str,
        z: int,
        x: int,
        y: int,
        fmt: str,
        threshold: float = DAMAGE_THRESHOLD,
    ) -> str:
        if fmt not in TILE_FORMATS:
            raise InvalidInputError(
                f"format {fmt!r}: use {' or '.join(TILE_FORMATS)}", field="format"
            )
        n = 1 << min(max(z, 0), 62)
        if not (0 <= z <= 24 and 0 <= x < n and 0 <= y < n):
            raise InvalidInputError(
                f"tile {z}/{x}/{y}: zoom 0..24, x and y 0..2**zoom - 1", field="z"
            )
        if z > scene.maxzoom + OVERZOOM:
            # Beyond the scene's pixels a tile shows nothing new; refusing it keeps
            # anonymous requests from rendering unbounded numbers of tiles.
            raise InvalidInputError(
                f"tile {z}/{x}/{y}: {scene.name} has no detail beyond zoom "
                f"{scene.maxzoom} (at most {scene.maxzoom + OVERZOOM})",
                field="z",
            )
        key = "|".join(
            (
                RENDER_VERSION,
                scene.cog_sha256 or scene.name,
                layer,
                (earlier.cog_sha256 or earlier.name) if earlier else "",
                f"{z}/{x}/{y}",
                fmt,
                f"{threshold:.2f}" if layer == "damage" else "",  # drawn_threshold's
            )
        )
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'

    def cached_tile(
        self,
        name: str,
        layer: str,
        z: int,
        x: int,
        y: int,
        *,
        before: str | None = None,
        fmt: str = "png",
        threshold: float = DAMAGE_THRESHOLD,
    ) -> Tile | None:
        """The tile if it needs no render (cached, or far below the scene's zoom); else None.

        Cheap: reads the catalogue, never a raster. Raises as :meth:`tile_etag`.
        """
        scene, earlier = self.layer_scenes(name, layer, before)
        threshold = drawn_threshold(layer, threshold)
        etag = self._etag(scene, earlier, layer, z, x, y, fmt, threshold)
        media_type = TILE_FORMATS[fmt]
        if z < scene.minzoom - UNDERZOOM:
            return Tile(None, media_type, etag)
        cached = self.cache.get(etag)
        if cached is not None:
            return Tile(cached or None, media_type, etag)
        return None

    def tile(
        self,
        name: str,
        layer: str,
        z: int,
        x: int,
        y: int,
        *,
        before: str | None = None,
        fmt: str = "png",
        threshold: float = DAMAGE_THRESHOLD,
    ) -> Tile:
        """Tile z/x/y of ``layer`` of scene ``name``, from the cache or rendered now.

        ``threshold`` (damage only): the NDVI drop drawn as damage; a claim's
        page passes its baseline's drop plus 0.3, so only the drop beyond the
        season shows.

        Below ``minzoom - UNDERZOOM`` nothing is read or rendered: no content.
        A tile that would read more than ``max_read_pixels`` of a scene is not
        rendered either: no content (zoom in).

        Raises:
            NotFoundError, InvalidInputError: see :meth:`tile_etag`; a scene file
                that cannot be read (``imagery``).
        """
        found = self.cached_tile(
            name, layer, z, x, y, before=before, fmt=fmt, threshold=threshold
        )
        if found is not None:
            return found
        scene, earlier = self.layer_scenes(name, layer, before)
        threshold = drawn_threshold(layer, threshold)
        etag = self._etag(scene, earlier, layer, z, x, y, fmt, threshold)
        media_type = TILE_FORMATS[fmt]
        sources = [self._source(s) for s in (scene, earlier) if s is not None]
        try:
            if any(
                tile_read_pixels(source, z, x, y) > self.max_read_pixels
                for source in sources
            ):
                self.cache.put(etag, b"")
                return Tile(None, media_type, etag)
            content = render_tile(
                sources[0],
                layer,
                z,
                x,
                y,
                before=sources[1] if earlier else None,
                fmt=fmt,
                threshold=threshold,
            )
        except ParameterError as exc:
            raise InvalidInputError(str(exc), field="layer") from exc
        except RasterError as exc:
            raise InvalidInputError(f"imagery: {exc}", field="imagery") from exc
        self.cache.put(etag, content or b"")
        return Tile(content, media_type, etag)


_DESCRIPTIONS = {
    "truecolor": "True colour: red, green, blue reflectance 0..0.3 stretched to 0..255.",
    "ndvi": "NDVI -0.2..0.9 through the RdYlGn colormap (red bare, green dense).",
    "damage": "Red where NDVI dropped by 0.3 or more since the before scene.",
}


def drawn_threshold(layer: str, threshold: float) -> float:
    """The damage threshold a tile is drawn at: to 0.01 (few cached tiles, few ETags)."""
    return round(threshold, 2) if layer == "damage" else DAMAGE_THRESHOLD


def _overlap(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float] | None:
    w, s = max(a[0], b[0]), max(a[1], b[1])
    e, n = min(a[2], b[2]), min(a[3], b[3])
    return (w, s, e, n) if w < e and s < n else None
