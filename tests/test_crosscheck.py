"""The cvxpy cross-check of the regularized LMO: agreement with grad V*, planted errors, solver failures,
the sympy translation, refusals.

Tolerances: every pass/fail below is decided by the certified tolerance crosscheck derives from the
solver's duality gap and residuals (see geomrelax/crosscheck.py); the tests add no tolerance of their own
except where a comment gives the measured float error.
"""

import dataclasses
import math

import numpy as np
import pytest
import sympy as sp

import geomrelax as gr
from geomrelax.crosscheck import CrossCheckResult, cvxpy_lmo, lmo_program, sympy_to_cvxpy
from geomrelax.errors import (GeomrelaxError, InvalidRegularizerError, InvalidTemperatureError, NonFiniteError,
                              SolverError)
from geomrelax.regularizers import Interval, SeparableRegularizer

cp = pytest.importorskip("cvxpy")

VECTOR = ["euclidean", "box", "box_quadratic", "entropic", "algebraic", "ball_quadratic"]


def _m(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _assert_agrees(r: CrossCheckResult):
    assert r.status == "optimal", r.summary()
    assert r.outcome == "agree" and r.passed, r.summary()
    assert r.d_cvxpy.shape == r.d_closed_form.shape
    # the certificate is consistent: a feasible value above a lower bound, and a finite tolerance
    assert r.objective_cvxpy >= r.lower_bound
    if math.isfinite(r.tolerance):
        assert r.distance <= r.tolerance
    assert r.objective_closed_form <= r.objective_cvxpy + 1e-9 * max(1.0, abs(r.objective_cvxpy))


def _assert_value_identity(r: CrossCheckResult, V, m, tau):
    # docs/theory.md: min_d <m, d> + V(d)/tau = -V*(-tau m)/tau; the solver certifies L <= min <= U, and
    # floor = eps - (U - L) is the float64 rounding allowance crosscheck derived
    floor = r.suboptimality - (r.objective_cvxpy - r.lower_bound)
    val = float(gr.relaxed_lmo_value(V, m, tau))
    assert r.lower_bound - floor <= val <= r.objective_cvxpy + floor


# ------------------------------------------------------------------------------------------------
# agreement: every built-in at d = 1000, spectral lifts at 30 x 20
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VECTOR)
@pytest.mark.parametrize("tau", [0.5, 20.0])
def test_vector_builtins_agree_d1000(name, tau):
    m = _m(1000, 0)
    r = gr.cross_check(name, m, tau)
    _assert_agrees(r)
    _assert_value_identity(r, gr.regularizer(name), m, tau)
    # the tolerance is certified, not a pass-anything: it stays below the size of the vector's entries
    assert r.tolerance < 0.1


@pytest.mark.parametrize("name", ["box", "entropic", "algebraic", "ball_quadratic"])
def test_hard_lmo_tau_inf_agrees(name):
    m = _m(1000, 1)
    r = gr.cross_check(name, m, math.inf)
    _assert_agrees(r)
    assert "ball" in r.note or "interval" in r.note


@pytest.mark.parametrize("name", ["box", "box_quadratic", "ball_quadratic"])
def test_scs_with_tight_eps_is_accurate_at_kinks(name):
    # SCS at eps 1e-9 lands on the box / clip / sphere boundary; its certified tolerance is then small
    r = gr.cross_check(name, _m(1000, 2), 3.0, solver="SCS", eps=1e-9)
    _assert_agrees(r)
    assert r.tolerance < 0.05


@pytest.mark.parametrize("name", ["euclidean", "box", "box_quadratic", "algebraic", "ball_quadratic"])
def test_spectral_lifts_agree_30x20(name):
    # SCS handles the 50 x 50 / 70 x 70 LMIs several times faster than Clarabel here
    M = _m((30, 20), 3)
    r = gr.cross_check(gr.spectral(name), M, 3.0, solver="SCS", eps=1e-8)
    _assert_agrees(r)
    _assert_value_identity(r, gr.spectral(name), M, 3.0)
    if name == "algebraic":
        # docs/theory.md's SVD-free form: grad F*(-tau M) = -M (M^T M + tau^-2 I)^(-1/2) = smoothed_polar(-M, tau)
        assert np.linalg.norm(r.d_cvxpy - gr.smoothed_polar(-M, 3.0)) <= r.tolerance


