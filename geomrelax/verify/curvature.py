"""Curvature: strong convexity of V with modulus mu and the matching smoothness of V* (1/mu, dual norm).
"""

from __future__ import annotations

import numpy as np

from .geometry import TOL, event_norm, norm_spec
from .runner import _Spec


def strong_convexity_margin(geo, ball, x1, x2):
    """(V(x1) + <grad V(x1), dx> + mu/2 ||dx||^2 - V(x2), its rounding allowance) per point, dx = x2 - x1,
    ||.|| the norm ``ball`` (norm_spec) of V's mu; > allowance is a violation (x1 in int D, x2 in D).

    The allowance: the terms to a few ulps each, TOL (1 + |V(x1)| + |V(x2)| + sum |g_i dx_i| + |g| |dx| + q),
    plus how far V moves under a rounding-size change of x1 and of x2 (both V values are rounded alike).
    Shared by the check below and proofs_check's strong-convexity claims."""
    v1, v2, g1 = geo.value(x1), geo.value(x2), geo.grad(x1)
    dx = x2 - x1
    with np.errstate(all="ignore"):
        q = 0.5 * geo.V.mu * event_norm(ball, dx, geo.ev) ** 2
        slack = v2 - v1 - geo.inner(g1, dx) - q
        allow = (TOL * (1 + np.abs(v1) + np.abs(v2) + geo.abs_inner(g1, dx) + geo.fro(g1) * geo.fro(dx) + q)
                 + geo.sens(x1) + geo.sens(x2))
    return -slack, allow


def smoothness_margin(geo, ball, y1, y2):
    """(V*(y2) - V*(y1) - <grad V*(y1), dy> - ||dy||_*^2/(2 mu), its rounding allowance) per point,
    dy = y2 - y1, ||.||_* the dual of the norm ``ball`` of V's mu; > allowance is a violation.
    Shared by the check below and proofs_check's conjugate-smoothness claims."""
    c1, c2, g1 = geo.conj(y1), geo.conj(y2), geo.grad_conj(y1)
    dy = y2 - y1
    with np.errstate(all="ignore"):
        q = event_norm(ball, dy, geo.ev, dual=True) ** 2 / (2 * geo.V.mu)
        slack = c1 + geo.inner(g1, dy) + q - c2
        allow = TOL * (1 + np.abs(c1) + np.abs(c2) + geo.abs_inner(g1, dy) + geo.fro(g1) * geo.fro(dy) + q)
    return -slack, allow


def _search_shape(geo, ball):
    """A separable V's curvature inequality splits into one per coordinate only in l2 (a sum of squares):
    for another norm the coordinates interact through the norm, so the search runs on the whole event."""
    return geo.search_shape if ball.family in ("l2", "frobenius") else geo.shape


def _check_strong_convexity(geo, rng, n, search):
    V = geo.V
    mu, nm = V.mu, V.norm
    ball = norm_spec(nm, geo.ev)

    def evaluate(p):
        margin, allow = strong_convexity_margin(geo, ball, p["x1"], p["x2"])
        ok = geo.interior(p["x1"])
        return np.where(ok, margin, -np.inf), np.where(ok, allow, 1.0), np.where(ok, 0, 1)

    def pool(shape):
        x1 = geo.to_interior(np.concatenate([geo.rand_x(rng, n, shape), geo.boundary_x(rng, n // 4, shape)]))
        x2 = np.concatenate([geo.rand_x(rng, n, shape), geo.boundary_x(rng, n // 4, shape)])
        near = x1 + 1e-3 * rng.standard_normal(x1.shape)  # short segments probe the curvature itself
        return {"x1": np.concatenate([x1, x1]), "x2": np.concatenate([x2, geo.to_domain(near)])}

    spec = _Spec("strong_convexity", evaluate, pool(geo.shape), {"x1": "interior", "x2": "domain"},
                 pool(_search_shape(geo, ball)), skip_reasons=("x1 not in int D (grad V(x1) undefined)",))
    p = spec.points
    with np.errstate(all="ignore"):
        dx = p["x2"] - p["x1"]
        nd = event_norm(ball, dx, geo.ev)
        est = 2 * (geo.value(p["x2"]) - geo.value(p["x1"]) - geo.inner(geo.grad(p["x1"]), dx)) / nd ** 2
    est = est[(nd > 1e-4) & np.isfinite(est) & geo.interior(p["x1"])]
    tight = f"; smallest observed 2 D_V/||dx||^2 = {est.min():.4g}" if est.size else ""
    spec.note = f"V(x2) - V(x1) - <grad V(x1), dx> - mu/2 ||dx||^2 >= 0 with mu = {mu:g} ({nm}){tight}"
    return spec


def _check_smoothness(geo, rng, n, search):
    V = geo.V
    mu, ball = V.mu, norm_spec(V.norm, geo.ev)

    def evaluate(p):
        return smoothness_margin(geo, ball, p["y1"], p["y2"])

    def pool(shape):
        y1 = np.concatenate([geo.rand_y(rng, n, shape), geo.special_y(rng, shape)])
        y2 = np.concatenate([geo.rand_y(rng, n, shape), geo.special_y(rng, shape)[::-1]])
        near = y1 + 1e-2 * rng.standard_normal(y1.shape)
        return {"y1": np.concatenate([y1, y1]), "y2": np.concatenate([y2, near])}

    spec = _Spec("smoothness_conj", evaluate, pool(geo.shape), {"y1": "free", "y2": "free"},
                 pool(_search_shape(geo, ball)))
    p = spec.points
    with np.errstate(all="ignore"):
        dy = p["y2"] - p["y1"]
        nd = event_norm(ball, dy, geo.ev, dual=True)
        est = 2 * (geo.conj(p["y2"]) - geo.conj(p["y1"]) - geo.inner(geo.grad_conj(p["y1"]), dy)) / nd ** 2
    est = est[(nd > 1e-4) & np.isfinite(est)]
    tight = f"; largest observed 2 D_V*/||dy||^2 = {est.max():.4g} (1/mu = {1 / mu:.4g})" if est.size else ""
    spec.note = f"V*(y2) <= V*(y1) + <grad V*(y1), dy> + ||dy||_*^2/(2 mu), dual norm of {V.norm}{tight}"
    return spec
