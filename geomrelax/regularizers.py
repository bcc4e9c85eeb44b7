"""Strongly convex regularizers V, their Fenchel conjugates V* and grad V*.

A regularizer is a convex function V on a closed convex set D that contains 0, with
V(0) = 0 = min V. Its conjugate and the gradient of the conjugate are

    V*(y)      = sup_{x in D} <x, y> - V(x)
    grad V*(y) = argmax_{x in D} <x, y> - V(x).

If V is mu-strongly convex w.r.t. a norm ||.||, V* is (1/mu)-smooth w.r.t. the dual norm.

Array conventions. A vector regularizer (``event_ndim == 1``) acts on the last axis: ``value``
and ``conj`` of an array of shape (..., d) have shape (...). ``grad_conj`` keeps the shape.
Spectral (matrix) regularizers live in :mod:`geomrelax.spectral` with ``event_ndim == 2``.

Separable regularizers V(x) = sum_i v(x_i) are described by their scalar pieces
(v, v', v'', v*, (v*)') on an interval domain [lo, hi] with lo <= 0 <= hi; the built-ins are

    name            v(x) on domain                        v*(s)                     (v*)'(s)
    euclidean       x^2/2 on R                            s^2/2                     s
    box             0 on [-1, 1]   (mu = 0)               |s|                       sign(s)
    box_quadratic   x^2/2 on [-1, 1]                      huber(s)                  clip(s, -1, 1)
    entropic        ((1+x)ln(1+x) + (1-x)ln(1-x))/2       ln cosh s                 tanh s
    algebraic       1 - sqrt(1 - x^2) on [-1, 1]          sqrt(1 + s^2) - 1         s / sqrt(1 + s^2)

and the non-separable ``ball_quadratic`` is ||x||_2^2/2 on the l2 unit ball, with
V*(y) = huber(||y||_2) and grad V*(y) = y / max(1, ||y||_2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from scipy import special

from .backend import is_tensor, ops_for
from .cvxpy_forms import CvxpyTerm, NotExpressible, cvxpy_module, spectral_ball
from .cvxpy_forms import (algebraic_cvxpy, algebraic_spectral, box_cvxpy, box_spectral, entropic_cvxpy,
                          entropic_spectral, quadratic_cvxpy, quadratic_spectral)
from .errors import DomainError, InvalidRegularizerError, NonFiniteError, NotStronglyConvexError

Array = np.ndarray
_ULPS = 8  # rounding allowance at the l2 sphere: a normalised vector's norm is 1 within a few ulps
ScalarFn = Callable[[Array], Array]


def _as_float(x) -> Array:
    """Float array view of x (float64 unless x already has a floating dtype)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


