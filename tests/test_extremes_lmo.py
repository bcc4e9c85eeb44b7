"""The relaxed LMO of every built-in (and its spectral lift) over the whole float range.

Property: for |m_i| from 1e-300 to 1e300 and tau from 1e-300 to 1e300, in float64 and float32,
d = relaxed_lmo(V, m, tau) is finite, lies in D, and obeys both limits with the rates of the maps
(s = tau |m_i| for a separable V, s = tau ||m||_2 for the ball, s = tau sigma_i for a spectral lift):

    towards the hard LMO   |d - lmo(m)| <= hard(s):   box 0, box_quadratic and ball max(0, 1 - s),
                           entropic 1 - tanh s = 2 / (exp(2s) + 1) <= 2 exp(-2s),
                           algebraic 1 - s / sqrt(1 + s^2) <= 1 / (2 s^2);
    towards SGD            |d + tau m / v''(0)| <= small(s):   euclidean 0, box_quadratic and ball
                           max(0, s - 1), entropic s - tanh s <= s^3 / 3, algebraic s - s/sqrt(1+s^2) <= s^3 / 2.

Both bounds hold at every s (not only asymptotically), so both are checked on every example, plus the
rounding: a few eps of the float type relative to the quantities compared (4 eps per entry; r^2 + 6 r
eps for a spectral lift: rebuilding U diag(w) W^T from r terms and the SVD's orthogonality loss), and
float32's subnormal spacing (1.4e-45) absolutely. The euclidean map has no hard LMO: where tau m
overflows its answer is beyond the float range and the call must raise NonFiniteError.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import geomrelax as gr
from geomrelax.backend import numpy_ops
from geomrelax.errors import NonFiniteError

NAMES = ["euclidean", "box", "box_quadratic", "entropic", "algebraic", "ball_quadratic"]
DTYPES = [np.float64, np.float32]
norm2 = numpy_ops().vector_norm  # ||x||_2 without overflow of the squares (tested in test_backend)


def hard_rate(name, s):
    s = np.asarray(s, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore"):
        if name == "box":
            return np.zeros_like(s)
        if name in ("box_quadratic", "ball_quadratic"):
            return np.maximum(0.0, 1.0 - s)
        if name == "entropic":
            return np.minimum(2.0, 2.0 * np.exp(-2.0 * s))
        if name == "algebraic":
            return np.minimum(1.0, 1.0 / (2.0 * s * s))
    return np.full_like(s, np.inf)  # euclidean: no hard LMO


def small_rate(name, s):
    s = np.asarray(s, dtype=np.float64)
    with np.errstate(over="ignore"):
        if name == "euclidean":
            return np.zeros_like(s)
        if name in ("box_quadratic", "ball_quadratic"):
            return np.maximum(0.0, s - 1.0)
        if name == "entropic":
            return s ** 3 / 3.0
        if name == "algebraic":
            return s ** 3 / 2.0
    return np.full_like(s, np.inf)  # box: no curvature at 0


@st.composite
def vectors(draw, dtype, n_max=5):
    n = draw(st.integers(1, n_max))
    lo, hi = (-300.0, 300.0) if dtype == np.float64 else (-37.0, 38.0)
    exps = draw(st.lists(st.floats(lo, hi), min_size=n, max_size=n))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0, 0.0]), min_size=n, max_size=n))
    return (np.array(signs) * 10.0 ** np.array(exps)).astype(dtype)


def effective(tau, m):
    """(tau as m's float arithmetic sees it, s_i = tau |m_i| in float64 with s = 0 where m = 0): float32
    arithmetic rounds tau first (to inf beyond 3.4e38, to 0 below 1e-45)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        tau_eff = float(np.float32(tau)) if m.dtype == np.float32 else tau
        m64 = m.astype(np.float64)
        return tau_eff, np.where(m64 == 0, 0.0, tau_eff * np.abs(m64))


def check_vector(name, m, tau):
    dtype = m.dtype
    eps = float(np.finfo(dtype).eps)
    tiny = float(np.finfo(dtype).smallest_subnormal)
    V = gr.regularizer(name)
    m64 = m.astype(np.float64)
    tau_eff, s_entries = effective(tau, m)
    if name == "euclidean" and np.any(s_entries > np.finfo(dtype).max):
        with pytest.raises(NonFiniteError, match="beyond the float range"):
            gr.relaxed_lmo(V, m, tau)
        return
    d = gr.relaxed_lmo(V, m, tau)
    d64 = np.asarray(d, dtype=np.float64)
    assert np.all(np.isfinite(d64)), (name, m, tau, d)
    assert V.contains(d), (name, m, tau, d)  # in its own float type: up to a few of its ulps
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        sgd = np.where(m64 == 0, 0.0, -tau_eff * m64)  # -tau m / v''(0) (v''(0) = 1 for every built-in)
    if name == "ball_quadratic":
        n = norm2(m64)
        s = tau_eff * n if n > 0 else 0.0
        if n > 0:
            assert norm2(d64 + m64 / n) <= hard_rate(name, s) + 4 * eps, (m, tau, d)
        if math.isfinite(s):
            assert norm2(d64 - sgd) <= small_rate(name, s) + 4 * eps * s + 4 * tiny, (m, tau, d)
        return
    lmo = np.where(m64 < 0, 1.0, np.where(m64 > 0, -1.0, 0.0))
    if V.bounded:
        assert np.all(np.abs(d64 - lmo) <= hard_rate(name, s_entries) + 4 * eps), (name, m, tau, d)
    if V.hess0 is not None:
        assert V.hess0 == 1.0
        fin = np.isfinite(s_entries)
        err = np.abs(d64 - sgd)[fin]
        assert np.all(err <= small_rate(name, s_entries[fin]) + 4 * eps * s_entries[fin] + 4 * tiny), (name, m, tau, d)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(NAMES), st.sampled_from(DTYPES), st.data(), st.floats(-300.0, 300.0))
