"""The certification: the projection onto D (Regularizer.project, each regularizer's own), f in float64 with
its rounding floor, the distance bounds a suboptimality eps certifies for the hard LMO, and the a-priori
diameter of where d* lies (a tolerance not below it certifies nothing).
"""

from __future__ import annotations

import math

import numpy as np

from ..regularizers import BallQuadratic, Regularizer, SeparableRegularizer
from ..spectral import Spectral


_U = np.finfo(np.float64).eps


def _project(V: Regularizer, d: np.ndarray) -> np.ndarray:
    """The Euclidean projection onto D that V knows (V.project; non-expansive towards d* in D), else the
    point as solved: an infeasible one makes U = +inf, reported as 'no certificate', never as agreement."""
    p = V.project(d)
    return d if p is None else np.asarray(p, dtype=np.float64)


def _value(V: Regularizer, d: np.ndarray, tol: float) -> float:
    """V(d) for d in D up to ``tol``: a projected matrix's recomputed singular values may exceed the
    bound by a few ulps, which V.value would read as outside D (+inf)."""
    if isinstance(V, Spectral):
        s = np.linalg.svd(d, compute_uv=False)
        if isinstance(V.base, SeparableRegularizer) and np.all(V.base.domain.contains(s, tol)):
            s = V.base.domain.clip(s)
        elif isinstance(V.base, BallQuadratic) and np.linalg.norm(s) <= 1 + tol:
            s = s / max(1.0, float(np.linalg.norm(s)))
        return float(V.base.value(s))
    return float(np.sum(V.value(d)))


def _objective(V, m, d, tau, tol) -> tuple[float, float]:
    """(f(d), sum of |terms|) in float64; f(d) = <m, d> + V(d)/tau (tau = inf: <m, d>)."""
    lin = m * d
    val = _value(V, d, tol) / tau if math.isfinite(tau) else 0.0
    return float(np.sum(lin)) + val, float(np.sum(np.abs(lin))) + abs(val)


def _float_floor(n: int, scale: float) -> float:
    # worst-case float64 error of a sum of n rounded terms is n u sum|terms|; the factor 16 covers the
    # few ulps of each v(x_i) and the SVD's backward error (~ n u ||D||) in the spectral V.value
    return 16.0 * n * _U * max(scale, 1.0)


def _linear_bound(V: Regularizer, m: np.ndarray, d: np.ndarray, g: np.ndarray, eps: float):
    """(distance, tolerance, note) for a linear objective (the hard LMO); tolerance nan when the LMO is
    not unique or no bound is known for this domain."""
    if isinstance(V, Spectral):
        base = V.base
        if isinstance(base, BallQuadratic):
            nrm = np.linalg.norm(m)
            return (float(np.linalg.norm(d - g)), math.sqrt(2 * eps / nrm),
                    "Frobenius ball: ||D - D*||^2 <= 2 eps/||M||_F")
        a = base.domain.hi
        s = np.linalg.svd(m, compute_uv=False)
        # a computed singular value is within ~ n u sigma_max of the exact one: keep the bound safe
        smin = s[-1] - 4 * m.size * _U * s[0]
        dist = float(np.linalg.norm(d - g))
        if smin <= 0:
            return dist, math.nan, ("M is rank-deficient, so the polar factor is not unique: compared "
                                    "objective values only")
        return dist, math.sqrt(2 * a * eps / smin), "spectral ball: ||D - D*||_F^2 <= 2 a eps / sigma_min(M)"
    if isinstance(V, BallQuadratic):
        nrm = np.linalg.norm(m)
        return float(np.linalg.norm(d - g)), math.sqrt(2 * eps / nrm), "l2 ball: ||d - d*||^2 <= 2 eps/||m||"
    if not isinstance(V, SeparableRegularizer):
        return (float(np.linalg.norm(d - g)), math.nan,
                "no distance bound known for this D: compared objective values only")
    dom = V.domain
    on = m != 0
    if not np.any(on):
        return math.nan, math.nan, "m = 0: every point of D is optimal; compared objective values only"
    dist = float(np.linalg.norm((d - g)[on]))
    note = ("interval: f(d) - f* = sum_i |m_i| |d_i - d*_i|, so ||(d - d*)_S||^2 <= (hi - lo) eps / "
            "min_S |m_i| on S = {m_i != 0}")
    if not np.all(on):
        note += f"; {int(np.sum(~on))} coordinates with m_i = 0 (any d_i optimal) left out"
    return dist, math.sqrt((dom.hi - dom.lo) * eps / float(np.min(np.abs(m[on])))), note


def _a_priori_diameter(V: Regularizer, m: np.ndarray, tau: float) -> tuple[float, str]:
    """(diam S, what S is) for S = D intersected with the ball ||d|| <= 2 tau ||m|| / mu, where d* lies
    before any solve (see geomrelax.crosscheck)."""
    dirs = [np.ones_like(m), np.sign(m), m]
    if m.ndim == 2:
        dirs.append(np.eye(*m.shape))
    units = np.stack([u / np.linalg.norm(u) for u in dirs if np.linalg.norm(u) > 0])
    with np.errstate(all="ignore"):
        widths = np.asarray(V.support(units), float) + np.asarray(V.support(-units), float)
    diam = float(np.max(widths)) if widths.size and not np.any(np.isnan(widths)) else math.inf
    what = "the diameter of D"
    if V.mu > 0 and math.isfinite(tau) and V.norm in ("l2", "fro"):
        ball = 4.0 * tau * float(np.linalg.norm(m)) / V.mu
        if ball < diam:
            diam, what = ball, "the diameter 4 tau ||m|| / mu of the ball that holds d*"
    return diam, what
