"""Bounds with explicit constants, evaluated on a problem's exact constants, and checks against runs.

    bernstein_signsgd    Bernstein et al. (2018), Theorem 1. SignSGD (no momentum) with step
                         1/sqrt(||L||_1 K) and minibatch K for K steps (N = K^2 gradient calls):
                         (E[(1/K) sum_k ||g_k||_1])^2 <= (1/sqrt N) [sqrt(||L||_1)(f_0 - f* + 1/2) + 2 ||sigma||_1]^2
    tao_signsgd          Tao, Yu, Zhang: E min_t ||grad f||_1 = Theta(sqrt(L_inf Delta / N)
                         + (||sigma||_1^2 L_inf Delta / N)^(1/4))   (constants of the Theta taken as 1)
    sgd_l1_lower         the SGD counterpart with ||sigma||_1^2 replaced by d ||sigma||_2^2 (inferred)
    softsign_descent     the reconstructed Softsign descent bound, pathwise: for V mu-strongly convex
                         in l2, f L2-smooth and lr tau <= mu / L2,
                         (1/T) sum_k (1/tau) V*(-tau grad f(theta_k))
                             <= Delta / (lr T) + (tau / 2 mu) (1/T) sum_k ||grad f(theta_k) - m_k||_2^2
                         (both sides divided by tau; the sum telescopes along each run, so it must
                         hold run by run, not only in expectation)

``check_bound`` compares measured values with a bound: the ratio measured/bound, and a flag where
an upper bound is exceeded (ratio > 1 + rtol, rtol covering float32 accumulation).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .rates import fit_power

__all__ = ["bernstein_signsgd", "tao_signsgd", "sgd_l1_lower", "softsign_descent_check", "check_bound",
           "claim_d_exponent", "run_bernstein"]


def bernstein_signsgd(L_coord_l1: float, delta: float, sigma_l1: float, N: float) -> float:
    """Right-hand side of Bernstein et al. (2018) Theorem 1 (a bound on (E mean_k ||g_k||_1)^2)."""
    return (math.sqrt(L_coord_l1) * (delta + 0.5) + 2.0 * sigma_l1) ** 2 / math.sqrt(N)


def tao_signsgd(L_inf: float, delta: float, sigma_l1: float, N: float) -> float:
    return math.sqrt(L_inf * delta / N) + (sigma_l1 ** 2 * L_inf * delta / N) ** 0.25


def sgd_l1_lower(L_inf: float, delta: float, sigma_l2: float, d: int, N: float) -> float:
    return math.sqrt(L_inf * delta / N) + (d * sigma_l2 ** 2 * L_inf * delta / N) ** 0.25


def check_bound(measured, bound, rtol: float = 1e-5) -> dict:
    """{'measured', 'bound', 'ratio', 'exceeded'} for an upper bound."""
    ratio = measured / bound if bound > 0 else math.inf
    return {"measured": float(measured), "bound": float(bound), "ratio": float(ratio),
            "exceeded": bool(ratio > 1.0 + rtol)}


def softsign_descent_check(rows, mu: float = 1.0, rtol: float = 1e-4) -> list:
    """The Softsign descent bound checked on every final row of a fixed-tau softsignum (tanh) or
    relaxed[entropic] run. Adds 'applies' (lr tau <= mu / L2, the bound's condition).

    rtol: the run's sums are accumulated in float64 from float32 iterates; 1e-4 relative covers
    the float32 rounding of the gradients entering them (measured: below 1e-6 on the separable problem).
    """
    out = []
    for r in rows:
        if r["step"] != r["T"] or r["optimizer"] not in ("softsignum", "relaxed[entropic]"):
            continue
        tau, lr, T = float(r["tau"]), float(r["lr"]), int(r["T"])
        bound = r["delta"] / (lr * T) + tau / (2.0 * mu) * float(r["avg_merr"])
        res = check_bound(float(r["avg_vstar"]), bound, rtol)
        res.update(optimizer=r["optimizer"], problem=r["problem"], noise=r["noise"], tau=tau, d=r["d"], T=T,
                   seed=r["seed"], lr=lr, applies=bool(lr * tau <= mu / float(r["L2"])))
        out.append(res)
    return out


def claim_d_exponent(grp, measure):
    """The d-exponent of the explicit bound for this group's method, fitted on its constants at each d.

    signum with momentum 0 or not: tao_signsgd (l1); sgd: sgd_l1_lower (l1). Others: no claim.
    """
    if measure != "min_l1":
        return None, ""
    name = str(grp[0]["optimizer"])
    if name not in ("signum", "sgd"):
        return None, ""
    per_d = {}
    for r in grp:
        N = float(r["T"])
        if name == "signum":
            per_d[r["d"]] = tao_signsgd(r["L_inf"], r["delta"], r["sigma_l1"], N)
        else:
            per_d[r["d"]] = sgd_l1_lower(r["L_inf"], r["delta"], r["sigma_l2"], r["d"], N)
    ds = sorted(per_d)
    fit = fit_power(ds, np.array([[per_d[d] for d in ds]]))
    src = "Tao et al. SignSGD bound" if name == "signum" else "inferred SGD l1 lower bound"
    return fit["exponent"], f"{src} on the problem's constants"


def run_bernstein(problem, sigma: float, Ks=(16, 64, 256, 1024), seeds=range(8), dtype="float64") -> list:
    """Run SignSGD as Bernstein et al. Theorem 1 prescribes and compare with the bound, per K.

    Gaussian noise of per-coordinate std sigma for one sample; a minibatch of K samples is the
    same law with sigma / sqrt(K), so it is run as such. Measured: (mean over seeds of
    (1/K) sum_k ||grad f(theta_k)||_1)^2 -- the bound is on the true gradient g_k of the theorem.
    """
    from .engine import run_cell
    from .methods import Method
    from .noise import Gaussian

    L1 = float(np.sum(problem.L_coord))
    sig_l1 = sigma * problem.dim
    out = []
    for K in Ks:
        m = Method("signum", lr=1.0 / math.sqrt(L1 * K), momentum=0.0)
        rows = run_cell(problem, Gaussian(sigma / math.sqrt(K)), m, K, seeds=seeds, dtype=dtype, n_checkpoints=2)
        final = [r for r in rows if r["step"] == K]
        measured = float(np.mean([r["avg_l1"] for r in final])) ** 2
        res = check_bound(measured, bernstein_signsgd(L1, problem.delta, sig_l1, K * K))
        res.update(K=K, N=K * K)
        out.append(res)
    return out


def group_mean(rows, keys, value):
    """Mean of ``value`` over the rows sharing ``keys`` (a helper for tables of bound checks)."""
    acc = defaultdict(list)
    for r in rows:
        acc[tuple(r[k] for k in keys)].append(float(r[value]))
    return {k: float(np.mean(v)) for k, v in acc.items()}
