"""verify(V): resolve V, run every check from its own seeded random stream, collect a VerifyReport.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import GeomrelaxError
from ..norms import InvalidNormError, parse_norm
from ..validate import check_int
from .biconjugate import _check_biconjugate
from .curvature import _check_smoothness, _check_strong_convexity
from .cvxpy_check import _check_crosscheck
from .fenchel_young import _check_fy_equality, _check_fy_inequality
from .geometry import _Geo
from .inverse import _check_inverse_conj_of_grad, _check_inverse_grad_of_conj
from .lewis import _check_lewis_fd, _check_lewis_polar
from .limits import _check_limit_lmo, _check_limit_support, _check_limit_zero
from .resolve import resolve
from .results import VERIFY_VERSION, CheckResult, VerifyReport, _skip
from .runner import _run


def verify(V, domain=None, *, spectral: bool = False, seed: int = 0, n_points: int = 64,
           crosscheck: bool = True, search: bool = True, require_strong: bool = True, route: str = "auto",
           timeout: float = 20.0) -> VerifyReport:
    """Run the identity checks (listed in geomrelax.verify) on V and return a VerifyReport.

    V is a Regularizer, a built-in name, or an expression in x (sent to geomrelax.from_expr with
    ``domain``). ``spectral=True`` checks the spectral lift F(X) = sum v(sigma_i(X)) (on 3x2 matrices)
    and adds the Lewis checks. ``n_points`` random points per check (plus boundary, kink and searched
    points when ``search``); ``seed`` fixes all of them. ``crosscheck=False`` skips the cvxpy solves.
    ``require_strong=False`` accepts an expression that is convex but not strongly convex (mu = 0);
    ``route`` and ``timeout`` are from_expr's (how grad v* of an expression is computed, and its time limit).
    """
    check_int("seed", seed, low=0, error=GeomrelaxError)
    check_int("n_points", n_points, low=8, error=GeomrelaxError)
    R = resolve(V, domain, spectral, require_strong, route, timeout)
    t0 = time.perf_counter()
    config = {"regularizer": R.name, "input": V if isinstance(V, str) else R.name,
              "domain": None if domain is None else [float(d) for d in domain], "spectral": bool(spectral),
              "seed": int(seed), "n_points": int(n_points), "crosscheck": bool(crosscheck), "search": bool(search),
              "verify_version": VERIFY_VERSION}
    geo = _Geo(R)
    n = int(n_points) if geo.ev == 1 else max(8, int(n_points) // 2)
    try:  # a name geomrelax.norms does not know leaves mu unchecked (skipped), not failed
        parse_norm(R.norm)
        norm_ok = True
    except InvalidNormError:
        norm_ok = False
    strong = R.mu > 0

    # each check draws from its own stream, so skipping one leaves the others' points unchanged
    def rng_for(i):
        return np.random.default_rng([int(seed), i])

    plan = [
        ("fenchel_young_inequality", lambda r: _run(_check_fy_inequality(geo, r, n, search), geo, r, search)),
        ("fenchel_young_equality", lambda r: _run(_check_fy_equality(geo, r, n, search), geo, r, search)),
        ("inverse_conj_of_grad", lambda r: _run(_check_inverse_conj_of_grad(geo, r, n, search), geo, r, search)
         if strong else _skip("inverse_conj_of_grad",
                              "mu = 0: V is not claimed strictly convex, so grad V need not be invertible "
                              "(the box indicator has grad V = 0 on int D)")),
        ("inverse_grad_of_conj", lambda r: _run(_check_inverse_grad_of_conj(geo, r, n, search), geo, r, search)
         if strong else _skip("inverse_grad_of_conj", "mu = 0: grad V* is only a subgradient selection")),
        ("biconjugate", lambda r: _run(_check_biconjugate(geo, r, n, search), geo, r, False)),
        ("strong_convexity", lambda r: _run(_check_strong_convexity(geo, r, n, search), geo, r, search)
         if norm_ok else _skip("strong_convexity", f"unknown norm {R.norm!r}")),
        ("smoothness_conj", lambda r: (_run(_check_smoothness(geo, r, n, search), geo, r, search) if norm_ok
                                       else _skip("smoothness_conj", f"unknown norm {R.norm!r}")) if strong
         else _skip("smoothness_conj", "mu = 0: V* is not smooth (no 1/mu bound), e.g. |s| for the box")),
        ("limit_tau_inf_lmo", lambda r: _check_limit_lmo(geo, r, n)),
        ("limit_tau_inf_support", lambda r: _check_limit_support(geo, r, n)),
        ("limit_tau_zero", lambda r: _check_limit_zero(geo, r, n)),
        ("crosscheck_cvxpy", lambda r: _check_crosscheck(geo, r, n) if crosscheck
         else _skip("crosscheck_cvxpy", "disabled (crosscheck=False)")),
    ]
    if geo.ev == 2:
        plan += [("lewis_grad_fd", lambda r: _check_lewis_fd(geo, r, n)),
                 ("lewis_smoothed_polar", lambda r: _check_lewis_polar(geo, r, n))]
    results = []
    for i, (nm, fn) in enumerate(plan):
        with np.errstate(all="ignore"):
            try:
                res = fn(rng_for(i))
            except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
                # a closed form that raises on valid input is a failure of that check, not of verify
                res = CheckResult(nm, "fail", note=f"raised {type(exc).__name__}: {exc}")
        results.append(res)
    return VerifyReport(R.name, config, results, time.perf_counter() - t0)
