"""The numeric route: grad v* and v* by safeguarded Newton/bisection, and the validation scans."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import geomrelax as gr
from geomrelax.errors import InvalidRegularizerError
from geomrelax.backend import numpy_ops
from geomrelax.numeric import NumericConjugate, domain_grid, scan_curvature

EPS = np.finfo(np.float64).eps
STRONG_SEPARABLE = ["euclidean", "box_quadratic", "entropic", "algebraic"]


def numeric_of(name):
    """The numeric route for a built-in, from its scalar pieces v, v', v'' only."""
    V = gr.regularizer(name)
    return V, NumericConjugate(V.v, V.dv, V.d2v, V.domain, mu=V.mu, hess0=V.hess0)


def sample_s(seed, n=20000):
    rng = np.random.default_rng(seed)
    mags = np.concatenate([rng.standard_normal(n) * 3, rng.standard_normal(n // 4) * 0.01,
                           np.logspace(-300, 300, 121), np.logspace(-12, 3, 61)])
    return np.concatenate([mags, -mags, [0.0, 1.0, -1.0, 1.0 - 1e-12, -1.0 + 1e-12]])


@pytest.mark.parametrize("name", STRONG_SEPARABLE)
def test_grad_conj_matches_closed_form_away_from_boundary(name):
    V, N = numeric_of(name)
    s = sample_s(0)
    x, ref = N.grad_conj(s), V.grad_conj(s)
    lo, hi = V.domain.lo, V.domain.hi
    # 'away from the boundary': the exact maximiser is at least 1e-8 from a finite domain end (closer in,
    # x is 1 - O(1e-8) and the closed form itself carries a relative error eps / (1 - |x|) in 1 - |x|)
    away = (ref - lo >= 1e-8) & (hi - ref >= 1e-8)
    assert away.sum() > 20000
    rel = np.abs(x[away] - ref[away]) / np.maximum(np.abs(ref[away]), 1e-300)
    assert rel.max() <= 1e-10, (s[away][np.argmax(rel)], x[away][np.argmax(rel)], ref[away][np.argmax(rel)])
    # near or at an end both are within a few ulps of the end (absolute)
    near = ~away
    assert np.all(np.abs(x[near] - ref[near]) <= 4 * EPS)


@pytest.mark.parametrize("name", STRONG_SEPARABLE)
def test_conj_matches_closed_form(name):
    V, N = numeric_of(name)
    s = sample_s(1, n=5000)
    s = s[np.abs(s) <= 1e150]  # s^2/2 of the euclidean form overflows beyond
    c, ref = N.conj(s), V.conj_elementwise(s)
    x = V.grad_conj(s)
    # float error of s x - v(x): relative rounding of both terms, plus O(eps) absolute from formulas of
    # O(1) terms such as 1 - sqrt(1 - x^2)
    tol = 1e-12 * np.abs(ref) + 8 * EPS * (1.0 + np.abs(s * x))
    assert np.all(np.abs(c - ref) <= tol), s[np.argmax(np.abs(c - ref) - tol)]


def test_one_million_coordinates_correct():
    V, N = numeric_of("entropic")
    s = np.random.default_rng(2).standard_normal(10**6) * 3
    x = N.grad_conj(s)
    ref = np.tanh(s)
    away = 1 - np.abs(ref) >= 1e-8
    assert np.max(np.abs(x[away] - ref[away]) / np.abs(ref[away]).clip(1e-300)) <= 1e-10
    assert np.max(np.abs(x - ref)) <= 4 * EPS


def test_saturation_at_finite_ends():
    V, N = numeric_of("box_quadratic")
    s = np.array([-np.inf, -1e300, -5.0, -1.0, -1.0 + 1e-15, 0.5, 1.0, 1.0 + 1e-15, 7.0, np.inf, np.nan])
    x = N.grad_conj(s)
    np.testing.assert_array_equal(x[:2], -1.0)
    np.testing.assert_array_equal(x[[2, 3]], -1.0)  # s <= v'(-1) = -1: the end itself, exactly
    np.testing.assert_array_equal(x[[6, 7, 8, 9]], 1.0)
    np.testing.assert_array_equal(x[[4, 5]], s[[4, 5]])  # inside: v'(x) = x = s exactly
    assert math.isnan(x[10])


def test_barrier_ends_reach_the_end_float():
    V, N = numeric_of("entropic")
    s = np.array([30.0, 1e6, 1e300, np.inf, -40.0, -np.inf])
    x = N.grad_conj(s)
    # tanh(30) = 1 - 1.9e-26 rounds to 1.0: the nearest float to the maximiser is the end
    np.testing.assert_array_equal(x, [1.0, 1.0, 1.0, 1.0, -1.0, -1.0])
    c = N.conj(np.array([1e6]))
    assert c[0] == pytest.approx(1e6 - math.log(2.0), rel=1e-15)


def test_unbounded_side_with_bounded_derivative_is_not_attained():
    # v = sqrt(1 + x^2) - 1 on R: v' = x / sqrt(1 + x^2) in (-1, 1), so for |s| >= 1 the sup is +inf
    v = lambda x: x * x / (1 + np.sqrt(1 + x * x))
    dv = lambda x: x / np.sqrt(1 + x * x)
    d2v = lambda x: (1 + x * x) ** -1.5
    N = NumericConjugate(v, dv, d2v, (-math.inf, math.inf), mu=0.0, hess0=1.0)
    # (at |s| = 1 exactly, float64 v' rounds to +-1 near |x| = 1e8, a float root of the equation)
    s = np.array([-2.0, -1.0 - 1e-9, -0.5, 0.0, 0.999, 1.0 + 1e-9, 3.0])
    x = N.grad_conj(s)
    np.testing.assert_array_equal(x[[0, 1]], -np.inf)
    np.testing.assert_array_equal(x[[5, 6]], np.inf)
    inner = s[[2, 3, 4]]
    np.testing.assert_allclose(x[[2, 3, 4]], inner / np.sqrt(1 - inner ** 2), rtol=1e-10)
    c = N.conj(s)
    assert np.all(np.isinf(c[[0, 1, 5, 6]])) and np.all(c[[0, 1, 5, 6]] > 0)


def test_zero_as_left_end_and_kink_at_zero():
    # v = x^2/2 + x on [0, inf): v'(0+) = 1, so every s <= 1 gives x = 0
    N = NumericConjugate(lambda x: x * x / 2 + x, lambda x: x + 1.0, lambda x: np.ones_like(x), (0, math.inf),
                         mu=1.0, hess0=1.0)
    np.testing.assert_array_equal(N.grad_conj(np.array([-5.0, 0.0, 1.0, 3.5])), [0.0, 0.0, 0.0, 2.5])
    # v = x^2/2 + |x| on R, without telling the solver about the kink: soft thresholding
    K = NumericConjugate(lambda x: x * x / 2 + np.abs(x), lambda x: x + np.sign(x), lambda x: np.ones_like(x),
                         (-math.inf, math.inf), mu=1.0, hess0=1.0)
    s = np.linspace(-3, 3, 601)
    x = K.grad_conj(s)
    ref = np.sign(s) * np.maximum(np.abs(s) - 1, 0)
    # near |s| = 1 the root sits next to the kink: v'(x) = x - 1 is rounded to eps, so x is good to ~eps
    assert np.max(np.abs(x - ref)) <= 4 * EPS


def test_newton_does_not_crawl_down_an_exponential():
    # v = exp(x) - 1 - x on [-1, inf): from the right Newton steps by ~1 per iteration; the rtsafe test
    # hands over to bisection (this once stopped at x = 116 for s = 316 after 200 iterations)
    N = NumericConjugate(lambda x: np.expm1(x) - x, lambda x: np.expm1(x), np.exp, (-1, math.inf),
                         mu=math.exp(-1), hess0=1.0)
    s = np.array([316.2277660168379, 1e3, 1e300, 10.0, 1e-9])
    np.testing.assert_allclose(N.grad_conj(s), np.log1p(s), rtol=1e-13)
    assert N.last_iterations < 80


def test_shapes_dtypes_and_scalars():
    V, N = numeric_of("algebraic")
    s = np.random.default_rng(3).standard_normal((7, 5))
    x = N.grad_conj(s)
    assert x.shape == (7, 5) and x.dtype == np.float64
    np.testing.assert_allclose(x, V.grad_conj(s), rtol=1e-13)
    x32 = N.grad_conj(s.astype(np.float32))
    assert x32.dtype == np.float32
    assert N.grad_conj(0.5).shape == ()
    assert float(N.grad_conj(0.5)) == pytest.approx(0.5 / math.sqrt(1.25), rel=1e-15)
    assert N.grad_conj(np.array([], dtype=np.float64)).shape == (0,)


def test_torch_twin_matches_numpy_on_cpu():
    torch = pytest.importorskip("torch")
    V = gr.regularizer("entropic")
    tv = lambda x: 0.5 * (torch.special.xlogy(1 + x, 1 + x) + torch.special.xlogy(1 - x, 1 - x))
    N = NumericConjugate(V.v, V.dv, V.d2v, V.domain, mu=1.0, hess0=1.0,
                         torch_fns=lambda: (tv, lambda x: x.atanh(), lambda x: 1 / (1 - x * x)))
    s = torch.from_numpy(sample_s(4, n=2000))
    xt = N.torch_grad_conj(s)
    xn = N.grad_conj(s.numpy())
    assert xt.dtype == torch.float64
    # same iteration; the atanh of torch and numpy may differ by an ulp, which Newton passes on
    assert np.max(np.abs(xt.numpy() - xn)) <= 4 * EPS
    s32 = s[:2000].float().reshape(1000, 2)
    x32 = N.torch_grad_conj(s32)
    assert x32.dtype == torch.float32 and x32.shape == (1000, 2)
    ref = np.tanh(s32.double().numpy())
    # float32: the iteration stops at eps32^(3/4) relative; atanh in float32 carries a few eps32
    assert np.max(np.abs(x32.double().numpy() - ref)) <= 64 * np.finfo(np.float32).eps


def test_torch_twin_needs_torch_functions():
    pytest.importorskip("torch")
    import torch

    V, N = numeric_of("entropic")
    with pytest.raises(NotImplementedError, match="torch"):
        N.torch_grad_conj(torch.zeros(3))


def test_negative_mu_is_refused():
    with pytest.raises(InvalidRegularizerError, match="mu = -1"):
        NumericConjugate(np.square, np.abs, np.abs, (-1, 1), mu=-1.0)


# -- properties --------------------------------------------------------------------------------------
def _bracket_ok(dv, x, s, lo, hi, delta=1e-10):
    """x solves v'(x) = s up to a relative step delta: v'(x - d) <= s <= v'(x + d) (with the rounding of
    v' itself, 4 eps |s|), the ends counting as +-inf beyond the domain."""
    d = delta * np.maximum(np.abs(x), 1e-300)
    left, right = x - d, x + d
    with np.errstate(all="ignore"):
        gl = np.where(left <= lo, -np.inf, dv(np.maximum(left, lo)))
        gr_ = np.where(right >= hi, np.inf, dv(np.minimum(right, hi)))
    slack = 4 * EPS * np.abs(s) + 1e-300
    return (gl <= s + slack) & (s - slack <= gr_)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(STRONG_SEPARABLE),
       s=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_property_v_prime_of_grad_conj_is_s_inside(name, s):
    V, N = numeric_of(name)
    s = np.array(s)
    x = N.grad_conj(s)
    lo, hi = V.domain.lo, V.domain.hi
    assert np.all((x >= lo) & (x <= hi))
    inside = (x > lo) & (x < hi)
    assert np.all(_bracket_ok(V.dv, x[inside], s[inside], lo, hi))
    # grad v* is monotone
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(x[order]) >= 0)


