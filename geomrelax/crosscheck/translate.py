"""sympy -> cvxpy: a formula v(x) written atom by atom as a DCP expression, elementwise in a cvxpy vector.

The translation is a table of rules, one per sympy node type (``_RULES``; the float-safe helpers softplus
and logcosh of geomrelax.symbolic by name in ``_NAMED_RULES``). Each rule writes its node from the
translations of its arguments; patterns that DCP needs written another way are rules of their own:

    a * log(b) with a = k b         -k entr(b)
    |u|^p * u^(2q)                  power(|u|, p + 2q)          (sympy writes |u|^3 as u**2*Abs(u))
    sqrt(c + sum_i k_i a_i^2)       the 2-norm of (sqrt(k_i) a_i, sqrt(c))   (sqrt of a convex is not DCP)
    log(c + exp(a)), c > 0          log c + logistic(a - log c)
    log(exp(a) + exp(b) + ...)      log_sum_exp
    log(cosh(a)), logcosh(a)        a + logistic(-2a) - log 2
    cosh(a)                         (exp(a) + exp(-a))/2

A node without a rule, or one whose curvature cvxpy cannot certify, raises NotExpressible naming it.
A formula string is data: it is parsed by geomrelax.symbolic.parse_formula (a whitelist), never by
sympify or parse_expr, which would run it as Python.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import sympy as sp

from ..cvxpy_forms import NotExpressible
from ..errors import GeomrelaxError, InvalidRegularizerError

__all__ = ["sympy_to_cvxpy"]


def sympy_to_cvxpy(expr, x, symbol=None):
    """The elementwise cvxpy expression of the sympy formula ``expr`` with ``symbol`` replaced by ``x``.

    ``x`` is a cvxpy expression (a vector: each entry is one scalar argument). Supported: numbers and
    constants, +, products with at most one non-constant factor, a*log(a) (= -entr(a), also c*a*log(a)
    with a constant ratio), powers (square, sqrt, inv_pos, power; sqrt(sum c_i a_i^2 + c) becomes a
    2-norm), Abs, exp, log, log(1 + exp(a)) (logistic), log(exp(a) + exp(b)) (log_sum_exp), cosh,
    log(cosh(a)), Max, Min. Raises NotExpressible (an InvalidRegularizerError) naming the subexpression
    when a node has no cvxpy atom or cvxpy's DCP rules cannot certify its curvature (the result must
    also be convex).

    ``expr`` must be a sympy expression (or a plain number). A string is data, never code: it goes
    through geomrelax.symbolic.parse_formula when that parser exists, and is refused otherwise.
    """
    out = _Translator(_as_sympy(expr), x, symbol).translate()
    if not isinstance(out, cp.Expression):  # a constant formula: the same constant in every entry
        out = cp.Constant(np.full(x.shape, float(out)))
    if not out.is_convex():
        raise NotExpressible(
            f"cvxpy's DCP rules cannot certify that {expr} is convex (curvature {out.curvature}); "
            "rewrite it with convex atoms or use the closed form only")
    return out


def _as_sympy(expr):
    """``expr`` as a sympy expression, without evaluating anything a user wrote."""
    if isinstance(expr, str):
        return parse_formula_text(expr)
    if isinstance(expr, sp.Basic):
        return expr
    if isinstance(expr, (int, float, np.integer, np.floating)) and not isinstance(expr, bool):
        return sp.Float(float(expr)) if isinstance(expr, (float, np.floating)) else sp.Integer(int(expr))
    raise InvalidRegularizerError(
        f"sympy_to_cvxpy needs a sympy expression, got {type(expr).__name__}: {expr!r:.80}")


def parse_formula_text(text: str):
    """A formula string parsed as data by geomrelax.symbolic.parse_formula (a whitelist parser); refused
    when that parser is not there: sympify / parse_expr would run the string as Python."""
    try:
        from ..symbolic import parse_formula
    except ImportError:
        raise InvalidRegularizerError(
            f"formula {text!r:.80} is a string: sympy_to_cvxpy takes a sympy expression (for instance the "
            "`expr` of geomrelax.from_expr(formula)); strings are not evaluated") from None
    try:
        return parse_formula(text)
    except GeomrelaxError as exc:
        raise InvalidRegularizerError(f"formula {text!r:.80} does not parse: {exc}") from None


class _Translator:
    """One formula in one symbol, translated node by node through the rule tables below."""

    def __init__(self, expr, x, symbol=None):
        free = expr.free_symbols
        if symbol is None:
            if len(free) > 1:
                raise NotExpressible(f"formula {expr} has several symbols {sorted(map(str, free))}; need one")
            symbol = next(iter(free)) if free else sp.Symbol("x")
        elif free - {symbol}:
            raise NotExpressible(f"formula {expr} has symbols {sorted(map(str, free - {symbol}))} besides {symbol}")
        self.expr, self.x, self.symbol = expr, x, symbol

    def translate(self):
        return self.tr(self.expr)

    # helpers the rules share ----------------------------------------------------------------------
    def const(self, e) -> float:
        val = complex(sp.N(e, 30))
        if val.imag != 0 or not math.isfinite(val.real):
            raise NotExpressible(f"constant {e} in {self.expr} is not a finite real number")
        return val.real

    @staticmethod
    def is_const(e) -> bool:
        return not e.free_symbols

    def lift(self, v):
        """A constant as a cvxpy expression of x's shape (for atoms that stack their arguments)."""
        return v if isinstance(v, cp.Expression) else cp.Constant(v) + 0 * self.x

    def fail(self, what: str):
        raise NotExpressible(f"{what} (in {self.expr})")

    def tr(self, e):
        out = self._node(e)
        if isinstance(out, cp.Expression) and out.curvature == "UNKNOWN":
            # DCP curvature never recovers from UNKNOWN, so the first such node is the one to name
            self.fail(f"cvxpy's DCP rules cannot certify the curvature of {e}")
        return out

    def _node(self, e):
        if e == self.symbol:
            return self.x
        if self.is_const(e):
            return self.const(e)
        for cls in type(e).__mro__:
            if cls in _RULES:
                return _RULES[cls](self, e)
        rule = _NAMED_RULES.get(type(e).__name__)
        if rule is not None and len(e.args) == 1:
            return rule(self, e)
        self.fail(f"no cvxpy atom for {type(e).__name__} in {e}")


