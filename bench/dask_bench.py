"""Catastrophe assessment on Dask: plots measured per second with 1 and 2 workers.

The measurement half of an event's assessment (``server.services.events``:
tasks by spatial tile, each :func:`~server.services.claims.measure_crop` per
claim, no database) over synthetic square plots (40 m a side, seeded random
places, overlapping where they fall so) on the real Austrian Sentinel-2 pair
(June / September), beside the single-process path (the same groups measured
one after another in this process). Each plot is measured alone (no peers:
the season's baseline needs the database's neighbours; the figure is the
imagery's work). The cluster's start is not timed; sending the groups and
fetching every result back is.
"""

from __future__ import annotations

import os
import random
import time
from datetime import date
from pathlib import Path

from bench.report import Curve, Result, Skipped

SCENE = "sentinel2/austria_T33UUP_2021-06-17_2021-09-25.tif"
SIDE_DEG = (0.00055, 0.00036)  # about 40 m of longitude and latitude at 48.3 N


def _jobs(shared: Path, n: int) -> list[object]:
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds

    from claims import ClaimRules
    from remote_sensing import DamageOptions, ImageSpec
    from server.services.claims import CropJob

    path = shared / SCENE
    with rasterio.open(path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    before = ImageSpec(path, {"red": 1, "nir": 4}, 0.0001)
    after = ImageSpec(path, {"red": 5, "nir": 8}, 0.0001)
    season = ClaimRules().season
    options = DamageOptions(threshold=season.pixel_threshold)
    rng = random.Random(2021)
    dx, dy = SIDE_DEG
    jobs: list[object] = []
    for i in range(n):
        x = rng.uniform(west + 0.001, east - 0.001 - dx)
        y = rng.uniform(south + 0.001, north - 0.001 - dy)
        jobs.append(
            CropJob(
                f"c{i}",
                f"P-{i:06d}",
                shapely.to_wkb(shapely.box(x, y, x + dx, y + dy)),
                (),
                before,
                after,
                options,
                season,
                (date(2021, 6, 17), date(2021, 9, 25)),
            )
        )
    return jobs


def run(*, quick: bool = False) -> list[Result]:
    """Plots/s of the single-process path and of a local cluster of 1 and 2 workers."""
    try:
        import distributed
    except ImportError as exc:
        raise Skipped("dask[distributed] is not installed (extra 'scale')") from exc
    from server.cli.common import SHARED_DATA
    from server.services.events import group_jobs, local_client, measure_group

    if not (SHARED_DATA / SCENE).exists():
        raise Skipped(f"{SHARED_DATA / SCENE} is not there")
    # AGRI_BENCH_DASK_PLOTS overrides the count (100,000 take about an hour a pass
    # on a shared 2-core machine).
    n = int(os.environ.get("AGRI_BENCH_DASK_PLOTS", 4_000 if quick else 100_000))
    groups = group_jobs(_jobs(SHARED_DATA, n))  # type: ignore[arg-type]
    started = time.perf_counter()
    single = sum(len(measure_group(g)) for g in groups)
    single_rate = single / (time.perf_counter() - started)
    print(f"  single process: {single_rate:,.0f} plots/s over {n:,} plots", flush=True)
    rates: dict[int, float] = {}
    for workers in (1, 2):
        with local_client(workers) as client:
            client.wait_for_workers(workers)
            started = time.perf_counter()
            futures = client.map(measure_group, groups, pure=False)
            done = 0
            for future in distributed.as_completed(futures):  # type: ignore[no-untyped-call]
                done += len(future.result())
            rates[workers] = done / (time.perf_counter() - started)
        print(f"  {workers} worker(s): {rates[workers]:,.0f} plots/s", flush=True)
    settings = (
        f"{n:,} plots of 40 m on the real Austrian pair, {len(groups)} tasks "
        "(tiles of 0.05 deg, at most 64 plots each), workers of 1 thread"
    )
    curve = Curve(
        "dask: plots measured per second vs workers",
        "workers",
        "plots/s",
        {
            "agri on Dask": [(w, r) for w, r in sorted(rates.items())],
            "single process": [(w, single_rate) for w in sorted(rates)],
        },
    )
    return [
        Result(
            f"event assessment, measurement, 2 workers, {n:,} plots",
            "plots/s",
            rates[2],
            "single process",
            single_rate,
            settings=settings,
            reference_settings="the same groups measured one after another",
            higher_is_better=True,
            curve=curve,
        ),
        Result(
            f"event assessment, measurement, 1 worker, {n:,} plots",
            "plots/s",
            rates[1],
            "single process",
            single_rate,
            settings=settings,
            higher_is_better=True,
        ),
    ]