def test_spectral_algebraic_wide_matrix_clarabel():
    # rows < cols takes the [D, Z] form of the algebraic program
    r = gr.cross_check(gr.spectral("algebraic"), _m((5, 9), 4), 2.0)
    _assert_agrees(r)
    assert "[D, Z]" in r.formulation


@pytest.mark.parametrize("form", ["majorization", "von_neumann"])
@pytest.mark.parametrize("shape", [(6, 4), (4, 6)])
def test_spectral_entropic_small(form, shape):
    # 30 x 20 is out of reach (see the module note): r LMIs of size rows + cols; 16 x 10 below
    r = gr.cross_check(gr.spectral("entropic"), _m(shape, 5), 2.0, spectral_form=form)
    _assert_agrees(r)


def test_spectral_entropic_16x10():
    """The largest size Clarabel certifies in seconds (4 s here; 30 x 20 took 268 s and ended
    'optimal_inaccurate'): it needs the program's default max_step_fraction = 0.9."""
    M = np.random.default_rng(0).standard_normal((16, 10))
    r = gr.cross_check(gr.spectral("entropic"), M, 3.0)
    _assert_agrees(r)
    assert r.status == "optimal"


def test_von_neumann_identity_behind_the_entropic_program():
    # eigenvalues of [[I, D], [D^T, I]] are 1 +- sigma_i(D) and 1 (|rows - cols| times), so
    # sum_i v(sigma_i) = -S(B)/2; both computed in float64, agreement to ~1e-15 measured
    D = _m((5, 3), 6)
    D /= 1.5 * np.linalg.norm(D, 2)
    s = np.linalg.svd(D, compute_uv=False)
    B = np.block([[np.eye(5), D], [D.T, np.eye(3)]])
    lam = np.linalg.eigvalsh(B)
    np.testing.assert_allclose(np.sort(lam), np.sort(np.r_[1 + s, 1 - s, np.ones(2)]), atol=1e-13)
    S = -np.sum(lam * np.log(lam))
    assert gr.spectral("entropic").value(D) == pytest.approx(-S / 2, abs=1e-13)


def test_algebraic_stacked_form_value():
    # F(D) = r - max { tr Z : sigma_max([D; Z]) <= 1 } solved on its own (Clarabel's gap is ~1e-8)
    D = _m((5, 3), 7)
    D /= 1.2 * np.linalg.norm(D, 2)
    Z = cp.Variable((3, 3))
    prob = cp.Problem(cp.Maximize(cp.trace(Z)), [cp.sigma_max(cp.vstack([D, Z])) <= 1])
    prob.solve(solver="CLARABEL")
    assert 3 - prob.value == pytest.approx(float(gr.spectral("algebraic").value(D)), abs=1e-6)


# ------------------------------------------------------------------------------------------------
# the check can fail
# ------------------------------------------------------------------------------------------------
def test_planted_wrong_grad_conj_is_caught():
    wrong = dataclasses.replace(gr.regularizer("entropic"), grad_conj_fn=lambda s: np.tanh(1.05 * s))
    for n in (10, 1000):
        r = gr.cross_check(wrong, _m(n, 8), 2.0)
        assert r.status == "optimal"
        assert r.outcome == "disagree" and not r.passed, r.summary()
        assert r.distance > r.tolerance


def test_planted_wrong_spectral_map_is_caught():
    # s / sqrt(1.05 + s^2) stays inside D, so only the certified distance / objective can catch it
    alg = gr.regularizer("algebraic")
    wrong = dataclasses.replace(alg, grad_conj_fn=lambda s: s / np.sqrt(1.05 + s * s))
    r = gr.cross_check(gr.Spectral(wrong), _m((30, 20), 9), 3.0, solver="SCS", eps=1e-8)
    assert r.outcome == "disagree" and not r.passed, r.summary()


