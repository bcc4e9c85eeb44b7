"""The variants of the optimizer zoo as batched synthetic methods (see synthetic.methods).

Each acts on the iterates x of shape (n_tau, S, *event) of a sweep cell, with the options of
``Method.options`` (defaults in VARIANT_OPTIONS; unknown options are refused):

    normuon   Muon's momentum and NS5, then r = beta2 r + (1-beta2) mean_j O_ij^2 per row,
              N = O / (sqrt(r) + norm_eps), x <- x - lr rms sqrt(rows cols) N / ||N||_F
    mimuon    D = alpha NS5(u) + (1 - alpha) sqrt(min(rows, cols)) u / ||u||_F, x <- x - lr s D
    sf        schedule-free around lmo = sign | softsign (sf_tau) | muon: z <- z - lr (lmo(g) + wd y),
              x_avg <- (1 - c) x_avg + c z (c = c_{k+1}, weights i^weight_power), y = (1-sf_beta) z + sf_beta x_avg;
              the engine's iterate (where gradients and measures are taken) is y
    ssvr      v_k = g(x_k; xi_k) + (1 - a)(v_{k-1} - g(x_{k-1}; xi_k)), x <- x - lr sign(v_k), a = a T^-a_power.
              With the engine's additive noise g(x; xi) = grad f(x) + xi, the second gradient is
              g(x_k; xi_k) - grad f(x_k) + grad f(x_{k-1}): the same noise sample at both points, by
              construction. It needs the exact gradient, so ``problem`` names the cell's problem (a spec as
              in a sweep, or a Problem object); additive noise only (gaussian, student_t, none)
    majority  M = ``workers`` workers, worker m's gradient g + h_m + worker_sigma xi_m (g: the engine's
              stochastic gradient, common to the workers; h_m: fixed shifts, entries N(0, heterogeneity^2)
              centred over the workers so that the mean objective is unchanged; xi_m: Gaussian, or Student-t
              with worker_df degrees of freedom (unit variance for df > 2), drawn from worker_seed).
              The first floor(byzantine M) workers send the negation of their sign;
              x <- x - lr sign(sum_m s_m sign(g_m))

The worker noise of majority is drawn for the whole (n_tau, S) batch at once, so unlike the engine's noise
a run's numbers depend on the batch layout (the seeds of the cell); they are reproducible for the same cell.
"""

from __future__ import annotations

import math

import numpy as np

from geomrelax import updates as U
from geomrelax.errors import InvalidHyperparameterError
from geomrelax.validate import check_choice, check_int, check_real

__all__ = ["VARIANT_NAMES", "VARIANT_OPTIONS", "check_options", "init", "step", "variant_key"]

VARIANT_OPTIONS = {
    "normuon": {"beta2": 0.95, "rms": 0.2, "norm_eps": 1e-8, "ns_dtype": None},
    "mimuon": {"alpha": 0.5, "ns_dtype": None},
    "sf": {"sf_beta": 0.9, "lmo": "sign", "sf_tau": None, "weight_power": 0.0},
    "ssvr": {"a": 0.1, "a_power": 0.0, "problem": None},
    "majority": {"workers": 1, "byzantine": 0.0, "heterogeneity": 0.0, "worker_sigma": 0.0, "worker_df": None,
                 "worker_seed": 0},
}
VARIANT_NAMES = tuple(VARIANT_OPTIONS)
MATRIX_VARIANTS = ("normuon", "mimuon")


