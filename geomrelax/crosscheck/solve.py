"""Solving the LMO program with Clarabel or SCS, and reading the solver's own certificate: the conic dual
objective and the dual residual r_d = P x + c + A^T z (the lower bound of the cross-check).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import cvxpy as cp
import numpy as np

from ..errors import GeomrelaxError, SolverError
from .certify import _project
from ..validate import check_real
from .program import LmoProgram, _check_inputs, _program


SOLVERS = ("CLARABEL", "SCS")

# SCS stops on eps_abs / eps_rel; its default in cvxpy (1e-5) is too loose to certify anything useful
_SCS_DEFAULT_EPS = 1e-9


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
        eps = check_real("eps (the solver tolerance)", eps, low=0.0, high=1.0, low_open=True, high_open=True,
                         error=GeomrelaxError)
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
    V, m, tau = _check_inputs(V, m, tau, spectral_form)
    prog = _program(V, m, tau, spectral_form)
    out = _solve(prog, solver, eps, solver_opts)
    if out.status != cp.OPTIMAL or out.d_raw is None:
        raise SolverError(f"{solver} did not solve the LMO program of {V.name} (status {out.status!r}"
                          + (f": {out.message}" if out.message else "") + ")", status=out.status)
    return _project(V, out.d_raw)
