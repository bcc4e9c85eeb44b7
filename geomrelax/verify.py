"""Identity checks for a regularizer: does the code compute the conjugate pair it claims?

``verify(V)`` tests the identities of the theory note (section 5) on random points and on
adversarially searched ones (a batched adaptive evolution strategy maximising the violation, started
from the worst random points; points on and near the boundary of D, near kinks of V*, at large |y|):

    fenchel_young_inequality   V(x) + V*(y) - <x, y> >= 0                    for x in D, all y
    fenchel_young_equality     V(x) + V*(y) - <x, y> = 0 and x in D          at x = grad V*(y)
    inverse_conj_of_grad       grad V*(grad V(x)) = x                        x in int D
    inverse_grad_of_conj       grad V(grad V*(y)) = y                        where grad V*(y) in int D
    biconjugate                V**(x) = sup_y <x, y> - V*(y) = V(x)          x in D (sup computed numerically)
    strong_convexity           V(x2) >= V(x1) + <grad V(x1), x2 - x1> + mu/2 ||x2 - x1||^2
    smoothness_conj            V*(y2) <= V*(y1) + <grad V*(y1), y2 - y1> + 1/(2 mu) ||y2 - y1||_*^2
    limit_tau_inf_lmo          d_tau(m) -> lmo(m), at the rate of the exact root of v'(x) = tau |m|
    limit_tau_inf_support      0 <= support(m) - V*(tau m)/tau <= V(argmax_D <m, d>)/tau
    limit_tau_zero             d_tau(m)/tau -> -m/hess0 at rate O(tau)
    crosscheck_cvxpy           grad V*(-tau m) = argmin_{d in D} <m, d> + V(d)/tau (geomrelax.crosscheck)
    lewis_grad_fd              (spectral) grad F* by the SVD formula = central differences of F*
    lewis_smoothed_polar       (spectral algebraic) grad F*(tau M) = M (M^T M + tau^-2 I)^{-1/2} (eigh)

Every check evaluates, per point, a residual r and an allowance a (float error or an error bound
from the mathematics, stated in the result's note); it fails when r > a at some point, and reports
the worst point (largest r / a): its r as ``error``, its a as ``tolerance`` and, on failure, the point
as ``counterexample``. Checks that do not apply (no hard LMO on an unbounded domain, mu = 0, no
cvxpy form) are 'skipped' with the reason, never passed.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .errors import GeomrelaxError, InvalidRegularizerError, SolverError
from .regularizers import BUILTIN_NAMES, Regularizer, SeparableRegularizer, regularizer
from .search import SEARCH_BATCH, SEARCH_ITERS, local_search
from .spectral import Spectral, smoothed_polar

EPS = float(np.finfo(np.float64).eps)
# Rounding allowance in ulps of the quantities' magnitudes. Each checked quantity is a sum of at most
# ~12 terms (d = 4 coordinates or 6 matrix entries, 3 functions) computed by libm/LAPACK to a few ulps
# each; 64 ulps covers that with margin: over the built-ins and their spectral lifts the worst
# residual/allowance measured is 0.25 (tests/test_verify.py keeps it below 1/2).
ULPS = 64
TOL = ULPS * EPS
VERIFY_VERSION = 2  # bump when the checks change: cached report items keyed by configuration are redone

VECTOR_DIM = 4
MATRIX_SHAPE = (3, 2)
Y_BIG = 1e8  # search bound for sup_y in the biconjugate: rounding ~ eps * Y_BIG stays ~1e-8

STATUSES = ("pass", "fail", "skipped")
# adversarial search budget: starts per check (vector, matrix), steps, trials per start and step
N_STARTS = {1: 16, 2: 8}
SEARCH_BOX = 1e12

# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------
def _jsonable(x):
    """Plain-JSON version of x (arrays to lists, non-finite floats to strings)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else str(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


@dataclass
class CheckResult:
    """One identity check: ``status`` is 'pass', 'fail' or 'skipped'.

    ``error`` and ``tolerance`` are the residual and the allowance at the worst point checked (the
    point with the largest error/tolerance); ``counterexample`` holds that point when the check fails.
    """

    name: str
    status: str
    error: Optional[float] = None
    tolerance: Optional[float] = None
    counterexample: Optional[dict] = None
    note: str = ""
    n_points: int = 0
    n_skipped: int = 0  # points where the identity does not apply (the note says why); not in n_points

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict:
        return _jsonable({
            "name": self.name, "status": self.status, "error": self.error, "tolerance": self.tolerance,
            "counterexample": self.counterexample, "note": self.note, "n_points": self.n_points,
            "n_skipped": self.n_skipped,
        })

    def format(self) -> str:
        f = lambda v: "      -  " if v is None else f"{v:9.2e}"
        line = f"{self.name:<26} {self.status:<7} error {f(self.error)}  tol {f(self.tolerance)}"
        return line + (f"  {self.note}" if self.note else "")


def _skip(name: str, reason: str) -> CheckResult:
    return CheckResult(name, "skipped", note=reason)


@dataclass
class VerifyReport:
    """The results of ``verify``: ``passed`` is True when no check failed (skipped checks are listed)."""

    regularizer: str
    config: dict
    results: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list:
        return [r for r in self.results if r.status == "fail"]

    @property
    def skipped(self) -> list:
        return [r for r in self.results if r.status == "skipped"]

    def __getitem__(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no check named {name!r}; checks are {[r.name for r in self.results]}")

    def counts(self) -> dict:
        return {s: sum(r.status == s for r in self.results) for s in STATUSES}

    def to_dict(self) -> dict:
        return _jsonable({
            "regularizer": self.regularizer, "config": self.config, "passed": self.passed,
            "counts": self.counts(), "seconds": self.seconds, "results": [r.to_dict() for r in self.results],
        })

    def format(self) -> str:
        c = self.counts()
        head = f"verify {self.regularizer}  (seed {self.config.get('seed')})"
        lines = [head] + ["  " + r.format() for r in self.results]
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"{verdict}: {c['pass']} pass, {c['fail']} fail, {c['skipped']} skipped ({self.seconds:.1f} s)")
        return "\n".join(lines)


def config_key(config: dict) -> str:
    """A short stable hash of a JSON-able configuration (cache key for report items)."""
    blob = json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------
# geometry helpers
# ------------------------------------------------------------------------------------------------
_DUAL = {"l2": "l2", "fro": "fro", "l1": "linf", "linf": "l1", "nuclear": "spectral", "spectral": "nuclear"}


def _norm(name: str, a: np.ndarray, ev: int) -> np.ndarray:
    axes = tuple(range(-ev, 0))
    if name in ("l2", "fro"):
        return np.sqrt(np.sum(a * a, axis=axes))
    if name == "l1":
        return np.sum(np.abs(a), axis=axes)
    if name == "linf":
        return np.max(np.abs(a), axis=axes)
    if name in ("nuclear", "spectral"):
        if ev != 2:
            raise ValueError(f"norm {name!r} needs matrices")
        s = np.linalg.svd(a, compute_uv=False)
        return s.sum(-1) if name == "nuclear" else s.max(-1)
    raise ValueError(f"unknown norm {name!r}")


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

    def value(self, x):
        with np.errstate(all="ignore"):
            return np.asarray(self.V.value(x), dtype=float)

    def conj(self, y):
        with np.errstate(all="ignore"):
            return np.asarray(self.V.conj(y), dtype=float)

    def grad_conj(self, y):
        with np.errstate(all="ignore"):
            return np.asarray(self.V.grad_conj(y), dtype=float)

    def grad(self, x):
        with np.errstate(all="ignore"):
            return np.asarray(self.V.grad(x), dtype=float)

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


# ------------------------------------------------------------------------------------------------
# the check runner: residuals, allowances, worst point, adversarial search
# ------------------------------------------------------------------------------------------------
@dataclass
class _Spec:
    """One identity check: ``evaluate`` maps a batch of points to (residual, allowance) or to
    (residual, allowance, skip), where skip[i] = k > 0 says that the identity does not apply at point i
    for the reason skip_reasons[k - 1] (its residual must then be -inf, so that it never ranks worst)."""

    name: str
    evaluate: Callable[[dict], tuple]  # points -> (residual, allowance[, skip code]), one per point
    points: dict  # name -> array (batch first)
    kinds: dict  # name -> 'domain' | 'interior' | 'free' (how the search maps R^k onto valid points)
    search_points: Optional[dict] = None  # start pool in the search shape (default: points)
    note: str = ""
    skip_reasons: tuple = ()


def _evaluated(spec: _Spec, pts: dict):
    """(residual, allowance, skip code) of spec at pts, broadcast to one entry per point."""
    out = spec.evaluate(pts)
    r, a = out[0], out[1]
    skip = out[2] if len(out) > 2 else np.zeros(np.shape(r), int)
    return np.broadcast_arrays(np.asarray(r, float), np.asarray(a, float), np.asarray(skip, int))


def _skipped_note(spec: _Spec, counts: np.ndarray, total: int) -> str:
    return "; ".join(f"{int(c)} of {total} points skipped: {why}"
                     for why, c in zip(spec.skip_reasons, counts) if c)


def _ratio(r, a):
    r = np.asarray(r, dtype=float)
    a = np.asarray(a, dtype=float)
    with np.errstate(all="ignore"):
        q = r / a
    # a NaN or +inf residual is a failure (NaN returned, point outside D), so it must rank worst
    bad = np.isnan(r) | np.isnan(a) | (r == np.inf)
    return np.where(bad, np.inf, np.where(np.isnan(q), -np.inf, q))


def _take(points: dict, idx) -> dict:
    return {k: v[idx] for k, v in points.items()}


def _run(spec: _Spec, geo: _Geo, rng, search: bool) -> CheckResult:
    n_starts = N_STARTS[geo.ev]
    pools = [spec.points]
    if search:
        pool = spec.search_points if spec.search_points is not None else spec.points
        if pool is not spec.points:
            pools.append(pool)
        r, a, _ = _evaluated(spec, pool)
        q = _ratio(r, a)
        order = np.argsort(-q, kind="stable")
        n = len(q)
        starts = list(order[: max(1, n_starts - 2)]) + list(rng.choice(n, size=min(2, n), replace=False))
        names = list(spec.kinds)
        shapes = {k: pool[k].shape[1:] for k in names}
        sizes = {k: int(np.prod(shapes[k])) for k in names}

        def unpack(P):
            out, valid, i = {}, np.ones(len(P), bool), 0
            for k in names:
                z = P[:, i:i + sizes[k]].reshape((len(P),) + shapes[k])
                i += sizes[k]
                out[k], ok = geo.search_map(z, spec.kinds[k])
                valid &= ok
            return out, valid

        def score(P):
            pts, valid = unpack(P)
            with np.errstate(all="ignore"):
                rr, aa, _ = _evaluated(spec, pts)
            return np.where(valid, _ratio(rr, aa), -np.inf), pts

        P0 = np.stack([np.concatenate([pool[k][i].ravel() for k in names]) for i in starts])
        P = local_search(lambda C: score(C.reshape(-1, C.shape[-1]))[0].reshape(C.shape[:2]), P0, rng)
        pools.append(score(P)[1])

    worst = None
    total = 0
    skipped = np.zeros(len(spec.skip_reasons), int)
    for pool in pools:
        r, a, skip = _evaluated(spec, pool)
        q = _ratio(r, a)
        total += len(q)
        skipped += np.bincount(skip[skip > 0] - 1, minlength=len(spec.skip_reasons))[:len(skipped)]
        i = int(np.argmax(q))
        if worst is None or q[i] > worst[0]:
            worst = (q[i], float(r[i]), float(a[i]), _take(pool, i))
    q, r, a, point = worst
    note = spec.note + (f"; searched from {n_starts} starts" if search else "")
    n_skip = int(skipped.sum())
    if n_skip:
        note += "; " + _skipped_note(spec, skipped, total)
    if q == -np.inf:
        return CheckResult(spec.name, "skipped", note="no point where the identity applies; " + note,
                           n_skipped=n_skip)
    failed = not (q <= 1.0)
    # inequality checks have residual = violation: a negative one is slack, reported as 0
    return CheckResult(spec.name, "fail" if failed else "pass", error=max(r, 0.0), tolerance=a,
                       counterexample=point if failed else None, note=note, n_points=total - n_skip,
                       n_skipped=n_skip)


# ------------------------------------------------------------------------------------------------
# the checks
# ------------------------------------------------------------------------------------------------
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


def _check_strong_convexity(geo, rng, n, search):
    V = geo.V
    mu, nm = V.mu, V.norm

    def evaluate(p):
        x1, x2 = p["x1"], p["x2"]
        v1, v2, g1 = geo.value(x1), geo.value(x2), geo.grad(x1)
        dx = x2 - x1
        with np.errstate(all="ignore"):
            q = 0.5 * mu * _norm(nm, dx, geo.ev) ** 2
            slack = v2 - v1 - geo.inner(g1, dx) - q
            allow = (TOL * (1 + np.abs(v1) + np.abs(v2) + geo.abs_inner(g1, dx) + geo.fro(g1) * geo.fro(dx) + q)
                     + geo.sens(x2))
        ok = geo.interior(x1)
        return np.where(ok, -slack, -np.inf), np.where(ok, allow, 1.0), np.where(ok, 0, 1)

    def pool(shape):
        x1 = geo.to_interior(np.concatenate([geo.rand_x(rng, n, shape), geo.boundary_x(rng, n // 4, shape)]))
        x2 = np.concatenate([geo.rand_x(rng, n, shape), geo.boundary_x(rng, n // 4, shape)])
        near = x1 + 1e-3 * rng.standard_normal(x1.shape)  # short segments probe the curvature itself
        return {"x1": np.concatenate([x1, x1]), "x2": np.concatenate([x2, geo.to_domain(near)])}

    spec = _Spec("strong_convexity", evaluate, pool(geo.shape), {"x1": "interior", "x2": "domain"},
                 pool(geo.search_shape), skip_reasons=("x1 not in int D (grad V(x1) undefined)",))
    p = spec.points
    with np.errstate(all="ignore"):
        dx = p["x2"] - p["x1"]
        nd = _norm(nm, dx, geo.ev)
        est = 2 * (geo.value(p["x2"]) - geo.value(p["x1"]) - geo.inner(geo.grad(p["x1"]), dx)) / nd ** 2
    est = est[(nd > 1e-4) & np.isfinite(est) & geo.interior(p["x1"])]
    tight = f"; smallest observed 2 D_V/||dx||^2 = {est.min():.4g}" if est.size else ""
    spec.note = f"V(x2) - V(x1) - <grad V(x1), dx> - mu/2 ||dx||^2 >= 0 with mu = {mu:g} ({nm}){tight}"
    return spec


def _check_smoothness(geo, rng, n, search):
    V = geo.V
    mu, dual = V.mu, _DUAL[V.norm]

    def evaluate(p):
        y1, y2 = p["y1"], p["y2"]
        c1, c2, g1 = geo.conj(y1), geo.conj(y2), geo.grad_conj(y1)
        dy = y2 - y1
        with np.errstate(all="ignore"):
            q = _norm(dual, dy, geo.ev) ** 2 / (2 * mu)
            slack = c1 + geo.inner(g1, dy) + q - c2
            allow = TOL * (1 + np.abs(c1) + np.abs(c2) + geo.abs_inner(g1, dy) + geo.fro(g1) * geo.fro(dy) + q)
        return -slack, allow

    def pool(shape):
        y1 = np.concatenate([geo.rand_y(rng, n, shape), geo.special_y(rng, shape)])
        y2 = np.concatenate([geo.rand_y(rng, n, shape), geo.special_y(rng, shape)[::-1]])
        near = y1 + 1e-2 * rng.standard_normal(y1.shape)
        return {"y1": np.concatenate([y1, y1]), "y2": np.concatenate([y2, near])}

    spec = _Spec("smoothness_conj", evaluate, pool(geo.shape), {"y1": "free", "y2": "free"}, pool(geo.search_shape))
    p = spec.points
    with np.errstate(all="ignore"):
        dy = p["y2"] - p["y1"]
        nd = _norm(dual, dy, geo.ev)
        est = 2 * (geo.conj(p["y2"]) - geo.conj(p["y1"]) - geo.inner(geo.grad_conj(p["y1"]), dy)) / nd ** 2
    est = est[(nd > 1e-4) & np.isfinite(est)]
    tight = f"; largest observed 2 D_V*/||dy||^2 = {est.max():.4g} (1/mu = {1 / mu:.4g})" if est.size else ""
    spec.note = f"V*(y2) <= V*(y1) + <grad V*(y1), dy> + ||dy||_*^2/(2 mu), dual norm {dual}{tight}"
    return spec


def _rand_m(geo, rng, n):
    """Momenta bounded away from 0 (|m_i| or sigma_i in [0.05, 2]), so the hard LMO is unique."""
    if geo.ev == 2:
        g = rng.standard_normal((n,) + geo.shape)
        u, _, vt = np.linalg.svd(g, full_matrices=False)
        s = rng.uniform(0.05, 2.0, size=(n, min(geo.shape)))
        return (u * s[:, None, :]) @ vt
    return rng.choice([-1.0, 1.0], size=(n,) + geo.shape) * rng.uniform(0.05, 2.0, size=(n,) + geo.shape)


def _root_dv(base: SeparableRegularizer, t):
    """The x in [lo, hi] with v'(x) = t (the endpoint when t is beyond v' there), by bisection on v' alone.

    Independent of grad_conj_fn: it is the optimality condition of argmax_x t x - v(x).
    """
    t = np.asarray(t, dtype=float)
    lo, hi = base.domain.lo, base.domain.hi
    a = np.where(t > 0, 0.0, lo)
    b = np.where(t > 0, hi, 0.0)
    with np.errstate(all="ignore"):
        dv = lambda z: np.asarray(base.dv(z), dtype=float)
        for _ in range(2100):  # bisection on doubles: at most ~2100 halvings to reach adjacent floats
            mid = 0.5 * (a + b)
            done = (mid == a) | (mid == b)
            if np.all(done):
                break
            go_right = dv(mid) < t
            a = np.where(go_right & ~done, mid, a)
            b = np.where(~go_right & ~done, mid, b)
        # endpoint cases: v' bounded at the end and t beyond it
        x = 0.5 * (a + b)
        x = np.where((t > 0) & (dv(np.full_like(t, hi)) <= t), hi, x)
        x = np.where((t < 0) & (dv(np.full_like(t, lo)) >= t), lo, x)
    return np.where(t == 0, 0.0, x)


TAUS_INF = (1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4)
TAUS_ZERO = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


def _check_limit_lmo(geo, rng, n):
    V = geo.V
    name = "limit_tau_inf_lmo"
    if not V.bounded:
        return _skip(name, "D is unbounded: the hard LMO argmin_{d in D} <m, d> does not exist")
    m = _rand_m(geo, rng, max(8, n // 4))
    # rounding can put the spectral lmo's singular values an ulp above the bound (V = inf there)
    lmo = geo.pull_inside(np.asarray(V.lmo(m), float))
    ref_base = geo.V if geo.separable else (geo.base if isinstance(geo.base, SeparableRegularizer) else None)
    worst, errs = None, []
    for tau in TAUS_INF:
        d = geo.grad_conj(-tau * m)
        inside = np.asarray(V.contains(d, tol=TOL * geo.radius_inf()))
        d = geo.pull_inside(d)
        with np.errstate(all="ignore"):
            # optimality of d against the candidate lmo: <m,d> + V(d)/tau <= <m,lmo> + V(lmo)/tau
            obj_d = geo.inner(m, d) + geo.value(d) / tau
            obj_l = geo.inner(m, lmo) + geo.value(lmo) / tau
            r1 = obj_d - obj_l
            a1 = TOL * (1 + geo.abs_inner(m, d) + geo.abs_inner(m, lmo) + (np.abs(geo.value(d)) + geo.value(lmo)) / tau)
            r1 = np.where(inside, r1, np.inf)
            cand = [(r1, a1, "optimality vs lmo")]
            if ref_base is not None:
                if geo.separable:
                    dref = _root_dv(ref_base, -tau * m)
                else:
                    u, s, vt = np.linalg.svd(m, full_matrices=False)
                    dref = -(u * _root_dv(ref_base, tau * s)[..., None, :]) @ vt
                # the root is exact to ~2 ulps per entry, d to a few ulps of its size
                cand.append((geo.fro(d - dref), TOL * (1 + geo.fro(dref)), "root of v'(x) = tau|m|"))
        errs.append(float(np.max(geo.maxabs(d - lmo))))
        for r, a, what in cand:
            q = _ratio(r, a)
            i = int(np.argmax(q))
            if worst is None or q[i] > worst[0]:
                worst = (q[i], float(r[i]), float(a[i]), {"m": m[i], "tau": tau, "d": d[i], "lmo": lmo[i]}, what)
    q, r, a, point, what = worst
    rate = ", ".join(f"{t:g}: {e:.2e}" for t, e in zip(TAUS_INF, errs))
    note = (f"max|d_tau - lmo| at tau {rate}; checked: optimality against lmo"
            + (" and the exact rate (bisection root of v'(x) = tau|m|)" if ref_base is not None else ""))
    if q > 1:
        note += f"; worst: {what}"
    return CheckResult(name, "fail" if q > 1 else "pass", max(r, 0.0), a, point if q > 1 else None, note,
                       n_points=len(m) * len(TAUS_INF))


def _check_limit_support(geo, rng, n):
    V = geo.V
    name = "limit_tau_inf_support"
    if not V.bounded:
        return _skip(name, "D is unbounded: the support function is +inf")
    m = _rand_m(geo, rng, max(8, n // 4))
    sup = np.asarray(V.support(m), float)
    a_max = geo.pull_inside(np.asarray(V.lmo(-m), float))  # argmax_D <m, d>
    va = geo.value(a_max)
    worst, gaps = None, []
    for tau in TAUS_INF:
        c = geo.conj(tau * m) / tau
        with np.errstate(all="ignore"):
            gap = sup - c
            # 0 <= support(m) - V*(tau m)/tau <= V(argmax)/tau (V >= 0 and the candidate argmax)
            r = np.maximum(-gap, gap - va / tau)
            a = TOL * (1 + np.abs(sup) + np.abs(c) + va / tau)
        gaps.append(float(np.max(np.abs(gap))))
        q = _ratio(r, a)
        i = int(np.argmax(q))
        if worst is None or q[i] > worst[0]:
            worst = (q[i], float(r[i]), float(a[i]), {"m": m[i], "tau": tau, "conj_over_tau": c[i], "support": sup[i]})
    q, r, a, point = worst
    note = ("0 <= support(m) - V*(tau m)/tau <= V(argmax_D <m,d>)/tau; max gap at tau "
            + ", ".join(f"{t:g}: {g:.2e}" for t, g in zip(TAUS_INF, gaps)))
    return CheckResult(name, "fail" if q > 1 else "pass", max(r, 0.0), a, point if q > 1 else None, note,
                       n_points=len(m) * len(TAUS_INF))


def _tangent_target(geo, m):
    """(lim_{tau -> 0} d_tau(m)/tau, how many entries of -m point out of D, or a reason it is unknown).

    With d = tau e, <m, d> + V(d)/tau = tau (<m, e> + hess0 |e|^2/2 + o(1)) over e in D/tau, which tends
    to the tangent cone T of D at 0: the limit is the projection of -m/hess0 onto T. T is everything
    when 0 is interior; for a box [lo, hi]^n with lo = 0 (or hi = 0) it is [0, inf) (or (-inf, 0]) in
    each coordinate, so d_tau(m)_i = 0 wherever -m_i points out of D."""
    V = geo.V
    target = -m / V.hess0
    if geo.separable:
        lo = 0.0 if V.domain.lo == 0 else -np.inf
        hi = 0.0 if V.domain.hi == 0 else np.inf
        proj = np.clip(target, lo, hi)
        return proj, int(np.sum(proj != target)), None
    if geo.spec_sep or geo.zero_interior(1e-10 * max(1.0, geo.radius_inf() if V.bounded else 1.0)):
        return target, 0, None
    return None, 0, "0 lies on the boundary of a D that is not a box: its tangent cone at 0 is not known here"


def _check_limit_zero(geo, rng, n):
    V = geo.V
    name = "limit_tau_zero"
    if V.hess0 is None or not (V.hess0 > 0):
        return _skip(name, f"V has no finite positive curvature at 0 (hess0 = {V.hess0}): no SGD limit")
    m = _rand_m(geo, rng, max(8, n // 4))
    target, n_out, why = _tangent_target(geo, m)
    if target is None:
        return _skip(name, why)
    nm = geo.maxabs(m)
    errs = []
    for tau in TAUS_ZERO:
        t = tau / nm.reshape((-1,) + (1,) * geo.ev)  # tau |m|_inf runs over 1e-1 .. 1e-5
        d = geo.grad_conj(-t * m)
        with np.errstate(all="ignore"):
            errs.append(geo.maxabs(d / t - target))
    errs = np.array(errs)  # (len(TAUS_ZERO), n)
    # rate O(tau): each factor 10 smaller in tau must shrink the error by >= 5 (first order, slack 2),
    # until it reaches rounding: d/tau carries ~eps relative error of |m|/hess0.
    floor = TOL * (1 + geo.maxabs(target))
    allow = np.maximum(errs[:-1] / 5.0, floor)
    r = errs[1:]
    q = _ratio(r, allow)
    k, i = np.unravel_index(int(np.argmax(q)), q.shape)
    failed = q[k, i] > 1
    emax = errs.max(1)
    above = (emax[:-1] > 100 * floor.max()) & (emax[1:] > 100 * floor.max())
    with np.errstate(all="ignore"):
        orders = np.log10(emax[:-1] / emax[1:])[above]
    order = f"; observed order {np.median(orders):.2f}" if orders.size else "; exact to rounding"
    note = ("d_tau(m)/tau -> -m/hess0 with hess0 = " f"{V.hess0:g}; max error at tau|m| = "
            + ", ".join(f"{t:g}: {e:.2e}" for t, e in zip(TAUS_ZERO, emax))
            + order + "; each decade must shrink it >= 5x until rounding")
    if n_out:
        note += (f"; {n_out} entries of -m point out of D (0 on its boundary): there the limit is 0, the "
                 "projection of -m/hess0 onto the tangent cone of D at 0")
    point = {"m": m[i], "tau_times_max_abs_m": TAUS_ZERO[k + 1], "error_sequence": errs[:, i]}
    return CheckResult(name, "fail" if failed else "pass", float(r[k, i]), float(allow[k, i]),
                       point if failed else None, note, n_points=errs.size)


def _getattr_any(obj, names, default=None):
    for nm in names:
        if hasattr(obj, nm):
            v = getattr(obj, nm)
            if v is not None:
                return v
    return default


def _check_crosscheck(geo, rng, n):
    """geomrelax.crosscheck.cross_check at three (m, tau): its own certified tolerance decides.

    A result with outcome 'not_expressible' (or a NotImplementedError) means no cvxpy form: skipped.
    'solver_failed' (or a SolverError) is retried with SCS, then reported as a failure: an uncertified
    solve is never a pass. An 'inconclusive' solve (a tolerance that certifies nothing) is left out and
    counted; when every solve is inconclusive the check is skipped with the reason.
    """
    name = "crosscheck_cvxpy"
    try:
        from .crosscheck import cross_check as _cc
    except ImportError as exc:
        return _skip(name, f"geomrelax.crosscheck is not available ({exc})")
    m = _rand_m(geo, rng, 3)
    worst, inconclusive = None, []
    for mi, tau in zip(m, (0.5, 3.0, 30.0)):
        res, why = None, ""
        for solver in (None, "SCS"):
            try:
                res = _cc(geo.V, mi, tau) if solver is None else _cc(geo.V, mi, tau, solver=solver)
            except SolverError as exc:
                res, why = None, f"solver failed: {exc}"
                continue
            except NotImplementedError as exc:
                return _skip(name, f"no cvxpy form for {geo.V.name}: {exc}")
            outcome = str(getattr(res, "outcome", ""))
            if outcome == "not_expressible":
                return _skip(name, f"no cvxpy form for {geo.V.name}: {getattr(res, 'note', '')}")
            if outcome != "solver_failed":
                break
            why = f"solver failed: status {getattr(res, 'status', '?')}; {getattr(res, 'note', '')}"
            res = None
        if res is None:
            return CheckResult(name, "fail", note=why + " (tried the default solver and SCS)",
                               counterexample={"m": mi, "tau": tau}, n_points=1)
        if str(getattr(res, "outcome", "")) == "inconclusive":
            inconclusive.append(f"tau {tau:g}: {getattr(res, 'note', '')}")
            continue
        err = _getattr_any(res, ("distance", "error", "max_abs_error"))
        tol = _getattr_any(res, ("tolerance",))
        err = float(np.max(err)) if err is not None else None
        tol = float(np.max(tol)) if tol is not None else None
        passed = bool(getattr(res, "passed"))
        q = (0.0 if passed else 2.0) + (err / tol if (err is not None and tol and math.isfinite(err / tol)) else 0.0)
        if worst is None or q > worst[0]:
            worst = (q, passed, err, tol, {"m": mi, "tau": tau}, str(_getattr_any(res, ("status",), "")),
                     str(_getattr_any(res, ("outcome",), "")), str(_getattr_any(res, ("note",), "")))
    if worst is None:
        return CheckResult(name, "skipped", note="every solve inconclusive: " + " | ".join(inconclusive),
                           n_skipped=len(inconclusive))
    _, passed, err, tol, point, status, outcome, note = worst
    head = f"worst of 3 solves (tau 0.5, 3, 30): {outcome + ', ' if outcome else ''}status {status}"
    if inconclusive:
        head += f"; {len(inconclusive)} of 3 solves skipped: inconclusive (tolerance certifies nothing)"
    return CheckResult(name, "pass" if passed else "fail", err, tol, None if passed else point,
                       head + (f"; {note}" if note else ""), n_points=3 - len(inconclusive),
                       n_skipped=len(inconclusive))


def _check_lewis_fd(geo, rng, n):
    name = "lewis_grad_fd"
    V = geo.V
    mu = V.mu
    shapes = [MATRIX_SHAPE, MATRIX_SHAPE[::-1]]
    R2 = geo.radius2() if V.bounded else math.inf
    worst, total = None, 0
    for shape in shapes:
        for _ in range(max(2, n // 16)):
            y = geo.rand_y(rng, 1, shape)[0]
            f0 = float(geo.conj(y[None])[0])
            G = geo.grad_conj(y[None])[0]
            ny = float(np.linalg.norm(y))
            gbound = min(R2, ny / mu) if mu > 0 else R2  # ||grad F*(Y)|| <= sup_D ||X|| and <= ||Y||/mu
            # F* through an SVD: backward error ~eps ||Y|| moves F* by <= ||grad F*|| eps ||Y||
            dF = TOL * (1 + abs(f0) + gbound * ny)
            if mu > 0:
                h = math.sqrt(2 * dF * mu)  # minimises L h/2 + dF/h with L = 1/mu
            else:
                h = 1e-5 * max(ny, 1.0)

            def cd(step):
                D = np.zeros_like(y)
                for k in range(y.size):
                    E = np.zeros_like(y)
                    E.flat[k] = step
                    D.flat[k] = (float(geo.conj((y + E)[None])[0]) - float(geo.conj((y - E)[None])[0])) / (2 * step)
                return D

            D = cd(h)
            if mu > 0:
                # F* is (1/mu)-smooth: |central difference - derivative| <= h/(2 mu); rounding dF/h
                allow = h / (2 * mu) + dF / h
                how = "bound h/(2 mu) + rounding/h"
            else:
                # no smoothness constant: truncation estimated by Richardson, |D(h) - D(2h)|/3, with 4x slack
                allow = 4 * float(np.max(np.abs(D - cd(2 * h)))) / 3 + dF / h
                how = "Richardson estimate (mu = 0) + rounding/h"
            r = float(np.max(np.abs(D - G)))
            total += 1
            q = r / allow if allow > 0 else (0 if r == 0 else np.inf)
            if worst is None or q > worst[0]:
                worst = (q, r, allow, {"Y": y, "h": h, "grad_svd": G, "grad_fd": D}, how)
    q, r, a, point, how = worst
    return CheckResult(name, "fail" if q > 1 else "pass", max(r, 0.0), a, point if q > 1 else None,
                       f"grad F* (SVD formula) vs central differences of F*(Y) = f*(sigma(Y)); tolerance: {how}",
                       n_points=total)


def _is_algebraic(base) -> bool:
    """Whether base is (numerically) v(x) = 1 - sqrt(1 - x^2) on [-1, 1]: the map of smoothed_polar."""
    if not isinstance(base, SeparableRegularizer) or (base.domain.lo, base.domain.hi) != (-1.0, 1.0):
        return False
    x = np.linspace(-1, 1, 101)
    with np.errstate(all="ignore"):
        v = np.asarray(base.elementwise(x), float)
    return bool(np.all(np.abs(v - x * x / (1 + np.sqrt(1 - x * x))) <= TOL))


def _check_lewis_polar(geo, rng, n):
    name = "lewis_smoothed_polar"
    if not _is_algebraic(geo.base):
        return _skip(name, "smoothed_polar is grad F* of the algebraic (circle) regularizer only")
    worst, total = None, 0
    for shape in (MATRIX_SHAPE, MATRIX_SHAPE[::-1], (4, 4)):
        M = _rand_m(geo, rng, max(4, n // 8)) if shape == MATRIX_SHAPE else rng.standard_normal((4,) + shape)
        for tau in (0.1, 1.0, 10.0, 100.0):
            G = geo.grad_conj(tau * M)
            P = smoothed_polar(M, tau, method="eigh")
            r = geo.fro(G - P)
            # eigh of M^T M: error eps||M||^2 in the eigenvalues, amplified by the derivative tau^3/2 of
            # (lambda + tau^-2)^(-1/2), times ||M||: (tau ||M||)^3 eps
            s = np.linalg.svd(M, compute_uv=False).max(-1)
            a = TOL * (1 + (tau * s) ** 3)
            q = _ratio(r, a)
            total += len(q)
            i = int(np.argmax(q))
            if worst is None or q[i] > worst[0]:
                worst = (q[i], float(r[i]), float(a[i]), {"M": M[i], "tau": tau})
    q, r, a, point = worst
    return CheckResult(name, "fail" if q > 1 else "pass", max(r, 0.0), a, point if q > 1 else None,
                       f"grad F*(tau M) vs M (M^T M + tau^-2 I)^(-1/2) (eigh), tau 0.1..100; {ULPS} eps (1 + (tau||M||)^3)",
                       n_points=total)


def fingerprint(V: Regularizer) -> str:
    """A hash of what V computes (V, V*, grad V* at fixed probes; mu, hess0, norm): cached results of a
    regularizer whose code changed do not match any more."""
    probe = np.linspace(-1.7, 2.3, 6).reshape(MATRIX_SHAPE if V.event_ndim == 2 else (2, 3))
    if V.event_ndim == 2:
        probe = probe[None]
    xs = [probe * 0.3, probe, probe * 40.0]
    parts = [V.name, repr(V.mu), repr(V.hess0), V.norm]
    with np.errstate(all="ignore"):
        for y in xs:
            for f in (V.value, V.conj, V.grad_conj):
                try:
                    v = np.asarray(f(y), dtype=float)
                except Exception as exc:  # noqa: BLE001 - a raising method is part of the fingerprint
                    parts.append(type(exc).__name__)
                    continue
                parts.append(np.array2string(v, precision=10, floatmode="fixed", separator=","))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------
# entry point
# ------------------------------------------------------------------------------------------------
def resolve(V, domain=None, spectral: bool = False, require_strong: bool = True) -> Regularizer:
    """The Regularizer that ``verify`` checks: a Regularizer, a built-in name, or an expression in x."""
    if isinstance(V, Regularizer):
        if domain is not None:
            raise InvalidRegularizerError(f"domain={domain!r} only applies to an expression, not to {V!r}")
        R = V
    elif isinstance(V, str):
        if V in BUILTIN_NAMES:
            if domain is not None:
                raise InvalidRegularizerError(
                    f"domain={tuple(domain)!r} only applies to an expression; the built-in {V!r} has its own domain")
            R = regularizer(V)
        else:
            if not V.strip():
                raise InvalidRegularizerError("empty regularizer name or expression")
            if V.strip().isidentifier() and V.strip() != "x":
                raise InvalidRegularizerError(
                    f"unknown regularizer {V!r}: not a built-in ({', '.join(BUILTIN_NAMES)}) and not an "
                    "expression in x")
            try:
                from .symbolic import from_expr
            except ImportError as exc:
                raise InvalidRegularizerError(
                    f"{V!r} is not a built-in ({', '.join(BUILTIN_NAMES)}) and expressions need "
                    f"geomrelax.symbolic, which is not available ({exc})") from None
            kw = {"require_strong": require_strong}
            R = from_expr(V, domain=tuple(domain), **kw) if domain is not None else from_expr(V, **kw)
    else:
        raise InvalidRegularizerError(
            f"expected a Regularizer, a built-in name or an expression string, got {type(V).__name__}: {V!r}")
    if spectral and not isinstance(R, Spectral):
        R = Spectral(R)
    return R


def verify(V, domain=None, *, spectral: bool = False, seed: int = 0, n_points: int = 64,
           crosscheck: bool = True, search: bool = True, require_strong: bool = True) -> VerifyReport:
    """Run the identity checks of the theory note on V and return a VerifyReport.

    V is a Regularizer, a built-in name, or an expression in x (sent to geomrelax.from_expr with
    ``domain``). ``spectral=True`` checks the spectral lift F(X) = sum v(sigma_i(X)) (on 3x2 matrices)
    and adds the Lewis checks. ``n_points`` random points per check (plus boundary, kink and searched
    points when ``search``); ``seed`` fixes all of them. ``crosscheck=False`` skips the cvxpy solves.
    ``require_strong=False`` accepts an expression that is convex but not strongly convex (mu = 0).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GeomrelaxError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 8:
        raise GeomrelaxError(f"n_points must be an integer >= 8, got {n_points!r}")
    R = resolve(V, domain, spectral, require_strong)
    t0 = time.perf_counter()
    config = {"regularizer": R.name, "input": V if isinstance(V, str) else R.name,
              "domain": None if domain is None else [float(d) for d in domain], "spectral": bool(spectral),
              "seed": int(seed), "n_points": int(n_points), "crosscheck": bool(crosscheck), "search": bool(search),
              "verify_version": VERIFY_VERSION}
    geo = _Geo(R)
    n = int(n_points) if geo.ev == 1 else max(8, int(n_points) // 2)
    norm_ok = R.norm in _DUAL
    strong = R.mu > 0

    # each check draws from its own stream, so skipping one leaves the others' points unchanged
    def rng_for(i):
        return np.random.default_rng([int(seed), i])

    plan = [
        ("fenchel_young_inequality", lambda r: _run(_check_fy_inequality(geo, r, n, search), geo, r, search)),
        ("fenchel_young_equality", lambda r: _run(_check_fy_equality(geo, r, n, search), geo, r, search)),
        ("inverse_conj_of_grad", lambda r: _run(_check_inverse_conj_of_grad(geo, r, n, search), geo, r, search)
         if strong else _skip("inverse_conj_of_grad",
                              "mu = 0: V is not claimed strictly convex, so grad V need not be invertible "
                              "(the box indicator has grad V = 0 on int D)")),
        ("inverse_grad_of_conj", lambda r: _run(_check_inverse_grad_of_conj(geo, r, n, search), geo, r, search)
         if strong else _skip("inverse_grad_of_conj", "mu = 0: grad V* is only a subgradient selection")),
        ("biconjugate", lambda r: _run(_check_biconjugate(geo, r, n, search), geo, r, False)),
        ("strong_convexity", lambda r: _run(_check_strong_convexity(geo, r, n, search), geo, r, search)
         if norm_ok else _skip("strong_convexity", f"unknown norm {R.norm!r}")),
        ("smoothness_conj", lambda r: (_run(_check_smoothness(geo, r, n, search), geo, r, search) if norm_ok
                                       else _skip("smoothness_conj", f"unknown norm {R.norm!r}")) if strong
         else _skip("smoothness_conj", "mu = 0: V* is not smooth (no 1/mu bound), e.g. |s| for the box")),
        ("limit_tau_inf_lmo", lambda r: _check_limit_lmo(geo, r, n)),
        ("limit_tau_inf_support", lambda r: _check_limit_support(geo, r, n)),
        ("limit_tau_zero", lambda r: _check_limit_zero(geo, r, n)),
        ("crosscheck_cvxpy", lambda r: _check_crosscheck(geo, r, n) if crosscheck
         else _skip("crosscheck_cvxpy", "disabled (crosscheck=False)")),
    ]
    if geo.ev == 2:
        plan += [("lewis_grad_fd", lambda r: _check_lewis_fd(geo, r, n)),
                 ("lewis_smoothed_polar", lambda r: _check_lewis_polar(geo, r, n))]
    results = []
    for i, (nm, fn) in enumerate(plan):
        with np.errstate(all="ignore"):
            try:
                res = fn(rng_for(i))
            except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
                # a closed form that raises on valid input is a failure of that check, not of verify
                res = CheckResult(nm, "fail", note=f"raised {type(exc).__name__}: {exc}")
        results.append(res)
    return VerifyReport(R.name, config, results, time.perf_counter() - t0)