def check_options(name: str, options: dict) -> dict:
    """The variant's options merged over its defaults; unknown or out-of-range values are refused."""
    defaults = VARIANT_OPTIONS[name]
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise InvalidHyperparameterError(f"unknown option(s) {unknown} for optimizer {name!r}; it takes {sorted(defaults)}")
    o = {**defaults, **options}
    unit, positive = dict(low=0.0, high=1.0), dict(low=0.0, low_open=True)
    if name == "normuon":
        check_real("beta2", o["beta2"], **unit)
        check_real("rms", o["rms"], **positive)
        check_real("norm_eps", o["norm_eps"], **positive)
    elif name == "mimuon":
        check_real("alpha", o["alpha"], **unit)
    elif name == "sf":
        check_real("sf_beta", o["sf_beta"], **unit)
        check_real("weight_power", o["weight_power"], low=0.0)
        check_choice("sf: lmo", o["lmo"], ("sign", "softsign", "muon"))
        if o["lmo"] == "softsign":
            check_real("sf_tau", o["sf_tau"], **positive)
    elif name == "ssvr":
        check_real("a", o["a"], low=0.0, high=1.0, low_open=True)
        check_real("a_power", o["a_power"], low=0.0)
        if o["problem"] is None:
            raise InvalidHyperparameterError("ssvr needs problem= the cell's problem (a name, a spec dict or a "
                                             "Problem): the second gradient of a step is taken at the previous point")
    elif name == "majority":
        check_int("majority: workers", o["workers"], low=1)
        check_real("byzantine", o["byzantine"], **unit)
        check_real("heterogeneity", o["heterogeneity"], low=0.0)
        check_real("worker_sigma", o["worker_sigma"], low=0.0)
        if o["worker_df"] is not None:
            check_real("worker_df", o["worker_df"], low=1.0, low_open=True)
        check_int("majority: worker_seed", o["worker_seed"], low=None)
    return o


def variant_key(name: str, options: dict) -> str:
    """name[option=value,...] for the options that differ from the defaults (problem and seeds left out)."""
    d = VARIANT_OPTIONS[name]
    diff = [f"{k}={options[k]}" for k in sorted(d) if k not in ("problem", "worker_seed", "ns_dtype")
            and options.get(k, d[k]) != d[k]]
    return f"{name}[{','.join(diff)}]" if diff else name


def _ns5(u, dtype):
    from geomrelax.optim.spectral_maps import newton_schulz5

    return newton_schulz5(u, dtype=dtype).to(u.dtype)


def _resolve_problem(spec, x):
    from .problems import Problem

    event = tuple(x.shape[2:])
    if isinstance(spec, Problem):
        P = spec
    else:
        from .sweep import make_problem

        # a sweep's d is the side of a matrix problem and the length of a vector one
        P = make_problem(spec, event[0] if len(event) == 2 else int(np.prod(event)))
    x0 = P.x0(dtype=x.dtype, device=x.device)
    if tuple(P.event_shape) != event or not bool((x0 == x[0, 0]).all()):
        raise InvalidHyperparameterError(f"ssvr: problem={spec!r} is not the cell's problem (event shape "
                                         f"{tuple(P.event_shape)} vs {event}, or another starting point)")
    return P


def init(method, st: dict, x) -> None:
    """Add the variant's state to the cell state ``st`` (built by Method.init)."""
    import torch

    o, name = method.options, method.name
    if name in MATRIX_VARIANTS:
        rows, cols = x.shape[-2], x.shape[-1]
        st["scale"] = U.muon_scale(rows, cols)
        st["r"] = None
    elif name == "sf":
        st["z"], st["xbar"] = x.clone(), x.clone()
    elif name == "ssvr":
        st["problem"] = _resolve_problem(o["problem"], x)
        st["a"] = float(o["a"]) * st["T"] ** (-float(o["a_power"]))
        st["v"], st["xprev"] = None, None
    elif name == "majority":
        M = int(o["workers"])
        rng = np.random.default_rng(int(o["worker_seed"]))
        H = rng.standard_normal((M,) + tuple(x.shape[2:])) * float(o["heterogeneity"])
        H = H - H.mean(axis=0, keepdims=True)
        shape = (M,) + (1, 1) + tuple(x.shape[2:])
        st["H"] = torch.as_tensor(H.reshape(shape), dtype=x.dtype, device=x.device)
        st["rng"] = rng
        st["n_byz"] = int(math.floor(float(o["byzantine"]) * M + 1e-9))


