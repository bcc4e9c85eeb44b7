"""User-defined regularizers from a formula: validation, and v*, grad v* by sympy or numerically.

``from_expr("1 - sqrt(1 - x**2)", domain=(-1, 1))`` turns a formula v(x) into a separable regularizer
V(x) = sum_i v(x_i) on the box [lo, hi]^d. The formula is checked first, each failure a clear error:

    only the symbol x;  v real and finite inside the domain;
    v continuous: v(c-) = v(c) = v(c+) at every kink c and wherever sign, Heaviside, floor, ceiling switch;
    v(0) = 0;
    v convex: v'' >= 0, and v' nondecreasing across kinks (NotConvexError with a witness point);
    0 the minimiser: 0 in [v'(0-), v'(0+)] (v'(0) = 0 at a smooth interior 0; v'(0+) >= 0 at lo = 0);
    mu = inf v'' over the domain > 0 (NotStronglyConvexError unless require_strong=False).

mu is the smallest of: v'' on a dense grid refined by Brent's method around its lowest local minima,
the one-sided limits of v'' at the ends, and v'' at the critical points of v'' when sympy can solve
v''' = 0 (then mu is exact). A negative grid value of v'' is confirmed at 30 digits before it is
reported; a grid minimum below 1e-10 of the typical v'' counts as 0.

The symbolic route splits [lo, hi] at the kinks of v (Abs, sign, Max, Min, Heaviside, Piecewise
conditions), solves v'(x) = s with sympy on each smooth piece (c_i, c_{i+1}) and keeps the first branch
x(s) that is real, lies in the piece and satisfies v'(x(s)) = s to 1e-30 at 120 digits at ~20-40 values
of s from the middle of its range out to its ends or to |s| = 1e300 (sympy returns spurious branches:
-s/sqrt(1 + s^2) for 1 - sqrt(1 - x^2), log(s - sqrt(s^2 + 1)) for cosh x - 1). A branch with an odd
root b**(p/q) is also tried as the real root (sympy's s**(1/3) is complex for s < 0). With
L_i = v'(c_i+) and R_i = v'(c_{i+1}-),

    grad v*(s) = lo          for s <= L_0             (lo finite; -inf if lo = -inf and L_0 > -inf)
                 x_i(s)      for L_i < s < R_i
                 c_{i+1}     for R_i <= s <= L_{i+1}   (a kink of v: a flat piece of grad v*)
                 hi          for s >= R_last          (hi finite; +inf if hi = inf and R_last < inf)

and v*(s) = s x(s) - v(x(s)), simplified (radsimp, log expansion, simplify). On a piece where v is
affine (mu = 0) the value s = v' there is given the maximiser closest to 0.

Float safety. Each piece's x(s) and v*(s) is lambdified in several equal forms (sqrt(a s^2 + b) ->
hypot, R + k sqrt(B) -> (R^2 - k^2 B) / (R - k sqrt(B)), factored radicands, log(exp(u) + c) ->
softplus, log cosh -> overflow-free, log1p/expm1) and the first form whose float64 values match the
120-digit values at the test points (relative 1e-12; for v* also 4 eps (1 + |s x|), the rounding that
s x - v(x) itself carries) is used. Entries where it still overflows to inf/NaN are recomputed
numerically. Without a float-safe x(s) the route gives up; without a float-safe v*, v* is evaluated as
s x - v(x). The result is cross-checked against the numeric route at ~200 values of s before use.

The numeric route (geomrelax.numeric: safeguarded Newton/bisection on v'(x) = s) is always built: it is
used when sympy fails, times out, or finds no float-safe form, or with route="numeric".

Time limits (geomrelax.symbolic.worker). The derivation (solve, branch checks, simplification, float
forms) runs in a worker process started by fork, which is killed when it has not answered ``timeout``
seconds (plus half a second for the start and the transfer) after it started: the route then falls
back to the numeric one with the note "symbolic route stopped after T s; numeric route used" (with
route="symbolic" that is an InvalidRegularizerError instead). The worker returns sympy expressions;
they are lambdified here. The validation runs in this process, each sympy call under a soft limit
(SIGALRM in the main thread, an abandoned thread elsewhere); the parser's size bounds keep its inputs
small. mpmath's precision is global state: do not call from_expr from several threads at once.
"""

from __future__ import annotations

import functools
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import mpmath
import numpy as np
import sympy

from ..errors import DomainError, GeomrelaxError, InvalidRegularizerError, NotConvexError, NotStronglyConvexError
from ..numeric import NumericConjugate, domain_grid, scan_curvature
from ..regularizers import Interval, SeparableRegularizer, log_cosh
from .parse import parse_formula, parse_number
from .worker import Clock as _Clock
from .worker import Timeout as _Timeout
from .worker import WorkerError, run_in_worker
from .worker import limited as _limited

__all__ = ["ExprRegularizer", "from_expr", "X", "S", "lambdify_numpy", "lambdify_torch"]

X = sympy.Symbol("x", real=True)
S = sympy.Symbol("s", real=True)

ROUTES = ("auto", "symbolic", "numeric")
_EPS = float(np.finfo(np.float64).eps)
_GRAD_RTOL = 1e-12  # float64 closed forms: ~4500 eps, loose for any stable formula, tight for cancellation
_NEG_CURV_DIGITS = 30


class _GiveUp(Exception):
    """The symbolic route cannot proceed; the message says why, ``rejected`` lists the branches dropped."""

    def __init__(self, message, rejected=()):
        super().__init__(message)
        self.rejected = list(rejected)

    def payload(self):
        """What crosses back from the worker process (plain data)."""
        return self.rejected


# ------------------------------------------------------------------------------------------------
# float-safe functions for lambdify
# ------------------------------------------------------------------------------------------------
class softplus(sympy.Function):
    """softplus(u) = log(1 + exp(u)), evaluated without overflow."""

    nargs = 1

    def _eval_rewrite_as_log(self, u, **kwargs):
        return sympy.log(1 + sympy.exp(u))


class logcosh(sympy.Function):
    """logcosh(u) = log(cosh(u)), evaluated without overflow."""

    nargs = 1

    def _eval_rewrite_as_log(self, u, **kwargs):
        return sympy.log(sympy.cosh(u))


def _np_softplus(u):
    return np.logaddexp(0.0, u)


_NP_EXTRA = {"softplus": _np_softplus, "logcosh": log_cosh}


def _drop_dirac(expr):
    # v'' of a kinked v carries point masses (DiracDelta); pointwise they are 0, and the kinks
    # themselves are checked through v' (scan_curvature's `decrease`). Likewise the derivative of
    # floor/ceiling, which sympy leaves unevaluated: 0 between the jumps, which are refused separately
    out = expr.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    return out.replace(lambda a: isinstance(a, sympy.Derivative) and isinstance(a.expr, (sympy.floor, sympy.ceiling)),
                       lambda a: sympy.S.Zero)


def lambdify_numpy(expr, sym=X) -> Callable:
    """A vectorised float64 numpy function of ``expr`` in ``sym`` (complex results become NaN)."""
    f = sympy.lambdify(sym, _drop_dirac(expr), modules=[_NP_EXTRA, "numpy", "scipy"])

    def call(x):
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            out = np.asarray(f(x))
        if np.iscomplexobj(out):
            out = np.where(out.imag == 0, out.real, np.nan)
        out = out.astype(np.float64, copy=False)
        return out if out.shape == x.shape else np.broadcast_to(out, x.shape).copy()

    call.__doc__ = f"float64 numpy evaluation of {expr}"
    return call


