"""Cross-check of the regularized LMO against a conic solver (cvxpy).

The regularized LMO has a closed form (geomrelax.relaxed_lmo),

    d_tau(m) = argmin_{d in D} f(d),   f(d) = <m, d> + V(d)/tau,   d_tau(m) = grad V*(-tau m).

Here the same minimization is written as a disciplined convex program, solved by Clarabel or SCS, and
compared with the closed form under a tolerance derived from the solver's own certificate:

    U   = f(P_D(d_hat))                  float64 value of f at the solver's point projected onto D (a
                                         feasible point, so U >= f*); V is evaluated by V.value, not by
                                         the conjugate under test
    L   = dobj - ||r_d||_inf ||x_hat||_1 the conic dual objective, corrected for the dual residual
                                         r_d = P x + c + A^T z: for z in K*, weak duality gives
                                         f* >= dobj + r_d^T x*, and ||x*||_1 is estimated by ||x_hat||_1
    eps = U - L + floor                  certified bound on f(P_D(d_hat)) - f*; floor = float64 rounding

and then, depending on the regularizer:

    mu > 0, tau finite   f is (mu/tau)-strongly convex:  ||P_D(d_hat) - d*||_2 <= sqrt(2 eps tau / mu)
    V = 0 on D or tau = inf  (f linear, the hard LMO):
        interval [lo, hi]^n:  f(d) - f* = sum_i |m_i| |d_i - d*_i|, so on S = {i : m_i != 0}
                              ||d_S - d*_S||_2^2 <= (hi - lo) eps / min_S |m_i|   (off S any d_i is optimal)
        l2 / Frobenius ball:  ||d - d*||^2 <= 2 eps / ||m||
        spectral ball ||D||_2 <= a, M of full rank r = min(rows, cols):
                              ||D - D*||_F^2 <= 2 a eps / sigma_min(M)
    otherwise (mu = 0):   no distance bound; the closed form must be feasible and at least as good as
                          the solver's point, f(g) <= U + floor.

In every case the closed form g must lie in D (up to rounding) and satisfy f(g) <= U + floor. A solve
whose status is not 'optimal' (failed, infeasible, inaccurate) is reported as such, never as a pass.

A distance tolerance can be too large to certify anything. Before any solve, d* is known to lie in

    S = D  intersected with  {||d||_2 <= 2 tau ||m||_2 / mu}   (mu > 0: V(d) >= mu/2 ||d||^2 as V(0) = 0 =
                                                               min V, and f(d*) <= f(0) = 0)

so a tolerance tol >= diam(S) accepts every point of S: the comparison says nothing that was not known
a priori, and the result is 'inconclusive' (with the reason), never 'agree'. diam(D) is computed from
the support function as the largest width sup_D <u, d> + sup_D <-u, d> over unit directions u (all ones,
sign(m), m, and for matrices the partial isometry I_{rows x cols}/sqrt(r)): exact for boxes, l2 and
Frobenius balls and spectral-norm balls; for other shapes a lower bound, which calls a result
inconclusive early rather than late. Example: entropic at tau = 1e300 gives tol ~ 1e146 > 2 sqrt(n).

Formulations (each exact; d is the decision variable):

    euclidean       sum_squares(d)/2
    box             0 with -1 <= d <= 1
    box_quadratic   sum_squares(d)/2 with -1 <= d <= 1
    entropic        -(sum entr(1 + d) + sum entr(1 - d))/2     (v(x) = -(entr(1+x) + entr(1-x))/2)
    algebraic       sum 1 - sqrt(1 - d^2)                        (sqrt of a concave argument: DCP concave)
    ball_quadratic  sum_squares(d)/2 with ||d||_2 <= 1
    user formula    the sympy expression translated atom by atom (sympy_to_cvxpy); cvxpy's DCP rules
                    decide, and a formula they cannot certify is reported as not expressible

Spectral lifts F(D) = sum_i v(sigma_i(D)) of a rows x cols matrix, r = min(rows, cols):

    euclidean       sum_squares(D)/2
    box             sigma_max(D) <= 1
    box_quadratic   sum_squares(D)/2 with sigma_max(D) <= 1
    ball_quadratic  sum_squares(D)/2 with ||D||_F <= 1
    algebraic       F(D) = r - max { tr Z : sigma_max([D; Z]) <= 1 },  Z r x r  ([D, Z] when rows < cols).
                    Why: [D; Z]^T [D; Z] = D^T D + Z^T Z <= I, and tr Z <= tr (Z^T Z)^(1/2)
                    <= tr (I - D^T D)^(1/2) (operator monotonicity of the square root), with equality at
                    Z = (I - D^T D)^(1/2); so max tr Z = sum_i sqrt(1 - sigma_i^2) and F(D) = r - max tr Z.
                    One LMI of size rows + 2r.
    entropic, and any other even convex v (user formulas included): weak majorization,
                    F(D) = min { sum_i v(x_i) : x_1 >= ... >= x_r >= 0, x_1 <= a,
                                 ||D||_(k) <= x_1 + ... + x_k, k = 1..r }
                    where ||D||_(k) = sum of the k largest singular values = lambda_sum_largest of the
                    dilation [[0, D], [D^T, 0]]. Exact because v is convex and even, hence nondecreasing on
                    [0, a], and sigma(D) <_w x implies sum v(sigma) <= sum v(x) (Tomic-Weyl), with equality
                    at x = sigma(D). r LMIs of size rows + cols: expensive. Measured with Clarabel: 6 x 4
                    0.05 s, 8 x 5 0.15 s; with its default step fraction 0.99, 12 x 8 and 16 x 10 end
                    'optimal_inaccurate', so these programs default to max_step_fraction = 0.9: 16 x 10
                    'optimal' in 4 s. 30 x 20 took 268 s and 4.3 GB and still ended 'optimal_inaccurate':
                    out of reach.
    entropic, form 'von_neumann': the eigenvalues of B = [[I, D], [D^T, I]] are 1 +- sigma_i(D) and
                    1 (|rows - cols| times), so sum_i v(sigma_i) = -S(B)/2 with S(B) = -tr B log B the von
                    Neumann entropy (entr(1) = 0); cvxpy's von_neumann_entr canonicalises S by
                    rows + cols - 1 lambda_sum_largest constraints: more expensive still (6 x 4 0.2 s,
                    12 x 8 21 s 'optimal_inaccurate'; 30 x 20 exhausts memory while compiling).

Domain bounds lo <= d_i <= hi are added only where the cvxpy expression's implicit domain does not
already impose them (entr, sqrt do): the redundant pair made Clarabel stop at 'AlmostSolved' on some
entropic inputs. At tau = inf the program is min <m, d> over D alone.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

import cvxpy as cp
import numpy as np

from .errors import GeomrelaxError, InvalidRegularizerError, SolverError
from .lmo import _check_finite, check_tau, relaxed_lmo
from .cvxpy_forms import CvxpyTerm, NotExpressible
from .regularizers import BallQuadratic, Interval, Regularizer, SeparableRegularizer, as_regularizer
from .spectral import Spectral

__all__ = ["CrossCheckResult", "LmoProgram", "cross_check", "cvxpy_lmo", "lmo_program", "sympy_to_cvxpy",
           "SOLVERS"]

SOLVERS = ("CLARABEL", "SCS")
_U = np.finfo(np.float64).eps
# SCS stops on eps_abs / eps_rel; its default in cvxpy (1e-5) is too loose to certify anything useful
_SCS_DEFAULT_EPS = 1e-9
_SPECTRAL_FORMS = ("auto", "majorization", "von_neumann")


# ------------------------------------------------------------------------------------------------
# sympy -> cvxpy
# ------------------------------------------------------------------------------------------------
def sympy_to_cvxpy(expr, x, symbol=None):
    """The elementwise cvxpy expression of the sympy formula ``expr`` with ``symbol`` replaced by ``x``.

    ``x`` is a cvxpy expression (a vector: each entry is one scalar argument). Supported: numbers and
    constants, +, products with at most one non-constant factor, a*log(a) (= -entr(a), also c*a*log(a)
    with a constant ratio), powers (square, sqrt, inv_pos, power; sqrt(sum c_i a_i^2 + c) becomes a
    2-norm), Abs, exp, log, log(1 + exp(a)) (logistic), log(exp(a) + exp(b)) (log_sum_exp), cosh,
    log(cosh(a)), Max, Min. Raises InvalidRegularizerError naming the subexpression when a node has no
    cvxpy atom or cvxpy's DCP rules cannot certify its curvature (the result must also be convex): a
    NotExpressible, which is an InvalidRegularizerError.

    ``expr`` must be a sympy expression (or a plain number). A string is data, never code: it is not
    handed to sympify (which evaluates Python); it goes through geomrelax.symbolic.parse_formula when
    that parser exists, and is refused otherwise.
    """
    out = _translate(_as_sympy(expr), x, symbol)
    if not isinstance(out, cp.Expression):  # a constant formula: the same constant in every entry
        out = cp.Constant(np.full(x.shape, float(out)))
    if not out.is_convex():
        raise NotExpressible(
            f"cvxpy's DCP rules cannot certify that {expr} is convex (curvature {out.curvature}); "
            "rewrite it with convex atoms or use the closed form only")
    return out


def _as_sympy(expr):
    """``expr`` as a sympy expression, without evaluating anything a user wrote."""
    import sympy as sp

    if isinstance(expr, str):
        return _parse_formula(expr)
    if isinstance(expr, sp.Basic):
        return expr
    if isinstance(expr, (int, float, np.integer, np.floating)) and not isinstance(expr, bool):
        return sp.Float(float(expr)) if isinstance(expr, (float, np.floating)) else sp.Integer(int(expr))
    raise InvalidRegularizerError(
        f"sympy_to_cvxpy needs a sympy expression, got {type(expr).__name__}: {expr!r:.80}")


def _parse_formula(text: str):
    """A formula string parsed as data by geomrelax.symbolic.parse_formula (a whitelist parser); refused
    when that parser is not there: sympify / parse_expr would run the string as Python."""
    try:
        from .symbolic import parse_formula
    except ImportError:
        raise InvalidRegularizerError(
            f"formula {text!r:.80} is a string: sympy_to_cvxpy takes a sympy expression (for instance the "
            "`expr` of geomrelax.from_expr(formula)); strings are not evaluated") from None
    try:
        return parse_formula(text)
    except GeomrelaxError as exc:
        raise InvalidRegularizerError(f"formula {text!r:.80} does not parse: {exc}") from None


def _translate(expr, x, symbol=None):
    import sympy as sp

    free = expr.free_symbols
    if symbol is None:
        if len(free) > 1:
            raise NotExpressible(f"formula {expr} has several symbols {sorted(map(str, free))}; need one")
        symbol = next(iter(free)) if free else sp.Symbol("x")
    elif free - {symbol}:
        raise NotExpressible(f"formula {expr} has symbols {sorted(map(str, free - {symbol}))} besides {symbol}")

    def const(e) -> float:
        val = complex(sp.N(e, 30))
        if val.imag != 0 or not math.isfinite(val.real):
            raise NotExpressible(f"constant {e} in {expr} is not a finite real number")
        return val.real

    def is_const(e) -> bool:
        return not e.free_symbols

    def tr(e):
        out = _node(e)
        if isinstance(out, cp.Expression) and out.curvature == "UNKNOWN":
            # DCP curvature never recovers from UNKNOWN, so the first such node is the one to name
            raise NotExpressible(f"cvxpy's DCP rules cannot certify the curvature of {e} (in {expr})")
        return out

    def _node(e):
        if e == symbol:
            return x
        if is_const(e):
            return const(e)
        if isinstance(e, sp.Add):
            out = 0.0
            for a in e.args:
                out = out + tr(a)
            return out
        if isinstance(e, sp.Mul):
            c = 1.0
            rest = []
            for a in e.args:
                if is_const(a):
                    c *= const(a)
                else:
                    rest.append(a)
            if len(rest) == 1:
                return c * tr(rest[0])
            if len(rest) == 2:
                ent = _entr_pattern(rest)
                if ent is not None:
                    return c * ent
            same = _abs_power_pattern(rest)
            if same is not None:
                return c * same
            raise NotExpressible(f"product {e} of non-constant factors has no DCP form (in {expr})")
        if isinstance(e, sp.Pow):
            base, p = e.args
            if is_const(p):
                return _power(base, const(p))
            if is_const(base):
                b = const(base)
                if b <= 0:
                    raise NotExpressible(f"{e}: power of a non-positive base {b} (in {expr})")
                return cp.exp(math.log(b) * tr(p))
            raise NotExpressible(f"{e}: a variable base to a variable power has no DCP form (in {expr})")
        if isinstance(e, sp.Abs):
            return cp.abs(tr(e.args[0]))
        if isinstance(e, sp.exp):
            return cp.exp(tr(e.args[0]))
        if isinstance(e, sp.cosh):
            a = tr(e.args[0])
            return (cp.exp(a) + cp.exp(-a)) / 2
        if isinstance(e, sp.log):
            return _log(e.args[0])
        # the float-safe helpers of geomrelax.symbolic: softplus(u) = log(1 + exp u), logcosh(u)
        if type(e).__name__ == "softplus" and len(e.args) == 1:
            return cp.logistic(tr(e.args[0]))
        if type(e).__name__ == "logcosh" and len(e.args) == 1:
            a = tr(e.args[0])
            return a + cp.logistic(-2 * a) - math.log(2.0)
        if isinstance(e, sp.Max):
            return cp.maximum(*[_lift(tr(a)) for a in e.args])
        if isinstance(e, sp.Min):
            return cp.minimum(*[_lift(tr(a)) for a in e.args])
        raise NotExpressible(f"no cvxpy atom for {type(e).__name__} in {e} (in {expr})")

    def _lift(v):
        return v if isinstance(v, cp.Expression) else cp.Constant(v) + 0 * x

    def _abs_power_pattern(factors):
        # sympy writes |u|^3 as u**2*Abs(u) for real u: a product of |u|^p_i and even powers of u is |u|^sum
        arg, total = None, 0
        for f in factors:
            base, p = f.as_base_exp()
            if not is_const(p):
                return None
            p = const(p)
            if isinstance(base, sp.Abs):
                base = base.args[0]
            elif not (p == int(p) and int(p) % 2 == 0):
                return None
            if arg is not None and base != arg:
                return None
            arg, total = base, total + p
        a = cp.abs(tr(arg))
        return a if total == 1 else cp.power(a, int(total) if total == int(total) else total)

    def _entr_pattern(factors):
        # a*log(b) with a = k*b, k constant: = k * b log b = -k entr(b)
        for f, g in (factors, factors[::-1]):
            if isinstance(g, sp.log):
                ratio = sp.simplify(f / g.args[0])
                if is_const(ratio):
                    return -const(ratio) * cp.entr(tr(g.args[0]))
        return None

    def _power(base, p: float):
        if p == 0:
            return 1.0
        if p == 1:
            return tr(base)
        if p == 2:
            return cp.square(tr(base))
        if p == 0.5:
            norm = _norm_pattern(base)
            return norm if norm is not None else cp.sqrt(tr(base))
        if p == -1:
            return cp.inv_pos(tr(base))
        # an int exponent: cvxpy treats power(x, 4) as x^4 on R but power(x, 4.0) as defined for x >= 0
        return cp.power(tr(base), int(p) if p == int(p) else p)

    def _norm_pattern(base):
        # sqrt(c + sum_i k_i a_i^2), c >= 0, k_i > 0: the 2-norm of (sqrt(k_i) a_i, sqrt(c)), convex,
        # while cvxpy reads sqrt(convex) as unknown
        terms = base.args if isinstance(base, sp.Add) else (base,)
        rows, c = [], 0.0
        for t in terms:
            if is_const(t):
                c += const(t)
                continue
            k, rest = t.as_coeff_Mul()
            if isinstance(rest, sp.Pow) and rest.args[1] == 2 and float(k) > 0:
                rows.append(math.sqrt(float(k)) * _lift(tr(rest.args[0])))
            else:
                return None
        if c < 0 or not rows:
            return None
        if c > 0:
            rows.append(_lift(math.sqrt(c)))
        return cp.norm(cp.vstack(rows), 2, axis=0)

    def _log(arg):
        # log(1 + exp(a)) = logistic(a);  log(exp(a) + exp(b)) = log_sum_exp;  log(cosh(a))
        if isinstance(arg, sp.cosh):
            a = tr(arg.args[0])
            return a + cp.logistic(-2 * a) - math.log(2.0)
        if isinstance(arg, sp.Add):
            consts = [t for t in arg.args if is_const(t)]
            exps = [t for t in arg.args if isinstance(t, sp.exp)]
            if len(consts) + len(exps) == len(arg.args) and exps:
                c = sum(const(t) for t in consts)
                if len(exps) == 1 and c > 0:
                    return math.log(c) + cp.logistic(tr(exps[0].args[0]) - math.log(c))
                if c == 0 and len(exps) >= 2:
                    return cp.log_sum_exp(cp.vstack([_lift(tr(t.args[0])) for t in exps]), axis=0)
        return cp.log(tr(arg))

    return tr(expr)


# ------------------------------------------------------------------------------------------------
# the programs
# ------------------------------------------------------------------------------------------------
def _bounds(fn: Callable, dom: Interval, x) -> list:
    """The bounds lo <= x <= hi that fn's implicit domain does not already impose.

    A redundant bound on top of an exponential cone (entr(1 - x) <= ... and x <= 1) makes Clarabel
    stall ('AlmostSolved') on some inputs; measured: 2 of 48 entropic solves at d = 1000 with the
    bounds, 0 without."""
    cons = []
    for end, side in ((dom.lo, -1.0), (dom.hi, 1.0)):
        if math.isfinite(end) and not _implicit_bound(fn, end, side):
            cons.append(x >= end if side < 0 else x <= end)
    return cons


def _implicit_bound(fn: Callable, end: float, side: float) -> bool:
    """Whether fn's implicit cvxpy domain contains ``end`` but not end + side * delta: then it imposes
    the bound itself, up to a sliver of width delta (a program domain that is larger than D by a sliver
    only lowers the dual bound L, so the certificate stays valid)."""
    delta = 1e-9 * max(1.0, abs(end))

    def inside(point) -> bool:
        x = cp.Variable(1)
        x.value = np.array([point])
        try:
            cons = fn(x).domain
        except Exception:  # noqa: BLE001 - an atom that cannot be built there
            return False
        return all(c.violation() is None or float(np.max(c.violation())) <= 0.0 for c in cons)

    return inside(end) and not inside(end + side * delta)


def _probe_points(domain: Interval) -> np.ndarray:
    lo = max(domain.lo, -10.0)
    hi = min(domain.hi, 10.0)
    pts = lo + (hi - lo) * np.array([0.005, 0.1, 0.3, 0.5, 0.7, 0.9, 0.995])
    return np.unique(np.append(pts, 0.0))


def _matches(V: SeparableRegularizer, fn: Callable) -> Optional[str]:
    """None when fn(x) equals V's v at probe points inside the domain, with cvxpy's implicit domain
    containing them; else the reason it does not."""
    pts = _probe_points(V.domain)
    x = cp.Variable(pts.size)
    x.value = pts
    try:
        expr = fn(x)
        got = np.broadcast_to(np.asarray(expr.value, dtype=float), pts.shape)
    except NotExpressible:
        raise
    except Exception as exc:  # an atom that cannot even be evaluated there
        return f"evaluating the cvxpy form failed at the probe points: {exc}"
    want = V.elementwise(pts)
    # the same function by two float64 routes differs by a few ulps; a different function by O(1)
    bad = ~np.isclose(got, want, rtol=1e-9, atol=1e-12)
    if np.any(bad):
        i = int(np.argmax(bad))
        return f"the cvxpy form gives {got[i]!r} but v({pts[i]!r}) = {want[i]!r}"
    for con in expr.domain:
        if con.violation() is not None and np.max(np.atleast_1d(con.violation())) > 1e-12:
            viol = np.atleast_1d(con.violation())
            i = int(np.argmax(viol))
            return (f"cvxpy's implicit domain ({con}) excludes x = {pts[i % pts.size]!r}, inside the "
                    f"regularizer's domain [{V.domain.lo}, {V.domain.hi}]")
    return None


def translated_elementwise(V: SeparableRegularizer, x):
    """v(x_i) entrywise from the sympy expression ``V.expr`` (geomrelax.from_expr carries it), else from
    the formula string parsed as data; NotExpressible when there is neither or cvxpy cannot write it."""
    expr = getattr(V, "expr", None)
    try:
        if expr is None and isinstance(getattr(V, "formula", None), str):
            expr = _parse_formula(V.formula)
        if expr is None:
            raise NotExpressible(f"{V.name}: no cvxpy form (no cvxpy_fn, and no sympy `expr` or formula to translate)")
        return sympy_to_cvxpy(expr, x)
    except NotExpressible:
        raise
    except InvalidRegularizerError as exc:
        raise NotExpressible(f"{V.name}: {exc}") from None


def _checked_elementwise(V: SeparableRegularizer) -> Callable:
    """V.cvxpy_elementwise, after checking that it is v at probe points of the domain."""
    fn = V.cvxpy_elementwise
    fn(cp.Variable(2))  # raises NotExpressible before anything is compared
    why = _matches(V, fn)
    if why is not None:
        raise NotExpressible(f"{V.name}: {V.cvxpy_source()} does not match v: {why}")
    return fn


def _is_zero(e) -> bool:
    return bool(e.is_constant() and np.all(np.asarray(e.value) == 0))


def _interval_str(dom: Interval) -> str:
    return f"[{dom.lo:g}, {dom.hi:g}]"


def separable_term(V: SeparableRegularizer, d) -> CvxpyTerm:
    """sum_i v(d_i) with d in [lo, hi]^n, from V's elementwise cvxpy form (checked against v)."""
    fn = _checked_elementwise(V)
    value = cp.sum(fn(d))
    return CvxpyTerm(value, _bounds(fn, V.domain, d),
                     f"sum v(d_i), v from {V.cvxpy_source()}, d in {_interval_str(V.domain)}^{d.shape[0]}",
                     _is_zero(value))


