"""SoftMuon and Muon steps against torch.optim.Muon, and the cost and accuracy of each spectral map.

    python -m benchmarks.bench_softmuon [--shapes 1024x1024 2048x512] [--repeats 5] [--error-shape 512x512]
                                        [--half-shape 256x256] [--bf16-max-elems 65536]

Table 1: the wall time of one optimizer step on a float32 parameter (the fastest of ``repeats``
interleaved runs after one warm-up; the SVD case runs once), in ratios to our NS5 in the same dtype and to
torch.optim.Muon, measured in the same run (absolute times on a shared machine are noise; the ratios are
what to read; the transition steps walk through the schedule's temperatures, so they mix the map's
bands: Table 1a times each float32 map alone). torch.optim.Muon always orthogonalises in bfloat16, and CPUs without bfloat16 units take
seconds per bfloat16 matmul at 1024 x 1024, so bfloat16 cases run only up to --bf16-max-elems entries.
Table 1b: the multiply-adds of each map, counted (FLOP counter / 2; no noise), in float32 and bfloat16,
for tau sigma_max in the polar band (1e9), the Gram / Z band (1e4) and small tau (100, 10: fewer steps).
Read the "x NS5" column: the minimax map must stay <= 1.5. Table 2: float32 accuracy on U diag(s) W^T with
s log-uniform over three decades (1e-3 .. 1): Frobenius ||Y - S||_F / ||S||_F / worst singular direction
max_i ||(Y - S) w_i|| / f(s_i) (the documented bound: 1e-2). Table 2b: half precision on --half-shape, the
error relative to f(s_1) on directions above HALF_FLOOR s_1 (the documented half-precision metric; bound
1e-2 with float16 products, the CUDA default for both half dtypes, HALF_ERROR_BOUND = 5e-2 with bfloat16 products),
beside Muon's bfloat16 NS5 in the same metric against the polar factor and against float32 NS5 (its own rounding).
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from geomrelax.optim import spectral_maps as sm
from geomrelax.optim.softmuon import Muon, SoftMuon


def _shape(text):
    rows, cols = text.lower().split("x")
    return int(rows), int(cols)


def spectrum_matrix(rows, cols, seed=0, lo=1e-3, hi=1.0):
    """(X, U, s, W) with X = U diag(s) W^T in float64, s log-uniform on [lo, hi]."""
    g = torch.Generator().manual_seed(seed)
    r = min(rows, cols)
    U, _ = torch.linalg.qr(torch.randn(rows, r, generator=g, dtype=torch.float64))
    W, _ = torch.linalg.qr(torch.randn(cols, r, generator=g, dtype=torch.float64))
    s = torch.logspace(math.log10(hi), math.log10(lo), r, dtype=torch.float64)
    return (U * s) @ W.T, U, s, W


def _stepper(opt, params, grads):
    def run():
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    return run


def step_table(shapes, repeats, bf16_max_elems):
    rows = []
    for shape in shapes:
        g = torch.Generator().manual_seed(1)
        grad = torch.randn(*shape, generator=g)
        cases = [
            ("Muon, NS5 float32 (CPU default)", lambda p: Muon(p), "float32"),
            ("SoftMuon transition, minimax float32", lambda p: SoftMuon(p, sign_iters=0, transition_iters=10), "float32"),
            ("SoftMuon transition, exact (SVD float64)",
             lambda p: SoftMuon(p, sign_iters=0, transition_iters=10, spectral_map="exact"), "float64"),
            ("torch.optim.Muon (NS5 bf16)", lambda p: torch.optim.Muon(p, lr=0.02, weight_decay=0.0), "bf16"),
            ("Muon, NS5 bf16", lambda p: Muon(p, ns_dtype=torch.bfloat16), "bf16"),
            ("SoftMuon transition, minimax bf16",
             lambda p: SoftMuon(p, sign_iters=0, transition_iters=10, map_dtype=torch.bfloat16), "bf16"),
            ("SoftMuon transition, official bf16 5 steps",
             lambda p: SoftMuon(p, sign_iters=0, transition_iters=10, spectral_map="official"), "bf16"),
        ]
        runs = {}
        for name, make, dtype in cases:
            if dtype == "bf16" and shape[0] * shape[1] > bf16_max_elems:
                continue
            params = [torch.nn.Parameter(torch.zeros(*shape))]
            runs[name] = _stepper(make(params), params, [grad])
            runs[name]()  # warm-up (allocations, the schedule fit)
        # interleaved repeats, the fastest kept: load from other processes on a shared machine only
        # ever adds time, and interleaving exposes every case to it alike. The SVD case runs once.
        samples = {name: [] for name in runs}
        for r in range(repeats):
            for name, run in runs.items():
                if r > 0 and "SVD" in name:
                    continue
                t = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - t)
        times = {name: min(v) for name, v in samples.items()}
        ref_torch = times.get("torch.optim.Muon (NS5 bf16)")
        same_dtype = {"bf16": times.get("Muon, NS5 bf16"), "float32": times["Muon, NS5 float32 (CPU default)"]}
        for name, _, dtype in cases:
            if name not in times:
                rows.append((f"{shape[0]}x{shape[1]}", name, "skipped (--bf16-max-elems)", "", ""))
                continue
            t = times[name]
            vs_same = f"{t / same_dtype[dtype]:.2f}" if same_dtype.get(dtype) else "-"
            vs_torch = f"{t / ref_torch:.2f}" if ref_torch else "-"
            rows.append((f"{shape[0]}x{shape[1]}", name, f"{t:.3f}", vs_same, vs_torch))
    return rows


def map_time_table(shapes, repeats):
    """Wall time of the float32 maps alone at a fixed tau sigma_max (an optimizer step mixes the bands)."""
    rows = []
    for shape in shapes:
        G = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
        G = G / (math.sqrt(shape[0]) + math.sqrt(shape[1]))
        runs = {"NS5 float32": lambda: sm.newton_schulz5(G),
                "minimax float32, tau=1e9 (polar form)": lambda: sm.smoothed_polar_minimax(G, 1e9),
                "minimax float32, tau=1e4 (Gram form)": lambda: sm.smoothed_polar_minimax(G, 1e4)}
        samples = {name: [] for name in runs}
        for _ in range(repeats + 1):  # the first round warms up and is dropped
            for name, run in runs.items():
                t = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - t)
        times = {name: min(v[1:]) for name, v in samples.items()}
        for name, t in times.items():
            rows.append((f"{shape[0]}x{shape[1]}", name, f"{t:.3f}", f"{t / times['NS5 float32']:.2f}"))
    return rows


def flop_table(shapes, bf16_max_elems=None):
    """Multiply-adds of each map (torch's FLOP counter / 2): deterministic, unlike wall time. The counter runs
    the maps, so bfloat16 is counted on the shape scaled down to at most ``bf16_max_elems`` entries, with the
    same aspect ratio: every count is a sum of m^2 n and m^3 terms, so its ratio to NS5 does not change."""
    from torch.utils.flop_counter import FlopCounterMode

    rows = []
    for shape in shapes:
        for dtype in (torch.float32, torch.bfloat16):
            run_shape = shape
            if dtype == torch.bfloat16 and bf16_max_elems and shape[0] * shape[1] > bf16_max_elems:
                k = math.ceil(math.sqrt(shape[0] * shape[1] / bf16_max_elems))
                run_shape = (max(1, shape[0] // k), max(1, shape[1] // k))
            # sigma_max ~ 1 (sqrt(rows) + sqrt(cols) for standard normal entries): tau reads as tau sigma_max
            G = torch.randn(*run_shape, generator=torch.Generator().manual_seed(2))
            G = G / (math.sqrt(run_shape[0]) + math.sqrt(run_shape[1]))
            maps = [("NS5", lambda dt: sm.newton_schulz5(G, dtype=dt))]
            maps += [(f"minimax, tau={tau:g}{band}", lambda dt, tau=tau: sm.smoothed_polar_minimax(G, tau, dtype=dt))
                     for tau, band in [(1e9, " (polar form)"), (1e4, " (Gram / Z form)"), (100.0, ""), (10.0, "")]]
            counts = {}
            for name, fn in maps:
                with FlopCounterMode(display=False) as fc:
                    fn(dtype)
                counts[name] = fc.get_total_flops() / 2
            label = f"{shape[0]}x{shape[1]}" + ("" if run_shape == shape else f" (at {run_shape[0]}x{run_shape[1]})")
            for name, c in counts.items():
                rows.append((label, str(dtype).replace("torch.", ""), name, f"{c:.3e}", f"{c / counts['NS5']:.3f}"))
    return rows


def map_table(shape, taus):
    X, U, s, W = spectrum_matrix(*shape)
    X32 = X.float()
    maps = [
        ("official bf16, 5 steps", lambda tau: sm.smoothed_polar_official(X32, tau)),
        ("official float32, 20 steps", lambda tau: sm.smoothed_polar_official(X32, tau, steps=20, dtype=torch.float32)),
        ("minimax float32", lambda tau: sm.smoothed_polar_minimax(X32, tau)),
        ("exact, SVD float32", lambda tau: sm.smoothed_polar_exact(X32, tau, dtype=torch.float32)),
    ]
    svd = (U, s, W.T)
    rows = []
    for name, fn in maps:
        cells = []
        for tau in taus:
            fro, spec = sm.map_errors(fn(tau), X, tau, svd)
            cells.append("NaN" if math.isnan(fro) else f"{fro:.1e}/{spec:.1e}")
        rows.append((name, *cells))
    return rows


def half_table(shape, taus):
    """Half precision in the top-relative metric above HALF_FLOOR, beside Muon's bfloat16 NS5."""
    X, U, s, W = spectrum_matrix(*shape)
    X32 = X.float()
    svd = (U, s, W.T)
    ns5_16 = sm.newton_schulz5(X32, dtype=torch.bfloat16).double()
    ns5_rounding = ns5_16 - sm.newton_schulz5(X32).double() + sm.smoothed_polar_exact(X, math.inf)

    def err(Y, tau):
        return sm.map_errors(Y, X, tau, svd, floor=sm.HALF_FLOOR, relative="top")[1]

    rows = []
    for name, dtype, products in [("minimax bf16, float16 products (CUDA default)", torch.bfloat16, torch.float16),
                                  ("minimax float16", torch.float16, None),
                                  ("minimax bf16, bf16 products", torch.bfloat16, torch.bfloat16)]:
        rows.append((name, *[f"{err(sm.smoothed_polar_minimax(X32, tau, dtype=dtype, products=products), tau):.1e}"
                             for tau in taus]))
    rows.append(("Muon NS5 bf16 vs the polar factor", *[f"{err(ns5_16, math.inf):.1e}"] * len(taus)))
    rows.append(("Muon NS5 bf16 vs NS5 float32 (rounding)", *[f"{err(ns5_rounding, math.inf):.1e}"] * len(taus)))
    return rows


def _print_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def memory_table(shape=(256, 128)):
    """Optimizer-state bytes per parameter after steps in both phases (float32 parameter)."""
    rows = []
    makers = [("torch.optim.Muon", lambda p: torch.optim.Muon([p])),
              ("Muon", lambda p: Muon([p])),
              ("SoftMuon (after its transition started)", lambda p: SoftMuon([p], sign_iters=1, transition_iters=2))]
    g = torch.Generator().manual_seed(0)
    for label, make in makers:
        p = torch.nn.Parameter(torch.randn(shape, generator=g))
        opt = make(p)
        for _ in range(3):
            p.grad = torch.randn(shape, generator=g)
            opt.step()
        nbytes = sum(v.numel() * v.element_size() for v in opt.state[p].values() if torch.is_tensor(v))
        rows.append((label, f"{nbytes / p.numel():.1f}"))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", type=_shape, default=[(1024, 1024), (2048, 512)])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--error-shape", type=_shape, default=(512, 512))
    ap.add_argument("--half-shape", type=_shape, default=(256, 256))
    ap.add_argument("--taus", nargs="+", type=float, default=[10.0, 1e2, 1e3, 1e5, 1e7, 1e9])
    ap.add_argument("--bf16-max-elems", type=int, default=1 << 16,
                    help="time bfloat16 cases only up to this many entries (slow on CPUs without bf16 units)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    print("\nTable 1: one optimizer step on a float32 parameter (fastest of "
          f"{args.repeats} interleaved runs; the SVD one: 1 run); ratios to our NS5 in the map's dtype and "
          "to torch.optim.Muon\n")
    _print_table(("shape", "optimizer / map", "time [s]", "x NS5 same dtype", "x torch Muon"),
                 step_table(args.shapes, args.repeats, args.bf16_max_elems))
    print("\nTable 1a: the float32 maps alone (fastest of the repeats), ratio to NS5 float32\n")
    _print_table(("shape", "map", "time [s]", "x NS5"), map_time_table(args.shapes, args.repeats))
    print("\nTable 1b: multiply-adds of each map (FLOP counter), ratio to NS5 in the same dtype\n")
    _print_table(("shape", "dtype", "map", "multiply-adds", "x NS5"), flop_table(args.shapes, args.bf16_max_elems))
    shape = args.error_shape
    print(f"\nTable 2: float32, relative error vs the float64 formula, {shape[0]}x{shape[1]}, singular values "
          "1e-3..1 (Frobenius / worst singular direction)\n")
    _print_table(("map", *[f"tau={t:g}" for t in args.taus]), map_table(shape, args.taus))
    shape = args.half_shape
    print(f"\nTable 2b: half precision, {shape[0]}x{shape[1]}, singular values 1e-3..1: max_i ||(Y - S) w_i|| / "
          f"f(s_1) over s_i >= {sm.HALF_FLOOR:g} s_1\n")
    _print_table(("map", *[f"tau={t:g}" for t in args.taus]), half_table(shape, args.taus))
    print("\nTable 3: optimizer state, bytes per parameter (float32)\n")
    _print_table(("optimizer", "state B/param"), memory_table())
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
