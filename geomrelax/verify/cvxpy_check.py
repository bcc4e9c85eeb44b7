"""The cross-check as one of verify's checks: geomrelax.cross_check at three (m, tau), its own certified
tolerance deciding.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SolverError
from .geometry import _rand_m
from .results import CheckResult, _skip


def _getattr_any(obj, names, default=None):
    for nm in names:
        if hasattr(obj, nm):
            v = getattr(obj, nm)
            if v is not None:
                return v
    return default


def _check_crosscheck(geo, rng, n):
    """geomrelax.crosscheck.cross_check at three (m, tau): its own certified tolerance decides.

    A result with outcome 'not_expressible' (or a NotImplementedError) means no cvxpy form: skipped.
    'solver_failed' (or a SolverError) is retried with SCS, then reported as a failure: an uncertified
    solve is never a pass. An 'inconclusive' solve (a tolerance that certifies nothing) is left out and
    counted; when every solve is inconclusive the check is skipped with the reason.
    """
    name = "crosscheck_cvxpy"
    try:
        from ..crosscheck import cross_check as _cc
    except ImportError as exc:
        return _skip(name, f"geomrelax.crosscheck is not available ({exc})")
    m = _rand_m(geo, rng, 3)
    worst, inconclusive = None, []
    for mi, tau in zip(m, (0.5, 3.0, 30.0)):
        res, why = None, ""
        for solver in (None, "SCS"):
            try:
                res = _cc(geo.V, mi, tau) if solver is None else _cc(geo.V, mi, tau, solver=solver)
            except SolverError as exc:
                res, why = None, f"solver failed: {exc}"
                continue
            except NotImplementedError as exc:
                return _skip(name, f"no cvxpy form for {geo.V.name}: {exc}")
            outcome = str(getattr(res, "outcome", ""))
            if outcome == "not_expressible":
                return _skip(name, f"no cvxpy form for {geo.V.name}: {getattr(res, 'note', '')}")
            if outcome != "solver_failed":
                break
            why = f"solver failed: status {getattr(res, 'status', '?')}; {getattr(res, 'note', '')}"
            res = None
        if res is None:
            return CheckResult(name, "fail", note=why + " (tried the default solver and SCS)",
                               counterexample={"m": mi, "tau": tau}, n_points=1)
        if str(getattr(res, "outcome", "")) == "inconclusive":
            inconclusive.append(f"tau {tau:g}: {getattr(res, 'note', '')}")
            continue
        err = _getattr_any(res, ("distance", "error", "max_abs_error"))
        tol = _getattr_any(res, ("tolerance",))
        err = float(np.max(err)) if err is not None else None
        tol = float(np.max(tol)) if tol is not None else None
        passed = bool(getattr(res, "passed"))
        q = (0.0 if passed else 2.0) + (err / tol if (err is not None and tol and math.isfinite(err / tol)) else 0.0)
        if worst is None or q > worst[0]:
            worst = (q, passed, err, tol, {"m": mi, "tau": tau}, str(_getattr_any(res, ("status",), "")),
                     str(_getattr_any(res, ("outcome",), "")), str(_getattr_any(res, ("note",), "")))
    if worst is None:
        return CheckResult(name, "skipped", note="every solve inconclusive: " + " | ".join(inconclusive),
                           n_skipped=len(inconclusive))
    _, passed, err, tol, point, status, outcome, note = worst
    head = f"worst of 3 solves (tau 0.5, 3, 30): {outcome + ', ' if outcome else ''}status {status}"
    if inconclusive:
        head += f"; {len(inconclusive)} of 3 solves skipped: inconclusive (tolerance certifies nothing)"
    return CheckResult(name, "pass" if passed else "fail", err, tol, None if passed else point,
                       head + (f"; {note}" if note else ""), n_points=3 - len(inconclusive),
                       n_skipped=len(inconclusive))
