"""Multi-index hashing of 64-bit pHashes: no near-duplicate is ever missed."""

from __future__ import annotations

import random
from math import comb

import pytest

from claims import (
    band_probes,
    band_radius,
    bands,
    hamming,
    near_duplicates,
    probe_sets,
)


@pytest.mark.parametrize(
    ("phash", "expected"),
    [
        (0, (0, 0, 0, 0)),
        (0xFFFF_FFFF_FFFF_FFFF, (0xFFFF,) * 4),
        (0x0123_4567_89AB_CDEF, (0x0123, 0x4567, 0x89AB, 0xCDEF)),
        (1, (0, 0, 0, 1)),
    ],
)
def test_bands_most_significant_first(phash: int, expected: tuple[int, ...]) -> None:
    assert bands(phash) == expected


@pytest.mark.parametrize("bad", [-1, 1 << 64])
def test_bands_refuse_what_is_not_64_bits(bad: int) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        bands(bad)


@pytest.mark.parametrize(
    ("distance", "n_bands", "radius"),
    [(0, 4, 0), (3, 4, 0), (4, 4, 1), (6, 4, 1), (7, 4, 1), (8, 4, 2), (6, 7, 0)],
)
def test_band_radius_is_the_pigeonhole_bound(
    distance: int, n_bands: int, radius: int
) -> None:
    assert band_radius(distance, n_bands) == radius


@pytest.mark.parametrize(("radius", "count"), [(0, 1), (1, 17), (2, 137)])
def test_band_probes(radius: int, count: int) -> None:
    probes = band_probes(0xBEEF, radius)
    assert probes[0] == 0xBEEF and len(probes) == len(set(probes)) == count
    assert count == sum(comb(16, k) for k in range(radius + 1))
    assert all(hamming(p, 0xBEEF) <= radius for p in probes)


@pytest.mark.parametrize(
    ("a", "b", "d"), [(0, 0, 0), (0, 1, 1), (0, 0xFFFF_FFFF_FFFF_FFFF, 64), (5, 6, 2)]
)
def test_hamming(a: int, b: int, d: int) -> None:
    assert hamming(a, b) == d


def _flip(h: int, bits: list[int]) -> int:
    for b in bits:
        h ^= 1 << b
    return h


@pytest.mark.parametrize("distance", [0, 1, 3, 4, 6, 7])
def test_every_hash_within_the_distance_is_a_candidate(distance: int) -> None:
    """Pigeonhole: a hash within ``distance`` probes a value of one of its bands."""
    rng = random.Random(distance)
    for _ in range(500):
        h = rng.getrandbits(64)
        other = _flip(h, rng.sample(range(64), distance))
        probes = probe_sets([h], distance)
        assert any(v in probes[i] for i, v in enumerate(bands(other)))
    # The worst case for four bands: the flips spread as evenly as they go.
    h = rng.getrandbits(64)
    spread = _flip(h, [0, 1, 16, 17, 32, 48][:distance])
    probes = probe_sets([h], distance)
    assert any(v in probes[i] for i, v in enumerate(bands(spread)))


def test_near_duplicates_confirms_the_full_distance() -> None:
    h = 0x0123_4567_89AB_CDEF
    candidates = [
        (h, "C-same"),
        (_flip(h, [0, 20, 40]), "C-3"),
        (_flip(h, list(range(7))), "C-7"),
    ]
    assert near_duplicates(h, candidates, 6) == [(0, "C-same"), (3, "C-3")]
    assert near_duplicates(h, [], 6) == []
