"""Overlaps across a portfolio (double insurance)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from remote_sensing import ParameterError, find_overlaps, geodesic_area

D = 0.001  # ~74 m x 111 m at 48 N


def box(x: float, y: float, w: float = D, h: float = D) -> shapely.Polygon:
    return shapely.box(13.0 + x, 48.0 + y, 13.0 + x + w, 48.0 + y + h)


def test_overlap_area_and_shares() -> None:
    a, b = box(0, 0), box(D / 2, 0)  # b covers half of a
    found = find_overlaps([a, b])
    assert (found.left.tolist(), found.right.tolist()) == ([0], [1])
    half = geodesic_area(box(D / 2, 0, D / 2))
    assert found.area_m2[0] == pytest.approx(half, rel=1e-9)
    assert found.share_left[0] == pytest.approx(0.5, rel=1e-6)
    assert found.share_right[0] == pytest.approx(0.5, rel=1e-6)


def test_touching_plots_and_small_overlaps_are_not_overlaps() -> None:
    neighbours = [box(0, 0), box(D, 0), box(0, D)]  # share edges and a corner
    assert len(find_overlaps(neighbours)) == 0
    sliver = [box(0, 0), box(D - 1e-6, 0)]  # ~0.08 m x 111 m = 9 m2
    assert len(find_overlaps(sliver)) == 0
    assert len(find_overlaps(sliver, min_overlap_m2=1)) == 1


def test_contained_plot_is_an_overlap_of_its_whole_area() -> None:
    inner = box(D / 4, D / 4, D / 2, D / 2)
    found = find_overlaps([box(0, 0), inner])
    assert found.share_right[0] == pytest.approx(1.0)
    assert found.share_left[0] == pytest.approx(0.25, rel=1e-6)


def test_against_plots_in_force_and_missing_geometries() -> None:
    insured = [box(0, 0), box(10 * D, 0)]
    applying = [None, box(10.5 * D, 0), box(20 * D, 0)]
    found = find_overlaps(applying, insured)
    assert (found.left.tolist(), found.right.tolist()) == ([1], [1])


def test_grid_with_known_overlaps() -> None:
    """10,000 plots on a grid with gaps; every 10th is shifted onto its neighbour."""
    n = 100
    xs, ys = np.meshgrid(np.arange(n) * 1.2 * D, np.arange(n) * 1.2 * D)
    xs, ys = xs.ravel(), ys.ravel()
    shifted = np.arange(0, n * n, 10)
    xs = xs.copy()
    xs[shifted] += 0.6 * D  # overlaps the plot to its right by 0.4 D
    geoms = shapely.box(13 + xs, 48 + ys, 13 + xs + D, 48 + ys + D)
    found = find_overlaps(geoms)
    expected = {(int(i), int(i) + 1) for i in shifted if (i + 1) % n}
    assert set(zip(found.left.tolist(), found.right.tolist(), strict=True)) == expected
    np.testing.assert_allclose(found.share_left, 0.4, rtol=1e-6)


def test_negative_threshold_is_refused() -> None:
    with pytest.raises(ParameterError):
        find_overlaps([box(0, 0)], min_overlap_m2=-1)
