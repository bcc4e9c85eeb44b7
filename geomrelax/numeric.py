"""grad v* and v* of a convex scalar v without a closed form: safeguarded Newton/bisection.

For a convex v on D = [lo, hi] (lo <= 0 <= hi, ends may be infinite) the conjugate's gradient is the
solution x of the monotone equation

    v'(x) = s,   x in D,          grad v*(s) = x,      v*(s) = s x - v(x),

with the ends saturating: s >= v'(hi) gives x = hi and s <= v'(lo) gives x = lo (one-sided limits of v'
at the ends). On an unbounded side where v' stays bounded, s beyond the bound has no maximiser:
x = +-inf and v*(s) = +inf. Every s in [v'(0-), v'(0+)] gives x = 0 (the minimiser of v).

The iteration, per entry:
  bracket   [0, b] for s > v'(0+), [a, 0] below; mu-strong convexity bounds |x| <= |s - v'(0+-)| / mu,
            checked and grown (x16) where it does not hold the root;
  start     u = (s - v'(0)) / v''(0), bent into a finite end as u / sqrt(1 + (u / end)^2);
  Newton    x - (v'(x) - s) / v''(x); closer to a finite end than to 0 and with v'' d >= 1/2 there
            (a barrier: atanh, x / sqrt(1 - x^2)), Newton in t = log(distance d to the end) instead;
  safeguard the step is taken only inside the bracket, when it halves |v'(x) - s| and is at most half
            the step before last (Numerical Recipes' rtsafe test); otherwise a bisection: in the
            distance to a nearby finite end (squared towards the end itself, geometric between two
            near points), else arithmetic, and every fourth time at the midpoint of the floats'
            ordering (bit patterns read as integers), so any bracket, even [0, 1e300], collapses to
            adjacent floats in a bounded number of steps;
  stop      |step| <= eps^(3/4) |x| (one more Newton step would leave ~eps^(3/2)), or <= 4 eps x_scale
            (v' of a formula is rounded at ~eps of its O(1) constants, which fixes x no better), or
            the bracket is two adjacent floats: then the one with the larger s x - v(x).

One algorithm, two array backends: numpy (float64, in cache-sized blocks) and torch (float64, or
float32 for lower precisions; any device), through the array adapters of geomrelax.backend. This
module never imports torch itself.

It also holds the grid scans that validate a user's v: the infimum of v'' (the strong-convexity modulus)
and a witness point where v'' < 0 or v' decreases (non-convexity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy import optimize

from .backend import numpy_ops, torch_module, torch_ops
from .errors import InvalidRegularizerError
from .regularizers import Interval

__all__ = [
    "NumericConjugate",
    "CurvatureScan",
    "scan_curvature",
    "domain_grid",
    "solve_monotone",
]

_MAX_ITER = 200  # <= 64 bisections plus Newton steps; reached only by pathological v'
_EXPAND = 16.0
_CHUNK = 1 << 15


# ------------------------------------------------------------------------------------------------
# the solver
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Problem:
    lo: float
    hi: float
    dv_lo: float  # one-sided limit of v' at lo (-inf when unbounded below)
    dv_hi: float
    dv0_minus: float  # v'(0-) (-inf when lo = 0)
    dv0_plus: float  # v'(0+) (+inf when hi = 0)
    hess0: Optional[float]
    mu: float


def _fix_nan(ops, f, x):
    # v' - s is NaN only where v' overflowed far from 0 (the domain was checked for NaN): there it is
    # beyond every finite s, with the sign of x (v' is increasing and v'(0) is finite)
    return ops.where(ops.isnan(f), ops.where(x > 0, math.inf, -math.inf), f)


def solve_monotone(ops, s, dv, d2v, p: _Problem, max_iter: int = _MAX_ITER, objective=None):
    """x in [p.lo, p.hi] with dv(x) = s for a 1-D array s (dv nondecreasing); returns (x, iterations).

    ``ops`` is a backend adapter (numpy or torch), ``dv`` and ``d2v`` map arrays of that backend to
    arrays (or scalars) of it; ``objective`` (v itself, optional) decides between two adjacent floats
    that bracket the root.
    """
    with ops.errstate():
        return _solve(ops, s, dv, d2v, p, max_iter, objective)


def _residual(ops, dv, x, s):
    f = ops.like(dv(x), x) - s
    nan = ops.isnan(f)
    return _fix_nan(ops, f, x) if ops.any(nan) else f


def _solve(ops, s, dv, d2v, p: _Problem, max_iter: int, objective=None):
    out = ops.full(s, math.nan)
    lo, hi = p.lo, p.hi
    at_lo = s <= p.dv_lo
    at_hi = (s >= p.dv_hi) & ~at_lo
    at_zero = (s >= p.dv0_minus) & (s <= p.dv0_plus) & ~at_lo & ~at_hi
    out = ops.where(at_lo, lo, out)
    out = ops.where(at_hi, hi, out)
    out = ops.where(at_zero, 0.0, out)
    todo = ~(at_lo | at_hi | at_zero | ops.isnan(s))
    if not ops.any(todo):
        return out, 0

    idx = ops.nonzero(todo)
    s_ = s[idx]
    up = s_ > p.dv0_plus  # the root is in (0, hi); otherwise in (lo, 0)
    dv0 = ops.where(up, p.dv0_plus, p.dv0_minus)

    # -- the bracket: [0, b] above, [a, 0] below -------------------------------------------------
    if p.mu > 0:
        # mu-strong convexity: |v'(x) - v'(0+-)| >= mu |x|, so |x*| <= |s - v'(0+-)| / mu (1e-6 slack: mu
        # came from a grid and may overshoot the true infimum by a little; the check below corrects it)
        reach = ops.abs(s_ - dv0) * ((1.0 + 1e-6) / p.mu)
    else:
        reach = ops.full(s_, 1.0)
    b = ops.where(up, ops.minimum(reach, hi), 0.0)
    a = ops.where(up, 0.0, ops.maximum(-reach, lo))
    # grow the bracket where it does not yet hold the root (v'(b) < s above, v'(a) > s below)
    grow_steps = 0
    sub = ops.nonzero(up & (b < hi) | ~up & (a > lo))
    while sub.shape[0] > 0 and grow_steps < 300:
        grow_steps += 1
        xe = ops.where(up[sub], b[sub], a[sub])
        fe = _residual(ops, dv, xe, s_[sub])
        short = ops.where(up[sub], fe < 0, fe > 0)
        if not ops.any(short):
            break
        sub = sub[short]
        xe = ops.minimum(ops.maximum(xe[short] * _EXPAND, lo), hi)
        b[sub] = ops.where(up[sub], xe, b[sub])
        a[sub] = ops.where(up[sub], a[sub], xe)
        # stop at a finite domain end (s < v'(end) there) and at +-inf: v' never reaches s, so the sup
        # is not attained and |x| = inf (handled below)
        sub = sub[ops.isfinite(xe) & (xe > lo) & (xe < hi)]

    # entries whose bracket end overflowed: v' never reaches s, the sup is not attained (|x| = inf)
    unbounded = ~(ops.isfinite(a) & ops.isfinite(b))
    if ops.any(unbounded):
        out[idx[unbounded]] = ops.where(up[unbounded], math.inf, -math.inf)
        keep = ~unbounded
        idx, s_, a, b, dv0 = idx[keep], s_[keep], a[keep], b[keep], dv0[keep]

    # -- Newton inside the bracket, bisection as the safeguard -----------------------------------
    rtol = ops.eps ** 0.75  # 2e-12 in float64: one more Newton step leaves an error ~ rtol^2
    x_scale = max(abs(lo), abs(hi)) if math.isfinite(lo) and math.isfinite(hi) else 1.0
    atol = 4 * ops.eps * x_scale
    nbis = ops.full(a, 0.0)  # non-Newton steps taken per entry
    if p.hess0 is not None and math.isfinite(p.hess0) and p.hess0 > 0:
        # first guess: the tau -> 0 behaviour u = (s - v'(0)) / v''(0), bent into a finite end as
        # u / sqrt(1 + (u / end)^2) (exact for quadratics on R and for 1 - sqrt(1 - x^2))
        u = (s_ - dv0) / p.hess0
        x = u
        if math.isfinite(hi) and hi > 0 or math.isfinite(lo) and lo < 0:
            end = ops.where(x > 0, hi if hi > 0 else math.inf, -lo if lo < 0 else math.inf)
            x = x / (1.0 + (x / end) ** 2) ** 0.5
        # below the stopping test's resolution (|x| <= atol) Newton cannot improve on this guess: it
        # would stop anywhere within atol of the root (2e-30 for the root 1e-30), while the guess is off
        # by only v'''(0) x^2 / (2 v''(0)), i.e. relatively by about |x| <= atol: take the guess
        lin = ops.abs(u) <= atol
        if ops.any(lin):
            fin = ops.nonzero(lin)
            out[idx[fin]] = u[fin]
            keep = ops.nonzero(~lin)
            idx, s_, a, b, dv0, x, nbis = idx[keep], s_[keep], a[keep], b[keep], dv0[keep], x[keep], nbis[keep]
    else:
        x = ops.full(a, math.nan)
    out_of = ops.nonzero(~((x > a) & (x < b)))
    if out_of.shape[0] > 0:
        x[out_of] = _fallback(ops, a[out_of], b[out_of], nbis[out_of], p)
    inner = {e: ops.toward_zero(e) for e in (lo, hi) if math.isfinite(e)}
    f_prev = ops.full(x, math.inf)
    step1 = ops.full(x, math.inf)  # |step| of the previous iteration, and of the one before
    step2 = ops.full(x, math.inf)
    it = 0
    while idx.shape[0] > 0 and it < max_iter:
        it += 1
        f = _residual(ops, dv, x, s_)
        a = ops.where(f < 0, x, a)
        b = ops.where(f > 0, x, b)
        h = ops.like(d2v(x), x)
        xn = x - f / h
        dx = ops.abs(xn - x)
        # a step is judged relative to |x|, or absolutely at atol: a formula's v' is rounded to about
        # eps of its O(1) constants, which fixes x to ~eps x_scale and no better (the log form of atanh
        # at x = 1e-6 stalls there); near a finite end, relative to the distance to that end instead
        small = (dx <= rtol * ops.abs(xn)) | (dx <= atol)
        for end, sgn in ((hi, 1.0), (lo, -1.0)):
            if not math.isfinite(end):
                continue
            near = ops.nonzero(sgn * (end - x) < ops.abs(x))
            if near.shape[0] == 0:
                continue
            # closer to a finite end than to 0 and with v'' d >= 1/2 there (a log barrier like atanh has
            # v'' d -> 1/2, a power barrier like x / sqrt(1 - x^2) has v'' d -> inf; a finite v' at the end
            # has v'' d -> 0), take the Newton step in t = log(distance d to the end):
            # d -> d exp(+-f / (v'' d)). It agrees with Newton to first order, never crosses the end and
            # is exact for a log barrier, where Newton in x overshoots from one side and crawls from the other.
            xe, fe, he = x[near], f[near], h[near]
            d = sgn * (end - xe)
            xl = ops.where(he * d >= 0.5, end - sgn * d * ops.exp(sgn * fe / (he * d)), xn[near])
            # a step onto the end itself (the root is closer to it than a float spacing): try the last
            # float before the end; the bracket then collapses onto the pair and the objective decides
            # (from that float itself, the step is void: NaN hands it to the collapse test)
            onto = sgn * (xl - end) >= 0
            xl = ops.where(onto, ops.where(xe == inner[end], math.nan, inner[end]), xl)
            dxl = ops.abs(xl - xe)
            xn[near] = xl
            dx[near] = dxl
            small[near] = (dxl <= rtol * ops.abs(xl)) & (dxl <= rtol * sgn * (end - xl))
        af = ops.abs(f)
        # NaN steps fail the comparisons, so they count as rejected; a step back onto the bracket end
        # just evaluated is accepted only as converged
        done = small & (xn >= a) & (xn <= b)
        # a Newton step gives way to a bisection unless it halved |v' - s| and is at most half the step
        # before last (rtsafe's test: Newton crawling down an exponential takes unit steps for ever);
        # a converged step is always taken (at rounding level the residual no longer shrinks)
        newton = (xn > a) & (xn < b) & (af <= 0.5 * f_prev) & (dx <= 0.5 * step2) | done
        f_prev = ops.where(newton, af, math.inf)  # after a bisection the next Newton step starts afresh
        exact = f == 0
        if ops.any(exact):
            xn = ops.where(exact, x, xn)
            done = done | exact
            newton = newton | exact
        rej = ops.nonzero(~newton)
        if rej.shape[0] > 0:
            ar, br, nb = a[rej], b[rej], nbis[rej]
            alt = _fallback(ops, ar, br, nb, p)
            # a split point that rounded onto an end: split the floats' ordering instead
            alt = ops.where((alt > ar) & (alt < br), alt, ops.ordered_mid(ar, br))
            collapsed = ~((alt > ar) & (alt < br))
            if ops.any(collapsed):
                alt = ops.where(collapsed, _pick_end(ops, ar, br, s_[rej], dv, objective), alt)
            xn[rej] = alt
            done[rej] = collapsed
            nbis[rej] = nb + 1.0
        step2, step1 = step1, ops.abs(xn - x)
        if ops.any(done):
            fin = ops.nonzero(done)
            out[idx[fin]] = xn[fin]
            keep = ops.nonzero(~done)
            idx, s_, a, b = idx[keep], s_[keep], a[keep], b[keep]
            xn, f_prev, nbis = xn[keep], f_prev[keep], nbis[keep]
            step1, step2 = step1[keep], step2[keep]
        x = xn
    if idx.shape[0] > 0:  # out of iterations (not seen for convex v): the bracket still holds the root
        out[idx] = x
    return out, it


def _pick_end(ops, a, b, s, dv, objective):
    """The root lies between the adjacent floats a < b: return the one with the larger s x - v(x) (the
    objective of the sup that defines grad v*), or without v the one with the smaller |v'(x) - s|.

    The objectives are compared through their difference (b - a) s - (v(b) - v(a)): b - a is exact, so
    the comparison is not lost in the rounding of s x (ulp(30) = 3.6e-15 exceeds the difference when
    the root is 1e-26 from b = 1, as for tanh(30))."""
    if objective is None:
        fa, fb = _residual(ops, dv, a, s), _residual(ops, dv, b, s)
        return ops.where(ops.abs(fa) <= ops.abs(fb), a, b)
    gain = (b - a) * s - (ops.like(objective(b), b) - ops.like(objective(a), a))
    return ops.where(gain > 0, b, a)


def _fallback(ops, a, b, nbis, p: _Problem):
    """The non-Newton step inside (a, b).

    Near a finite domain end the bracket is split in the distance to that end, which is what matters
    there: towards the end itself (not yet excluded; a barrier such as atanh or x/sqrt(1-x^2) puts roots
    extremely close to it) the distance is squared (d -> d^2 / width: a root at distance 1e-20 from the end is reached in a
    handful of steps), and between two points near the end it is the geometric mean of their
    distances. Otherwise bisect at the arithmetic midpoint, and every fourth time at the midpoint of
    the floats' ordering (ops.ordered_mid), which bounds the count at about 4 x 64 for any bracket.
    """
    mid = ops.where(nbis % 4 == 3, ops.ordered_mid(a, b), 0.5 * a + 0.5 * b)
    width = p.hi - p.lo
    if not math.isfinite(width):
        return mid
    da, db = p.hi - a, p.hi - b  # distances to hi (db < da)
    near = (da < ops.abs(a)) & (db > 0)
    mid = ops.where(near, p.hi - (da * db) ** 0.5, mid)
    mid = ops.where(db == 0, p.hi - da * (da / width), mid)
    da, db = a - p.lo, b - p.lo  # distances to lo (da < db)
    near = (db < ops.abs(b)) & (da > 0)
    mid = ops.where(near, p.lo + (da * db) ** 0.5, mid)
    mid = ops.where(da == 0, p.lo + db * (db / width), mid)
    return mid


# ------------------------------------------------------------------------------------------------
# the numeric conjugate of a scalar v
# ------------------------------------------------------------------------------------------------
def _endpoint(fn: Callable, point: float, inward: float) -> float:
    """fn at a finite endpoint, or its value just inside when fn is NaN there (0 log 0 forms)."""
    with np.errstate(all="ignore"):
        val = float(np.asarray(fn(np.array([point])), dtype=np.float64).reshape(-1)[0])
        if math.isnan(val):
            val = float(np.asarray(fn(np.array([np.nextafter(point, inward)])), dtype=np.float64).reshape(-1)[0])
    return val


class NumericConjugate:
    """grad v*(s) and v*(s) of a convex v on an interval, by safeguarded Newton/bisection on v'(x) = s.

    Parameters
    ----------
    v, dv, d2v : vectorised numpy callables
        v, v', v'' on the domain (a constant formula may return a scalar).
    domain : Interval or (lo, hi)
    mu : float
        inf of v'' over the domain (0 if unknown); bounds the bracket |x| <= |s - v'(0)| / mu.
    hess0 : float or None
        v''(0): the first iterate is (s - v'(0)) / hess0.
    dv_lo, dv_hi : float, optional
        One-sided limits of v' at the endpoints (defaults: v' there, +-inf where NaN or unbounded).
    dv0_minus, dv0_plus : float, optional
        v'(0-) and v'(0+) (default v'(0) for both); s between them gives x = 0.
    v_lo, v_hi : float, optional
        v at finite endpoints where the formula is NaN there (default: v just inside).
    torch_fns : callable, optional
        ``torch_fns()`` returns (v, dv, d2v) evaluating on torch tensors; needed for ``torch_grad_conj``.

    ``last_iterations`` holds the iteration count of the latest call (for benchmarks).
    """

    def __init__(self, v, dv, d2v, domain, *, mu: float = 0.0, hess0: Optional[float] = None,
                 dv_lo: Optional[float] = None, dv_hi: Optional[float] = None,
                 dv0_minus: Optional[float] = None, dv0_plus: Optional[float] = None,
                 v_lo: Optional[float] = None, v_hi: Optional[float] = None,
                 torch_fns: Optional[Callable] = None, max_iter: int = _MAX_ITER):
        self.domain = domain if isinstance(domain, Interval) else Interval(*domain)
        lo, hi = self.domain.lo, self.domain.hi
        self.v, self.dv, self.d2v = v, dv, d2v
        if math.isnan(mu) or mu < 0:
            raise InvalidRegularizerError(f"strong-convexity modulus mu = {mu} must be >= 0")
        if dv_lo is None:
            dv_lo = -math.inf if not math.isfinite(lo) else _endpoint(dv, lo, hi)
            dv_lo = -math.inf if math.isnan(dv_lo) else dv_lo
        if dv_hi is None:
            dv_hi = math.inf if not math.isfinite(hi) else _endpoint(dv, hi, lo)
            dv_hi = math.inf if math.isnan(dv_hi) else dv_hi
        if dv0_minus is None or dv0_plus is None:
            d0 = _endpoint(dv, 0.0, hi if hi > 0 else lo)
            dv0_minus = d0 if dv0_minus is None else dv0_minus
            dv0_plus = d0 if dv0_plus is None else dv0_plus
        if lo == 0.0:
            dv0_minus = -math.inf  # 0 is the left end: every s <= v'(0+) gives x = 0
        if hi == 0.0:
            dv0_plus = math.inf
        self.problem = _Problem(lo=lo, hi=hi, dv_lo=float(dv_lo), dv_hi=float(dv_hi),
                                dv0_minus=float(dv0_minus), dv0_plus=float(dv0_plus),
                                hess0=None if hess0 is None else float(hess0), mu=float(mu))
        self.v_lo = v_lo if v_lo is not None else (_endpoint(v, lo, hi) if math.isfinite(lo) else math.inf)
        self.v_hi = v_hi if v_hi is not None else (_endpoint(v, hi, lo) if math.isfinite(hi) else math.inf)
        self._torch_fns_factory = torch_fns
        self._torch_fns = None
        self.max_iter = int(max_iter)
        self.chunk = _CHUNK
        self.last_iterations = 0

    # -- numpy ------------------------------------------------------------------------------------
    def grad_conj(self, s) -> np.ndarray:
        """grad v*(s) elementwise (same shape; float32 input gives float32 output, computed in float64)."""
        s = np.asarray(s)
        out_dtype = s.dtype if np.issubdtype(s.dtype, np.floating) else np.float64
        flat = np.ascontiguousarray(s, dtype=np.float64).reshape(-1)
        ops = numpy_ops(np.float64)
        dv, d2v = self._np(self.dv), self._np(self.d2v)
        x = np.empty_like(flat)
        iters = 0
        # blocks that stay in cache: the solver makes ~30 passes per iteration over its arrays, which
        # for 1e6 entries is memory-bound
        for i in range(0, flat.size, self.chunk):
            x[i:i + self.chunk], n = solve_monotone(ops, flat[i:i + self.chunk], dv, d2v, self.problem,
                                                    self.max_iter, objective=self.value)
            iters = max(iters, n)
        self.last_iterations = iters
        return x.reshape(s.shape).astype(out_dtype, copy=False)

    def value(self, x) -> np.ndarray:
        """v(x) on the domain, with the endpoint values where the formula is NaN there."""
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            val = np.broadcast_to(np.asarray(self.v(x), dtype=np.float64), x.shape)
        val = np.where(x == self.domain.lo, self.v_lo, val)
        return np.where(x == self.domain.hi, self.v_hi, val)

    def conj(self, s) -> np.ndarray:
        """v*(s) = s x - v(x) at x = grad v*(s); +inf where the sup is not attained."""
        s = np.asarray(s)
        dtype = s.dtype if np.issubdtype(s.dtype, np.floating) else np.dtype(np.float64)
        s = s.astype(np.float64, copy=False)
        x = self.grad_conj(s)
        with np.errstate(all="ignore"):
            val = s * x - self.value(x)
        # v*(s) >= -v(0) = 0: inf - inf from an overflow of s x and v(x) is a v* beyond float range
        val = np.where(np.isnan(val) & ~np.isnan(s), np.inf, val)
        return np.where(np.isinf(x), np.inf, val).astype(dtype, copy=False)

    @staticmethod
    def _np(fn):
        def call(x):
            with np.errstate(all="ignore"):
                return fn(x)
        return call

    # -- torch ------------------------------------------------------------------------------------
    def torch_grad_conj(self, t):
        """grad v*(t) on a torch tensor: the same iteration with tensor operations (same device and dtype)."""
        torch = torch_module()
        if self._torch_fns is None:
            if self._torch_fns_factory is None:
                raise NotImplementedError("no torch evaluation of v', v'' was given (torch_fns)")
            self._torch_fns = self._torch_fns_factory()
        tv, tdv, td2v = self._torch_fns
        work = torch.float64 if t.dtype == torch.float64 else torch.float32
        flat = t.detach().reshape(-1).to(work).contiguous()
        ops = torch_ops(work)
        lo, hi, v_lo, v_hi = self.domain.lo, self.domain.hi, self.v_lo, self.v_hi

        def value(x):
            val = ops.like(tv(x), x)
            return torch.where(x == lo, v_lo, torch.where(x == hi, v_hi, val))

        x, self.last_iterations = solve_monotone(ops, flat, tdv, td2v, self.problem, self.max_iter, objective=value)
        return x.reshape(t.shape).to(t.dtype)


# ------------------------------------------------------------------------------------------------
# grid scans for validation
# ------------------------------------------------------------------------------------------------
def domain_grid(lo: float, hi: float, n: int = 4001) -> np.ndarray:
    """Sorted interior points of [lo, hi] for scanning v, v', v'': uniform, geometric towards 0 and
    towards each finite endpoint (1e-13 .. 1e-1 of the width), and out to 1e8 on an unbounded side."""
    pts = []
    flo, fhi = (lo if math.isfinite(lo) else -10.0), (hi if math.isfinite(hi) else 10.0)
    pts.append(np.linspace(flo, fhi, n))
    g = np.logspace(-12, 0, 241)
    pts += [g, -g, np.zeros(1)]
    if not math.isfinite(hi):
        pts.append(np.logspace(0, 8, 321))
    if not math.isfinite(lo):
        pts.append(-np.logspace(0, 8, 321))
    w = np.logspace(-13, -1, 241)
    if math.isfinite(lo):
        pts.append(lo + w * (fhi - lo))
    if math.isfinite(hi):
        pts.append(hi - w * (hi - flo))
    x = np.unique(np.concatenate(pts))
    return x[(x > lo) & (x < hi)]


@dataclass
class CurvatureScan:
    """What a grid scan of v', v'' found.

    ``inf_d2v`` and ``argmin`` : the smallest v'' seen (after local refinement) and where;
    ``negative`` : (x, v''(x)) with v''(x) < 0 at the most negative point, else None;
    ``decrease`` : (x1, x2, v'(x1), v'(x2)) where v' drops between neighbouring grid points, else None
    (a concave kink that v'' cannot show); ``last`` : (x, v''(x)) at the outermost grid points, the
    numeric stand-in for the limit of v'' at an unbounded end.
    """

    inf_d2v: float
    argmin: float
    negative: Optional[tuple]
    decrease: Optional[tuple]
    grid: np.ndarray
    d2v: np.ndarray


def _refine_min(fn, a: float, b: float, x0: float, f0: float):
    """Local minimum of a scalar fn on [a, b] by bounded Brent, never worse than the grid point."""
    if not (math.isfinite(a) and math.isfinite(b)) or a >= b:
        return x0, f0

    def g(t):
        with np.errstate(all="ignore"):
            val = float(np.asarray(fn(np.array([t])), dtype=np.float64).reshape(-1)[0])
        return val if math.isfinite(val) else math.inf

    try:
        with np.errstate(all="ignore"):  # Brent's parabola through inf values
            res = optimize.minimize_scalar(g, bounds=(a, b), method="bounded",
                                           options={"xatol": 1e-14 * max(1.0, abs(x0))})
    except (ValueError, FloatingPointError):  # scipy refuses only degenerate brackets
        return x0, f0
    if res.fun < f0:
        return float(res.x), float(res.fun)
    return x0, f0


def scan_curvature(d2v, dv, lo: float, hi: float, grid: Optional[np.ndarray] = None, refine: int = 3) -> CurvatureScan:
    """inf of v'' over (lo, hi) by a dense grid plus Brent refinement of the ``refine`` lowest local minima,
    and the first witnesses of non-convexity (v'' < 0 somewhere, or v' decreasing between grid points)."""
    x = domain_grid(lo, hi) if grid is None else grid
    with np.errstate(all="ignore"):
        h = np.broadcast_to(np.asarray(d2v(x), dtype=np.float64), x.shape).copy()
        g = np.broadcast_to(np.asarray(dv(x), dtype=np.float64), x.shape).copy()
    hv = np.where(np.isnan(h), np.inf, h)
    # local minima of the grid values, lowest first
    left = np.concatenate(([np.inf], hv[:-1]))
    right = np.concatenate((hv[1:], [np.inf]))
    cand = np.flatnonzero((hv <= left) & (hv <= right) & np.isfinite(hv))
    cand = cand[np.argsort(hv[cand])][:refine]
    best_x, best = (float(x[np.argmin(hv)]), float(np.min(hv))) if x.size else (0.0, math.inf)
    for i in cand:
        a = x[i - 1] if i > 0 else x[i]
        b = x[i + 1] if i + 1 < x.size else x[i]
        xr, fr = _refine_min(d2v, float(a), float(b), float(x[i]), float(hv[i]))
        if fr < best:
            best_x, best = xr, fr
    negative = (best_x, best) if best < 0 else None
    decrease = None
    ok = np.isfinite(g)
    xs, gs = x[ok], g[ok]
    if xs.size > 1:
        # v' must be nondecreasing; allow the rounding of v' itself (a few ulps of |v'|)
        drop = gs[:-1] - gs[1:]
        slack = 64 * np.finfo(np.float64).eps * np.maximum(np.abs(gs[:-1]), np.abs(gs[1:]))
        bad = np.flatnonzero(drop > slack)
        if bad.size:
            j = bad[np.argmax(drop[bad])]
            decrease = (float(xs[j]), float(xs[j + 1]), float(gs[j]), float(gs[j + 1]))
    return CurvatureScan(inf_d2v=best, argmin=best_x, negative=negative, decrease=decrease, grid=x, d2v=h)
