"""Declared versus measured area, and the per-register within-tolerance shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from remote_sensing import (
    ParameterError,
    Tolerance,
    compare_declared,
    plots_from_geometries,
    read_plots,
)
from tests.remote_sensing.conftest import REGISTERS


def square_plot(side_m: float, declared_m2: float | None, crs: str = "EPSG:32633"):
    x0, y0 = 400_000.0, 5_350_000.0
    box = shapely.box(x0, y0, x0 + side_m, y0 + side_m)
    return plots_from_geometries(
        [box], crs, declared_m2=[np.nan if declared_m2 is None else declared_m2]
    )


def test_iacs_tolerance_is_a_perimeter_buffer_capped_at_one_hectare() -> None:
    t = Tolerance()
    assert t.allowed_m2(area_m2=10_000, perimeter_m=400) == 500
    assert t.allowed_m2(area_m2=4e6, perimeter_m=8_000) == 10_000  # capped at 1 ha
    assert Tolerance.parse("iacs:2").allowed_m2(area_m2=1, perimeter_m=100) == 200
    assert Tolerance.parse("2%").allowed_m2(area_m2=50_000, perimeter_m=900) == 1_000


@pytest.mark.parametrize("text", ["", "two percent", "-1%", "iacs:", "%"])
def test_malformed_tolerances_are_refused(text: str) -> None:
    with pytest.raises(ParameterError, match="tolerance"):
        Tolerance.parse(text)


def test_verdicts() -> None:
    measured = square_plot(100, None).area_m2[0]
    allowed = 1.25 * 400  # IACS on a 100 m square, approximately
    cases = {
        measured: "within_tolerance",
        measured + allowed * 0.9: "within_tolerance",
        measured + allowed * 1.2: "over_declared",
        measured - allowed * 1.2: "under_declared",
    }
    for declared, verdict in cases.items():
        plots = plots_from_geometries(
            [shapely.box(13.0, 48.0, 13.001345, 48.0009)], 4326, declared_m2=[declared]
        )
        plots.area_m2[:] = measured
        plots.perimeter_m[:] = 400
        assert compare_declared(plots).verdict == [verdict], declared
    assert compare_declared(square_plot(100, None)).verdict == ["no_declared_area"]
    broken = plots_from_geometries([shapely.Point(0, 0)], 4326, declared_m2=[1.0])
    assert compare_declared(broken).verdict == ["invalid"]


def test_inflated_declaration_is_over_declared_by_its_ratio() -> None:
    plots = square_plot(200, None)
    plots.declared_m2[:] = plots.area_m2 * 1.15
    summary = compare_declared(plots)
    assert summary.verdict == ["over_declared"]
    assert summary.ratio[0] == pytest.approx(1.15)
    assert summary.within_share == 0


def test_planar_declarations_are_recognised_and_not_flagged() -> None:
    """A register declaring planar UTM areas (0.04 % off geodesic here) passes a 0.01 % rule."""
    x0, y0 = 400_000.0, 5_350_000.0
    boxes = [
        shapely.box(x0 + 300 * i, y0, x0 + 300 * i + 250, y0 + 180) for i in range(10)
    ]
    plots = plots_from_geometries(boxes, "EPSG:32633", declared_m2=[250 * 180] * 10)
    summary = compare_declared(plots, Tolerance.parse("0.01%"))
    assert summary.basis == "planar EPSG:32633"
    assert "planar areas in EPSG:32633" in summary.note
    assert summary.within_share == 1.0
    # The same declarations against a geodesic basis would all fail that rule.
    geodesic = plots_from_geometries(plots.geometry, 4326, declared_m2=[250 * 180] * 10)
    assert compare_declared(geodesic, Tolerance.parse("0.01%")).within_share == 0.0


# Within-tolerance shares of the real registers under the IACS rule (measured).
@pytest.mark.parametrize(
    ("register", "basis", "min_share"),
    [
        ("at", "planar EPSG:31287", 1.0),
        ("be_vlg", "planar EPSG:31370", 1.0),
        ("dk", "geodesic", 0.95),
        ("fr", "geodesic", 0.95),
    ],
)
def test_real_registers_within_tolerance(
    shared_data: Path, register: str, basis: str, min_share: float
) -> None:
    path, column = REGISTERS[register]
    summary = compare_declared(read_plots(shared_data / path, declared_column=column))
    assert summary.basis == basis
    assert summary.compared >= 100
    assert summary.within_share >= min_share
    assert 0.97 < summary.median_ratio < 1.01


def test_danish_declarations_spread_like_real_farmer_declarations(
    shared_data: Path,
) -> None:
    """Denmark's farmer-declared areas: median ratio ~0.997, 5th percentile ~0.973."""
    path, column = REGISTERS["dk"]
    summary = compare_declared(read_plots(shared_data / path, declared_column=column))
    assert summary.median_ratio == pytest.approx(0.997, abs=0.002)
    assert summary.p05_ratio == pytest.approx(0.973, abs=0.005)
    # A 1 % rule is stricter than IACS on these plots.
    strict = compare_declared(
        read_plots(shared_data / path, declared_column=column), Tolerance.parse("1%")
    )
    assert strict.within < summary.within