# ------------------------------------------------------------------------------------------------
# the rules: (translator, node) -> cvxpy expression or float
# ------------------------------------------------------------------------------------------------
def _add(t: _Translator, e):
    out = 0.0
    for a in e.args:
        out = out + t.tr(a)
    return out


def _mul(t: _Translator, e):
    c, rest = 1.0, []
    for a in e.args:
        if t.is_const(a):
            c *= t.const(a)
        else:
            rest.append(a)
    if len(rest) == 1:
        return c * t.tr(rest[0])
    for pattern in (_entr_pattern, _abs_power_pattern):
        out = pattern(t, rest)
        if out is not None:
            return c * out
    t.fail(f"product {e} of non-constant factors has no DCP form")


def _entr_pattern(t: _Translator, factors):
    # a*log(b) with a = k*b, k constant: = k * b log b = -k entr(b)
    if len(factors) != 2:
        return None
    for f, g in (factors, factors[::-1]):
        if isinstance(g, sp.log):
            ratio = sp.simplify(f / g.args[0])
            if t.is_const(ratio):
                return -t.const(ratio) * cp.entr(t.tr(g.args[0]))
    return None


def _abs_power_pattern(t: _Translator, factors):
    # sympy writes |u|^3 as u**2*Abs(u) for real u: a product of |u|^p_i and even powers of u is |u|^sum
    arg, total = None, 0
    for f in factors:
        base, p = f.as_base_exp()
        if not t.is_const(p):
            return None
        p = t.const(p)
        if isinstance(base, sp.Abs):
            base = base.args[0]
        elif not (p == int(p) and int(p) % 2 == 0):
            return None
        if arg is not None and base != arg:
            return None
        arg, total = base, total + p
    a = cp.abs(t.tr(arg))
    return a if total == 1 else cp.power(a, int(total) if total == int(total) else total)


