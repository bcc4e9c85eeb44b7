"""Identity checks for a regularizer: does the code compute the conjugate pair it claims?

``verify(V)`` tests the identities a closed convex V, its conjugate V* and grad V* must satisfy, on
random points and on adversarially searched ones (the batched evolution strategy of geomrelax.search,
started from the worst random points; points on and near the boundary of D, near kinks of V and V*, at
large |y|):

    fenchel_young_inequality   V(x) + V*(y) - <x, y> >= 0                    for x in D, all y
    fenchel_young_equality     V(x) + V*(y) - <x, y> = 0 and x in D          at x = grad V*(y)
    inverse_conj_of_grad       grad V*(grad V(x)) = x                        x in int D
    inverse_grad_of_conj       grad V(grad V*(y)) = y                        where grad V*(y) in int D
                               (y in [v'(x-), v'(x+)] at a kink of a separable v)
    biconjugate                V**(x) = sup_y <x, y> - V*(y) = V(x)          x in D, V(x) finite
    strong_convexity           V(x2) >= V(x1) + <grad V(x1), x2 - x1> + mu/2 ||x2 - x1||^2
    smoothness_conj            V*(y2) <= V*(y1) + <grad V*(y1), y2 - y1> + 1/(2 mu) ||y2 - y1||_*^2
    limit_tau_inf_lmo          d_tau(m) -> lmo(m), at the rate of the exact root of v'(x) = tau |m|
    limit_tau_inf_support      0 <= support(m) - V*(tau m)/tau <= V(argmax_D <m, d>)/tau
    limit_tau_zero             d_tau(m)/tau -> P_T(-m/hess0) at rate O(tau), T the tangent cone of D at 0
    crosscheck_cvxpy           grad V*(-tau m) = argmin_{d in D} <m, d> + V(d)/tau (geomrelax.crosscheck)
    lewis_grad_fd              (spectral) grad F* by the SVD formula = central differences of F*
    lewis_smoothed_polar       (spectral algebraic) grad F*(tau M) = M (M^T M + tau^-2 I)^{-1/2} (eigh)

Every check evaluates, per point, a residual r and an allowance a (float error or an error bound
from the mathematics, stated in the result's note); it fails when r > a at some point, and reports
the worst point (largest r / a): its r as ``error``, its a as ``tolerance`` and, on failure, the point
as ``counterexample``. A point where an identity does not apply (grad V undefined on the boundary,
V = +inf at an open end, a kink of a spectral lift) is skipped: counted in ``n_skipped`` and named in
the note. A check with no applicable point, or that does not apply at all (no hard LMO on an unbounded
domain, mu = 0, no cvxpy form), is 'skipped' with the reason: never passed, never failed.

The package: results (CheckResult, VerifyReport, cache keys), geometry (D through the regularizer's
interface, point sets), runner (residuals, skips, search), one module per family of checks
(fenchel_young, inverse, biconjugate, curvature, limits, lewis, cvxpy_check), resolve and driver.
"""

from .driver import verify
from .geometry import EPS, MATRIX_SHAPE, TOL, ULPS, VECTOR_DIM
from .resolve import resolve
from .results import STATUSES, VERIFY_VERSION, CheckResult, VerifyReport, config_key, fingerprint

__all__ = ["CheckResult", "EPS", "MATRIX_SHAPE", "STATUSES", "TOL", "ULPS", "VECTOR_DIM", "VERIFY_VERSION",
           "VerifyReport", "config_key", "fingerprint", "resolve", "verify"]
