"""Per-plot NDVI time series, and a loss date set against earlier seasons.

An adjuster needs to see that a drop in NDVI is real and not the harvest that
happens every year: :func:`ndvi_series` gives each plot's coverage-weighted
mean NDVI and clear fraction per date from a multi-date stack with its cloud
mask, and :func:`loss_context` lines up the weeks around the loss date with the
same weeks of earlier seasons.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import rasterio
import shapely
from exactextract.operation import Operation
from pyproj import CRS, Transformer
from rasterio.errors import RasterioError
from rasterio.windows import Window

from remote_sensing._zonal import DerivedLayer, zonal
from remote_sensing.errors import (
    BandError,
    GridMismatchError,
    ParameterError,
    RasterError,
)
from remote_sensing.imagery import Grid
from remote_sensing.plots import PlotSet

__all__ = [
    "LossContext",
    "PlotSeries",
    "SeasonWindow",
    "SeriesPoint",
    "loss_context",
    "ndvi_series",
    "read_dates",
]


@dataclass(frozen=True)
class SeriesPoint:
    """One date of one plot: mean NDVI over the clear area (NaN if too cloudy)."""

    date: date
    ndvi: float
    clear_fraction: float


@dataclass(frozen=True)
class PlotSeries:
    """A plot's NDVI series, in date order."""

    plot_id: str
    points: tuple[SeriesPoint, ...]


def read_dates(stack: str | Path, dates_json: str | Path | None = None) -> list[date]:
    """Dates of a stack's bands: from a JSON list of ISO timestamps, else band descriptions.

    Raises:
        RasterError: the dates cannot be found or do not match the band count.
    """
    stack = Path(stack)
    try:
        with rasterio.open(stack) as ds:
            count, descriptions = ds.count, ds.descriptions
    except RasterioError as exc:
        raise RasterError(f"{stack.name}: not a readable raster ({exc})") from exc
    try:
        if dates_json is not None:
            raw = json.loads(Path(dates_json).read_text())
            found = [datetime.fromisoformat(str(v)).date() for v in raw]
        else:
            found = [datetime.fromisoformat(str(d)).date() for d in descriptions]
    except (ValueError, TypeError, OSError) as exc:
        raise RasterError(
            f"{stack.name}: band dates not found (give a JSON list of ISO dates): {exc}"
        ) from exc
    if len(found) != count:
        raise RasterError(f"{stack.name}: {count} bands but {len(found)} dates")
    return found


class _StackWindows:
    """Reads every band of the NDVI and cloud stacks for one window, once."""

    def __init__(
        self,
        ndvi: Any,
        clouds: Any | None,
        cloud_classes: frozenset[int],
        scale: float,
    ) -> None:
        self.ndvi, self.clouds = ndvi, clouds
        self.cloud_classes = list(cloud_classes)
        self.scale = scale
        self._key: tuple[int, int, int, int] | None = None
        self._ndvi: npt.NDArray[np.float64] = np.empty(0)
        self._clear: npt.NDArray[np.float64] = np.empty(0)

    def get(
        self, kind: str, k: int, x0: int, y0: int, nx: int, ny: int
    ) -> npt.NDArray[np.float64]:
        key = (x0, y0, nx, ny)
        if key != self._key:
            window = Window(x0, y0, nx, ny)
            try:
                values = self.ndvi.read(window=window).astype(np.float64) * self.scale
                clear = np.isfinite(values)
                if self.clouds is not None:
                    clear &= ~np.isin(
                        self.clouds.read(window=window), self.cloud_classes
                    )
            except RasterioError as exc:
                raise RasterError(f"cannot read {window}: {exc}") from exc
            self._ndvi = np.where(clear, values, np.nan)
            self._clear = clear.astype(np.float64)
            self._key = key
        layer: npt.NDArray[np.float64] = (
            self._ndvi[k] if kind == "ndvi" else self._clear[k]
        )
        return layer


