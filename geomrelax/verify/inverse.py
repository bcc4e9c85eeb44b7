"""The inverse-gradient identities: grad V*(grad V(x)) = x on int D, and grad V(grad V*(y)) = y where
grad V*(y) is interior (membership in the subdifferential [v'(x-), v'(x+)] at a kink of a separable v).
"""

from __future__ import annotations

import numpy as np

from ..regularizers import SeparableRegularizer
from .geometry import TOL, ULPS, _Geo, _one_sided_dv
from .runner import _Spec


def _grad_lipschitz(geo: _Geo, x) -> np.ndarray:
    """A bound on the Lipschitz constant of grad V near each x (for the conditioning of grad V o grad V*).

    Separable: v''(x_i) per coordinate (returned with x's shape). Spectral of a separable base: every
    eigenvalue of the Hessian of F is v''(sigma_i), a divided difference (v'(s_i) -+ v'(s_j))/(s_i -+ s_j)
    or (rectangular X) v'(s_i)/s_i; the first kind is bounded by max v'' on [0, sigma_max] (mean value
    theorem), the sums by max_i |v'(s_i)|/s_i, which is also the only bound when v' jumps at 0 (a kink
    of v at 0: grad F is then ill-conditioned near rank-deficient X). Otherwise: central differences of
    grad V along 4 directions.
    """
    if geo.separable:
        with np.errstate(all="ignore"):
            return np.abs(np.asarray(geo.V.d2v(x), dtype=float))
    if geo.base is not None and isinstance(geo.base, SeparableRegularizer):
        s = np.linalg.svd(x, compute_uv=False) * (1.0 + TOL)  # sup over the SVD's error ball too
        t = np.linspace(0.0, 1.0, 65) * s.max(-1, keepdims=True)
        with np.errstate(all="ignore"):
            c = np.max(np.abs(np.asarray(geo.base.d2v(np.concatenate([t, s], -1)), float)), -1)
            ratio = np.abs(np.asarray(geo.base.dv(s), float)) / s
            c = np.maximum(c, np.max(np.where(s > 0, ratio, 0.0), -1))
        return c
    rng = np.random.default_rng(0)
    c = np.zeros(x.shape[:-geo.ev])
    h = 1e-6
    for _ in range(4):
        u = rng.standard_normal(x.shape)
        u /= geo.fro(u).reshape(c.shape + (1,) * geo.ev)
        xp, xm = geo.pull_inside(x + h * u), geo.pull_inside(x - h * u)
        with np.errstate(all="ignore"):
            c = np.maximum(c, 2 * geo.fro(geo.grad(xp) - geo.grad(xm)) / (2 * h))
    return c


def _check_inverse_conj_of_grad(geo, rng, n, search):
    mu = geo.V.mu

    def evaluate(p):
        x = p["x"]
        g = geo.grad(x)
        back = geo.grad_conj(g)
        with np.errstate(all="ignore"):
            # grad V* is (1/mu)-Lipschitz, so an error eps|g| in g moves the result by <= eps|g|/mu
            allow = TOL * (1 + geo.fro(x) + geo.fro(g) / mu)
            r = geo.fro(back - x)
        inner = geo.interior(x)
        return np.where(inner, r, -np.inf), allow, np.where(inner, 0, 1)

    x = geo.to_interior(np.concatenate([geo.rand_x(rng, n, geo.shape), geo.boundary_x(rng, n // 4, geo.shape)]))
    sx = geo.to_interior(np.concatenate([geo.rand_x(rng, n, geo.search_shape),
                                         geo.boundary_x(rng, n // 4, geo.search_shape)]))
    return _Spec("inverse_conj_of_grad", evaluate, {"x": x}, {"x": "interior"}, {"x": sx},
                 note=f"||grad V*(grad V(x)) - x|| <= {ULPS} eps (1 + |x| + |grad V(x)|/mu), x in int D",
                 skip_reasons=("x not in int D or grad V(x) not finite",))


_NOT_INTERIOR = "grad V*(y) not in int D (grad V is defined on int D only)"


def _check_inverse_grad_of_conj(geo, rng, n, search):
    """grad V(grad V*(y)) = y where x = grad V*(y) is interior. At a kink of V grad V is set-valued:
    separable V is checked for y in [v'(x-), v'(x+)] per coordinate there; a spectral lift whose
    singular values sit at a kink of v skips the point (y in the subdifferential is the Fenchel-Young
    equality V(x) + V*(y) = <x, y>, checked by fenchel_young_equality)."""
    spec_base = geo.base if geo.spec_sep else None

    def evaluate(p):
        y = p["y"]
        x = geo.grad_conj(y)
        inner_ok = geo.interior(x)
        g = geo.grad(x)
        c = _grad_lipschitz(geo, x)
        kinked = np.zeros(len(y), bool)
        with np.errstate(all="ignore"):
            if geo.separable:  # per coordinate: error in x_i of eps|x_i| is amplified by v''(x_i)
                dl, dr, kink = _one_sided_dv(geo.V, x)
                r_i = np.where(kink, np.maximum(np.maximum(dl - y, y - dr), 0.0), np.abs(g - y))
                a_i = TOL * (1 + np.abs(y) + c * np.abs(x))
                q = r_i / a_i
                i = np.argmax(np.where(np.isnan(q), np.inf, q).reshape(q.shape[0], -1), axis=1)
                r = np.take_along_axis(r_i.reshape(len(y), -1), i[:, None], 1)[:, 0]
                a = np.take_along_axis(a_i.reshape(len(y), -1), i[:, None], 1)[:, 0]
            else:
                r = geo.fro(g - y)
                a = TOL * (1 + geo.fro(y) + c * geo.fro(x))
                if spec_base is not None:
                    # x = U diag(s) W^T and its SVD each carry an error ~ (#entries) eps ||x||: a singular
                    # value that close to a kink may sit on it (measured: 75 eps at a 3 x 2 kink)
                    sv = np.linalg.svd(x, compute_uv=False)
                    delta = TOL * geo.size * np.maximum(sv.max(-1, keepdims=True), 1.0)
                    kinked = np.any(_one_sided_dv(spec_base, sv, delta)[2], axis=-1)
        skip = np.where(~inner_ok, 1, np.where(kinked, 2, 0))
        return np.where(skip > 0, -np.inf, r), np.where(skip > 0, 1.0, a), skip

    y = np.concatenate([geo.rand_y(rng, n, geo.shape), geo.special_y(rng, geo.shape)])
    sy = np.concatenate([geo.rand_y(rng, n, geo.search_shape), geo.special_y(rng, geo.search_shape)])
    note = f"|grad V(grad V*(y)) - y| <= {ULPS} eps (1 + |y| + Lip(grad V) |x|) where grad V*(y) in int D"
    if geo.separable:
        note += "; at a kink of v: v'(x-) <= y <= v'(x+)"
    return _Spec("inverse_grad_of_conj", evaluate, {"y": y}, {"y": "free"}, {"y": sy}, note=note,
                 skip_reasons=(_NOT_INTERIOR, "V not differentiable there (a singular value at a kink of v)"))
