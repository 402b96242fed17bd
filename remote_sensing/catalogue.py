"""The scene catalogue: named, dated Cloud-Optimised GeoTIFFs in one folder.

Registering a raster copies the named bands (and only those) into
``<folder>/<name>.tif``, a Cloud-Optimised GeoTIFF written by rio-cogeo
(DEFLATE with a horizontal predictor, 256 x 256 internal tiles, overviews by
averaging), and records the scene in ``<folder>/catalogue.json``: its name,
acquisition date, bounds in WGS84, the band of each role (red, green, blue,
nir) in the COG, the scale from digital numbers to reflectance, the CRS, the
zoom range of its Web Mercator tiles and the SHA-256 of the source file.

The COG keeps the source's own grid and CRS (it is *not* web-optimised):
its pixels stay the very pixels that were measured, so the damage assessment
can still read them at full fidelity, and the one resampling to Web Mercator
happens per tile, at the zoom asked for. A web-optimised COG would resample
the scene once to a Web Mercator grid at registration, moving every pixel.

A registration either completes (the COG in place, then the catalogue file
replaced atomically) or leaves nothing behind. Registrations of one folder
are serialised by an exclusive lock on ``<folder>/.catalogue.lock``.
Registering the same file again under the same name, date, bands and scale
returns the scene already there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from remote_sensing.errors import (
    BandError,
    ParameterError,
    RasterError,
    RemoteSensingError,
)

__all__ = [
    "BAND_ROLES",
    "CATALOGUE_FILE",
    "ROLE_BANDS",
    "Scene",
    "SceneCatalogue",
    "SceneExistsError",
    "SceneNotFoundError",
    "check_band_descriptions",
    "check_scene_name",
]

CATALOGUE_FILE = "catalogue.json"
BAND_ROLES = ("red", "green", "blue", "nir")
# The Sentinel-2 bands each role may be (a file that describes its bands B01..B12,
# B8A is checked against them); a description naming the role itself passes too.
ROLE_BANDS: Mapping[str, tuple[str, ...]] = {
    "red": ("B04",),
    "green": ("B03",),
    "blue": ("B02",),
    "nir": ("B08", "B8A"),
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_BAND_CODE = re.compile(r"B0*(\d{1,2})(A?)", re.IGNORECASE)
_ROLE_WORDS = {
    "red": "red",
    "green": "green",
    "blue": "blue",
    "nir": "nir",
    "near-infrared": "nir",
    "near infrared": "nir",
}
_VERSION = 1


class SceneNotFoundError(RemoteSensingError, LookupError):
    """No scene of that name is registered (or the name is not a scene name)."""


class SceneExistsError(RemoteSensingError, ValueError):
    """A scene of that name (or its file) is already in the catalogue."""


def check_scene_name(name: str) -> str:
    """Return ``name`` if it may name a scene: 1-100 letters, digits, ``-`` or ``_``.

    A scene name is also its file's stem, so it holds no dot, slash or
    backslash: no name can reach outside the catalogue folder.

    Raises:
        ParameterError: anything else.
    """
    if not _NAME.fullmatch(name):
        raise ParameterError(
            f"scene name {name!r}: use 1-100 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Scene:
    """One registered scene.

    Attributes:
        name: its name (see :func:`check_scene_name`), also its file's stem.
        date: acquisition date.
        file: the COG's file name in the catalogue folder.
        bounds: ``(west, south, east, north)`` in WGS84 degrees.
        bands: role (red, green, blue, nir) -> 1-based band number in the COG.
        scale: reflectance = DN x scale + offset.
        offset: see ``scale``.
        crs: the COG's CRS (``EPSG:<code>`` where it has one, else WKT).
        width: pixels.
        height: pixels.
        resolution: pixel size ``(x, y)`` in CRS units.
        nodata: the digital number meaning no data, if any.
        minzoom: lowest Web Mercator zoom worth serving (the whole scene in a tile or so).
        maxzoom: zoom whose pixels match the scene's native resolution.
        source: the registered file's name.
        source_bands: role -> band number in the source file.
        source_sha256: SHA-256 of the source file (hex).
        cog_sha256: SHA-256 of the COG (hex); tiles' ETags derive from it.
    """

    name: str
    date: date
    file: str
    bounds: tuple[float, float, float, float]
    bands: Mapping[str, int]
    scale: float
    offset: float
    crs: str
    width: int
    height: int
    resolution: tuple[float, float]
    nodata: float | None
    minzoom: int
    maxzoom: int
    source: str
    source_bands: Mapping[str, int] = field(default_factory=dict)
    source_sha256: str = ""
    cog_sha256: str = ""

    @property
    def center(self) -> tuple[float, float]:
        """``(lon, lat)`` of the bounds' middle."""
        w, s, e, n = self.bounds
        return ((w + e) / 2, (s + n) / 2)

    def to_json(self) -> dict[str, Any]:
        """The scene as a JSON object (the catalogue file's entries)."""
        return {
            "name": self.name,
            "date": self.date.isoformat(),
            "file": self.file,
            "bounds": list(self.bounds),
            "bands": dict(self.bands),
            "scale": self.scale,
            "offset": self.offset,
            "crs": self.crs,
            "width": self.width,
            "height": self.height,
            "resolution": list(self.resolution),
            "nodata": self.nodata,
            "minzoom": self.minzoom,
            "maxzoom": self.maxzoom,
            "source": self.source,
            "source_bands": dict(self.source_bands),
            "source_sha256": self.source_sha256,
            "cog_sha256": self.cog_sha256,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Scene:
        """A scene from :meth:`to_json`'s object.

        Raises:
            RasterError: the object lacks a field or holds a malformed one.
        """
        try:
            w, s, e, n = (float(v) for v in doc["bounds"])
            rx, ry = (float(v) for v in doc["resolution"])
            return cls(
                name=check_scene_name(str(doc["name"])),
                date=date.fromisoformat(doc["date"]),
                file=str(doc["file"]),
                bounds=(w, s, e, n),
                bands={str(k): int(v) for k, v in doc["bands"].items()},
                scale=float(doc["scale"]),
                offset=float(doc["offset"]),
                crs=str(doc["crs"]),
                width=int(doc["width"]),
                height=int(doc["height"]),
                resolution=(rx, ry),
                nodata=None if doc.get("nodata") is None else float(doc["nodata"]),
                minzoom=int(doc["minzoom"]),
                maxzoom=int(doc["maxzoom"]),
                source=str(doc["source"]),
                source_bands={
                    str(k): int(v) for k, v in doc.get("source_bands", {}).items()
                },
                source_sha256=str(doc.get("source_sha256", "")),
                cog_sha256=str(doc.get("cog_sha256", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RasterError(
                f"{CATALOGUE_FILE}: scene {doc.get('name')!r} is malformed ({exc!r})"
            ) from exc


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _described(description: str | None) -> tuple[str, str | None] | None:
    """What a band description names: ``(code or word, role or None)``, or None.

    ``B04``, ``B4``, ``b04 (665 nm)`` name Sentinel-2's band B04 (red);
    ``B01`` names a band of no role; ``red``, ``NIR``, ``near-infrared`` name
    the role; anything else (a date, ``Band 1``) names nothing we know.
    """
    text = (description or "").strip()
    if not text:
        return None
    if text.lower() in _ROLE_WORDS:
        return text, _ROLE_WORDS[text.lower()]
    first = re.split(r"[\s,;:()\[\]]+", text)[0]
    m = _BAND_CODE.fullmatch(first)
    if m is None:
        role = _ROLE_WORDS.get(first.lower())
        return (first, role) if role else None
    number, a = int(m.group(1)), m.group(2).upper()
    code = f"B{number}A" if a else f"B{number:02d}"
    roles = [role for role, codes in ROLE_BANDS.items() if code in codes]
    return code, roles[0] if roles else None


def check_band_descriptions(
    descriptions: Sequence[str | None], bands: Mapping[str, int]
) -> None:
    """Refuse a band map that the raster's own band descriptions contradict.

    A band described as a Sentinel-2 band (``B01`` ... ``B12``, ``B8A``) must be
    one of :data:`ROLE_BANDS` for its role (red B04, green B03, blue B02, nir
    B08 or B8A); one described as a role (``red``, ``NIR``, case ignored) must
    be that role. Bands without a description, or with one naming nothing of
    the sort (a date, ``Band 1``), pass.

    Args:
        descriptions: the raster's band descriptions, band 1 first.
        bands: role -> 1-based band number (numbers past the raster's bands are
            left to the caller).

    Raises:
        BandError: each mismatch named (``band 1 is described B01, not red
            (B04)``), with the band map the descriptions give where they give one.

    >>> check_band_descriptions(["B02", "B03", "B04", "B08"], {"red": 3, "nir": 4})
    >>> check_band_descriptions(["B01", "B02"], {"red": 1})
    Traceback (most recent call last):
    ...
    remote_sensing.errors.BandError: band 1 is described B01, not red (B04)
    """
    wrong = []
    for role, index in bands.items():
        if not 1 <= index <= len(descriptions):
            continue
        named = _described(descriptions[index - 1])
        if named is not None and named[1] != role:
            wanted = " or ".join(ROLE_BANDS.get(role, (role,)))
            wrong.append(
                f"band {index} is described {str(descriptions[index - 1]).strip()}, "
                f"not {role} ({wanted})"
            )
    if not wrong:
        return
    found: dict[str, int] = {}
    for role in bands:
        codes = ROLE_BANDS.get(role, ())
        ranked = [  # B08 before B8A: the order of ROLE_BANDS
            (codes.index(n[0]) if n[0] in codes else len(codes), i)
            for i, d in enumerate(descriptions, start=1)
            if (n := _described(d)) is not None and n[1] == role
        ]
        if ranked:
            found[role] = min(ranked)[1]
    hint = (
        ": the descriptions give " + ",".join(f"{r}={i}" for r, i in found.items())
        if found
        else ""
    )
    raise BandError("; ".join(wrong) + hint)


def _check_bands(bands: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for role, index in bands.items():
        if role not in BAND_ROLES:
            raise ParameterError(
                f"band {role!r}: the roles are {', '.join(BAND_ROLES)}"
            )
        if isinstance(index, bool) or not isinstance(index, int) or index < 1:
            raise ParameterError(f"band {role}={index!r}: band numbers start at 1")
        out[role] = index
    if not out:
        raise ParameterError("bands: name at least one band, e.g. red=1,nir=4")
    if len(set(out.values())) != len(out):
        raise ParameterError(f"bands {out}: each role needs its own band")
    return out


class SceneCatalogue:
    """The scenes of one folder, read from and written to ``catalogue.json``.

    Reads are cheap: the file is parsed again only when its modification time
    or size changes. Safe to share between threads.

    Args:
        folder: the catalogue folder (created by the first registration).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._seen: tuple[int, int] | None = None
        self._scenes: dict[str, Scene] = {}

    @property
    def file(self) -> Path:
        """The catalogue file."""
        return self.folder / CATALOGUE_FILE

    def _load(self) -> dict[str, Scene]:
        try:
            st = self.file.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._seen:
            return self._scenes
        try:
            doc = json.loads(self.file.read_text(encoding="utf-8"))
            entries = doc["scenes"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RasterError(f"{self.file}: not a scene catalogue ({exc})") from exc
        scenes = {s.name: s for s in (Scene.from_json(e) for e in entries)}
        self._scenes, self._seen = scenes, stamp
        return scenes

    def scenes(self) -> list[Scene]:
        """Every scene, by date then name."""
        return sorted(self._load().values(), key=lambda s: (s.date, s.name))

    def get(self, name: str) -> Scene:
        """The scene called ``name``.

        Raises:
            SceneNotFoundError: no such scene, or ``name`` is not a scene name.
        """
        try:
            check_scene_name(name)
        except ParameterError as exc:
            raise SceneNotFoundError(str(exc)) from exc
        scene = self._load().get(name)
        if scene is None:
            raise SceneNotFoundError(f"no scene {name!r} in the catalogue")
        return scene

    def path(self, scene: Scene) -> Path:
        """The scene's COG."""
        return self.folder / scene.file

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".catalogue.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

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
        """Convert ``source``'s bands to a COG in the catalogue and record the scene.

        Args:
            source: a GeoTIFF (or any raster GDAL reads) with a CRS.
            name: the new scene's name (see :func:`check_scene_name`).
            day: acquisition date.
            bands: role -> 1-based band of ``source``; the COG holds these bands
                only, in the order given (its band numbers are in
                :attr:`Scene.bands`).
            scale: reflectance = DN x scale + offset (0.0001 for Sentinel-2 L2A).
            offset: see ``scale``.
            check_descriptions: refuse a band map that ``source``'s band
                descriptions contradict (see :func:`check_band_descriptions`);
                False for a file whose descriptions are known to be wrong.

        Returns:
            The scene (the one already registered if the same file was
            registered under the same name, date, bands and scale before).

        Raises:
            ParameterError: a malformed name, band map or scale.
            SceneExistsError: the name, or its file, is taken by another scene.
            RasterError: ``source`` is missing, not a raster, or has no CRS.
            BandError: ``source`` lacks a named band, or its band descriptions
                say a named band is another (``check_descriptions``).
        """
        check_scene_name(name)
        roles = _check_bands(bands)
        if not (math.isfinite(scale) and scale > 0 and math.isfinite(offset)):
            raise ParameterError(f"scale {scale}, offset {offset}: scale must be > 0")
        source = Path(source)
        if not source.is_file():
            raise RasterError(f"{source}: no such file")
        with self._locked():
            digest = _sha256(source)
            known = self._load().get(name)
            if known is not None:
                same = (
                    known.source_sha256 == digest
                    and known.date == day
                    and dict(known.source_bands) == roles
                    and known.scale == scale
                    and known.offset == offset
                    and self.path(known).is_file()
                )
                if same:
                    return known
                raise SceneExistsError(
                    f"scene name {name!r} is taken (registered from {known.source} "
                    f"for {known.date})"
                )
            target = self.folder / f"{name}.tif"
            if target.exists():
                raise SceneExistsError(
                    f"{target.name} already exists in the catalogue folder "
                    f"{self.folder}: choose another scene name"
                )
            scene = self._write_cog(
                source, name, day, roles, scale, offset, digest, check_descriptions
            )
            try:
                self._save({**self._load(), name: scene})
            except BaseException:
                self.path(scene).unlink(missing_ok=True)
                raise
            return scene

    def _write_cog(
        self,
        source: Path,
        name: str,
        day: date,
        roles: dict[str, int],
        scale: float,
        offset: float,
        digest: str,
        check_descriptions: bool = True,
    ) -> Scene:
        import rasterio
        from rasterio.errors import RasterioError
        from rasterio.warp import transform_bounds
        from rio_cogeo.cogeo import cog_translate, cog_validate
        from rio_cogeo.profiles import cog_profiles
        from rio_tiler.errors import RioTilerError
        from rio_tiler.io import Reader

        target = self.folder / f"{name}.tif"
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{name}.", suffix=".tif", dir=self.folder
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            try:
                src = rasterio.open(source)
            except RasterioError as exc:
                raise RasterError(
                    f"{source.name}: not a readable raster ({exc})"
                ) from exc
            with src:
                if src.crs is None:
                    raise RasterError(
                        f"{source.name}: the raster has no coordinate reference system"
                    )
                for role, index in roles.items():
                    if index > src.count:
                        raise BandError(
                            f"{source.name}: {role} is band {index}, but the raster has "
                            f"{src.count} band{'s' if src.count != 1 else ''}"
                        )
                if check_descriptions:
                    try:
                        check_band_descriptions(src.descriptions, roles)
                    except BandError as exc:
                        raise BandError(f"{source.name}: {exc}") from exc
                nodata = src.nodata
                profile = cog_profiles.get("deflate")  # type: ignore[no-untyped-call]
                profile.update(
                    blockxsize=256,
                    blockysize=256,
                    predictor=3 if src.dtypes[0].startswith("float") else 2,
                )
                try:
                    cog_translate(
                        src,
                        str(tmp),
                        profile,
                        indexes=list(roles.values()),
                        nodata=nodata,
                        web_optimized=False,
                        overview_resampling="average",
                        quiet=True,
                        in_memory=None,
                        config={"GDAL_NUM_THREADS": "1"},
                        additional_cog_metadata={
                            "BAND_ROLES": ",".join(roles),
                            "REFLECTANCE_SCALE": repr(scale),
                            "REFLECTANCE_OFFSET": repr(offset),
                        },
                    )
                except (RasterioError, ValueError) as exc:
                    raise RasterError(
                        f"{source.name}: cannot write a COG ({exc})"
                    ) from exc
            valid, errors, _ = cog_validate(str(tmp), quiet=True)
            if not valid:
                raise RasterError(f"{source.name}: the COG is not valid: {errors}")
            with rasterio.open(tmp) as cog:
                epsg = cog.crs.to_epsg()
                crs = f"EPSG:{epsg}" if epsg else cog.crs.to_wkt()
                w, s, e, n = transform_bounds(
                    cog.crs, "EPSG:4326", *cog.bounds, densify_pts=21
                )
                width, height = cog.width, cog.height
                res = (float(cog.res[0]), float(cog.res[1]))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with Reader(str(tmp)) as reader:
                        minzoom, maxzoom = int(reader.minzoom), int(reader.maxzoom)
            except RioTilerError as exc:
                raise RasterError(f"{source.name}: cannot tile ({exc})") from exc
            cog_digest = _sha256(tmp)
            os.chmod(
                tmp, 0o644
            )  # mkstemp made it 0600; the server may run as another user
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return Scene(
            name=name,
            date=day,
            file=target.name,
            bounds=(round(w, 7), round(s, 7), round(e, 7), round(n, 7)),
            bands={role: i for i, role in enumerate(roles, start=1)},
            scale=scale,
            offset=offset,
            crs=crs,
            width=width,
            height=height,
            resolution=res,
            nodata=None if nodata is None else float(nodata),
            minzoom=minzoom,
            maxzoom=maxzoom,
            source=source.name,
            source_bands=dict(roles),
            source_sha256=digest,
            cog_sha256=cog_digest,
        )

    def _save(self, scenes: Mapping[str, Scene]) -> None:
        doc = {
            "version": _VERSION,
            "scenes": [
                s.to_json()
                for s in sorted(scenes.values(), key=lambda s: (s.date, s.name))
            ],
        }
        fd, tmp_name = tempfile.mkstemp(
            prefix=".catalogue.", suffix=".json", dir=self.folder
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=2, ensure_ascii=False)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, self.file)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        self._seen = None
