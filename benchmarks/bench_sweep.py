"""Time of the sweep engine on its target grid: SoftSignum at 10 temperatures x 5 dimensions (up to 1e4)
x 8 seeds x 1e4 steps on the separable problem with Gaussian noise (CPU, float32).

    python -m benchmarks.bench_sweep [--steps 10000] [--dims 100 300 1000 3000 10000] [--taus 10]
                                     [--seeds 8] [--compile auto|on|off] [--threads 1]

Each dimension is one cell (all 80 runs of the 10 taus x 8 seeds in one batch). Reported per cell: the
wall time, the time per step (from the difference with a 20-step cell), and the first-call overhead
(a 20-step cell with cold compilation caches).
With --steps below the target the total for 1e4 steps is extrapolated from the per-step time (and
marked so). Absolute times on a shared machine are noise: compare within one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[100, 300, 1000, 3000, 10_000])
    ap.add_argument("--taus", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--compile", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: best on a shared machine)")
    a = ap.parse_args(argv)

    import torch

    from synthetic import Gaussian, Method, Separable, run_cell

    torch.set_num_threads(a.threads)
    compile_flag = {"auto": None, "on": True, "off": False}[a.compile]
    taus = list(np.geomspace(0.01, 100.0, a.taus))
    m = Method("softsignum", lr=1.0, schedule="theory")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {a.taus} taus x {a.seeds} seeds x "
          f"{a.steps} steps, compile={a.compile}")
    print(f"{'d':>7} {'runs x d':>10} {'overhead s':>10} {'ms/step':>9} {'cell s':>8}")
    total = 0.0
    for d in a.dims:
        P, N = Separable(d), Gaussian(0.1)
        work = max(a.steps, 10_000) * a.taus * a.seeds * d     # decide as the full 1e4-step cell would
        flag = compile_flag
        if flag is None:
            from synthetic.engine import COMPILE_WORK

            flag = work >= COMPILE_WORK
        t0 = time.perf_counter()
        run_cell(P, N, m, 20, taus=taus, seeds=range(a.seeds), compile=flag)
        first = time.perf_counter() - t0
        # a second 20-step cell: the compilation caches are warm now, as they are for the timed cell
        t0 = time.perf_counter()
        run_cell(P, N, m, 20, taus=taus, seeds=range(a.seeds), compile=flag)
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_cell(P, N, m, a.steps, taus=taus, seeds=range(a.seeds), compile=flag)
        cell = time.perf_counter() - t0
        per_step = max(cell - base, 0.0) / max(a.steps - 20, 1)
        full = first + per_step * 10_000 if a.steps < 10_000 else cell
        total += full
        print(f"{d:>7} {a.taus * a.seeds * d:>10} {first:>10.1f} {per_step * 1e3:>9.2f} {full:>8.1f}"
              + ("  (extrapolated to 1e4 steps)" if a.steps < 10_000 else ""))
    print(f"total for the grid at 1e4 steps: {total:.0f} s (target: under 60 s)")


if __name__ == "__main__":
    main()
