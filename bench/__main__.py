"""Run every benchmark: ``python -m bench [--quick]``."""

from __future__ import annotations

import argparse

from bench import ledger_bench, livestock_bench, remote_sensing_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes (smoke run)"
    )
    parser.add_argument(
        "--only",
        choices=["ledger", "remote_sensing", "livestock"],
        help="run one group only",
    )
    args = parser.parse_args()
    if args.only in (None, "ledger"):
        ledger_bench.run(quick=args.quick)
    if args.only in (None, "remote_sensing"):
        remote_sensing_bench.run(quick=args.quick)
    if args.only in (None, "livestock"):
        livestock_bench.run(quick=args.quick)


if __name__ == "__main__":
    main()
