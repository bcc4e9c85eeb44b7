"""The generic cvxpy forms of separable regularizers, built from what the regularizer gives (its elementwise
v, Regularizer.cvxpy_elementwise): sum_i v(d_i) on a box, and the spectral lift by Ky Fan majorization.
Every elementwise form is checked against v at probe points of the domain before it is used.

    majorization   F(D) = min { sum_i v(x_i) : x_1 >= ... >= x_r >= 0, ||D||_(k) <= x_1 + ... + x_k }
                   where ||D||_(k) = sum of the k largest singular values = lambda_sum_largest of the
                   dilation [[0, D], [D^T, 0]]. Exact because v is convex and even, hence nondecreasing on
                   [0, a], and sigma(D) <_w x implies sum v(sigma) <= sum v(x) (Tomic-Weyl), with equality
                   at x = sigma(D). r LMIs of size rows + cols.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import cvxpy as cp
import numpy as np

from ..cvxpy_forms import CvxpyTerm, NotExpressible
from ..errors import InvalidRegularizerError
from ..regularizers import Interval, SeparableRegularizer
from .translate import parse_formula_text, sympy_to_cvxpy


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
            expr = parse_formula_text(V.formula)
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
