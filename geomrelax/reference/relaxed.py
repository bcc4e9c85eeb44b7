"""Numpy reference of the Relaxed optimizer: one step at a time, float64.

    b_1 = g_1,  b_k = beta b_{k-1} + (1 - dampening) g_k,   u = g + beta b (nesterov) or b
    theta <- (1 - lr wd) theta + lr d_tau(u),   d_tau(u) = grad V*(-tau u)   (geomrelax.relaxed_lmo)

A vector regularizer sees each parameter as one flat vector, a spectral one sees a matrix
(arrays with more than two axes as (shape[0], -1)), as the torch optimizer does.
``state`` is {'step': int, 'momentum_buffer': list or None}; inputs are not modified.
"""

from __future__ import annotations

import numpy as np

from .. import updates as U
from ..lmo import check_tau, relaxed_lmo
from ..regularizers import as_regularizer
from .softsignum import _as_list

__all__ = ["relaxed_init", "relaxed_step", "relaxed_direction"]


def relaxed_init() -> dict:
    return {"step": 0, "momentum_buffer": None}


def relaxed_direction(V, u, tau) -> np.ndarray:
    """d_tau(u) for a parameter-shaped array u (flattened or matricised as V needs)."""
    V = as_regularizer(V)
    u = np.asarray(u, dtype=np.float64)
    x = u.reshape(-1) if V.event_ndim == 1 else (u.reshape(u.shape[0], -1) if u.ndim > 2 else u)
    return np.asarray(relaxed_lmo(V, x, tau)).reshape(u.shape)


def relaxed_step(thetas, grads, state, *, regularizer, tau, lr=1e-3, momentum=0.9, dampening=0.0,
                 nesterov=False, weight_decay=0.0, maximize=False):
    """One Relaxed step; ``tau`` a float or a callable of the 1-based step. Returns (thetas, state)."""
    thetas = _as_list(thetas, "thetas")
    grads = _as_list(grads, "grads")
    step = state["step"] + 1
    t = check_tau(tau(step) if callable(tau) else tau, allow_inf=False)
    old = state["momentum_buffer"]
    new, bufs = [], []
    for i, (theta, g) in enumerate(zip(thetas, grads)):
        g = -g if maximize else g
        b, u = U.softsignum_direction(g, None if old is None else old[i], momentum, dampening, nesterov)
        bufs.append(b)
        new.append(U.relaxed_step(theta, relaxed_direction(regularizer, u, t), lr, weight_decay))
    return new, {"step": step, "momentum_buffer": None if momentum == 0 else bufs}