def majorization_term(V: SeparableRegularizer, D) -> CvxpyTerm:
    """F(D) = sum_i v(sigma_i(D)) for an even convex v by weak majorization (module docstring):
    min { sum v(x_i) : x_1 >= ... >= x_r >= 0, ||D||_(k) <= x_1 + ... + x_k, k = 1..r }."""
    fn = _checked_elementwise(V)
    rows, cols = D.shape
    r = min(rows, cols)
    x = cp.Variable(r)
    dil = cp.bmat([[np.zeros((rows, rows)), D], [D.T, np.zeros((cols, cols))]])
    cons = [x >= 0] + _bounds(fn, V.domain, x)
    if r > 1:
        cons.append(x[:-1] >= x[1:])
    cons.append(cp.sigma_max(D) <= x[0])
    cons += [cp.lambda_sum_largest(dil, k) <= cp.sum(x[:k]) for k in range(2, r + 1)]
    value = cp.sum(fn(x))
    # exponential cones beside large LMIs: with Clarabel's default step fraction 0.99 the 16 x 10
    # entropic program stops at 'optimal_inaccurate' (measured); 0.9 gives 'optimal' in as many steps
    return CvxpyTerm(value, cons, f"sum v(x_i) over sigma(D) <_w x (Ky Fan, {r} LMIs), v from {V.cvxpy_source()}",
                     _is_zero(value), clarabel={"max_step_fraction": 0.9})


