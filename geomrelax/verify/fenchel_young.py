"""Fenchel-Young: V(x) + V*(y) - <x, y> >= 0 for x in D and all y, with equality at x = grad V*(y).
"""

from __future__ import annotations

import numpy as np

from .geometry import TOL, ULPS, _Geo
from .runner import _Spec


def _pairs(geo: _Geo, rng, n: int, shape):
    """(x, y) pairs: random, boundary-x with huge/kink y, and zeros."""
    xr = geo.rand_x(rng, n, shape)
    xb = geo.boundary_x(rng, max(2, n // 4), shape)
    ys = geo.special_y(rng, shape)
    yr = geo.rand_y(rng, n, shape)
    x = np.concatenate([xr, xb, xb[: len(ys)] if len(xb) >= len(ys) else geo.rand_x(rng, len(ys), shape)])
    y = np.concatenate([yr, geo.rand_y(rng, len(xb), shape) * 100, ys])
    return x, y


def fy_gap(geo: _Geo, x, y):
    """(V(x) + V*(y) - <x, y>, its rounding allowance) per point: the terms to a few ulps each,
    TOL (1 + |V(x)| + |V*(y)| + sum |x_i y_i|), plus how far V moves under a rounding-size change of x.
    Shared by the checks below and proofs_check's Fenchel-Young claims."""
    vx, vy = geo.value(x), geo.conj(y)
    with np.errstate(all="ignore"):
        gap = vx + vy - geo.inner(x, y)
        allow = TOL * (1 + np.abs(vx) + np.abs(vy) + geo.abs_inner(x, y)) + geo.sens(x)
    return gap, allow


def fy_equality(geo: _Geo, y):
    """(|V(x) + V*(y) - <x, y>| at x = grad V*(y), allowance) per point; inf (allowance 1) where x is
    outside D by more than rounding, TOL max(1, max over D of |x_i|): grad V*(y) must lie in D. An x that
    rounding put just outside is pulled inside by a few ulps first (V(x) would read +inf there)."""
    V = geo.V
    x = geo.grad_conj(y)
    inside = np.asarray(V.contains(x, tol=TOL * max(1.0, geo.radius_inf() if V.bounded else 1.0)))
    gap, allow = fy_gap(geo, geo.pull_inside(x), y)
    return np.where(inside, np.abs(gap), np.inf), np.where(inside, allow, 1.0)


def _check_fy_inequality(geo, rng, n, search):
    def evaluate(p):
        gap, allow = fy_gap(geo, p["x"], p["y"])
        return -gap, allow

    x, y = _pairs(geo, rng, n, geo.shape)
    sx, sy = _pairs(geo, rng, n, geo.search_shape)
    return _Spec("fenchel_young_inequality", evaluate, {"x": x, "y": y}, {"x": "domain", "y": "free"},
                 {"x": sx, "y": sy}, note=f"-(V(x)+V*(y)-<x,y>) <= {ULPS} ulps of the terms")


def _check_fy_equality(geo, rng, n, search):
    y = np.concatenate([geo.rand_y(rng, n, geo.shape), geo.special_y(rng, geo.shape)])
    sy = np.concatenate([geo.rand_y(rng, n, geo.search_shape), geo.special_y(rng, geo.search_shape)])
    return _Spec("fenchel_young_equality", lambda p: fy_equality(geo, p["y"]), {"y": y}, {"y": "free"}, {"y": sy},
                 note=f"|V(x)+V*(y)-<x,y>| at x = grad V*(y), which must lie in D; {ULPS} ulps of the terms")