class Regularizer:
    """Interface shared by every regularizer (vector or matrix).

    Attributes
    ----------
    name : str
    mu : float
        Strong-convexity modulus of V w.r.t. ``norm`` (0 when V is only convex).
    norm : str
        The norm in which ``mu`` holds ('l2' for vectors, 'fro' for matrices).
    event_ndim : int
        1 for vector regularizers, 2 for matrix (spectral) ones.
    hess0 : float or None
        Curvature of V at 0 along every axis (v''(0)); the tau -> 0 limit of the relaxed LMO is
        d_tau(m) ~ -tau m / hess0. None when V has no finite curvature at 0 (the box indicator).
    bounded : bool
        True when D is bounded, so that the hard LMO argmin_{d in D} <m, d> exists.
    """

    name: str = "regularizer"
    mu: float = 0.0
    norm: str = "l2"
    event_ndim: int = 1
    hess0: Optional[float] = None
    bounded: bool = True
    absolutely_symmetric: bool = True

    @property
    def strongly_convex(self) -> bool:
        return self.mu > 0

    # -- the mathematics -------------------------------------------------------------------------
    def value(self, x) -> Array:
        """V(x); +inf outside the domain."""
        raise NotImplementedError

    def conj(self, y) -> Array:
        """V*(y) = sup_{x in D} <x, y> - V(x)."""
        raise NotImplementedError

    def grad_conj(self, y) -> Array:
        """grad V*(y) = argmax_{x in D} <x, y> - V(x) (a subgradient when V is not strongly convex)."""
        raise NotImplementedError

    def grad(self, x) -> Array:
        """grad V(x) on the interior of D."""
        raise NotImplementedError

    def contains(self, x, tol: float = 0.0) -> Array:
        """Whether x lies in D (up to ``tol``); shape x.shape[:-event_ndim]."""
        raise NotImplementedError

    def lmo(self, m) -> Array:
        """The hard LMO argmin_{d in D} <m, d> (the tau = inf limit of the relaxed LMO)."""
        raise NotImplementedError

    def support(self, m) -> Array:
        """Support function sup_{d in D} <m, d> = ||m||_{D*}, the limit of V*(tau m)/tau as tau -> inf."""
        raise NotImplementedError

    def sample_domain(self, rng: np.random.Generator, shape, margin: float = 0.0) -> Array:
        """Random points of D (for checks); ``margin`` keeps them that far inside the boundary."""
        raise NotImplementedError

    def project(self, d) -> Optional[Array]:
        """The Euclidean projection argmin_{x in D} ||x - d||_2 of each event of d, or None where no exact
        projection onto this D is known (the cross-check then keeps the solver's point as it is)."""
        return None

    def torch_grad_conj(self, y):
        """grad V* on a torch tensor (same device and dtype), or raise NotImplementedError."""
        raise NotImplementedError(f"{self.name}: no torch implementation of grad V*")

    # -- the cvxpy form (geomrelax.cross_check asks for it; cvxpy is imported only inside) ----------
    def cvxpy_term(self, d) -> CvxpyTerm:
        """V(d) for a cvxpy variable d of the event shape, with the constraints d in D; or NotExpressible."""
        raise NotExpressible(f"{self.name}: no cvxpy form (a {type(self).__name__} defines no cvxpy_term)")

    def cvxpy_domain(self, d) -> CvxpyTerm:
        """The constraints d in D alone (value 0): the program of the hard LMO; or NotExpressible."""
        raise NotExpressible(f"{self.name}: no cvxpy form of D (a {type(self).__name__} defines no cvxpy_domain)")

    def cvxpy_spectral_term(self, D, spectral_form: str = "auto") -> CvxpyTerm:
        """F(D) = f(sigma(D)) for the spectral lift with this regularizer as f; or NotExpressible."""
        raise NotExpressible(f"{self.name}: no cvxpy form for a spectral lift of a {type(self).__name__}")

    def cvxpy_spectral_domain(self, D) -> CvxpyTerm:
        """The constraints sigma(D) in dom f alone, for the hard LMO of the spectral lift."""
        raise NotExpressible(f"{self.name}: no cvxpy form of the spectral domain of a {type(self).__name__}")

    def relaxed_lmo(self, m, tau: float):
        """d_tau(m) = grad V*(-tau m) for a finite m and a finite tau > 0, also where tau m overflows.

        m is a numpy array or a torch tensor (then the torch route, same dtype and device). Here:
        grad V*(-tau m) when every tau m_i is finite; a regularizer that can say what its map does beyond
        the float range overrides this (the built-ins do), the others refuse with an error.
        """
        ops, m = _backend(m)
        y = _scaled(ops, m, tau)
        if not ops.all_finite(y):
            raise NonFiniteError(f"{self.name}: tau * m overflows the float range (tau = {tau:g}, max |m| = "
                                 f"{float(ops.abs(m).max()):g}) and this regularizer has no overflow-safe route")
        return self.torch_grad_conj(y) if ops.name == "torch" else self.grad_conj(y)

    def require_strongly_convex(self) -> None:
        if not self.strongly_convex:
            raise NotStronglyConvexError(
                f"regularizer {self.name!r} is not strongly convex (mu = {self.mu}); it defines the hard "
                "LMO (tau = inf) but not a relaxed one"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} mu={self.mu} norm={self.norm}>"


@dataclass(frozen=True)
class Interval:
    """The closed interval [lo, hi] (endpoints may be infinite); it must contain 0."""

    lo: float
    hi: float

    def __post_init__(self):
        lo, hi = float(self.lo), float(self.hi)
        if math.isnan(lo) or math.isnan(hi):
            raise DomainError(f"domain ({self.lo}, {self.hi}) has a NaN endpoint")
        if not lo < hi:
            raise DomainError(f"domain ({self.lo}, {self.hi}) is empty or a point: need lo < hi")
        if not (lo <= 0.0 <= hi):
            raise DomainError(
                f"domain [{self.lo}, {self.hi}] does not contain 0: a regularizer needs V(0) = 0 = min V "
                "at an interior or boundary point 0"
            )
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    @property
    def symmetric(self) -> bool:
        return self.lo == -self.hi

    def contains(self, x, tol: float = 0.0) -> Array:
        return (x >= self.lo - tol) & (x <= self.hi + tol)

    def clip(self, x) -> Array:
        return np.clip(x, self.lo, self.hi)


