"""Run every benchmark: ``python -m bench [--quick] [--only GROUP]``."""

from __future__ import annotations

import argparse
import importlib
import time

# Group name -> module of ``bench`` with ``run(*, quick: bool)``, in print order.
GROUPS = {
    "ledger": "bench.ledger_bench",
    "remote_sensing": "bench.remote_sensing_bench",
    "livestock": "bench.livestock_bench",
    "photo_hash": "bench.photo_hash_bench",
    "tiles": "bench.tiles_bench",
    "edge": "bench.edge_bench",
}


def main() -> None:
    """Run the chosen groups (all by default) and print each one's wall time."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes (smoke run)"
    )
    parser.add_argument("--only", choices=list(GROUPS), help="run one group only")
    args = parser.parse_args()
    start = time.perf_counter()
    for name, module in GROUPS.items():
        if args.only not in (None, name):
            continue
        t = time.perf_counter()
        importlib.import_module(module).run(quick=args.quick)
        print(f"({name}: {time.perf_counter() - t:.0f} s)")
    print(f"\n(all benchmarks: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
