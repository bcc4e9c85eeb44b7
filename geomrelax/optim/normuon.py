"""NorMuon: Muon whose orthogonalized update is normalized row by row (neuron-wise).

Per matrix parameter (N-D tensors as the (shape[0], -1) matrix), step k = 1, 2, ..., g the gradient
(-g when ``maximize``), M_0 = 0, r_0 = 0 (one number per row):

    M_k = beta M_{k-1} + (1 - beta) g_k,  u_k = (1 - beta) g_k + beta M_k   (nesterov; u_k = M_k otherwise)
    O_k = NS5(u_k)                                          Muon's orthogonalized direction
    r_k = beta2 r_{k-1} + (1 - beta2) mean_j (O_k)_ij^2     EMA of the squared row norms / cols
    N_k = O_k / (sqrt(r_k) + eps)                           every row brought to about unit RMS
    theta_k = (1 - lr wd) theta_{k-1} - lr rms sqrt(rows cols) N_k / ||N_k||_F

This is the NorMuon of Li et al. (2025) as its paper describes it: a second-moment EMA kept per row
(neuron) of the orthogonalized update, the update divided by its square root, and the step rescaled
so that its RMS is ``rms`` times lr (0.2: the RMS of AdamW's update, the paper's choice). Without
bias correction (the paper has none; the final rescaling removes a common factor of the rows).
The formulas are :func:`geomrelax.updates.normuon_direction`, shared with the numpy reference
:func:`geomrelax.reference.normuon_step`. State per parameter: ``momentum_buffer`` (p's shape) and
``row_moment`` (shape (rows, 1), loaded and checked like the others).
"""

from __future__ import annotations

import math

import torch

from .. import updates as U
from ..errors import GeomrelaxError, NonFiniteError
from .base import check_real
from .muon_variant import MuonVariant
from .spectral_maps import NS5_COEFFICIENTS, NS5_EPS

__all__ = ["NorMuon"]


class NorMuon(MuonVariant):
    """NorMuon (see the module docstring). Muon's options plus beta2 (row-moment EMA, [0, 1)),
    norm_eps (> 0, added to sqrt(r)) and rms (> 0, the update's RMS relative to lr)."""

    def __init__(self, params, lr=0.02, momentum=0.95, beta2=0.95, norm_eps=1e-8, rms=0.2, nesterov=True,
                 weight_decay=0.0, ns_coefficients=NS5_COEFFICIENTS, ns_steps=5, ns_eps=NS5_EPS, ns_dtype=None,
                 maximize=False, nonfinite="raise"):
        super().__init__(params, dict(beta2=beta2, norm_eps=norm_eps, rms=rms), lr=lr, momentum=momentum,
                         nesterov=nesterov, weight_decay=weight_decay, ns_coefficients=ns_coefficients,
                         ns_steps=ns_steps, ns_eps=ns_eps, ns_dtype=ns_dtype, maximize=maximize, nonfinite=nonfinite)

    def _validate_group(self, group):
        super()._validate_group(group)
        check_real("beta2", group["beta2"], low=0.0, high=1.0, high_open=True)
        check_real("norm_eps", group["norm_eps"], low=0.0, low_open=True)
        check_real("rms", group["rms"], low=0.0, low_open=True)

    def _init_state(self, group, p, state):
        super()._init_state(group, p, state)
        state["row_moment"] = torch.zeros((p.shape[0], 1), dtype=p.dtype, device=p.device)

    def _state_bound(self, group, prev, gmax):
        numel = max(p.numel() for p in group["params"])
        return max(super()._state_bound(group, prev, gmax), group["rms"] * math.sqrt(numel))

    def _check_state(self, gi, pi, group, p, st, saved):
        # row_moment has shape (rows, 1), not p's: checked here, the rest by the base
        r = st.pop("row_moment", None)
        try:
            biggest = super()._check_state(gi, pi, group, p, st, saved)
        finally:
            if r is not None:
                st["row_moment"] = r
        where = f"loaded state of {self.param_name(gi, pi)}"
        if r is None:
            raise GeomrelaxError(f"{where} lacks state['row_moment']")
        if not torch.is_tensor(r) or tuple(r.shape) != (p.shape[0], 1) or r.dtype != p.dtype:
            shape = tuple(r.shape) if torch.is_tensor(r) else type(r).__name__
            raise GeomrelaxError(f"{where}: state['row_moment'] has shape {shape}, expected {(p.shape[0], 1)} "
                                 f"of dtype {p.dtype}")
        if r.numel() and not bool(torch.isfinite(r).all()):
            raise NonFiniteError(f"loaded state['row_moment'] of {self.param_name(gi, pi)} is not finite")
        if r.numel() and float(r.min()) < 0:
            raise GeomrelaxError(f"{where}: state['row_moment'] has negative entries (a mean of squares is >= 0)")
        return max(biggest, float(r.max()) if r.numel() else 0.0)

    def _plan(self, group, params, grads, states, step, ctx):
        """(D, r_new) of every parameter from Muon's NS5 directions (checked finite by Muon's plan)."""
        if ctx.comm is not None:
            # the RMS normalisation spans the whole matrix (and its row statistics its whole rows): on
            # shards it would normalise each shard on its own, which is not NorMuon's step
            raise GeomrelaxError("NorMuon does not step sharded (FSDP2/DTensor) parameters yet: its "
                                 "normalisation spans the whole matrix. Nothing was changed.")
        beta2, eps, rms = group["beta2"], group["norm_eps"], group["rms"]
        return [U.normuon_direction(O.to(p.dtype), st.get("row_moment"), beta2, eps, rms)
                for p, O, st in zip(params, super()._plan(group, params, grads, states, step, ctx), states)]

    def _update(self, group, params, grads, states, step, ctx):
        lr, wd, beta = self.hyper(group, "lr"), self.hyper(group, "weight_decay"), self.hyper(group, "momentum")
        for p, grad, state, (D, r) in zip(params, grads, states, ctx.plan):
            g = -grad if group["maximize"] else grad
            state["momentum_buffer"].copy_(U.muon_momentum(state["momentum_buffer"], g, beta))
            state["row_moment"].copy_(r)
            p.copy_(U.muon_update(p, D, lr, wd, 1.0))