@settings(max_examples=40, deadline=None)
@given(a=st.floats(0.05, 20), b=st.floats(0.0, 5.0), c=st.floats(0.0, 3.0),
       s=st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=20),
       y=st.lists(st.floats(-0.999, 0.999), min_size=1, max_size=10))
def test_property_conj_is_the_sup(a, b, c, s, y):
    # v = a x^2/2 + b x^4/4 + c (x atan x - log(1 + x^2)/2) on [-1, 1]: v'' = a + 3 b x^2 + c/(1 + x^2) > a
    v = lambda x: a * x * x / 2 + b * x ** 4 / 4 + c * (x * np.arctan(x) - np.log1p(x * x) / 2)
    dv = lambda x: a * x + b * x ** 3 + c * np.arctan(x)
    d2v = lambda x: a + 3 * b * x * x + c / (1 + x * x)
    N = NumericConjugate(v, dv, d2v, (-1, 1), mu=a, hess0=a + c)
    s, y = np.array(s), np.array(y)
    cs = N.conj(s)
    # v*(s) >= s y - v(y) for every y in the domain (rounding: a few eps of the terms)
    lower = np.max(s[:, None] * y[None, :] - v(y)[None, :], axis=1)
    assert np.all(cs >= lower - 8 * EPS * (1 + np.abs(s) + np.abs(cs)))
    x = N.grad_conj(s)
    inside = (x > -1) & (x < 1)
    assert np.all(_bracket_ok(dv, x[inside], s[inside], -1.0, 1.0))


