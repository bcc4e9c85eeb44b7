"""cross_check: the closed form grad V*(-tau m) against the solver's LMO, within the certified tolerance.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np

from ..cvxpy_forms import NotExpressible
from ..lmo import relaxed_lmo
from .certify import _U, _a_priori_diameter, _float_floor, _linear_bound, _objective, _project
from .program import _check_inputs, _program
from .result import CrossCheckResult, _failed
from .solve import _check_solver, _solve


def cross_check(V, m, tau, solver: str = "CLARABEL", eps=None, *, solver_opts=None,
               spectral_form: str = "auto") -> CrossCheckResult:
    """Compare grad V*(-tau m) (geomrelax.relaxed_lmo) with the conic solver's LMO, within a certified
    tolerance (see geomrelax.crosscheck). Refuses bad input (tau <= 0 or NaN, non-finite m, m not one
    vector / one matrix, unknown solver); a V without a DCP form, a failed or inaccurate solve come back
    as a result with ``passed = False`` and the reason.
    """
    solver, eps = _check_solver(solver, eps)
    V, m, tau = _check_inputs(V, m, tau, spectral_form)
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