@dataclass(kw_only=True, repr=False)
class SeparableRegularizer(Regularizer):
    """V(x) = sum_i v(x_i) on the box D = [lo, hi]^d, given by its scalar pieces.

    ``v``, ``dv``, ``d2v`` are v, v', v'' on the domain; ``conj_fn`` and ``grad_conj_fn`` are v* and
    (v*)' on all of R. All are vectorised numpy callables. ``torch_grad_conj_fn`` is the same map as
    ``grad_conj_fn`` written with tensor methods only, so that the core never imports torch.
    """

    name: str
    v: ScalarFn
    dv: ScalarFn
    d2v: ScalarFn
    conj_fn: ScalarFn
    grad_conj_fn: ScalarFn
    domain: Interval
    mu: float
    hess0: Optional[float] = None
    torch_grad_conj_fn: Optional[Callable] = None
    norm: str = "l2"
    event_ndim: int = field(default=1, init=False)
    even: bool = True
    formula: Optional[str] = None
    # v(x) entrywise as a cvxpy expression of a cvxpy vector x, exact on the domain
    cvxpy_fn: Optional[Callable] = field(default=None, repr=False)
    # (V, D, spectral_form) -> CvxpyTerm of F(D) = sum v(sigma_i(D)), or None for the generic Ky Fan form
    cvxpy_spectral_fn: Optional[Callable] = field(default=None, repr=False)

    def __post_init__(self):
        if not isinstance(self.domain, Interval):
            self.domain = Interval(*self.domain)
        if self.mu < 0 or math.isnan(self.mu):
            raise InvalidRegularizerError(f"{self.name}: strong-convexity modulus mu = {self.mu} must be >= 0")

    @property
    def bounded(self) -> bool:  # type: ignore[override]
        return self.domain.bounded

    @property
    def absolutely_symmetric(self) -> bool:  # type: ignore[override]
        return self.even and self.domain.symmetric

    # elementwise pieces with the domain enforced --------------------------------------------------
    def elementwise(self, x) -> Array:
        """v(x_i) for each entry; +inf outside the domain."""
        x = _as_float(x)
        inside = self.domain.contains(x)
        with np.errstate(all="ignore"):
            out = np.asarray(self.v(np.where(inside, x, 0.0)), dtype=x.dtype)
        return np.where(inside, out, np.inf)

    def conj_elementwise(self, s) -> Array:
        return np.asarray(self.conj_fn(_as_float(s)))

    # the interface -------------------------------------------------------------------------------
    def value(self, x) -> Array:
        return np.sum(self.elementwise(x), axis=-1)

    def conj(self, y) -> Array:
        return np.sum(self.conj_elementwise(y), axis=-1)

    def grad_conj(self, y) -> Array:
        return np.asarray(self.grad_conj_fn(_as_float(y)))

    def grad(self, x) -> Array:
        return np.asarray(self.dv(_as_float(x)))

    def contains(self, x, tol: float = 0.0) -> Array:
        return np.all(self.domain.contains(_as_float(x), tol), axis=-1)

    def lmo(self, m) -> Array:
        m = _as_float(m)
        if not self.bounded:
            raise DomainError(f"{self.name}: the domain [{self.domain.lo}, {self.domain.hi}] is unbounded, "
                              "so the hard LMO (tau = inf) does not exist")
        # argmin over [lo, hi] of m*d: hi where m < 0, lo where m > 0; at m = 0 any point, we take 0.
        return np.where(m < 0, self.domain.hi, np.where(m > 0, self.domain.lo, 0.0))

    def support(self, m) -> Array:
        m = _as_float(m)
        with np.errstate(invalid="ignore"):
            per = np.where(m > 0, m * self.domain.hi, np.where(m < 0, m * self.domain.lo, 0.0))
        return np.sum(per, axis=-1)

    def project(self, d) -> Array:
        """D is the box [lo, hi]^n: the projection clips each entry."""
        return self.domain.clip(_as_float(d))

    def sample_domain(self, rng, shape, margin: float = 0.0) -> Array:
        lo, hi = self.domain.lo, self.domain.hi
        lo = -10.0 if not math.isfinite(lo) else lo + margin * (0 - lo)
        hi = 10.0 if not math.isfinite(hi) else hi - margin * hi
        return rng.uniform(lo, hi, size=shape)

    def torch_grad_conj(self, y):
        if self.torch_grad_conj_fn is None:
            raise NotImplementedError(f"{self.name}: no torch implementation of grad V*")
        return self.torch_grad_conj_fn(y)

    # the cvxpy form: v entrywise (``cvxpy_fn``, else the translation of the sympy ``expr`` a formula
    # regularizer carries); the generic program pieces live in geomrelax.crosscheck
    def cvxpy_elementwise(self, x):
        """v(x_i) entrywise as a cvxpy expression; NotExpressible when there is no DCP form."""
        if self.cvxpy_fn is not None:
            return self.cvxpy_fn(x)
        from .crosscheck import translated_elementwise

        return translated_elementwise(self, x)

    def cvxpy_source(self) -> str:
        """Where ``cvxpy_elementwise`` comes from (for reports)."""
        if self.cvxpy_fn is not None or type(self).cvxpy_elementwise is not SeparableRegularizer.cvxpy_elementwise:
            return f"the cvxpy form of {self.name}"
        return f"formula {getattr(self, 'expr', None) or self.formula}"

    def cvxpy_term(self, d) -> CvxpyTerm:
        from .crosscheck import separable_term

        return separable_term(self, d)

    def cvxpy_domain(self, d) -> CvxpyTerm:
        lo, hi = self.domain.lo, self.domain.hi
        cons = ([d >= lo] if math.isfinite(lo) else []) + ([d <= hi] if math.isfinite(hi) else [])
        return CvxpyTerm(0, cons, f"d in [{lo:g}, {hi:g}]^n", zero=True)

    def cvxpy_spectral_term(self, D, spectral_form: str = "auto") -> CvxpyTerm:
        if self.cvxpy_spectral_fn is not None:
            term = self.cvxpy_spectral_fn(self, D, spectral_form)
            if term is not None:
                return term
        from .crosscheck import majorization_term

        return majorization_term(self, D)

    def cvxpy_spectral_domain(self, D) -> CvxpyTerm:
        return CvxpyTerm(0, spectral_ball(D, self.domain.hi), f"sigma_max(D) <= {self.domain.hi:g}", zero=True)

    def relaxed_lmo(self, m, tau: float):
        """grad v*(-tau m_i) entry by entry (numpy, or torch for a tensor). grad v* is monotone, so an
        entry whose tau m_i overflows takes its value at the largest float of that sign (an end of a
        bounded D to rounding for every built-in); on an unbounded side the answer itself is beyond the
        float range (an error)."""
        ops, m = _backend(m)
        y = _scaled(ops, m, tau)
        over = ~ops.isfinite(y)
        if ops.any(over):
            if (ops.any(over & (y > 0)) and not math.isfinite(self.domain.hi)
                    or ops.any(over & (y < 0)) and not math.isfinite(self.domain.lo)):
                raise NonFiniteError(
                    f"{self.name}: d = grad V*(-tau m) is beyond the float range (tau = {tau:g}, max |m| = "
                    f"{float(ops.abs(m).max()):g}, and the domain [{self.domain.lo}, {self.domain.hi}] is unbounded)")
            y = ops.clip(y, -ops.max, ops.max)
        return self.torch_grad_conj(y) if ops.name == "torch" else self.grad_conj(y)