# -- the solver's pieces --------------------------------------------------------------------------------
def test_bitwise_midpoint_bounds_bisection():
    ops = numpy_ops()
    a, b = np.array([0.0, -1.0, 1e-300, 0.5, -3.0]), np.array([1e300, 2.0, 1.0, 0.5000000000000001, -2.0])
    m = ops.ordered_mid(a, b)
    assert np.all((m >= a) & (m <= b))
    # adjacent floats collapse onto the lower end
    assert m[3] == a[3]
    # any bracket of finite floats collapses in at most 64 halvings of its position count
    lo, hi = np.array([0.0]), np.array([1e300])
    for k in range(70):
        mid = ops.ordered_mid(lo, hi)
        if mid[0] == lo[0] or mid[0] == hi[0]:
            break
        lo = np.where(mid < 7.25, mid, lo)
        hi = np.where(mid < 7.25, hi, mid)
    assert k <= 64
    assert lo[0] <= 7.25 <= hi[0] and np.nextafter(lo[0], np.inf) == hi[0]


def test_domain_grid_covers_the_domain():
    g = domain_grid(-1.0, 1.0)
    assert np.all(np.diff(g) > 0) and g[0] > -1 and g[-1] < 1 and 0.0 in g
    assert 1 - g[-1] <= 1e-12 and g[0] + 1 <= 1e-12
    g = domain_grid(0.0, math.inf)
    assert g[0] > 0 and g[0] <= 1e-12 and g[-1] >= 1e8
    g = domain_grid(-math.inf, 0.0)
    assert g[-1] < 0 and g[0] <= -1e8


