"""Numpy reference (float64) of SSVR (geomrelax.optim.SSVR).

    v_1 = g(x_1; xi_1),  v_t = g(x_t; xi_t) + (1 - a) (v_{t-1} - g(x_{t-1}; xi_t)),
    x_{t+1} = (1 - lr wd) x_t - lr sign(v_t)

``state = ssvr_init()``; ``thetas, state = ssvr_step(thetas, grads, prev_grads, state, ...)`` with
grads = g(x_t; xi_t) and prev_grads = g(x_{t-1}; xi_t) (the same sample at the previous point,
``state['prev_param']``; ignored at the first step, may be None there).
"""

from __future__ import annotations

from .. import updates as U
from ..errors import GeomrelaxError
from .softsignum import _as_list

__all__ = ["ssvr_init", "ssvr_step"]


def ssvr_init() -> dict:
    return {"step": 0, "estimator": None, "prev_param": None}


def ssvr_step(thetas, grads, prev_grads, state, *, lr=1e-3, a=0.1, weight_decay=0.0, maximize=False):
    """One SSVR step; returns (new thetas, new state)."""
    thetas, grads = _as_list(thetas, "thetas"), _as_list(grads, "grads")
    s = -1.0 if maximize else 1.0
    first = state["estimator"] is None
    if not first and a != 1.0:
        if prev_grads is None:
            raise GeomrelaxError("ssvr_step needs prev_grads = g(x_(t-1); xi_t) after the first step")
        prev_grads = _as_list(prev_grads, "prev_grads")
    new, vs = [], []
    for i, (theta, g) in enumerate(zip(thetas, grads)):
        if first or a == 1.0:
            v = U.storm_estimator(None, s * g, None, a)
        else:
            v = U.storm_estimator(state["estimator"][i], s * g, s * prev_grads[i], a)
        new.append(U.sign_step(U.decay(theta, lr, weight_decay), v, lr))
        vs.append(v)
    return new, {"step": state["step"] + 1, "estimator": vs, "prev_param": [t.copy() for t in thetas]}
