"""Benchmark of the core relaxed LMO d_tau(m) = grad V*(-tau m): closed form vs numeric route vs cvxpy.

    python -m benchmarks.bench_core [--sizes 1e3 1e6] [--cvxpy-sizes 1e3 1e4] [--repeats 5]
                                    [--tau 3] [--seed 0] [--solver CLARABEL]

For every built-in regularizer V and each d, with m ~ N(0, I_d) (seeded), it times

    closed   geomrelax.relaxed_lmo(V, m, tau)               (the built-in closed form of grad V*)
    numeric  the same through geomrelax.from_expr(V.formula, domain=..., route="numeric")
             (safeguarded Newton/bisection on v'(x) = s; the build is not timed; ball_quadratic has no
             separable formula, so no numeric route)
    cvxpy    geomrelax.cvxpy_lmo(V, m, tau, solver)          (compile + solve), only at --cvxpy-sizes:
             an interior-point solve grows faster than d (about 1.5 s for box_quadratic and 9-14 s for
             algebraic / entropic at d = 1e5 here), so d = 1e6 is left out by default

and prints medians (seconds per call), the ratios numeric/closed and cvxpy/closed measured in this one
run (absolute times on a shared machine are noise), and max |d - d_closed| for each route.
Each median is over ``repeats`` batches; a batch repeats a fast call until it lasts >= 20 ms.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

import geomrelax as gr

_BATCH_S = 0.02


def median_time(fn, repeats: int, batch: bool = True) -> float:
    """Median seconds per call of fn() over ``repeats`` batches (time.perf_counter)."""
    number = 1
    if batch:
        t0 = time.perf_counter()
        fn()
        one = time.perf_counter() - t0
        number = max(1, int(_BATCH_S / max(one, 1e-9)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def numeric_twin(V):
    """The numeric-route regularizer of a separable built-in (None when it has no formula)."""
    formula = getattr(V, "formula", None)
    if not isinstance(formula, str):
        return None
    return gr.from_expr(formula, domain=(V.domain.lo, V.domain.hi), name=V.name + " (numeric)",
                        route="numeric", require_strong=V.mu > 0)


def run(sizes, cvxpy_sizes, repeats: int, tau: float, seed: int, solver: str):
    rows = []
    for name in gr.BUILTIN_NAMES:
        V = gr.regularizer(name)
        N = numeric_twin(V)
        for d in sizes:
            m = np.random.default_rng(seed).standard_normal(d)
            closed = gr.relaxed_lmo(V, m, tau)
            row = {"name": name, "d": d, "closed": median_time(lambda: gr.relaxed_lmo(V, m, tau), repeats)}
            if N is not None:
                row["numeric"] = median_time(lambda: gr.relaxed_lmo(N, m, tau), repeats)
                row["numeric_err"] = float(np.max(np.abs(gr.relaxed_lmo(N, m, tau) - closed)))
            if d in cvxpy_sizes:
                reps = max(1, min(repeats, 3))  # a solve is seconds long: 3 runs give a median
                row["cvxpy"] = median_time(lambda: gr.cvxpy_lmo(V, m, tau, solver=solver), reps, batch=False)
                row["cvxpy_err"] = float(np.max(np.abs(gr.cvxpy_lmo(V, m, tau, solver=solver) - closed)))
            rows.append(row)
    return rows


def _fmt(x, spec):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-".rjust(int(spec.split(".")[0]))
    return format(x, spec)


def table(rows, solver: str) -> str:
    head = (f"{'regularizer':<15}{'d':>9}{'closed s':>11}{'numeric s':>11}{'num/closed':>11}"
            f"{'|num-cl|':>10}{solver + ' s':>13}{'cvx/closed':>12}{'|cvx-cl|':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        num, cvx = r.get("numeric"), r.get("cvxpy")
        lines.append(
            f"{r['name']:<15}{r['d']:>9.0e}{_fmt(r['closed'], '11.2e')}{_fmt(num, '11.2e')}"
            f"{_fmt(num / r['closed'] if num else None, '11.1f')}{_fmt(r.get('numeric_err'), '10.1e')}"
            f"{_fmt(cvx, '13.2e')}{_fmt(cvx / r['closed'] if cvx else None, '12.0f')}"
            f"{_fmt(r.get('cvxpy_err'), '10.1e')}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e6])
    ap.add_argument("--cvxpy-sizes", type=float, nargs="*", default=[1e3, 1e4])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tau", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--solver", default="CLARABEL")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be >= 1, got {args.repeats}")
    cvxpy_sizes = sorted({int(s) for s in args.cvxpy_sizes})
    sizes = sorted({int(s) for s in args.sizes} | set(cvxpy_sizes))
    rows = run(sizes, cvxpy_sizes, args.repeats, args.tau, args.seed, args.solver.upper())
    print(f"relaxed LMO at tau = {args.tau:g}, m ~ N(0, I) (seed {args.seed}); medians of {args.repeats} "
          "repeats; ratios from this one run")
    print(table(rows, args.solver.upper()))


if __name__ == "__main__":
    main()