def test_relaxed_lmo_over_the_float_range(name, dtype, data, log_tau):
    m = data.draw(vectors(dtype))
    check_vector(name, m, 10.0 ** log_tau)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_relaxed_lmo_at_the_corners(name, dtype):
    """The corners the property test may not draw: the largest and smallest m and tau together."""
    big, small = (1e300, 1e-300) if dtype == np.float64 else (1e38, 1e-38)
    for m in ([big, -big], [small, -small], [big, small, 0.0], [0.0, 0.0]):
        for tau in (1e300, 1e-300, 1.0, 1e160, 1e-160):
            check_vector(name, np.array(m, dtype=dtype), tau)


def test_brief_examples():
    # each of these returned zeros, -0 or NaN before
    d = gr.relaxed_lmo("ball_quadratic", [-3, -.2, 0, .2, 3], 1e160)
    m = np.array([-3, -.2, 0, .2, 3])
    np.testing.assert_allclose(d, -m / np.linalg.norm(m), rtol=4e-16, atol=0)
    np.testing.assert_array_equal(gr.relaxed_lmo("ball_quadratic", [1e155, 0], 1), [-1.0, 0.0])
    np.testing.assert_array_equal(gr.relaxed_lmo("algebraic", [1e200, -1e200], 1e200), [-1.0, 1.0])
    # V* at huge arguments: huber(||y||) = ||y|| - 1/2 with ||y|| = 1e200 sqrt(2)
    assert gr.regularizer("ball_quadratic").conj(np.array([1e200, 1e200])) == pytest.approx(math.sqrt(2) * 1e200, rel=4e-16)
    assert gr.regularizer("algebraic").conj(np.array([np.inf])) == np.inf
    np.testing.assert_array_equal(gr.regularizer("algebraic").grad_conj(np.array([np.inf, -np.inf])), [1.0, -1.0])


@pytest.mark.parametrize("name", NAMES)
def test_relaxed_lmo_value_where_tau_m_overflows(name):
    """min_d <m, d> + V(d)/tau = -support(-m) + O(1/tau): with tau m overflowing, the O(1/tau) is below
    the rounding of the support term (V(d) <= ln 2 per entry for the built-ins)."""
    V = gr.regularizer(name)
    m = np.array([1e200, -3e199, 0.0, 1e-300])
    if name == "euclidean":
        with pytest.raises(NonFiniteError):
            gr.relaxed_lmo_value(V, m, 1e200)
        return
    val = gr.relaxed_lmo_value(V, m, 1e200)
    assert np.isfinite(val) and val == pytest.approx(-V.support(-m), rel=4e-16)


