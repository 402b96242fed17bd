"""Face-ID speed: embedding latency and throughput, 1:N search over 1,000,000 animals."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from livestock import FaceID
from livestock.index import BruteForceIndex, IvfIndex


def _top1_timed(index: Any, queries: np.ndarray) -> tuple[list[int], list[float]]:
    """Each query's top-1 id, searched one at a time, and the seconds each took."""
    top1, seconds = [], []
    for i in range(len(queries)):
        start = time.perf_counter()
        top1.append(int(index.search(queries[i : i + 1], 5).ids[0, 0]))
        seconds.append(time.perf_counter() - start)
    return top1, seconds


def _row(label: str, ours: str, ref: str, ratio: str = "") -> None:
    print(f"{label:<48} {ours:>16} {ref:>26} {ratio:>8}")


def bench_embedding(faceid: FaceID, repeats: int) -> None:
    x1 = np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 112)).astype(np.float32)
    x32 = np.random.default_rng(1).uniform(-1, 1, (32, 3, 224, 112)).astype(np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    faceid.embed(x1)  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        faceid.embed(x1)
        times.append(time.perf_counter() - start)
    batch1 = float(np.median(times))
    eager_times = []  # reference: the same model as an eager PyTorch module
    with torch.inference_mode():
        x1_t = torch.from_numpy(x1)
        faceid.model(x1_t)
        for _ in range(repeats):
            start = time.perf_counter()
            faceid.model(x1_t)
            eager_times.append(time.perf_counter() - start)
    eager1 = float(np.median(eager_times))
    faceid.embed(x32)
    start = time.perf_counter()
    for _ in range(max(1, repeats // 10)):
        faceid.embed(x32)
    batch32 = (time.perf_counter() - start) / max(1, repeats // 10) / 32
    torch.set_num_threads(threads)
    _row(
        "embedding, batch 1, one core (ms/image)",
        f"{batch1 * 1e3:.1f} ms",
        f"eager PyTorch {eager1 * 1e3:.1f} ms",
        "goal <= 15 ms",
    )
    _row(
        "embedding, batch 32, one core (ms/image)",
        f"{batch32 * 1e3:.1f} ms",
        f"{1 / batch32:,.0f} images/s",
    )


def bench_search(n: int, queries: int, nprobe: int | None = None) -> None:
    rng = np.random.default_rng(7)
    gallery = rng.standard_normal((n, 128)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    picks = rng.choice(n, queries, replace=False)
    q = gallery[picks] + 0.6 * rng.standard_normal((queries, 128)).astype(
        np.float32
    ) / np.sqrt(128)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    start = time.perf_counter()
    ivf = IvfIndex(gallery, nprobe=nprobe)
    build = time.perf_counter() - start
    exact = BruteForceIndex(gallery)
    ours, times = _top1_timed(ivf, q)
    ref, ref_times = _top1_timed(exact, q)
    same = float(np.mean(np.array(ours) == np.array(ref)))
    ms, ref_ms = np.median(times) * 1e3, np.median(ref_times) * 1e3
    _row(
        f"1:N search, {n:,} animals, IVF {ivf.nlist}/{ivf.index.nprobe} cells (ms/query)",
        f"{ms:.2f} ms",
        f"numpy brute force {ref_ms:.1f} ms",
        f"{ref_ms / ms:.0f}x",
    )
    _row(
        f"  same top-1 as brute force ({queries} queries)",
        f"{same:.1%}",
        f"IVF built in {build:.1f} s",
    )
    _row(
        "memory per enrolled animal (index)",
        f"{ivf.bytes_per_vector} B",
        "128 float32 + 8-byte id",
    )


def run(*, quick: bool = False) -> None:
    """Print the face-ID figures of the livestock issue."""
    print("\n## Livestock face ID (shipped weights, CPU)")
    _row("figure", "agri", "reference", "ratio")
    faceid = FaceID.load()
    bench_embedding(faceid, 20 if quick else 100)
    bench_search(100_000 if quick else 1_000_000, 100 if quick else 500)
