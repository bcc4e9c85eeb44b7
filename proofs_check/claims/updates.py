"""Bounded updates: the relaxed LMO, S3 and Adam.

    ||d_tau(m)||_D <= 1        d_tau(m) = grad V*(-tau m) lies in D (gauge of D at most 1), every m, tau
    |n_t / b_t| <= 1           S3 (SoftSignSGD), coordinate-wise, every gradient sequence, p >= 1
    |m_hat_t / sqrt(v_hat_t)| <= R_t(beta1, beta2)   Adam, every gradient sequence (derived below)

S3: n_t = beta m_t + (1-beta) g_t and b_t^p = beta r_t + (1-beta)|g_t|^p put the same weights
w_i >= 0 (sum W <= 1) on g_i and on |g_i|^p, so |n_t| <= sum w_i |g_i| <= W^(1-1/p) (sum w_i |g_i|^p)^(1/p)
<= b_t by Hoelder (p >= 1). For p < 1 the middle step fails (the claim s3-ratio-p-below-1 shows it).

Adam (derivation): m_t = (1-b1) sum_{k<t} b1^k g_{t-k}, v_t = (1-b2) sum_{k<t} b2^k g_{t-k}^2. Writing
(1-b1) b1^k = [(1-b1) b1^k / sqrt((1-b2) b2^k)] sqrt((1-b2) b2^k), Cauchy-Schwarz gives
|m_t| <= (1-b1)/sqrt(1-b2) sqrt(sum_{k<t} gamma^k) sqrt(v_t), gamma = b1^2/b2, hence with the bias
corrections m_hat = m_t/(1-b1^t), v_hat = v_t/(1-b2^t):

    |m_hat_t| / sqrt(v_hat_t) <= R_t = (1-b1) sqrt(1-b2^t) / ((1-b1^t) sqrt(1-b2)) * sqrt(sum_{k<t} gamma^k),

with equality iff g_{t-k} is proportional to (b1/b2)^k. For b1 = b2 = b: gamma = b and R_t = 1
exactly (equality for constant gradients). For b1^2 < b2, R_t increases to
(1-b1) / sqrt((1-b2)(1 - b1^2/b2)): 7.27 for the defaults (0.9, 0.999). So "|Adam step| <= lr" is
false in general (claim adam-ratio-at-most-1, expected violated), true for b1 = b2.
"""

from __future__ import annotations

import math

import numpy as np

from geomrelax.regularizers import BallQuadratic, SeparableRegularizer, regularizer
from geomrelax.spectral import Spectral
from geomrelax.updates import s3_direction, s3_moments

from ..claim import Claim

EPS = float(np.finfo(np.float64).eps)
T_STEPS = 12
VEC = 4
SHAPE = (3, 2)


def _gauge(V, d):
    """The gauge of D at d (the norm whose unit ball is D): max |d_i|/hi, ||d||_2, or the lift's."""
    if isinstance(V, Spectral):
        return _gauge(V.base, np.linalg.svd(d, compute_uv=False))
    if isinstance(V, SeparableRegularizer):
        return float(np.max(np.abs(d)) / V.domain.hi)
    if isinstance(V, BallQuadratic):
        return float(np.linalg.norm(d))
    raise TypeError(f"no gauge for {V!r}")


def relaxed_lmo_bounded(V) -> Claim:
    shape = SHAPE if V.event_ndim == 2 else (VEC,)
    k = int(np.prod(shape))

    def margin(z):
        tau, m = 10.0 ** z[0], z[1:].reshape(shape)
        return _gauge(V, np.asarray(V.grad_conj(-tau * m), dtype=float)) - 1.0

    def allowance(z):
        # a computed norm is off by a few ulps per term; singular values by ~eps times the
        # matrix size (backward-stable SVD): TOL-free, stated in ulps of the value 1
        return 4 * k * EPS

    def sample(rng):
        return np.concatenate([[rng.uniform(-3, 8)], rng.standard_normal(k) * 10.0 ** rng.uniform(-4, 4)])

    return Claim(id=f"bounded/relaxed-lmo/{V.name.replace('spectral(', 'spectral-').replace(')', '')}",
                 source="Softsign (arXiv 2605.31371): d_tau(m) = grad V*(-tau m) lies in D",
                 description=f"||d_tau(m)||_D <= 1 for {V.name} (gauge of D)",
                 assumptions="tau = 10^z0 in [1e-3, 1e8], m free", sample=sample, margin=margin,
                 allowance=allowance, hp_route=False, bounds=[[-3.0, 8.0]] + [[-np.inf, np.inf]] * k,
                 theoretical=1.0, bound="upper", cost=1.0 if V.event_ndim == 1 else 3.0,
                 tags=("bounded", V.name))