def ndvi_series(
    plots: PlotSet,
    ndvi_stack: str | Path,
    *,
    dates: Sequence[date] | None = None,
    cloud_stack: str | Path | None = None,
    cloud_classes: frozenset[int] = frozenset({1}),
    scale: float = 1.0,
    min_clear_fraction: float = 0.5,
) -> list[PlotSeries]:
    """Each plot's coverage-weighted mean NDVI and clear fraction per date.

    Args:
        plots: validated plots (plots with errors get an empty series).
        ndvi_stack: one band per date, NDVI x (1 / ``scale``); NaN or the
            file's nodata where unknown.
        dates: the date of each band (default: :func:`read_dates`).
        cloud_stack: one band per date on the same grid; ``cloud_classes`` mark
            cloudy pixels.
        cloud_classes: values of ``cloud_stack`` meaning cloud.
        scale: NDVI = stored value x scale.
        min_clear_fraction: dates where less of the plot is clear get NDVI NaN.

    Raises:
        RasterError: a stack is unreadable or the stacks disagree.
    """
    if not 0 <= min_clear_fraction <= 1:
        raise ParameterError("min_clear_fraction must be in [0, 1]")
    ndvi_stack = Path(ndvi_stack)
    dates = list(dates) if dates is not None else read_dates(ndvi_stack)
    with rasterio.open(ndvi_stack) as ds:
        if ds.count != len(dates):
            raise RasterError(
                f"{ndvi_stack.name}: {ds.count} bands but {len(dates)} dates"
            )
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
        clouds = rasterio.open(cloud_stack) if cloud_stack is not None else None
        try:
            if clouds is not None:
                if not Grid(
                    clouds.crs, clouds.transform, clouds.width, clouds.height
                ).same_as(grid):
                    raise GridMismatchError(
                        "the cloud stack is not on the NDVI stack's grid"
                    )
                if clouds.count != ds.count:
                    raise BandError(
                        f"the cloud stack has {clouds.count} bands, the NDVI stack {ds.count}"
                    )
            return _series(
                plots, ds, clouds, grid, dates, cloud_classes, scale, min_clear_fraction
            )
        finally:
            if clouds is not None:
                clouds.close()


def _series(
    plots: PlotSet,
    ds: Any,
    clouds: Any | None,
    grid: Grid,
    dates: list[date],
    cloud_classes: frozenset[int],
    scale: float,
    min_clear: float,
) -> list[PlotSeries]:
    crs = CRS.from_wkt(grid.crs.to_wkt())
    usable = plots.usable
    out = [PlotSeries(pid, ()) for pid in plots.ids]
    idx = np.flatnonzero(usable)
    if not len(idx):
        return out
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    geoms = shapely.transform(
        plots.geometry[idx].astype(object),
        lambda xy: np.column_stack(to_crs.transform(xy[:, 0], xy[:, 1])),
    )
    inside = shapely.intersects(geoms, shapely.box(*grid.bounds))
    idx, geoms = idx[inside], geoms[inside]
    if not len(idx):
        return out
    stack = _StackWindows(ds, clouds, cloud_classes, scale)
    # The sources must outlive the run: exactextract holds them only weakly.
    bands = [
        (
            DerivedLayer(f"ndvi_{k}", grid, functools.partial(stack.get, "ndvi", k)),
            DerivedLayer(f"clear_{k}", grid, functools.partial(stack.get, "clear", k)),
        )
        for k in range(len(dates))
    ]
    ops = []
    for k, (ndvi_band, clear_band) in enumerate(bands):
        ops.append(Operation("mean", f"ndvi_{k}", ndvi_band))
        ops.append(Operation("sum", f"clear_{k}", clear_band))
    found = zonal(geoms, idx, crs.to_wkt(), ops, len(plots))
    expected = shapely.area(geoms) / grid.pixel_area
    for j, i in enumerate(idx.tolist()):
        points = []
        for k, day in enumerate(dates):
            clear = (
                min(float(found[f"clear_{k}"][i]) / expected[j], 1.0)
                if expected[j] > 0
                else 0.0
            )
            ndvi = (
                float(found[f"ndvi_{k}"][i])
                if clear >= min_clear and clear > 0
                else math.nan
            )
            points.append(SeriesPoint(day, ndvi, clear))
        out[i] = PlotSeries(plots.ids[i], tuple(points))
    return out


