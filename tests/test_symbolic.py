"""User formulas: validation (each refusal), the symbolic route (closed forms, branch filtering), the
numeric fallback, and the torch evaluation."""

import math
import pickle
import threading
import time

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import geomrelax as gr
from geomrelax import symbolic as sy
from geomrelax.symbolic import derive, pieces, worker
from geomrelax.errors import (DomainError, InvalidRegularizerError, NotConvexError, NotStronglyConvexError)

EPS = np.finfo(np.float64).eps
INF = math.inf

_CACHE = {}


def fx(expr, domain=(-1, 1), **kw):
    """from_expr, built once per test session (each call costs 0.1 - 1 s of sympy)."""
    key = (expr, tuple(domain), tuple(sorted(kw.items())))
    if key not in _CACHE:
        _CACHE[key] = gr.from_expr(expr, domain=domain, **kw)
    return _CACHE[key]


def s_points():
    mags = np.concatenate([np.linspace(0, 50, 501), np.logspace(-300, 300, 61), [1 - 1e-12, 1 + 1e-12, 1.0]])
    return np.concatenate([mags, -mags])


# (built-in name, domain) -> the formula it carries
BUILTINS = [("euclidean", (-INF, INF)), ("box_quadratic", (-1, 1)), ("entropic", (-1, 1)), ("algebraic", (-1, 1))]


@pytest.mark.parametrize("name,domain", BUILTINS)
def test_builtins_from_their_formulas_alone(name, domain):
    B = gr.regularizer(name)
    V = fx(B.formula, domain)
    assert V.route == "symbolic", V.derivation_note
    assert V.mu == 1.0 and V.hess0 == 1.0
    s = s_points()
    g, gb = V.grad_conj(s), B.grad_conj(s)
    # both are float64 evaluations of the same function by stable formulas: a few ulps apart
    np.testing.assert_allclose(g, gb, rtol=8 * EPS, atol=0)
    # beyond |s| = 1e150 the built-ins' v* square s (euclidean: a genuine overflow of s^2/2; the
    # algebraic built-in returns inf for sqrt(1 + s^2) - 1 ~ |s| there)
    s = s[np.abs(s) <= 1e150]
    g = V.grad_conj(s)
    c, cb = V.conj_elementwise(s), B.conj_elementwise(s)
    # v* forms differ (e.g. -s + log(exp(2s) + 1) - log 2 against |s| + log1p(exp(-2|s|)) - log 2):
    # relative rounding of the terms, plus O(eps) absolute where O(1) terms cancel near s = 0
    np.testing.assert_array_less(np.abs(c - cb), 1e-13 * np.abs(cb) + 8 * EPS * (1 + np.abs(s * g)))


@pytest.mark.parametrize("name,expected", [
    ("euclidean", sy.S),
    ("entropic", sympy.tanh(sy.S)),
    ("algebraic", sy.S / sympy.sqrt(1 + sy.S ** 2)),
])
def test_closed_form_expressions(name, expected):
    B = gr.regularizer(name)
    V = fx(B.formula, dict(BUILTINS)[name])
    assert sympy.simplify(V.grad_conj_expr - expected) == 0
    x = sy.X
    conj_expected = {"euclidean": sy.S ** 2 / 2, "entropic": sympy.log(sympy.cosh(sy.S)),
                     "algebraic": sympy.sqrt(1 + sy.S ** 2) - 1}[name]
    # compare at points (sympy cannot always prove log(exp(2s) + 1) - s - log 2 = log cosh s)
    for sv in (-3.7, -0.2, 0.0, 0.9, 12.0):
        assert float(V.conj_expr.subs(sy.S, sv)) == pytest.approx(float(conj_expected.subs(sy.S, sv)), rel=1e-14,
                                                                  abs=1e-15)
    assert V.expr.free_symbols <= {x}