@dataclass
class LmoProgram:
    """The convex program min_{d in D} <m, d> + V(d)/tau written for cvxpy.

    ``point`` is the cvxpy expression of d (a Variable or a block of one); ``linear`` says that the
    objective is linear (V = 0 on D, or tau = inf), ``formulation`` describes the program.
    """

    problem: cp.Problem
    point: cp.Expression
    linear: bool
    formulation: str
    # Clarabel settings this program needs by default (the caller's solver_opts override them)
    clarabel_defaults: dict = dataclasses.field(default_factory=dict)


def lmo_program(V, m, tau, spectral_form: str = "auto") -> LmoProgram:
    """The cvxpy program min_{d in D} <m, d> + V(d)/tau (tau = inf: min_{d in D} <m, d>).

    ``V`` is a Regularizer or a built-in name; ``m`` one vector (vector regularizers) or one matrix
    (spectral ones). ``spectral_form`` picks the form of the spectral entropic program: 'auto' or
    'majorization' (Ky Fan majorization), 'von_neumann' (von Neumann entropy of [[I, D], [D^T, I]]).
    Raises NotExpressible (an InvalidRegularizerError) when V has no DCP form (the message says why).
    """
    V, m, tau = _check_inputs(V, m, tau)
    if spectral_form not in _SPECTRAL_FORMS:
        raise GeomrelaxError(f"spectral_form must be one of {_SPECTRAL_FORMS}, got {spectral_form!r}")
    return _program(V, m, tau, spectral_form)


