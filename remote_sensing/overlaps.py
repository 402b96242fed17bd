"""Overlapping plots across a portfolio (double insurance).

An STR-tree (GEOS, through shapely) finds candidate pairs whose interiors meet;
the overlap of each pair is intersected and measured geodesically. Plots that
only share an edge or a corner are not overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from remote_sensing.errors import ParameterError
from remote_sensing.geodesy import geodesic_area_perimeter

__all__ = ["Overlaps", "find_overlaps"]

_CHUNK = 200_000  # candidate pairs intersected at a time (bounds memory)


@dataclass(frozen=True)
class Overlaps:
    """Pairs of overlapping plots, one row per pair.

    Attributes:
        left: index of the plot in the queried set.
        right: index of the plot in the reference set (the same set when
            searching a portfolio against itself; then ``left < right``).
        area_m2: geodesic overlap area.
        share_left: overlap as a share of the left plot's area.
        share_right: overlap as a share of the right plot's area.
    """

    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    area_m2: npt.NDArray[np.float64]
    share_left: npt.NDArray[np.float64]
    share_right: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.left)


def find_overlaps(
    geometries: npt.ArrayLike,
    others: npt.ArrayLike | None = None,
    *,
    min_overlap_m2: float = 100.0,
    areas_m2: npt.ArrayLike | None = None,
    other_areas_m2: npt.ArrayLike | None = None,
) -> Overlaps:
    """Every pair of plots overlapping by more than ``min_overlap_m2``.

    Args:
        geometries: WGS84 polygons (``None`` entries are skipped).
        others: plots to search against (e.g. plots of policies in force); by
            default ``geometries`` against itself, each pair reported once.
        min_overlap_m2: pairs overlapping by this much or less are ignored
            (default 100 m2, to ignore digitising noise along shared edges).
        areas_m2: geodesic areas of ``geometries`` if already known.
        other_areas_m2: geodesic areas of ``others`` if already known.

    Returns:
        The overlapping pairs, sorted by (left, right).
    """
    if min_overlap_m2 < 0:
        raise ParameterError("min_overlap_m2 must be >= 0")
    left_geoms = np.asarray(geometries, dtype=object).ravel()
    self_join = others is None
    right_geoms = (
        left_geoms if others is None else np.asarray(others, dtype=object).ravel()
    )
    left_area = (
        geodesic_area_perimeter(left_geoms)[0]
        if areas_m2 is None
        else np.asarray(areas_m2, dtype=float)
    )
    if self_join:
        right_area = left_area
    elif other_areas_m2 is None:
        right_area = geodesic_area_perimeter(right_geoms)[0]
    else:
        right_area = np.asarray(other_areas_m2, dtype=float)

    tree = shapely.STRtree(right_geoms)
    query = left_geoms.copy()
    query[[g is None for g in query]] = shapely.Polygon()
    li, ri = tree.query(query, predicate="intersects")
    if self_join:
        keep = li < ri
        li, ri = li[keep], ri[keep]
    out_l, out_r, out_a = [], [], []
    for start in range(0, len(li), _CHUNK):
        a = li[start : start + _CHUNK]
        b = ri[start : start + _CHUNK]
        inter = shapely.intersection(left_geoms[a], right_geoms[b])
        area = geodesic_area_perimeter(_polygonal_parts(inter))[0]
        hit = np.isfinite(area) & (area > min_overlap_m2)
        out_l.append(a[hit])
        out_r.append(b[hit])
        out_a.append(area[hit])
    left = np.concatenate(out_l) if out_l else np.empty(0, dtype=np.int64)
    right = np.concatenate(out_r) if out_r else np.empty(0, dtype=np.int64)
    area = np.concatenate(out_a) if out_a else np.empty(0)
    order = np.lexsort((right, left))
    left, right, area = (
        left[order].astype(np.int64),
        right[order].astype(np.int64),
        area[order],
    )
    return Overlaps(
        left=left,
        right=right,
        area_m2=area,
        share_left=area / left_area[left],
        share_right=area / right_area[right],
    )


def _polygonal_parts(geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Keep the polygonal part of intersections (which may be collections)."""
    types = shapely.get_type_id(geoms)
    mixed = np.flatnonzero(types == 7)
    for i in mixed:
        parts = [
            p for p in shapely.get_parts(geoms[i]) if p.geom_type.endswith("Polygon")
        ]
        geoms[i] = shapely.union_all(parts) if parts else None
    return geoms
