"""The temperature limits of the relaxed LMO d_tau(m) = grad V*(-tau m), with their rates.

    limit-tau-zero   ||d_tau(m)/tau + m/hess0|| <= c tau^2 ||m||^3
                     (v*)'(u) = u/hess0 + O(u^3): |tanh u - u| <= |u|^3/3 (entropic, c = 1/3),
                     |u/sqrt(1+u^2) - u| <= |u|^3/2 (algebraic, c = 1/2), exact (c = 0) for the
                     euclidean map and, while tau |m| <= 1, for the clipped and ball-projected ones.
                     Norm: max |entry| for vectors (l2 for the ball), spectral norm for spectral lifts
                     (d_tau(m)/tau + m = U diag(sigma - f(tau sigma)/tau) W^T, each term bounded alike).
    limit-tau-inf    ||d_tau(m) - lmo(m)|| <= r(tau min_i |m_i|)  (sigma_min for spectral lifts)
                     r(u) = 2 exp(-2u) (1 - tanh u = 2/(e^{2u} + 1)), 1/(2u^2) (1 - u/sqrt(1+u^2)),
                     0 for u >= 1 (box-quadratic: clip(u) = sign(u)).

Rounding allowance: every entry of d is computed to a few ulps of its size (<= the scale of m or 1),
and an SVD reconstruction to a few ulps of the matrix norm: 64 eps times those magnitudes; the
singular subspaces of m are determined to eps sigma_max / sigma_min, which enters for tau -> inf
(claims on matrices with sigma_max / sigma_min > 1e8 are not made).
"""

from __future__ import annotations

import math

import numpy as np

from geomrelax.regularizers import BallQuadratic, regularizer
from geomrelax.spectral import Spectral
from geomrelax.verify import TOL

from ..claim import Claim

VEC = 4
SHAPE = (3, 2)
_BUDGET = 0.25
ZERO_C = {"entropic": 1 / 3, "algebraic": 1 / 2, "euclidean": 0.0, "box_quadratic": 0.0, "ball_quadratic": 0.0}
SMOOTH = ("entropic", "algebraic")  # the rate holds for every u; the others only for tau |m| <= 1
INF_RATE = {"entropic": lambda u: 2 * np.exp(-2 * u), "algebraic": lambda u: 1 / (2 * u * u),
            "box_quadratic": lambda u: np.where(u >= 1, 0.0, np.inf)}
MAX_COND = 1e8
SOURCE = "Softsign (arXiv 2605.31371), framework: the tau -> 0 (SGD) and tau -> infinity (hard LMO) limits"


def _shape(V):
    return SHAPE if V.event_ndim == 2 else (VEC,)


def _norm(V, a):
    """max |entry| (vectors), l2 (the ball), spectral norm (matrices); batched over the first axis."""
    if V.event_ndim == 2:
        return np.linalg.svd(a, compute_uv=False)[..., 0]
    if isinstance(V, BallQuadratic):
        return np.linalg.norm(a, axis=-1)
    return np.max(np.abs(a), axis=-1)


def _linear_norm(V, a):
    """The norm whose unit ball is where the clip / ball maps are linear: l2 or Frobenius for the
    ball, max |entry| or spectral norm for the clip."""
    base = V.base if isinstance(V, Spectral) else V
    if isinstance(base, BallQuadratic):
        return np.sqrt(np.sum(a * a, axis=tuple(range(-V.event_ndim, 0))))
    return _norm(V, a)


def _slug(V):
    return V.name.replace("spectral(", "spectral-").replace(")", "")


