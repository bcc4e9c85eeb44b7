"""SoftSignum step time side by side with the official code and torch.optim.AdamW (CPU, float32).

    python -m benchmarks.bench_official [--official PATH/softsignum.py] [--numel 10000000] [--tensors 50]
                                        [--threads 1 2] [--reps 9]

The official code (brain-lab-research/softsign, softsignum.py) is not part of this project: give the path
of a copy with ``--official``; it is loaded at run time from that file. Without it the table shows ours
against AdamW only. Both phases are timed on the same parameters and gradients: the sign phase, and the
transition (psi = tanh, after the schedule fit; the official code with tmax=1e9 so that it does not raise
past its schedule). Absolute times on a shared machine are noise; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import warnings

import torch

from benchmarks.bench_optim import make_params, timed
from geomrelax.optim.softsignum import SoftSignum


def load_official(path: str):
    """The official module from a file the user names (its SoftSignum class is all that is used)."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise SystemExit(f"--official: no file at {path!r} (give the path of the official softsignum.py)")
    spec = importlib.util.spec_from_file_location("official_softsignum", p)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not hasattr(mod, "SoftSignum"):
        raise SystemExit(f"--official: {path!r} defines no SoftSignum class")
    return mod


def bench(numel, tensors, reps, official=None):
    params = make_params(numel, tensors)
    saved = [p.detach().clone() for p in params]

    def reset():
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)

    def time_opt(make, steps_before):
        reset()
        opt = make()
        for _ in range(steps_before):
            opt.step()
        return timed(opt.step, reps)

    rows = {}
    for kw in ({"foreach": True}, {"foreach": False}, {"fused": True}):
        label = "AdamW " + ", ".join(f"{k}={v}" for k, v in kw.items())
        rows[label] = time_opt(lambda: torch.optim.AdamW(params, lr=1e-3, **kw), 0)
    adamw = min(rows.values())
    impls = [("ours, default", SoftSignum, {"tmax": None}), ("ours, foreach=True", SoftSignum,
                                                              {"tmax": None, "foreach": True})]
    if official is not None:
        impls.append(("official", official.SoftSignum, {"tmax": 1e9}))
    table = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls, kw in impls:
            # sign_iters=1: step 2 fits the schedule, the timed steps are transition steps
            sign = time_opt(lambda: cls(params, momentum=0.9, sign_iters=10**9, transition_iters=10, **kw), 0)
            trans = time_opt(lambda: cls(params, momentum=0.9, sign_iters=1, transition_iters=10**6, **kw), 2)
            table.append((name, sign, trans))
    return rows, adamw, table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", help="path of the official softsignum.py (loaded at run time, never copied)")
    ap.add_argument("--numel", type=int, default=10_000_000)
    ap.add_argument("--tensors", type=int, default=50)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    official = load_official(args.official) if args.official else None
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows, adamw, table = bench(args.numel, args.tensors, args.reps, official)
        print(f"\n{args.numel} float32 parameters in {args.tensors} tensors, momentum 0.9, {threads} thread(s), "
              f"torch {torch.__version__}; median of {args.reps} steps")
        print("  " + ", ".join(f"{k} {v:.1f} ms" for k, v in rows.items()))
        off = {name: (s, t) for name, s, t in table}.get("official")
        head = f"{'':22s} {'sign ms':>8s} {'trans ms':>9s} {'sign/AdamW':>10s} {'trans/AdamW':>11s}"
        print(head + (f" {'speed vs official: sign':>24s} {'trans':>6s}" if off else ""))
        for name, s, t in table:
            line = f"{name:22s} {s:8.2f} {t:9.2f} {s / adamw:10.2f} {t / adamw:11.2f}"
            if off:
                line += f" {off[0] / s:24.2f} {off[1] / t:6.2f}"
            print(line)


if __name__ == "__main__":
    main()