def test_closed_form_outside_domain_is_caught():
    wrong = dataclasses.replace(gr.regularizer("box_quadratic"), grad_conj_fn=lambda s: np.clip(s, -1.1, 1.1))
    r = gr.cross_check(wrong, 3 * _m(50, 10), 1.0)
    assert not r.passed and "outside D" in r.note


def test_planted_sign_error_in_hard_lmo_is_caught():
    wrong = dataclasses.replace(gr.regularizer("box"), grad_conj_fn=lambda s: -np.sign(s))
    r = gr.cross_check(wrong, _m(100, 11), 1.0)
    assert r.outcome == "disagree"


def test_failing_solver_status_is_reported_not_passed():
    m = _m(200, 12)
    r = gr.cross_check("entropic", m, 2.0, solver_opts={"max_iter": 2})
    assert r.status == "user_limit" and r.outcome == "solver_failed" and not r.passed
    assert "user_limit" in r.note
    r = gr.cross_check("entropic", m, 2.0, solver="SCS", solver_opts={"max_iters": 5})
    assert r.status == "optimal_inaccurate" and not r.passed
    with pytest.raises(SolverError, match="user_limit") as exc:
        cvxpy_lmo("entropic", m, 2.0, solver_opts={"max_iter": 2})
    assert exc.value.status == "user_limit"


def test_tolerance_tracks_solver_accuracy():
    # a loose solve (eps 1e-3) is further from d*, and the certified tolerance grows with it
    m = _m(500, 13)
    tight = gr.cross_check("entropic", m, 5.0)
    loose = gr.cross_check("entropic", m, 5.0, eps=1e-3)
    _assert_agrees(loose)
    assert loose.suboptimality > tight.suboptimality
    assert loose.tolerance > tight.tolerance


def test_box_with_zero_momenta_compares_where_sign_is_defined():
    m = _m(100, 14)
    m[::7] = 0.0
    r = gr.cross_check("box", m, 1.0)
    _assert_agrees(r)
    assert "m_i = 0" in r.note


def test_cvxpy_lmo_returns_point_of_domain():
    m = _m(300, 15)
    d = cvxpy_lmo("algebraic", m, 4.0)
    assert d.shape == m.shape and np.all(np.abs(d) <= 1)
    r = gr.cross_check("algebraic", m, 4.0)
    assert np.linalg.norm(d - gr.relaxed_lmo("algebraic", m, 4.0)) <= r.tolerance


@pytest.mark.parametrize("norm", ["l1", "nuclear", "spectral"])
def test_cvxpy_lmo_of_a_ball_is_projected_into_it(norm):
    # the program is solved at radius 1 and the solver's point (outside by its residual) is projected by
    # V.project: it lies in the ball by the ball's own rounding allowance, never by the solver's residual
    from geomrelax.zoo import norm_ball

    V = norm_ball(norm)
    m = _m(8 if norm == "l1" else (5, 3), 16)
    d = cvxpy_lmo(V, m, math.inf)
    assert bool(V.contains(d))
    # without the projection the solver's raw point lies outside (by its residual, far above the allowance)
    V.project = lambda x: None
    assert not bool(V.contains(cvxpy_lmo(V, m, math.inf)))


# ------------------------------------------------------------------------------------------------
# user formulas: the sympy -> cvxpy translation
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(kw_only=True, repr=False)
class StandIn(SeparableRegularizer):
    """What geomrelax.from_expr returns, reduced to what the cross-check reads: ``expr`` and ``domain``."""

    expr: object = None


def _stand_in(name, expr, v, grad_conj, domain, mu):
    return StandIn(name=name, v=v, dv=np.zeros_like, d2v=np.zeros_like, conj_fn=np.zeros_like,
                   grad_conj_fn=grad_conj, domain=Interval(*domain), mu=mu, expr=sp.sympify(expr))


COSH = ("cosh(x) - 1", lambda x: np.cosh(x) - 1, np.arcsinh, (-math.inf, math.inf), 1.0)
CUBIC = ("x**2/2 + Abs(x)**3/3", lambda x: x * x / 2 + np.abs(x) ** 3 / 3,
         lambda s: np.sign(s) * (np.sqrt(1 + 4 * np.abs(s)) - 1) / 2, (-math.inf, math.inf), 1.0)
