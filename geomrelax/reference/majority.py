"""Numpy reference (float64) of signSGD with majority vote (geomrelax.optim.MajorityVote).

    x <- (1 - lr wd) x - lr sign(sum_m s_m sign(g_m)),   s_m = -1 for the first ``byzantine`` workers, else +1

``thetas = majority_step(thetas, worker_grads, lr=..., byzantine=...)`` with worker_grads[m][i] the
gradient of worker m for parameter i. No state.
"""

from __future__ import annotations

from .. import updates as U
from ..errors import GeomrelaxError
from .softsignum import _as_list

__all__ = ["majority_step"]


def majority_step(thetas, worker_grads, *, lr=1e-3, byzantine=0, weight_decay=0.0, maximize=False):
    """One majority-vote step; returns the new thetas."""
    thetas = _as_list(thetas, "thetas")
    workers = [_as_list(gs, f"worker_grads[{m}]") for m, gs in enumerate(worker_grads)]
    if not workers or byzantine > len(workers):
        raise GeomrelaxError(f"byzantine = {byzantine} needs at least that many workers, got {len(workers)}")
    s = -1.0 if maximize else 1.0
    return [U.sign_step(U.decay(theta, lr, weight_decay), U.worker_signs([s * w[i] for w in workers], byzantine), lr)
            for i, theta in enumerate(thetas)]