def test_closed_forms_stay_finite_at_huge_s():
    V = fx("1 - sqrt(1 - x**2)", (-1, 1))
    s = np.array([1e200, -1e300, 1e-300])
    np.testing.assert_array_equal(V.grad_conj(s), [1.0, -1.0, 1e-300])
    np.testing.assert_allclose(V.conj_elementwise(s), [1e200, 1e300, 5e-601], rtol=1e-15, atol=0)
    V = fx("((1 + x)*log(1 + x) + (1 - x)*log(1 - x))/2", (-1, 1))
    np.testing.assert_allclose(V.conj_elementwise(s), [1e200, 1e300, 0.0], rtol=1e-15, atol=1e-300)


def test_box_quadratic_is_clip_and_huber():
    V = fx("x**2/2", (-1, 1))
    g = V.grad_conj_expr
    assert isinstance(g, sympy.Piecewise)
    for sv, want in ((-5, -1), (-1, -1), (0.25, 0.25), (1, 1), (3, 1)):
        assert float(g.subs(sy.S, sv)) == want
    for sv, want in ((-5, 4.5), (0.5, 0.125), (2, 1.5)):
        assert float(V.conj_expr.subs(sy.S, sv)) == want


# -- branch filtering ---------------------------------------------------------------------------------
def test_spurious_sqrt_branch_is_rejected():
    V = fx("1 - sqrt(1 - x**2)", (-1, 1))
    rejected = dict((str(b), why) for b, why in V.rejected_branches)
    assert "-s/sqrt(s**2 + 1)" in rejected and "spurious" in rejected["-s/sqrt(s**2 + 1)"]
    assert "rejected" in V.derivation_note


def test_check_branch_reasons():
    pc = pieces._Piece(c0=-sympy.oo, c1=sympy.oo, v=sympy.cosh(sy.X) - 1)
    pc.dv = sympy.sinh(sy.X)
    pts = derive._piece_test_points(-INF, INF, 0.0)
    why, _ = derive._check_branch(sympy.log(sy.S - sympy.sqrt(sy.S ** 2 + 1)), pc, pts)
    assert "complex" in why
    # the right branch loses everything to cancellation at s = -1e100 in plain float or 60-digit
    # arithmetic; the precision ladder resolves it
    why, values = derive._check_branch(sympy.log(sy.S + sympy.sqrt(sy.S ** 2 + 1)), pc, pts)
    assert why is None
    assert float(values[-1e100]) == pytest.approx(-math.asinh(1e100), rel=1e-15)
    pc = pieces._Piece(c0=sympy.Integer(-1), c1=sympy.Integer(1), v=sy.X ** 2 / 2)
    pc.dv = sy.X
    why, _ = derive._check_branch(2 * sy.S, pc, derive._piece_test_points(-1.0, 1.0, 0.0))
    assert "outside the piece" in why or "spurious" in why


def test_abs_kink_gives_soft_thresholding():
    # sympy solves x + sign(x) = s as s - 1 for all s (wrong for s < 1); the piece-wise solve is exact
    V = fx("x**2/2 + Abs(x)", (-INF, INF))
    assert V.route == "symbolic", V.derivation_note
    assert V.hess0 is None  # a kink at 0: tau -> 0 is not SGD
    s = np.concatenate([np.linspace(-4, 4, 801), [-1 - 1e-12, 1 + 1e-12, 1e300, -1e300]])
    ref = np.sign(s) * np.maximum(np.abs(s) - 1, 0.0)
    np.testing.assert_array_equal(V.grad_conj(s), ref)  # s - 1 and s + 1 are exact in floats here
    c = V.conj_elementwise(s[:801])
    np.testing.assert_allclose(c, np.maximum(np.abs(s[:801]) - 1, 0) ** 2 / 2, rtol=1e-14, atol=1e-15)


def test_real_cube_root_branch():
    V = fx("x**4/4", (-1, 1), require_strong=False)
    assert V.route == "symbolic" and V.mu == 0.0
    s = np.linspace(-2, 2, 401)
    np.testing.assert_allclose(V.grad_conj(s), np.clip(np.cbrt(s), -1, 1), rtol=4 * EPS, atol=0)