# ------------------------------------------------------------------------------------------------
# scalar pieces of the built-ins
# ------------------------------------------------------------------------------------------------
def huber(s) -> Array:
    """huber(s) = s^2/2 if |s| <= 1 else |s| - 1/2 (the conjugate of x^2/2 on [-1, 1])."""
    a = np.abs(s)
    m = np.minimum(a, 1.0)  # squares only what is <= 1: no overflow for huge |s|
    return np.where(a <= 1.0, 0.5 * m * m, a - 0.5)


def log_cosh(s) -> Array:
    """ln cosh s without overflow: |s| + log1p(exp(-2|s|)) - ln 2."""
    a = np.abs(s)
    return a + np.log1p(np.exp(-2.0 * a)) - math.log(2.0)


def _entropic_v(x):
    return 0.5 * (special.xlogy(1 + x, 1 + x) + special.xlogy(1 - x, 1 - x))


def _entropic_dv(x):
    with np.errstate(divide="ignore"):
        return np.arctanh(x)


def _entropic_d2v(x):
    with np.errstate(divide="ignore"):
        return 1.0 / (1.0 - x * x)


def _algebraic_v(x):
    # 1 - sqrt(1 - x^2) = x^2 / (1 + sqrt(1 - x^2)): no cancellation near 0
    return x * x / (1.0 + np.sqrt(np.maximum(1.0 - x * x, 0.0)))


