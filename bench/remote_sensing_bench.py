"""Remote sensing speed beside bare exactextract and pyproj, on the real Austria pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from exactextract import exact_extract
from pyproj import Geod
from rasterio.windows import Window

from bench.report import Result
from remote_sensing import (
    ImageSpec,
    assess_damage,
    find_overlaps,
    geodesic_area_perimeter,
    plots_from_geometries,
)

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AGRI_SHARED_DATA", REPO.parent / "shared" / "data"))
AUSTRIA = SHARED / "sentinel2" / "austria_T33UUP_2021-06-17_2021-09-25.tif"
BEFORE = {"red": 1, "nir": 4, "blue": 3}
AFTER = {"red": 5, "nir": 8, "blue": 7}


def _row(label: str, ours: str, ref: str, ratio: str = "") -> None:
    print(f"{label:<48} {ours:>16} {ref:>22} {ratio:>8}")


def voronoi_plots(
    bounds: tuple[float, float, float, float], n: int, seed: int = 0
) -> np.ndarray:
    """``n`` plots tessellating ``bounds`` (a 20 m margin inside), like a field map."""
    left, bottom, right, top = bounds
    rng = np.random.default_rng(seed)
    pts = shapely.multipoints(
        np.c_[
            rng.uniform(left + 50, right - 50, n), rng.uniform(bottom + 50, top - 50, n)
        ]
    )
    cells = shapely.get_parts(
        shapely.voronoi_polygons(pts, extend_to=shapely.box(*bounds))
    )
    inner = shapely.box(left + 20, bottom + 20, right - 20, top - 20)
    return np.asarray(shapely.intersection(cells, inner))


def _bare_exactextract(
    rasters: list[Any], geoms: np.ndarray, srs_wkt: str, strategy: str
) -> float:
    """Seconds for exactextract's own ``exact_extract`` to give each raster's mean.

    Plots go in as WKB through a minimal ``FeatureSource`` and means come back into
    numpy columns (exactextract's fastest documented Python path without GDAL's
    own bindings: no GeoJSON round trip, no pandas).
    """
    from remote_sensing._zonal import _Columns, _Plots

    rows = list(range(len(geoms)))
    wkbs = list(shapely.to_wkb(geoms))
    start = time.perf_counter()
    writer = _Columns(len(rows))
    exact_extract(
        rasters,
        _Plots(rows, wkbs, srs_wkt),
        ["mean"],
        include_cols=["row"],
        output=writer,
        strategy=strategy,
    )
    seconds = time.perf_counter() - start
    assert writer._i == len(rows)
    return seconds


def bench_damage(n: int, tmp: Path) -> list[Result]:
    """Our damage assessment beside bare exactextract on the same plots and pixels.

    References (exactextract 0.3, each at its fastest documented path): NDVI
    rasters computed beforehand (untimed) and the four raw bands read from the
    scene file, plots fed as WKB, each with the faster of its two strategies
    (``feature-sequential``, ``raster-sequential``); and, for context, the
    GeoDataFrame adapter that round-trips every plot through GeoJSON. Its
    third strategy, ``raster-parallel``, exists only in its command-line tool.
    """
    from exactextract.raster import RasterioRasterSource

    with rasterio.open(AUSTRIA) as ds:
        bounds = tuple(ds.bounds)
        crs = ds.crs
        srs_wkt = ds.crs.to_wkt()
        profile = ds.profile | {"count": 1, "dtype": "float32"}
        bands = ds.read().astype(np.float32) * 1e-4
    geoms = voronoi_plots(bounds, n)
    plots = plots_from_geometries(geoms, "EPSG:32633")
    ndvi_paths = []
    for name, (r, nir) in {"before": (0, 3), "after": (4, 7)}.items():
        path = tmp / f"ndvi_{name}.tif"
        with rasterio.open(path, "w", **profile) as out:
            out.write((bands[nir] - bands[r]) / (bands[nir] + bands[r]), 1)
        ndvi_paths.append(str(path))
    bare: dict[str, tuple[float, str]] = {}
    for strategy in ("feature-sequential", "raster-sequential"):
        t_ndvi = _bare_exactextract(ndvi_paths, geoms, srs_wkt, strategy)
        with rasterio.open(AUSTRIA) as ds:
            sources = [RasterioRasterSource(ds, b, name=f"b{b}") for b in (1, 4, 5, 8)]
            t_bands = _bare_exactextract(sources, geoms, srs_wkt, strategy)
        for key, t in (("ndvi", t_ndvi), ("bands", t_bands)):
            if key not in bare or t < bare[key][0]:
                bare[key] = (t, strategy)
    frame = gpd.GeoDataFrame({"row": np.arange(n)}, geometry=list(geoms), crs=crs)
    start = time.perf_counter()
    exact_extract(ndvi_paths, frame, ["mean"], output="pandas")
    gdf_ndvi = time.perf_counter() - start
    start = time.perf_counter()
    rows = assess_damage(
        plots,
        ImageSpec(AUSTRIA, BEFORE, scale=1e-4),
        ImageSpec(AUSTRIA, AFTER, scale=1e-4),
    )
    ours = time.perf_counter() - start
    assert sum(r.status == "assessed" for r in rows) > 0.99 * n
    t_ndvi, s_ndvi = bare["ndvi"]
    t_bands, s_bands = bare["bands"]
    _row(
        f"damage assessment, {n:,} plots (plots/s)",
        f"{n / ours:,.0f}/s",
        f"{n / t_ndvi:,.0f}/s (NDVI means, WKB, {s_ndvi})",
        f"{ours / t_ndvi:.2f}x",
    )
    _row(
        "",
        "",
        f"{n / t_bands:,.0f}/s (4 band means, WKB, {s_bands})",
        f"{ours / t_bands:.2f}x",
    )
    _row(
        "",
        "",
        f"{n / gdf_ndvi:,.0f}/s (NDVI means, GeoDataFrame adapter)",
        f"{ours / gdf_ndvi:.2f}x",
    )
    figure = f"damage assessment, {n:,} plots"
    mine = (
        "NDVI before/after, EVI, damaged and clear area from the raw bands of the"
        " Austria pair (578 x 379 px, 8 bands); Voronoi plots"
    )
    bare_settings = (
        f"exactextract {_version('exactextract')} exact_extract, plots as WKB through"
        " a minimal FeatureSource, means into numpy (its fastest documented Python"
        " path; raster-parallel is only in its CLI), faster strategy: {}"
    )
    return [
        Result(
            f"{figure} (vs two NDVI means)",
            "plots/s",
            n / ours,
            "exactextract",
            n / t_ndvi,
            settings=mine,
            reference_settings="two precomputed NDVI rasters (untimed), "
            + bare_settings.format(s_ndvi),
            higher_is_better=True,
        ),
        Result(
            f"{figure} (vs four band means)",
            "plots/s",
            n / ours,
            "exactextract",
            n / t_bands,
            settings=mine,
            reference_settings="bands 1, 4, 5, 8 of the scene file, "
            + bare_settings.format(s_bands),
            higher_is_better=True,
        ),
        Result(
            f"{figure} (vs the GeoDataFrame adapter)",
            "plots/s",
            n / ours,
            "exactextract, GeoDataFrame",
            n / gdf_ndvi,
            settings=mine,
            reference_settings="two NDVI means, exact_extract(rasters, GeoDataFrame,"
            " output='pandas'), feature-sequential (its default)",
            higher_is_better=True,
        ),
    ]


def _version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)


def grid_plots(n_side: int, seed: int = 1) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """n_side^2 ~0.5 ha plots on a grid with gaps; 1 % shifted onto their right neighbour.

    Returns the plots and the overlapping pairs by construction.
    """
    d = 0.001
    xs, ys = np.meshgrid(np.arange(n_side) * 1.2 * d, np.arange(n_side) * 1.2 * d)
    xs, ys = xs.ravel().copy(), ys.ravel()
    rng = np.random.default_rng(seed)
    shifted = rng.choice(len(xs), size=len(xs) // 100, replace=False)
    shifted = shifted[(shifted + 1) % n_side != 0]
    xs[shifted] += 0.6 * d
    moved = set(shifted.tolist())
    # A shifted plot overlaps its right neighbour unless that one moved as well.
    pairs = {(i, i + 1) for i in moved if i + 1 not in moved}
    return shapely.box(5 + xs, 45 + ys, 5 + xs + d, 45 + ys + 0.7 * d), pairs


def bench_areas_and_overlaps(n_side: int) -> list[Result]:
    geoms, pairs = grid_plots(n_side)
    n = len(geoms)
    start = time.perf_counter()
    area, _ = geodesic_area_perimeter(geoms)
    ours = area_s = time.perf_counter() - start
    geod = Geod(ellps="WGS84")
    sample = geoms[: n // 10]
    start = time.perf_counter()
    for g in sample:
        geod.geometry_area_perimeter(g)
    ref = (time.perf_counter() - start) * n / len(sample)
    _row(
        f"geodesic area of {n:,} plots (s)",
        f"{ours:.2f} s",
        f"{ref:.2f} s (pyproj per plot)",
        f"{ref / ours:.1f}x",
    )
    start = time.perf_counter()
    found = find_overlaps(geoms, areas_m2=area)
    ours = time.perf_counter() - start
    assert set(zip(found.left.tolist(), found.right.tolist(), strict=True)) == pairs
    _row(
        f"overlap search over {n:,} plots (s)",
        f"{ours:.2f} s",
        f"{len(found):,} pairs found",
    )
    grid = f"{n:,} ~0.5 ha plots on a grid in WGS84, 1 % overlapping a neighbour"
    return [
        Result(
            f"geodesic area of {n:,} plots",
            "s",
            area_s,
            "pyproj per plot",
            ref,
            settings=f"remote_sensing.geodesic_area_perimeter, vectorised; {grid}",
            reference_settings=(
                f"pyproj {_version('pyproj')} Geod(ellps='WGS84')"
                ".geometry_area_perimeter per plot, timed on the first tenth and"
                " scaled to all"
            ),
        ),
        Result(
            f"overlap search over {n:,} plots",
            "s",
            ours,
            settings=(
                f"remote_sensing.find_overlaps (STR-tree), areas given; {grid};"
                f" {len(found):,} pairs found, as built"
            ),
        ),
    ]


_MEMORY_PROBE = """
import json, sys
from pathlib import Path
from remote_sensing import ImageSpec, assess_damage, plots_from_geometries
sys.path.insert(0, {repo!r})
from bench.remote_sensing_bench import voronoi_plots
import rasterio
path = Path({path!r})
with rasterio.open(path) as ds:
    bounds = tuple(ds.bounds)
