"""Float safety: equal forms of a closed form that float64 evaluates accurately.

Each piece's x(s) and v*(s) is rewritten in several equal forms (sqrt(a s^2 + b) -> hypot,
R + k sqrt(B) -> (R^2 - k^2 B) / (R - k sqrt(B)), factored radicands, log(R + sqrt(R^2 + c^2)) -> asinh,
log(exp(u) + c) -> softplus, log cosh -> logcosh, log1p/expm1), and the first form whose float64 values
match the 120-digit values at the test points (relative 1e-12; for v* also 4 eps (1 + |s x|), the
rounding that s x - v(x) itself carries) is used. Entries where it still overflows to inf/NaN are
recomputed numerically at run time. Without a float-safe x(s) the symbolic route gives up; without a
float-safe v*, v* is evaluated as s x - v(x).
"""

from __future__ import annotations

import numpy as np
import sympy

from .lambdify import lambdify_numpy, logcosh, softplus
from .parse import S
from .values import _EPS


_GRAD_RTOL = 1e-12  # float64 closed forms: ~4500 eps, loose for any stable formula, tight for cancellation


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
