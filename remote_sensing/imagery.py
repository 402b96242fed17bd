"""Rasters as the damage assessment needs them: band maps, scale, nodata, clouds.

An :class:`ImageSpec` says which band of which GeoTIFF/COG is red, NIR (and
blue), how to scale digital numbers to reflectance, and where the cloud mask
is. :func:`open_image` checks all of that up front (missing bands, unknown CRS,
unreadable files) and returns an :class:`OpenImage` that reads reflectance and
clear-sky masks one window at a time, so no scene is ever read whole.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from remote_sensing.errors import (
    BandError,
    GridMismatchError,
    ParameterError,
    RasterError,
)

__all__ = [
    "CloudMask",
    "Grid",
    "ImageSpec",
    "OpenImage",
    "open_image",
    "parse_band_map",
    "reusing_datasets",
]

_BAND_NAMES = ("red", "nir", "blue", "green")


def parse_band_map(text: str) -> dict[str, int]:
    """Parse ``red=1,nir=4[,blue=3]`` into a band map (1-based band numbers).

    >>> parse_band_map("red=5, nir=8")
    {'red': 5, 'nir': 8}
    """
    bands: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([a-z]+)\s*=\s*(\d+)", part.lower())
        if not m or m.group(1) not in _BAND_NAMES:
            raise ParameterError(
                f"band map item {part!r}: use NAME=NUMBER with NAME one of {', '.join(_BAND_NAMES)}"
            )
        if int(m.group(2)) < 1:
            raise ParameterError(f"band map item {part!r}: band numbers start at 1")
        bands[m.group(1)] = int(m.group(2))
    for needed in ("red", "nir"):
        if needed not in bands:
            raise ParameterError(f"band map {text!r} lacks {needed}")
    return bands


@dataclass(frozen=True)
class CloudMask:
    """Where the sky was not clear.

    Attributes:
        path: a mask raster, or ``None`` for a band of the image itself (for
            example a Sentinel-2 scene classification band).
        band: the 1-based band holding the mask or classes.
        classes: values that mean cloudy or unusable (default ``{1}`` for a
            1 = cloud mask; for Sentinel-2 SCL use e.g. ``{0, 1, 3, 8, 9, 10}``).
    """

    path: Path | None = None
    band: int = 1
    classes: frozenset[int] = frozenset({1})


@dataclass(frozen=True)
class ImageSpec:
    """One acquisition: a raster file and how to read reflectance from it.

    Attributes:
        path: a GeoTIFF or COG readable by rasterio.
        bands: band map, at least ``red`` and ``nir`` (1-based); ``blue`` enables EVI.
        scale: reflectance = DN x scale + offset (0.0001 for Sentinel-2 L2A DNs).
        offset: see ``scale``.
        nodata: digital number meaning no data (default: the file's own, if any).
        cloud_mask: where clouds are, if known.
    """

    path: Path
    bands: Mapping[str, int]
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    cloud_mask: CloudMask | None = None

    def __post_init__(self) -> None:
        if not ("red" in self.bands and "nir" in self.bands):
            raise ParameterError(f"{self.path}: the band map needs red and nir")
        if not (
            math.isfinite(self.scale) and self.scale > 0 and math.isfinite(self.offset)
        ):
            raise ParameterError(f"{self.path}: scale must be finite and > 0")


@dataclass(frozen=True)
class Grid:
    """A pixel grid: CRS, affine transform (pixel to CRS units) and size."""

    crs: CRS
    transform: rasterio.Affine
    width: int
    height: int

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in CRS units squared."""
        t = self.transform
        return float(abs(t.a * t.e - t.b * t.d))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    def same_as(self, other: Grid) -> bool:
        """Whether both grids have the same CRS, size and (within 1e-6 px) transform."""
        return (
            self.crs == other.crs
            and (self.width, self.height) == (other.width, other.height)
            and self.transform.almost_equals(other.transform, precision=1e-6)
        )


def _grid_of(ds: DatasetReader | WarpedVRT) -> Grid:
    return Grid(ds.crs, ds.transform, ds.width, ds.height)


@dataclass
class OpenImage:
    """An opened :class:`ImageSpec`, aligned to a target grid, read by window.

    Use :func:`open_image`; close it (or use ``with``) when done.
    """

    spec: ImageSpec
    grid: Grid
    _dataset: DatasetReader | WarpedVRT
    _mask: DatasetReader | WarpedVRT | None
    _owned: list[DatasetReader | WarpedVRT] = field(default_factory=list)

    @property
    def has_blue(self) -> bool:
        """Whether EVI can be computed."""
        return "blue" in self.spec.bands

    @property
    def dataset(self) -> DatasetReader | WarpedVRT:
        """The (aligned) dataset windows are read from."""
        return self._dataset

    def read_reflectance(
        self, window: Window, raw: Mapping[int, npt.NDArray[Any]] | None = None
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Reflectance of each mapped band in ``window``; NaN where no data.

        Args:
            window: pixel window on :attr:`grid`.
            raw: band number -> digital numbers already read for this window
                (lets two images in one file share a read).

        Raises:
            RasterError: the window cannot be read (e.g. a truncated file).
        """
        if raw is None:
            raw = self.read_raw(window, list(self.spec.bands.values()))
        scale = np.float32(self.spec.scale)
        offset = np.float32(self.spec.offset)
        out: dict[str, npt.NDArray[np.float32]] = {}
        for name, index in self.spec.bands.items():
            band = raw[index]
            values = band.astype(np.float32) * scale + offset
            invalid = self._invalid(band, index, window)
            if invalid is not None:
                values[invalid] = np.nan
            out[name] = values
        return out

    def read_raw(
        self, window: Window, indexes: list[int]
    ) -> dict[int, npt.NDArray[Any]]:
        """Digital numbers of ``indexes`` (1-based) in ``window``.

        Raises:
            RasterError: the window cannot be read (e.g. a truncated file).
        """
        unique = sorted(set(indexes))
        try:
            data = self._dataset.read(unique, window=window, boundless=False)
        except RasterioError as exc:
            raise RasterError(
                f"{self.spec.path.name}: cannot read {window}: {exc}"
            ) from exc
        return dict(zip(unique, data, strict=True))

    def _invalid(
        self, band: npt.NDArray[Any], index: int, window: Window
    ) -> npt.NDArray[np.bool_] | None:
        invalid: npt.NDArray[np.bool_] | None = None
        nodata = (
            self.spec.nodata
            if self.spec.nodata is not None
            else self._nodata[index - 1]
        )
        if nodata is not None:
            invalid = np.isnan(band) if math.isnan(nodata) else band == nodata
        if band.dtype.kind == "f":
            nan = ~np.isfinite(band)
            invalid = nan if invalid is None else invalid | nan
        if self._masked[index - 1]:
            try:
                mask = self._dataset.read_masks(index, window=window) == 0
            except RasterioError as exc:
                raise RasterError(
                    f"{self.spec.path.name}: cannot read {window}: {exc}"
                ) from exc
            invalid = mask if invalid is None else invalid | mask
        return invalid

    def __post_init__(self) -> None:
        from rasterio.enums import MaskFlags

        # Read once: rasterio computes these properties on every access.
        self._nodata: tuple[float | None, ...] = tuple(self._dataset.nodatavals)
        self._masked: tuple[bool, ...] = tuple(
            MaskFlags.per_dataset in flags or MaskFlags.alpha in flags
            for flags in self._dataset.mask_flag_enums
        )

    def read_cloudy(self, window: Window) -> npt.NDArray[np.bool_] | None:
        """True where the cloud mask marks the pixel unusable (None without a mask)."""
        mask = self.spec.cloud_mask
        if mask is None:
            return None
        source = self._mask if self._mask is not None else self._dataset
        try:
            values = source.read(mask.band, window=window, boundless=False)
        except RasterioError as exc:
            raise RasterError(f"cloud mask: cannot read {window}: {exc}") from exc
        return np.isin(values, list(mask.classes))

    def close(self) -> None:
        """Close every dataset this image opened."""
        for ds in reversed(self._owned):
            ds.close()
        self._owned.clear()

    def __enter__(self) -> OpenImage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_shared = threading.local()


@contextmanager
def reusing_datasets() -> Iterator[None]:
    """Within this block, in this thread, each raster file is opened once and kept open.

    For work that opens the same scenes again and again (a task measuring many
    claims of one tile on one scene pair): without it, every
    :func:`open_image` opens its file anew (GDAL reads its header and
    overviews each time). Images opened inside the block must not be used
    after it; the files are closed on leaving it. Blocks nest (the outermost
    one keeps the files). Datasets are per thread, as rasterio requires.
    """
    if getattr(_shared, "files", None) is not None:
        yield
        return
    files: dict[tuple[Path, str], DatasetReader] = {}
    _shared.files = files
    try:
        yield
    finally:
        _shared.files = None
        for ds in files.values():
            ds.close()


def _open_kept(
    path: Path, what: str, owned: list[DatasetReader | WarpedVRT]
) -> DatasetReader:
    """``_open``, sharing the file inside :func:`reusing_datasets`; else owned by the caller."""
    files: dict[tuple[Path, str], DatasetReader] | None = getattr(
        _shared, "files", None
    )
    if files is None:
        ds = _open(path, what)
        owned.append(ds)
        return ds
    key = (path, what)
    kept = files.get(key)
    if kept is None or kept.closed:
        kept = files[key] = _open(path, what)
    return kept


def _open(path: Path, what: str) -> DatasetReader:
    if not path.is_file():
        raise RasterError(f"{what} {path}: no such file")
    try:
        ds = rasterio.open(path)
    except RasterioError as exc:
        raise RasterError(f"{what} {path.name}: not a readable raster ({exc})") from exc
    if ds.crs is None:
        ds.close()
        raise RasterError(
            f"{what} {path.name}: the raster has no coordinate reference system"
        )
    t = ds.transform
    if t.b != 0 or t.d != 0:
        ds.close()
        raise RasterError(f"{what} {path.name}: rotated rasters are not supported")
    return ds


def _align(
    ds: DatasetReader, target: Grid | None, owned: list[DatasetReader | WarpedVRT]
) -> DatasetReader | WarpedVRT:
    if target is None or _grid_of(ds).same_as(target):
        return ds
    vrt = WarpedVRT(
        ds,
        crs=target.crs,
        transform=target.transform,
        width=target.width,
        height=target.height,
        resampling=Resampling.nearest,
    )
    owned.append(vrt)
    return vrt


def open_image(spec: ImageSpec, grid: Grid | None = None) -> OpenImage:
    """Open ``spec`` and check its bands and mask; align it to ``grid`` if given.

    Rasters on another grid are warped on the fly (nearest neighbour, window by
    window) through a GDAL warped VRT.

    Raises:
        RasterError: the file is missing, unreadable, has no CRS or is rotated.
        BandError: a mapped band or the mask band is out of range.
        GridMismatchError: the mask and the image cannot be aligned.
    """
    owned: list[DatasetReader | WarpedVRT] = []
    ds = _open_kept(spec.path, "image", owned)
    try:
        for name, index in spec.bands.items():
            if not 1 <= index <= ds.count:
                raise BandError(
                    f"{spec.path.name}: {name} is band {index}, but the raster has "
                    f"{ds.count} band{'s' if ds.count != 1 else ''}"
                )
        mask_ds: DatasetReader | WarpedVRT | None = None
        if spec.cloud_mask is not None:
            if spec.cloud_mask.path is None:
                mask_count = ds.count
                mask_name = spec.path.name
            else:
                raw_mask = _open_kept(spec.cloud_mask.path, "cloud mask", owned)
                mask_count = raw_mask.count
                mask_name = spec.cloud_mask.path.name
                try:
                    mask_ds = _align(
                        raw_mask, _grid_of(ds) if grid is None else grid, owned
                    )
                except RasterioError as exc:
                    raise GridMismatchError(
                        f"{mask_name}: cannot align to the image"
                    ) from exc
            if not 1 <= spec.cloud_mask.band <= mask_count:
                raise BandError(
                    f"{mask_name}: the cloud mask is band {spec.cloud_mask.band}, but the "
                    f"raster has {mask_count} band{'s' if mask_count != 1 else ''}"
                )
        try:
            aligned = _align(ds, grid, owned)
        except RasterioError as exc:
            raise GridMismatchError(
                f"{spec.path.name}: cannot align to {grid}"
            ) from exc
        return OpenImage(spec, _grid_of(aligned), aligned, mask_ds, owned)
    except BaseException:
        for item in reversed(owned):
            item.close()
        raise
