"""High-precision re-evaluation of a margin, to tell a real violation from rounding.

A claim's margin is a plain numpy function of one input vector z. Evaluated on an object array of
``HP`` numbers (mpmath floats whose arithmetic and numpy ufunc methods stay in mpmath), the same
code runs in 30- or 60-digit arithmetic: ``np.log(np.cosh(z[0]))`` calls ``HP.cosh`` and ``HP.log``.
The input z is the float64 counterexample itself, converted exactly, so the high-precision value
is the true margin at that very point, not at a neighbour.

Decision rule (``confirm``): with m30 and m60 the margin at 30 and 60 digits, |m30 - m60| bounds the
error of m30 and is far above that of m60 (rounding error scales with the unit roundoff, 1e-30 vs
1e-60). A violation is real when m60 > 8 |m30 - m60| and m60 > 0: a true margin <= 0 that touches
zero can show m60 > 0 only by rounding, i.e. by less than the 60-digit error, hence far less than
|m30 - m60| unless both are exact (then m60 is the exact, non-positive value).

A margin that leaves the HP arithmetic (scipy.special, np.linalg, float() casts) raises or returns
a float: the route is then unavailable and the checker uses the claim's own twin or allowance.
"""

from __future__ import annotations

import operator

import mpmath
import numpy as np

LOW_DPS, HIGH_DPS = 30, 60
SEPARATION = 8.0  # m60 must exceed the 30-digit error estimate 8-fold


def _unary(fn):
    def method(self):
        return HP(fn(mpmath.mpf(self)))
    return method


def _binary(op, reflected=False):
    def method(self, other):
        if isinstance(other, np.ndarray):
            return NotImplemented
        if isinstance(other, (np.floating, np.integer)):
            other = other.item()
        if not isinstance(other, (int, float, mpmath.mpf)):
            return NotImplemented
        a, b = mpmath.mpf(self), mpmath.mpf(other)
        return HP(op(b, a) if reflected else op(a, b))
    return method


class HP(mpmath.mpf):
    """An mpmath float that numpy's object ufuncs can use (np.log(x) calls x.log(), ...)."""

    for _n, _op in (("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                    ("truediv", operator.truediv), ("pow", operator.pow), ("mod", operator.mod)):
        locals()[f"__{_n}__"] = _binary(_op)
        locals()[f"__r{_n}__"] = _binary(_op, reflected=True)
    del _n, _op

    def __neg__(self):
        return HP(mpmath.mpf.__neg__(self))

    def __pos__(self):
        return self

    def __abs__(self):
        return HP(mpmath.mpf.__abs__(self))

    exp = _unary(mpmath.exp)
    log = _unary(mpmath.log)
    log1p = _unary(mpmath.log1p)
    expm1 = _unary(mpmath.expm1)
    sqrt = _unary(mpmath.sqrt)
    cbrt = _unary(mpmath.cbrt)
    sin = _unary(mpmath.sin)
    cos = _unary(mpmath.cos)
    tan = _unary(mpmath.tan)
    arcsin = _unary(mpmath.asin)
    arccos = _unary(mpmath.acos)
    arctan = _unary(mpmath.atan)
    sinh = _unary(mpmath.sinh)
    cosh = _unary(mpmath.cosh)
    tanh = _unary(mpmath.tanh)
    arcsinh = _unary(mpmath.asinh)
    arccosh = _unary(mpmath.acosh)
    arctanh = _unary(mpmath.atanh)

    def hypot(self, other):
        return HP(mpmath.hypot(self, other))

    def arctan2(self, other):
        return HP(mpmath.atan2(self, other))


def to_hp(z) -> np.ndarray:
    """The float64 array z as an object array of HP numbers (exact conversion)."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty(z.shape, dtype=object)
    for i, v in np.ndenumerate(z):
        out[i] = HP(float(v))
    return out


def _scalar(r):
    """The single mpmath value in r, or None when r is not an mpmath number (the route left HP)."""
    if isinstance(r, np.ndarray):
        if r.size != 1 or r.dtype != object:
            return None
        r = r.reshape(-1)[0]
    return r if isinstance(r, mpmath.mpf) else None


def evaluate(fn, z, dps: int, batched: bool = False):
    """fn at the float64 point z in dps-digit arithmetic; None when fn does not stay in mpmath."""
    with mpmath.workdps(dps):
        Z = to_hp(z)
        try:
            with np.errstate(all="ignore"):
                r = fn(Z[None])[0] if batched else fn(Z)
        except (TypeError, AttributeError, ValueError, ArithmeticError, RecursionError, np.linalg.LinAlgError):
            return None
        return _scalar(r)


def confirm(fn, z, batched: bool = False):
    """(verdict, value): verdict True (a real violation), False (rounding) or None (route unavailable);
    value is the 60-digit margin as a float (None when unavailable)."""
    lo = evaluate(fn, z, LOW_DPS, batched)
    if lo is None:
        return None, None
    hi = evaluate(fn, z, HIGH_DPS, batched)
    if hi is None:
        return None, None
    if not (mpmath.isfinite(lo) and mpmath.isfinite(hi)):
        return (bool(mpmath.isinf(hi) and hi > 0), float(hi))
    err = abs(lo - hi)
    real = bool(hi > 0 and hi > SEPARATION * err)
    return real, float(hi)
