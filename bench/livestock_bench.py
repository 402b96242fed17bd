"""Face-ID speed: embedding latency, and 1:N search time by gallery size beside numpy and faiss."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from bench.report import Curve, Result
from livestock import FaceID
from livestock.index import BruteForceIndex, IvfIndex, SearchResult, make_index


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


def bench_embedding(faceid: FaceID, repeats: int) -> list[Result]:
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
    return [
        Result(
            "embedding, batch 1, one core",
            "ms",
            batch1 * 1e3,
            "eager PyTorch",
            eager1 * 1e3,
            settings=f"FaceID.embed (frozen TorchScript), 224 x 112 input, median of {repeats};"
            " goal <= 15 ms",
            reference_settings="the same weights as an eager module, inference_mode,"
            f" median of {repeats}",
        ),
        Result(
            "embedding, batch 32, one core, per image",
            "ms",
            batch32 * 1e3,
            settings=f"FaceID.embed, batch of 32 ({1 / batch32:,.0f} images/s)",
        ),
    ]


def _gallery(
    n: int, queries: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit templates and ``queries`` new photos of enrolled animals (cos ~0.85)."""
    gallery = rng.standard_normal((n, 128)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    picks = rng.choice(n, queries, replace=False)
    q = gallery[picks] + 0.6 * rng.standard_normal((queries, 128)).astype(
        np.float32
    ) / np.sqrt(128)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return gallery, q


class _FaissFlat:
    """faiss's exact inner-product index (``IndexFlatIP``) behind ``search``."""

    def __init__(self, vectors: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        scores, ids = self.index.search(queries, k)
        return SearchResult(ids.astype(np.int64), scores)


def _faiss_flat_best(
    gallery: np.ndarray, q: np.ndarray
) -> tuple[list[int], list[float], str]:
    """faiss ``IndexFlatIP`` one query at a time, on the faster of its default OpenMP
    threads and one thread (faiss's advice for single queries on a busy machine),
    chosen on the first 50 queries."""
    import faiss

    flat = _FaissFlat(gallery)
    default = faiss.omp_get_max_threads()
    try:
        probe = {}
        for threads in dict.fromkeys((default, 1)):
            faiss.omp_set_num_threads(threads)
            probe[threads] = float(np.median(_top1_timed(flat, q[:50])[1]))
        threads = min(probe, key=probe.__getitem__)
        faiss.omp_set_num_threads(threads)
        top1, times = _top1_timed(flat, q)
    finally:
        faiss.omp_set_num_threads(default)
    return top1, times, f"{threads} OpenMP thread{'s' if threads > 1 else ''}"


def bench_search(sizes: tuple[int, ...], queries: int) -> list[Result]:
    """1:N search time by gallery size: ours as the service builds it (make_index:
    exact below 200,000 templates, faiss IVF above) beside numpy brute force and
    faiss's exact IndexFlatIP, one query at a time, top 5."""
    import faiss

    curve: dict[str, list[tuple[float, float]]] = {
        "agri (make_index)": [],
        "numpy brute force": [],
        "faiss IndexFlatIP": [],
    }
    for n in sizes:
        rng = np.random.default_rng(7)
        gallery, q = _gallery(n, queries, rng)
        start = time.perf_counter()
        index = make_index(gallery)
        build = time.perf_counter() - start
        ours, times = _top1_timed(index, q)
        if isinstance(index, IvfIndex):
            kind = f"faiss IVF {index.nlist} cells, {index.index.nprobe} probed"
            memory = index.bytes_per_vector
        else:
            kind = "exact numpy (below 200,000)"
            memory = index.bytes_per_vector
        del index
        exact = BruteForceIndex(gallery)
        ref, ref_times = _top1_timed(exact, q)
        del exact
        flat, flat_times, flat_threads = _faiss_flat_best(gallery, q)
        same = float(np.mean(np.array(ours) == np.array(ref)))
        ms = float(np.median(times)) * 1e3
        ref_ms = float(np.median(ref_times)) * 1e3
        flat_ms = float(np.median(flat_times)) * 1e3
        flat_same = float(np.mean(np.array(flat) == np.array(ref)))
        curve["agri (make_index)"].append((n, ms))
        curve["numpy brute force"].append((n, ref_ms))
        curve["faiss IndexFlatIP"].append((n, flat_ms))
        _row(
            f"1:N search, {n:,} animals, {kind} (ms/query)",
            f"{ms:.2f} ms",
            f"numpy brute force {ref_ms:.1f} ms",
            f"{ref_ms / ms:.2f}x",
        )
        _row(
            "",
            "",
            f"faiss IndexFlatIP {flat_ms:.1f} ms",
            f"{flat_ms / ms:.2f}x",
        )
        _row(
            f"  same top-1 as brute force ({queries} queries)",
            f"{same:.1%}",
            f"index built in {build:.1f} s",
        )
        del gallery
    _row(
        "memory per enrolled animal (index)",
        f"{memory} B",
        "128 float32 + 8-byte id",
    )
    settings = (
        f"{kind}, built in {build:.1f} s; median of {queries} single queries, top 5;"
        f" same top-1 as exact search for {same:.1%}"
    )
    threads = faiss.omp_get_max_threads()
    return [
        Result(
            f"1:N search over {n:,} animals",
            "ms",
            ms,
            "numpy brute force",
            ref_ms,
            settings=settings,
            reference_settings=f"float32 matrix product (BLAS), argpartition; {queries} queries",
            curve=Curve(
                "livestock: 1:N search time vs gallery size",
                "gallery size (animals, 128-d templates)",
                "search time per query, median (ms)",
                curve,
                log_x=True,
                log_y=True,
            ),
        ),
        Result(
            f"1:N search over {n:,} animals (vs faiss exact)",
            "ms",
            ms,
            "faiss IndexFlatIP",
            flat_ms,
            settings=settings + f"; faiss default {threads} OpenMP threads",
            reference_settings=(
                f"faiss {faiss.__version__} exact inner product, {flat_threads}"
                f" (the faster of its default and one); same top-1 as numpy for {flat_same:.1%}"
            ),
        ),
        Result(
            "memory per enrolled animal (index)",
            "B",
            float(memory),
            settings="128 float32 and the 8-byte id",
        ),
    ]


def run(*, quick: bool = False) -> list[Result]:
    """Print the face-ID figures beside their references and return them."""
    print("\n## Livestock face ID (shipped weights, CPU)")
    _row("figure", "agri", "reference", "ratio")
    faceid = FaceID.load()
    results = bench_embedding(faceid, 20 if quick else 100)
    sizes = (10_000, 100_000, 300_000) if quick else (10_000, 100_000, 1_000_000)
    results += bench_search(sizes, 100 if quick else 500)
    return results
