"""Run every benchmark: ``python -m bench [--quick]``."""

from __future__ import annotations

import argparse

from bench import ledger_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes (smoke run)"
    )
    args = parser.parse_args()
    ledger_bench.run(quick=args.quick)


if __name__ == "__main__":
    main()
