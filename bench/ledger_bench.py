"""Ledger speed on SQLite beside pymerkle 7 (a peer Python Merkle library).

Appends are timed at equal settings: ours as shipped (WAL, synchronous=FULL) and
with NORMAL (the lower setting AGRI_SQLITE_SYNCHRONOUS allows), pymerkle on its
default (rollback journal, synchronous=FULL) and on WAL with FULL and NORMAL, set
by PRAGMA on its own connection. Every row says its settings.
"""

from __future__ import annotations

import random
import shutil
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
from server.services.ledger import LedgerService
from server.storage.ledger_store import SqlLedgerStore
from server.storage.migrate import upgrade
from server.storage.schema import make_engine


def _entries(n: int, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(128) for _ in range(n)]


def _store(path: Path, synchronous: str = "FULL") -> SqlLedgerStore:
    engine = make_engine(f"sqlite:///{path}", sqlite_synchronous=synchronous)
    upgrade(engine)
    return SqlLedgerStore(engine)


# Journal settings: label, pymerkle's journal_mode (None: its default), synchronous.
SETTINGS = [
    ("WAL, synchronous=FULL (shipped)", "WAL", "FULL"),
    ("WAL, synchronous=NORMAL", "WAL", "NORMAL"),
    ("pymerkle default: rollback journal, FULL", None, None),
]


def _pymerkle(path: Path, journal: str | None, synchronous: str | None) -> SqliteTree:
    """pymerkle's SQLite tree with the given PRAGMAs on its own connection."""
    tree = SqliteTree(str(path))
    if journal is not None:
        tree.con.execute(f"PRAGMA journal_mode={journal}")
    if synchronous is not None:
        tree.con.execute(f"PRAGMA synchronous={synchronous}")
    return tree


def _time_appends(
    tmp: Path, name: str, data: list[bytes], batch: int
) -> list[tuple[str, float | None, float]]:
    """Seconds for ours and pymerkle to append ``data`` in batches, per setting."""
    out: list[tuple[str, float | None, float]] = []
    for k, (label, journal, sync) in enumerate(SETTINGS):
        ours_s: float | None = None
        if journal is not None:
            ours = _store(tmp / f"{name}-{k}.db", sync or "FULL")
            t = time.perf_counter()
            for i in range(0, len(data), batch):
                ours.append_many(data[i : i + batch])
            ours_s = time.perf_counter() - t
            ours.engine.dispose()
        pm = _pymerkle(tmp / f"{name}-{k}-pm.db", journal, sync)
        t = time.perf_counter()
        if batch == 1:
            for d in data:
                pm.append_entry(d)
        else:
            for i in range(0, len(data), batch):
                pm.append_entries(data[i : i + batch])
        pm_s = time.perf_counter() - t
        pm.close()
        out.append((label, ours_s, pm_s))
    return out


def _print_appends(
    title: str, n: int, timings: list[tuple[str, float | None, float]]
) -> None:
    print(f"{title} ({n:,})")
    for label, ours_s, pm_s in timings:
        _row(
            f"  {label}",
            _rate(n, ours_s) if ours_s is not None else "-",
            _rate(n, pm_s),
            f"{pm_s / ours_s:.2f}x" if ours_s is not None else "",
        )


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
    _row("figure (journal settings)", "agri ledger", "pymerkle 7", "ratio")

    data = _entries(max(single_n, batch_n))

    # One at a time: each append its own committed transaction.
    _print_appends(
        "appends one at a time",
        single_n,
        _time_appends(tmp, "single", data[:single_n], 1),
    )
    # Batches of 1,000, one transaction each.
    _print_appends(
        "appends in batches of 1,000",
        batch_n,
        _time_appends(tmp, "batch", data[:batch_n], 1000),
    )

    pm = _pymerkle(tmp / "proofs-pm.db", None, None)
    pm.append_entries(data[:batch_n])
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
    big = _store(tmp / "big.db")  # as shipped: WAL, synchronous=FULL
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
    _row(f"consistency proof, generate @{big_n:,}", _ms(cgen), "goal < 1 ms")
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
    shutil.rmtree(tmp, ignore_errors=True)