@functools.lru_cache(maxsize=1)
def _torch_namespace() -> dict:
    """The names the numpy printer emits, implemented with torch for tensors and numpy otherwise."""
    import torch  # only reached when a torch evaluation is asked for

    T = torch.Tensor

    def as_t(v, ref):
        return v if isinstance(v, T) else torch.as_tensor(v, dtype=ref.dtype, device=ref.device)

    def ref_of(*vals):
        for v in vals:
            if isinstance(v, T):
                return v
        return None

    def unary(tf, nf):
        return lambda a: tf(a) if isinstance(a, T) else nf(a)

    def binary(tf, nf):
        def f(a, b):
            ref = ref_of(a, b)
            return nf(a, b) if ref is None else tf(as_t(a, ref), as_t(b, ref))
        return f

    class _Logical:
        def __init__(self, tf, nf):
            self.tf, self.nf = tf, nf

        def __call__(self, *args):
            ref = ref_of(*args)
            return self.nf(*args) if ref is None else self.tf(*[as_t(a, ref) for a in args])

        def reduce(self, items):
            return functools.reduce(self, items)

    def select(condlist, choicelist, default=math.nan):
        ref = ref_of(*condlist, *choicelist)
        if ref is None:
            return np.select(condlist, choicelist, default=default)
        out = torch.full_like(ref, float(default), dtype=ref.dtype if ref.is_floating_point() else torch.float64)
        for cond, choice in reversed(list(zip(condlist, choicelist))):
            if cond is True or cond is np.True_:
                out = as_t(choice, out).expand_as(out).clone() if isinstance(choice, T) else torch.full_like(out, float(choice))
            elif cond is False or cond is np.False_:
                continue
            else:
                out = torch.where(as_t(cond, out).bool(), as_t(choice, out), out)
        return out

    def logcosh_t(u):
        a = u.abs()
        return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)

    def cbrt_t(u):
        return u.sign() * u.abs() ** (1.0 / 3.0)

    names = {
        "sqrt": (torch.sqrt, np.sqrt), "exp": (torch.exp, np.exp), "log": (torch.log, np.log),
        "log1p": (torch.log1p, np.log1p), "expm1": (torch.expm1, np.expm1), "log2": (torch.log2, np.log2),
        "log10": (torch.log10, np.log10), "sin": (torch.sin, np.sin), "cos": (torch.cos, np.cos),
        "tan": (torch.tan, np.tan), "arcsin": (torch.asin, np.arcsin), "arccos": (torch.acos, np.arccos),
        "arctan": (torch.atan, np.arctan), "sinh": (torch.sinh, np.sinh), "cosh": (torch.cosh, np.cosh),
        "tanh": (torch.tanh, np.tanh), "arcsinh": (torch.asinh, np.arcsinh), "arccosh": (torch.acosh, np.arccosh),
        "arctanh": (torch.atanh, np.arctanh), "abs": (torch.abs, np.abs), "sign": (torch.sign, np.sign),
        "floor": (torch.floor, np.floor), "ceil": (torch.ceil, np.ceil),
        "erf": (torch.special.erf, None), "erfc": (torch.special.erfc, None),
        "softplus": (lambda u: torch.logaddexp(u, torch.zeros_like(u)), _np_softplus),
        "logcosh": (logcosh_t, log_cosh), "cbrt": (cbrt_t, np.cbrt),
        "real": (lambda u: u, np.real), "imag": (torch.zeros_like, np.imag),
    }
    ns: dict = {}
    from scipy import special as _sp

    for name, (tf, nf) in names.items():
        ns[name] = unary(tf, nf if nf is not None else getattr(_sp, name))
    for name, tf in {"hypot": torch.hypot, "arctan2": torch.atan2, "maximum": torch.maximum,
                     "minimum": torch.minimum, "power": torch.pow, "less": torch.lt, "less_equal": torch.le,
                     "greater": torch.gt, "greater_equal": torch.ge, "equal": torch.eq, "not_equal": torch.ne,
                     "heaviside": torch.heaviside}.items():
        ns[name] = binary(tf, getattr(np, name))
    ns["logical_and"] = _Logical(lambda *a: functools.reduce(torch.logical_and, a), np.logical_and)
    ns["logical_or"] = _Logical(lambda *a: functools.reduce(torch.logical_or, a), np.logical_or)
    ns["logical_not"] = unary(torch.logical_not, np.logical_not)
    ns["select"] = select
    ns["reduce"] = functools.reduce
    return ns


def lambdify_torch(expr, sym=X) -> Callable:
    """``expr`` as a function of a torch tensor (same device and dtype), built from the numpy printer's
    output with torch implementations of the names it emits (sympy's own torch printer cannot print
    log(2), Max or hypot in this version)."""
    ns = _torch_namespace()
    f = sympy.lambdify(sym, _drop_dirac(expr), modules=[ns, "numpy"])

    def call(t):
        out = f(t)
        if not hasattr(out, "expand"):  # a constant formula gives a Python number
            return t.new_full(t.shape, float(out))
        return out.expand(t.shape) if out.shape != t.shape else out

    return call


# ------------------------------------------------------------------------------------------------
# the regularizer
# ------------------------------------------------------------------------------------------------
@dataclass(kw_only=True, repr=False)
class ExprRegularizer(SeparableRegularizer):
    """A separable regularizer built from a formula by :func:`from_expr`.

    Extra attributes: ``expr`` (v as a sympy expression in ``X``), ``route`` ('symbolic' when v* and
    grad v* are evaluated from verified closed forms, else 'numeric'), ``conj_expr`` / ``grad_conj_expr``
    (sympy expressions in ``S``, or None), ``derivation_note`` (what the symbolic route found or why it
    failed), ``rejected_branches`` ((branch, reason) pairs), ``numeric`` (the NumericConjugate, always
    built), ``mu_exact`` (mu is a sympy value rather than a grid minimum).
    """

    expr: sympy.Expr = None
    route: str = "numeric"
    conj_expr: Optional[sympy.Expr] = None
    grad_conj_expr: Optional[sympy.Expr] = None
    derivation_note: str = ""
    rejected_branches: tuple = ()
    numeric: Optional[NumericConjugate] = None
    mu_exact: bool = False
    request: tuple = field(default=(), repr=False)

    def __reduce__(self):
        # lambdified functions do not pickle: rebuild from the sympy expression (which pickles as a
        # tree of sympy objects; no text is parsed on loading)
        return (_rebuild, self.request)

    def __repr__(self) -> str:
        return (f"<ExprRegularizer {self.name!r} v={self.expr} on [{self.domain.lo}, {self.domain.hi}] "
                f"mu={self.mu:.6g} route={self.route}>")


def _rebuild(expr, lo, hi, name, require_strong, route, timeout):
    if not isinstance(expr, sympy.Expr):
        raise InvalidRegularizerError(f"a pickled ExprRegularizer carries a sympy expression, got {type(expr).__name__}")
    return from_expr(expr, domain=(lo, hi), name=name, require_strong=require_strong,
                     route=route, timeout=timeout)


# ------------------------------------------------------------------------------------------------
# parsing and sympy helpers
# ------------------------------------------------------------------------------------------------
def _parse(expr) -> sympy.Expr:
    if isinstance(expr, str):
        e = parse_formula(expr)  # a whitelist walk: the text is data, never executed
    elif isinstance(expr, sympy.Basic):
        e = expr
    elif isinstance(expr, (int, float)) and not isinstance(expr, bool):
        e = sympy.nsimplify(expr, rational=True)
    else:
        raise InvalidRegularizerError(
            f"formula must be a string or a sympy expression in x, got {type(expr).__name__}: {expr!r}")
    if not isinstance(e, sympy.Expr):
        raise InvalidRegularizerError(f"formula {expr!r} is not an expression (got {type(e).__name__}: {e})")
    # a user's own Symbol('x') (any assumptions) is our real x
    e = e.xreplace({sym: X for sym in e.free_symbols if isinstance(sym, sympy.Symbol) and sym.name == "x"})
    # float coefficients as the decimals they print as (0.1 -> 1/10): the branch checks run at 120
    # digits, where a 15-digit Float would make every inverse look 1e-16 wrong
    floats = {f: sympy.nsimplify(f, rational=True) for f in e.atoms(sympy.Float)}
    if floats:
        e = e.xreplace(floats)
    if e.has(sympy.zoo, sympy.nan, sympy.oo):
        raise InvalidRegularizerError(
            f"formula {expr!r} contains an infinite or undefined constant ({e}); 1/0 and log(0) have no value")
    others = sorted(str(sym) for sym in e.free_symbols if sym != X)
    if others:
        raise InvalidRegularizerError(
            f"formula {expr!r} has symbols other than x: {', '.join(others)}; v must be a function of x alone "
            "(substitute numbers for the parameters)")
    undefined = sorted(str(f.func) for f in e.atoms(sympy.core.function.AppliedUndef))
    if undefined:
        raise InvalidRegularizerError(f"formula {expr!r} uses unknown functions: {', '.join(undefined)}")
    return e


def _to_sym(value):
    """A domain end as an exact sympy number (floats as the decimal they print as: 0.3 -> 3/10)."""
    if isinstance(value, sympy.Basic):
        v = value
    elif isinstance(value, str):
        v = parse_number(value)  # a whitelist walk: the text is data, never executed
    else:
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise DomainError(f"domain end {value!r} is not a number") from None
        if math.isinf(f):
            return sympy.oo if f > 0 else -sympy.oo
        if math.isnan(f):
            raise DomainError(f"domain end {value!r} is NaN")
        # the decimal the float prints as (0.3 -> 3/10), which converts back to the same float
        v = sympy.Integer(int(f)) if f.is_integer() else sympy.Rational(repr(f))
    if v in (sympy.oo, -sympy.oo):
        return v
    if not v.is_number or not v.is_real:
        raise DomainError(f"domain end {value!r} is not a real number")
    return v


def _fnum(v) -> float:
    """A sympy number (or +-oo) as a float; NaN for anything else."""
    if v is sympy.oo:
        return math.inf
    if v is -sympy.oo:
        return -math.inf
    try:
        c = complex(v.evalf(30))
    except (TypeError, ValueError, AttributeError):
        return math.nan
    return c.real if abs(c.imag) <= 1e-25 * max(1.0, abs(c.real)) else math.nan


def _exact(v: float):
    """A float as the exact rational it stores (for high-precision checks at float inputs)."""
    if math.isinf(v):
        return sympy.oo if v > 0 else -sympy.oo
    return sympy.Rational(*float(v).as_integer_ratio())


def _hp(expr, sym, at, digits: int = 30):
    """expr at sym = ``at`` to ``digits`` digits: a sympy Float, a complex-valued number, or None (NaN, zoo)."""
    try:
        val = expr.subs(sym, at)
        val = val.evalf(digits, maxn=4 * digits + 200)
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError):
        return None
    if val.has(sympy.nan, sympy.zoo) or not val.is_number:
        return None
    return val


def _real_value(val) -> Optional[float]:
    """The float of a high-precision value if it is real (imaginary part at rounding level), else None."""
    if val is None:
        return None
    if val in (sympy.oo, -sympy.oo):
        return _fnum(val)
    try:
        c = complex(val)
    except (TypeError, ValueError):
        return None
    if abs(c.imag) > 1e-20 * max(1.0, abs(c.real)):
        return None
    return c.real


_VALUE_CACHE: dict = {}


