"""1:N search: IVF finds what exact search finds."""

from __future__ import annotations

import numpy as np

from livestock.index import BruteForceIndex, IvfIndex, make_index


def gallery(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def noisy_copies(v: np.ndarray, noise: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = v + noise * rng.standard_normal(v.shape).astype(np.float32) / np.sqrt(
        v.shape[1]
    )
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_brute_force_ranks_by_cosine() -> None:
    g = gallery(1000)
    found = BruteForceIndex(g).search(g[[3, 7]], k=3)
    assert found.ids[:, 0].tolist() == [3, 7]
    assert np.allclose(found.scores[:, 0], 1.0, atol=1e-5)
    assert (np.diff(found.scores, axis=1) <= 0).all()


def test_ivf_agrees_with_exact_search_on_new_photos_of_enrolled_animals() -> None:
    g = gallery(50_000)
    picks = np.random.default_rng(2).choice(len(g), 200, replace=False)
    queries = noisy_copies(g[picks], noise=0.6)  # cosine ~0.85 to the enrolled template
    exact = BruteForceIndex(g).search(queries, k=1)
    ivf = IvfIndex(g).search(queries, k=1)
    assert (exact.ids[:, 0] == picks).all()
    same = ivf.ids[:, 0] == exact.ids[:, 0]
    assert same.mean() >= 0.99
    assert np.allclose(ivf.scores[same, 0], exact.scores[same, 0], atol=1e-5)


def test_small_galleries_use_exact_search() -> None:
    assert isinstance(make_index(gallery(10)), BruteForceIndex)
    assert isinstance(make_index(gallery(3000), exact_below=1000), IvfIndex)


def test_added_vectors_are_found_without_a_rebuild() -> None:
    g = gallery(5000)
    extra = gallery(3, seed=9)
    for index in (BruteForceIndex(g), IvfIndex(g)):
        index.add(extra)
        assert len(index) == 5003
        found = index.search(extra, k=1)
        assert found.ids[:, 0].tolist() == [5000, 5001, 5002]