def _pow(t: _Translator, e):
    base, p = e.args
    if t.is_const(p):
        return _power(t, base, t.const(p))
    if t.is_const(base):
        b = t.const(base)
        if b <= 0:
            t.fail(f"{e}: power of a non-positive base {b}")
        return cp.exp(math.log(b) * t.tr(p))
    t.fail(f"{e}: a variable base to a variable power has no DCP form")


def _power(t: _Translator, base, p: float):
    if p == 0:
        return 1.0
    if p == 1:
        return t.tr(base)
    if p == 2:
        return cp.square(t.tr(base))
    if p == 0.5:
        norm = _norm_pattern(t, base)
        return norm if norm is not None else cp.sqrt(t.tr(base))
    if p == -1:
        return cp.inv_pos(t.tr(base))
    # an int exponent: cvxpy treats power(x, 4) as x^4 on R but power(x, 4.0) as defined for x >= 0
    return cp.power(t.tr(base), int(p) if p == int(p) else p)


def _norm_pattern(t: _Translator, base):
    # sqrt(c + sum_i k_i a_i^2), c >= 0, k_i > 0: the 2-norm of (sqrt(k_i) a_i, sqrt(c)), convex,
    # while cvxpy reads sqrt(convex) as unknown
    terms = base.args if isinstance(base, sp.Add) else (base,)
    rows, c = [], 0.0
    for term in terms:
        if t.is_const(term):
            c += t.const(term)
            continue
        k, rest = term.as_coeff_Mul()
        if isinstance(rest, sp.Pow) and rest.args[1] == 2 and float(k) > 0:
            rows.append(math.sqrt(float(k)) * t.lift(t.tr(rest.args[0])))
        else:
            return None
    if c < 0 or not rows:
        return None
    if c > 0:
        rows.append(t.lift(math.sqrt(c)))
    return cp.norm(cp.vstack(rows), 2, axis=0)


def _log_cosh_of(t: _Translator, arg):
    a = t.tr(arg)
    return a + cp.logistic(-2 * a) - math.log(2.0)


def _log(t: _Translator, e):
    # log(1 + exp(a)) = logistic(a);  log(exp(a) + exp(b)) = log_sum_exp;  log(cosh(a))
    arg = e.args[0]
    if isinstance(arg, sp.cosh):
        return _log_cosh_of(t, arg.args[0])
    if isinstance(arg, sp.Add):
        consts = [a for a in arg.args if t.is_const(a)]
        exps = [a for a in arg.args if isinstance(a, sp.exp)]
        if len(consts) + len(exps) == len(arg.args) and exps:
            c = sum(t.const(a) for a in consts)
            if len(exps) == 1 and c > 0:
                return math.log(c) + cp.logistic(t.tr(exps[0].args[0]) - math.log(c))
            if c == 0 and len(exps) >= 2:
                return cp.log_sum_exp(cp.vstack([t.lift(t.tr(a.args[0])) for a in exps]), axis=0)
    return cp.log(t.tr(arg))


def _cosh(t: _Translator, e):
    a = t.tr(e.args[0])
    return (cp.exp(a) + cp.exp(-a)) / 2


_RULES = {
    sp.Add: _add,
    sp.Mul: _mul,
    sp.Pow: _pow,
    sp.Abs: lambda t, e: cp.abs(t.tr(e.args[0])),
    sp.exp: lambda t, e: cp.exp(t.tr(e.args[0])),
    sp.cosh: _cosh,
    sp.log: _log,
    sp.Max: lambda t, e: cp.maximum(*[t.lift(t.tr(a)) for a in e.args]),
    sp.Min: lambda t, e: cp.minimum(*[t.lift(t.tr(a)) for a in e.args]),
}

# the float-safe helpers of geomrelax.symbolic, by name (importing symbolic here would be circular):
# softplus(u) = log(1 + exp u), logcosh(u) = log cosh u
_NAMED_RULES = {
    "softplus": lambda t, e: cp.logistic(t.tr(e.args[0])),
    "logcosh": lambda t, e: _log_cosh_of(t, e.args[0]),
}
