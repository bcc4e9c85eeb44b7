"""SoftSignum step time side by side with the official code and torch.optim.AdamW (CPU, float32).

    python -m benchmarks.bench_official [--official PATH/softsignum.py] [--numel 10000000] [--tensors 50]
                                        [--threads 1 2] [--rounds 9] [--first-step]

The official code (brain-lab-research/softsign, softsignum.py) is not part of this project: give the path
of a copy with ``--official``; it is loaded at run time from that file. Without it the table shows ours
against AdamW only. Both phases are timed on the same parameters and gradients: the sign phase, and the
transition (psi = tanh, after the schedule fit; the official code with tmax=1e9 so that it does not raise
past its schedule). Every optimizer steps once per round, in turn, so that a change of load hits all of
them alike; the table gives the median over rounds. Absolute times on a shared machine are noise: compare
the ratios of one run. ``--cold`` evicts the caches before every timed step (as a training step's forward
and backward passes do). ``--first-step`` also times the first step of a new process (numba loads or
compiles its kernels then): with the on-disk cache as it is, and with an empty cache directory.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import warnings

import torch

from benchmarks.bench_optim import evict_caches, interleaved, make_params
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


OURS = [("ours, default", {}), ("ours, foreach=False (chunked)", {"foreach": False}),
        ("ours, foreach=True", {"foreach": True})]


def bench(numel, tensors, rounds, official=None, cold=False):
    params = make_params(numel, tensors)
    adamw = {f"AdamW {k}=True" if k else "AdamW foreach=False": torch.optim.AdamW(params, lr=1e-3, **(
        {k: True} if k else {"foreach": False})) for k in ("fused", "foreach", None)}
    impls = [(name, SoftSignum, dict(kw, tmax=None)) for name, kw in OURS]
    if official is not None:
        impls.append(("official", official.SoftSignum, {"tmax": 1e9}))
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for phase, sign_iters, before in (("sign", 10**9, 1), ("transition", 1, 3)):
            steppers = {}
            for name, cls, kw in impls:
                # sign_iters=1: step 2 fits the schedule, the timed steps are transition steps
                opt = cls(params, momentum=0.9, sign_iters=sign_iters, transition_iters=10**6 if sign_iters == 1
                          else 10, **kw)
                for _ in range(before):
                    opt.step()
                steppers[name] = opt.step
            steppers.update({k: o.step for k, o in adamw.items()})
            before = evict_caches() if cold else None
            out[phase] = {k: 1e3 * v for k, v in interleaved(steppers, rounds, before=before).items()}
    return out


_FIRST = ("import time, warnings, torch; warnings.simplefilter('ignore'); torch.set_num_threads({t});"
          "from geomrelax.optim.softsignum import SoftSignum;"
          "ps=[torch.nn.Parameter(torch.randn(200000)) for _ in range(50)];"
          "[setattr(p, 'grad', torch.randn_like(p)) for p in ps];"
          "o=SoftSignum(ps, momentum=0.9, sign_iters=1, transition_iters=100, tmax=None);"
          "t=time.perf_counter(); o.step(); a=time.perf_counter()-t; o.step();"
          "t=time.perf_counter(); o.step(); b=time.perf_counter()-t; print(a, b)")


def first_steps(threads: int) -> dict:
    """Seconds of the first sign step and the first tanh step of a new process: numba cache as it is, and
    empty (a fresh installation)."""
    res = {}
    with tempfile.TemporaryDirectory() as empty:
        for label, env in (("cache as is", {}), ("empty cache", {"NUMBA_CACHE_DIR": empty})):
            out = subprocess.run([sys.executable, "-c", _FIRST.format(t=threads)], capture_output=True, text=True,
                                 env={**os.environ, **env}, check=True).stdout.split()
            res[label] = tuple(float(v) for v in out)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", help="path of the official softsignum.py (loaded at run time, never copied)")
    ap.add_argument("--numel", type=int, default=10_000_000)
    ap.add_argument("--tensors", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--first-step", action="store_true", help="also time the first steps of a new process")
    ap.add_argument("--cold", action="store_true",
                    help="evict the caches before every timed step (128 MiB written), as training's forward and "
                         "backward passes do; without it a step may find the previous optimizer's data cached")
    args = ap.parse_args(argv)
    official = load_official(args.official) if args.official else None
    for threads in args.threads:
        torch.set_num_threads(threads)
        res = bench(args.numel, args.tensors, args.rounds, official, args.cold)
        print(f"\n{args.numel} float32 parameters in {args.tensors} tensors, momentum 0.9, {threads} thread(s), "
              f"torch {torch.__version__}; median of {args.rounds} interleaved rounds"
              + (", caches evicted before each step" if args.cold else ""))
        best = {ph: min(v for k, v in r.items() if k.startswith("AdamW")) for ph, r in res.items()}
        print("  AdamW: " + ", ".join(f"{k[6:]} {v:.1f} ms" for k, v in res["sign"].items() if k.startswith("AdamW")))
        head = f"  {'':31s} {'sign ms':>8s} {'trans ms':>9s} {'sign/AdamW':>10s} {'trans/AdamW':>11s}"
        print(head + (f" {'speed vs official: sign':>24s} {'trans':>6s}" if official else ""))
        for name in [n for n, _ in OURS] + (["official"] if official else []):
            s, t = res["sign"][name], res["transition"][name]
            line = f"  {name:31s} {s:8.2f} {t:9.2f} {s / best['sign']:10.2f} {t / best['transition']:11.2f}"
            if official:
                line += f" {res['sign']['official'] / s:24.2f} {res['transition']['official'] / t:6.2f}"
            print(line)
        print("  (x/AdamW: against AdamW's fastest step in the same phase's rounds)")
        if args.first_step:
            for label, (a, b) in first_steps(threads).items():
                print(f"  first steps of a new process, numba {label}: sign {a:.2f} s, first tanh step {b:.2f} s")


if __name__ == "__main__":
    main()
