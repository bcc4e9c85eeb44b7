"""Numpy reference of SoftSignum and Signum: one param group, one step at a time, float64.

The formulas are those of :mod:`geomrelax.updates` (shared with the torch optimizers):

    b_1 = g_1,  b_k = beta b_{k-1} + (1 - dampening) g_k,   u_k = g_k + beta b_k (nesterov) or b_k
    theta <- (1 - lr wd) theta - lr_eff sign(u_k)                  k <= K_s
    theta <- (1 - lr wd) theta - lr_eff psi(tau_j u_k)              j = k - K_s - 1 >= 0
    tau = temperature_schedule(all entries of u_{K_s+1}, K).taus,   tau_j = tau_{min(j, K-1)}

(the fit waits for the first transition step whose u is not all zero: geomrelax.schedule.fit_transition).

Usage::

    state = softsignum_init()
    for k in range(steps):
        thetas, state = softsignum_step(thetas, grads_k, state, lr=..., momentum=...)

``state`` is a dict {'step': int, 'momentum_buffer': list of arrays or None, 'schedule': tuple
or None}; the functions never modify their inputs.
"""

from __future__ import annotations

import numpy as np

from .. import updates as U
from ..errors import NonFiniteError
from ..schedule import fit_pending, fit_transition, tau_at

__all__ = ["softsignum_init", "softsignum_step", "signum_step"]


def softsignum_init() -> dict:
    return {"step": 0, "momentum_buffer": None, "schedule": None}


def _as_list(xs, what):
    out = [np.asarray(x, dtype=np.float64) for x in xs]
    for i, x in enumerate(out):
        if not np.all(np.isfinite(x)):
            raise NonFiniteError(f"{what}[{i}] (shape {x.shape}) has non-finite entries")
    return out


def softsignum_step(thetas, grads, state, *, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                    nesterov=False, sign_iters=9000, transition_iters=1000, eps=1e-4, newton_iters=10,
                    tmax=20.0, psi="tanh", normalized=False, sign_norm=False, maximize=False,
                    transition=True, schedule_median="mean"):
    """One SoftSignum step of a param group; returns (new thetas, new state). ``transition=False``: Signum."""
    thetas = _as_list(thetas, "thetas")
    grads = _as_list(grads, "grads")
    if len(thetas) != len(grads):
        raise ValueError(f"{len(thetas)} parameters but {len(grads)} gradients")
    step = state["step"] + 1
    gs = [-g for g in grads] if maximize else grads
    old = state["momentum_buffer"]
    bufs, us = [], []
    for i, g in enumerate(gs):
        prev = None if old is None else old[i]
        b, u = U.softsignum_direction(g, prev, momentum, dampening, nesterov)
        bufs.append(b)
        us.append(u)
    unorm = U.group_norm(us) if (normalized or sign_norm) else 0.0
    lr_eff = U.effective_lr(lr, unorm, normalized, sign_norm)
    schedule = state["schedule"]
    k_s = sign_iters if transition else None
    if fit_pending(schedule, step, k_s):
        schedule = fit_transition(np.concatenate([u.reshape(-1) for u in us]), transition_iters, eps=eps,
                                  newton_iters=newton_iters, tmax=tmax, psi=psi, median=schedule_median,
                                  who="softsignum_step")
    tau = tau_at(schedule, step, k_s)
    new = []
    for theta, u in zip(thetas, us):
        theta = U.decay(theta, lr, weight_decay)
        if tau is None:
            new.append(U.sign_step(theta, u, lr_eff))
        else:
            new.append(U.soft_step(theta, u, lr_eff, tau, psi))
    return new, {"step": step, "momentum_buffer": None if momentum == 0 else bufs, "schedule": schedule}


def signum_step(thetas, grads, state, *, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                nesterov=False, normalized=False, sign_norm=False, maximize=False):
    """One Signum step (SoftSignum without transition)."""
    return softsignum_step(thetas, grads, state, lr=lr, momentum=momentum, dampening=dampening,
                           weight_decay=weight_decay, nesterov=nesterov, normalized=normalized,
                           sign_norm=sign_norm, maximize=maximize, transition=False)
