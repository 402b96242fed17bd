"""Planted losses on real Sentinel-2 pixels (scripts/planted_loss.py): the season rules.

Slovenia: losses planted on random land-use parcels of 22 real date pairs; the season
rule (peers of the same class, else earlier seasons, else no baseline) must tell them
from the season better than the raw NDVI drop. Austria: a pair 100 days apart with no
crop codes: the rules answer amber (field survey) instead of guessing.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from claims import check_scene_timing
from remote_sensing import ImageSpec, assess_damage, read_plots
from tests.conftest import REPO, shared_data_dir

SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def script() -> ModuleType:
    """scripts/planted_loss.py, imported as a module."""
    name = "planted_loss"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, REPO / "scripts" / "planted_loss.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data() -> Path:
    path = shared_data_dir()
    if not (path / "sentinel2").is_dir():
        pytest.skip(f"Sentinel-2 sample data not found under {path}")
    return path


def test_the_season_rule_tells_planted_losses_from_the_season(
    script: ModuleType, data: Path
) -> None:
    figures = script.slovenia_figures(data, SEEDS)
    assert figures.trials >= 45
    assert figures.planted >= 150
    rule, raw = figures.rule, figures.raw
    # Measured with seeds 0-2: rule 0.90 / 0.69, raw drop 0.76 / 0.36; other seeds
    # gave 0.92 / 0.71-0.75. The bounds leave room for another draw.
    assert rule.precision >= 0.8
    assert rule.recall >= 0.6
    assert rule.precision > raw.precision
    assert rule.recall > raw.recall + 0.2
    assert raw.recall < 0.5  # most planted losses stay under a 0.3 drop
    # Where a baseline formed, few planted losses are missed (measured 0.89).
    assert figures.rule_with_baseline.recall >= 0.8
    # The peers decide most judgements; parcels without a baseline are never flagged,
    # they are counted apart (and stay in the recall's denominator).
    assert figures.baselines["peers"] > 0.6 * figures.judged
    assert figures.planted_baselines["none"] > 0
    assert figures.rule.planted == figures.planted
    assert (
        figures.rule_with_baseline.planted
        == figures.planted - figures.planted_baselines["none"]
    )


def test_planting_lowers_the_nir_of_the_chosen_field_only(
    script: ModuleType, data: Path, tmp_path: Path
) -> None:
    import geopandas as gpd

    source = data / script.AUSTRIA
    frame = gpd.read_file(script.AUSTRIA_FIELDS)
    plots = read_plots(script.AUSTRIA_FIELDS)
    copy = tmp_path / "planted.tif"
    script.plant_nir(source, copy, [frame.geometry.iloc[10]], [0.5])

    def after(path: Path) -> np.ndarray:
        rows = assess_damage(
            plots,
            ImageSpec(path, script.AUSTRIA_BEFORE, scale=1e-4),
            ImageSpec(path, script.AUSTRIA_AFTER, scale=1e-4),
        )
        return np.array([r.ndvi_after for r in rows])

    clean, planted = after(source), after(copy)
    assert planted[10] < clean[10] - 0.05
    others = np.arange(len(clean)) != 10
    np.testing.assert_allclose(planted[others], clean[others], atol=1e-12)


def test_a_pair_too_far_apart_goes_to_a_field_survey(
    script: ModuleType, data: Path, tmp_path: Path
) -> None:
    figures = script.austria_figures(data, SEEDS[:2], tmp_path)
    assert figures.fields == 498
    assert figures.planted == 2 * script.AUSTRIA_PLANTED
    # Harvest between June and September: the raw drop flags mostly unplanted fields
    # (measured precision 0.11 with seeds 0-2).
    assert figures.raw.precision < 0.3
    assert figures.natural_raw > figures.planted
    # Every event between the scenes: amber (a scene more than 20 days away).
    assert figures.scene_timing == {"amber": 99}
    before, after = script.AUSTRIA_DATES
    midsummer = check_scene_timing(
        date(2021, 8, 5), before, after, max_before_days=20, max_after_days=20
    )
    assert (midsummer.light, midsummer.message) == (
        "amber",
        "scene_timing.before_too_early",
    )
    assert not list(tmp_path.iterdir())  # the planted copies are cleaned up