@pytest.mark.parametrize("expr,domain", [
    ("Max(x, 0)**2 + x**2/2", (-1, 1)),
    ("Piecewise((x**2, x > 0), (x**2/2, True))", (-1, 2)),
    ("x**2/2 - x**3/10", (-1, 1)),
    ("cosh(x) - 1", (-INF, INF)),
    ("exp(x) - 1 - x", (-1, INF)),
    ("-log(1 - x**2)/2", (-1, 1)),
])
def test_symbolic_agrees_with_numeric_route(expr, domain):
    V = fx(expr, domain)
    assert V.route == "symbolic", V.derivation_note
    s = np.concatenate([np.linspace(-30, 30, 1201), np.logspace(-12, 12, 49), -np.logspace(-12, 12, 49)])
    a, b = V.grad_conj(s), V.numeric.grad_conj(s)
    # the numeric root is good to the rounding of v' divided by the slope v''
    tol = 1e-12 * np.abs(b) + 64 * EPS * (1 + np.abs(s)) / np.abs(V.d2v(b))
    assert np.all(np.abs(a - b) <= tol)
    ca, cb = V.conj_elementwise(s), V.numeric.conj(s)
    assert np.all(np.abs(ca - cb) <= 1e-12 * np.abs(cb) + 16 * EPS * (1 + np.abs(s * b)))


def test_unbounded_domain_with_bounded_derivative():
    V = fx("sqrt(1 + x**2) - 1", (-INF, INF), require_strong=False)
    assert V.mu == 0.0
    s = np.array([-3.0, -1.5, -0.5, 0.0, 0.75, 1.5])
    x = V.grad_conj(s)
    np.testing.assert_array_equal(x[[0, 1]], -np.inf)
    np.testing.assert_array_equal(x[5], np.inf)
    np.testing.assert_allclose(x[2:5], s[2:5] / np.sqrt(1 - s[2:5] ** 2), rtol=1e-15)
    c = V.conj_elementwise(s)
    assert np.all(np.isposinf(c[[0, 1, 5]]))
    np.testing.assert_allclose(c[2:5], 1 - np.sqrt(1 - s[2:5] ** 2), rtol=1e-14, atol=1e-16)


def test_mu_exact_and_values_at_the_ends():
    V = fx("x**2/2 - x**3/10", (-1, 1))
    # v'' = 1 - 3x/5 is smallest at the end x = 1: mu = 2/5, from the one-sided limit (exact)
    assert V.mu == 0.4 and V.mu_exact and V.hess0 == 1.0
    E = fx("((1 + x)*log(1 + x) + (1 - x)*log(1 - x))/2", (-1, 1))
    # the formula is 0 log 0 = NaN at x = +-1; the regularizer uses the limit ln 2 there
    np.testing.assert_allclose(E.elementwise(np.array([-1.0, 1.0, 0.0])), [math.log(2), math.log(2), 0.0],
                               rtol=1e-15)
    assert np.isinf(E.elementwise(np.array([1.5]))[0])
    assert E.grad_conj(np.float32([0.5, 2.0])).dtype == np.float32
    assert E.conj_elementwise(np.float32([0.5, 2.0])).dtype == np.float32
    assert E.absolutely_symmetric


def test_box_indicator_formula():
    V = fx("0", (-1, 1), require_strong=False)
    s = np.array([-2.0, -1e-300, 0.0, 1e-300, 3.0])
    np.testing.assert_array_equal(V.grad_conj(s), np.sign(s))
    np.testing.assert_array_equal(V.conj_elementwise(s), np.abs(s))


# -- refusals -----------------------------------------------------------------------------------------------
def test_refuses_other_symbols():
    with pytest.raises(InvalidRegularizerError, match=r"other than x: a, y"):
        gr.from_expr("a*x**2/2 + y")


