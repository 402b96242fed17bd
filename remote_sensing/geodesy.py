"""Geodesic area and perimeter of polygons on the WGS84 ellipsoid.

Areas are computed by GeographicLib (through :class:`pyproj.Geod`) edge by edge
along geodesics, so they do not depend on any map projection. Geometries are in
WGS84 longitude/latitude degrees (x = lon, y = lat), as RFC 7946 requires.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod

__all__ = ["WGS84", "geodesic_area", "geodesic_area_perimeter"]

WGS84 = Geod(ellps="WGS84")
"""The WGS84 ellipsoid (a = 6378137 m, f = 1/298.257223563)."""


def geodesic_area_perimeter(
    geometries: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Geodesic area (m2) and perimeter (m) of each polygon, vectorised.

    Args:
        geometries: shapely Polygons or MultiPolygons in WGS84 lon/lat degrees; of a
            GeometryCollection only the polygons count. Any other geometry, ``None``
            or an empty geometry gets area and perimeter NaN.

    Returns:
        ``(area_m2, perimeter_m)``, float64 arrays in input order. The area is
        unsigned (ring orientation does not matter); holes are subtracted and the
        perimeter includes them, as GeographicLib's ``Polygon`` would.
    """
    geoms = np.array(
        geometries, dtype=object
    ).ravel()  # a copy: collections are replaced
    n = len(geoms)
    area = np.full(n, np.nan)
    perimeter = np.full(n, np.nan)
    if n == 0:
        return area, perimeter
    type_ids = shapely.get_type_id(geoms)
    for k in np.flatnonzero(type_ids == 7).tolist():
        polys = [
            p for p in shapely.get_parts(geoms[k]) if shapely.get_type_id(p) in (3, 6)
        ]
        geoms[k] = shapely.union_all(polys) if polys else None
    type_ids = shapely.get_type_id(geoms)
    polygonal = (type_ids == 3) | (type_ids == 6)
    polygonal &= ~shapely.is_empty(geoms)
    if not polygonal.any():
        return area, perimeter
    owners = np.flatnonzero(polygonal)
    parts, part_owner = shapely.get_parts(geoms[owners], return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    # get_rings lists each part's exterior first, then its holes.
    first_ring = np.r_[True, ring_part[1:] != ring_part[:-1]]
    coords = shapely.get_coordinates(rings)
    ends = np.cumsum(shapely.get_num_coordinates(rings))
    starts = np.r_[0, ends[:-1]]
    lon = np.ascontiguousarray(coords[:, 0])
    lat = np.ascontiguousarray(coords[:, 1])
    ring_area = np.empty(len(rings))
    ring_perimeter = np.empty(len(rings))
    ring_area_perimeter = _ring_function()
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        # Rings are closed; GeographicLib closes polygons itself.
        a, p = ring_area_perimeter(lon[s : e - 1], lat[s : e - 1])
        ring_area[i] = abs(a)
        ring_perimeter[i] = p
    signed = np.where(first_ring, ring_area, -ring_area)
    ring_owner = owners[part_owner[ring_part]]
    area[owners] = 0.0
    perimeter[owners] = 0.0
    np.add.at(area, ring_owner, signed)
    np.add.at(perimeter, ring_owner, ring_perimeter)
    return area, perimeter


def _ring_function() -> Callable[[np.ndarray, np.ndarray], tuple[float, float]]:
    """GeographicLib's polygon area for one ring of contiguous float64 lon/lat arrays.

    pyproj's public ``polygon_area_perimeter`` copies its inputs into new
    buffers on every call; the arrays here already are contiguous doubles, so
    the Cython method behind it is called directly when pyproj has it (a third
    less time over a million plots), and the public one otherwise.
    """
    direct = getattr(WGS84, "_polygon_area_perimeter", None)
    if direct is None:  # pragma: no cover - other pyproj versions
        return WGS84.polygon_area_perimeter

    def ring(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float]:
        area, perimeter = direct(lon, lat, radians=False)
        return float(area), float(perimeter)

    return ring


def geodesic_area(geometry: shapely.Geometry) -> float:
    """Geodesic area in m2 of one Polygon or MultiPolygon in WGS84 lon/lat.

    >>> round(geodesic_area(shapely.box(0.0, 0.0, 0.001, 0.001)), 1)
    12309.1
    """
    return float(geodesic_area_perimeter([geometry])[0][0])
