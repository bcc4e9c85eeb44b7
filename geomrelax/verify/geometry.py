"""The geometry the checks share: the rounding allowance, the norms, the domain D of a regularizer seen
through its interface (projections, interior, boundary and kink points), and the point sets.
"""

from __future__ import annotations

import math

import numpy as np

from ..norms import InvalidNormError, NormSpec, dual_norm, norm_value, parse_norm
from ..regularizers import Regularizer, SeparableRegularizer
from ..spectral import Spectral


EPS = float(np.finfo(np.float64).eps)

# Rounding allowance in ulps of the quantities' magnitudes. Each checked quantity is a sum of at most
# ~12 terms (d = 4 coordinates or 6 matrix entries, 3 functions) computed by libm/LAPACK to a few ulps
# each; 64 ulps covers that with margin: over the built-ins and their spectral lifts the worst
# residual/allowance measured is 0.25 (tests/test_verify.py keeps it below 1/2).
ULPS = 64

TOL = ULPS * EPS

VECTOR_DIM = 4

MATRIX_SHAPE = (3, 2)

SEARCH_BOX = 1e12

def norm_spec(name: str, ev: int) -> NormSpec:
    """The norm in which V's mu is stated (any geomrelax.norms name); a matrix norm needs matrices.

    On vectors the Frobenius norm is the l2 norm, so 'fro' (Regularizer's default spelling) stays valid there."""
    spec = parse_norm(name)
    if spec.matrix and ev == 1:
        if spec.family != "frobenius":
            raise InvalidNormError(f"norm {name!r} is a matrix norm, but V acts on vectors")
        spec = parse_norm("l2")
    return spec


def event_norm(spec: NormSpec, a, ev: int, dual: bool = False) -> np.ndarray:
    """||a|| (``dual``: the dual norm ||a||_*) per event over the last ``ev`` axes.

    An event with a non-finite entry gets NaN (a NaN entry) or inf (else), as the sums of |a_i| would;
    geomrelax.norms refuses such input, and the checks judge such points rather than stop."""
    a = np.asarray(a, dtype=float)
    axes = tuple(range(-ev, 0))
    finite = np.all(np.isfinite(a), axis=axes)
    fn = dual_norm if dual else norm_value
    out = fn(spec, np.where(finite.reshape(finite.shape + (1,) * ev), a, 0.0), ndim=None if spec.matrix else ev)
    return np.where(finite, out, np.where(np.any(np.isnan(a), axis=axes), np.nan, np.inf))


