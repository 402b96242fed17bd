"""Ledger speed on SQLite beside pymerkle 7 (a peer Python Merkle library)."""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from pymerkle import SqliteTree

from ledger import (
    Checkpoint,
    consistency_proof,
    generate_key,
    inclusion_proof,
    root_at,
    verify_consistency,
    verify_inclusion,
)
from server.storage.schema import make_engine
from server.services.ledger import LedgerService
from server.storage.ledger_store import SqlLedgerStore
from server.storage.migrate import upgrade


def _entries(n: int, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(128) for _ in range(n)]


def _store(path: Path) -> SqlLedgerStore:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return SqlLedgerStore(engine)


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}/s"


def _row(label: str, ours: str, ref: str, ratio: str = "") -> None:
    print(f"{label:<44} {ours:>16} {ref:>16} {ratio:>8}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def run(*, quick: bool = False) -> None:
    """Print the ledger figures of the foundation issue."""
    single_n = 500 if quick else 2_000
    batch_n = 20_000 if quick else 100_000
    big_n = 50_000 if quick else 1_000_000
    pm_proof_n = 20_000 if quick else 100_000
    tmp = Path(tempfile.mkdtemp(prefix="agri-bench-"))
    print(f"\n## Ledger (SQLite, 128-byte entries; temp dir {tmp})")
    _row("figure", "agri ledger", "pymerkle 7", "ratio")

    data = _entries(max(single_n, batch_n))

    # One at a time: each append its own committed transaction.
    ours = _store(tmp / "single.db")
    t = time.perf_counter()
    for d in data[:single_n]:
        ours.append_many([d])
    ours_s = time.perf_counter() - t
    pm = SqliteTree(str(tmp / "single-pm.db"))
    t = time.perf_counter()
    for d in data[:single_n]:
        pm.append_entry(d)
    pm_s = time.perf_counter() - t
    pm.close()
    _row(
        f"appends one at a time ({single_n:,})",
        _rate(single_n, ours_s),
        _rate(single_n, pm_s),
        f"{pm_s / ours_s:.2f}x",
    )

    # Batches of 1,000.
    ours = _store(tmp / "batch.db")
    t = time.perf_counter()
    for i in range(0, batch_n, 1000):
        ours.append_many(data[i : i + 1000])
    ours_s = time.perf_counter() - t
    pm = SqliteTree(str(tmp / "batch-pm.db"))
    t = time.perf_counter()
    for i in range(0, batch_n, 1000):
        pm.append_entries(data[i : i + 1000])
    pm_s = time.perf_counter() - t
    _row(
        f"appends in batches of 1,000 ({batch_n:,})",
        _rate(batch_n, ours_s),
        _rate(batch_n, pm_s),
        f"{pm_s / ours_s:.2f}x",
    )

    # pymerkle's inclusion proof at its size (it stores only leaves).
    extra = _entries(max(0, pm_proof_n - batch_n), seed=8)
    if extra:
        pm.append_entries(extra)
    size = pm.get_size()
    rnd = random.Random(1)
    t = time.perf_counter()
    samples = 10
    for _ in range(samples):
        pm.prove_inclusion(rnd.randint(1, size), size)
    pm_incl = (time.perf_counter() - t) / samples
    pm.close()

    # Our log at 1,000,000 entries.
    big = _store(tmp / "big.db")
    t = time.perf_counter()
    chunk = 10_000
    rnd_data = random.Random(9)
    for _ in range(0, big_n, chunk):
        big.append_many([rnd_data.randbytes(128) for _ in range(chunk)])
    build_s = time.perf_counter() - t
    print(f"{'(built ' + f'{big_n:,} entries in {build_s:.1f} s)':<44}")
    head = big.head()
    root = head.root()
    idx = [rnd.randrange(big_n) for _ in range(200)]
    t = time.perf_counter()
    proofs = [inclusion_proof(big, i, big_n) for i in idx]
    gen = (time.perf_counter() - t) / len(idx)
    leaves = big.read_hashes(idx)
    t = time.perf_counter()
    for i, p in zip(idx, proofs, strict=True):
        verify_inclusion(i, big_n, leaves[i][0], p, root)
    ver = (time.perf_counter() - t) / len(idx)
    _row(
        f"inclusion proof, generate @{big_n:,}",
        _ms(gen),
        f"{_ms(pm_incl)} @{size // 1000}k",
    )
    _row(f"inclusion proof, verify @{big_n:,}", _ms(ver), "")

    sizes = sorted(rnd.randrange(1, big_n) for _ in range(50))
    roots = {s: root_at(big, s) for s in sizes}
    t = time.perf_counter()
    cproofs = [consistency_proof(big, s, big_n) for s in sizes]
    cgen = (time.perf_counter() - t) / len(sizes)
    t = time.perf_counter()
    for s, p in zip(sizes, cproofs, strict=True):
        verify_consistency(s, big_n, p, roots[s], root)
    cver = (time.perf_counter() - t) / len(sizes)
    _row(f"consistency proof, generate @{big_n:,}", _ms(cgen), "")
    _row(f"consistency proof, verify @{big_n:,}", _ms(cver), "")

    # agri ledger verify (the fsck) over the whole log, with one checkpoint.
    signer = generate_key("bench.example/log")
    service = LedgerService(big, signer)
    service.checkpoint(anchor=False)
    t = time.perf_counter()
    report = service.verify()
    fsck = time.perf_counter() - t
    assert report.ok, report.error
    assert Checkpoint("bench.example/log", big_n, root).size == report.size
    _row(f"agri ledger verify @{big_n:,}", f"{fsck:.1f} s", "goal < 30 s")
    big.engine.dispose()
    for f in tmp.iterdir():
        os.remove(f)
    tmp.rmdir()
