"""SignSGD against SGD as a function of the noise density phi = ||sigma||_1^2 / (d ||sigma||_2^2).

Prediction (Tao, Yu, Zhang; l1 stationarity, l_inf smoothness, separable noise): SignSGD reaches
E min_t ||grad f||_1 ~ sqrt(L_inf Delta/N) + (||sigma||_1^2 L_inf Delta/N)^(1/4), while SGD's
l1 lower bound has d ||sigma||_2^2 in place of ||sigma||_1^2. With d ||sigma||_2^2 held fixed
(synthetic.noise's profile), the predicted gain SGD / SignSGD at a fixed budget N is

    gain_pred = sgd_l1_lower / tao_signsgd   -> phi^(-1/4) when the noise terms dominate,

i.e. a factor phi^-1 (up to d) in the number of steps to a given accuracy. The measured gain is the
ratio of the best E min_t ||grad f||_1 of each method over a grid of constant step sizes (each method
at its own best step: a comparison of tuned methods, as the bounds compare optimal rates).
"""

from __future__ import annotations

import math

import numpy as np

from .bounds import sgd_l1_lower, tao_signsgd
from .engine import run_cell
from .methods import Method
from .noise import Gaussian

__all__ = ["sign_vs_sgd"]


def sign_vs_sgd(problem, phis, *, sigma: float = 3.0, T: int = 1000, seeds=range(8),
                sign_lrs=None, sgd_lrs=None, dtype: str = "float32") -> list:
    """One row per phi: for SignSGD and SGD (no momentum) the best E min_t ||grad f||_1 and the best
    E (1/T) sum_t ||grad f||_1 over the step grids (and the step that gave it, flagged when it is at
    an end of the grid), the gains (SGD / SignSGD) in both measures, the predicted ratio from the
    bounds on this problem's constants, and phi^(-1/4)."""
    d = problem.dim
    sign_lrs = sign_lrs or list(np.geomspace(1e-4, 1.0, 9))
    sgd_lrs = sgd_lrs or list(np.geomspace(1e-3, 1.5, 8) / problem.L2)     # 2/L2 is the stability edge
    out = []
    for phi in phis:
        noise = Gaussian(sigma, phi=phi)
        sig = noise.sigma(problem).ravel()
        row = {"phi": float(phi), "d": d, "T": T}
        for name, lrs in (("sign", sign_lrs), ("sgd", sgd_lrs)):
            table = []
            for lr in lrs:
                m = Method("signum" if name == "sign" else "sgd", lr=float(lr), momentum=0.0)
                rows = [r for r in run_cell(problem, noise, m, T, seeds=seeds, n_checkpoints=2, dtype=dtype)
                        if r["step"] == T]
                table.append([float(np.mean([r[k] for r in rows])) for k in ("min_l1", "avg_l1")])
            table = np.where(np.isfinite(table), table, np.inf)
            for j, meas in enumerate(("min_l1", "avg_l1")):
                i = int(np.argmin(table[:, j]))
                row[f"{name}_{meas}"] = float(table[i, j])
                row[f"{name}_{meas}_lr"] = float(lrs[i])
                row[f"{name}_{meas}_lr_at_edge"] = i in (0, len(lrs) - 1)
        s1, s2 = float(np.abs(sig).sum()), float(np.sqrt((sig * sig).sum()))
        row.update(
            gain_min=row["sgd_min_l1"] / row["sign_min_l1"], gain_avg=row["sgd_avg_l1"] / row["sign_avg_l1"],
            gain_pred_bounds=(sgd_l1_lower(problem.L_inf, problem.delta, s2, d, T)
                              / tao_signsgd(problem.L_inf, problem.delta, s1, T)),
            gain_pred_noise=float(phi) ** -0.25)
        out.append(row)
    return out