class _Geo:
    """The regularizer plus the array plumbing the checks share (batch axis first)."""

    def __init__(self, V: Regularizer):
        self.V = V
        self.ev = V.event_ndim
        self.axes = tuple(range(-self.ev, 0))
        self.separable = isinstance(V, SeparableRegularizer)
        self.base = V.base if isinstance(V, Spectral) else None
        # spectral lift of a separable v on [-a, a]: D and its interior are read off sigma_max
        self.spec_sep = (self.base is not None and isinstance(self.base, SeparableRegularizer)
                         and self.base.domain.symmetric)
        self.shape = MATRIX_SHAPE if self.ev == 2 else (VECTOR_DIM,)
        # separable V: the identities separate per coordinate, so a scalar search is exhaustive
        self.search_shape = (1,) if self.separable else self.shape
        self.size = int(np.prod(self.shape))
        self._zero_interior = None
        self._radius_inf = None

    # sums over the event axes
    def inner(self, a, b):
        return np.sum(a * b, axis=self.axes)

    def abs_inner(self, a, b):
        return np.sum(np.abs(a * b), axis=self.axes)

    def fro(self, a):
        return np.sqrt(np.sum(a * a, axis=self.axes))

    def maxabs(self, a):
        return np.max(np.abs(a), axis=self.axes)

    # V's maps as float arrays; overflow and 0/0 at extreme points are for the checks to judge, not to warn
    def _quiet(self, fn, a):
        with np.errstate(all="ignore"):
            return np.asarray(fn(a), dtype=float)

    def value(self, x):
        return self._quiet(self.V.value, x)

    def conj(self, y):
        return self._quiet(self.V.conj, y)

    def grad_conj(self, y):
        return self._quiet(self.V.grad_conj, y)

    def grad(self, x):
        return self._quiet(self.V.grad, x)

    def sens(self, x):
        """|V(x) - V((1 - TOL) x)|: how much V moves under a rounding-size relative change of x."""
        v0, v1 = self.value(x), self.value((1.0 - TOL) * x)
        with np.errstate(invalid="ignore"):
            d = np.abs(v0 - v1)
        return np.where(np.isfinite(d), d, 0.0)

    def radius_inf(self) -> float:
        """max over D of max_i |x_i| (from the support function: exact, also for non-separable D)."""
        if self._radius_inf is None:
            e = np.zeros((2 * self.size,) + self.shape)
            for k in range(self.size):
                e[2 * k].flat[k] = 1.0
                e[2 * k + 1].flat[k] = -1.0
            with np.errstate(all="ignore"):
                self._radius_inf = float(np.max(self.V.support(e)))
        return self._radius_inf

    def radius2(self) -> float:
        """An upper bound on max over D of ||x||_2 (= ||x||_F): sqrt(#entries) * max |x_i|."""
        return math.sqrt(self.size) * self.radius_inf()

    # maps from R^k onto D (used to parametrise the search) ---------------------------------------
    def to_domain(self, z):
        z = np.asarray(z, dtype=float)
        V = self.V
        if self.separable:
            return V.domain.clip(z)
        if self.spec_sep:
            u, s, vt = np.linalg.svd(z, full_matrices=False)
            x = (u * np.minimum(s, self.base.domain.hi)[..., None, :]) @ vt
            return self.pull_inside(x)
        # generic: radial bisection along the ray from 0 (D is convex and contains 0)
        inside = np.asarray(V.contains(z))
        lo = np.zeros(z.shape[:-self.ev])
        hi = np.ones(z.shape[:-self.ev])
        shape = lo.shape + (1,) * self.ev
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            ok = np.asarray(V.contains(z * mid.reshape(shape)))
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        t = np.where(inside, 1.0, lo).reshape(shape)
        return self.pull_inside(z * t)

    def pull_inside(self, x):
        """Shrink, by a few ulps, points that rounding put just outside dom V (V(x) = inf)."""
        x = np.array(x, dtype=float)
        for k in range(1, 12):
            bad = ~np.isfinite(self.value(x))
            if not np.any(bad):
                break
            near = np.asarray(self.V.contains(x, tol=TOL * max(1.0, self.radius_inf())))
            fix = bad & near
            if not np.any(fix):
                break
            f = fix.reshape(fix.shape + (1,) * self.ev)
            x = np.where(f, x * (1.0 - 2.0 ** k * EPS), x)
        return x

    def interior(self, x):
        """Whether x is in the interior of D with a finite grad V (separable: exactly; else by a 1e-10 cross)."""
        x = np.asarray(x, dtype=float)
        g = self.grad(x)
        finite = np.all(np.isfinite(g), axis=self.axes)
        if self.separable:
            lo, hi = self.V.domain.lo, self.V.domain.hi
            return finite & np.all((x > lo) & (x < hi), axis=self.axes)
        if self.spec_sep:
            # singular values carry an SVD error ~eps ||X||: closer to the bound than that is not interior
            hi = self.base.domain.hi
            return finite & (np.linalg.svd(x, compute_uv=False).max(-1) < hi * (1.0 - TOL))
        delta = 1e-10 * max(1.0, self.radius_inf() if self.V.bounded else 1.0)
        if self.zero_interior(delta):
            # 0 in int D and D convex: x is interior iff the gauge of x is < 1, i.e. (1 + delta) x in D
            return finite & np.asarray(self.V.contains(x * (1.0 + delta)))
        ok = finite.copy()
        for k in range(self.size):
            for sgn in (1.0, -1.0):
                xe = x.copy()
                xe.reshape(x.shape[:-self.ev] + (-1,))[..., k] += sgn * delta
                ok &= np.asarray(self.V.contains(xe))
        return ok

    def zero_interior(self, delta) -> bool:
        if self._zero_interior is None:
            e = np.zeros((2 * self.size,) + self.shape)
            for k in range(self.size):
                e[2 * k].flat[k] = delta
                e[2 * k + 1].flat[k] = -delta
            self._zero_interior = bool(np.all(self.V.contains(e)))
        return self._zero_interior

    def search_map(self, z, kind):
        """(points the search evaluates for parameters z, mask of valid ones) for a batch z.

        Separable and spectral-of-separable domains have an exact projection (clip); other domains
        reject points outside (the boundary itself is in the start pool), which avoids a bisection
        per evaluation.
        """
        n = len(z)
        # the identities are checked for |entries| <= 1e12: beyond, squares overflow to inf - inf = NaN
        z = np.clip(z, -SEARCH_BOX, SEARCH_BOX)
        if kind == "free":
            return z, np.ones(n, bool)
        if self.separable or self.spec_sep:
            return (self.to_domain(z) if kind == "domain" else self.to_interior(z)), np.ones(n, bool)
        if kind == "domain":
            return z, np.asarray(self.V.contains(z)) & np.isfinite(self.value(z))
        return z, np.asarray(self.interior(z))

    def to_interior(self, z):
        x = self.to_domain(z)
        if self.separable:
            lo, hi = self.V.domain.lo, self.V.domain.hi
            x = np.where(x >= hi, np.nextafter(hi, -np.inf), x)
            x = np.where(x <= lo, np.nextafter(lo, np.inf), x)
            return x
        return x * (1.0 - 1e-9)

    # point sets --------------------------------------------------------------------------------
    def rand_x(self, rng, n, shape, margin=0.0):
        return np.asarray(self.V.sample_domain(rng, (n,) + tuple(shape), margin), dtype=float)

    def boundary_x(self, rng, n, shape):
        """Points on the boundary of D and at relative distances 1e-2 .. 1e-14 inside it."""
        z = rng.standard_normal((n,) + tuple(shape)) * 1e6
        if not self.V.bounded:
            return z * 1e-4  # no boundary: large |x| instead
        xb = self.to_domain(z)
        if self.separable:  # exact endpoints, mixed per coordinate
            lo, hi = self.V.domain.lo, self.V.domain.hi
            xb = np.where(rng.uniform(size=xb.shape) < 0.5, lo, hi)
        shrink = 10.0 ** -rng.choice([2, 4, 6, 8, 10, 12, 14], size=(n,) + (1,) * len(shape))
        return np.concatenate([xb, self.pull_inside(xb * (1.0 - shrink))])

    def rand_y(self, rng, n, shape):
        scale = 10.0 ** rng.uniform(-3, 3, size=(n,) + (1,) * len(shape))
        return rng.standard_normal((n,) + tuple(shape)) * scale

    def special_y(self, rng, shape):
        """y = 0, tiny and huge y, y at the kinks of V* (where grad V* reaches the boundary of D), and y at
        the ends of the subdifferential [v'(0-), v'(0+)] when v has a kink at 0 (grad V* is flat there)."""
        kinks = [0.0]
        if self.separable or (self.base is not None and isinstance(self.base, SeparableRegularizer)):
            base = self.V if self.separable else self.base
            dl, dr, kink = _one_sided_dv(base, np.zeros(1))
            if kink[0]:
                kinks += [s * f for s in (float(dl[0]), float(dr[0])) if s != 0 for f in (1.0, 1 + 1e-9, 1 - 1e-9)]
            for end in (base.domain.lo, base.domain.hi):
                if math.isfinite(end) and end != 0:
                    with np.errstate(all="ignore"):
                        s = float(np.asarray(base.grad(np.array([end * (1 - 1e-15)])))[0])
                    if math.isfinite(s):
                        kinks += [s, s * (1 + 1e-9), s * (1 - 1e-9)]
        mags = np.array(kinks + [1e-9, 1e-6, 1e2, 1e4, 1e6, 1e8])
        n = len(mags)
        if self.ev == 2:
            g = rng.standard_normal((n,) + tuple(shape))
            u, _, vt = np.linalg.svd(g, full_matrices=False)
            s = np.repeat(np.abs(mags)[:, None], min(shape), axis=1)
            s[:, 1:] *= rng.uniform(0.3, 1.0, size=(n, min(shape) - 1))
            return (u * s[:, None, :]) @ vt
        signs = rng.choice([-1.0, 1.0], size=(n,) + tuple(shape))
        return signs * mags.reshape((n,) + (1,) * len(shape))