def _algebraic_dv(x):
    with np.errstate(divide="ignore"):
        return x / np.sqrt(1.0 - x * x)


def _algebraic_d2v(x):
    with np.errstate(divide="ignore"):
        return (1.0 - x * x) ** -1.5


def _algebraic_conj(s):
    # sqrt(1 + s^2) - 1 = |s| (|s| / (sqrt(1 + s^2) + 1)): no cancellation near 0, no overflow of s^2;
    # the ratio is 1 at |s| = inf (inf / inf would be NaN)
    a = np.abs(s)
    with np.errstate(invalid="ignore"):
        return a * np.where(np.isinf(a), 1.0, a / (np.hypot(1.0, a) + 1.0))


def _algebraic_grad_conj(s):
    # s / sqrt(1 + s^2), and its limit sign(s) at s = +-inf (inf / inf would be NaN)
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(s), np.sign(s), s / np.hypot(1.0, s))


def _algebraic_grad_conj_torch(s):
    # s / sqrt(1 + s^2) written as sign(s) / sqrt(1 + 1/s^2) for |s| > 1, so that s*s cannot overflow to inf
    big = s.abs() > 1
    safe = s.where(big, s.new_ones(()))
    return (s * (1.0 + s * s).rsqrt()).where(~big, safe.sign() * (1.0 + (1.0 / safe) ** 2).rsqrt())


def _box_v(x):
    return np.zeros_like(x)


def _box_quadratic_d2v(x):
    return np.ones_like(x)


def _euclidean() -> SeparableRegularizer:
    return SeparableRegularizer(
        name="euclidean", v=lambda x: 0.5 * x * x, dv=lambda x: x, d2v=np.ones_like,
        conj_fn=lambda s: 0.5 * s * s, grad_conj_fn=lambda s: s + 0.0, domain=Interval(-math.inf, math.inf),
        mu=1.0, hess0=1.0, torch_grad_conj_fn=lambda s: s.clone(), formula="x**2/2",
        cvxpy_fn=quadratic_cvxpy, cvxpy_spectral_fn=quadratic_spectral,
    )


def _box() -> SeparableRegularizer:
    return SeparableRegularizer(
        name="box", v=_box_v, dv=np.zeros_like, d2v=np.zeros_like,
        conj_fn=np.abs, grad_conj_fn=np.sign, domain=Interval(-1.0, 1.0),
        mu=0.0, hess0=None, torch_grad_conj_fn=lambda s: s.sign(), formula="0",
        cvxpy_fn=box_cvxpy, cvxpy_spectral_fn=box_spectral,
    )


def _box_quadratic() -> SeparableRegularizer:
    return SeparableRegularizer(
        name="box_quadratic", v=lambda x: 0.5 * x * x, dv=lambda x: x + 0.0, d2v=_box_quadratic_d2v,
        conj_fn=huber, grad_conj_fn=lambda s: np.clip(s, -1.0, 1.0), domain=Interval(-1.0, 1.0),
        mu=1.0, hess0=1.0, torch_grad_conj_fn=lambda s: s.clamp(-1.0, 1.0), formula="x**2/2",
        cvxpy_fn=quadratic_cvxpy, cvxpy_spectral_fn=quadratic_spectral,
    )


