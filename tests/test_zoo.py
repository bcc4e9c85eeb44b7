"""geomrelax.zoo: norm balls as regularizers, Schatten powers (Freon), Freon's exponents, Kaon."""

import math
import warnings

import numpy as np
import pytest

import geomrelax
from geomrelax.errors import InvalidHyperparameterError
from geomrelax.norms import dual_norm, lmo, norm_value
from geomrelax.zoo import ConvexityWarning, freon, kaon, norm_ball, schatten_power


def test_norm_ball_is_the_indicator_with_the_dual_norm_as_conjugate():
    rng = np.random.default_rng(0)
    V = norm_ball("kyfan:2")
    assert V.event_ndim == 2 and V.mu == 0 and V.bounded and not V.strongly_convex
    M = rng.standard_normal((3, 5, 4))
    np.testing.assert_allclose(V.conj(M), dual_norm("kyfan:2", M))
    np.testing.assert_allclose(V.support(M), dual_norm("kyfan:2", M))
    np.testing.assert_allclose(V.grad_conj(M), lmo("kyfan:2", -M))
    # every tau gives the hard LMO (V = 0 on the ball)
    for tau in (1e-3, 1.0, math.inf):
        np.testing.assert_allclose(geomrelax.relaxed_lmo(V, M, tau), lmo("kyfan:2", M))
    X = V.sample_domain(rng, (20, 5, 4))
    assert np.all(V.contains(X)) and np.all(V.value(X) == 0.0)
    assert np.all(V.value(2 * X / norm_value("kyfan:2", X)[:, None, None]) == np.inf)
    assert norm_ball("l1").event_ndim == 1


def test_schatten_power_maps():
    rng = np.random.default_rng(1)
    G = rng.standard_normal((5, 3))
    u, s, vt = np.linalg.svd(G, full_matrices=False)
    for p in (1.25, 2.0, 3.0):
        V = schatten_power(p)
        q = p / (p - 1)
        # grad V*(Y) = U diag(sigma^(1/(p-1))) W^T and V*(Y) = sum sigma^q / q
        np.testing.assert_allclose(V.grad_conj(G), (u * s ** (1 / (p - 1))) @ vt, rtol=1e-12, atol=1e-13)
        assert float(V.conj(G)) == pytest.approx(np.sum(s ** q) / q, rel=1e-13)
        assert float(V.value(G)) == pytest.approx(np.sum(s ** p) / p, rel=1e-13)
    # p = 2: SGD, d_tau(m) = -tau m
    np.testing.assert_allclose(geomrelax.relaxed_lmo(schatten_power(2.0), G, 0.3), -0.3 * G, atol=1e-14)
    assert schatten_power(2.0).mu == 1.0 and schatten_power(3.0).mu == 0.0
    for bad in (1.0, 0.5, math.inf, "2", True):
        with pytest.raises(InvalidHyperparameterError):
            schatten_power(bad)


def test_freon_exponents():
    rng = np.random.default_rng(2)
    G = rng.standard_normal((2, 6, 4))
    np.testing.assert_allclose(freon(1.0)(G), G, atol=1e-13)
    np.testing.assert_allclose(freon(0.0)(G), geomrelax.polar(G), atol=1e-14)
    np.testing.assert_allclose(freon(0.0)(G), -lmo("spectral", G), atol=1e-14)
    # e in (0, 1]: grad V* of schatten_power(1 + 1/e)
    for e in (0.25, 0.5):
        np.testing.assert_allclose(freon(e)(G), schatten_power(1 + 1 / e).grad_conj(G), rtol=1e-12, atol=1e-13)
        assert freon(e).convex
    with pytest.warns(ConvexityWarning, match="convexity does not hold"):
        f = freon(-0.5)
    assert not f.convex and "quasi-norm" in f.note
    s = np.linalg.svd(G[0], compute_uv=False)
    np.testing.assert_allclose(np.linalg.svd(f(G[0]), compute_uv=False), np.sort(s ** -0.5)[::-1], rtol=1e-12)
    # a rank-deficient input: the zero directions get 0, not 0^-0.5 = inf
    R = np.outer(rng.standard_normal(6), rng.standard_normal(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvexityWarning)
        out = freon(-0.5)(R)
    assert np.all(np.isfinite(out)) and np.linalg.matrix_rank(out) == 1
    with pytest.raises(InvalidHyperparameterError):
        freon(math.nan)


def test_kaon_is_seeded_and_keeps_the_singular_vectors():
    rng = np.random.default_rng(3)
    G = rng.standard_normal((6, 4))
    a, b = kaon(7), kaon(7)
    first, again = a(G), b(G)
    np.testing.assert_array_equal(first, again)  # same seed, same draws
    assert not np.allclose(a(G), first)  # a fresh draw on each call
    assert not a.convex
    u, s, vt = np.linalg.svd(G, full_matrices=False)
    r = np.diag(u.T @ first @ vt.T)  # the draws, in the order of sigma(G)
    np.testing.assert_allclose(u @ np.diag(r) @ vt, first, atol=1e-13)
    assert np.all((r >= 0) & (r <= 1))
    with pytest.raises(InvalidHyperparameterError):
        kaon(1.5)
    with pytest.raises(InvalidHyperparameterError):
        kaon(1, low=2.0, high=1.0)


@pytest.mark.parametrize("name", ["spectral", "nuclear", "kyfan:2", "rms", "left_polar", "l1", "l2"])
def test_a_float32_lmo_is_float32_and_inside_its_ball(name):
    # the ball's rounding allowance is 16 N eps of the point's own dtype (NormBall._slack): a float32 LMO's
    # norm is 1 within a few eps32 (measured: at most 2 eps32 on 2000 random 5 x 4 matrices, left_polar
    # aside), far outside float64's 16 N eps64 = 7e-14
    rng = np.random.default_rng(4)
    V = norm_ball(name)
    m = rng.standard_normal((5, 4) if V.event_ndim == 2 else 7).astype(np.float32)
    d = V.lmo(m)
    assert d.dtype == np.float32
    assert V.value(d) == 0.0 and V.contains(d)
    # still a ball of radius 1 at float32 resolution: 1 + 1e-3 is outside
    assert V.value(d * np.float32(1 + 1e-3)) == np.inf


@pytest.mark.parametrize("make,match", [
    (lambda: schatten_power("3"), "p must be a real number, got '3'"),  # a string was float()-read before
    (lambda: schatten_power(1.0), r"p must lie in \(1, inf\), got 1.0"),
    (lambda: freon(float("nan")), "Freon exponent e must be a real number, got NaN"),
    (lambda: kaon(True), "seed must be an integer >= 0, got True"),
    (lambda: kaon(-1), "seed must be an integer >= 0, got -1"),  # numpy's own error before
    (lambda: kaon(1, 2.0, 1.0), r"high must lie in \(2, inf\), got 1.0"),
])
def test_zoo_arguments_are_checked_by_value(make, match):
    with pytest.raises(InvalidHyperparameterError, match=match):
        make()