def test_refuses_unparsable_and_non_expressions():
    with pytest.raises(InvalidRegularizerError, match="cannot parse"):
        gr.from_expr("x**2/2 +")
    with pytest.raises(InvalidRegularizerError, match="empty"):
        gr.from_expr("  ")
    with pytest.raises(InvalidRegularizerError, match="not an expression"):
        gr.from_expr("x > 1")
    with pytest.raises(InvalidRegularizerError, match="unknown function .f. is not allowed"):
        gr.from_expr("x**2/2 + f(x)")
    with pytest.raises(InvalidRegularizerError, match="string or a sympy expression"):
        gr.from_expr([1, 2])


def test_refuses_bad_domain_route_and_timeout():
    with pytest.raises(DomainError, match="does not contain 0"):
        gr.from_expr("x**2/2", domain=(0.5, 2))
    with pytest.raises(DomainError, match="empty"):
        gr.from_expr("x**2/2", domain=(0, 0))
    with pytest.raises(DomainError, match="NaN"):
        gr.from_expr("x**2/2", domain=(math.nan, 1))
    with pytest.raises(DomainError, match="pair"):
        gr.from_expr("x**2/2", domain=1.0)
    with pytest.raises(DomainError, match="'left' is not a real number"):
        gr.from_expr("x**2/2", domain=("left", 1))
    with pytest.raises(InvalidRegularizerError, match="route must be one of"):
        gr.from_expr("x**2/2", route="closed")
    with pytest.raises(InvalidRegularizerError, match="timeout"):
        gr.from_expr("x**2/2", timeout="soon")


def test_refuses_v0_not_zero():
    with pytest.raises(InvalidRegularizerError, match=r"v\(0\) = 1/2 .*x\*\*2/2 \+ 1/2 - \(1/2\)"):
        gr.from_expr("x**2/2 + 1/2")


def test_refuses_zero_not_minimiser():
    with pytest.raises(InvalidRegularizerError, match=r"not the minimiser.*v'\(0\) = 0\.3.*- \(0\.3\)\*x"):
        gr.from_expr("x**2/2 + 3*x/10")
    # 0 as the left end: v'(0) must be >= 0
    with pytest.raises(InvalidRegularizerError, match=r"v'\(0\) = -1; need v'\(0\) >= 0 at the end 0"):
        gr.from_expr("x**2/2 - x", domain=(0, 1))
    # and the suggested fix is accepted
    V = gr.from_expr("x**2/2 + 3*x/10 - (0.3)*x")
    assert V.mu == pytest.approx(1.0)


def test_refuses_nonconvex_with_witness():
    with pytest.raises(NotConvexError) as info:
        gr.from_expr("x**4/4 - x**2/2", domain=(-2, 2))
    err = info.value
    assert "not convex" in str(err) and "< 0" in str(err)
    assert abs(err.point) <= 1e-6
    # v'' = 3x^2 - 1 is most negative at 0, where it is -1
    assert err.curvature == pytest.approx(3 * err.point ** 2 - 1, abs=1e-12)
    assert err.curvature == pytest.approx(-1.0, abs=1e-10)
    with pytest.raises(NotConvexError) as info:
        gr.from_expr("x**2/2 - x**4/8", domain=(-2, 2))
    err = info.value
    # v'' = 1 - 3x^2/2 < 0 for |x| > sqrt(2/3); the witness is a genuine negative point
    assert abs(err.point) > math.sqrt(2 / 3)
    assert err.curvature == pytest.approx(1 - 1.5 * err.point ** 2, rel=1e-9)


def test_refuses_concave_kink():
    with pytest.raises(NotConvexError, match="concave kink") as info:
        gr.from_expr("2*x**2 - Abs(x)/10")
    assert info.value.curvature == -math.inf and abs(info.value.point) < 1e-6