def _entropic() -> SeparableRegularizer:
    return SeparableRegularizer(
        name="entropic", v=_entropic_v, dv=_entropic_dv, d2v=_entropic_d2v,
        conj_fn=log_cosh, grad_conj_fn=np.tanh, domain=Interval(-1.0, 1.0),
        mu=1.0, hess0=1.0, torch_grad_conj_fn=lambda s: s.tanh(),
        formula="((1 + x)*log(1 + x) + (1 - x)*log(1 - x))/2",
        cvxpy_fn=entropic_cvxpy, cvxpy_spectral_fn=entropic_spectral,
    )


def _algebraic() -> SeparableRegularizer:
    return SeparableRegularizer(
        name="algebraic", v=_algebraic_v, dv=_algebraic_dv, d2v=_algebraic_d2v,
        conj_fn=_algebraic_conj, grad_conj_fn=_algebraic_grad_conj, domain=Interval(-1.0, 1.0),
        mu=1.0, hess0=1.0, torch_grad_conj_fn=_algebraic_grad_conj_torch,
        formula="1 - sqrt(1 - x**2)",
        cvxpy_fn=algebraic_cvxpy, cvxpy_spectral_fn=algebraic_spectral,
    )


class BallQuadratic(Regularizer):
    """V(x) = ||x||_2^2 / 2 on the l2 unit ball (not separable).

    V*(y) = huber(||y||_2),  grad V*(y) = y / max(1, ||y||_2);  mu = 1 w.r.t. l2.
    The hard LMO is -m/||m||_2 (normalised SGD) and the support function is ||m||_2.
    """

    name = "ball_quadratic"
    mu = 1.0
    norm = "l2"
    event_ndim = 1
    hess0 = 1.0
    bounded = True
    absolutely_symmetric = True
    formula = None

    def value(self, x) -> Array:
        x = _as_float(x)
        sq = np.sum(x * x, axis=-1)
        # y / ||y|| lands on the sphere only up to a few ulps: count those points as inside
        return np.where(sq <= 1.0 + _ULPS * np.finfo(x.dtype).eps, 0.5 * sq, np.inf)

    def conj(self, y) -> Array:
        y = _as_float(y)
        return huber(ops_for(y).row_norm(y)[..., 0])

    def grad_conj(self, y) -> Array:
        y = _as_float(y)
        return _ball_grad_conj(ops_for(y), y)

    def grad(self, x) -> Array:
        return _as_float(x) + 0.0

    def contains(self, x, tol: float = 0.0) -> Array:
        x = _as_float(x)
        return ops_for(x).row_norm(x)[..., 0] <= 1.0 + max(tol, _ULPS * np.finfo(x.dtype).eps)

    def lmo(self, m) -> Array:
        m = _as_float(m)
        ops = ops_for(m)
        mn = m / ops.scale_of(ops.row_absmax(m))  # exact; ||mn|| cannot overflow where ||m|| would
        n = ops.row_norm(mn)
        return -mn / np.where(n > 0, n, 1.0)

    def support(self, m) -> Array:
        m = _as_float(m)
        return ops_for(m).row_norm(m)[..., 0]

    def relaxed_lmo(self, m, tau: float):
        """-tau m / max(1, tau ||m||), computed as -m / ||m|| wherever tau ||m|| > 1: no tau m is formed
        there, so it cannot overflow (m is first scaled by a power of two, exactly). numpy or torch."""
        ops, m = _backend(m)
        c = ops.scale_of(ops.row_absmax(m))
        mn = m / c
        n = ops.row_norm(mn)  # in [1, 2 sqrt(d)] unless the row is 0
        with ops.errstate():
            t = tau * c
            return ops.where(t * n <= 1.0, -t * mn, -mn / ops.where(n > 0, n, 1.0))

    def project(self, d) -> Array:
        """d / max(1, ||d||_2) over the last axis: the projection onto the unit ball is grad V*."""
        return self.grad_conj(d)

    def sample_domain(self, rng, shape, margin: float = 0.0) -> Array:
        shape = tuple(np.atleast_1d(shape))
        x = rng.standard_normal(shape)
        n = np.linalg.norm(x, axis=-1, keepdims=True)
        r = rng.uniform(0.0, 1.0 - margin, size=shape[:-1] + (1,)) ** (1.0 / shape[-1])
        return x / np.where(n > 0, n, 1.0) * r

    def torch_grad_conj(self, y):
        return _ball_grad_conj(ops_for(y), y)

    def cvxpy_term(self, d) -> CvxpyTerm:
        cp = cvxpy_module()
        return CvxpyTerm(cp.sum_squares(d) / 2, [cp.norm(d, 2) <= 1], "sum_squares(d)/2, ||d||_2 <= 1")

    def cvxpy_domain(self, d) -> CvxpyTerm:
        return CvxpyTerm(0, [cvxpy_module().norm(d, 2) <= 1], "||d||_2 <= 1", zero=True)

    def cvxpy_spectral_term(self, D, spectral_form: str = "auto") -> CvxpyTerm:
        # f(sigma) = ||sigma||^2/2 on the unit ball: ||D||_F^2/2 on the Frobenius unit ball
        cp = cvxpy_module()
        return CvxpyTerm(cp.sum_squares(D) / 2, [cp.norm(D, "fro") <= 1], "sum_squares(D)/2, ||D||_F <= 1")

    def cvxpy_spectral_domain(self, D) -> CvxpyTerm:
        return CvxpyTerm(0, [cvxpy_module().norm(D, "fro") <= 1], "||D||_F <= 1", zero=True)


