"""Delineate field polygons from the Austria Sentinel-2 pair (test data generator).

A deliberately simple segmentation: NDVI of both dates binned in steps of 0.15,
the joint class sieved to regions of at least 40 pixels, vectorised along pixel
edges, and regions of 0.4 to 30 ha kept. The polygons follow pixel edges
exactly, so a damaged fraction computed by coverage weighting must equal a
direct count of the pixels inside them. Run from the repository root:

    .venv/bin/python tests/remote_sensing/data/make_austria_fields.py

Writes ``austria_fields.gpkg`` (EPSG:32633) beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio import features

HERE = Path(__file__).resolve().parent
SCENE = "sentinel2/austria_T33UUP_2021-06-17_2021-09-25.tif"


def delineate(path: Path) -> gpd.GeoDataFrame:
    with rasterio.open(path) as ds:
        bands = ds.read().astype(np.float64) * 1e-4
        transform, crs = ds.transform, ds.crs
    red_b, nir_b, red_a, nir_a = bands[0], bands[3], bands[4], bands[7]
    ndvi_b = (nir_b - red_b) / (nir_b + red_b)
    ndvi_a = (nir_a - red_a) / (nir_a + red_a)
    bins = np.arange(-0.2, 1.0, 0.15)
    label = (np.digitize(ndvi_b, bins) * 16 + np.digitize(ndvi_a, bins)).astype(
        np.int32
    )
    label = features.sieve(label, size=40, connectivity=4)
    rows = []
    for geom, _ in features.shapes(label, connectivity=4, transform=transform):
        poly = shapely.simplify(
            shapely.geometry.shape(geom), 0.0
        )  # drop collinear vertices
        if 4_000 <= poly.area <= 300_000:
            rows.append(poly)
    frame = gpd.GeoDataFrame(
        {"plot_id": [f"AT-{i + 1:04d}" for i in range(len(rows))]},
        geometry=rows,
        crs=crs,
    )
    return frame


def main() -> None:
    shared = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[3] / "shared" / "data"
    )
    frame = delineate(shared / SCENE)
    out = HERE / "austria_fields.gpkg"
    out.unlink(missing_ok=True)
    frame.to_file(out, layer="fields", driver="GPKG")
    print(f"{len(frame)} fields, {frame.area.sum() / 1e4:.1f} ha -> {out}")


if __name__ == "__main__":
    main()
