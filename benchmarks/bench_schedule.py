"""Benchmark of the quantile temperature schedule (geomrelax.schedule).

    python -m benchmarks.bench_schedule [--sizes 1e6 1e7 1e8] [--reps 3] [--K 1000] [--seed 0]

For each n, float32 data z ~ Cauchy(2e-4, 1e-3) (momenta of order 1e-3), it times

    ours/np     temperature_schedule(z, K) on the numpy array
    ours/torch  temperature_schedule(t, K) on a torch tensor of the same data
    reference   the straightforward exact schedule: np.median of the float64 data, np.median of
                |z - mu|, then the same quantile and temperature code (temperature_schedule(fit=...))
    torch.median the fit as the official code takes it (torch.median in float32, twice), fit only

and prints the speed-ups reference/ours (ratios measured in one run: absolute times on a shared
machine are noise) and max_j |tau_j - tau_j_ref| / tau_j_ref with tmax=None (no clamp hides a
difference). Each figure is the minimum over ``reps`` interleaved repetitions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def reference_schedule(z, K, tmax):
    from geomrelax.schedule import temperature_schedule

    z64 = z.astype(np.float64)
    mu = float(np.median(z64))
    s = float(np.median(np.abs(z64 - mu)))
    return temperature_schedule(None, K, fit=(mu, s), tmax=tmax)


def torch_median_fit(t):
    mu = t.median()
    return float(mu), float((t - mu).abs().median())


def run(sizes, reps, K, seed):
    import torch

    from geomrelax.schedule import temperature_schedule

    rows = []
    for n in sizes:
        z = (2e-4 + 1e-3 * np.random.default_rng(seed).standard_cauchy(n)).astype(np.float32)
        t = torch.from_numpy(z)
        times = {"ours/np": [], "ours/torch": [], "reference": [], "torch.median": []}
        errs = {"ours/np": 0.0, "ours/torch": 0.0}
        for _ in range(reps):
            dt, ref = _timed(lambda: reference_schedule(z, K, None))
            times["reference"].append(dt)
            for name, arg in (("ours/np", z), ("ours/torch", t)):
                dt, sched = _timed(lambda: temperature_schedule(arg, K, tmax=None))
                times[name].append(dt)
                errs[name] = max(errs[name], float(np.max(np.abs(sched.taus - ref.taus) / ref.taus)))
            dt, _ = _timed(lambda: torch_median_fit(t))
            times["torch.median"].append(dt)
        best = {k: min(v) for k, v in times.items()}
        rows.append((n, best, errs))
        del z, t
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--K", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = run([int(n) for n in args.sizes], args.reps, args.K, args.seed)
    head = (f"{'n':>11} | {'ref s':>7} {'ours/np s':>9} {'ours/torch s':>12} {'torch.median s':>14} | "
            f"{'ref/ours np':>11} {'ref/ours torch':>14} {'torch.median/ours':>17} | {'max rel tau err np, torch':>25}")
    print(head)
    print("-" * len(head))
    for n, b, e in rows:
        print(f"{n:>11,d} | {b['reference']:7.3f} {b['ours/np']:9.3f} {b['ours/torch']:12.3f} "
              f"{b['torch.median']:14.3f} | "
              f"{b['reference'] / b['ours/np']:11.1f} {b['reference'] / b['ours/torch']:14.1f} "
              f"{b['torch.median'] / b['ours/np']:17.1f} | {e['ours/np']:12.1e}, {e['ours/torch']:.1e}")


if __name__ == "__main__":
    main()