@pytest.mark.parametrize("expr,kw,message", [
    # accepted with mu = 1 before, though v(-0.5) = -0.175 < v(0) = 0
    ("x**2/2 + 0.3*sign(x)", {}, r"jumps at x = 0: v\(0-\) = -0\.3, v\(0\+\) = 0\.3; a regularizer must be continuous"),
    ("sign(x)", {"require_strong": False}, r"jumps at x = 0: v\(0-\) = -1, v\(0\+\) = 1;"),
    ("x**2/2 + Heaviside(x - 1/2)", {}, r"jumps at x = 1/2: v\(1/2-\) = 0\.125, v\(1/2\+\) = 1\.125;"),
    ("x**2/2 + Heaviside(x) - 1/2", {}, r"jumps at x = 0: v\(0-\) = -0\.5, v\(0\+\) = 0\.5;"),
    ("floor(x)", {"require_strong": False}, r"jumps at x = 0: v\(0-\) = -1, v\(0\+\) = 0;"),
    ("x**2/2 + ceiling(x - 1/3)", {}, r"jumps at x = 1/3: v\(1/3-\) = 0\.0555556, v\(1/3\+\) = 1\.05556;"),
    ("Piecewise((x**2 + 1, x > 1/2), (x**2/2, True))", {}, r"jumps at x = 1/2: v\(1/2-\) = 0\.125, v\(1/2\+\) = 1\.25;"),
])
def test_refuses_jumps(expr, kw, message):
    with pytest.raises(InvalidRegularizerError, match=message):
        gr.from_expr(expr, **kw)


def test_continuous_kinks_are_not_jumps():
    # |x| written with sign: continuous, accepted, and the same soft thresholding as x**2/2 + Abs(x)
    V = fx("x**2/2 + x*sign(x)", (-INF, INF))
    assert V.mu == 1.0
    s = np.linspace(-4, 4, 81)
    np.testing.assert_array_equal(V.grad_conj(s), np.sign(s) * np.maximum(np.abs(s) - 1, 0.0))


def test_not_strongly_convex():
    for expr, domain in (("x**4/4", (-1, 1)), ("0", (-1, 1)), ("sqrt(1 + x**2) - 1", (-INF, INF))):
        with pytest.raises(NotStronglyConvexError, match=r"not strongly convex.*hard LMO.*require_strong=False"):
            gr.from_expr(expr, domain=domain)
    V = fx("x**4/4", (-1, 1), require_strong=False)
    assert V.mu == 0.0 and not V.strongly_convex


def test_refuses_complex_or_undefined_inside():
    with pytest.raises(InvalidRegularizerError, match=r"complex.*x = -2"):
        gr.from_expr("log(1 + x) - x", domain=(-2, 1))
    with pytest.raises(InvalidRegularizerError, match=r"undefined at x = 0\.5"):
        gr.from_expr("x**2/2 + 1/(x - 1/2)**2 - 4")


def test_float_overflow_is_not_an_error():
    V = fx("cosh(x) - 1", (-INF, INF))  # cosh(1e8) overflows float64 but is finite
    assert "overflows float64" in V.derivation_note
    assert V.mu == pytest.approx(1.0, abs=1e-12)


# -- routes, time limits ---------------------------------------------------------------------------------
def test_numeric_route_on_request():
    V = gr.from_expr("1 - sqrt(1 - x**2)", route="numeric")
    assert V.route == "numeric" and V.grad_conj_expr is None and V.conj_expr is None
    B = gr.regularizer("algebraic")
    s = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(V.grad_conj(s), B.grad_conj(s), rtol=1e-12, atol=0)


def test_sympy_timeout_falls_back_to_numeric():
    V = gr.from_expr("((1 + x)*log(1 + x) + (1 - x)*log(1 - x))/2", timeout=1e-3)
    assert V.route == "numeric"
    assert "symbolic route stopped after 0.001 s; numeric route used" in V.derivation_note
    s = np.linspace(-10, 10, 201)
    np.testing.assert_allclose(V.grad_conj(s), np.tanh(s), rtol=1e-12, atol=0)
    with pytest.raises(InvalidRegularizerError, match="no verified float-safe closed form"):
        gr.from_expr("1 - sqrt(1 - x**2)", route="symbolic", timeout=1e-3)