BARRIER = ("-log(1 - x**2)/2", lambda x: -np.log1p(-x * x) / 2,
           lambda s: 2 * s / (1 + np.sqrt(1 + 4 * s * s)), (-1, 1), 1.0)


@pytest.mark.parametrize("case", [COSH, CUBIC, BARRIER], ids=["cosh", "cubic", "log-barrier"])
def test_translated_formulas_agree(case):
    expr, v, g, dom, mu = case
    V = _stand_in("user", expr, v, g, dom, mu)
    r = gr.cross_check(V, _m(300, 16), 2.0)
    _assert_agrees(r)
    assert "formula" in r.formulation


def _translated_copy(B):
    """B as a user formula: the same pieces, with only the sympy expression of its formula to translate
    (not the built-in's own cvxpy form)."""
    own = ("formula", "cvxpy_fn", "cvxpy_spectral_fn")
    fields = {f.name: getattr(B, f.name) for f in dataclasses.fields(B) if f.init and f.name not in own}
    return StandIn(**{**fields, "name": "user-" + B.name}, expr=sp.sympify(B.formula))


def test_translated_builtin_formulas_match_builtin_programs():
    # the entropic and algebraic formulas go through the translator (entr pattern, sqrt of a concave)
    m = _m(200, 17)
    for name in ["entropic", "algebraic", "box_quadratic"]:
        B = gr.regularizer(name)
        V = _translated_copy(B)
        r = gr.cross_check(V, m, 3.0)
        _assert_agrees(r)
        assert "formula" in r.formulation
        # same optimum as the built-in program: both within their certified distances of d*
        rb = gr.cross_check(name, m, 3.0)
        assert np.linalg.norm(r.d_cvxpy - rb.d_cvxpy) <= r.tolerance + rb.tolerance


def test_mu_zero_formula_compares_objectives():
    # v = x^4/4 on R: strictly but not strongly convex, grad v*(s) = cbrt(s)
    V = _stand_in("quartic", "x**4/4", lambda x: x**4 / 4, np.cbrt, (-math.inf, math.inf), 0.0)
    r = gr.cross_check(V, _m(200, 18), 2.0)
    _assert_agrees(r)
    assert math.isnan(r.tolerance) and "mu = 0" in r.note
    wrong = _stand_in("quartic", "x**4/4", lambda x: x**4 / 4, lambda s: np.cbrt(1.2 * s),
                      (-math.inf, math.inf), 0.0)
    assert gr.cross_check(wrong, _m(200, 18), 2.0).outcome == "disagree"


def test_spectral_lift_of_a_formula_uses_majorization():
    V = _stand_in("cosh", *COSH)
    r = gr.cross_check(gr.Spectral(V), _m((5, 3), 19), 1.5)
    _assert_agrees(r)
    assert "Ky Fan" in r.formulation


@pytest.mark.parametrize("expr, dom, why", [
    ("x*atanh(x)", (-1, 1), "no DCP form"),                    # convex, but no cvxpy atom for atanh
    ("sqrt(1 + x**4) - 1", (-math.inf, math.inf), "curvature"),  # convex, but sqrt(convex) is not DCP
    ("x**3", (-1, 1), "implicit domain"),                      # power(x, 3) silently restricts to x >= 0
    ("sin(x)", (-1, 1), "no cvxpy atom"),
])
def test_inexpressible_formulas_are_reported(expr, dom, why):
    f = sp.lambdify(sp.Symbol("x"), sp.sympify(expr), "numpy")
    V = _stand_in("user", expr, f, np.tanh, dom, 1.0)
    r = gr.cross_check(V, _m(20, 20), 1.0)
    assert r.outcome == "not_expressible" and not r.passed and why in r.note, r.note
    with pytest.raises(InvalidRegularizerError, match=why):
        cvxpy_lmo(V, _m(20, 20), 1.0)