def _value_at(expr, point, side: Optional[str], clock: _Clock, cap: float = 2.0):
    """expr at ``point``, by substitution or else a one-sided limit ('+', '-', or None for two-sided):
    a sympy number or +-oo, or None when neither works in time. Successful answers are memoised."""
    key = (expr, point, side)
    if key in _VALUE_CACHE:
        return _VALUE_CACHE[key]
    val = _value_at_uncached(expr, point, side, clock, cap)
    if val is not None:
        if len(_VALUE_CACHE) > 4096:
            _VALUE_CACHE.clear()
        _VALUE_CACHE[key] = val
    return val


def _value_at_uncached(expr, point, side, clock, cap):
    # substitution first: callers pass kink-free expressions where the side matters, so a finite value
    # found this way is the one-sided limit; only 0/0, inf - inf, ... forms need sympy's limit
    if point not in (sympy.oo, -sympy.oo):
        try:
            v = expr.subs(X, point)
            if v.is_number and not v.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo) and v.is_finite:
                if _real_value(_hp(v, X, 0)) is not None:
                    return v
        except (TypeError, ValueError, ZeroDivisionError, ArithmeticError):
            pass
    try:
        if point in (sympy.oo, -sympy.oo):
            v = clock.run(lambda: sympy.limit(expr, X, point), cap)
        else:
            v = clock.run(lambda: sympy.limit(expr, X, point, side or "+-"), cap)
    except _Timeout:
        return None
    except Exception:  # sympy's limit raises many kinds on hard input
        return None
    if v is None or not v.is_number or v.has(sympy.nan, sympy.zoo, sympy.AccumBounds):
        return None
    if v in (sympy.oo, -sympy.oo):
        return v
    return v if _real_value(_hp(v, X, 0)) is not None else None


# ------------------------------------------------------------------------------------------------
# pieces between kinks
# ------------------------------------------------------------------------------------------------
@dataclass
class _Piece:
    c0: object  # sympy ends (may be +-oo)
    c1: object
    v: sympy.Expr  # v without Abs/Piecewise on (c0, c1)
    dv: sympy.Expr = None
    L: object = None  # v'(c0+)
    R: object = None  # v'(c1-)
    xs: Optional[sympy.Expr] = None  # the verified inverse of v' on the piece (None: v affine there)
    xs_eval: Optional[sympy.Expr] = None  # its float-safe form
    cj: Optional[sympy.Expr] = None  # v* on the piece's range of s, and its float-safe form
    cj_eval: Optional[sympy.Expr] = None


def _kink_free(expr) -> sympy.Expr:
    """Abs, sign, Max, Min, Heaviside rewritten as Piecewise and folded to the top."""
    e = expr
    for f in (sympy.Abs, sympy.sign, sympy.Max, sympy.Min, sympy.Heaviside):
        if e.has(f):
            e = e.rewrite(sympy.Piecewise)
    return sympy.piecewise_fold(e)


def _pieces(e, lo, hi, clock: _Clock) -> list:
    """Split [lo, hi] at the points where a Piecewise condition of v changes."""
    pw = _kink_free(e)
    cuts = set()
    for p in pw.atoms(sympy.Piecewise):
        for _, cond in p.args:
            for rel in cond.atoms(sympy.core.relational.Relational):
                g = rel.lhs - rel.rhs
                if not g.has(X):
                    continue
                try:
                    roots = clock.run(lambda: sympy.solve(g, X), 3.0)
                except _Timeout:
                    raise _GiveUp(f"timed out locating the kink {rel}") from None
                except Exception as err:
                    raise _GiveUp(f"cannot locate the kink {rel}: {err}") from None
                for r in roots:
                    rv = _real_value(_hp(r, X, 0))
                    if rv is not None and _fnum(lo) < rv < _fnum(hi):
                        cuts.add(sympy.nsimplify(r))
    ends = [lo] + sorted(cuts, key=_fnum) + [hi]
    pieces = []
    for c0, c1 in zip(ends[:-1], ends[1:]):
        if c0.is_finite and c1.is_finite:
            mid = (c0 + c1) / 2
        elif c0.is_finite:
            mid = c0 + 1
        elif c1.is_finite:
            mid = c1 - 1
        else:
            mid = sympy.Integer(0)

        def pick(p, mid=mid):
            for ex, cond in p.args:
                c = cond.subs(X, mid)
                if c is sympy.true:
                    return ex
                if c is not sympy.false:
                    raise _GiveUp(f"cannot decide the condition {cond} at x = {mid}")
            raise _GiveUp(f"no branch of {p} holds at x = {mid}")

        v = pw.replace(lambda a: isinstance(a, sympy.Piecewise), pick) if pw.has(sympy.Piecewise) else pw
        pieces.append(_Piece(c0=c0, c1=c1, v=v))
    return pieces


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------
@dataclass
class _Checked:
    lo: float
    hi: float
    lo_s: object
    hi_s: object
    v: Callable
    dv: Callable
    d2v: Callable
    mu: float
    mu_exact: bool
    hess0: Optional[float]
    dv0_minus: float
    dv0_plus: float
    dv_lo: float
    dv_hi: float
    v_lo: float
    v_hi: float
    pieces: Optional[list]
    notes: list


def _short(expr, n: int = 120) -> str:
    text = str(expr)
    return text if len(text) <= n else text[: n - 3] + "..."


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _classify(hv):
    """('undefined' | 'complex' | 'infinite' | 'real', text) for a high-precision value (sympy)."""
    if hv is None:
        return "undefined", "undefined"
    if hv in (sympy.oo, -sympy.oo):
        return "infinite", str(hv)
    re_, im_ = hv.as_real_imag()
    if not (re_.is_number and im_.is_number):
        return "undefined", str(hv)
    if abs(im_) > 1e-20 * max(1, abs(re_)):
        return "complex", str(sympy.N(hv, 6))
    if not re_.is_finite:
        return "infinite", str(re_)
    return "real", str(sympy.N(re_, 6))


def _one_sided(pieces, dv_s, dv_np, point: float, side: str, clock: _Clock) -> float:
    """v'(point+) or v'(point-): from the smooth expression of the piece on that side (so that a kink at
    ``point`` is seen), else numerically just beside the point."""
    if pieces is not None:
        for pc in pieces:
            c0, c1 = _fnum(pc.c0), _fnum(pc.c1)
            if (side == "+" and c0 <= point < c1) or (side == "-" and c0 < point <= c1):
                val = _value_at(sympy.diff(pc.v, X), _exact(point), side, clock)
                if val is not None:
                    return _fnum(val)
                break
    h = 1e-9 * max(1.0, abs(point))
    return float(dv_np(np.array([point + (h if side == "+" else -h)]))[0])


