"""The ``geomrelax sweep`` command: argument definitions and the run (wired by geomrelax.app.cli).

    geomrelax sweep --quick --out DIR          the built-in quick grid (synthetic.config.QUICK)
    geomrelax sweep --config FILE --out DIR    a grid written in TOML (docs/sweep.md)

Writes DIR/runs.csv and DIR/rates.csv; running again with the same DIR resumes (finished cells are
not rerun, nothing is added twice). Exit status: 0 done, 2 bad input or DIR locked by another sweep,
130 interrupted (Ctrl-C; the cells finished so far are kept).
"""

from __future__ import annotations

import argparse
import math
import sys

__all__ = ["add_sweep_arguments", "run_sweep_command"]


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``geomrelax sweep`` to ``parser``."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--quick", action="store_true", help="the built-in quick grid (under two minutes on 2 cores)")
    what.add_argument("--config", metavar="FILE", help="a TOML grid (see docs/sweep.md)")
    parser.add_argument("--out", metavar="DIR", required=True, help="results directory (created; resumable)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="overrides the grid's device")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="run cells here (default) or on a local Dask cluster (needs dask[distributed])")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="address of a running Dask scheduler (implies --executor dask)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="torch threads (default 1: fastest on a machine shared with other work)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fmt(v):
    return "nan" if isinstance(v, float) and math.isnan(v) else (f"{v:+.3f}" if isinstance(v, float) else str(v))


def run_sweep_command(args) -> int:
    """Run the sweep described by ``args`` (from add_sweep_arguments); print the fitted rates."""
    from geomrelax.errors import GeomrelaxError
    from geomrelax.validate import check_int

    from .config import QUICK, load_config
    from .sweep import sweep

    try:
        kwargs = dict(QUICK) if args.quick else load_config(args.config)
        if args.device:
            kwargs["device"] = args.device
        executor = None
        if args.scheduler:
            from distributed import Client

            executor = Client(args.scheduler)
        elif args.executor == "dask":
            executor = "dask"
        check_int("--threads", args.threads, low=1, error=GeomrelaxError)
        res = sweep(**kwargs, out=args.out, executor=executor, progress=not args.no_progress, threads=args.threads)
    except KeyboardInterrupt:
        print(f"geomrelax sweep: interrupted; finished cells are kept in {args.out}: run the same command "
              "again to resume", file=sys.stderr)
        return 130
    except ImportError as err:
        print(f"geomrelax sweep: {err} (the Dask executor needs `pip install \"dask[distributed]\"`)", file=sys.stderr)
        return 2
    except GeomrelaxError as err:
        print(f"geomrelax sweep: {err}", file=sys.stderr)
        return 2
    print(f"{len(res.runs)} rows in {res.path}/runs.csv; {len(res.rates)} fitted exponents in {res.path}/rates.csv")
    for r in res.rates:
        if r["measure"] not in ("min_l1", "min_nuc"):
            continue
        fixed = f"d={r['d']}" if r["varied"] == "T" else f"T={r['T']}"
        print(f"  {r['optimizer']:<14} tau={_fmt(r['tau']):>8} {fixed:<8} vary {r['varied']} ({r['measure']}): "
              f"exponent {_fmt(r['exponent'])} [{_fmt(r['lo'])}, {_fmt(r['hi'])}] "
              f"claimed {_fmt(r['claimed'])} -> {r['verdict']}")
    return 0
