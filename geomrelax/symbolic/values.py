"""Values of sympy expressions: exact, at high precision, and as floats.

``_value_at(expr, c, side)`` is expr at x = c by substitution, else sympy's one-sided limit (time-capped,
memoised): a sympy number or +-oo, or None. ``_hp`` evaluates at a given number of digits;
``_Precise`` evaluates a lambdified expression with mpmath at 60, 120, 400, 1300, 4000 digits until two
precisions agree to 40 digits, which resolves cancellation (s + sqrt(s^2 + 1) at s = -1e100 is 0 to
120 digits). ``_fnum`` / ``_real_value`` turn such values into floats (NaN / None when not real), and
``_exact`` turns a float into the exact rational it stores.
"""

from __future__ import annotations

import math
from typing import Optional

import mpmath
import numpy as np
import sympy

from .parse import X
from .worker import Clock as _Clock
from .worker import Timeout as _Timeout


_EPS = float(np.finfo(np.float64).eps)


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


def _short(expr, n: int = 120) -> str:
    text = str(expr)
    return text if len(text) <= n else text[: n - 3] + "..."


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


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
