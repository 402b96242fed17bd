"""Run the benchmarks and write their report: ``python -m bench [--quick] [--only G,G]``.

Every group prints its side-by-side table as it runs and returns its figures
(:class:`bench.report.Result`); at the end the report is written: results.json,
RESULTS.md and a PNG per scaling curve. A full run writes into ``bench/`` (the
committed report); a ``--quick`` or ``--only`` run writes into ``var/bench/``
unless ``--out`` says otherwise, so a smoke run never replaces the committed
figures. A group that fails is reported as such and the exit status is 1; a
group that raises :class:`bench.report.Skipped` (what it needs is not there) is
reported as skipped, with its reason.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shlex
import sys
import time
import traceback
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench.report import (
    Result,
    Run,
    Skipped,
    load_average,
    machine_info,
    write_report,
)

HERE = Path(__file__).resolve().parent
# Group name -> (module of ``bench`` with ``run(*, quick: bool) -> list[Result]``,
# optional: a module that may not be there yet is skipped), in run order.
GROUPS: dict[str, tuple[str, bool]] = {
    "ledger": ("bench.ledger_bench", False),
    "remote_sensing": ("bench.remote_sensing_bench", False),
    "postgis": ("bench.postgis_bench", True),
    "livestock": ("bench.livestock_bench", False),
    "photo_hash": ("bench.photo_hash_bench", False),
    "tiles": ("bench.tiles_bench", False),
    "edge": ("bench.edge_bench", False),
    "dask": ("bench.dask_bench", False),
    "load": ("bench.load_bench", False),
}


def _groups(only: str | None) -> list[str]:
    if not only:
        return list(GROUPS)
    chosen = [g.strip() for g in only.split(",") if g.strip()]
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown:
        raise SystemExit(
            f"unknown group(s) {', '.join(unknown)}: choose from {', '.join(GROUPS)}"
        )
    return [g for g in GROUPS if g in chosen]


def main(argv: list[str] | None = None) -> int:
    """Run the chosen groups (all by default), print each one's wall time, write the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes (a smoke run)"
    )
    parser.add_argument(
        "--only",
        metavar="GROUPS",
        help=f"comma-separated groups to run, of: {', '.join(GROUPS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for the report (default: bench/ for a full run, var/bench/ otherwise)",
    )
    args = parser.parse_args(argv)
    groups = _groups(args.only)
    out = args.out
    if out is None:
        partial = args.quick or args.only
        out = HERE.parent / "var" / "bench" if partial else HERE
    run = Run(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        command=" ".join(["python -m bench", *map(shlex.quote, argv or sys.argv[1:])]),
        quick=args.quick,
        groups=[],
        machine=machine_info(),
        load_before=load_average(),
    )
    results: list[Result] = []
    start = time.perf_counter()
    for name in groups:
        module_name, optional = GROUPS[name]
        if optional and importlib.util.find_spec(module_name) is None:
            print(f"\n({name}: {module_name} is not there; skipped)")
            continue
        run.groups.append(name)
        t = time.perf_counter()
        try:
            got = importlib.import_module(module_name).run(quick=args.quick)
        except Skipped as exc:
            print(f"({name}: skipped: {exc})")
            run.skipped[name] = str(exc)
            got = []
        except Exception as exc:  # one group's failure must not lose the others
            traceback.print_exc()
            run.errors[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            got = []
        run.wall_s[name] = time.perf_counter() - t
        if got is None:
            run.errors[name] = f"{module_name}.run returned no list of Result"
            got = []
        results += [replace(r, group=name) for r in got]
        print(f"({name}: {run.wall_s[name]:.0f} s)")
    run.load_after = load_average()
    write_report(out, run, results)
    print(f"\n(all benchmarks: {time.perf_counter() - start:.0f} s)")
    print(f"(report: {out / 'RESULTS.md'}, {out / 'results.json'})")
    if run.errors:
        print(f"(failed: {', '.join(run.errors)})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
