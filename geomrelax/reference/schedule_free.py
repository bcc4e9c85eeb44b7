"""Numpy reference (float64) of the schedule-free LMO method (geomrelax.optim.ScheduleFree).

    d_t = lmo(g_t at y_t);  z_{t+1} = z_t - lr (d_t + wd y_t);  x_{t+1} = (1 - c) x_t + c z_{t+1},
    c = c_{t+1} = w_{t+1} / sum_{i <= t+1} w_i (w_i = i^r);  y_{t+1} = (1 - beta) z_{t+1} + beta x_{t+1}

``state = schedule_free_init(thetas)`` (z = x = y = thetas); ``schedule_free_step(state, grads, ...)``
takes the gradients at ``state['y']`` and returns the new state ({'step', 'z', 'x', 'y'}).
lmo: 'sign', 'softsign' (tau, psi), 'muon' (NS5 with the rectangular scale), 'relaxed' (regularizer, tau).
"""

from __future__ import annotations

import numpy as np

from .. import updates as U
from ..errors import GeomrelaxError
from .relaxed import relaxed_direction
from .softsignum import _as_list

__all__ = ["schedule_free_init", "schedule_free_step", "sf_lmo"]


def schedule_free_init(thetas) -> dict:
    thetas = _as_list(thetas, "thetas")
    return {"step": 0, "z": [t.copy() for t in thetas], "x": [t.copy() for t in thetas],
            "y": [t.copy() for t in thetas]}


def sf_lmo(g, lmo="sign", tau=None, psi="tanh", regularizer=None, ns_steps=5) -> np.ndarray:
    """The direction d = lmo(g) subtracted from z (see the module docstring)."""
    if lmo == "sign":
        return np.sign(g)
    if lmo == "softsign":
        return U.psi(tau * g, psi)
    if lmo == "muon":
        m = U.as_matrix(g)
        return (U.muon_scale(*m.shape) * U.newton_schulz5(m, ns_steps)).reshape(g.shape)
    if lmo == "relaxed":
        return -relaxed_direction(regularizer, g, tau)
    raise GeomrelaxError(f"lmo must be 'sign', 'softsign', 'muon' or 'relaxed', got {lmo!r}")


def schedule_free_step(state, grads, *, lr=1e-3, beta=0.9, lmo="sign", tau=None, psi="tanh", regularizer=None,
                       weight_decay=0.0, weight_power=0.0, ns_steps=5, maximize=False) -> dict:
    """One SF step from the gradients at state['y']; returns the new state."""
    grads = _as_list(grads, "grads")
    c = U.sf_coefficient(state["step"] + 1, weight_power)
    out = {"step": state["step"] + 1, "z": [], "x": [], "y": []}
    for z, x, y, g in zip(state["z"], state["x"], state["y"], grads):
        d = sf_lmo(-g if maximize else g, lmo, tau, psi, regularizer, ns_steps)
        z = z - lr * (d + weight_decay * y) if weight_decay else z - lr * d
        x = U.sf_average(x, z, c)
        out["z"].append(z)
        out["x"].append(x)
        out["y"].append(U.sf_point(z, x, beta))
    return out