def test_unsolvable_formula_falls_back_with_a_note():
    V = fx("x**2/2 + x**6", (-1, 1))
    assert V.route == "numeric" and "symbolic route failed" in V.derivation_note
    s = np.linspace(-8, 8, 161)
    x = V.grad_conj(s)
    inside = np.abs(x) < 1
    np.testing.assert_allclose(V.dv(x[inside]), s[inside], rtol=1e-12, atol=1e-15)


def test_time_limit_interrupts_in_main_thread_and_in_workers():
    def busy():
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            pass
        return "done"

    t0 = time.monotonic()
    with pytest.raises(worker.Timeout):
        worker.limited(busy, 0.05)
    assert time.monotonic() - t0 < 0.4
    assert worker.limited(lambda: 42, 1.0) == 42
    box = {}

    def in_thread():
        try:
            worker.limited(busy, 0.05)
        except worker.Timeout:
            box["timeout"] = True
        box["v"] = gr.from_expr("1 - sqrt(1 - x**2)", timeout=30)

    th = threading.Thread(target=in_thread)
    th.start()
    th.join(60)
    assert box.get("timeout") and box["v"].route == "symbolic"


# -- the regularizer object ----------------------------------------------------------------------------
def test_is_a_separable_regularizer_usable_by_the_core():
    V = fx("1 - sqrt(1 - x**2)", (-1, 1))
    assert isinstance(V, gr.SeparableRegularizer) and isinstance(V, sy.ExprRegularizer)
    assert V.absolutely_symmetric and V.bounded
    m = np.random.default_rng(0).standard_normal((4, 6))
    d = gr.relaxed_lmo(V, m, 10.0)
    np.testing.assert_allclose(d, gr.relaxed_lmo("algebraic", m, 10.0), rtol=8 * EPS, atol=0)
    # the spectral lift (needs an even v on a symmetric domain, which sympy confirmed)
    Y = np.random.default_rng(1).standard_normal((5, 3))
    # the same SVD, then grad v* of the singular values: a few ulps apart
    np.testing.assert_allclose(gr.spectral(V).grad_conj(Y), gr.spectral(gr.regularizer("algebraic")).grad_conj(Y),
                               rtol=1e-12, atol=1e-15)


def test_pickle_rebuilds_from_the_formula():
    V = fx("x**2/2 + Abs(x)", (-INF, INF))
    W = pickle.loads(pickle.dumps(V))
    s = np.linspace(-3, 3, 61)
    np.testing.assert_array_equal(W.grad_conj(s), V.grad_conj(s))
    assert W.domain == V.domain and W.route == V.route


def test_sympy_expression_input_with_its_own_x():
    x = sympy.Symbol("x", positive=True)
    V = gr.from_expr(x ** 2 / 2, domain=(-2, 0.5))
    assert V.expr.free_symbols == {sy.X}
    np.testing.assert_array_equal(V.grad_conj(np.array([-3.0, 0.2, 1.0])), [-2.0, 0.2, 0.5])
    assert gr.from_expr("x^2/2").route == "symbolic"  # '^' is a power


