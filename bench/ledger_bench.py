"""Ledger speed on SQLite beside pymerkle 7 (a peer Python Merkle library).

Appends are timed at equal settings: ours as shipped (WAL, synchronous=FULL) and
with NORMAL (the lower setting AGRI_SQLITE_SYNCHRONOUS allows), pymerkle on its
default (rollback journal, synchronous=FULL) and on WAL with FULL and NORMAL, set
by PRAGMA on its own connection. Proofs are timed on both logs grown side by
side with the same entries to each size of a curve (proof time vs log size, up
to 1,000,000 entries). Every row says its settings.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path

from pymerkle import SqliteTree
from pymerkle import verify_consistency as pm_verify_consistency
from pymerkle import verify_inclusion as pm_verify_inclusion

from bench.report import Curve, Result
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
) -> list[Result]:
    """Print one append figure's rows; return them as results.

    Each setting both sides share is one result; pymerkle's default setting is
    set beside ours as shipped (each library as it comes).
    """
    print(f"{title} ({n:,})")
    shipped_label, shipped_s, _ = timings[0]
    out = []
    for label, ours_s, pm_s in timings:
        _row(
            f"  {label}",
            _rate(n, ours_s) if ours_s is not None else "-",
            _rate(n, pm_s),
            f"{pm_s / ours_s:.2f}x" if ours_s is not None else "",
        )
        same = ours_s is not None
        mine_s = ours_s if ours_s is not None else shipped_s
        assert mine_s is not None
        out.append(
            Result(
                f"{title}, {label if same else 'each as shipped'}",
                "/s",
                n / mine_s,
                "pymerkle 7",
                n / pm_s,
                settings=f"{n:,} 128-byte entries, SQLite {label if same else shipped_label}",
                reference_settings=f"SqliteTree, {label}",
                higher_is_better=True,
            )
        )
    return out


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}/s"


def _row(label: str, ours: str, ref: str, ratio: str = "") -> None:
    print(f"{label:<44} {ours:>16} {ref:>16} {ratio:>8}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def _ours_inclusion(
    store: SqlLedgerStore, size: int, rnd: random.Random, samples: int
) -> tuple[float, float]:
    """Mean seconds to generate and to verify an inclusion proof at ``size``."""
    root = root_at(store, size)
    inclusion_proof(store, rnd.randrange(size), size)  # warm up: statements, pages
    idx = [rnd.randrange(size) for _ in range(samples)]
    t = time.perf_counter()
    proofs = [inclusion_proof(store, i, size) for i in idx]
    gen = (time.perf_counter() - t) / samples
    leaves = store.read_hashes(idx)
    t = time.perf_counter()
    for i, p in zip(idx, proofs, strict=True):
        verify_inclusion(i, size, leaves[i][0], p, root)
    return gen, (time.perf_counter() - t) / samples


def _pm_inclusion(
    pm: SqliteTree, size: int, rnd: random.Random, samples: int
) -> tuple[float, float]:
    """pymerkle's mean seconds to generate and verify an inclusion proof at ``size``.

    Its subroot cache (on by default) is emptied first: the first proof hashes
    the subtrees it needs, the later ones reuse what they share.
    """
    pm.prove_inclusion(rnd.randint(1, size), size)  # warm up: statements, pages
    pm.cache_clear()
    root = pm.get_root(size)
    pm.cache_clear()
    idx = [rnd.randint(1, size) for _ in range(samples)]
    t = time.perf_counter()
    proofs = [pm.prove_inclusion(i, size) for i in idx]
    gen = (time.perf_counter() - t) / samples
    leaves = [pm.get_leaf(i) for i in idx]
    t = time.perf_counter()
    for leaf, p in zip(leaves, proofs, strict=True):
        pm_verify_inclusion(leaf, root, p)
    return gen, (time.perf_counter() - t) / samples


def _pm_consistency(
    pm: SqliteTree, size: int, priors: list[int]
) -> tuple[float, float]:
    """pymerkle's mean seconds to generate and verify a consistency proof to ``size``."""
    pm.cache_clear()
    later = pm.get_root(size)
    earlier = {s: pm.get_root(s) for s in priors}
    pm.cache_clear()
    t = time.perf_counter()
    proofs = [pm.prove_consistency(s, size) for s in priors]
    gen = (time.perf_counter() - t) / len(priors)
    t = time.perf_counter()
    for s, p in zip(priors, proofs, strict=True):
        pm_verify_consistency(earlier[s], later, p)
    return gen, (time.perf_counter() - t) / len(priors)