def _s3_ratio(z, p_lo, p_hi):
    """max_t |n_t / b_t| over a gradient sequence; z = [beta in (0,1) by clip, p by clip, g_1..g_T]."""
    beta = np.clip(z[0], 0.0, 0.999)
    p = np.clip(z[1], p_lo, p_hi)
    g_seq = z[2:]
    m = r = None
    worst = 0.0
    for g in g_seq:
        g = np.array([g])
        m, r, gp = s3_moments(m, r, g, beta, p)
        d = s3_direction(m, r, g, gp, beta, p, 0.0)
        worst = max(worst, float(np.abs(d[0])))
    return worst


def _s3_sample(p_lo, p_hi):
    def sample(rng):
        g = rng.standard_normal(T_STEPS) * 10.0 ** rng.uniform(-3, 3, size=T_STEPS)
        g = np.where(rng.uniform(size=T_STEPS) < 0.2, 0.0, g)
        return np.concatenate([[rng.uniform(0, 0.999), rng.uniform(p_lo, p_hi)], g])
    return sample


def s3_bounded() -> Claim:
    return Claim(id="bounded/s3-ratio", source="S3 / SoftSignSGD (arXiv 2507.06464, reconstruction: shared EMA weights "
                 "+ Hoelder)", description=f"|n_t / b_t| <= 1 for every gradient sequence (T = {T_STEPS}), beta in [0, 0.999], p in [1, 8]",
                 assumptions="eps = 0 (0/0 := 0), p >= 1", sample=_s3_sample(1.0, 8.0),
                 margin=lambda z: _s3_ratio(z, 1.0, 8.0) - 1.0, allowance=lambda z: 16 * T_STEPS * EPS,
                 hp_route=False, bounds=[[0.0, 0.999], [1.0, 8.0]] + [[-np.inf, np.inf]] * T_STEPS,
                 theoretical=1.0, bound="upper", cost=4.0, tags=("bounded", "s3"))


def s3_below_one() -> Claim:
    return Claim(id="bounded/s3-ratio-p-below-1", source="S3 (arXiv 2507.06464) outside its assumption p >= 1",
                 description=f"|n_t / b_t| <= 1 also for p in [0.25, 1) (expected false: Hoelder needs p >= 1)",
                 assumptions="eps = 0, p < 1", sample=_s3_sample(0.25, 0.999),
                 margin=lambda z: _s3_ratio(z, 0.25, 0.999) - 1.0, allowance=lambda z: 16 * T_STEPS * EPS,
                 hp_route=False, bounds=[[0.0, 0.999], [0.25, 0.999]] + [[-np.inf, np.inf]] * T_STEPS,
                 theoretical=1.0, bound="upper", cost=4.0, expected="violated", tags=("bounded", "s3", "finding"))


def adam_bound(b1, b2, t) -> float:
    """R_t(b1, b2) of the module docstring (the largest |m_hat_t| / sqrt(v_hat_t)).

    b2 = 0 (v_t = g_t^2): R_t = 1 for b1 = 0, else unbounded (a zero last gradient)."""
    if b2 == 0:
        return 1.0 if b1 == 0 else math.inf
    gamma = b1 * b1 / b2
    s = sum(gamma ** k for k in range(t))
    return (1 - b1) * np.sqrt(1 - b2 ** t) / ((1 - b1 ** t) * np.sqrt(1 - b2)) * np.sqrt(s)


