"""Report sections measured on the optimizers themselves: the SoftSignum temperature schedule on the
momentum of a real (small) training run, and the accuracy of the SoftMuon spectral maps.

Both compute their data here (the app layer calls the library), store it as tidy CSV in the result
store, and the figures read those files.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import GeomrelaxError
from ..store import write_csv
from .report import Item, Section, package_fingerprint

SCHEDULE_VERSION = 1
SPECTRAL_VERSION = 1


# -- the temperature schedule on real momentum ----------------------------------------------------
def _training_run(folder, *, sign_iters: int, transition_iters: int, seed: int, lr: float, momentum: float,
                  batch: int) -> dict:
    """SoftSignum on a small teacher-student regression (a 16-32-1 tanh network, 512 samples, minibatches).

    Records u at the fit (the momentum at step K_s + 1, from which the optimizer fits its schedule), the
    schedule without an upper clamp (tmax=None) and with the official tmax = 20, and at every transition
    step j the fraction of coordinates that tau_j saturates, on u at the fit and on the live momentum u_j.
    """
    import torch

    from ..optim import SoftSignum
    from ..schedule import saturated_fraction, temperature_schedule

    gen = torch.Generator().manual_seed(seed)
    n, d_in, hidden = 512, 16, 32

    def init(*shape, scale):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale)

    X = init(n, d_in, scale=1.0)
    teacher = (init(d_in, hidden, scale=d_in ** -0.5), init(hidden, 1, scale=hidden ** -0.5))
    y = torch.tanh(X @ teacher[0]) @ teacher[1] + 0.1 * init(n, 1, scale=1.0)
    params = [init(d_in, hidden, scale=d_in ** -0.5).requires_grad_(), torch.zeros(hidden, dtype=torch.float64,
              requires_grad=True), init(hidden, 1, scale=hidden ** -0.5).requires_grad_()]
    opt = SoftSignum(params, lr=lr, momentum=momentum, sign_iters=sign_iters, transition_iters=transition_iters,
                     tmax=None)

    def loss_of(idx):
        W1, b1, W2 = params
        return torch.mean((torch.tanh(X[idx] @ W1 + b1) @ W2 - y[idx]) ** 2)

    def momentum_now():
        return torch.cat([opt.state[p]["momentum_buffer"].reshape(-1) for p in params]).detach().clone()

    losses, u_fit, live = [], None, []
    for k in range(1, sign_iters + transition_iters + 1):
        idx = torch.randint(n, (batch,), generator=gen)
        opt.zero_grad()
        loss = loss_of(idx)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if k == sign_iters + 1:
            u_fit = momentum_now()  # non-Nesterov: u_k is the momentum buffer after step k
        if k > sign_iters:
            live.append(momentum_now())
    taus = np.asarray(opt.param_groups[0]["schedule"], dtype=np.float64)
    eps = opt.param_groups[0]["eps"]
    mine = temperature_schedule(u_fit, transition_iters, eps=eps, tmax=None)
    if not np.allclose(mine.taus, taus, rtol=1e-12, atol=0):  # the optimizer fits from exactly this u
        raise RuntimeError("the optimizer's schedule does not match temperature_schedule of its momentum at the fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the collapse of the official clamp is what we show
        official = temperature_schedule(u_fit, transition_iters, eps=eps, tmax=20.0)
    sat_fit = saturated_fraction(u_fit, taus, eps=eps)
    rows = [{"j": j, "tau": float(taus[j]), "tau_official": float(official.taus[j]),
             "saturated_at_fit": float(sat_fit[j]),
             "saturated_live": float(saturated_fraction(live[j], taus[j], eps=eps)),
             "cauchy_model": 1.0 - j / transition_iters} for j in range(transition_iters)]
    from figures.schedule import COLUMNS

    write_csv(folder / "schedule.csv", rows, COLUMNS)
    return {"passed": True, "files": ["schedule.csv"], "mu": mine.mu, "s": mine.s,
            "n_params": int(u_fit.numel()), "loss_first": losses[0], "loss_last": losses[-1],
            "distinct_official": official.n_distinct, "distinct": mine.n_distinct,
            "summary": (f"{u_fit.numel()} momentum entries, Cauchy fit mu={mine.mu:.3g} s={mine.s:.3g}; tau from "
                        f"{taus[0]:.3g} to {taus[-1]:.3g} ({mine.n_distinct} distinct); the official tmax = 20 "
                        f"gives {official.n_distinct} distinct")}


def _schedule_items(opts) -> list:
    ks, k = opts.pick((100, 100), (900, 300), (4500, 500))
    config = {"sign_iters": ks, "transition_iters": k, "seed": opts.seed, "lr": 1e-3, "momentum": 0.9,
              "batch": 32, "version": SCHEDULE_VERSION, "core": package_fingerprint("geomrelax", exclude=("app",))}

    def run(folder):
        return _training_run(folder, sign_iters=ks, transition_iters=k, seed=opts.seed, lr=1e-3, momentum=0.9,
                             batch=32)

    return [Item("schedule", "softsignum_mlp", config, run, with_dir=True)]


def _present_schedule(records, p) -> None:
    from figures.schedule import temperature_schedule

    rec = records[0]
    r = rec.result
    p.figure("temperature_schedule", "SoftSignum temperature schedule on real momentum",
             f"SoftSignum trained a small tanh network ({r['n_params']} parameters; loss {r['loss_first']:.3g} -> "
             f"{r['loss_last']:.3g}) for {rec.config['sign_iters']} sign steps, then fitted a Cauchy law to its "
             f"momentum (mu = {r['mu']:.3g}, s = {r['s']:.3g}) and ran {rec.config['transition_iters']} "
             "transition steps. Left: the temperatures without an upper clamp, and with the official clamp at "
             f"20 ({r['distinct_official']} distinct values: with momenta this small the transition becomes a "
             "switch). Right: the fraction of saturated coordinates at step j, on the momentum at the fit and "
             "on the run's momentum at step j, against the Cauchy model's 1 - j/K.",
             lambda out: temperature_schedule(rec.item_dir / "schedule.csv", out))


# -- SoftMuon spectral maps ---------------------------------------------------------------------------
def _spectral_run(folder, *, n: int, decades: float, tau: float, steps: list, seed: int) -> dict:
    """Errors of the spectral maps on an n x n matrix with singular values 10^(-decades) .. 1 (log-spaced)."""
    import torch

    from ..optim.spectral_maps import map_errors, smoothed_polar

    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    W, _ = np.linalg.qr(rng.standard_normal((n, n)))
    sig = np.logspace(0.0, -decades, n)
    G = torch.from_numpy((U * sig) @ W.T)
    svd = (torch.from_numpy(U), torch.from_numpy(sig), torch.from_numpy(W.T.copy()))
    f = tau * sig / np.hypot(1.0, tau * sig)
    S = (U * f) @ W.T

    def per_direction(Y) -> np.ndarray:
        D = Y.to(torch.float64).numpy() - S
        return np.linalg.norm(D @ W, axis=0) / f  # S w_i = f(sigma_i) u_i

    variants = {  # label -> (method, dtype name)
        "official (bf16)": ("official", torch.bfloat16), "official (float32)": ("official", torch.float32),
        "minimax (float32)": ("minimax", torch.float32)}
    rows, refused = [], []
    for label, (method, dtype) in variants.items():
        for k in steps:
            try:
                Y = smoothed_polar(G, tau, method, steps=k, dtype=dtype)
            except GeomrelaxError as exc:  # e.g. a minimax design that does not exist for k steps
                refused.append(f"{label} with {k} steps: {exc}")
                continue
            rows.append({"panel": "steps", "method": label, "tau": tau, "x": k, "error": map_errors(Y, G, tau, svd)[0]})
    exact32 = smoothed_polar(G, tau, "exact", dtype=torch.float32)
    rows.append({"panel": "steps", "method": "exact SVD (float32)", "tau": tau, "x": math.nan,
                 "error": map_errors(exact32, G, tau, svd)[0]})
    spectrum = {"exact SVD (float32)": exact32, "official (bf16)": smoothed_polar(G, tau, "official"),
                "minimax (float32)": smoothed_polar(G, tau, "minimax")}
    worst = {}
    for label, Y in spectrum.items():
        err = per_direction(Y)
        worst[label] = float(np.nanmax(err)) if not np.isnan(err).all() else math.nan
        rows += [{"panel": "spectrum", "method": label, "tau": tau, "x": float(s), "error": float(e)}
                 for s, e in zip(sig, err)]
    from figures.spectral import COLUMNS

    write_csv(folder / "spectral_maps.csv", rows, COLUMNS)
    return {"passed": True, "files": ["spectral_maps.csv"], "worst_direction_error": worst, "refused": refused,
            "summary": f"{n}x{n}, tau={tau:g}: worst direction error " + ", ".join(
                f"{k} {v:.2g}" for k, v in worst.items()) + (f"; {len(refused)} step counts refused" if refused else "")}


def _spectral_items(opts) -> list:
    n = opts.pick(48, 192, 512)
    # 7 is the minimax design's default; the official map's own default is 5, the dion-based variant's 40
    steps = opts.pick([1, 2, 3, 5, 7, 10], [1, 2, 3, 4, 5, 6, 7, 10, 14, 20], [1, 2, 3, 4, 5, 6, 7, 10, 14, 20, 30, 40])
    config = {"n": n, "decades": 3.0, "tau": 100.0, "steps": steps, "seed": opts.seed, "version": SPECTRAL_VERSION,
              "core": package_fingerprint("geomrelax", exclude=("app",))}

    def run(folder):
        return _spectral_run(folder, n=n, decades=3.0, tau=100.0, steps=steps, seed=opts.seed)

    return [Item("spectral_maps", f"maps_{n}x{n}", config, run, with_dir=True)]


def _present_spectral(records, p) -> None:
    from figures.spectral import spectral_map_errors

    rec = records[0]
    c = rec.config
    p.figure("spectral_map_errors", "SoftMuon spectral maps against the exact smoothed polar map",
             f"An {c['n']}x{c['n']} matrix with singular values spread over {c['decades']:g} decades, tau = "
             f"{c['tau']:g}. Left: the relative error along each singular direction (1 means the direction is "
             "lost); right: the relative Frobenius error against the number of iterations. The official coupled "
             "Newton-Schulz map leaves the small singular values unconverged; the minimax quintic iteration "
             "reaches float32 accuracy over the whole spectrum."
             + (" Not drawn, because the map refused them: " + "; ".join(rec.result["refused"]) + "."
                if rec.result.get("refused") else ""),
             lambda out: spectral_map_errors(rec.item_dir / "spectral_maps.csv", out))


SECTIONS = [
    Section("schedule", "The SoftSignum temperature schedule", _schedule_items,
            "At the end of the sign phase SoftSignum fits a Cauchy law to its momentum and picks temperatures "
            "tau_j so that a decreasing fraction of coordinates stays saturated (sign-like) over the transition.",
            _present_schedule),
    Section("spectral_maps", "Accuracy of the SoftMuon spectral maps", _spectral_items,
            "SoftMuon's transition step is the smoothed polar map u (u^T u + tau^-2 I)^(-1/2); three ways to "
            "compute it are compared with the float64 SVD formula.", _present_spectral),
]