def _program(V: Regularizer, m: np.ndarray, tau: float, form: str) -> LmoProgram:
    """The program from V's own cvxpy form (V.cvxpy_term / V.cvxpy_domain): no names asked."""
    d = cp.Variable(m.shape)
    lin = cp.sum(cp.multiply(m, d))
    if math.isinf(tau):
        # the hard LMO argmin_{d in D} <m, d>: only the domain matters
        if not V.bounded:
            raise InvalidRegularizerError(f"{V.name}: the domain is unbounded, so the hard LMO (tau = inf) "
                                          "does not exist")
        dom = V.cvxpy_domain(d)
        return LmoProgram(cp.Problem(cp.Minimize(lin), dom.constraints), d, True, f"<m, d> over {dom.description}")
    # the spectral form choice only means something to a matrix regularizer
    term = V.cvxpy_term(d, spectral_form=form) if V.event_ndim == 2 and form != "auto" else V.cvxpy_term(d)
    cons = list(term.constraints)
    if not cons:
        # SCS refuses a problem without constraint rows; one row fixing an unused variable changes nothing
        cons = [cp.Variable() == 0]
    return LmoProgram(cp.Problem(cp.Minimize(lin + term.value / tau), cons), d, term.zero,
                      f"<m, d> + V(d)/tau, V(d) = {term.description}", dict(term.clarabel))


