"""Crop damage per plot from a before/after pair of images.

For each plot: mean NDVI before and after (and EVI where blue exists), the
clear (cloud-free, valid) fraction, the damaged fraction (share of the clear
area whose NDVI dropped by at least ``threshold``), damaged area, and a status.
Every mean is weighted by exact partial-pixel coverage: exactextract computes
the statistics while this module supplies derived rasters (NDVI, clear,
damaged) computed window by window from rasterio reads, so a scene is never
read whole and each plot's window is read once.

Numbers are only given for ``assessed`` plots: a plot that the imagery does not
cover, whose clear fraction is below the minimum, or whose window could not be
read gets a status and no figures (never a number computed from clouds).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import rasterio
import shapely
from exactextract.operation import Operation
from pyproj import CRS, Transformer
from rasterio import features
from rasterio.windows import Window
from rasterio.windows import from_bounds as window_from_bounds

from remote_sensing._zonal import DerivedLayer, zonal
from remote_sensing.errors import ParameterError, RasterError
from remote_sensing.imagery import Grid, ImageSpec, OpenImage, open_image
from remote_sensing.plots import PlotSet
from remote_sensing.units import (
    M2_PER_HA,
    M2_PER_MU,
    json_area_ha,
    json_area_m2,
    json_area_mu,
    json_number,
)

__all__ = [
    "DamageAssessment",
    "DamageOptions",
    "DamageStatus",
    "assess_damage",
    "damage_polygons",
]

DamageStatus = Literal[
    "assessed",
    "insufficient_clear_imagery",
    "not_covered",
    "invalid_plot",
    "raster_read_error",
]
ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class DamageOptions:
    """Parameters of a damage assessment.

    Attributes:
        threshold: an NDVI drop of at least this counts as damaged (default 0.3).
        min_clear_fraction: below this clear share of the plot, no figures are
            given (status ``insufficient_clear_imagery``; default 0.8).
        min_coverage: below this share of the plot inside the imagery, status
            ``not_covered`` (default 0.99).
        cache_mb: GDAL's block cache during the run, in MiB; bounds memory
            whatever the raster's size (plots are visited in raster order, so
            a small cache suffices).
    """

    threshold: float = 0.3
    min_clear_fraction: float = 0.8
    min_coverage: float = 0.99
    cache_mb: int = 32

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 2:
            raise ParameterError("threshold must be in (0, 2] NDVI units")
        if not 0 <= self.min_clear_fraction <= 1 or not 0 < self.min_coverage <= 1:
            raise ParameterError(
                "min_clear_fraction and min_coverage must be in [0, 1]"
            )


@dataclass(frozen=True)
class DamageAssessment:
    """Damage figures of one plot; NaN wherever ``status`` is not ``assessed``.

    Attributes:
        plot_id: the plot.
        area_m2: geodesic plot area.
        coverage: share of the plot inside the imagery.
        clear_fraction: share of the plot clear (valid, cloud-free) in both images.
        ndvi_before, ndvi_after: coverage-weighted mean NDVI over the clear area.
        evi_before, evi_after: the same for EVI (NaN without a blue band).
        damaged_fraction: share of the clear area whose NDVI dropped >= threshold.
        damaged_area_m2: damaged_fraction x area_m2.
        status: see :data:`DamageStatus`.
        reason: why the status is not ``assessed`` (empty when it is).
    """

    plot_id: str
    area_m2: float
    coverage: float
    clear_fraction: float
    ndvi_before: float
    ndvi_after: float
    evi_before: float
    evi_after: float
    damaged_fraction: float
    damaged_area_m2: float
    status: DamageStatus
    reason: str = ""

    @property
    def damaged_area_ha(self) -> float:
        """Damaged area in hectares."""
        return self.damaged_area_m2 / M2_PER_HA

    @property
    def damaged_area_mu(self) -> float:
        """Damaged area in mu."""
        return self.damaged_area_m2 / M2_PER_MU

    def to_properties(self) -> dict[str, Any]:
        """GeoJSON feature properties (NaN becomes null).

        Areas keep the computation's precision: ``*_m2`` to 0.01 m2, ``*_ha`` to
        1e-6 ha, ``*_mu`` to 1e-5 mu; fractions and indices to 4 decimals.
        """
        return {
            "plot_id": self.plot_id,
            "area_m2": json_area_m2(self.area_m2),
            "area_ha": json_area_ha(self.area_m2),
            "clear_fraction": json_number(self.clear_fraction),
            "ndvi_before": json_number(self.ndvi_before),
            "ndvi_after": json_number(self.ndvi_after),
            "evi_before": json_number(self.evi_before),
            "evi_after": json_number(self.evi_after),
            "damaged_fraction": json_number(self.damaged_fraction),
            "damaged_area_m2": json_area_m2(self.damaged_area_m2),
            "damaged_area_ha": json_area_ha(self.damaged_area_m2),
            "damaged_area_mu": json_area_mu(self.damaged_area_m2),
            "status": self.status,
            "reason": self.reason,
        }


# --- derived rasters for exactextract -------------------------------------------------


class _PairWindows:
    """Reads both images for one window and derives every layer, once per window."""

    def __init__(self, before: OpenImage, after: OpenImage, threshold: float) -> None:
        self.before = before
        self.after = after
        self.threshold = threshold
        self.with_evi = before.has_blue and after.has_blue
        self._key: tuple[int, int, int, int] | None = None
        self._layers: dict[str, npt.NDArray[np.float64]] = {}
        # Two images of one file (bands 1-4 before, 5-8 after) share each read.
        self.shared = before.dataset is after.dataset or (
            before.spec.path.resolve() == after.spec.path.resolve()
            and before.grid.same_as(after.grid)
            and after.dataset.name == before.dataset.name
        )
        self._indexes = sorted(
            set(before.spec.bands.values()) | set(after.spec.bands.values())
        )
        self.failed: list[tuple[int, int, int, int]] = []
        self.errors: list[str] = []

    def layer(
        self, name: str, x0: int, y0: int, nx: int, ny: int
    ) -> npt.NDArray[np.float64]:
        key = (x0, y0, nx, ny)
        if key != self._key:
            self._key = key
            try:
                self._layers = self._derive(Window(x0, y0, nx, ny))
            except RasterError as exc:
                self.failed.append(key)
                self.errors.append(str(exc))
                nan = np.full((ny, nx), np.nan)
                names = ("ndvi_b", "ndvi_a", "evi_b", "evi_a", "damaged")
                self._layers = dict.fromkeys(names, nan)
        return self._layers[name]

    def _derive(self, window: Window) -> dict[str, npt.NDArray[np.float64]]:
        if self.shared:
            raw = self.before.read_raw(window, self._indexes)
            b = self.before.read_reflectance(window, raw)
            a = self.after.read_reflectance(window, raw)
        else:
            b = self.before.read_reflectance(window)
            a = self.after.read_reflectance(window)
        with np.errstate(divide="ignore", invalid="ignore"):
            ndvi_b = (b["nir"] - b["red"]) / (b["nir"] + b["red"])
            ndvi_a = (a["nir"] - a["red"]) / (a["nir"] + a["red"])
        clear = np.isfinite(ndvi_b) & np.isfinite(ndvi_a)
        for image in (self.before, self.after):
            cloudy = image.read_cloudy(window)
            if cloudy is not None:
                clear &= ~cloudy
        nan = np.float32(np.nan)
        out = {
            "ndvi_b": np.where(clear, ndvi_b, nan).astype(np.float64),
            "ndvi_a": np.where(clear, ndvi_a, nan).astype(np.float64),
            "damaged": np.where(clear, (ndvi_b - ndvi_a) >= self.threshold, nan).astype(
                np.float64
            ),
        }
        if self.with_evi:
            with np.errstate(divide="ignore", invalid="ignore"):
                evi_b = _evi(b)
                evi_a = _evi(a)
            out["evi_b"] = np.where(clear & np.isfinite(evi_b), evi_b, nan).astype(
                np.float64
            )
            out["evi_a"] = np.where(clear & np.isfinite(evi_a), evi_a, nan).astype(
                np.float64
            )
        else:
            out["evi_b"] = out["evi_a"] = np.full(clear.shape, np.nan)
        return out


def _evi(r: dict[str, npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    """EVI = 2.5 (NIR - red) / (NIR + 6 red - 7.5 blue + 1), reflectance 0-1."""
    evi: npt.NDArray[np.float32] = (
        np.float32(2.5)
        * (r["nir"] - r["red"])
        / (r["nir"] + 6 * r["red"] - np.float32(7.5) * r["blue"] + 1)
    )
    return evi


# --- the assessment ------------------------------------------------------------------


_per_thread = threading.local()


def _kept(kind: str, key: Any, build: Callable[[], Any]) -> Any:
    """``build()``, kept per thread under (``kind``, ``key``): at most 64 of a kind.

    pyproj's objects belong to the thread's PROJ context, so each thread keeps
    its own.
    """
    caches: dict[str, dict[Any, Any]] | None = getattr(_per_thread, "caches", None)
    if caches is None:
        caches = _per_thread.caches = {}
    cache = caches.setdefault(kind, {})
    found = cache.get(key)
    if found is None:
        if len(cache) >= 64:
            cache.clear()
        found = cache[key] = build()
    return found


def _transformer(src: CRS | str, dst: CRS | str) -> Transformer:
    """``Transformer.from_crs(src, dst, always_xy=True)``, built once per thread and pair.

    Building one costs about a millisecond (PROJ's database); a task measuring
    a tile's claims would build several per claim.
    """
    found: Transformer = _kept(
        "transformer",
        (str(src), str(dst)),
        lambda: Transformer.from_crs(src, dst, always_xy=True),
    )
    return found


def _pyproj_crs(wkt: str) -> CRS:
    """``CRS.from_wkt(wkt)``, parsed once per thread and WKT."""
    found: CRS = _kept("crs", wkt, lambda: CRS.from_wkt(wkt))
    return found


def _plots_in_crs(
    plots: PlotSet, crs: CRS
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    usable = plots.usable
    geoms = np.empty(len(plots), dtype=object)
    if usable.any():
        transformer = _transformer("EPSG:4326", crs)
        geoms[usable] = shapely.transform(
            plots.geometry[usable].astype(object),
            lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])),
        )
    return geoms, usable


def assess_damage(
    plots: PlotSet,
    before: ImageSpec,
    after: ImageSpec,
    options: DamageOptions | None = None,
    *,
    progress: ProgressFn | None = None,
) -> list[DamageAssessment]:
    """Assess every plot of ``plots`` on the ``before``/``after`` pair.

    ``after`` is read on ``before``'s pixel grid (warped on the fly if it is
    on another one). Plots are reprojected to the rasters' CRS.

    Args:
        plots: validated plots; plots with errors get status ``invalid_plot``.
        before: the image before the loss event.
        after: the image after it.
        options: thresholds.
        progress: called with (fraction done, message) during the run.

    Raises:
        RasterError: an image cannot be opened or lacks a mapped band.
    """
    options = options or DamageOptions()
    with rasterio.Env(GDAL_CACHEMAX=options.cache_mb):
        with open_image(before) as img_b, open_image(after, img_b.grid) as img_a:
            return _assess(plots, img_b, img_a, options, progress)


def _assess(
    plots: PlotSet,
    img_b: OpenImage,
    img_a: OpenImage,
    options: DamageOptions,
    progress: ProgressFn | None,
) -> list[DamageAssessment]:
    grid = img_b.grid
    crs = _pyproj_crs(grid.crs.to_wkt())
    geoms, usable = _plots_in_crs(plots, crs)
    n = len(plots)
    stats = {k: np.full(n, np.nan) for k in ("count", "clear", "ndvi_b", "ndvi_a")}
    stats |= {k: np.full(n, np.nan) for k in ("evi_b", "evi_a", "damaged")}
    pair = _PairWindows(img_b, img_a, options.threshold)
    rows_failed = np.zeros(n, dtype=bool)
    # Only plots that touch the raster go to exactextract.
    inside = usable.copy()
    box = shapely.box(*grid.bounds)
    inside[usable] = shapely.intersects(geoms[usable].astype(object), box)
    idx = _raster_order(geoms, np.flatnonzero(inside), grid)
    if len(idx):
        names = ["ndvi_b", "ndvi_a", "damaged"] + (
            ["evi_b", "evi_a"] if pair.with_evi else []
        )
        layers = {
            name: DerivedLayer(name, grid, functools.partial(pair.layer, name))
            for name in names
        }
        # "damaged" is NaN wherever a pixel is not clear in both images, so its
        # coverage-weighted count is the clear area in cells.
        ops = [Operation("count", "clear", layers["damaged"])]
        ops += [Operation("mean", k, layers[k]) for k in names]
        found = zonal(geoms[idx], idx, crs.to_wkt(), ops, n, progress)
        for name, column in found.items():
            stats[name] = column
        if pair.failed:
            rows_failed[_rows_touching(geoms, idx, grid, pair.failed)] = True
    expected = np.full(n, np.nan)
    if usable.any():
        polys = geoms[usable].astype(object)
        expected[usable] = shapely.area(polys) / grid.pixel_area
        # Cells of the plot inside the raster's extent, from geometry.
        stats["count"][usable] = (
            shapely.area(shapely.intersection(polys, box)) / grid.pixel_area
        )
    return [
        _row(
            plots,
            i,
            usable[i],
            rows_failed[i],
            stats,
            expected[i],
            options,
            pair.errors,
        )
        for i in range(n)
    ]


def _raster_order(
    geoms: npt.NDArray[np.object_], idx: npt.NDArray[np.int64], grid: Grid
) -> npt.NDArray[np.int64]:
    """Plots sorted by strips of 256 raster rows, then by column: neighbours share blocks."""
    if not len(idx):
        return idx
    xy = shapely.get_coordinates(shapely.centroid(geoms[idx].astype(object)))
    cols, rows = ~grid.transform @ (xy[:, 0], xy[:, 1])
    order = np.lexsort((cols, np.floor(np.asarray(rows) / 256)))
    ordered: npt.NDArray[np.int64] = idx[order]
    return ordered


def _rows_touching(
    geoms: npt.NDArray[np.object_],
    idx: npt.NDArray[np.int64],
    grid: Grid,
    windows: list[tuple[int, int, int, int]],
) -> npt.NDArray[np.int64]:
    t = grid.transform
    boxes = []
    for x0, y0, nx, ny in windows:
        left, top = t @ (x0, y0)
        right, bottom = t @ (x0 + nx, y0 + ny)
        boxes.append(shapely.box(left, bottom, right, top))
    hit = shapely.intersects(
        geoms[idx].astype(object)[:, None], np.array(boxes)[None, :]
    )
    touched: npt.NDArray[np.int64] = idx[hit.any(axis=1)]
    return touched


def _no_figures(
    plot_id: str,
    area: float,
    status: DamageStatus,
    reason: str,
    coverage: float = math.nan,
    clear: float = math.nan,
) -> DamageAssessment:
    """A row that carries a status and a reason, and NaN for every figure."""
    nan = math.nan
    return DamageAssessment(
        plot_id, area, coverage, clear, nan, nan, nan, nan, nan, nan, status, reason
    )


def _share(cells: float, expected_cells: float) -> float:
    """Cells over expected cells, in [0, 1]; 0 when unknown."""
    if not np.isfinite(cells) or not expected_cells > 0:
        return 0.0
    return min(float(cells / expected_cells), 1.0)


def _row(
    plots: PlotSet,
    i: int,
    usable: bool,
    failed: bool,
    stats: dict[str, npt.NDArray[np.float64]],
    expected_cells: float,
    options: DamageOptions,
    errors: list[str],
) -> DamageAssessment:
    pid, area = plots.ids[i], float(plots.area_m2[i])
    if not usable:
        codes = ", ".join(p.message for p in plots.problems[i] if p.severity == "error")
        return _no_figures(
            pid, area, "invalid_plot", codes or "the plot has no usable geometry"
        )
    coverage = _share(stats["count"][i], expected_cells)
    clear = _share(stats["clear"][i], expected_cells)
    if failed:
        reason = errors[0] if errors else "the raster could not be read"
        return _no_figures(pid, area, "raster_read_error", reason, coverage)
    if coverage < options.min_coverage:
        reason = (
            f"the imagery covers {coverage * 100:.1f} % of the plot "
            f"(minimum {options.min_coverage * 100:g} %)"
        )
        return _no_figures(pid, area, "not_covered", reason, coverage, clear)
    if clear < options.min_clear_fraction or not np.isfinite(stats["damaged"][i]):
        reason = (
            f"{clear * 100:.1f} % of the plot is clear in both images "
            f"(minimum {options.min_clear_fraction * 100:g} %)"
        )
        return _no_figures(
            pid, area, "insufficient_clear_imagery", reason, coverage, clear
        )
    damaged = float(stats["damaged"][i])
    return DamageAssessment(
        plot_id=plots.ids[i],
        area_m2=area,
        coverage=coverage,
        clear_fraction=clear,
        ndvi_before=float(stats["ndvi_b"][i]),
        ndvi_after=float(stats["ndvi_a"][i]),
        evi_before=float(stats["evi_b"][i]),
        evi_after=float(stats["evi_a"][i]),
        damaged_fraction=damaged,
        damaged_area_m2=damaged * area,
        status="assessed",
    )


def damage_polygons(
    plots: PlotSet,
    assessments: list[DamageAssessment],
    before: ImageSpec,
    after: ImageSpec,
    options: DamageOptions | None = None,
) -> Iterator[dict[str, Any]]:
    """GeoJSON features (WGS84) of the damaged pixels of each assessed plot, clipped to it.

    Yields one feature per plot with damage: properties ``plot_id``,
    ``damaged_area_ha`` (geodesic area of the clipped polygons).
    """
    from remote_sensing.geodesy import geodesic_area

    options = options or DamageOptions()
    with open_image(before) as img_b, open_image(after, img_b.grid) as img_a:
        grid = img_b.grid
        crs = _pyproj_crs(grid.crs.to_wkt())
        geoms, _ = _plots_in_crs(plots, crs)
        back = _transformer(crs, "EPSG:4326")
        pair = _PairWindows(img_b, img_a, options.threshold)
        for i, row in enumerate(assessments):
            if row.status != "assessed" or not row.damaged_fraction > 0:
                continue
            plot = geoms[i]
            # Whole pixels covering the plot. Not round_offsets/round_lengths:
            # rasterio 1.4 rounds them to the nearest pixel, which drops a plot
            # narrower than half a pixel (an empty window) and clips edges.
            raw = window_from_bounds(*plot.bounds, transform=grid.transform)
            c0, r0 = math.floor(raw.col_off), math.floor(raw.row_off)
            c1 = math.ceil(raw.col_off + raw.width)
            r1 = math.ceil(raw.row_off + raw.height)
            win = Window(c0, r0, c1 - c0, r1 - r0).intersection(
                Window(0, 0, grid.width, grid.height)
            )
            x0, y0, nx, ny = (
                int(win.col_off),
                int(win.row_off),
                int(win.width) + 1,
                int(win.height) + 1,
            )
            nx, ny = min(nx, grid.width - x0), min(ny, grid.height - y0)
            damaged = pair.layer("damaged", x0, y0, nx, ny) == 1
            if not damaged.any():
                continue
            shapes = [
                shapely.geometry.shape(geom)
                for geom, _ in features.shapes(
                    damaged.astype(np.uint8),
                    mask=damaged,
                    transform=grid.transform @ grid.transform.translation(x0, y0),
                )
            ]
            clipped = shapely.intersection(shapely.union_all(shapes), plot)
            parts = [p for p in shapely.get_parts(clipped) if p.geom_type == "Polygon"]
            if not parts:
                continue
            clipped = shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]
            wgs = shapely.transform(
                clipped, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1]))
            )
            if not wgs.is_valid:  # reprojection can make touching parts cross
                wgs = shapely.make_valid(wgs)
            wgs = shapely.orient_polygons(wgs)
            damaged_m2 = geodesic_area(wgs)
            yield {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(wgs),
                "properties": {
                    "plot_id": row.plot_id,
                    "damaged_area_m2": json_area_m2(damaged_m2),
                    "damaged_area_ha": json_area_ha(damaged_m2),
                },
            }
