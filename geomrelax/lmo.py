"""The regularized linear minimization oracle.

    d_tau(m) = argmin_{d in D} <m, d> + V(d)/tau = grad V*(-tau m),

with the paper's convention (tau multiplies the argument: large tau is sharp). Limits:

    tau -> inf :  d_tau(m) -> lmo_D(m) = argmin_{d in D} <m, d>   (sign, polar factor, ...)
    tau -> 0   :  d_tau(m) ~ -tau m / v''(0)                      (SGD with step lr * tau)
    value      :  min_d <m, d> + V(d)/tau = -V*(-tau m)/tau.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .backend import ops_for
from .errors import InvalidTemperatureError, NonFiniteError
from .regularizers import _scaled, as_regularizer


def check_tau(tau, allow_inf: bool = True) -> float:
    """tau as a float, refusing tau <= 0, NaN, non-real values (and inf unless ``allow_inf``)."""
    if isinstance(tau, bool) or not isinstance(tau, (numbers.Real, np.floating, np.integer)):
        try:
            tau = float(np.asarray(tau).item())
        except (TypeError, ValueError):
            raise InvalidTemperatureError(f"tau must be a real number > 0, got {tau!r}") from None
    tau = float(tau)
    if math.isnan(tau):
        raise InvalidTemperatureError("tau is NaN; it must be a real number > 0")
    if tau <= 0:
        raise InvalidTemperatureError(f"tau must be > 0, got {tau} (tau -> 0 is SGD, tau = inf the hard LMO)")
    if math.isinf(tau) and not allow_inf:
        raise InvalidTemperatureError("tau = inf is not allowed here (the hard LMO has no finite temperature)")
    return tau


def _check_finite(m, what: str = "m") -> np.ndarray:
    m = np.asarray(m)
    if not np.issubdtype(m.dtype, np.floating):
        m = m.astype(np.float64)
    if not np.all(np.isfinite(m)):
        bad = np.argwhere(~np.isfinite(m))[0]
        raise NonFiniteError(f"{what} has a non-finite entry {m[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return m


def relaxed_lmo(V, m, tau) -> np.ndarray:
    """d_tau(m) = grad V*(-tau m); tau = inf gives the hard LMO argmin_{d in D} <m, d>.

    ``V`` is a Regularizer or a built-in name. Refuses tau <= 0 or NaN, a non-finite m, and a finite
    tau for a regularizer that is not strongly convex only when it has no grad V* (the box indicator
    is accepted: its relaxed LMO is the hard one at every tau).
    """
    V = as_regularizer(V)
    tau = check_tau(tau)
    m = _check_finite(m)
    if m.ndim < V.event_ndim:
        raise ValueError(f"{V.name} acts on arrays with at least {V.event_ndim} axes, got shape {m.shape}")
    if math.isinf(tau):
        return V.lmo(m)
    # each regularizer computes grad V*(-tau m) safely where tau m overflows (Regularizer.relaxed_lmo)
    return V.relaxed_lmo(m, tau)


def relaxed_lmo_value(V, m, tau) -> np.ndarray:
    """min_{d in D} <m, d> + V(d)/tau = -V*(-tau m)/tau (for tau = inf: -support(-m) = min <m, d>)."""
    V = as_regularizer(V)
    tau = check_tau(tau)
    m = _check_finite(m)
    if math.isinf(tau):
        return -V.support(-m)
    y = _scaled(ops_for(m), m, tau)
    if np.all(np.isfinite(y)):
        with np.errstate(over="ignore"):
            val = -V.conj(y) / tau
        if np.all(np.isfinite(val)):
            return val
    # tau m or V*(-tau m) overflowed: the minimum is attained at d = d_tau(m), so it is <m, d> + V(d) / tau
    d = V.relaxed_lmo(m, tau)
    axes = tuple(range(-V.event_ndim, 0))
    with np.errstate(over="ignore", invalid="ignore"):
        val = np.sum(m * d, axis=axes) + V.value(d) / tau
    if not np.all(np.isfinite(val)):
        raise NonFiniteError(f"{V.name}: min <m, d> + V(d)/tau at tau = {tau:g} is beyond the float range "
                             f"(V*(-tau m) overflows; max |m| = {np.max(np.abs(m)):g})")
    return val
