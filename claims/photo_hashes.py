"""Near-duplicate search for 64-bit perceptual hashes, by multi-index hashing.

A reused photo has a pHash within a small Hamming distance ``r`` of an earlier
one. Scanning every stored hash costs time in proportion to the table. Multi-
index hashing (Norouzi, Punjani and Fleet, CVPR 2012) splits each hash into
``m`` bands of ``64 / m`` bits and indexes each band. By the pigeonhole
principle, two hashes within distance ``r`` differ in at most ``r // m`` bits
in at least one band: if every band differed in ``r // m + 1`` bits or more,
the total would be at least ``m * (r // m + 1) > r``. So the candidates are the
stored hashes whose band ``i`` lies within ``r // m`` bits of the query's band
``i`` for some ``i``: an exact lookup of a few values in each band's index.
The full distance of each candidate is then confirmed.

With the shipped settings (``m = 4`` bands of 16 bits, ``r = 6``) each band is
probed with its own value and its 16 one-bit flips: 17 values per band, 68 in
all, and the cost of a lookup grows with the number of candidates (hashes
that share a band value by chance: about ``68 n / 65536`` for ``n`` stored
hashes of uniform bits), not with a scan of ``n``.

The same probe values serve as lock names: two uploads of near-duplicate
photos probe the same value in their closest band, so locking every probe
value serialises them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations

__all__ = [
    "BANDS",
    "BAND_BITS",
    "band_probes",
    "band_radius",
    "bands",
    "hamming",
    "near_duplicates",
    "probe_sets",
]

BANDS = 4  # bands per 64-bit hash: four indexed 16-bit columns
BAND_BITS = 64 // BANDS
_BAND_MASK = (1 << BAND_BITS) - 1


def bands(phash: int) -> tuple[int, ...]:
    """The hash's ``BANDS`` bands, most significant first, each in [0, 2**BAND_BITS).

    Precondition: ``0 <= phash < 2**64``.
    """
    if not 0 <= phash < 1 << 64:
        raise ValueError(f"a 64-bit hash is in [0, 2**64), not {phash}")
    shifts = range((BANDS - 1) * BAND_BITS, -1, -BAND_BITS)
    return tuple((phash >> s) & _BAND_MASK for s in shifts)


def band_radius(max_distance: int, n_bands: int = BANDS) -> int:
    """Bits a band may differ in for the full hashes to be within ``max_distance``.

    Pigeonhole: ``max_distance // n_bands``.
    """
    if max_distance < 0 or n_bands < 1:
        raise ValueError("max_distance must be >= 0 and n_bands >= 1")
    return max_distance // n_bands


def band_probes(value: int, radius: int, bits: int = BAND_BITS) -> list[int]:
    """Every ``bits``-bit value within ``radius`` bit flips of ``value``, ``value`` first.

    There are ``sum(C(bits, k) for k <= radius)`` of them: 17 for 16 bits and
    radius 1.
    """
    out = [value]
    for k in range(1, radius + 1):
        for flips in combinations(range(bits), k):
            v = value
            for b in flips:
                v ^= 1 << b
            out.append(v)
    return out


def hamming(a: int, b: int) -> int:
    """Bits in which two hashes differ."""
    return (a ^ b).bit_count()


def near_duplicates(
    phash: int, candidates: Iterable[tuple[int, str]], max_distance: int
) -> list[tuple[int, str]]:
    """The (distance, owner) of each candidate within ``max_distance``, nearest first.

    ``candidates`` are (hash, owner) pairs, e.g. from the band lookup.
    """
    found = [
        (d, owner)
        for h, owner in candidates
        if (d := hamming(phash, h)) <= max_distance
    ]
    return sorted(found)


def probe_sets(hashes: Sequence[int], max_distance: int) -> tuple[frozenset[int], ...]:
    """For each band, the values to look up so that no near-duplicate of ``hashes`` is missed."""
    radius = band_radius(max_distance)
    sets: list[set[int]] = [set() for _ in range(BANDS)]
    for h in hashes:
        for i, value in enumerate(bands(h)):
            sets[i].update(band_probes(value, radius))
    return tuple(frozenset(s) for s in sets)