# ------------------------------------------------------------------------------------------------
# inputs, projection, evaluation
# ------------------------------------------------------------------------------------------------
def _check_inputs(V, m, tau):
    V = as_regularizer(V)
    tau = check_tau(tau)
    m = np.asarray(m)
    if m.dtype == object or np.iscomplexobj(m):
        raise GeomrelaxError(f"m must be a real array, got dtype {m.dtype}")
    m = _check_finite(m).astype(np.float64)
    want = V.event_ndim
    if m.ndim != want or m.size == 0:
        what = "one non-empty vector (ndim 1)" if want == 1 else "one non-empty matrix (ndim 2)"
        raise GeomrelaxError(f"{V.name}: the cross-check solves {what} at a time, got m of shape {m.shape}")
    return V, m, tau


def _project(V: Regularizer, d: np.ndarray) -> np.ndarray:
    """The Euclidean projection onto D (non-expansive towards d* in D)."""
    if isinstance(V, Spectral):
        u, s, vt = np.linalg.svd(d, full_matrices=False)
        return (u * _project(V.base, s)) @ vt
    if isinstance(V, BallQuadratic):
        n = np.linalg.norm(d)
        return d / n if n > 1 else d
    if isinstance(V, SeparableRegularizer):
        return V.domain.clip(d)
    # no projection known for this D: the point as solved (an infeasible one makes U = +inf, reported
    # as 'no certificate', never as agreement)
    return d


def _value(V: Regularizer, d: np.ndarray, tol: float) -> float:
    """V(d) for d in D up to ``tol``: a projected matrix's recomputed singular values may exceed the
    bound by a few ulps, which V.value would read as outside D (+inf)."""
    if isinstance(V, Spectral):
        s = np.linalg.svd(d, compute_uv=False)
        if isinstance(V.base, SeparableRegularizer) and np.all(V.base.domain.contains(s, tol)):
            s = V.base.domain.clip(s)
        elif isinstance(V.base, BallQuadratic) and np.linalg.norm(s) <= 1 + tol:
            s = s / max(1.0, float(np.linalg.norm(s)))
        return float(V.base.value(s))
    return float(np.sum(V.value(d)))


def _objective(V, m, d, tau, tol) -> tuple[float, float]:
    """(f(d), sum of |terms|) in float64; f(d) = <m, d> + V(d)/tau (tau = inf: <m, d>)."""
    lin = m * d
    val = _value(V, d, tol) / tau if math.isfinite(tau) else 0.0
    return float(np.sum(lin)) + val, float(np.sum(np.abs(lin))) + abs(val)