def limit_tau_zero(V) -> Claim:
    base = V.base.name if isinstance(V, Spectral) else V.name
    c, smooth = ZERO_C[base], base in SMOOTH
    shape = _shape(V)
    k = int(np.prod(shape))

    def parts(Z):
        tau = 10.0 ** Z[:, 0]
        u = Z[:, 1:].reshape((-1,) + shape)
        if not smooth:  # keep tau |m| <= 1 (in the claim's norm), where these maps are linear
            u = u / np.maximum(1.0, _linear_norm(V, u)).reshape((-1,) + (1,) * len(shape))
        t = tau.reshape((-1,) + (1,) * len(shape))
        m = u / t
        d = np.asarray(V.grad_conj(-u), dtype=float)
        return tau, m, d, _norm(V, m)

    def margin(Z):
        tau, m, d, nm = parts(Z)
        t = tau.reshape((-1,) + (1,) * len(shape))
        return _norm(V, d / t + m / V.hess0) - c * tau ** 2 * nm ** 3

    def allowance(Z):
        _, _, _, nm = parts(Z)
        return TOL * 4 * nm * math.sqrt(k)

    def sample(rng):
        return np.concatenate([[rng.uniform(-8, 0)], rng.standard_normal(k) * 10.0 ** rng.uniform(-3, 1)])

    return Claim(id=f"identity/{_slug(V)}/limit-tau-zero", source=SOURCE,
                 description=f"||d_tau(m)/tau + m/hess0|| <= {c:g} tau^2 ||m||^3 for {V.name}"
                             + ("" if smooth else " (tau ||m|| <= 1)"),
                 assumptions="tau = 10^z0 in [1e-8, 1]; u = tau m " + ("free" if smooth else "scaled into ||u|| <= 1"),
                 sample=sample, margin=margin, allowance=allowance, batched=True, hp_route=False,
                 bounds=[[-8.0, 0.0]] + [[-np.inf, np.inf]] * k, budget_s=_BUDGET, cost=0.2,
                 tags=("identity", V.name, "limit"))


def limit_tau_inf(V) -> Claim:
    base = V.base.name if isinstance(V, Spectral) else V.name
    rate = INF_RATE[base]
    shape = _shape(V)
    k = int(np.prod(shape))

    def parts(Z):
        tau = 10.0 ** Z[:, 0]
        m = Z[:, 1:].reshape((-1,) + shape)
        t = tau.reshape((-1,) + (1,) * len(shape))
        d = np.asarray(V.grad_conj(-t * m), dtype=float)
        hard = np.asarray(V.lmo(m), dtype=float)
        if V.event_ndim == 2:
            sv = np.linalg.svd(m, compute_uv=False)
            small, cond = sv[..., -1], sv[..., 0] / sv[..., -1]
        else:
            small, cond = np.min(np.abs(m), axis=-1), np.ones(len(m))
        return tau, small, cond, _norm(V, d - hard)

    def margin(Z):
        tau, small, cond, err = parts(Z)
        with np.errstate(all="ignore"):
            bound = rate(tau * small)
        # no limit claim for m with a zero coordinate (sign(0) is a convention), nor for a matrix whose
        # smallest singular value is below the SVD's resolution (its singular vectors are rounding noise)
        return np.where((small > 0) & (cond <= MAX_COND), err - bound, -np.inf)

    def allowance(Z):
        # entries to a few ulps; the SVD's singular subspaces to eps sigma_max / sigma_min
        _, _, cond, _ = parts(Z)
        return TOL * 4 * math.sqrt(k) * (1 + (cond if V.event_ndim == 2 else 0.0))

    def sample(rng):
        return np.concatenate([[rng.uniform(-2, 8)], rng.standard_normal(k) * 10.0 ** rng.uniform(-3, 2)])

    return Claim(id=f"identity/{_slug(V)}/limit-tau-inf", source=SOURCE,
                 description=f"||d_tau(m) - lmo(m)|| <= r(tau min|m_i|) for {V.name} "
                             f"(r(u) = {dict(entropic='2 exp(-2u)', algebraic='1/(2u^2)', box_quadratic='0 for u >= 1')[base]})",
                 assumptions="tau = 10^z0 in [1e-2, 1e8]; m with no zero entry; matrices with sigma_max/sigma_min "
                             f"<= {MAX_COND:g}", sample=sample,
                 margin=margin, allowance=allowance, batched=True, hp_route=False,
                 bounds=[[-2.0, 8.0]] + [[-np.inf, np.inf]] * k, budget_s=_BUDGET, cost=0.2,
                 tags=("identity", V.name, "limit"))


def claims() -> list:
    out = []
    for name in ZERO_C:
        out.append(limit_tau_zero(regularizer(name)))
        out.append(limit_tau_zero(Spectral(regularizer(name))))
    for name in INF_RATE:
        out.append(limit_tau_inf(regularizer(name)))
        out.append(limit_tau_inf(Spectral(regularizer(name))))
    return out
