"""Machine-readable areas keep the computation's precision: 0.01 m2 (1e-6 ha).

Regression: JSON used to round area_ha to 4 decimals (1 m2), so a 4.6 m2 plot
read 5 m2 and a damaged area of 0.4 m2 read 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from remote_sensing import (
    DamageOptions,
    ImageSpec,
    ValidationRules,
    assess_damage,
    check_plots,
    damage_polygons,
    plots_from_geometries,
)
from remote_sensing.units import json_area_ha, json_area_m2, json_area_mu
from tests.remote_sensing.conftest import WriteRaster

# A 2 m x 2.3 m plot in UTM 33N (EPSG:32633), inside one 10 m pixel of write_raster's grid.
X0, Y0 = 500_003.0, 4_999_995.0
TINY = shapely.box(X0, Y0 - 2.3, X0 + 2.0, Y0)


@pytest.mark.parametrize(
    ("area_m2", "m2", "ha", "mu"),
    [
        (4.6, 4.6, 0.00046, 0.0069),
        (4.604_9, 4.6, 0.00046, 0.00691),
        (0.004, 0.0, 0.0, 0.00001),
        (12_345.678_9, 12_345.68, 1.234568, 18.51852),
        (float("nan"), None, None, None),
        (float("inf"), None, None, None),
    ],
)
def test_json_area_helpers(
    area_m2: float, m2: float | None, ha: float | None, mu: float | None
) -> None:
    """m2 to 2 decimals, ha to 6, mu to 5; NaN and infinity become null."""
    assert json_area_m2(area_m2) == m2
    assert json_area_ha(area_m2) == ha
    assert json_area_mu(area_m2) == mu


def test_plot_check_json_keeps_a_tiny_plot_to_the_centimetre() -> None:
    """A 4.6 m2 plot reads 4.6 m2 (not 5) in the plot check's JSON."""
    plot_set = plots_from_geometries(
        [TINY], "EPSG:32633", ids=["tiny"], rules=ValidationRules(min_area_m2=0.0)
    )
    measured = float(plot_set.area_m2[0])
    assert 4.59 < measured < 4.62  # geodesic, a little above the 4.6 m2 drawn in UTM
    row = check_plots(plot_set).rows[0].to_json()
    assert row["area_m2"] == round(measured, 2)
    assert row["area_ha"] == round(measured / 10_000, 6)
    assert row["area_ha"] != round(row["area_ha"], 4)  # the old rounding lost this
    assert math.isclose(row["area_mu"], measured / (10_000 / 15), abs_tol=1e-5)


def test_damage_properties_keep_a_tiny_plot_to_the_centimetre(
    write_raster: WriteRaster,
) -> None:
    """to_properties and damage_polygons give m2 to 0.01 and ha to 1e-6."""
    # One band pair per date: red, nir. Healthy before, bare after: all damaged.
    before = write_raster("before.tif", np.array([[[0.05]], [[0.5]]], np.float32))
    after = write_raster("after.tif", np.array([[[0.3]], [[0.3]]], np.float32))
    bands = {"red": 1, "nir": 2}
    spec_b, spec_a = ImageSpec(before, bands), ImageSpec(after, bands)
    options = DamageOptions(threshold=0.3, min_clear_fraction=0.5)
    plot_set = plots_from_geometries(
        [TINY], "EPSG:32633", ids=["tiny"], rules=ValidationRules(min_area_m2=0.0)
    )
    measured = float(plot_set.area_m2[0])
    (row,) = assess_damage(plot_set, spec_b, spec_a, options)
    props = row.to_properties()
    assert props["area_m2"] == round(measured, 2)
    assert props["area_ha"] == round(measured / 10_000, 6)
    assert props["status"] == "assessed", props
    assert props["damaged_area_m2"] == round(row.damaged_area_m2, 2)
    assert props["damaged_area_ha"] == round(row.damaged_area_m2 / 10_000, 6)
    assert props["damaged_area_m2"] > 4.5
    (feature,) = damage_polygons(plot_set, [row], spec_b, spec_a, options)
    assert 4.5 < feature["properties"]["damaged_area_m2"] < 4.7
    assert feature["properties"]["damaged_area_ha"] == pytest.approx(
        feature["properties"]["damaged_area_m2"] / 10_000, abs=1e-6
    )
