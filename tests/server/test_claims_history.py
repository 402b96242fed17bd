"""Where a plot has too few peers, its earlier seasons in the NDVI stack are its baseline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import rasterio

from claims import SeasonRules
from remote_sensing import ImageSpec, plots_from_geometries, read_plots
from server.context import AppContext
from tests.server.conftest import SLOVENIA
from underwriting import CropProduct, Money

# Two clear dates of the stack 20 days apart; the cloudy stack has one clear earlier
# season around them (2016-05-06 and 2016-05-26), so the insurer's rule here asks for one.
BEFORE, AFTER = "2017-05-01", "2017-05-21"
GRASS = CropProduct("GRASS", Money.parse("600"), "mu", Decimal("0.05"))


def _pair_from_stack(
    shared_data: Path, out: Path, hit_factor: float | None
) -> tuple[ImageSpec, ImageSpec]:
    """The stack's two dates as red and NIR (NIR = 1 + NDVI, red = 1 - NDVI: the same NDVI).

    ``hit_factor`` scales the after-date's NDVI of every pixel (a loss planted
    on the whole patch), None for the real pixels as they are.
    """
    folder = shared_data / SLOVENIA
    with rasterio.open(folder / "ndvi_timeseries_2015-2017.tif") as src:
        band = {d[:10]: i + 1 for i, d in enumerate(src.descriptions)}
        ndvi = src.read([band[BEFORE], band[AFTER]]).astype("float32")
        profile = src.profile | {"count": 4, "dtype": "float32", "nodata": None}
    if hit_factor is not None:
        ndvi[1] *= hit_factor
    path = out / f"slovenia_ndvi_{BEFORE}_{AFTER}.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([1 - ndvi[0], 1 + ndvi[0], 1 - ndvi[1], 1 + ndvi[1]]))
    return (
        ImageSpec(path, {"red": 1, "nir": 2}),
        ImageSpec(path, {"red": 3, "nir": 4}),
    )


def _claim_on_one_parcel(app: AppContext, shared_data: Path) -> str:
    parcels = read_plots(shared_data / SLOVENIA / "landuse_parcels_RABA.gpkg")
    one = plots_from_geometries(
        parcels.geometry[[parcels.ids.index("1")]], 4326, ids=["SI-1"]
    )
    uw = app.underwriting
    uw.register_farmer("F-7", "Novak", "Central Slovenia", actor="admin")
    uw.add_product(GRASS, actor="admin")
    a = uw.apply_crop(
        "F-7",
        "GRASS",
        one,
        start=date(2017, 4, 1),
        end=date(2017, 10, 31),
        actor="agent",
    )
    policy = uw.decide(a.id, "approve", actor="uw", reason="checked").policy_id or ""
    c = app.claims.file(
        policy_id=policy,
        farmer_id="F-7",
        subject_kind="plot",
        subject_id="SI-1",
        event_date=date(2017, 5, 10),
        reported_at=datetime(2017, 5, 12, tzinfo=UTC),
        claimed_fraction=0.5,
        actor="agent",
    )
    return c.id


@pytest.mark.parametrize(("hit", "is_loss"), [(None, False), (0.3, True)])
def test_a_plot_without_peers_is_set_against_its_earlier_seasons(
    stacked: AppContext,
    shared_data: Path,
    tmp_path: Path,
    hit: float | None,
    is_loss: bool,
) -> None:
    app = stacked
    app.claims.rules = replace(app.claims.rules, season=SeasonRules(min_seasons=1))
    claim_id = _claim_on_one_parcel(app, shared_data)
    before, after = _pair_from_stack(shared_data, tmp_path, hit)
    record, _ = app.claims.assess_by_map(claim_id, before, after, actor="adj")
    baseline = next(ch for ch in record.checks if ch.code == "season_baseline")
    # No other plot of the product: the stack's earlier season decides.
    assert baseline.light == "green" and baseline.params["baseline"] == "history"
    assert baseline.params["count"] == 1
    assert baseline.message == (
        "season_baseline.loss" if is_loss else "season_baseline.seasonal"
    )
    assert (record.amount.minor > 0) is is_loss


def test_too_few_clear_earlier_seasons_leave_the_map_unable_to_tell(
    stacked: AppContext, shared_data: Path, tmp_path: Path
) -> None:
    """The default rule asks for two earlier seasons; the cloudy stack has one here."""
    claim_id = _claim_on_one_parcel(stacked, shared_data)
    before, after = _pair_from_stack(shared_data, tmp_path, 0.5)
    record, _ = stacked.claims.assess_by_map(claim_id, before, after, actor="adj")
    baseline = next(ch for ch in record.checks if ch.code == "season_baseline")
    assert (baseline.light, baseline.message) == ("amber", "season_baseline.none")
    assert record.amount.minor == 0