def run(*, quick: bool = False) -> list[Result]:
    """Print the ledger figures beside pymerkle's and return them."""
    single_n = 500 if quick else 2_000
    batch_n = 20_000 if quick else 100_000
    sizes = (1_000, 10_000, 50_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    big_n = sizes[-1]
    tmp = Path(tempfile.mkdtemp(prefix="agri-bench-"))
    print(f"\n## Ledger (SQLite, 128-byte entries; temp dir {tmp})")
    _row("figure (journal settings)", "agri ledger", "pymerkle 7", "ratio")
    results: list[Result] = []

    data = _entries(max(single_n, batch_n))

    # One at a time: each append its own committed transaction.
    results += _print_appends(
        "appends one at a time",
        single_n,
        _time_appends(tmp, "single", data[:single_n], 1),
    )
    # Batches of 1,000, one transaction each.
    results += _print_appends(
        "appends in batches of 1,000",
        batch_n,
        _time_appends(tmp, "batch", data[:batch_n], 1000),
    )
    del data

    # Both logs grown side by side to each size of the curve, the same entries:
    # ours as shipped (WAL, synchronous=FULL), pymerkle on its default.
    big = _store(tmp / "big.db")
    pm = _pymerkle(tmp / "proofs-pm.db", None, None)
    rnd_data = random.Random(9)
    rnd = random.Random(1)
    built, build_s = 0, 0.0
    ours_curve: list[tuple[float, float]] = []
    pm_curve: list[tuple[float, float]] = []
    pm_samples = 10
    print("inclusion proof, generate (mean) by log size")
    for size in sizes:
        while built < size:
            chunk = [rnd_data.randbytes(128) for _ in range(min(10_000, size - built))]
            t = time.perf_counter()
            big.append_many(chunk)
            build_s += time.perf_counter() - t
            pm.append_entries(chunk)
            built += len(chunk)
        gen, ver = _ours_inclusion(big, size, rnd, 200)
        pm_gen, pm_ver = _pm_inclusion(pm, size, rnd, pm_samples)
        ours_curve.append((size, gen * 1e3))
        pm_curve.append((size, pm_gen * 1e3))
        _row(f"  @{size:,}", _ms(gen), _ms(pm_gen), f"{pm_gen / gen:.0f}x")
    print(f"{'(built ' + f'{big_n:,} entries in {build_s:.1f} s)':<44}")
    _row(f"inclusion proof, verify @{big_n:,}", _ms(ver), _ms(pm_ver))
    proof_settings = f"mean of 200 random leaves; SQLite WAL, FULL; log of {big_n:,}"
    pm_settings = (
        f"SqliteTree (default journal), mean of {pm_samples} random leaves,"
        " subroot cache on (its default), emptied first"
    )
    results.append(
        Result(
            f"inclusion proof, generate, at {big_n:,} entries",
            "ms",
            gen * 1e3,
            "pymerkle 7",
            pm_gen * 1e3,
            settings=proof_settings,
            reference_settings=pm_settings,
            curve=Curve(
                "ledger: inclusion proof time vs log size",
                "log size (entries)",
                "inclusion proof, generate (ms)",
                {"agri ledger": ours_curve, "pymerkle 7": pm_curve},
                log_x=True,
                log_y=True,
            ),
        )
    )
    results.append(
        Result(
            f"inclusion proof, verify, at {big_n:,} entries",
            "ms",
            ver * 1e3,
            "pymerkle 7",
            pm_ver * 1e3,
            settings=proof_settings,
            reference_settings=f"verify_inclusion, mean of {pm_samples}",
        )
    )

    sizes_c = sorted(rnd.randrange(1, big_n) for _ in range(50))
    roots = {s: root_at(big, s) for s in sizes_c}
    root = root_at(big, big_n)
    t = time.perf_counter()
    cproofs = [consistency_proof(big, s, big_n) for s in sizes_c]
    cgen = (time.perf_counter() - t) / len(sizes_c)
    t = time.perf_counter()
    for s, p in zip(sizes_c, cproofs, strict=True):
        verify_consistency(s, big_n, p, roots[s], root)
    cver = (time.perf_counter() - t) / len(sizes_c)
    pm_cgen, pm_cver = _pm_consistency(pm, big_n, sizes_c[:pm_samples])
    pm.close()
    _row(
        f"consistency proof, generate @{big_n:,}",
        _ms(cgen),
        _ms(pm_cgen),
        f"{pm_cgen / cgen:.0f}x",
    )
    _row(f"consistency proof, verify @{big_n:,}", _ms(cver), _ms(pm_cver))
    _row("  (goal: generate < 1 ms)", "", "")
    consistency_settings = (
        f"mean of 50 random earlier sizes; log of {big_n:,}; goal: generate < 1 ms"
    )
    results += [
        Result(
            f"consistency proof, generate, at {big_n:,} entries",
            "ms",
            cgen * 1e3,
            "pymerkle 7",
            pm_cgen * 1e3,
            settings=consistency_settings,
            reference_settings=(
                f"prove_consistency, mean of {pm_samples} earlier sizes,"
                " subroot cache emptied first"
            ),
        ),
        Result(
            f"consistency proof, verify, at {big_n:,} entries",
            "ms",
            cver * 1e3,
            "pymerkle 7",
            pm_cver * 1e3,
            settings=consistency_settings,
            reference_settings=f"verify_consistency, mean of {pm_samples}",
        ),
    ]

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
    results.append(
        Result(
            f"agri ledger verify over {big_n:,} entries",
            "s",
            fsck,
            "goal",
            30.0,
            settings="every entry, chain link and subtree rehashed; one checkpoint",
            reference_settings="the project's goal: under 30 s at 1,000,000",
        )
    )
    big.engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    return results