def _validate(e, lo_s, hi_s, require_strong: bool, clock: _Clock, shown: str) -> _Checked:
    lo, hi = _fnum(lo_s), _fnum(hi_s)
    where = f"[{_fmt(lo)}, {_fmt(hi)}]"
    notes: list = []
    dv_s = _drop_dirac(sympy.diff(e, X))
    d2v_s = _drop_dirac(sympy.diff(dv_s, X))
    v_np, dv_np, d2v_np = lambdify_numpy(e), lambdify_numpy(dv_s), lambdify_numpy(d2v_s)

    # -- real and finite inside ------------------------------------------------------------------
    grid = domain_grid(lo, hi)
    vals = v_np(grid)
    bad = np.flatnonzero(~np.isfinite(vals))
    if bad.size:
        for i in bad[np.unique(np.linspace(0, bad.size - 1, min(bad.size, 50)).astype(int))]:
            p = float(grid[i])
            kind, text = _classify(_hp(e, X, _exact(p)))
            if kind != "real":
                what = {"undefined": "undefined", "complex": "complex (not real)", "infinite": "infinite"}[kind]
                raise InvalidRegularizerError(
                    f"v = {shown} is {what} at x = {p:.6g} inside the domain {where} (v({p:.6g}) = {text}); "
                    "choose a domain where the formula is real and finite")
        # 30-digit values are finite: float64 overflow only; scan without those points
        notes.append(f"v overflows float64 at {bad.size} grid points (e.g. x = {float(grid[bad[0]]):.3g}; "
                     "finite at 30 digits), left out of the scans")
        grid = grid[np.isfinite(vals)]

    pieces = None
    try:
        pieces = _pieces(e, lo_s, hi_s, clock)
    except (_GiveUp, _Timeout) as err:
        notes.append(f"kinks not located ({err})")

    # -- continuity: no jump at a kink or where sign/Heaviside/floor/ceiling switch ------------------
    _check_continuity(e, pieces, lo, hi, clock, shown)

    # -- v(0) = 0 ----------------------------------------------------------------------------------
    v0 = _value_at(e, sympy.Integer(0), "+" if lo == 0 else "-" if hi == 0 else None, clock)
    v0f = _fnum(v0) if v0 is not None else float(v_np(np.array([0.0]))[0])
    finite_vals = vals[np.isfinite(vals)]
    scale = max(1.0, float(np.max(np.abs(finite_vals)))) if finite_vals.size else 1.0
    # exact zero, or zero up to the rounding of a formula with float coefficients (16 eps of its size)
    if not (v0 is not None and v0.is_zero) and not (math.isfinite(v0f) and abs(v0f) <= 16 * _EPS * scale):
        shown0 = v0 if v0 is not None else _fmt(v0f)
        raise InvalidRegularizerError(
            f"v(0) = {shown0} but a regularizer needs v(0) = 0 = min v; subtract the constant: use "
            f"'{shown} - ({shown0})'")

    # -- convexity: v'' >= 0 and v' nondecreasing across kinks ---------------------------------------
    scan = scan_curvature(d2v_np, dv_np, lo, hi, grid=grid)
    if scan.negative is not None:
        p, val = scan.negative
        hv = _real_value(_hp(d2v_s, X, _exact(p), _NEG_CURV_DIGITS))
        if hv is None or hv < 0:
            shown_val = val if hv is None else hv
            raise NotConvexError(
                f"v = {shown} is not convex on {where}: v''({p:.6g}) = {shown_val:.6g} < 0", point=p,
                curvature=shown_val)
        notes.append(f"grid v'' = {val:.3g} at x = {p:.3g} is rounding (30 digits: {hv:.3g})")
    if scan.decrease is not None:
        x1, x2, g1, g2 = scan.decrease
        raise NotConvexError(
            f"v = {shown} is not convex on {where}: v' decreases from v'({x1:.6g}) = {g1:.6g} to v'({x2:.6g}) = "
            f"{g2:.6g} (a concave kink near x = {(x1 + x2) / 2:.6g}, where v'' has a negative point mass)",
            point=(x1 + x2) / 2, curvature=-math.inf)
    exact = _exact_critical(d2v_s, lo, hi, clock)
    for val, at in exact or []:
        if val < 0:
            raise NotConvexError(f"v = {shown} is not convex on {where}: v''({at}) = {val:.6g} < 0",
                                 point=_fnum(at), curvature=val)

    # -- 0 is the minimiser: 0 in [v'(0-), v'(0+)] ---------------------------------------------------
    dv0_minus = _one_sided(pieces, dv_s, dv_np, 0.0, "-", clock) if lo < 0 else -math.inf
    dv0_plus = _one_sided(pieces, dv_s, dv_np, 0.0, "+", clock) if hi > 0 else math.inf
    finite_d = [abs(d) for d in (dv0_minus, dv0_plus) if math.isfinite(d)]
    tol0 = 16 * _EPS * max([1.0] + finite_d)  # rounding of v'(0) for formulas with float coefficients
    if dv0_plus < -tol0 or dv0_minus > tol0:
        g = dv0_plus if dv0_plus < -tol0 else dv0_minus
        if lo < 0 < hi and dv0_minus != dv0_plus:
            cond = f"v'(0-) = {_fmt(dv0_minus)}, v'(0+) = {_fmt(dv0_plus)}; need v'(0-) <= 0 <= v'(0+)"
        elif lo < 0 < hi:
            cond = f"v'(0) = {_fmt(g)}; need v'(0) = 0 at an interior 0"
        else:
            cond = f"v'(0) = {_fmt(g)}; need v'(0) {'>=' if lo == 0 else '<='} 0 at the end 0 of the domain"
        raise InvalidRegularizerError(
            f"0 is not the minimiser of v = {shown} on {where} ({cond}), but a regularizer needs min v = v(0) = 0. "
            f"Use '{shown} - ({_fmt(g)})*x' instead: same curvature, minimum at 0 (its conjugate is "
            f"v*(s + {_fmt(g)}))")

    # -- mu = inf v'' ----------------------------------------------------------------------------------
    candidates = [(scan.inf_d2v, _fmt(scan.argmin), False)]
    for end, side in ((lo_s, "+"), (hi_s, "-")):
        lim = _value_at(d2v_s, end, side, clock)
        if lim is not None:
            candidates.append((_fnum(lim), f"the limit x -> {end}", True))
    candidates += [(val, at, True) for val, at in exact or []]
    mu, mu_where, mu_exact = min(candidates, key=lambda c: (c[0], not c[2]))  # ties: the exact value
    # v'' of a strongly convex formula stays away from 0; a grid minimum below 1e-10 of the typical
    # curvature is the float resolution of v'' at large |x| or near a flat point: count it as 0
    fin = np.abs(scan.d2v[np.isfinite(scan.d2v)])
    typical = float(np.median(fin)) if fin.size else 1.0
    if not mu_exact and mu <= 1e-10 * typical:
        if mu != 0:
            notes.append(f"inf v'' = {mu:.3g} on the grid (at x = {mu_where}) counts as 0")
        mu = 0.0
    if mu <= 0:
        mu = 0.0
        if require_strong:
            raise NotStronglyConvexError(
                f"v = {shown} is convex but not strongly convex on {where}: inf v'' = 0 (at x = {mu_where}). "
                "It can still be used as a hard LMO (tau = inf), not as a relaxed one; pass require_strong=False "
                "(on the command line: --allow-weak) to get it with mu = 0")

    # -- curvature at 0, one-sided derivatives and values at the ends --------------------------------
    # v''(0), when it exists: None at a kink at 0 (tau -> 0 is then not SGD) and where v'' jumps at 0
    hess0 = None
    if not (lo < 0 < hi and dv0_minus < dv0_plus):
        sides = [s for s, ok in (("-", lo < 0), ("+", hi > 0)) if ok]
        hs = []
        for side in sides:
            h = None
            for pc in pieces or []:
                c0, c1 = _fnum(pc.c0), _fnum(pc.c1)
                if (side == "+" and c0 <= 0 < c1) or (side == "-" and c0 < 0 <= c1):
                    h = _value_at(_drop_dirac(sympy.diff(pc.v, X, 2)), sympy.Integer(0), side, clock)
            hs.append(_fnum(h) if h is not None else float(d2v_np(np.array([0.0]))[0]))
        if hs and all(math.isfinite(h) for h in hs) and max(hs) - min(hs) <= 1e-12 * max(1.0, max(map(abs, hs))):
            hess0 = hs[0]

    def end_value(expr, fn, end, side, default):
        if not math.isfinite(_fnum(end)):
            return default
        val = _value_at(expr, end, side, clock)
        if val is not None:
            return _fnum(val)
        inward = _fnum(end) + (1 if side == "+" else -1) * 1e-12 * max(1.0, abs(_fnum(end)))
        return float(fn(np.array([inward]))[0])

    dv_lo = _one_sided(pieces, dv_s, dv_np, lo, "+", clock) if math.isfinite(lo) else -math.inf
    dv_hi = _one_sided(pieces, dv_s, dv_np, hi, "-", clock) if math.isfinite(hi) else math.inf
    dv_lo = -math.inf if math.isnan(dv_lo) else dv_lo
    dv_hi = math.inf if math.isnan(dv_hi) else dv_hi
    v_lo = end_value(e, v_np, lo_s, "+", math.inf)
    v_hi = end_value(e, v_np, hi_s, "-", math.inf)
    return _Checked(lo=lo, hi=hi, lo_s=lo_s, hi_s=hi_s, v=v_np, dv=dv_np, d2v=d2v_np, mu=float(mu),
                    mu_exact=bool(mu_exact and mu > 0), hess0=hess0, dv0_minus=dv0_minus, dv0_plus=dv0_plus,
                    dv_lo=dv_lo, dv_hi=dv_hi, v_lo=v_lo, v_hi=v_hi, pieces=pieces, notes=notes)


def _jump_candidates(e, pieces, lo: float, hi: float, clock: _Clock) -> list:
    """(c, left, right): the interior points c where v may jump, with the expressions whose one-sided
    limits are v(c-) and v(c+): the piece boundaries (kinks and the switch points of sign, Heaviside,
    Max, Min, Piecewise), and the points where the argument u of floor(u) / ceiling(u) crosses an
    integer (the few nearest 0, located on the scan grid, exactly by sympy where it can)."""
    out = [(a.c1, a.v, b.v) for a, b in zip(pieces[:-1], pieces[1:])] if pieces else []
    steps = [f for f in e.atoms(sympy.floor, sympy.ceiling) if f.args[0].has(X)]
    if not steps:
        return out
    grid = domain_grid(lo, hi)
    found: dict = {}  # ordered, without repeats
    for f in steps:
        u = f.args[0]
        with np.errstate(all="ignore"):
            k = np.floor(lambdify_numpy(u)(grid))
        change = np.flatnonzero(np.isfinite(k[:-1]) & np.isfinite(k[1:]) & (k[:-1] != k[1:]))
        for i in sorted(change, key=lambda j: abs(grid[j]))[:4]:
            level = max(k[i], k[i + 1])  # the integer u crosses between grid[i] and grid[i + 1]
            a, b = float(grid[i]), float(grid[i + 1])
            c = None
            try:
                roots = clock.run(lambda: sympy.solve(u - int(level), X), 2.0)
                c = next((r for r in roots if (rv := _real_value(_hp(r, X, 0))) is not None and a <= rv <= b), None)
            except (_Timeout, Exception):  # no exact crossing: the grid bracket's midpoint stands in
                c = None
            found.setdefault(c if c is not None else _exact((a + b) / 2))
    return out + [(c, e, e) for c in found]


def _one_sided_value(expr, c, side: str, clock: _Clock):
    """The limit of expr at x -> c from ``side`` as a float (sympy's limit, capped at 2 s), else expr
    at 40 digits at c -+ 1e-30 (1 + |c|); None where neither gives a real number."""
    try:
        val = clock.run(lambda: sympy.limit(expr, X, c, side), 2.0)
        f = _real_value(_hp(val, X, 0)) if val.is_number and not val.has(sympy.AccumBounds) else None
        if f is not None:
            return f
    except (_Timeout, Exception):  # sympy's limit raises many kinds on hard input
        pass
    h = sympy.Rational(1, 10 ** 30) * (1 + abs(_exact(_fnum(c))))
    return _real_value(_hp(expr, X, c - h if side == "-" else c + h, 40))