VMAX = {"box": 0.0, "box_quadratic": 0.5, "entropic": math.log(2.0), "algebraic": 1.0}  # max of v on [-1, 1]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), st.data(), st.floats(-300.0, 300.0))
def test_relaxed_lmo_value_over_the_float_range(name, data, log_tau):
    """val = min_d <m, d> + V(d)/tau lies between -support(-m) (V >= 0) and min(0, -support(-m) + max V / tau)
    (d = 0 and d = the hard LMO), so V* is finite and right at huge and tiny arguments; the euclidean
    value is -tau ||m||^2 / 2 (an error where V*(-tau m) = tau^2 ||m||^2 / 2 is beyond the float range)."""
    m = data.draw(vectors(np.float64))
    tau = 10.0 ** log_tau
    V = gr.regularizer(name)
    eps = float(np.finfo(np.float64).eps)
    sub = 5e-324 / tau  # V*(-tau m) is rounded at the subnormal spacing at least, then divided by tau
    if name == "euclidean":
        n = norm2(m)
        with np.errstate(over="ignore"):
            tn = np.float64(tau) * np.float64(n)
            want = -(0.5 * tn) * n
            # V*(-tau m) = (tau ||m||)^2 / 2 or the value itself beyond the float range: an error
            big = not (np.isfinite(0.5 * tn * tn) and np.isfinite(want))
        if big:
            with pytest.raises(NonFiniteError, match="beyond the float range"):
                gr.relaxed_lmo_value(V, m, tau)
            return
        val = gr.relaxed_lmo_value(V, m, tau)
        assert val == pytest.approx(want, rel=4 * m.size * eps, abs=4 * sub)
        return
    val = float(gr.relaxed_lmo_value(V, m, tau))
    sup = float(V.support(-m))
    vmax = 0.5 if name == "ball_quadratic" else VMAX[name] * m.size
    assert math.isfinite(val)
    # rounding: V* and the support are sums of m.size terms, each rounded at eps relative
    rnd = 4 * m.size * eps * (sup + vmax / tau) + 4 * sub
    assert -sup - rnd <= val <= min(0.0, -sup + vmax / tau) + rnd, (name, m, tau, val, sup)


# -- spectral lifts ------------------------------------------------------------------------------------
SPECTRAL = ["euclidean", "box", "box_quadratic", "entropic", "algebraic", "ball_quadratic"]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(SPECTRAL), st.sampled_from(DTYPES), st.integers(0, 2**31 - 1), st.floats(-300.0, 300.0),
       st.sampled_from([(3, 2), (2, 3), (4, 4)]))
def test_spectral_relaxed_lmo_over_the_float_range(name, dtype, seed, log_tau, shape):
    rng = np.random.default_rng(seed)
    lo, hi = (-300, 300) if dtype == np.float64 else (-30, 30)
    M = (rng.standard_normal(shape) * 10.0 ** rng.uniform(lo, hi, shape)).astype(dtype)
    tau = 10.0 ** log_tau
    S = gr.spectral(name)
    eps = float(np.finfo(dtype).eps)
    r = min(shape)
    sig = np.linalg.svd(M.astype(np.float64), compute_uv=False)
    tau_eff, ts = effective(tau, sig.astype(dtype))
    if name == "euclidean" and (np.any(ts > np.finfo(dtype).max)):
        with pytest.raises(NonFiniteError):
            gr.relaxed_lmo(S, M, tau)
        return
    D = np.asarray(gr.relaxed_lmo(S, M, tau), dtype=np.float64)
    assert np.all(np.isfinite(D))
    assert S.contains(D.astype(dtype))
    rnd = (r * r + 6 * r) * eps
    if S.bounded:
        H = np.asarray(gr.relaxed_lmo(S, M, math.inf), dtype=np.float64)
        s_ball = norm2(ts) if name == "ball_quadratic" else ts
        rate = np.max(hard_rate(name, s_ball)) if name != "box" else 0.0
        # the ball's hard LMO is -M / ||M||_F: compare in the Frobenius norm, the others in the spectral norm
        diff = np.linalg.norm(D - H) if name == "ball_quadratic" else np.linalg.norm(D - H, 2)
        assert diff <= rate + rnd * 4
    if S.hess0 is not None and np.all(np.isfinite(ts)):
        s_ball = norm2(ts) if name == "ball_quadratic" else ts
        with np.errstate(under="ignore"):
            diff = np.linalg.norm(D + tau_eff * M.astype(np.float64), 2)
        assert diff <= np.max(small_rate(name, s_ball)) + rnd * ts.max() + 4 * float(np.finfo(dtype).smallest_subnormal) * r
