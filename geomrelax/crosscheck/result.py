"""The outcome of one cross-check (CrossCheckResult).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .solve import _Solved


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
