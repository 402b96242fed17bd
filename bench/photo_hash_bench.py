"""Photo-reuse lookup at 1,000,000 stored evidence hashes, on SQLite as shipped.

Ours: ``ClaimStore.similar_evidence`` (multi-index hashing: four indexed 16-bit
bands of each 64-bit pHash; each band probed with its value and its 16 one-bit
flips, 68 values in all, then the full Hamming distance confirmed in Python),
on the database the migrations build, SQLite WAL with ``synchronous=FULL``
(the shipped default). Reference: the linear scan the claims service ran
before (read every stored hash, then numpy's Hamming distance to each), on
the same database. Both must report the same near-duplicates (distance <= 6).
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, select

from bench.report import Result
from claims import near_duplicates, probe_sets
from livestock.quality import hamming
from server.storage.claims_store import ClaimStore, EvidenceRow
from server.storage.migrate import upgrade
from server.storage.schema import evidence, make_engine
from underwriting import Money

MAX_DISTANCE = 6  # ClaimRules.hash_distance


def _row(label: str, ours: str, ref: str, ratio: str = "") -> None:
    print(f"{label:<48} {ours:>16} {ref:>30} {ratio:>8}")


def _fill(store: ClaimStore, n: int, rng: random.Random) -> list[int]:
    """``n`` random hashes as evidence of 1,000 claims; returns the hashes."""
    hashes = [rng.getrandbits(64) for _ in range(n)]
    with store.engine.begin() as conn:
        ids = [
            store.insert(
                conn,
                policy_id="P-1",
                farmer_id="F-1",
                subject_kind="animal",
                subject_id=f"{998230000000000 + i}",
                event_date=date(2025, 4, 13),
                amount=Money.parse("7400"),
                reported_at=datetime(2025, 4, 14, tzinfo=UTC),
                claimed={},
                checks=(),
                indemnity=(),
            ).id
            for i in range(1000)
        ]
    chunk = 50_000
    for start in range(0, n, chunk):
        with store.engine.begin() as conn:
            store.add_evidence(
                conn,
                ids[(start // chunk) % len(ids)],
                [
                    EvidenceRow("p.jpg", h, None, None, None)
                    for h in hashes[start : start + chunk]
                ],
            )
    return hashes


def _ours(store: ClaimStore, conn: Connection, q: int) -> set[str]:
    found = store.similar_evidence(conn, probe_sets([q], MAX_DISTANCE))
    near = near_duplicates(q, [(s.phash, s.claim_id) for s in found], MAX_DISTANCE)
    return {owner for _, owner in near}


def _scan(conn: Connection, q: int) -> set[str]:
    """The lookup as it was: every stored hash read, then numpy Hamming."""
    rows = conn.execute(select(evidence.c.claim_id, evidence.c.phash)).all()
    stored = np.array([int(r.phash, 16) for r in rows], dtype=np.uint64)
    d = hamming(q, stored)
    return {rows[int(i)].claim_id for i in np.flatnonzero(d <= MAX_DISTANCE)}


def bench_lookup(n: int, queries: int, scans: int) -> list[Result]:
    rng = random.Random(9)
    folder = Path(tempfile.mkdtemp(prefix="agri-phash-"))
    try:
        engine = make_engine(f"sqlite:///{folder / 'agri.db'}")
        upgrade(engine)
        store = ClaimStore(engine)
        start = time.perf_counter()
        stored = _fill(store, n, rng)
        fill_s = time.perf_counter() - start
        # Half near-duplicates of stored photos (1-6 bits off), half new photos.
        qs = []
        for i in range(queries):
            if i % 2:
                qs.append(rng.getrandbits(64))
            else:
                h = rng.choice(stored)
                for b in rng.sample(range(64), rng.randint(1, MAX_DISTANCE)):
                    h ^= 1 << b
                qs.append(h)
        times, ref_times, agree = [], [], 0
        with engine.connect().execution_options(readonly=True) as conn:
            _ours(store, conn, qs[0])  # warm the page cache for both
            for q in qs:
                t = time.perf_counter()
                _ours(store, conn, q)
                times.append(time.perf_counter() - t)
            for q in qs[:scans]:
                t = time.perf_counter()
                ref = _scan(conn, q)
                ref_times.append(time.perf_counter() - t)
                agree += ref == _ours(store, conn, q)
        engine.dispose()
        ms = statistics.median(times) * 1e3
        ref_ms = statistics.median(ref_times) * 1e3
        _row(
            f"reuse lookup, {n:,} stored hashes (ms/photo)",
            f"{ms:.2f} ms",
            f"linear scan + numpy {ref_ms:,.0f} ms",
            f"{ref_ms / ms:,.0f}x",
        )
        _row(
            f"  p95 over {queries} photos (half near-copies)",
            f"{np.percentile(times, 95) * 1e3:.2f} ms",
            f"same matches in {agree}/{scans} scans",
        )
        _row(
            "  settings",
            "4x16-bit bands",
            f"SQLite WAL, sync FULL; fill {fill_s:.0f} s",
        )
        p95 = float(np.percentile(times, 95)) * 1e3
        return [
            Result(
                f"photo reuse lookup at {n:,} stored hashes",
                "ms",
                ms,
                "linear scan + numpy",
                ref_ms,
                settings=(
                    "ClaimStore.similar_evidence: 4 indexed 16-bit bands, 68 probes,"
                    f" Hamming <= {MAX_DISTANCE} confirmed; SQLite WAL, FULL; median of"
                    f" {queries} photos (half near-copies), p95 {p95:.2f} ms"
                ),
                reference_settings=(
                    f"every stored hash read, numpy Hamming; median of {scans};"
                    f" same matches in {agree}/{scans}"
                ),
            )
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(*, quick: bool = False) -> list[Result]:
    """Print the photo-reuse lookup figures beside the linear scan and return them."""
    print("\n## Photo reuse: near-duplicate pHash lookup (SQLite as shipped)")
    _row("figure", "agri", "reference", "ratio")
    if quick:
        return bench_lookup(100_000, 50, 3)
    return bench_lookup(1_000_000, 200, 5)