def _adam_ratio(b1, b2, g):
    """|m_hat_t| / sqrt(v_hat_t) after the gradients g_1..g_t (zero state at the start)."""
    m = v = 0.0 * g[0]
    for gi in g:
        m = b1 * m + (1 - b1) * gi
        v = b2 * v + (1 - b2) * gi * gi
    t = len(g)
    mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return None if vh == 0 else np.abs(mh) / np.sqrt(vh)


def _adam_betas(z, equal):
    b1 = np.clip(z[0], 0.0, 0.999)
    b2 = b1 if equal else np.clip(z[1], 0.5, 0.9999)
    return b1, b2


def adam_ratio(equal: bool, bound_one: bool = False) -> Claim:
    """The Adam ratio bound R_t; equal betas (R_t = 1); or the false 'ratio <= 1 for all betas'."""
    def margin(z):
        b1, b2 = _adam_betas(z, equal)
        q = _adam_ratio(b1, b2, z[2:])
        if q is None:
            return -np.inf
        return q - 1.0 if (bound_one or equal) else q / adam_bound(b1, b2, T_STEPS) - 1.0

    def sample(rng):
        b1 = rng.choice([0.0, 0.5, 0.9, 0.95, 0.99, rng.uniform(0, 0.999)])
        b2 = rng.choice([0.9, 0.99, 0.999, 0.9999, rng.uniform(0.5, 0.9999)])
        g = rng.standard_normal(T_STEPS) * 10.0 ** rng.uniform(-2, 2, size=T_STEPS)
        return np.concatenate([[b1, b2], g])

    def edges(rng):
        # the equality case g_{t-k} = (b1/b2)^k, at a few betas
        rows = []
        for b1, b2 in ((0.9, 0.999), (0.5, 0.9), (0.95, 0.95), (0.0, 0.99), (0.99, 0.9999)):
            b2 = b1 if equal else b2
            ks = np.arange(T_STEPS)[::-1]
            g = (b1 / b2) ** ks if b2 > 0 else np.zeros(T_STEPS)
            rows.append(np.concatenate([[b1, b2], g]))
        return np.array(rows)

    if bound_one:
        ident, desc, exp = "bounded/adam-ratio-at-most-1", "|m_hat_t / sqrt(v_hat_t)| <= 1 for all beta1, beta2 (a common belief)", "violated"
        theo = 1.0
    elif equal:
        ident, desc, exp = "bounded/adam-ratio-equal-betas", "|m_hat_t / sqrt(v_hat_t)| <= 1 when beta1 = beta2 (equality for constant gradients)", "holds"
        theo = 1.0
    else:
        ident, desc, exp = "bounded/adam-ratio", (f"|m_hat_t / sqrt(v_hat_t)| / R_t(b1, b2) <= 1, R_t = (1-b1) sqrt(1-b2^t) / "
                                                   f"((1-b1^t) sqrt(1-b2)) sqrt(sum_(k<t) (b1^2/b2)^k), t = {T_STEPS}"), "holds"
        theo = 1.0
    return Claim(id=ident, source="reconstruction (Cauchy-Schwarz on the EMA weights; Adam: Kingma & Ba 2015)",
                 description=desc, assumptions=f"zero initial moments, t = {T_STEPS} steps, eps = 0, v_t > 0",
                 sample=sample, edges=edges, margin=margin,
                 bounds=[[0.0, 0.999], [0.5, 0.9999]] + [[-np.inf, np.inf]] * T_STEPS,
                 theoretical=theo, bound="upper", cost=3.0, expected=exp,
                 tags=("bounded", "adam") + (("finding",) if exp == "violated" else ("rounding-tight",)))


def claims() -> list:
    out = [relaxed_lmo_bounded(regularizer(n)) for n in ("entropic", "algebraic", "box_quadratic", "ball_quadratic")]
    out += [relaxed_lmo_bounded(Spectral(regularizer(n))) for n in ("entropic", "algebraic")]
    out += [s3_bounded(), s3_below_one(), adam_ratio(False), adam_ratio(True), adam_ratio(False, bound_one=True)]
    return out