def geometry(V: Regularizer) -> _Geo:
    """The array plumbing of the identity checks for V: what the shared residuals (fenchel_young.fy_gap,
    curvature.smoothness_margin, ...) take, for verify and for proofs_check alike."""
    return _Geo(V)


def _one_sided_dv(base: SeparableRegularizer, x, delta=None):
    """(v'(x-), v'(x+), kink): v' at x -+ delta (default: the floats next to x), and whether v has a
    kink within delta of x.

    v' of a convex v is monotone with one-sided limits v'(x-) <= v'(x+); the subdifferential at x is
    [v'(x-), v'(x+)]. A kink is a jump larger than what a smooth v' moves over [x - delta, x + delta],
    4 max|v''| (x+ - x-) (4x slack over the mean value theorem), plus rounding of v' itself."""
    x = np.asarray(x, dtype=float)
    if delta is None:
        xl, xr = np.nextafter(x, -np.inf), np.nextafter(x, np.inf)
    else:
        xl, xr = x - delta, x + delta
    with np.errstate(all="ignore"):
        dl = np.asarray(base.dv(xl), dtype=float) + 0 * x
        dr = np.asarray(base.dv(xr), dtype=float) + 0 * x
        c = np.maximum(np.abs(np.asarray(base.d2v(xl), float)), np.abs(np.asarray(base.d2v(xr), float))) + 0 * x
        smooth = 4 * c * (xr - xl) + TOL * (1 + np.abs(dl) + np.abs(dr))
        kink = np.isfinite(dl) & np.isfinite(dr) & np.isfinite(c) & (dr - dl > smooth)
    return dl, dr, kink


def _rand_m(geo, rng, n):
    """Momenta bounded away from 0 (|m_i| or sigma_i in [0.05, 2]), so the hard LMO is unique."""
    if geo.ev == 2:
        g = rng.standard_normal((n,) + geo.shape)
        u, _, vt = np.linalg.svd(g, full_matrices=False)
        s = rng.uniform(0.05, 2.0, size=(n, min(geo.shape)))
        return (u * s[:, None, :]) @ vt
    return rng.choice([-1.0, 1.0], size=(n,) + geo.shape) * rng.uniform(0.05, 2.0, size=(n,) + geo.shape)
