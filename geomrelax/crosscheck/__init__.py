"""Cross-check of the regularized LMO against a conic solver (cvxpy).

The regularized LMO has a closed form (geomrelax.relaxed_lmo),

    d_tau(m) = argmin_{d in D} f(d),   f(d) = <m, d> + V(d)/tau,   d_tau(m) = grad V*(-tau m).

Here the same minimization is written as a disciplined convex program, solved by Clarabel or SCS, and
compared with the closed form under a tolerance derived from the solver's own certificate:

    U   = f(P_D(d_hat))                  float64 value of f at the solver's point projected onto D (a
                                         feasible point, so U >= f*; P_D is V.project, or the point as
                                         solved when V knows no projection); V is evaluated by V.value,
                                         not by the conjugate under test
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

Formulations. Each regularizer writes its own (Regularizer.cvxpy_term, cvxpy_domain, and for the base of a
spectral lift cvxpy_spectral_term; NotExpressible when it has none), so the cross-check never asks a
name: a new built-in or a user subclass needs no edit here. Each form is exact; d is the decision
variable. The built-ins (geomrelax/cvxpy_forms.py):

    euclidean       sum_squares(d)/2
    box             0 with -1 <= d <= 1
    box_quadratic   sum_squares(d)/2 with -1 <= d <= 1
    entropic        -(sum entr(1 + d) + sum entr(1 - d))/2     (v(x) = -(entr(1+x) + entr(1-x))/2)
    algebraic       sum 1 - sqrt(1 - d^2)                        (sqrt of a concave argument: DCP concave)
    ball_quadratic  sum_squares(d)/2 with ||d||_2 <= 1
    a formula       the sympy expression a formula regularizer carries, translated atom by atom
                    (sympy_to_cvxpy, crosscheck/translate.py); cvxpy's DCP rules decide, and a formula
                    they cannot certify is reported as not expressible

Spectral lifts F(D) = sum_i v(sigma_i(D)) of a rows x cols matrix, r = min(rows, cols):

    euclidean       sum_squares(D)/2
    box             sigma_max(D) <= 1
    box_quadratic   sum_squares(D)/2 with sigma_max(D) <= 1
    ball_quadratic  sum_squares(D)/2 with ||D||_F <= 1
    algebraic       F(D) = r - max { tr Z : sigma_max([D; Z]) <= 1 },  Z r x r  ([D, Z] when rows < cols):
                    one LMI of size rows + 2r (the derivation is with the form, in cvxpy_forms.py).
    any other even convex v with an elementwise form (entropic, formulas): weak majorization,
                    F(D) = min { sum_i v(x_i) : x_1 >= ... >= x_r >= 0, ||D||_(k) <= x_1 + ... + x_k },
                    r LMIs of size rows + cols (crosscheck/forms.py): expensive. Measured with Clarabel:
                    6 x 4 0.05 s, 8 x 5 0.15 s; with its default step fraction 0.99, 12 x 8 and 16 x 10 end
                    'optimal_inaccurate', so these programs default to max_step_fraction = 0.9: 16 x 10
                    'optimal' in 4 s. 30 x 20 took 268 s and 4.3 GB and still ended 'optimal_inaccurate':
                    out of reach.
    entropic, form 'von_neumann': sum_i v(sigma_i) = -S([[I, D], [D^T, I]])/2 with S the von Neumann
                    entropy; cvxpy canonicalises S by rows + cols - 1 lambda_sum_largest constraints: more
                    expensive still (6 x 4 0.2 s, 12 x 8 21 s 'optimal_inaccurate'; 30 x 20 exhausts memory
                    while compiling).

Domain bounds lo <= d_i <= hi are added only where the cvxpy expression's implicit domain does not
already impose them (entr, sqrt do): the redundant pair made Clarabel stop at 'AlmostSolved' on some
entropic inputs. At tau = inf the program is min <m, d> over D alone.

The package: translate (sympy -> cvxpy rules), forms (generic separable and majorization forms), program
(the LMO program), solve (Clarabel / SCS and their certificates), certify (bounds, tolerances), result
(CrossCheckResult), check (cross_check).
"""

from ..cvxpy_forms import CvxpyTerm, NotExpressible
from .check import cross_check
from .forms import majorization_term, separable_term, translated_elementwise
from .program import LmoProgram, lmo_program
from .result import CrossCheckResult
from .solve import SOLVERS, cvxpy_lmo
from .translate import sympy_to_cvxpy

__all__ = ["CrossCheckResult", "CvxpyTerm", "LmoProgram", "NotExpressible", "SOLVERS", "cross_check", "cvxpy_lmo",
           "lmo_program", "majorization_term", "separable_term", "sympy_to_cvxpy", "translated_elementwise"]
