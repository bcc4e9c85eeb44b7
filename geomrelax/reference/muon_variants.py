"""Numpy references (float64) of NorMuon and MiMuon, one param group, one step at a time.

Both are Muon (M_k = beta M_{k-1} + (1 - beta) g_k, u_k = (1 - beta) g_k + beta M_k with Nesterov,
O_k = NS5 of the (shape[0], -1) view of u_k) with a post-processed direction:

    NorMuon: r_k = beta2 r_{k-1} + (1 - beta2) mean_j O_ij^2,  N = O / (sqrt(r_k) + eps),
             theta <- (1 - lr wd) theta - lr rms sqrt(rows cols) N / ||N||_F
    MiMuon:  D = alpha O + (1 - alpha) sqrt(min(rows, cols)) u / ||u||_F,
             theta <- (1 - lr wd) theta - lr sqrt(max(1, rows/cols)) D

(:func:`geomrelax.updates.normuon_direction`, :func:`geomrelax.updates.mimuon_direction`, shared with
the torch optimizers.) ``state = muon_variant_init()``; inputs are not modified.
"""

from __future__ import annotations

import numpy as np

from .. import updates as U
from ..errors import GeomrelaxError
from .softsignum import _as_list

__all__ = ["muon_variant_init", "normuon_step", "mimuon_step"]


def muon_variant_init() -> dict:
    return {"step": 0, "momentum_buffer": None, "row_moment": None}


def _muon_inputs(thetas, grads, state, momentum, nesterov, maximize, ns_steps):
    thetas, grads = _as_list(thetas, "thetas"), _as_list(grads, "grads")
    if len(thetas) != len(grads):
        raise ValueError(f"{len(thetas)} parameters but {len(grads)} gradients")
    for t in thetas:
        if t.ndim < 2:
            raise GeomrelaxError(f"the Muon variants act on parameters with ndim >= 2, got shape {t.shape}")
    old = state["momentum_buffer"] or [np.zeros_like(t) for t in thetas]
    out = []
    for theta, g, buf in zip(thetas, grads, old):
        g = -g if maximize else g
        M = U.muon_momentum(buf, g, momentum)
        u = U.as_matrix(U.muon_input(g, M, momentum, nesterov))
        out.append((theta, M, u, U.newton_schulz5(u, ns_steps)))
    return out


def normuon_step(thetas, grads, state, *, lr=0.02, momentum=0.95, beta2=0.95, norm_eps=1e-8, rms=0.2,
                 nesterov=True, weight_decay=0.0, ns_steps=5, maximize=False):
    """One NorMuon step; returns (new thetas, new state)."""
    items = _muon_inputs(thetas, grads, state, momentum, nesterov, maximize, ns_steps)
    rows = state["row_moment"] or [None] * len(items)
    new, bufs, moments = [], [], []
    for (theta, M, u, O), r in zip(items, rows):
        D, r = U.normuon_direction(O, r, beta2, norm_eps, rms)
        new.append(U.muon_update(theta, D, lr, weight_decay, 1.0))
        bufs.append(M)
        moments.append(r)
    return new, {"step": state["step"] + 1, "momentum_buffer": bufs, "row_moment": moments}


def mimuon_step(thetas, grads, state, *, lr=0.02, momentum=0.95, alpha=0.5, nesterov=True, weight_decay=0.0,
                ns_steps=5, maximize=False):
    """One MiMuon step; returns (new thetas, new state)."""
    items = _muon_inputs(thetas, grads, state, momentum, nesterov, maximize, ns_steps)
    new, bufs = [], []
    for theta, M, u, O in items:
        D = U.mimuon_direction(O, u, alpha)
        new.append(U.muon_update(theta, D, lr, weight_decay, U.muon_scale(*D.shape)))
        bufs.append(M)
    return new, {"step": state["step"] + 1, "momentum_buffer": bufs, "row_moment": None}
