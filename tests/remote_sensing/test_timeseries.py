"""NDVI time series per plot, and a loss set against earlier seasons."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio import features

from remote_sensing import (
    PlotSeries,
    RasterError,
    SeriesPoint,
    loss_context,
    ndvi_series,
    plots_from_geometries,
    read_dates,
    read_plots,
)
from remote_sensing.errors import GridMismatchError


@pytest.fixture(scope="module")
def slovenia_series(slovenia: Path) -> tuple[list[PlotSeries], list[date]]:
    plots = read_plots(slovenia / "landuse_parcels_RABA.gpkg")
    dates = read_dates(
        slovenia / "ndvi_timeseries_2015-2017.tif", slovenia / "timestamps.json"
    )
    series = ndvi_series(
        plots,
        slovenia / "ndvi_timeseries_2015-2017.tif",
        dates=dates,
        cloud_stack=slovenia / "cloudmask_timeseries_2015-2017.tif",
    )
    return series, dates


def test_series_has_every_date_and_hides_cloudy_ones(
    slovenia: Path, slovenia_series
) -> None:
    series, dates = slovenia_series
    assert len(series) == 88
    with rasterio.open(slovenia / "ndvi_timeseries_2015-2017.tif") as ds:
        ndvi = ds.read()
        transform, crs = ds.transform, ds.crs
    with rasterio.open(slovenia / "cloudmask_timeseries_2015-2017.tif") as ds:
        cloud = ds.read() == 1
    import geopandas as gpd

    frame = gpd.read_file(slovenia / "landuse_parcels_RABA.gpkg").to_crs(crs)
    checked = 0
    for s, geom in zip(series, frame.geometry, strict=True):
        if not s.points:  # parcels off the 1 km patch
            continue
        assert [p.date for p in s.points] == dates
        inside = (
            features.rasterize([geom], out_shape=ndvi.shape[1:], transform=transform)
            == 1
        )
        if inside.sum() < 50 or inside.sum() * 99.9 < 0.95 * geom.area:
            continue  # small, or partly off the patch: coverage weighting differs more
        for k, p in enumerate(s.points):
            clear = inside & ~cloud[k]
            direct_clear = clear.sum() / inside.sum()
            assert p.clear_fraction == pytest.approx(direct_clear, abs=0.1)
            if p.clear_fraction < 0.5:
                assert math.isnan(p.ndvi)  # never a number from clouds
            elif direct_clear > 0.9:
                assert p.ndvi == pytest.approx(ndvi[k][clear].mean(), abs=0.03)
        checked += 1
    assert checked >= 5


def test_loss_context_sets_the_loss_against_earlier_seasons(slovenia_series) -> None:
    series, _ = slovenia_series
    verdicts = {loss_context(s, date(2017, 7, 15)).verdict for s in series if s.points}
    assert verdicts <= {
        "unusual_drop",
        "normal_for_season",
        "no_drop",
        "insufficient_data",
    }
    assert "no_drop" in verdicts
    context = loss_context(next(s for s in series if s.points), date(2017, 7, 15))
    assert [w.year for w in context.earlier] == [2015, 2016]
    assert context.season.start == date(2017, 6, 15)
    assert all(
        context.season.start <= p.date <= context.season.end
        for p in context.season.points
    )


def synthetic(points: dict[date, float]) -> PlotSeries:
    return PlotSeries(
        "p", tuple(SeriesPoint(d, v, 1.0) for d, v in sorted(points.items()))
    )


def seasons(drop_by_year: dict[int, float]) -> PlotSeries:
    """Weekly NDVI of 0.8, dropping by the given amount on 1 August of each year."""
    points = {}
    for year, drop in drop_by_year.items():
        start = date(year, 6, 1)
        for week in range(20):
            day = start + timedelta(days=7 * week)
            points[day] = 0.8 - (drop if day >= date(year, 8, 1) else 0.0)
    return synthetic(points)


def test_a_harvest_every_year_is_normal_and_a_new_drop_is_unusual() -> None:
    harvest = seasons({2015: 0.5, 2016: 0.5, 2017: 0.5})
    assert loss_context(harvest, date(2017, 8, 1)).verdict == "normal_for_season"
    flood = seasons({2015: 0.0, 2016: 0.05, 2017: 0.5})
    context = loss_context(flood, date(2017, 8, 1))
    assert context.verdict == "unusual_drop"
    assert context.season.drop == pytest.approx(0.5)
    assert context.excess_drop == pytest.approx(0.45)
    assert (
        loss_context(seasons({2016: 0.4, 2017: 0.02}), date(2017, 8, 1)).verdict
        == "no_drop"
    )
    assert (
        loss_context(seasons({2017: 0.5}), date(2017, 8, 1)).verdict
        == "insufficient_data"
    )
    assert loss_context(synthetic({}), date(2017, 8, 1)).verdict == "insufficient_data"


def test_stacks_that_disagree_are_refused(slovenia: Path, write_raster) -> None:
    plots = plots_from_geometries([], 4326)
    other = write_raster("clouds.tif", np.zeros((68, 5, 5), dtype=np.uint8))
    with pytest.raises(GridMismatchError):
        ndvi_series(
            plots,
            slovenia / "ndvi_timeseries_2015-2017.tif",
            dates=[date(2015, 1, 1)] * 68,
            cloud_stack=other,
        )
    with pytest.raises(RasterError, match="68 bands but 2 dates"):
        ndvi_series(
            plots,
            slovenia / "ndvi_timeseries_2015-2017.tif",
            dates=[date(2015, 1, 1)] * 2,
        )
    with pytest.raises(RasterError, match="band dates not found"):
        read_dates(slovenia / "S2_L1C_2015-07-11.tif")