plots = plots_from_geometries(voronoi_plots(bounds, 2000, seed=3), "EPSG:32633")
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak resident set size to the current one
base = hwm()
rows = assess_damage(plots, ImageSpec(path, {{"red": 1, "nir": 4}}, scale=1e-4),
                     ImageSpec(path, {{"red": 5, "nir": 8}}, scale=1e-4))
peak = hwm()
print(json.dumps({{"base_kib": base, "peak_kib": peak}}))
"""


def tiled_copy(src: Path, dst: Path, factor: int) -> int:
    """Write the scene repeated factor x factor times (tiled GeoTIFF); returns its bytes."""
    with rasterio.open(src) as ds:
        data = ds.read()
        profile = ds.profile | {
            "width": ds.width * factor,
            "height": ds.height * factor,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
    with rasterio.open(dst, "w", **profile) as out:
        h, w = data.shape[1:]
        for i in range(factor):
            for j in range(factor):
                out.write(data, window=Window(j * w, i * h, w, h))
    return int(data.nbytes * factor * factor)


def bench_memory(tmp: Path, factors: tuple[int, ...]) -> list[Result]:
    results: list[Result] = []
    for factor in factors:
        path = tmp / f"austria_x{factor}.tif"
        nbytes = tiled_copy(AUSTRIA, path, factor)
        probe = _MEMORY_PROBE.format(repo=str(REPO), path=str(path))
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )
        doc = json.loads(out.stdout.strip().splitlines()[-1])
        growth = (doc["peak_kib"] - doc["base_kib"]) / 1024
        _row(
            f"peak memory, 2,000 plots, raster x{factor * factor} ({nbytes / 2**20:,.0f} MiB)",
            f"+{growth:,.0f} MiB",
            f"{nbytes / 2**20:,.0f} MiB if read whole",
        )
        results.append(
            Result(
                f"peak memory growth, 2,000 plots, raster x{factor * factor}",
                "MiB",
                growth,
                "the raster read whole",
                nbytes / 2**20,
                settings="assess_damage (NDVI before/after) in a fresh process,"
                " VmHWM growth; tiled GeoTIFF of the scene repeated",
                reference_settings="the raster's bytes in memory",
            )
        )
        path.unlink()
    return results


def run(*, quick: bool = False) -> list[Result]:
    """Print the remote-sensing figures beside their references and return them."""
    tmp = Path(tempfile.mkdtemp(prefix="agri-bench-rs-"))
    print(f"\n## Remote sensing (Austria Sentinel-2 pair; temp dir {tmp})")
    _row("figure", "agri", "reference", "ratio")
    results = bench_damage(2_000 if quick else 10_000, tmp)
    results += bench_areas_and_overlaps(300 if quick else 1_000)
    results += bench_memory(tmp, (2, 4) if quick else (2, 8))
    return results