# -- torch ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr,domain", [
    ("((1 + x)*log(1 + x) + (1 - x)*log(1 - x))/2", (-1, 1)),
    ("1 - sqrt(1 - x**2)", (-1, 1)),
    ("x**2/2 + Abs(x)", (-INF, INF)),
    ("x**2/2 + x**6", (-1, 1)),
])
def test_torch_grad_conj_on_cpu_tensors(expr, domain):
    torch = pytest.importorskip("torch")
    V = fx(expr, domain)
    s = torch.linspace(-40, 40, 2001, dtype=torch.float64)
    ref = V.grad_conj(s.numpy())
    out = V.torch_grad_conj(s)
    assert out.dtype == torch.float64 and out.shape == s.shape
    np.testing.assert_array_equal(out.numpy(), ref)
    # the torch implementation itself (closed form lambdified for torch, or the numeric twin)
    tt = V.torch_grad_conj_fn(s.reshape(23, 87), backend="torch")
    assert tt.shape == (23, 87)
    assert np.max(np.abs(tt.reshape(-1).numpy() - ref)) <= 4 * EPS * 40
    t32 = V.torch_grad_conj_fn(s.float(), backend="torch")
    assert t32.dtype == torch.float32
    # float32: relative rounding of the formula or of the iteration's stopping rule (eps32^(3/4))
    assert np.max(np.abs(t32.double().numpy() - ref) / np.maximum(np.abs(ref), 1.0)) <= 1e-5


def test_lambdify_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    from sympy.codegen.cfunctions import hypot

    S = sy.S
    exprs = [sympy.Piecewise((-1, S <= -1), (S * sympy.tanh(S), (S < 1) & (S > -1)), (1, True)),
             hypot(S, 1) + sy.softplus(2 * S) + sy.logcosh(S) - sympy.log(2),
             sympy.Max(S, 0) + sympy.Min(S, 1) + sympy.Abs(S) * sympy.sign(S),
             sympy.Integer(3), sympy.asinh(S) + sympy.atan(S) + sympy.exp(-S ** 2)]
    s = np.linspace(-900, 900, 1001)
    for e in exprs:
        a = sy.lambdify_numpy(e, S)(s)
        b = sy.lambdify_torch(e, S)(torch.from_numpy(s)).numpy()
        np.testing.assert_allclose(b, a, rtol=4 * EPS, atol=0, err_msg=str(e))


def test_bad_torch_backend_name():
    torch = pytest.importorskip("torch")
    V = fx("x**2/2", (-1, 1))
    with pytest.raises(gr.GeomrelaxError, match="backend must be"):
        V.torch_grad_conj_fn(torch.zeros(2), backend="cuda")


# -- properties ---------------------------------------------------------------------------------------------
@settings(max_examples=6, deadline=None)
@given(a=st.integers(1, 9), b=st.integers(0, 9), bounded=st.booleans())
def test_property_quartics_symbolic_or_numeric_agree(a, b, bounded):
    # v = a x^2/2 + b x^4/4: sympy's Cardano form is refused where it cancels; either way grad v*
    # must invert v' on the domain
    domain = (-1, 1) if bounded else (-INF, INF)
    V = fx(f"{a}*x**2/2 + {b}*x**4/4", domain)
    assert V.mu == pytest.approx(a)
    s = np.concatenate([np.linspace(-50, 50, 201), np.logspace(-9, 9, 19)])
    x = V.grad_conj(s)
    inside = (x > domain[0]) & (x < domain[1])
    r = a * x[inside] + b * x[inside] ** 3
    # v'(x) = s up to the rounding of v' (relative, a few eps of its terms)
    assert np.all(np.abs(r - s[inside]) <= 16 * EPS * (np.abs(a * x[inside]) + np.abs(b * x[inside] ** 3)) + 1e-300)
    assert np.all((x >= domain[0]) & (x <= domain[1]))


@settings(max_examples=50, deadline=None)
@given(s=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=30))
def test_property_fenchel_young_for_kinked_formula(s):
    V = fx("Max(x, 0)**2 + x**2/2", (-1, 1))
    s = np.array(s)
    x = V.grad_conj(s)
    c = V.conj_elementwise(s)
    y = np.linspace(-1, 1, 201)
    vy = V.v(y)
    # v*(s) is the sup over y: at least s y - v(y) for all y, attained at x (up to rounding)
    assert np.all(c >= np.max(s[:, None] * y - vy, axis=1) - 8 * EPS * (1 + np.abs(s)))
    np.testing.assert_allclose(c, s * x - V.v(x), rtol=1e-13, atol=8 * EPS)