def test_scan_finds_negative_curvature_and_concave_kinks():
    # v = x^4/4 - x^2/2: v'' = 3x^2 - 1, most negative at 0 (-1)
    scan = scan_curvature(lambda x: 3 * x * x - 1, lambda x: x ** 3 - x, -2.0, 2.0)
    x0, val = scan.negative
    assert abs(x0) <= 1e-6 and val == pytest.approx(-1.0, abs=1e-12)
    # v = 2x^2 - |x|/10: v'' = 4 > 0 pointwise, but v' drops by 0.2 at 0
    scan = scan_curvature(lambda x: np.full_like(x, 4.0), lambda x: 4 * x - np.sign(x) / 10, -1.0, 1.0)
    assert scan.negative is None and scan.decrease is not None
    x1, x2, g1, g2 = scan.decrease
    assert x1 < 0 <= x2 or x1 <= 0 < x2
    assert g1 > g2
    # v = cosh x - 1: inf v'' = 1 at 0, found by the refinement
    scan = scan_curvature(np.cosh, np.sinh, -3.0, 3.0)
    assert scan.negative is None and scan.decrease is None
    assert scan.inf_d2v == pytest.approx(1.0, abs=1e-14) and abs(scan.argmin) <= 1e-6


@pytest.mark.parametrize("name", STRONG_SEPARABLE)
def test_tiny_arguments_follow_the_linear_limit(name):
    """grad v*(s) = (s - v'(0)) / v''(0) + O(s^2): for |s| below the solver's resolution (4 eps) the
    root is that first-order term to within its own rounding (the quadratic term is < 4 eps relative);
    the solver used to stop anywhere within 4 eps absolutely (2e-30 for s = 1e-30)."""
    V, N = numeric_of(name)
    s = np.concatenate([np.logspace(-300, -16, 57), -np.logspace(-300, -16, 57), [5e-324, -5e-324]])
    np.testing.assert_allclose(N.grad_conj(s), s / V.hess0, rtol=8 * EPS, atol=0)
    torch = pytest.importorskip("torch")
    if name != "entropic":
        return
    tv = lambda x: 0.5 * (torch.special.xlogy(1 + x, 1 + x) + torch.special.xlogy(1 - x, 1 - x))
    N = NumericConjugate(V.v, V.dv, V.d2v, V.domain, mu=1.0, hess0=1.0,
                         torch_fns=lambda: (tv, lambda x: x.atanh(), lambda x: 1 / (1 - x * x)))
    for dtype in (torch.float64, torch.float32):
        t = torch.tensor(s).to(dtype)
        want = t.double().numpy()
        np.testing.assert_allclose(N.torch_grad_conj(t).double().numpy(), want, rtol=8 * torch.finfo(dtype).eps, atol=0)