def _float_floor(n: int, scale: float) -> float:
    # worst-case float64 error of a sum of n rounded terms is n u sum|terms|; the factor 16 covers the
    # few ulps of each v(x_i) and the SVD's backward error (~ n u ||D||) in the spectral V.value
    return 16.0 * n * _U * max(scale, 1.0)


# ------------------------------------------------------------------------------------------------
# solving
# ------------------------------------------------------------------------------------------------
@dataclass
class _Solved:
    status: str
    d_raw: Optional[np.ndarray]
    dobj_user: float        # the conic dual objective, in the user's objective (offset added)
    gap: float              # pobj - dobj as reported
    dual_residual: float    # ||P x + c + A^T z||_inf
    x_norm1: float
    solve_time: float
    wall_time: float
    iterations: int
    message: str = ""


def _solver_options(solver: str, eps, extra) -> dict:
    opts = {}
    if solver == "CLARABEL":
        if eps is not None:
            opts.update(tol_gap_abs=eps, tol_gap_rel=eps, tol_feas=eps)
    else:
        e = _SCS_DEFAULT_EPS if eps is None else eps
        opts.update(eps_abs=e, eps_rel=e)
    opts.update(extra or {})
    return opts


def _check_solver(solver, eps):
    if not isinstance(solver, str) or solver.upper() not in SOLVERS:
        raise GeomrelaxError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if eps is not None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not 0 < eps < 1:
            raise GeomrelaxError(f"eps (the solver tolerance) must be a number in (0, 1), got {eps!r}")
        eps = float(eps)
    return solver.upper(), eps


def _solve(prog: LmoProgram, solver: str, eps, solver_opts) -> _Solved:
    problem = prog.problem
    defaults = prog.clarabel_defaults if solver == "CLARABEL" else {}
    opts = _solver_options(solver, eps, {**defaults, **(solver_opts or {})})
    t0 = time.perf_counter()
    data, chain, inverse = problem.get_problem_data(solver, solver_opts=opts)
    try:
        raw = chain.solve_via_data(problem, data, False, False, opts)
        sol = chain.invert(raw, inverse)
    except (cp.error.SolverError, ValueError, RuntimeError) as exc:
        # a solver that raises instead of returning a status: report it as a failed solve
        return _Solved("solver_error", None, math.nan, math.nan, math.nan, math.nan, math.nan,
                       time.perf_counter() - t0, 0, str(exc))
    wall = time.perf_counter() - t0
    status = sol.status
    iterations = int(sol.attr.get(cp.settings.NUM_ITERS) or 0)
    solve_time = float(sol.attr.get(cp.settings.SOLVE_TIME) or math.nan)
    if status in cp.settings.ERROR:
        return _Solved(status, None, math.nan, math.nan, math.nan, math.nan, solve_time, wall, iterations)
    # sets the variables' values (problem.unpack_results would also warn on inaccurate statuses)
    problem.unpack(sol)
    if solver == "CLARABEL":
        x, z = np.asarray(raw.x, float), np.asarray(raw.z, float)
        pobj, dobj = float(raw.obj_val), float(raw.obj_val_dual)
    else:
        x, z = np.asarray(raw["x"], float), np.asarray(raw["y"], float)
        pobj, dobj = float(raw["info"]["pobj"]), float(raw["info"]["dobj"])
    d_raw = None
    dobj_user = gap = res = xn = math.nan
    if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and prog.point.value is not None:
        d_raw = np.asarray(prog.point.value, dtype=np.float64).reshape(prog.point.shape)
        rd = data["c"] + data["A"].T @ z
        if data.get("P") is not None:
            rd = rd + data["P"] @ x
        res = float(np.max(np.abs(rd))) if rd.size else 0.0
        xn = float(np.sum(np.abs(x)))
        gap = pobj - dobj
        # sol.opt_val = pobj + offset (the constant the reductions moved out of the objective); the
        # same offset maps the conic dual objective to the user's problem
        dobj_user = float(sol.opt_val) - gap
    return _Solved(status, d_raw, dobj_user, gap, res, xn, solve_time, wall, iterations)


def cvxpy_lmo(V, m, tau, solver: str = "CLARABEL", eps=None, *, solver_opts=None,
              spectral_form: str = "auto") -> np.ndarray:
    """The solver's argmin_{d in D} <m, d> + V(d)/tau, projected onto D.

    ``eps``: the solver's tolerance (Clarabel: tol_gap_abs = tol_gap_rel = tol_feas; SCS: eps_abs =
    eps_rel, default 1e-9); ``solver_opts`` are passed on to the solver. The projection onto D moves
    the point by at most the solver's primal residual. Raises SolverError (``.status`` holds the cvxpy
    status) unless the status is 'optimal'; InvalidRegularizerError when V has no DCP form.
    """
    solver, eps = _check_solver(solver, eps)
    V, m, tau = _check_inputs(V, m, tau)
    prog = lmo_program(V, m, tau, spectral_form)
    out = _solve(prog, solver, eps, solver_opts)
    if out.status != cp.OPTIMAL or out.d_raw is None:
        raise SolverError(f"{solver} did not solve the LMO program of {V.name} (status {out.status!r}"
                          + (f": {out.message}" if out.message else "") + ")", status=out.status)
    return _project(V, out.d_raw)