def _check_continuity(e, pieces, lo: float, hi: float, clock: _Clock, shown: str) -> None:
    """Refuse a v that jumps inside the domain: a convex function is continuous in the interior of its
    domain, and the checks of v'' and v' that follow would not see a jump (sign(x) has v' = 0 on both
    sides). At each candidate point c, v(c-), v(c) and v(c+) must agree to 1e-12 of their size."""
    def side_value(expr, c, side):
        if expr is not e:  # a kink-free piece: substitution (memoised) gives the one-sided value
            val = _value_at(expr, c, side, clock)
            if val is not None:
                return _real_value(_hp(val, X, 0))
        return _one_sided_value(expr, c, side, clock)

    for c, left, right in _jump_candidates(e, pieces, lo, hi, clock):
        vl, vr = side_value(left, c, "-"), side_value(right, c, "+")
        vc = _real_value(_hp(e, X, c))
        vals = [v for v in (vl, vc, vr) if v is not None]
        if len(vals) < 2:
            continue
        scale = 1.0 + max(abs(v) for v in vals)
        if max(vals) - min(vals) > 1e-12 * scale:
            at = c if isinstance(c, sympy.Rational) or c.is_number and len(str(c)) < 30 else _fmt(_fnum(c))
            mid = f", v({at}) = {vc:.6g}" if vc is not None and vl is not None and vr is not None \
                and abs(vl - vr) <= 1e-12 * scale else ""
            left_t = f"v({at}-) = {vl:.6g}" if vl is not None else f"v({at}) = {vc:.6g}"
            right_t = f"v({at}+) = {vr:.6g}" if vr is not None else f"v({at}) = {vc:.6g}"
            raise InvalidRegularizerError(
                f"v = {shown} jumps at x = {at}: {left_t}{mid}, {right_t}; a regularizer must be continuous "
                "(convex) on its domain")


def _exact_critical(d2v, lo: float, hi: float, clock: _Clock):
    """(v''(c), c) at the real critical points c of v'' inside (lo, hi) found by sympy, or None."""
    if d2v.has(sympy.Piecewise) or not d2v.has(X):
        return None
    try:
        crit = clock.run(lambda: sympy.solve(sympy.diff(d2v, X), X), 2.0)
    except _Timeout:
        return None
    except Exception:
        return None
    out = []
    for c in crit:
        cv = _real_value(_hp(c, X, 0))
        if cv is None or not lo < cv < hi:
            continue
        val = _real_value(_hp(d2v, X, c))
        if val is not None:
            out.append((val, c))
    return out


# ------------------------------------------------------------------------------------------------
# the symbolic route
# ------------------------------------------------------------------------------------------------
class _Precise:
    """A sympy expression evaluated with mpmath at increasing precision (60, 120, 400, 1300, 4000 digits)
    until two consecutive precisions agree to 40 digits on a nonzero finite value. Cancellation shows
    as disagreement, or as an exact 0 or inf at the lower precisions (s + sqrt(s^2 + 1) at s = -1e100 is
    0 to 120 digits), so those climb on; a value that stays 0 or inf up to 4000 digits is taken as
    exact, and one that never settles is reported unresolvable (None)."""

    UNDEFINED = "undefined"
    LADDER = (60, 120, 400, 1300, 4000)

    def __init__(self, expr, sym):
        self.f = sympy.lambdify(sym, expr, modules="mpmath")

    def _eval(self, value, d):
        with mpmath.workdps(d):
            try:
                r = mpmath.mpmathify(self.f(+mpmath.mpmathify(value)))
            except (ZeroDivisionError, ValueError, OverflowError, TypeError, ArithmeticError):
                return self.UNDEFINED
            return self.UNDEFINED if mpmath.isnan(r) else r

    def at(self, value, digits=None):
        """The value (mpf or mpc) at ``value``, None where unresolvable, UNDEFINED where NaN/error
        (at every precision)."""
        ladder = self.LADDER if digits is None else digits
        prev = None
        for d in ladder:
            r = self._eval(value, d)
            if prev is not None:
                if r is self.UNDEFINED and prev is self.UNDEFINED:
                    prev = r
                    continue
                if r is not self.UNDEFINED and prev is not self.UNDEFINED:
                    with mpmath.workdps(d + 10):
                        special = r == 0 or mpmath.isinf(r)
                        if not special and abs(r - prev) <= mpmath.mpf("1e-40") * abs(r):
                            return r
                        if special and r == prev and d == ladder[-1]:
                            return r
            prev = r
        if len(ladder) == 1 or prev is self.UNDEFINED:
            return prev
        return None


def _is_real(v) -> bool:
    return not isinstance(v, mpmath.mpc) or abs(v.imag) <= mpmath.mpf("1e-40") * max(1, abs(v.real))


def _piece_test_points(L: float, R: float, center: float) -> list:
    """Floats in (L, R) at which a candidate inverse and its float form are checked: spread over the
    range, near both ends, and out to 1e300 on an unbounded side; ordered from the centre outwards
    (so that a spurious branch is reported at a moderate s)."""
    pts = set()
    if math.isfinite(L) and math.isfinite(R):
        w = R - L
        pts |= {L + w * t for t in (1e-12, 1e-9, 1e-6, 1e-3, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)}
        pts |= {R - w * t for t in (1e-12, 1e-9, 1e-6, 1e-3)}
        c = center if math.isfinite(center) and L < center < R else (L + R) / 2
        # around v'(0): small steps, where cancellation in a closed form shows
        pts |= {c + o for o in (0.0, 1e-300, -1e-300, 1e-12, -1e-12, 1e-6, -1e-6)}
    else:
        c = min(max(center if math.isfinite(center) else 0.0, L), R)
        for o in (0.0, 1e-300, 1e-100, 1e-9, 1e-3, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e6, 1e12,
                  1e100, 1e300):
            pts |= {c + o, c - o}
        for fin, sgn in ((L, 1.0), (R, -1.0)):
            if math.isfinite(fin):
                pts |= {fin + sgn * o * max(1.0, abs(fin)) for o in (1e-12, 1e-9, 1e-6, 1e-3, 0.1)}
    return sorted((p for p in pts if L < p < R and math.isfinite(p)), key=lambda p: (abs(p - c), p))


