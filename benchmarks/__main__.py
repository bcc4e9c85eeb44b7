"""Run every benchmark in turn and print their tables: python -m benchmarks [NAME ...].

NAME is one of core, schedule, optim, softmuon, sweep, official (default: all; official compares with the
official code only when run directly with --official PATH). Each prints ratios measured in
one run; absolute times on shared machines are noise.
"""

import importlib
import sys

ALL = ("core", "schedule", "optim", "softmuon", "sweep", "official")


def main(argv=None):
    names = list(argv if argv is not None else sys.argv[1:]) or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {list(ALL)}")
    for name in names:
        print(f"\n=== benchmarks.bench_{name}", flush=True)
        importlib.import_module(f"benchmarks.bench_{name}").main([])


if __name__ == "__main__":
    main()
