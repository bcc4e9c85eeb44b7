"""Numpy reference (float64) of Muon and SoftMuon: one param group, one step at a time.

The formulas are those of :mod:`geomrelax.updates` (shared with the torch optimizer), step k = 1, 2, ...
with g the gradient (-g when maximizing) and M_0 = 0:

    M_k = beta M_{k-1} + (1 - beta) g_k
    u_k = (1 - beta) g_k + beta M_k          (Nesterov; u_k = M_k without)
    U_k = u_k reshaped to (rows, cols) = (shape[0], prod(shape[1:]))
    D_k = NS5(U_k)                           (k <= K_s, the Muon phase)
        = U_k (U_k^T U_k + tau_j^-2 I)^{-1/2}   (k > K_s, j = k - K_s - 1, the transition)
    theta_k = (1 - lr wd) theta_{k-1} - lr sqrt(max(1, rows/cols)) D_k

tau_j comes from the temperature schedule (psi algebraic) fitted once, at the first transition step
whose gradients are not all zero, to all singular values of the raw gradients of that step; j >= K
keeps the last tau (:mod:`geomrelax.schedule`, the run's two phases). The transition map here is the
exact one (SVD); Muon is SoftMuon without sign_iters / transition_iters.

Usage, as the other references::

    state = softmuon_init()
    for k in range(steps):
        thetas, state = softmuon_step(thetas, grads_k, state, lr=..., sign_iters=..., transition_iters=...)

``state`` is {'step': int, 'momentum_buffer': list of arrays or None, 'schedule': tuple or None};
inputs are not modified.
"""

from __future__ import annotations

import numpy as np

from .. import updates as U
from ..errors import GeomrelaxError
from ..schedule import fit_pending, fit_transition, tau_at
from ..spectral import smoothed_polar
from .softsignum import _as_list

__all__ = ["softmuon_direction", "softmuon_init", "softmuon_schedule", "softmuon_step"]


def softmuon_init() -> dict:
    return {"step": 0, "momentum_buffer": None, "schedule": None}


def _matrix(x) -> np.ndarray:
    if np.ndim(x) < 2:
        raise GeomrelaxError(f"SoftMuon acts on parameters with ndim >= 2, got shape {np.shape(x)}")
    return U.as_matrix(x)


def softmuon_direction(u, tau=None, *, ns_steps: int = 5, ns_coefficients=U.NS5_COEFFICIENTS,
                       ns_eps: float = U.NS5_EPS) -> np.ndarray:
    """D: NS5 of the (rows, cols) view of u (tau None) or its exact smoothed polar map, as a matrix."""
    m = _matrix(u)
    if tau is None:
        return U.newton_schulz5(m, ns_steps, ns_coefficients, ns_eps)
    return smoothed_polar(m, tau, method="svd")


def softmuon_schedule(grads, transition_iters, *, eps=1e-4, newton_iters=10, tmax=1e9, median="mean"):
    """The temperatures (a tuple) fitted to all singular values of the raw gradients, or None when all are 0."""
    z = np.concatenate([np.linalg.svd(_matrix(g), compute_uv=False) for g in grads])
    return fit_transition(z, transition_iters, eps=eps, newton_iters=newton_iters, tmax=tmax, psi="algebraic",
                          median=median, who="softmuon_step")


def softmuon_step(thetas, grads, state, *, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0,
                  sign_iters=None, transition_iters=None, eps=1e-4, newton_iters=10, tmax=1e9, ns_steps=5,
                  ns_coefficients=U.NS5_COEFFICIENTS, ns_eps=U.NS5_EPS, maximize=False, median="mean"):
    """One SoftMuon step of a param group; returns (new thetas, new state)."""
    if (sign_iters is None) != (transition_iters is None):
        raise GeomrelaxError("sign_iters and transition_iters go together (both or neither)")
    thetas = _as_list(thetas, "thetas")
    grads = _as_list(grads, "grads")
    if len(thetas) != len(grads):
        raise ValueError(f"{len(thetas)} parameters but {len(grads)} gradients")
    step = state["step"] + 1
    schedule = state["schedule"]
    if fit_pending(schedule, step, sign_iters):
        schedule = softmuon_schedule(grads, transition_iters, eps=eps, newton_iters=newton_iters, tmax=tmax,
                                     median=median)
    tau = tau_at(schedule, step, sign_iters)
    old = state["momentum_buffer"] or [np.zeros_like(t) for t in thetas]
    new, bufs = [], []
    for theta, g, buf in zip(thetas, grads, old):
        g = -g if maximize else g
        M = U.muon_momentum(buf, g, momentum)
        D = softmuon_direction(U.muon_input(g, M, momentum, nesterov), tau, ns_steps=ns_steps,
                               ns_coefficients=ns_coefficients, ns_eps=ns_eps)
        new.append(U.muon_update(theta, D, lr, weight_decay, U.muon_scale(*D.shape)))
        bufs.append(M)
    return new, {"step": step, "momentum_buffer": bufs, "schedule": schedule}