def _check_branch(xs, piece: _Piece, points: list):
    """(reason, values): reason is None if x(s) = xs is real, inside the piece and solves v'(x) = s to
    1e-30 (1 + |s|) at 120 digits at every resolvable test point; values maps s to the 120-digit x(s).

    A point is skipped (not failed) where x(s) cannot be resolved at 60/120 digits or lies within 1e-50
    of a piece end (tanh(1e6) = 1 - 1e-868589); at least 4 checked points must remain."""
    c0, c1 = _fnum(piece.c0), _fnum(piece.c1)
    width = max([1.0] + [abs(c) for c in (c0, c1) if math.isfinite(c)])
    try:
        fx, fdv = _Precise(xs, S), _Precise(piece.dv, X)
    except Exception as err:  # a branch with zoo or a function mpmath lacks is not the inverse we can use
        return f"x(s) cannot be evaluated ({type(err).__name__}: {_short(str(err), 60)})", {}
    values, checked, undefined = {}, 0, []
    for sv in points:
        xv = fx.at(sv)
        if xv is _Precise.UNDEFINED:
            # an isolated 0/0 (a removable singularity, e.g. (sqrt(4 s^2 + 1) - 1) / (2 s) at s = 0) is
            # skipped; a branch undefined on a stretch of s is not the inverse there
            undefined.append(sv)
            if len(undefined) > max(2, len(points) // 4):
                return f"x(s) is undefined at s = {', '.join(f'{u:.3g}' for u in undefined[:3])}, ...", values
            continue
        if xv is None:
            continue
        if not _is_real(xv):
            return f"x(s) = {mpmath.nstr(xv, 6)} is complex at s = {sv:.6g}", values
        xv = mpmath.re(xv)
        if xv < c0 - 1e-30 * width or xv > c1 + 1e-30 * width:
            return f"x(s) = {mpmath.nstr(xv, 6)} lies outside the piece [{_fmt(c0)}, {_fmt(c1)}] at s = {sv:.6g}", values
        values[sv] = xv
        with mpmath.workdps(120):
            if min(xv - c0, c1 - xv) < mpmath.mpf("1e-50") * width:
                continue
        r = fdv.at(xv, digits=(120,))
        if r is None or r is _Precise.UNDEFINED or not _is_real(r):
            continue
        with mpmath.workdps(120):
            res = mpmath.re(r) - sv
            if abs(res) > mpmath.mpf("1e-30") * (1 + abs(sv)):
                return f"v'(x(s)) - s = {mpmath.nstr(res, 3)} at s = {sv:.6g}: a spurious branch", values
        checked += 1
    if checked < 4:
        return f"only {checked} test points could be resolved at 120 digits", values
    return None, values


def _real_roots(expr):
    """expr with each b**(p/q), q odd, read as the real root sign(b)^p |b|^(p/q) (sympy's principal
    root of a negative b is complex: s**(1/3) for the inverse of x^3 is wrong for s < 0)."""
    def rule(pw):
        if isinstance(pw, sympy.Pow) and pw.exp.is_Rational and not pw.exp.is_Integer and pw.exp.q % 2 == 1:
            return sympy.sign(pw.base) ** pw.exp.p * sympy.Abs(pw.base) ** pw.exp
        return pw

    return expr.replace(lambda a: isinstance(a, sympy.Pow), rule)


def _candidates(sol) -> list:
    """A solve() result as candidate branches: itself, its real-root reading, and the parts of a
    Piecewise with NaN parts."""
    out = [sol]
    rr = _real_roots(sol)
    if rr != sol:
        out.append(rr)
    if isinstance(sol, sympy.Piecewise):
        out += [ex for ex, _ in sol.args if not ex.has(sympy.nan) and ex not in out]
    return out


_CHEAP = (
    sympy.radsimp,
    lambda e: sympy.simplify(sympy.expand_log(e.rewrite(sympy.exp), force=True)),
)
_COSTLY = (
    lambda e: sympy.simplify(e.rewrite(sympy.exp)),
    sympy.simplify,
)


def _conj_variants(raw, clock: _Clock, strategies) -> list:
    """Equal forms of a v* piece from the given strategies (each time-limited), shortest first."""
    out = [raw]
    for strat in strategies:
        if clock.left() <= 0:
            break
        try:
            r = clock.run(lambda strat=strat: strat(raw), 3.0)
        except _Timeout:
            continue
        except Exception:  # a strategy that fails just gives no variant
            continue
        if isinstance(r, sympy.Expr) and r not in out and not r.has(sympy.nan, sympy.zoo):
            out.append(r)
    return sorted(out, key=sympy.count_ops)


@dataclass
class _Symbolic:
    grad: sympy.Expr  # for display (sympy's forms)
    conj: sympy.Expr
    grad_eval: sympy.Expr  # float-safe forms
    conj_eval: Optional[sympy.Expr]  # None: v* by substitution s x - v(x)
    rejected: list
    note: str
    checked_points: int


def _derive_job(e, pieces: list, seconds: float):
    """The worker process's job: (_Symbolic, pieces with their limits and branches filled in). A
    give-up because the budget ran out (a capped sympy call that timed out) is reported as a timeout."""
    clock = _Clock(seconds)
    try:
        return _derive(e, pieces, clock), pieces
    except _GiveUp:
        if clock.left() <= 0:
            raise _Timeout() from None
        raise


def _derive(e, pieces: Optional[list], clock: _Clock) -> _Symbolic:
    if pieces is None:
        raise _GiveUp("the kinks of v could not be located")
    rejected, described, conj_lossy = [], [], []
    n_points = 0
    pcs = pieces
    for pc in pcs:
        pc.dv = sympy.diff(pc.v, X)
        pc.L = _value_at(pc.dv, pc.c0, "+", clock)
        pc.R = _value_at(pc.dv, pc.c1, "-", clock)
        if pc.L is None or pc.R is None:
            raise _GiveUp(f"no one-sided limit of v' = {pc.dv} at the ends of [{pc.c0}, {pc.c1}]")
        Lf, Rf = _fnum(pc.L), _fnum(pc.R)
        pc.xs = pc.xs_eval = pc.cj = pc.cj_eval = None
        if not Lf < Rf:
            continue  # v is affine on this piece (mu = 0): it covers no range of s
        try:
            # check=False: sympy's own check is slow and not trusted anyway; _check_branch decides
            sols = clock.run(lambda pc=pc: sympy.solve(sympy.Eq(pc.dv, S), X, check=False))
        except _Timeout:
            raise _GiveUp(f"sympy timed out solving v'(x) = s with v' = {pc.dv}") from None
        except NotImplementedError as err:
            raise _GiveUp(f"sympy cannot solve v'(x) = s with v' = {pc.dv} ({err})") from None
        except Exception as err:  # sympy's solvers fail in many ways on hard input
            raise _GiveUp(f"sympy failed on v'(x) = s with v' = {pc.dv}: {type(err).__name__}: {err}") from None
        # the s where x(s) is nearest 0: v'(0) inside the piece, else v' at the end nearest 0
        if Lf < 0 < Rf and _fnum(pc.c0) < 0 < _fnum(pc.c1):
            center = _real_value(_hp(pc.dv, X, 0))
        else:
            center = Lf if _fnum(pc.c0) >= 0 else Rf
        points = _piece_test_points(Lf, Rf, center if center is not None else 0.0)
        cands = [c for sol in sols for c in _candidates(sol)]
        values = None
        for cand in cands:
            if not cand.free_symbols <= {S}:
                rejected.append((cand, "depends on symbols other than s"))
                continue
            try:
                why, vals = clock.run(lambda cand=cand: _check_branch(cand, pc, points))
            except _Timeout:
                raise _GiveUp("timed out checking the branches of v'(x) = s") from None
            if why is None:
                pc.xs, values = cand, vals
                break
            rejected.append((cand, why))
        if pc.xs is None:
            found = ", ".join(_short(c) for c in cands) or "none"
            raise _GiveUp(f"no branch of v'(x) = s on [{pc.c0}, {pc.c1}] passed the checks (sympy gave: {found})",
                          rejected)
        described.append(f"x = {_short(pc.xs)} for {pc.L} < s < {pc.R}")

        # float-safe grad piece: compared with the 120-digit x(s) at the test points
        s_pts = np.array(sorted(values))
        x_ref = np.array([float(values[sv]) for sv in s_pts])
        n_points += s_pts.size
        form, fail = _float_check(_stable_forms(pc.xs), s_pts, x_ref, None)
        if form is None:
            raise _GiveUp(f"the closed form x = {pc.xs} is not float-safe: at s = {fail[0]:.6g} float64 gives "
                          f"{fail[1]:.17g}, the exact value is {fail[2]:.17g}")
        pc.xs_eval = form

        # v* piece: s x - v(x) at 120 digits for reference, then the shortest float-safe equal form
        fv = _Precise(pc.v, X)
        c_ref = []
        for sv in s_pts:
            xv = values[sv]
            vv = fv.at(xv, digits=(120,))
            if vv is None or vv is _Precise.UNDEFINED or not _is_real(vv):
                vv = _value_at(e, pc.c1 if xv > (_fnum(pc.c0) + _fnum(pc.c1)) / 2 else pc.c0, None, clock) \
                    if min(abs(xv - _fnum(pc.c0)), abs(xv - _fnum(pc.c1))) < 1e-30 else None
                vv = mpmath.mpf(_fnum(vv)) if vv is not None else mpmath.nan
            with mpmath.workdps(120):
                c_ref.append(float(sv * xv - mpmath.re(vv)))
        c_ref = np.array(c_ref)
        raw = S * pc.xs - pc.v.subs(X, pc.xs)
        # the costly simplifications only when the cheap ones give no float-safe form
        for strategies in (_CHEAP, _COSTLY):
            variants = _conj_variants(raw, clock, strategies)
            if pc.cj is None:
                pc.cj = variants[0]
            for var in variants:
                form, fail = _float_check(_stable_forms(var), s_pts, c_ref, x_ref)
                if form is not None:
                    pc.cj, pc.cj_eval = var, form
                    break
            if pc.cj_eval is not None:
                break
        if pc.cj_eval is None:
            conj_lossy.append(f"{pc.cj} (at s = {fail[0]:.3g}: {fail[1]:.17g} vs {fail[2]:.17g})")

    # -- assemble grad v* and v* over all s --------------------------------------------------------
    def v_at(c, side):
        val = _value_at(e, c, side, clock)
        if val is None:
            raise _GiveUp(f"no value of v at x = {c}")
        return val

    g_show, g_eval, c_show, c_eval = [], [], [], []

    def add(x_ex, x_eval, c_ex, c_ev, cond):
        g_show.append((x_ex, cond))
        g_eval.append((x_eval, cond))
        c_show.append((c_ex, cond))
        c_eval.append((c_ev, cond))

    for i, pc in enumerate(pcs):
        if pc.c0 is -sympy.oo and pc.L is not -sympy.oo:
            # v' bounded below on an unbounded side: below that bound the sup is not attained
            add(-sympy.oo, -sympy.oo, sympy.oo, sympy.oo, S <= pc.L)
        elif pc.c0.is_finite and pc.L is not -sympy.oo:
            # s <= v'(c0+) above the previous range: x = c0, a domain end or a kink
            vc = v_at(pc.c0, "+" if i == 0 else None)
            if pc.xs is None and _fnum(pc.c0) < 0 < _fnum(pc.c1):
                # v affine on a piece around 0 (mu = 0): at s = v' there, take the maximiser 0
                add(pc.c0, pc.c0, S * pc.c0 - vc, S * pc.c0 - vc, S < pc.L)
                add(sympy.Integer(0), sympy.Integer(0), sympy.Integer(0), sympy.Integer(0), S <= pc.L)
            else:
                add(pc.c0, pc.c0, S * pc.c0 - vc, S * pc.c0 - vc, S <= pc.L)
        if pc.xs is not None:
            cond = S < pc.R if pc.R is not sympy.oo else sympy.true
            add(pc.xs, pc.xs_eval, pc.cj, pc.cj_eval, cond)
    last = pcs[-1]
    if last.c1.is_finite:
        vc = v_at(last.c1, "-")
        add(last.c1, last.c1, S * last.c1 - vc, S * last.c1 - vc, sympy.true)
    elif last.R is not sympy.oo:
        add(sympy.oo, sympy.oo, sympy.oo, sympy.oo, sympy.true)
    if not g_show or g_show[-1][1] is not sympy.true:
        raise _GiveUp("the pieces do not cover all s")

    def build(parts):
        return sympy.Piecewise(*parts) if len(parts) > 1 else parts[0][0]

    conj_eval = None if any(ex is None for ex, _ in c_eval) else build(c_eval)
    note = "; ".join(described)
    if conj_lossy:
        note += "; v* = " + ", ".join(conj_lossy) + " loses accuracy in float64, so v* is evaluated as s x - v(x)"
    return _Symbolic(grad=build(g_show), conj=build(c_show), grad_eval=build(g_eval), conj_eval=conj_eval,
                     rejected=rejected, note=note, checked_points=n_points)


# -- float-safe rewriting ------------------------------------------------------------------------
def _hypot_form(base):
    """sqrt(base) as hypot(a s, b) when base = a^2 s^2 + b^2 with positive numbers, else None."""
    try:
        poly = sympy.Poly(base, S)
    except sympy.PolynomialError:
        return None
    if poly.degree() != 2:
        return None
    a2, a1, a0 = poly.all_coeffs()
    if a1 != 0 or not (a2.is_positive and a0.is_positive):
        return None
    from sympy.codegen.cfunctions import hypot

    return hypot(sympy.sqrt(a2) * S, sympy.sqrt(a0))


def _asinh_form(arg):
    """asinh(R / c) + log(c) if arg = R + sqrt(R^2 + c^2) (c > 0 a number, any scaling of the root),
    else None: log(s + sqrt(s^2 + 1)) cancels for s << 0, asinh does not."""
    if not isinstance(arg, sympy.Add):
        return None
    roots = [term for term in arg.args
             if any(isinstance(f, sympy.Pow) and f.exp == sympy.Rational(1, 2) for f in sympy.Mul.make_args(term))]
    if len(roots) != 1:
        return None
    T = roots[0]
    R = arg - T
    try:
        c2 = sympy.simplify(sympy.expand(T ** 2 - R ** 2))
    except Exception:  # a simplification sympy cannot do: no asinh form
        return None
    if not (c2.is_number and c2.is_positive and T.subs(S, 0).is_positive is not False):
        return None
    c = sympy.sqrt(c2)
    return sympy.asinh(R / c) + sympy.log(c)


def _stabilize(expr) -> sympy.Expr:
    """A float-safe equal form: logcosh for log(cosh u), asinh for log(R + sqrt(R^2 + c^2)), softplus
    for log(exp(u) + c), hypot for sqrt(a s^2 + b), then log1p/expm1."""
    from sympy.codegen.rewriting import expm1_opt, log1p_opt, optimize

    def pow_rule(p):
        if isinstance(p, sympy.Pow) and p.exp.is_Rational and p.exp.q == 2:
            h = _hypot_form(p.base)
            if h is not None:
                return h ** (2 * p.exp)
        return p

    def log_rule(lg):
        if not isinstance(lg, sympy.log):
            return lg
        arg = lg.args[0]
        if isinstance(arg, sympy.cosh):
            return logcosh(arg.args[0])
        a = _asinh_form(arg)
        if a is not None:
            return a
        if isinstance(arg, sympy.Add) and len(arg.args) == 2:
            for u, w in (arg.args, arg.args[::-1]):
                # log(exp(z) + c) = log(c) + softplus(z - log(c))
                if isinstance(u, sympy.exp) and w.is_number and w.is_positive:
                    return sympy.log(w) + softplus(u.args[0] - sympy.log(w))
        return lg

    out = expr.replace(lambda a: isinstance(a, sympy.log), log_rule)
    out = out.replace(lambda a: isinstance(a, sympy.Pow), pow_rule)
    try:
        out = optimize(out, [log1p_opt, expm1_opt])
    except Exception:  # the rewriting pass is an optimisation only
        pass
    return out


def _rationalize(expr) -> sympy.Expr:
    """Each sum R + k sqrt(B) (one square root) rewritten as (R^2 - k^2 B) / (R - k sqrt(B)): no
    cancellation where R and k sqrt(B) nearly cancel (5/3 - sqrt(25 - 30 s)/3 near s = 0,
    sqrt(s^2 + 1) - 1 near 0)."""
    def is_root(f):
        return isinstance(f, sympy.Pow) and f.exp == sympy.Rational(1, 2)

    def rule(a):
        if not isinstance(a, sympy.Add):
            return a
        roots = [term for term in a.args if any(is_root(f) for f in sympy.Mul.make_args(term))]
        if len(roots) != 1:
            return a
        T = roots[0]
        R = a - T
        if R == 0:
            return a
        num = sympy.expand(R ** 2 - T ** 2)
        return num / (R - T)

    return expr.replace(lambda a: isinstance(a, sympy.Add), rule)


def _factor_roots(expr) -> sympy.Expr:
    """The bases of fractional powers factored: sqrt(1 - s^2) -> sqrt((1 - s)(1 + s)), exact near s = 1."""
    return expr.replace(lambda a: isinstance(a, sympy.Pow) and not a.exp.is_Integer,
                        lambda a: sympy.Pow(sympy.factor(a.base), a.exp))


def _stable_forms(expr) -> list:
    """Candidate float forms of expr, most stable first: rewritten (hypot, softplus, ...) with and
    without rationalized square roots, then as given."""
    out = []
    for f in (lambda e: _stabilize(_rationalize(e)), _stabilize, lambda e: e, _factor_roots,
              lambda e: _stabilize(sympy.expand_log(e, force=True))):
        try:
            g = f(expr)
        except Exception:  # a rewrite that sympy cannot do just gives no candidate
            continue
        if g not in out:
            out.append(g)
    return out


def _float_check(forms, s_pts, ref, x_ref):
    """The first form whose float64 values match the high-precision ``ref`` at ``s_pts``: (form, None),
    else (None, (s, got, want)) at the worst point of the first form.

    Tolerance: relative 1e-12 (~4500 eps: any stable formula of a few dozen operations passes,
    cancellation does not); for v* (``x_ref`` given) also 4 eps (1 + |s x|), the rounding that s x - v(x)
    carries whatever the form. Where the form gives inf/NaN the entry is recomputed numerically at run
    time, so only finite values are judged."""
    first_fail = None
    for form in forms:
        try:
            with np.errstate(all="ignore"):
                got = lambdify_numpy(form, S)(s_pts)
        except Exception:  # a form numpy cannot evaluate is just not float-safe
            continue
        with np.errstate(all="ignore"):
            tol = _GRAD_RTOL * np.abs(ref) + 1e-300
            if x_ref is not None:
                tol = tol + 4 * _EPS * (1.0 + np.abs(s_pts * x_ref))
            err = np.abs(got - ref)
        judged = np.isfinite(got) & np.isfinite(ref)
        bad = judged & ~(err <= tol)
        if not bad.any():
            return form, None
        if first_fail is None:
            j = int(np.flatnonzero(bad)[np.argmax(err[bad] / tol[bad])])
            first_fail = (float(s_pts[j]), float(got[j]), float(ref[j]))
    return None, first_fail


# ------------------------------------------------------------------------------------------------
# from_expr
# ------------------------------------------------------------------------------------------------
def from_expr(expr, domain=(-1.0, 1.0), name: Optional[str] = None, require_strong: bool = True,
              route: str = "auto", timeout: float = 20.0) -> ExprRegularizer:
    """The separable regularizer V(x) = sum_i v(x_i) for a formula v(x) on the interval ``domain``.

    Parameters
    ----------
    expr : str or sympy.Expr
        v as a formula in x ('^' means power), e.g. "1 - sqrt(1 - x**2)". Float coefficients are read as
        the decimals they print as (0.1 -> 1/10).
    domain : (lo, hi)
        The interval D = [lo, hi], lo <= 0 <= hi; ends may be infinite (``-math.inf``, "oo"). Default:
        the unit box [-1, 1], the domain of every bounded built-in.
    name : str, optional
        Default: the formula.
    require_strong : bool
        Refuse (NotStronglyConvexError) a v with inf v'' = 0; with False it is returned with mu = 0.
    route : 'auto', 'symbolic' or 'numeric'
        'auto' tries sympy and falls back to the numeric solver; 'symbolic' raises
        InvalidRegularizerError when no verified float-safe closed form is found; 'numeric' skips sympy's
        solve.
    timeout : float
        Seconds for all sympy work of the symbolic route together (validation has its own short limits).

    Raises InvalidRegularizerError (unparsable, other symbols, v(0) != 0, 0 not the minimiser, v complex or
    infinite inside D), DomainError, NotConvexError (with ``point`` and ``curvature``), NotStronglyConvexError.
    """
    if route not in ROUTES:
        raise InvalidRegularizerError(f"route must be one of {', '.join(ROUTES)}, got {route!r}")
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise InvalidRegularizerError(f"timeout must be a number of seconds, got {timeout!r}") from None
    e = _parse(expr)
    shown = str(e)
    try:
        lo_raw, hi_raw = domain
    except (TypeError, ValueError):
        raise DomainError(f"domain must be a pair (lo, hi), got {domain!r}") from None
    lo_s, hi_s = _to_sym(lo_raw), _to_sym(hi_raw)
    interval = Interval(_fnum(lo_s), _fnum(hi_s))  # refuses an empty domain or one without 0

    try:
        chk = _validate(e, lo_s, hi_s, require_strong, _Clock(max(10.0, timeout / 2)), shown)
    except GeomrelaxError:
        raise
    except (_Timeout, Exception) as err:  # sympy, mpmath or numpy failing on an odd formula: a refusal
        raise InvalidRegularizerError(
            f"v = {_short(shown)} cannot be checked on [{interval.lo}, {interval.hi}]: {type(err).__name__}: "
            f"{_short(str(err).splitlines()[0] if str(err) else '')}") from None

    def torch_fns():
        return (lambdify_torch(e), lambdify_torch(sympy.diff(e, X)), lambdify_torch(sympy.diff(e, X, 2)))

    num = NumericConjugate(chk.v, chk.dv, chk.d2v, interval, mu=chk.mu, hess0=chk.hess0, dv_lo=chk.dv_lo,
                           dv_hi=chk.dv_hi, dv0_minus=chk.dv0_minus, dv0_plus=chk.dv0_plus, v_lo=chk.v_lo,
                           v_hi=chk.v_hi, torch_fns=torch_fns)

    notes = list(chk.notes)
    grad_expr = conj_expr = None
    rejected: list = []
    grad_fn = conj_fn = grad_eval = None
    used = "numeric"
    if route != "numeric":
        try:
            # in a worker process, killed at the deadline: sympy cannot always be interrupted in-process
            sym, chk.pieces = run_in_worker(_derive_job, (e, chk.pieces, timeout), timeout)
            grad_expr, conj_expr, rejected = sym.grad, sym.conj, sym.rejected
            grad_fn = _with_fallback(lambdify_numpy(sym.grad_eval, S), num.grad_conj)
            _crosscheck(grad_fn, num, chk)
            if sym.conj_eval is None:
                conj_fn = _conj_by_substitution(grad_fn, num)
            else:
                conj_fn = _with_fallback(lambdify_numpy(sym.conj_eval, S), num.conj)
            grad_eval = sym.grad_eval
            used = "symbolic"
            notes.insert(0, f"sympy: {sym.note}")
            notes.insert(1, f"branches verified at 120 digits and float64 forms to 1e-12 at {sym.checked_points} "
                            f"points up to |s| = 1e300 (grad v* evaluated as {sym.grad_eval})")
            if rejected:
                notes.insert(2, "rejected branches: " + "; ".join(f"{_short(b)} ({why})" for b, why in rejected))
        except _Timeout:
            stopped = f"symbolic route stopped after {timeout:g} s"
            if route == "symbolic":
                raise InvalidRegularizerError(
                    f"no verified float-safe closed form of grad v* for v = {_short(shown)}: the {stopped} "
                    f"(timeout={timeout:g}); raise the timeout, or use route='auto' to fall back to the numeric "
                    "route") from None
            notes.insert(0, f"{stopped}; numeric route used")
            grad_expr = conj_expr = None
        except (_GiveUp, WorkerError) as why:
            if isinstance(why, WorkerError) and why.kind == "_GiveUp":
                reason, rejected = why.message, why.payload or []
            elif isinstance(why, WorkerError):  # sympy/mpmath failing on an odd formula
                reason, rejected = f"{why.kind}: {_short((why.message.splitlines() or [''])[0])}", []
            else:
                reason, rejected = str(why), why.rejected
            notes.insert(0, f"symbolic route failed: {reason}; using the numeric route (Newton/bisection on v'(x) = s)")
            if rejected:
                notes.insert(1, "rejected branches: " + "; ".join(f"{_short(b)} ({r})" for b, r in rejected))
            grad_expr = conj_expr = None
        except Exception as err:  # lambdify or the cross-check failing in this process: the numeric route holds
            notes.insert(0, f"symbolic route failed: {type(err).__name__}: {_short((str(err).splitlines() or [''])[0])}; "
                            "using the numeric route")
            grad_expr = conj_expr = None
            rejected = []
        if route == "symbolic" and used != "symbolic":
            raise InvalidRegularizerError(
                f"no verified float-safe closed form of grad v* for v = {shown} on [{interval.lo}, {interval.hi}]: "
                + notes[0])
    else:
        notes.insert(0, "route='numeric' requested: sympy's solve not attempted")
    if used == "numeric":
        grad_fn, conj_fn = num.grad_conj, num.conj
    notes.append(f"mu = {chk.mu:.6g} ({'exact, sympy' if chk.mu_exact else 'grid + Brent refinement'}), "
                 f"v''(0) = {chk.hess0}")

    torch_fn = _TorchGradConj(grad_eval if used == "symbolic" else None, num, grad_fn)
    reg = ExprRegularizer(
        name=name or shown, v=num.value, dv=chk.dv, d2v=chk.d2v, conj_fn=conj_fn, grad_conj_fn=grad_fn,
        domain=interval, mu=chk.mu, hess0=chk.hess0, torch_grad_conj_fn=torch_fn,
        even=_is_even(e), formula=shown, expr=e, route=used, conj_expr=conj_expr, grad_conj_expr=grad_expr,
        derivation_note=". ".join(notes), rejected_branches=tuple(rejected), numeric=num, mu_exact=chk.mu_exact,
        request=(e, interval.lo, interval.hi, name, require_strong, route, timeout),
    )
    return reg


def _crosscheck(grad_fn: Callable, num: NumericConjugate, chk: _Checked) -> None:
    """The assembled closed form against the numeric route (an independent computation) at ~200 s; a
    disagreement beyond 1e-8 relative (the numeric route is good to ~1e-12) means the symbolic route
    made an error, and it is not used."""
    s = np.concatenate([np.linspace(-50, 50, 101), np.logspace(-6, 6, 25), -np.logspace(-6, 6, 25)])
    for pc in chk.pieces or []:
        for b in (pc.L, pc.R):
            bf = _fnum(b) if b is not None else math.nan
            if math.isfinite(bf):
                s = np.concatenate([s, bf + np.array([-1e-3, -1e-9, 0.0, 1e-9, 1e-3]) * max(1.0, abs(bf))])
    a, b = grad_fn(s), num.grad_conj(s)
    with np.errstate(all="ignore"):
        # the numeric root of v'(x) = s is good to the rounding of v' (~eps (1 + |s|)) divided by the
        # slope v''(x): absolute, and large where v'' is small (next to a kink or a flat point)
        atol = 64 * _EPS * (1.0 + np.abs(s)) / np.abs(chk.d2v(np.where(np.isfinite(b), b, 0.0)))
        bad = ~(np.abs(a - b) <= 1e-8 * np.abs(b) + np.nan_to_num(atol, nan=np.inf) + 1e-300) & ~(a == b)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise _GiveUp(f"the closed form disagrees with the numeric route at s = {s[j]:.6g}: {a[j]:.17g} vs {b[j]:.17g}")


def _is_even(e) -> bool:
    """v(-x) = v(x) (needed for the spectral lift); False when sympy cannot tell within a second."""
    try:
        return bool(_limited(lambda: sympy.simplify(e.subs(X, -X) - e) == 0, 1.0))
    except _Timeout:
        return False
    except Exception:  # an undecidable comparison counts as not even
        return False


def _out_dtype(s):
    s = np.asarray(s)
    return s.dtype if np.issubdtype(s.dtype, np.floating) else np.dtype(np.float64)


def _with_fallback(closed: Callable, numeric: Callable) -> Callable:
    """closed(s) in float64, with entries where it is inf or NaN (overflow inside the formula) recomputed
    numerically; returned in the input's float dtype."""

    def call(s):
        dtype = _out_dtype(s)
        s = np.asarray(s, dtype=np.float64)
        out = np.array(closed(s), dtype=np.float64, copy=True).reshape(s.shape)
        bad = ~np.isfinite(out) & ~np.isnan(s)
        if bad.any():
            out[bad] = numeric(s[bad])
        return out.astype(dtype, copy=False)

    return call


def _conj_by_substitution(grad_fn: Callable, num: NumericConjugate) -> Callable:
    """v*(s) = s x - v(x) at x = grad v*(s), for a v* whose closed form is not float-safe."""

    def call(s):
        dtype = _out_dtype(s)
        s = np.asarray(s, dtype=np.float64)
        x = grad_fn(s)
        with np.errstate(all="ignore"):
            val = s * x - num.value(x)
        return np.where(np.isinf(x), np.inf, val).astype(dtype, copy=False)

    return call


class _TorchGradConj:
    """grad v* on a torch tensor.

    CPU tensors go through the numpy route (zero-copy, float64; the fastest path on CPU); other devices
    use the closed form lambdified for torch (with the numeric torch twin where it overflows) or the
    numeric route's torch twin. ``backend='torch'`` forces the torch implementation on any device.
    """

    def __init__(self, grad_expr, num: NumericConjugate, grad_fn: Callable):
        self.grad_expr = grad_expr
        self.num = num
        self.grad_fn = grad_fn
        self._closed = None

    def __call__(self, t, backend: str = "auto"):
        import torch

        if backend not in ("auto", "torch", "numpy"):
            raise GeomrelaxError(f"backend must be 'auto', 'torch' or 'numpy', got {backend!r}")
        if backend == "numpy" or backend == "auto" and t.device.type == "cpu":
            s = t.detach().to(torch.float64).contiguous().numpy()
            return torch.from_numpy(np.ascontiguousarray(self.grad_fn(s))).to(dtype=t.dtype, device=t.device)
        if self.grad_expr is None:
            return self.num.torch_grad_conj(t)
        if self._closed is None:
            self._closed = lambdify_torch(self.grad_expr, S)
        work = torch.float64 if t.dtype == torch.float64 else torch.float32
        s = t.detach().to(work)
        out = self._closed(s).to(work).clone()
        bad = ~out.isfinite() & ~s.isnan()
        if bool(bad.any()):
            out[bad] = self.num.torch_grad_conj(s[bad])
        return out.to(t.dtype)
