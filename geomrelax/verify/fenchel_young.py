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


def _check_fy_inequality(geo, rng, n, search):
    def evaluate(p):
        x, y = p["x"], p["y"]
        vx, vy, xy = geo.value(x), geo.conj(y), geo.inner(x, y)
        with np.errstate(all="ignore"):
            gap = vx + vy - xy
            allow = TOL * (1 + np.abs(vx) + np.abs(vy) + geo.abs_inner(x, y)) + geo.sens(x)
        return -gap, allow

    x, y = _pairs(geo, rng, n, geo.shape)
    sx, sy = _pairs(geo, rng, n, geo.search_shape)
    return _Spec("fenchel_young_inequality", evaluate, {"x": x, "y": y}, {"x": "domain", "y": "free"},
                 {"x": sx, "y": sy}, note=f"-(V(x)+V*(y)-<x,y>) <= {ULPS} ulps of the terms")


def _check_fy_equality(geo, rng, n, search):
    V = geo.V

    def evaluate(p):
        y = p["y"]
        x = geo.grad_conj(y)
        inside = np.asarray(V.contains(x, tol=TOL * max(1.0, geo.radius_inf() if V.bounded else 1.0)))
        x = geo.pull_inside(x)
        vx, vy = geo.value(x), geo.conj(y)
        with np.errstate(all="ignore"):
            gap = vx + vy - geo.inner(x, y)
            allow = TOL * (1 + np.abs(vx) + np.abs(vy) + geo.abs_inner(x, y)) + geo.sens(x)
        return np.where(inside, np.abs(gap), np.inf), np.where(inside, allow, 1.0)

    y = np.concatenate([geo.rand_y(rng, n, geo.shape), geo.special_y(rng, geo.shape)])
    sy = np.concatenate([geo.rand_y(rng, n, geo.search_shape), geo.special_y(rng, geo.search_shape)])
    return _Spec("fenchel_young_equality", evaluate, {"y": y}, {"y": "free"}, {"y": sy},
                 note=f"|V(x)+V*(y)-<x,y>| at x = grad V*(y), which must lie in D; {ULPS} ulps of the terms")