# ------------------------------------------------------------------------------------------------
# the cross-check
# ------------------------------------------------------------------------------------------------
@dataclass
class CrossCheckResult:
    """Outcome of comparing the closed-form relaxed LMO with the solver's solution.

    ``outcome`` is 'agree' (``passed``), 'disagree' (the closed form violates the certified bound),
    'inconclusive' (no violation, but the certified tolerance is at least the diameter of the set where
    d* lies a priori, so it certifies nothing), 'solver_failed' (status not optimal, or a certificate that
    contradicts itself) or 'not_expressible' (no DCP program for V). Distances are Euclidean (Frobenius
    for matrices).
    """

    regularizer: str
    tau: float
    solver: str
    status: str
    outcome: str
    passed: bool
    d_cvxpy: Optional[np.ndarray]       # solver's point, projected onto D
    d_closed_form: Optional[np.ndarray]  # grad V*(-tau m) from geomrelax.relaxed_lmo
    max_abs_error: float                # max_i |d_cvxpy - d_closed_form|
    rel_error: float                    # ||d_cvxpy - d_closed_form||_2 / max(||d_closed_form||_2, tiny)
    distance: float                     # the distance the tolerance bounds (see ``note``)
    tolerance: float                    # certified bound on ``distance`` (nan: none applies)
    suboptimality: float                # eps: certified bound on f(d_cvxpy) - f*
    objective_cvxpy: float              # U = f(d_cvxpy)
    objective_closed_form: float        # f(d_closed_form)
    lower_bound: float                  # L <= f*
    duality_gap: float                  # solver's pobj - dobj
    dual_residual: float                # ||P x + c + A^T z||_inf
    infeasibility: float                # ||d_raw - P_D(d_raw)||_2
    solve_time: float                   # seconds, as the solver reports
    wall_time: float                    # seconds, compile + solve
    iterations: int
    formulation: str
    note: str

    def summary(self) -> str:
        if self.outcome in ("solver_failed", "not_expressible"):
            return (f"{self.regularizer} tau={self.tau:g} {self.solver}: {self.outcome} "
                    f"(status {self.status}). {self.note}")
        return (f"{self.regularizer} tau={self.tau:g} {self.solver}: {self.outcome} (status {self.status}); "
                f"distance {self.distance:.3g} {'<=' if self.passed else 'vs'} tol {self.tolerance:.3g}; max abs err "
                f"{self.max_abs_error:.3g}, eps {self.suboptimality:.3g}, {self.wall_time:.3g} s. {self.note}")


def _failed(V, tau, solver, status, outcome, g, note, formulation="", solved: Optional[_Solved] = None):
    nan = math.nan
    s = solved
    return CrossCheckResult(
        regularizer=V.name, tau=tau, solver=solver, status=status, outcome=outcome, passed=False,
        d_cvxpy=None, d_closed_form=g, max_abs_error=nan, rel_error=nan, distance=nan, tolerance=nan,
        suboptimality=nan, objective_cvxpy=nan, objective_closed_form=nan, lower_bound=nan,
        duality_gap=s.gap if s else nan, dual_residual=s.dual_residual if s else nan, infeasibility=nan,
        solve_time=s.solve_time if s else nan, wall_time=s.wall_time if s else nan,
        iterations=s.iterations if s else 0, formulation=formulation, note=note)


def _linear_bound(V: Regularizer, m: np.ndarray, d: np.ndarray, g: np.ndarray, eps: float):
    """(distance, tolerance, note) for a linear objective (the hard LMO); tolerance nan when the LMO is
    not unique or no bound is known for this domain."""
    if isinstance(V, Spectral):
        base = V.base
        if isinstance(base, BallQuadratic):
            nrm = np.linalg.norm(m)
            return (float(np.linalg.norm(d - g)), math.sqrt(2 * eps / nrm),
                    "Frobenius ball: ||D - D*||^2 <= 2 eps/||M||_F")
        a = base.domain.hi
        s = np.linalg.svd(m, compute_uv=False)
        # a computed singular value is within ~ n u sigma_max of the exact one: keep the bound safe
        smin = s[-1] - 4 * m.size * _U * s[0]
        dist = float(np.linalg.norm(d - g))
        if smin <= 0:
            return dist, math.nan, ("M is rank-deficient, so the polar factor is not unique: compared "
                                    "objective values only")
        return dist, math.sqrt(2 * a * eps / smin), "spectral ball: ||D - D*||_F^2 <= 2 a eps / sigma_min(M)"
    if isinstance(V, BallQuadratic):
        nrm = np.linalg.norm(m)
        return float(np.linalg.norm(d - g)), math.sqrt(2 * eps / nrm), "l2 ball: ||d - d*||^2 <= 2 eps/||m||"
    if not isinstance(V, SeparableRegularizer):
        return float(np.linalg.norm(d - g)), math.nan, "no distance bound known for this D: compared objective values only"
    dom = V.domain
    on = m != 0
    if not np.any(on):
        return math.nan, math.nan, "m = 0: every point of D is optimal; compared objective values only"
    dist = float(np.linalg.norm((d - g)[on]))
    note = ("interval: f(d) - f* = sum_i |m_i| |d_i - d*_i|, so ||(d - d*)_S||^2 <= (hi - lo) eps / "
            "min_S |m_i| on S = {m_i != 0}")
    if not np.all(on):
        note += f"; {int(np.sum(~on))} coordinates with m_i = 0 (any d_i optimal) left out"
    return dist, math.sqrt((dom.hi - dom.lo) * eps / float(np.min(np.abs(m[on])))), note