def _ball_grad_conj(ops, y):
    """y / max(1, ||y||_2) over the last axis (numpy or torch). The norm is taken after an exact
    power-of-two scaling (no overflow of the squares: a float32 y of 1e20 has ||y||^2 = inf), and a row
    with infinite entries (an overflowed tau m) goes to its limit: the signs of those entries, normalised."""
    bad = ~ops.isfinite(y)
    if ops.any(bad):
        y = ops.where(bad, ops.sign(y), ops.where(ops.row_any(bad), 0.0, y))
    # y = c yn with c a power of two: ||yn|| is in [1, 2 sqrt(d)], and c ||yn|| may overflow (a float16
    # y of 6e4 has ||y|| beyond 65504) only where it is > 1 anyway
    c = ops.scale_of(ops.row_absmax(y))
    yn = y / c
    n = ops.row_norm(yn)
    with ops.errstate():
        return ops.where(c * n > 1.0, yn / ops.where(n > 0, n, 1.0), y)


_BUILTINS: dict[str, Callable[[], Regularizer]] = {
    "euclidean": _euclidean,
    "box": _box,
    "box_quadratic": _box_quadratic,
    "entropic": _entropic,
    "algebraic": _algebraic,
    "ball_quadratic": BallQuadratic,
}

BUILTIN_NAMES: tuple[str, ...] = tuple(_BUILTINS)


def _backend(m):
    """(adapter, m): a tensor as it is, anything else as a float numpy array."""
    if not is_tensor(m):
        m = _as_float(m)
    return ops_for(m), m


def _scaled(ops, m, tau: float):
    """-tau m in m's float type: +-inf where it overflows (no warning: the callers handle it), 0 where
    m = 0 (a tau beyond float32's range is inf in float32 arithmetic, and inf * 0 is NaN), and the
    smallest subnormal of the right sign where it underflows to 0 (the box's map sign(y) needs the
    sign; a strongly convex map is moved by at most that one subnormal spacing)."""
    with ops.errstate():
        y = -tau * m
    lost = (y == 0) & (m != 0)
    y = ops.where(m == 0, 0.0, y)
    # the smallest subnormal is tiny * eps (2^-1074 in float64, 2^-24 in float16)
    return ops.where(lost, -ops.sign(m) * (ops.tiny * ops.eps), y)


def as_regularizer(V) -> Regularizer:
    """The one resolver: a Regularizer is returned as it is, a string names a built-in (BUILTIN_NAMES).

    Anything else is refused with an error naming its type. Formulas are not names: a formula goes
    through geomrelax.from_expr, which parses it as data.
    """
    if isinstance(V, Regularizer):
        return V
    if isinstance(V, str):
        try:
            return _BUILTINS[V]()
        except KeyError:
            raise InvalidRegularizerError(
                f"unknown regularizer {V!r}; built-ins are {', '.join(BUILTIN_NAMES)} "
                "(use geomrelax.from_expr for a formula)"
            ) from None
    raise InvalidRegularizerError(
        f"a regularizer must be a built-in name or a Regularizer, got {type(V).__name__}: {V!r:.80}")


def regularizer(name: str) -> Regularizer:
    """The built-in regularizer called ``name`` (one of BUILTIN_NAMES); a Regularizer passes through."""
    return as_regularizer(name)
