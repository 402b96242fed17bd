"""Map tiles: uncached 256 px renders on one core, beside TiTiler's own endpoint.

The real Austria pair is registered as two COGs in a temporary catalogue.
Every tile covering the scene at its minzoom (the whole scene in a few tiles,
read from overviews) and at its maxzoom (native resolution) is rendered
``REPS`` times per layer:

* ours, direct: :func:`remote_sensing.render_tile` (rio-tiler read + colour + PNG);
* ours, HTTP: ``GET /api/v1/scenes/.../tiles/z/x/y.png`` through the app with
  the tile cache off (``AGRI_TILE_CACHE_MB=0``), so every request renders;
* TiTiler: titiler.core's ``TilerFactory`` endpoint for the same COG and tile
  (truecolor: ``bidx=1,2,3&rescale=0,3000``; ndvi: ``expression=(b4-b1)/(b4+b1)
  &rescale=-0.2,0.9&colormap_name=rdylgn``), if titiler.core is installed
  (``pip install titiler.core``); it has no two-scene damage layer.

One core: the process is pinned to one CPU and GDAL_NUM_THREADS=1.
Goal: p95 under 150 ms for an uncached tile.
"""

from __future__ import annotations

import os

os.environ["GDAL_NUM_THREADS"] = "1"  # before GDAL loads

import functools
import importlib.util
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import Result

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AGRI_SHARED_DATA", REPO.parent / "shared" / "data"))
AUSTRIA = SHARED / "sentinel2" / "austria_T33UUP_2021-06-17_2021-09-25.tif"
LAYERS = ("truecolor", "ndvi", "damage")
NAMES = {"truecolor": "true colour", "ndvi": "NDVI", "damage": "damage (two scenes)"}


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _time(fn: Callable[[], Any], reps: int) -> list[float]:
    fn()  # open files, warm GDAL's driver registry (not our cache: there is none here)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _fmt(samples: list[float] | None) -> str:
    if not samples:
        return "n/a"
    return f"{statistics.median(samples):6.1f} / {_pct(samples, 0.95):6.1f}"


def _titiler_client() -> Any:
    if importlib.util.find_spec("titiler.core") is None:
        return None
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from titiler.core.factory import TilerFactory

    app = FastAPI()
    app.include_router(TilerFactory().router)
    return TestClient(app)


def _our_client(folder: Path, data_dir: Path) -> Any:
    from fastapi.testclient import TestClient

    from server.config import Settings
    from server.context import build_context
    from server.http.app import create_app

    settings = Settings(
        data_dir=data_dir,
        database_url=None,
        imagery_dir=folder,
        tile_cache_mb=0,
        anchor_enabled=False,
    )
    return TestClient(create_app(build_context(settings)))


def run(*, quick: bool) -> list[Result]:
    """Print p50 / p95 render times (ms) per layer and zoom; return them as results.

    The process is pinned to one core while it runs and let go afterwards.
    """
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        return _run(quick=quick)
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)


def _get(client: Any, url: str, params: list[tuple[str, str]] | None = None) -> None:
    _ok(client.get(url, params=params))


def _run(*, quick: bool) -> list[Result]:
    import morecantile

    from remote_sensing import TileSource, render_tile
    from server.cli.imagery import register_demo_scenes

    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        cores = "1 core (pinned)"
    except (AttributeError, OSError):
        cores = "not pinned (no sched_setaffinity)"
    reps = 3 if quick else 15
    tms = morecantile.tms.get("WebMercatorQuad")
    print("\n== Map tiles: uncached 256 px tile renders, ms p50 / p95 ==")
    print(f"({cores}, GDAL_NUM_THREADS=1, {reps} renders of every tile over the scene)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imagery"
        before, after = register_demo_scenes(folder, AUSTRIA)
        src = {
            s.name: TileSource(folder / s.file, s.bands, s.scale)
            for s in (before, after)
        }
        ours_http = _our_client(folder, Path(tmp) / "var")
        titiler = _titiler_client()
        if titiler is None:
            print(
                "(titiler.core is not installed: pip install titiler.core to compare)"
            )
        cog = folder / after.file
        print(
            f"{'layer':<10} {'zoom':>4} {'tiles':>5} {'ours direct':>17} "
            f"{'ours HTTP':>17} {'TiTiler HTTP':>17}"
        )
        worst = 0.0
        results: list[Result] = []
        for z in (after.minzoom, after.maxzoom):
            tiles = list(tms.tiles(*after.bounds, zooms=[z]))
            for layer in LAYERS:
                direct: list[float] = []
                http: list[float] = []
                ref: list[float] = []
                for t in tiles:
                    direct += _time(
                        functools.partial(
                            render_tile,
                            src[after.name],
                            layer,
                            t.z,
                            t.x,
                            t.y,
                            before=src[before.name],
                        ),
                        reps,
                    )
                    query = f"?layer={layer}&before={before.name}"
                    url = f"/api/v1/scenes/{after.name}/tiles/{t.z}/{t.x}/{t.y}.png"
                    http += _time(functools.partial(_get, ours_http, url + query), reps)
                    if titiler is not None and layer != "damage":
                        ref += _time(
                            functools.partial(
                                _get,
                                titiler,
                                f"/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png",
                                _titiler_params(layer, cog),
                            ),
                            reps,
                        )
                worst = max(worst, _pct(direct, 0.95), _pct(http, 0.95))
                print(
                    f"{layer:<10} {z:>4} {len(tiles):>5} {_fmt(direct):>17} "
                    f"{_fmt(http):>17} {_fmt(ref):>17}"
                )
                results.append(
                    Result(
                        f"map tile, {NAMES[layer]}, z{z}, over HTTP, p50",
                        "ms",
                        statistics.median(http),
                        "TiTiler over HTTP" if ref else None,
                        statistics.median(ref) if ref else None,
                        settings=(
                            f"GET .../tiles/z/x/y.png, tile cache off; {len(tiles)} tiles"
                            f" x {reps} renders; {cores}, GDAL_NUM_THREADS=1; p95"
                            f" {_pct(http, 0.95):.1f} ms; rendering alone p50/p95"
                            f" {_fmt(direct).replace(' ', '')} ms"
                        ),
                        reference_settings=(
                            f"titiler.core {_version('titiler.core')} TilerFactory, same"
                            f" COG and tiles; p95 {_pct(ref, 0.95):.1f} ms"
                            if ref
                            else "TiTiler has no two-scene damage layer"
                        ),
                    )
                )
        verdict = "met" if worst < 150 else "NOT met"
        print(f"goal p95 < 150 ms: {verdict} (worst p95 {worst:.1f} ms)")
        results.append(
            Result(
                "uncached map tile, worst p95 over layers and zooms",
                "ms",
                worst,
                "goal",
                150.0,
                settings=f"rendering alone and over HTTP; {cores}, GDAL_NUM_THREADS=1",
                reference_settings="the project's goal: p95 under 150 ms",
            )
        )
    return results


def _version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)


def _titiler_params(layer: str, cog: Path) -> list[tuple[str, str]]:
    if layer == "truecolor":  # reflectance 0..0.3 = DN 0..3000
        return [
            ("url", str(cog)),
            ("bidx", "1"),
            ("bidx", "2"),
            ("bidx", "3"),
            ("rescale", "0,3000"),
        ]
    return [
        ("url", str(cog)),
        ("expression", "(b4-b1)/(b4+b1)"),
        ("rescale", "-0.2,0.9"),
        ("colormap_name", "rdylgn"),
    ]


def _ok(response: Any) -> None:
    if response.status_code not in (200, 204):
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(quick=False)