def cross_check(V, m, tau, solver: str = "CLARABEL", eps=None, *, solver_opts=None,
               spectral_form: str = "auto") -> CrossCheckResult:
    """Compare grad V*(-tau m) (geomrelax.relaxed_lmo) with the conic solver's LMO, within a certified
    tolerance (see the module docstring). Refuses bad input (tau <= 0 or NaN, non-finite m, m not one
    vector / one matrix, unknown solver); a V without a DCP form, a failed or inaccurate solve come back
    as a result with ``passed = False`` and the reason.
    """
    solver, eps = _check_solver(solver, eps)
    V, m, tau = _check_inputs(V, m, tau)
    if spectral_form not in _SPECTRAL_FORMS:
        raise GeomrelaxError(f"spectral_form must be one of {_SPECTRAL_FORMS}, got {spectral_form!r}")
    g = np.asarray(relaxed_lmo(V, m, tau), dtype=np.float64)
    if g.shape != m.shape:
        return _failed(V, tau, solver, "not_solved", "disagree", g,
                       f"the closed form has shape {g.shape}, m has shape {m.shape}")
    try:
        prog = _program(V, m, tau, spectral_form)
    except NotExpressible as exc:
        return _failed(V, tau, solver, "not_expressible", "not_expressible", g, str(exc))
    solved = _solve(prog, solver, eps, solver_opts)
    if solved.status != cp.OPTIMAL or solved.d_raw is None:
        extra = f": {solved.message}" if solved.message else ""
        return _failed(V, tau, solver, solved.status, "solver_failed", g,
                       f"{solver} returned status {solved.status!r}{extra}; nothing is certified",
                       prog.formulation, solved)

    n = m.size
    d = _project(V, solved.d_raw)
    infeas = float(np.linalg.norm(solved.d_raw - d))
    # rounding allowance of a computed point of D (a few ulps per entry, SVD reconstruction ~ n u)
    g_floor = 16.0 * n * _U * max(1.0, float(np.max(np.abs(g))))
    U, scale_u = _objective(V, m, d, tau, g_floor)
    L = solved.dobj_user - solved.dual_residual * solved.x_norm1
    floor = _float_floor(n, scale_u + abs(L))
    eps_opt = U - L + floor
    diff = d - g
    base = dict(regularizer=V.name, tau=tau, solver=solver, status=solved.status, d_cvxpy=d, d_closed_form=g,
                max_abs_error=float(np.max(np.abs(diff))),
                rel_error=float(np.linalg.norm(diff) / max(np.linalg.norm(g), np.finfo(float).tiny)),
                suboptimality=eps_opt, objective_cvxpy=U, lower_bound=L, duality_gap=solved.gap,
                dual_residual=solved.dual_residual, infeasibility=infeas, solve_time=solved.solve_time,
                wall_time=solved.wall_time, iterations=solved.iterations, formulation=prog.formulation)
    g_in = bool(np.all(V.contains(g, tol=g_floor)))
    Fg = _objective(V, m, _project(V, g), tau, g_floor)[0] if g_in else math.inf

    problems = []
    if not math.isfinite(eps_opt):
        return CrossCheckResult(**base, outcome="solver_failed", passed=False, distance=float(np.linalg.norm(diff)),
                                tolerance=math.nan, objective_closed_form=Fg,
                                note=f"no certificate: f(d_cvxpy) = {U!r}, lower bound {L!r}")
    if eps_opt < 0:
        # a feasible value below the certified lower bound: the program is not the LMO of V, or the
        # solver's certificate is wrong
        return CrossCheckResult(**base, outcome="solver_failed", passed=False, distance=float(np.linalg.norm(diff)),
                                tolerance=math.nan, objective_closed_form=Fg,
                                note=f"inconsistent certificate: f(d_cvxpy) = {U!r} < lower bound {L!r}")
    if not g_in:
        problems.append("the closed form lies outside D")
    if Fg > U + floor:
        problems.append(f"the closed form's objective {Fg!r} exceeds the solver's {U!r} (+ floor {floor:.2g})")

    if prog.linear:
        dist, tol, how = _linear_bound(V, m, d, g, eps_opt)
        tol = tol + g_floor if math.isfinite(tol) else tol
    elif V.mu > 0:
        dist = float(np.linalg.norm(diff))
        tol = math.sqrt(2.0 * eps_opt * tau / V.mu) + g_floor
        how = f"f is (mu/tau)-strongly convex, mu = {V.mu:g}: ||d - d*||_2 <= sqrt(2 eps tau / mu)"
    else:
        dist, tol = float(np.linalg.norm(diff)), math.nan
        how = "V is not strongly convex (mu = 0): no distance bound; compared objective values only"
    if math.isfinite(tol) and not dist <= tol:
        problems.append(f"distance {dist:.3g} exceeds the certified tolerance {tol:.3g}")
    note = how + f"; eps = {eps_opt:.3g} (gap {solved.gap:.2g}, dual residual {solved.dual_residual:.2g})"
    if problems:
        note = "; ".join(problems) + ". " + note
        outcome = "disagree"
    else:
        outcome = "agree"
        reach, what = _a_priori_diameter(V, m, tau)
        if math.isfinite(tol) and tol >= reach:
            outcome = "inconclusive"
            note = (f"the certified tolerance {tol:.3g} is not smaller than {what} ({reach:.3g}), where d* lies "
                    "before any solve: it certifies nothing. " + note)
    return CrossCheckResult(**base, outcome=outcome, passed=outcome == "agree",
                            distance=dist, tolerance=tol, objective_closed_form=Fg, note=note)


def _a_priori_diameter(V: Regularizer, m: np.ndarray, tau: float) -> tuple[float, str]:
    """(diam S, what S is) for S = D intersected with the ball ||d|| <= 2 tau ||m|| / mu (module docstring)."""
    dirs = [np.ones_like(m), np.sign(m), m]
    if m.ndim == 2:
        dirs.append(np.eye(*m.shape))
    units = np.stack([u / np.linalg.norm(u) for u in dirs if np.linalg.norm(u) > 0])
    with np.errstate(all="ignore"):
        widths = np.asarray(V.support(units), float) + np.asarray(V.support(-units), float)
    diam = float(np.max(widths)) if widths.size and not np.any(np.isnan(widths)) else math.inf
    what = "the diameter of D"
    if V.mu > 0 and math.isfinite(tau) and V.norm in ("l2", "fro"):
        ball = 4.0 * tau * float(np.linalg.norm(m)) / V.mu
        if ball < diam:
            diam, what = ball, "the diameter 4 tau ||m|| / mu of the ball that holds d*"
    return diam, what
