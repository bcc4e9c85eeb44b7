"""The built-in regularizers: closed forms against independent computations."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

import geomrelax as gr
from geomrelax.errors import DomainError, InvalidRegularizerError
from geomrelax.regularizers import Interval, huber, log_cosh

SEPARABLE = ["euclidean", "box", "box_quadratic", "entropic", "algebraic"]
STRONG = ["euclidean", "box_quadratic", "entropic", "algebraic", "ball_quadratic"]


def brute_conj_scalar(V, s):
    """v*(s) = sup_{x in [lo, hi]} s x - v(x) by bounded scalar maximisation (independent of conj_fn)."""
    lo, hi = V.domain.lo, V.domain.hi
    lo, hi = (max(lo, -50.0), min(hi, 50.0))
    f = lambda x: -(s * x - float(V.elementwise(np.array(x))))
    res = optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    # the bounded method never evaluates the endpoints exactly: compare with them
    return max(-res.fun, s * lo - float(V.elementwise(np.array(lo))), s * hi - float(V.elementwise(np.array(hi))))


@pytest.mark.parametrize("name", SEPARABLE)
@pytest.mark.parametrize("s", [-7.5, -1.3, -0.2, 0.0, 0.4, 1.0, 2.5, 9.0])
def test_conj_matches_brute_force_sup(name, s):
    V = gr.regularizer(name)
    # xatol 1e-12 on the maximiser gives an objective error of order v''(x) * 1e-24 plus float rounding ~1e-15 * |s x|
    assert V.conj_elementwise(np.array(s)) == pytest.approx(brute_conj_scalar(V, s), abs=1e-8)


@pytest.mark.parametrize("name", SEPARABLE)
def test_grad_conj_is_derivative_of_conj(name):
    V = gr.regularizer(name)
    s = np.linspace(-6, 6, 241)
    s = s[np.abs(np.abs(s) - 1.0) > 1e-3]  # huber's second derivative jumps at |s| = 1
    s = s[np.abs(s) > 1e-3]  # |s| (box) has a kink at 0
    h = 1e-6
    fd = (V.conj_elementwise(s + h) - V.conj_elementwise(s - h)) / (2 * h)
    # central differences: truncation h^2 |v*'''| / 6 (|v*'''| <= 1 here) plus rounding ~ 1e-16 * |v*| / h
    np.testing.assert_allclose(V.grad_conj(s), fd, atol=1e-8)


@pytest.mark.parametrize("name", ["euclidean", "box_quadratic", "entropic", "algebraic"])
def test_grad_conj_inverts_grad_inside(name):
    V = gr.regularizer(name)
    x = np.linspace(-0.95, 0.95, 101)
    np.testing.assert_allclose(V.grad_conj(V.grad(x)), x, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", SEPARABLE)
def test_fenchel_young_equality_at_grad_conj(name):
    V = gr.regularizer(name)
    rng = np.random.default_rng(1)
    y = rng.standard_normal((50, 7)) * 3
    x = V.grad_conj(y)
    gap = V.value(x) + V.conj(y) - np.sum(x * y, axis=-1)
    assert np.all(gap >= -1e-12)
    np.testing.assert_allclose(gap, 0.0, atol=1e-12 * (1 + np.abs(y).sum(-1)).max())


@pytest.mark.parametrize("name", SEPARABLE)
def test_value_zero_at_zero_and_inf_outside(name):
    V = gr.regularizer(name)
    assert V.value(np.zeros(4)) == 0.0
    if V.bounded:
        assert V.value(np.array([0.0, 1.5])) == np.inf
        assert not V.contains(np.array([0.0, 1.5]))


def test_stable_scalar_pieces():
    # ln cosh for huge arguments and tiny ones: no overflow, no cancellation
    assert log_cosh(np.array(1000.0)) == pytest.approx(1000.0 - math.log(2.0), rel=1e-15)
    assert log_cosh(np.array(1e-8)) == pytest.approx(0.5e-16, rel=1e-6)
    V = gr.regularizer("algebraic")
    assert V.conj_elementwise(np.array(1e-9)) == pytest.approx(0.5e-18, rel=1e-9)
    assert V.elementwise(np.array(1e-9)) == pytest.approx(0.5e-18, rel=1e-9)
    assert huber(np.array([0.5, -2.0])).tolist() == [0.125, 1.5]


def test_ball_quadratic():
    V = gr.regularizer("ball_quadratic")
    rng = np.random.default_rng(2)
    y = rng.standard_normal((20, 5)) * rng.uniform(0.01, 4, size=(20, 1))
    x = V.grad_conj(y)
    n = np.linalg.norm(y, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), np.minimum(n, 1.0), rtol=1e-14)
    np.testing.assert_allclose(V.conj(y), np.where(n <= 1, n**2 / 2, n - 0.5), rtol=1e-14)
    np.testing.assert_allclose(V.lmo(y), -y / n[:, None], rtol=1e-14)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(STRONG), st.integers(0, 2**31 - 1))
def test_strong_convexity_of_v_gives_smooth_conjugate(name, seed):
    """V mu-strongly convex (mu = 1 in l2) => V* 1-smooth: V*(y2) <= V*(y1) + <grad V*(y1), dy> + |dy|^2/2."""
    V = gr.regularizer(name)
    rng = np.random.default_rng(seed)
    y1, y2 = rng.standard_normal((2, 6)) * rng.uniform(0.1, 10)
    dy = y2 - y1
    upper = V.conj(y1) + V.grad_conj(y1) @ dy + 0.5 / V.mu * dy @ dy
    assert V.conj(y2) <= upper + 1e-12 * (1 + abs(upper))


def test_registry_and_domain_errors():
    assert set(gr.BUILTIN_NAMES) == set(SEPARABLE) | {"ball_quadratic"}
    with pytest.raises(InvalidRegularizerError, match="unknown regularizer 'nope'"):
        gr.regularizer("nope")
    with pytest.raises(DomainError, match="does not contain 0"):
        Interval(0.5, 2.0)
    with pytest.raises(DomainError, match="empty"):
        Interval(1.0, -1.0)
    with pytest.raises(DomainError, match="NaN"):
        Interval(float("nan"), 1.0)


def test_box_is_not_strongly_convex():
    V = gr.regularizer("box")
    assert not V.strongly_convex
    with pytest.raises(gr.NotStronglyConvexError, match="hard"):
        V.require_strongly_convex()


def test_torch_closed_forms_match_numpy():
    torch = pytest.importorskip("torch")
    y = np.linspace(-5, 5, 101).reshape(1, -1)
    for name in gr.BUILTIN_NAMES:
        V = gr.regularizer(name)
        got = V.torch_grad_conj(torch.from_numpy(y)).numpy()
        np.testing.assert_allclose(got, V.grad_conj(y), rtol=1e-15, atol=1e-15)


def test_torch_algebraic_no_overflow_in_float32():
    torch = pytest.importorskip("torch")
    s = torch.tensor([-3e30, -2e19, -1.5, 0.0, 0.7, 2e19, 3e38], dtype=torch.float32)
    got = gr.regularizer("algebraic").torch_grad_conj(s)
    want = s.double() / torch.sqrt(1 + s.double() ** 2)
    # float32 rounding of a value in [-1, 1]: a few ulps
    torch.testing.assert_close(got, want.float(), rtol=4e-7, atol=4e-7)


def test_conjugates_do_not_overflow_for_huge_arguments():
    s = np.array([-1e300, -3e154, 3e154, 1e300])
    V = gr.regularizer("algebraic")
    np.testing.assert_allclose(V.conj_elementwise(s), np.abs(s) - 1, rtol=1e-15)
    np.testing.assert_allclose(huber(s), np.abs(s) - 0.5, rtol=1e-15)
    np.testing.assert_allclose(log_cosh(s), np.abs(s) - math.log(2.0), rtol=1e-15)