@dataclass(frozen=True)
class SeasonWindow:
    """The weeks around the loss date's day of year in one season.

    Attributes:
        year: the season.
        start, end: the window, inclusive.
        points: clear observations in the window.
        ndvi_before: mean NDVI of the observations before the anniversary (NaN if none).
        ndvi_after: mean NDVI on or after it (NaN if none).
        drop: ``ndvi_before - ndvi_after``.
    """

    year: int
    start: date
    end: date
    points: tuple[SeriesPoint, ...]
    ndvi_before: float
    ndvi_after: float
    drop: float


LossVerdict = Literal[
    "unusual_drop", "normal_for_season", "no_drop", "insufficient_data"
]


@dataclass(frozen=True)
class LossContext:
    """A loss set against the same weeks of earlier seasons.

    Attributes:
        verdict: ``unusual_drop`` (the drop exceeds every earlier season's drop
            by ``min_excess``), ``normal_for_season`` (earlier seasons dropped as
            much: a harvest), ``no_drop``, or ``insufficient_data``.
        typical_drop: the median drop of earlier seasons (NaN if none).
        excess_drop: this season's drop minus the largest earlier drop.
    """

    plot_id: str
    loss_date: date
    window_days: int
    season: SeasonWindow
    earlier: tuple[SeasonWindow, ...]
    typical_drop: float
    excess_drop: float
    verdict: LossVerdict


def _anniversary(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February
        return day.replace(year=year, day=28)


def _window(series: PlotSeries, anchor: date, days: int) -> SeasonWindow:
    start, end = anchor - timedelta(days=days), anchor + timedelta(days=days)
    pts = tuple(
        p for p in series.points if start <= p.date <= end and math.isfinite(p.ndvi)
    )
    before = [p.ndvi for p in pts if p.date < anchor]
    after = [p.ndvi for p in pts if p.date >= anchor]
    b = float(np.mean(before)) if before else math.nan
    a = float(np.mean(after)) if after else math.nan
    return SeasonWindow(anchor.year, start, end, pts, b, a, b - a)


def loss_context(
    series: PlotSeries,
    loss_date: date,
    *,
    window_days: int = 30,
    min_drop: float = 0.1,
    min_excess: float = 0.1,
) -> LossContext:
    """Compare the NDVI drop around ``loss_date`` with the same weeks of earlier seasons.

    Args:
        series: the plot's series (:func:`ndvi_series`).
        loss_date: the reported date of loss.
        window_days: days either side of the date (and of its anniversaries).
        min_drop: a smaller drop this season is ``no_drop``.
        min_excess: the drop must exceed every earlier season's by this to be
            ``unusual_drop``.
    """
    if window_days < 1:
        raise ParameterError("window_days must be >= 1")
    season = _window(series, loss_date, window_days)
    years = sorted({p.date.year for p in series.points if p.date < season.start})
    earlier = tuple(
        w
        for w in (
            _window(series, _anniversary(loss_date, y), window_days) for y in years
        )
        if w.year < loss_date.year
    )
    drops = [w.drop for w in earlier if math.isfinite(w.drop)]
    typical = float(np.median(drops)) if drops else math.nan
    excess = (
        season.drop - max(drops) if drops and math.isfinite(season.drop) else math.nan
    )
    verdict: LossVerdict
    if not math.isfinite(season.drop):
        verdict = "insufficient_data"
    elif season.drop < min_drop:
        verdict = "no_drop"
    elif not drops:
        verdict = "insufficient_data"
    elif excess >= min_excess:
        verdict = "unusual_drop"
    else:
        verdict = "normal_for_season"
    return LossContext(
        series.plot_id,
        loss_date,
        window_days,
        season,
        earlier,
        typical,
        excess,
        verdict,
    )
