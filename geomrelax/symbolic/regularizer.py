"""ExprRegularizer and from_expr: a formula v(x) turned into a separable regularizer.

``from_expr`` reads the formula (parse.py: a whitelist, never executed), validates it (validate.py),
always builds the numeric route (geomrelax.numeric: safeguarded Newton/bisection on v'(x) = s) and, unless
route="numeric", runs the symbolic derivation (derive.py) in a worker process with a hard deadline
(worker.py). A closed form is used only after it agrees with the numeric route at ~200 values of s;
otherwise, and when sympy fails or the deadline passes, the numeric route is used and
``derivation_note`` says why. An ExprRegularizer pickles as its sympy expression and options and is
rebuilt by from_expr on loading (lambdified functions do not pickle); no text is parsed then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import sympy

from ..backend import torch_module
from ..errors import DomainError, GeomrelaxError, InvalidRegularizerError
from ..numeric import NumericConjugate
from ..regularizers import Interval, SeparableRegularizer
from .derive import _derive_job
from .lambdify import lambdify_numpy, lambdify_torch
from .parse import S, X, parse_formula, parse_number
from .pieces import _GiveUp
from .validate import _Checked, numpy_functions, validate_job
from .values import _EPS, _fnum, _short
from .worker import Clock as _Clock
from .worker import Timeout as _Timeout
from .worker import WorkerError, run_in_worker
from .worker import limited as _limited


ROUTES = ("auto", "symbolic", "numeric")


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


VALIDATION_MIN_SECONDS = 10.0  # validation's hard limit is max(this, timeout / 2): it is needed by both routes


def validation_seconds(timeout: float) -> float:
    return max(VALIDATION_MIN_SECONDS, timeout / 2)


def _checked(e, lo_s, hi_s, require_strong: bool, seconds: float, shown: str, interval) -> _Checked:
    """The validation of v, in a worker process killed after ``seconds``: sympy's simplifications can run
    for minutes in C code that no signal interrupts, so only a process boundary makes the limit hard.
    Refusals come back as the same geomrelax errors; anything else sympy raises is a refusal too."""
    from .. import errors

    try:
        chk = run_in_worker(validate_job, (e, lo_s, hi_s, require_strong, seconds, shown), seconds)
    except _Timeout:
        raise InvalidRegularizerError(
            f"v = {_short(shown)} could not be checked within {seconds:g} s (sympy did not finish); write the "
            "formula more simply, or raise the timeout") from None
    except WorkerError as err:
        cls = getattr(errors, err.kind, None)
        if isinstance(cls, type) and issubclass(cls, GeomrelaxError):
            raise (cls(err.message, **err.payload) if isinstance(err.payload, dict) else cls(err.message)) from None
        raise InvalidRegularizerError(
            f"v = {_short(shown)} cannot be checked on [{interval.lo}, {interval.hi}]: {err.kind}: "
            f"{_short((err.message.splitlines() or [''])[0])}") from None
    _, _, chk.v, chk.dv, chk.d2v = numpy_functions(e, _Clock(seconds), shown)
    return chk


def from_expr(expr, domain=(-1.0, 1.0), name: Optional[str] = None, require_strong: bool = True,
              route: str = "auto", timeout: float = 20.0) -> ExprRegularizer:
    """The separable regularizer V(x) = sum_i v(x_i) for a formula v(x) on the interval ``domain``.

    Parameters
    ----------
    expr : str or sympy.Expr
        v as a formula in x ('^' means power), e.g. "1 - sqrt(1 - x**2)", read as data by
        :func:`geomrelax.symbolic.parse.parse_formula` (numbers, x, pi, E, + - * / **, and the whitelisted
        functions; anything else is refused with the offending token named). Float coefficients are
        read as the decimals they print as (0.1 -> 1/10).
    domain : (lo, hi)
        The interval D = [lo, hi], lo <= 0 <= hi; ends may be infinite (``-math.inf``, "oo", "-inf") and
        may be given as text ("1/2", "pi/4": numbers, constants and arithmetic only). Default: the unit
        box [-1, 1], the domain of every bounded built-in.
    name : str, optional
        Default: the formula.
    require_strong : bool
        Refuse (NotStronglyConvexError) a v with inf v'' = 0; with False it is returned with mu = 0.
    route : 'auto', 'symbolic' or 'numeric'
        'auto' tries sympy and falls back to the numeric solver; 'symbolic' raises
        InvalidRegularizerError when no verified float-safe closed form is found; 'numeric' skips sympy's
        solve.
    timeout : float
        Seconds for the symbolic derivation, a hard limit: it runs in a worker process that is killed
        when the time is up (then the numeric route is used, or with route='symbolic' an
        InvalidRegularizerError is raised). The validation (convexity, continuity, mu), which both routes
        need, runs in a worker process too, killed after max(10, timeout/2) s: a formula sympy cannot
        check in that time is refused. So from_expr returns within about 1.5 timeout + 10 s.

    Raises only GeomrelaxError subclasses for a bad formula: InvalidRegularizerError (not in the
    whitelist, unparsable, other symbols, a jump, v(0) != 0, 0 not the minimiser, v complex or infinite
    inside D), DomainError, NotConvexError (with ``point`` and ``curvature``), NotStronglyConvexError.
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

    chk = _checked(e, lo_s, hi_s, require_strong, validation_seconds(timeout), shown, interval)

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
        torch = torch_module()
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