def test_formula_that_disagrees_with_v_is_refused():
    V = _stand_in("liar", "x**2", lambda x: x * x / 2, lambda s: s, (-1, 1), 1.0)
    r = gr.cross_check(V, _m(10, 21), 1.0)
    assert r.outcome == "not_expressible" and "does not match v" in r.note


def test_sympy_to_cvxpy_patterns():
    x = cp.Variable(4)
    pts = np.array([-0.9, -0.2, 0.3, 0.8])
    x.value = pts
    cases = {
        "(1 + x)*log(1 + x)": (1 + pts) * np.log1p(pts),
        "-(x - 1)*log(1 - x)": (1 - pts) * np.log1p(-pts),
        "log(1 + exp(x))": np.log1p(np.exp(pts)),
        "log(exp(x) + exp(-x))": np.logaddexp(pts, -pts),
        "log(cosh(x))": np.log(np.cosh(pts)),
        "sqrt(1 + 4*x**2)": np.sqrt(1 + 4 * pts**2),
        "Max(x, x**2)": np.maximum(pts, pts**2),
        "2**x": 2.0**pts,
        "1/(2 - x)": 1 / (2 - pts),
    }
    for text, want in cases.items():
        out = sympy_to_cvxpy(sp.sympify(text), x)
        # same function by two float64 routes: ~1e-15 measured
        np.testing.assert_allclose(out.value, want, rtol=1e-12, err_msg=text)
    with pytest.raises(InvalidRegularizerError, match="several symbols"):
        sympy_to_cvxpy(sp.sympify("x*y"), x)


def test_with_from_expr_when_available():
    from_expr = pytest.importorskip("geomrelax.symbolic").from_expr
    V = from_expr("x**2/2 + Abs(x)**3/3", domain=(-math.inf, math.inf))
    _assert_agrees(gr.cross_check(V, _m(200, 22), 2.0))


# ------------------------------------------------------------------------------------------------
# refusals
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), "x"])
def test_bad_tau(tau):
    with pytest.raises(InvalidTemperatureError):
        gr.cross_check("entropic", np.ones(3), tau)
    with pytest.raises(InvalidTemperatureError):
        cvxpy_lmo("entropic", np.ones(3), tau)


def test_nan_in_m_names_the_index():
    m = np.ones(5)
    m[3] = np.nan
    with pytest.raises(NonFiniteError, match=r"\(3,\)"):
        gr.cross_check("entropic", m, 1.0)


@pytest.mark.parametrize("V, shape", [("entropic", (3, 4)), ("entropic", ()), ("entropic", (0,)),
                                      (gr.spectral("algebraic"), (5,)), (gr.spectral("algebraic"), (2, 3, 4))])
def test_wrong_shapes(V, shape):
    with pytest.raises(GeomrelaxError, match=r"shape"):
        gr.cross_check(V, np.ones(shape), 1.0)


def test_bad_solver_eps_and_form():
    with pytest.raises(GeomrelaxError, match="MOSEK"):
        gr.cross_check("entropic", np.ones(3), 1.0, solver="MOSEK")
    with pytest.raises(GeomrelaxError, match="eps"):
        gr.cross_check("entropic", np.ones(3), 1.0, eps=-1e-8)
    with pytest.raises(GeomrelaxError, match="spectral_form"):
        gr.cross_check(gr.spectral("entropic"), np.ones((2, 2)), 1.0, spectral_form="svd")
    with pytest.raises(GeomrelaxError, match="complex"):
        gr.cross_check("entropic", np.ones(3) * 1j, 1.0)


def test_unbounded_domain_has_no_hard_lmo():
    with pytest.raises(InvalidRegularizerError, match="unbounded"):
        gr.cross_check("euclidean", np.ones(3), math.inf)


def test_lmo_program_is_inspectable():
    prog = lmo_program("entropic", np.ones(4), 2.0)
    assert prog.problem.is_dcp() and prog.point.shape == (4,) and not prog.linear
    assert lmo_program("box", np.ones(4), 2.0).linear


def test_import_geomrelax_stays_light():
    import subprocess
    import sys

    code = "import geomrelax, sys; print('cvxpy' in sys.modules, 'sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "False"
