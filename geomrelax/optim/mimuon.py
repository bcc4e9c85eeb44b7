"""MiMuon: a mix of Muon and momentum SGD.

Per matrix parameter (N-D tensors as the (shape[0], -1) matrix), step k, g the gradient (-g when
``maximize``), M_0 = 0:

    M_k = beta M_{k-1} + (1 - beta) g_k,  u_k = (1 - beta) g_k + beta M_k   (nesterov; u_k = M_k otherwise)
    D_k = alpha NS5(u_k) + (1 - alpha) sqrt(min(rows, cols)) u_k / ||u_k||_F
    theta_k = (1 - lr wd) theta_{k-1} - lr sqrt(max(1, rows/cols)) D_k

alpha = 1 is Muon; alpha = 0 is normalized momentum SGD. The SGD part is rescaled to the Frobenius
norm of an orthogonal factor (sqrt(min(rows, cols))), so that both parts have the same size and
alpha sets their mix, not their scales (the "rms matching"; the MiMuon abstract describes the method
only as "a hybrid of Muon and momentum-based SGD that uses orthogonalization cautiously": this exact
form is our choice). Formulas: :func:`geomrelax.updates.mimuon_direction`, shared with
:func:`geomrelax.reference.mimuon_step`. State: ``momentum_buffer``.
"""

from __future__ import annotations

from .. import updates as U
from .base import check_real
from .muon_variant import MuonVariant
from .spectral_maps import NS5_COEFFICIENTS, NS5_EPS

__all__ = ["MiMuon"]


class MiMuon(MuonVariant):
    """MiMuon (see the module docstring): Muon's options plus alpha in [0, 1] (the share of NS5)."""

    def __init__(self, params, lr=0.02, momentum=0.95, alpha=0.5, nesterov=True, weight_decay=0.0,
                 ns_coefficients=NS5_COEFFICIENTS, ns_steps=5, ns_eps=NS5_EPS, ns_dtype=None, maximize=False,
                 nonfinite="raise"):
        super().__init__(params, dict(alpha=alpha), lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay, ns_coefficients=ns_coefficients, ns_steps=ns_steps,
                         ns_eps=ns_eps, ns_dtype=ns_dtype, maximize=maximize, nonfinite=nonfinite)

    def _validate_group(self, group):
        super()._validate_group(group)
        check_real("alpha", group["alpha"], low=0.0, high=1.0)

    def _direction(self, group, u, tau):
        O = super()._direction(group, u, tau)
        return U.mimuon_direction(O.to(u.dtype), u, group["alpha"])
