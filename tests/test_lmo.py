"""The regularized LMO d_tau(m) = grad V*(-tau m): limits, value identity, refusals."""

import math

import numpy as np
import pytest

import geomrelax as gr
from geomrelax.errors import InvalidTemperatureError, NonFiniteError


def test_entropic_is_tanh_and_limits():
    m = np.array([-2.0, -0.3, 0.5, 1.7])
    for tau in [1e-3, 1.0, 30.0]:
        np.testing.assert_allclose(gr.relaxed_lmo("entropic", m, tau), -np.tanh(tau * m), rtol=1e-15)
    # tau -> inf: |tanh(tau m) - sign(m)| = 2 / (exp(2 tau |m|) + 1) <= 2 exp(-2 tau |m|)
    tau = 20.0
    err = np.abs(gr.relaxed_lmo("entropic", m, tau) - gr.relaxed_lmo("entropic", m, math.inf))
    # plus one ulp of 1 for the rounding of tanh near 1
    assert np.all(err <= 2 * np.exp(-2 * tau * np.abs(m)) + np.finfo(float).eps)
    # tau -> 0: d/tau -> -m / v''(0) with error O(tau^2 |m|^3) (tanh x = x - x^3/3 + ...)
    tau = 1e-4
    np.testing.assert_allclose(gr.relaxed_lmo("entropic", m, tau) / tau, -m, atol=tau**2 * 8 / 3)


@pytest.mark.parametrize("name", ["box", "box_quadratic", "entropic", "algebraic", "ball_quadratic"])
def test_value_identity_and_bounded_updates(name):
    V = gr.regularizer(name)
    rng = np.random.default_rng(5)
    m = rng.standard_normal((30, 8))
    for tau in [0.1, 3.0, 100.0]:
        d = gr.relaxed_lmo(V, m, tau)
        assert np.all(V.contains(d, tol=1e-15))  # ||d_tau(m)||_D <= 1
        obj = np.sum(m * d, axis=-1) + V.value(d) / tau
        np.testing.assert_allclose(obj, gr.relaxed_lmo_value(V, m, tau), rtol=1e-12, atol=1e-12)


def test_support_is_limit_of_scaled_conjugate():
    m = np.array([0.3, -1.2, 2.0])
    for name, dual_norm in [("entropic", np.abs(m).sum()), ("algebraic", np.abs(m).sum()),
                            ("ball_quadratic", np.linalg.norm(m))]:
        V = gr.regularizer(name)
        assert V.support(m) == pytest.approx(dual_norm, rel=1e-15)
        # (1/tau) V*(tau m) = ||m||_* - O(1/tau): within d/tau for these (ln 2 per coordinate, 1 for algebraic)
        tau = 1e4
        assert abs(V.conj(tau * m) / tau - dual_norm) <= 3 / tau


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), -math.inf, "x", None])
def test_bad_tau_refused(bad):
    with pytest.raises(InvalidTemperatureError, match="tau"):
        gr.relaxed_lmo("entropic", np.ones(3), bad)


def test_nonfinite_m_refused_with_location():
    with pytest.raises(NonFiniteError, match=r"index \(1,\)"):
        gr.relaxed_lmo("entropic", np.array([1.0, np.nan]), 1.0)


def test_unbounded_domain_has_no_hard_lmo():
    with pytest.raises(gr.DomainError, match="unbounded"):
        gr.relaxed_lmo("euclidean", np.ones(2), math.inf)
    np.testing.assert_allclose(gr.relaxed_lmo("euclidean", np.ones(2), 0.5), -0.5 * np.ones(2))


@pytest.mark.parametrize("bad", [3, None, "nope", np.ones(2)])
def test_regularizer_resolved_by_the_one_resolver(bad):
    # both entry points go through as_regularizer: a name, a Regularizer, nothing else
    for fn in (gr.relaxed_lmo, gr.relaxed_lmo_value):
        with pytest.raises(gr.errors.InvalidRegularizerError, match="regularizer"):
            fn(bad, np.ones(2), 1.0)
    V = gr.regularizer("entropic")
    np.testing.assert_array_equal(gr.relaxed_lmo(V, [0.5], 2.0), gr.relaxed_lmo("entropic", [0.5], 2.0))