def spectral_momentum(st, g, nesterov: bool):
    """Muon's momentum, the one route of the batched spectral methods (muon, softmuon, normuon, mimuon):
    st["buf"] <- M_k = lerp(M_{k-1}, g_k, 1 - beta) (M_0 = 0), and the map's input u_k = lerp(g_k, M_k, beta)
    (nesterov) or M_k -- geomrelax.updates' formulas, rounded as the torch optimizers round them."""
    b = st["buf"]
    st["buf"] = U.muon_momentum(g.new_zeros(g.shape) if b is None else b, g, st["beta"])
    return U.muon_input(g, st["buf"], st["beta"], nesterov)


def step(method, st: dict, x, g, k: int):
    """(new x, the direction estimate u) after step k of the variant."""
    import torch

    o, name, lr = method.options, method.name, st["lr"]
    theta = U.decay(x, lr, method.weight_decay)
    vn = torch.linalg.vector_norm
    if name in MATRIX_VARIANTS:
        u = spectral_momentum(st, g, method.nesterov)
        O = _ns5(u, o["ns_dtype"])
        if name == "mimuon":
            n = vn(u, dim=(-2, -1), keepdim=True)
            c = torch.where(n > 0, (1.0 - o["alpha"]) * math.sqrt(min(u.shape[-2:])) / n.clamp_min(1e-300),
                            torch.zeros_like(n))
            return theta - lr * st["scale"] * (o["alpha"] * O + c * u), u
        row = (O * O).mean(-1, keepdim=True)
        st["r"] = (1.0 - o["beta2"]) * row if st["r"] is None else o["beta2"] * st["r"] + (1.0 - o["beta2"]) * row
        N = O / (st["r"].sqrt() + o["norm_eps"])
        n = vn(N, dim=(-2, -1), keepdim=True)
        c = torch.where(n > 0, o["rms"] * math.sqrt(O.shape[-2] * O.shape[-1]) / n.clamp_min(1e-300), torch.zeros_like(n))
        return theta - lr * c * N, u
    if name == "sf":
        y = x
        if o["lmo"] == "sign":
            d = g.sign()
        elif o["lmo"] == "softsign":
            d = U.psi(float(o["sf_tau"]) * g, "tanh")
        else:
            d = U.muon_scale(*g.shape[-2:]) * _ns5(g, g.dtype)   # in the run's dtype, as ScheduleFree
        st["z"] = st["z"] - lr * (d + method.weight_decay * y) if method.weight_decay else st["z"] - lr * d
        st["xbar"] = U.sf_average(st["xbar"], st["z"], U.sf_coefficient(k, float(o["weight_power"])))
        return U.sf_point(st["z"], st["xbar"], float(o["sf_beta"])), g
    if name == "ssvr":
        P = st["problem"]
        if st["v"] is None:
            v = g
        else:
            g_prev = g - P.grad(x) + P.grad(st["xprev"])     # g(x_(k-1); xi_k): the same additive sample
            v = U.storm_estimator(st["v"], g, g_prev, st["a"])
        st["v"], st["xprev"] = v, x
        return U.sign_step(theta, v, lr), v
    # majority
    M = st["H"].shape[0]
    shape = (M,) + tuple(x.shape)
    if o["worker_df"] is None:
        xi = st["rng"].standard_normal(shape)
    else:
        df = float(o["worker_df"])
        xi = st["rng"].standard_t(df, size=shape) * (math.sqrt((df - 2.0) / df) if df > 2 else 1.0)
    G = g.unsqueeze(0) + st["H"] + float(o["worker_sigma"]) * torch.as_tensor(xi, dtype=x.dtype, device=x.device)
    tally = U.worker_signs(list(G.unbind(0)), st["n_byz"])
    return U.sign_step(theta, tally, lr), G.mean(0)
