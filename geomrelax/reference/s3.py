"""Numpy reference of S3 / SoftSignSGD: one step at a time, float64, formulas of geomrelax.updates.

    m_t = beta m_{t-1} + (1 - beta) g_t            r_t = beta r_{t-1} + (1 - beta) |g_t|^p
    n_t = beta m_t + (1 - beta) g_t                b_t = (beta r_t + (1 - beta) |g_t|^p)^(1/p)
    theta <- (1 - lr wd) theta - lr n_t / (b_t + eps)          (m_0 = r_0 = 0; eps = 0: 0/0 = 0)

``state`` is {'step': int, 'exp_avg': list or None, 'exp_avg_p': list or None}; inputs are not modified.
"""

from __future__ import annotations

import numpy as np

from .. import updates as U
from .softsignum import _as_list

__all__ = ["s3_init", "s3_step", "s3_ratio"]


def s3_init() -> dict:
    return {"step": 0, "exp_avg": None, "exp_avg_p": None}


def s3_step(thetas, grads, state, *, lr=1e-3, beta=0.95, p=3.0, eps=1e-8, weight_decay=0.0, maximize=False):
    """One S3 step of a list of parameters; returns (new thetas, new state)."""
    thetas = _as_list(thetas, "thetas")
    grads = _as_list(grads, "grads")
    if len(thetas) != len(grads):
        raise ValueError(f"{len(thetas)} parameters but {len(grads)} gradients")
    ms = state["exp_avg"] or [np.zeros_like(t) for t in thetas]
    rs = state["exp_avg_p"] or [np.zeros_like(t) for t in thetas]
    new, m_new, r_new = [], [], []
    for theta, g, m, r in zip(thetas, grads, ms, rs):
        g = -g if maximize else g
        th, m, r, _ = U.s3_step(theta, m, r, g, lr, beta, p, eps, weight_decay)
        new.append(th)
        m_new.append(m)
        r_new.append(r)
    return new, {"step": state["step"] + 1, "exp_avg": m_new, "exp_avg_p": r_new}


def s3_ratio(grads_sequence, *, beta=0.95, p=3.0, dtype=np.float64):
    """The S3 directions n_t / b_t (eps = 0, 0/0 = 0) along a gradient sequence (arrays of one shape).

    Computed in ``dtype`` (float64 or float32) to check the claim |n_t / b_t| <= 1 and its
    floating-point limits; returns an array of shape (T, *shape).
    """
    dtype = np.dtype(dtype)
    out = []
    m = r = None
    for g in grads_sequence:
        g = np.asarray(g, dtype=dtype)
        if m is None:
            m, r = np.zeros_like(g), np.zeros_like(g)
        with np.errstate(under="ignore", over="ignore", invalid="ignore", divide="ignore"):
            m, r, gp = U.s3_moments(m, r, g, dtype.type(beta), dtype.type(p))
            out.append(U.s3_direction(m, r, g, gp, dtype.type(beta), dtype.type(p), 0.0))
    return np.stack(out)
