"""The GPU checks in one run: SoftSignum against AdamW(fused) with bandwidths, SoftMuon against torch.optim.Muon.

    python -m benchmarks.bench_cuda [--device cuda] [--numel 100000000] [--tensors 100]
                                    [--shapes 4096x4096 8192x2048] [--rounds 20] [--json FILE]

Table 1 (element-wise): one step of SoftSignum (sign phase and tanh transition; default path and fused=True)
and AdamW(fused=True), float32 parameters, in ms, with the achieved bandwidth -- bytes an update must move
(SoftSignum: read p, g, b, write p, b = 20 B a parameter; AdamW: read p, g, m, v, write p, m, v = 28 B) over
its time -- against the device's copy bandwidth measured in the same run (a large copy_, 8 B an entry).
Table 2 (matrices, half precision): one step of torch.optim.Muon, our Muon (NS5 bf16) and SoftMuon in its
transition (its default map dtype: float16 on CUDA), then the maps alone -- NS5 bf16 and the smoothed polar
map in bfloat16 and float16 (float16 products, the CUDA default for both) and in bfloat16 with bfloat16 products, at
fixed tau sigma_max -- in ms and as ratios to torch.optim.Muon's step, each
map with its error against the float64 SVD formula on the same matrix: per singular direction, relative to
f(sigma_max) (the scale of the map), over sigma >= spectral_maps.HALF_FLOOR sigma_max.
Every case steps once per round, in turn (load hits all alike); medians over rounds; CUDA timings are
bracketed by torch.cuda.synchronize. ``--device cpu`` runs the same code at whatever sizes are given
(the tests do, tiny), so the script is checked where no GPU is.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings

import torch

from benchmarks.bench_optim import interleaved, make_params
from geomrelax.optim import spectral_maps as sm
from geomrelax.optim.softmuon import Muon, SoftMuon
from geomrelax.optim.softsignum import SoftSignum


def _shape(text):
    rows, cols = text.lower().split("x")
    return int(rows), int(cols)


def _rounds(steppers: dict, rounds: int, device) -> dict:
    """Median seconds of each stepper over interleaved rounds, bracketed by a CUDA sync on CUDA."""
    return interleaved(steppers, rounds, torch.cuda.synchronize if torch.device(device).type == "cuda" else None)


def copy_bandwidth(numel: int, device, rounds: int) -> float:
    """Bytes per second of a large float32 copy_ (reads and writes 4 B each)."""
    src = torch.randn(numel, device=device)
    dst = torch.empty_like(src)
    t = _rounds({"copy": lambda: dst.copy_(src)}, rounds, device)["copy"]
    return 8.0 * numel / t


def elementwise_table(numel, tensors, rounds, device, fused=True):
    params = make_params(numel, tensors, device=device)
    cases = {"AdamW fused": (lambda: torch.optim.AdamW(params, lr=1e-3, fused=True), 0, 28)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kw_name, kw in (("default", {}), ("fused=True", {"fused": True}))[:2 if fused else 1]:
            cases[f"SoftSignum sign, {kw_name}"] = (
                lambda kw=kw: SoftSignum(params, momentum=0.9, sign_iters=10**9, **kw), 1, 20)
            # sign_iters=1: step 2 fits the schedule; the timed steps are tanh transition steps
            cases[f"SoftSignum transition, {kw_name}"] = (
                lambda kw=kw: SoftSignum(params, momentum=0.9, sign_iters=1, transition_iters=10**6, tmax=None,
                                         **kw), 3, 20)
        steppers = {}
        for name, (make, before, _) in cases.items():
            opt = make()
            for _ in range(before):
                opt.step()
            steppers[name] = opt.step
        times = _rounds(steppers, rounds, device)
    bw = copy_bandwidth(numel, device, rounds)
    adamw = times["AdamW fused"]
    rows = []
    for name, (_, _, nbytes) in cases.items():
        t = times[name]
        rows.append(dict(case=name, ms=1e3 * t, x_adamw=t / adamw, bandwidth_GBs=nbytes * numel / t / 1e9,
                         of_copy=nbytes * numel / t / bw))
    return rows, bw


def _map_error(Y, G, tau):
    """The half-precision metric of spectral_maps.map_errors: max_i ||(Y - S) w_i|| / f(sigma_1) over the
    directions with sigma_i >= HALF_FLOOR sigma_1 (below it half precision resolves nothing)."""
    return sm.map_errors(Y, G, tau, floor=sm.HALF_FLOOR, relative="top")[1]


def matrix_table(shapes, rounds, device, taus=(1e2, 1e4, 1e9)):
    """Steps of torch.optim.Muon, our Muon and SoftMuon (transition, its own schedule), then the maps alone:
    NS5 and the smoothed polar map at fixed tau sigma_max (the matrix is scaled to sigma_max ~ 1)."""
    rows = []
    for shape in shapes:
        gen = torch.Generator(device="cpu").manual_seed(1)
        G = (torch.randn(*shape, generator=gen) / (math.sqrt(shape[0]) + math.sqrt(shape[1]))).to(device)
        makers = {"step: torch.optim.Muon": lambda p: torch.optim.Muon(p, lr=0.02, weight_decay=0.0),
                  "step: Muon, NS5 bf16": lambda p: Muon(p, ns_dtype=torch.bfloat16),
                  "step: SoftMuon transition": lambda p: SoftMuon(p, sign_iters=0, transition_iters=10)}
        steppers, errors = {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, make in makers.items():
                p = torch.nn.Parameter(torch.zeros(*shape, device=device))
                opt = make([p])

                def step(p=p, opt=opt):
                    p.grad = G
                    opt.step()
                steppers[name] = step
            steppers["map: NS5 bf16"] = lambda: sm.newton_schulz5(G, dtype=torch.bfloat16)
            errors["map: NS5 bf16"] = _map_error(sm.newton_schulz5(G, dtype=torch.bfloat16), G, math.inf)
            for tau in taus:
                for dt, pr, label in ((torch.bfloat16, torch.float16, "bf16, f16 products"), (torch.float16, None, "f16"),
                                      (torch.bfloat16, torch.bfloat16, "bf16, bf16 products")):
                    name = f"map: smoothed polar {label}, tau={tau:g}"
                    steppers[name] = lambda tau=tau, dt=dt, pr=pr: sm.smoothed_polar(G, tau, dtype=dt, products=pr)
                    errors[name] = _map_error(sm.smoothed_polar(G, tau, dtype=dt, products=pr), G, tau)
            times = _rounds(steppers, rounds, device)
        ref = times["step: torch.optim.Muon"]
        for name, t in times.items():
            rows.append(dict(shape=f"{shape[0]}x{shape[1]}", case=name, ms=1e3 * t, x_torch_muon=t / ref,
                             error=errors.get(name, math.nan)))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--numel", type=int, default=100_000_000)
    ap.add_argument("--tensors", type=int, default=100)
    ap.add_argument("--shapes", nargs="+", type=_shape, default=[(4096, 4096), (8192, 2048)])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--json", help="also write the tables to this JSON file")
    ap.add_argument("--no-fused", action="store_true", help="skip SoftSignum fused=True (torch.compile)")
    args = ap.parse_args(argv)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --device cpu (small sizes) or on a machine with a GPU")
    name = torch.cuda.get_device_name() if torch.device(args.device).type == "cuda" else "cpu"
    print(f"device {name}, torch {torch.__version__}; medians of {args.rounds} interleaved rounds")
    el, bw = elementwise_table(args.numel, args.tensors, args.rounds, args.device, fused=not args.no_fused)
    print(f"\nTable 1: {args.numel} float32 parameters in {args.tensors} tensors; copy_ bandwidth {bw / 1e9:.0f} GB/s\n")
    print(f"{'case':36s} {'ms':>9s} {'x AdamW':>8s} {'GB/s':>8s} {'of copy':>8s}")
    for r in el:
        print(f"{r['case']:36s} {r['ms']:9.3f} {r['x_adamw']:8.2f} {r['bandwidth_GBs']:8.0f} {r['of_copy']:8.2f}")
    mt = matrix_table(args.shapes, args.rounds, args.device)
    print("\nTable 2: one step on a float32 parameter; maps in half precision, error per singular direction / "
          "f(sigma_max) above HALF_FLOOR\n")
    print(f"{'shape':10s} {'case':44s} {'ms':>9s} {'x torch Muon':>12s} {'error':>9s}")
    for r in mt:
        print(f"{r['shape']:10s} {r['case']:44s} {r['ms']:9.3f} {r['x_torch_muon']:12.2f} {r['error']:9.2e}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": name, "copy_bandwidth": bw, "elementwise": el, "matrices": mt}, fh, indent=1)


if __name__ == "__main__":
    main()
