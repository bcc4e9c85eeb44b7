"""The biconjugate: V**(x) = sup_y <x, y> - V*(y) = V(x) on D, the sup computed from values of V* only.
"""

from __future__ import annotations

import math

import numpy as np

from ..search import local_search
from .geometry import TOL, ULPS
from .runner import _Spec


Y_BIG = 1e8  # search bound for sup_y in the biconjugate: rounding ~ eps * Y_BIG stays ~1e-8


def _sup_conj(geo, X, Y0, rng):
    """max_y <x, y> - V*(y) for each row x of X (batched), and the best y found.

    Candidates: y0 (grad V at or next to x); for a scalar problem a golden-section search on
    [-Y_BIG, Y_BIG] (the objective is concave); then the batched local search from the best. Only
    values of V* enter: nothing here uses grad V*.
    """
    ax = geo.axes

    def g(Y, Xr):
        with np.errstate(all="ignore"):
            v = np.sum(Xr * Y, axis=ax) - geo.conj(Y)
        return np.where(np.isfinite(v), v, -np.inf)

    best_y = np.where(np.isfinite(Y0), Y0, 0.0)
    best = g(best_y, X)
    if X[0].size == 1:
        inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
        shape = (len(X),) + X.shape[1:]
        a, b = np.full(len(X), -Y_BIG), np.full(len(X), Y_BIG)
        for _ in range(170):  # 2e8 * 0.618^170 < 1e-27: down to adjacent floats around the maximiser
            c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
            left = g(c.reshape(shape), X) >= g(d.reshape(shape), X)  # concave: the max is in [a, d]
            b = np.where(left, d, b)
            a = np.where(left, a, c)
        for cand in (a, b, 0.5 * (a + b)):
            fcand = g(cand.reshape(shape), X)
            up = fcand > best
            best_y = np.where(up.reshape((-1,) + (1,) * geo.ev), cand.reshape(shape), best_y)
            best = np.maximum(best, fcand)
    S, dim = len(X), X[0].size

    def score(C):  # C: (S, m, dim)
        m = C.shape[1]
        Y = C.reshape((S * m,) + X.shape[1:])
        return g(Y, np.repeat(X, m, axis=0)).reshape(S, m)

    P = local_search(score, best_y.reshape(S, dim), rng, iters=40, k=8)
    fP = score(P[:, None, :])[:, 0]
    up = fP > best
    best_y = np.where(up.reshape((-1,) + (1,) * geo.ev), P.reshape(X.shape), best_y)
    return np.maximum(best, fP), best_y


def _check_biconjugate(geo, rng, n, search):
    shape = geo.search_shape
    m = max(8, n // 2) if geo.ev == 1 else max(6, n // 4)
    x = np.concatenate([geo.rand_x(rng, m, shape), geo.boundary_x(rng, max(2, m // 2), shape),
                        np.zeros((1,) + tuple(shape))])
    ev = (1,) * geo.ev

    def evaluate(p):
        X = p["x"]
        vx = geo.value(X)
        inner_ok = geo.interior(X)
        # boundary points start from grad V at x' = (1 - 1e-12) x: by convexity
        # <x, y0> - V*(y0) = V(x) - D_V(x, x') there, a derived lower bound on V**(x) (slack D_V)
        Xp = np.where(inner_ok.reshape((-1,) + ev), X, geo.pull_inside(X * (1 - 1e-12)))
        Y0 = geo.grad(Xp)
        with np.errstate(all="ignore"):
            slack = np.where(inner_ok, 0.0, vx - geo.value(Xp) - geo.inner(Y0, X - Xp))
        bad = ~np.isfinite(slack) | ~np.all(np.isfinite(Y0), axis=geo.axes)
        slack = np.maximum(np.where(bad, 0.0, slack), 0.0)
        Y0 = np.where(bad.reshape((-1,) + ev), 0.0, Y0)
        best, yb = _sup_conj(geo, X, Y0, np.random.default_rng(0))
        with np.errstate(all="ignore"):
            r = np.maximum(vx - slack - best, best - vx)
            a = TOL * (1 + np.abs(vx) + geo.abs_inner(X, yb) + np.abs(geo.conj(yb))) + geo.sens(X) + 1e-15
        # V(x) = +inf (an open end of dom V): V** = +inf there as well, since V is closed, and a finite
        # numerical sup can neither confirm nor refute +inf
        infinite = np.isposinf(vx)
        return np.where(infinite, -np.inf, r), np.where(infinite, 1.0, a), infinite.astype(int)

    return _Spec("biconjugate", evaluate, {"x": x}, {"x": "domain"},
                 skip_reasons=("V(x) = +inf (so is V** for a closed V; a numerical sup cannot certify +inf)",),
                 note="V**(x) = max_y <x,y> - V*(y) from V* values only (golden section on [-1e8, 1e8] per "
                      f"coordinate, local search from grad V(x)); {ULPS} ulps (+ D_V(x, x') at boundary points)")
