"""geomrelax.norms: the LMO of every named norm ball against closed forms, the dual-norm identity,
membership, optimality against random feasible points, ties, zeros, batching and bad input."""

import math

import numpy as np
import pytest

import geomrelax
from geomrelax.errors import GeomrelaxError, NonFiniteError
from geomrelax.norms import NORM_NAMES, InvalidNormError, dual_norm, lmo, norm_value, parse_norm

EPS = np.finfo(np.float64).eps
VECTOR = ["l1", "linf", "l2"]
MATRIX = ["frobenius", "spectral", "nuclear", "schatten:1", "schatten:1.5", "schatten:2", "schatten:3",
          "schatten:inf", "kyfan:1", "kyfan:2", "kyfan:3", "kyfan:7", "kyfan_dual:1", "kyfan_dual:2", "row_l2",
          "col_l2", "rms", "left_polar", "ffanion:2,0.5", "sfanion:2,0.3", "fmuon:0.7", "smuon:0.4", "kyfan_fro:2,0.5", "kyfan_spectral:2,0.5", "kyfan_fro:1,0.8", "kyfan_spectral:3,0.2",
          "ffanion:1,0", "ffanion:3,1"]
ALL = VECTOR + MATRIX


def _tol(G):
    # rounding of a sum of N products plus the SVD's backward error (N eps ||G||): 64 N eps covers both
    return 64 * G.shape[-1] * (G.shape[-2] if G.ndim > 1 else 1) * EPS


def _draw(name, rng, batch=()):
    shape = (7,) if name in VECTOR else (5, 4)
    return rng.standard_normal(batch + shape)


def _inner(G, D, matrix):
    return np.sum(G * D, axis=(-2, -1) if matrix else -1)


@pytest.mark.parametrize("name", ALL)
def test_identity_membership_and_optimality(name):
    rng = np.random.default_rng(0)
    matrix = parse_norm(name).matrix
    G = _draw(name, rng, (3,))
    D = lmo(name, G)
    dual = dual_norm(name, G)
    scale = np.sum(np.abs(G * D), axis=(-2, -1) if matrix else -1) + dual
    # the value of the LMO is -||G||_*
    np.testing.assert_array_less(np.abs(_inner(G, D, matrix) + dual), _tol(G[0]) * scale)
    # on the sphere (G != 0)
    np.testing.assert_allclose(norm_value(name, D), 1.0, atol=_tol(G[0]))
    # no random point of the ball does better (points scaled onto the sphere)
    E = rng.standard_normal((200,) + G.shape[1:])
    E = E / (norm_value(name, E)[(...,) + (None,) * (2 if matrix else 1)])
    for g, val in zip(G, _inner(G, D, matrix)):
        assert np.all(_inner(g, E, matrix) >= val - _tol(g) * np.abs(val))


@pytest.mark.parametrize("name", ALL)
def test_hoelder_random_pairs(name):
    # <G, D> <= ||G||_* ||D||: the dual formula is an upper bound, not only attained
    rng = np.random.default_rng(1)
    matrix = parse_norm(name).matrix
    G, D = _draw(name, rng, (100,)), _draw(name, rng, (100,))
    lhs = _inner(G, D, matrix)
    rhs = dual_norm(name, G) * norm_value(name, D)
    assert np.all(lhs <= rhs * (1 + _tol(G[0])))


@pytest.mark.parametrize("name", ALL)
def test_zero_gives_zero_and_batch_matches_single(name):
    rng = np.random.default_rng(2)
    G = _draw(name, rng, (2, 3))
    G[1, 2] = 0.0
    D = lmo(name, G)
    assert D.shape == G.shape
    assert np.all(D[1, 2] == 0.0)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(D[i, j], lmo(name, G[i, j]), atol=1e-14)
    assert dual_norm(name, G).shape == norm_value(name, G).shape == (2, 3)


def test_closed_forms_vectors():
    g = np.array([0.5, -3.0, 3.0, 0.0])
    np.testing.assert_array_equal(lmo("l1", g), [0.0, 1.0, 0.0, 0.0])  # tie |-3| = |3|: the first index
    np.testing.assert_array_equal(lmo("linf", g), [-1.0, 1.0, -1.0, 0.0])
    np.testing.assert_allclose(lmo("l2", g), -g / np.linalg.norm(g))
    assert dual_norm("l1", g) == 3.0 and dual_norm("linf", g) == 6.5 and norm_value("l1", g) == 6.5
    # ndim=2: the l1 ball of a whole matrix has one vertex
    M = np.array([[1.0, -4.0], [2.0, 0.0]])
    np.testing.assert_array_equal(lmo("l1", M, ndim=2), [[0.0, 1.0], [0.0, 0.0]])
    assert dual_norm("linf", M, ndim=2) == 7.0
    # no overflow of the squares
    np.testing.assert_allclose(lmo("l2", np.array([3e200, 4e200])), [-0.6, -0.8])
    assert norm_value("l2", np.array([3e-200, 4e-200])) == pytest.approx(5e-200)


def test_closed_forms_matrices():
    rng = np.random.default_rng(3)
    G = rng.standard_normal((6, 4))
    u, s, vt = np.linalg.svd(G, full_matrices=False)
    polar = u @ vt
    np.testing.assert_allclose(lmo("spectral", G), -polar, atol=1e-14)
    np.testing.assert_allclose(lmo("left_polar", G), -polar, atol=1e-12)
    np.testing.assert_allclose(lmo("nuclear", G), -np.outer(u[:, 0], vt[0]), atol=1e-14)
    np.testing.assert_allclose(lmo("rms", G), -math.sqrt(6 / 4) * polar, atol=1e-14)
    assert norm_value("rms", G) == pytest.approx(math.sqrt(4 / 6) * s[0])
    np.testing.assert_allclose(lmo("kyfan_dual:2", G), -(u[:, :2] @ vt[:2]), atol=1e-14)
    assert dual_norm("kyfan:2", G) == pytest.approx(max(s[0], s.sum() / 2))
    assert norm_value("kyfan_dual:2", G) == pytest.approx(max(s[0], s.sum() / 2))
    np.testing.assert_allclose(lmo("row_l2", G), -G / np.linalg.norm(G, axis=1, keepdims=True))
    np.testing.assert_allclose(lmo("col_l2", G), -G / np.linalg.norm(G, axis=0, keepdims=True))
    # Schatten: p = 1, 2, inf are the nuclear, Frobenius and spectral balls; general p the weights sigma^(q-1)
    for p, other in (("1", "nuclear"), ("2", "frobenius"), ("inf", "spectral")):
        np.testing.assert_allclose(lmo(f"schatten:{p}", G), lmo(other, G), atol=1e-14)
        assert dual_norm(f"schatten:{p}", G) == pytest.approx(dual_norm(other, G), rel=1e-14)
    q = 3 / 2
    w = s ** (q - 1) / np.sum(s ** q) ** ((q - 1) / q)
    np.testing.assert_allclose(lmo("schatten:3", G), -(u * w) @ vt, atol=1e-14)
    # Fanions: alpha U_k W_k^T + (1 - alpha) (G/||G||_F or u_1 w_1^T)
    f = -(0.5 * u[:, :2] @ vt[:2] + 0.5 * G / np.linalg.norm(G))
    np.testing.assert_allclose(lmo("ffanion:2,0.5", G), f, atol=1e-14)
    f = -(0.3 * polar + 0.7 * np.outer(u[:, 0], vt[0]))
    np.testing.assert_allclose(lmo("smuon:0.3", G), f, atol=1e-14)


def test_fanion_end_points():
    # alpha = 1: the ball of KF_k*; alpha = 0: Frobenius (F) or nuclear (S, the dual of sigma_1)
    rng = np.random.default_rng(4)
    G = rng.standard_normal((3, 5, 4))
    for a, b in (("ffanion:2,1", "kyfan_dual:2"), ("ffanion:2,0", "frobenius"), ("sfanion:2,0", "nuclear"),
                 ("sfanion:2,1", "kyfan_dual:2"), ("fmuon:1", "spectral"), ("kyfan_fro:2,0", "frobenius"),
                 ("kyfan_fro:2,1", "kyfan:2"), ("kyfan_spectral:2,0", "spectral"), ("kyfan_spectral:2,1", "kyfan:2")):
        np.testing.assert_allclose(lmo(a, G), lmo(b, G), atol=1e-14)
        np.testing.assert_allclose(norm_value(a, G), norm_value(b, G), rtol=1e-13)
        np.testing.assert_allclose(dual_norm(a, G), dual_norm(b, G), rtol=1e-13)


def test_combinations_are_the_duals_of_the_fanions():
    rng = np.random.default_rng(8)
    G = rng.standard_normal((20, 5, 4))
    s = np.linalg.svd(G, compute_uv=False)
    for comb, fan, q in (("kyfan_fro:2,0.3", "ffanion:2,0.3", np.linalg.norm(s, axis=-1)),
                         ("kyfan_spectral:2,0.3", "sfanion:2,0.3", s[:, 0])):
        P = 0.3 * s[:, :2].sum(-1) + 0.7 * q
        np.testing.assert_allclose(norm_value(comb, G), P, rtol=1e-14)
        np.testing.assert_allclose(dual_norm(fan, G), P, rtol=1e-14)
        np.testing.assert_allclose(dual_norm(comb, G), norm_value(fan, G), rtol=1e-14)
    # kyfan_spectral's LMO is a scaled partial isometry on the best j leading pairs
    u, s1, vt = np.linalg.svd(G[0], full_matrices=False)
    den = 0.3 * np.minimum(np.arange(1, 5), 2) + 0.7
    j = int(np.argmax(np.cumsum(s1) / den)) + 1
    np.testing.assert_allclose(lmo("kyfan_spectral:2,0.3", G[0]), -(u[:, :j] @ vt[:j]) / den[j - 1], atol=1e-14)


def test_fanion_norm_is_a_norm_between_its_bounds():
    # N = P* with P between alpha KF_k + (1 - alpha) sigma_1 ... : P >= alpha KF_k gives N <= KF_k*/alpha,
    # P >= (1 - alpha) ||.||_F gives N <= ||.||_F/(1 - alpha); N is positively homogeneous
    rng = np.random.default_rng(5)
    G = rng.standard_normal((50, 4, 3))
    n = norm_value("ffanion:2,0.4", G)
    assert np.all(n <= norm_value("kyfan_dual:2", G) / 0.4 * (1 + 1e-14))
    assert np.all(n <= norm_value("frobenius", G) / 0.6 * (1 + 1e-14))
    np.testing.assert_allclose(norm_value("ffanion:2,0.4", 7.0 * G), 7.0 * n, rtol=1e-13)


def test_ties_repeated_singular_values_and_rank_deficiency():
    rng = np.random.default_rng(6)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 4)))
    G = 2.0 * Q  # four equal singular values
    for name in MATRIX:
        D = lmo(name, G)
        assert -np.sum(G * D) == pytest.approx(float(dual_norm(name, G)), rel=1e-13)
        assert float(norm_value(name, D)) <= 1 + 1e-13
    R = np.outer(rng.standard_normal(5), rng.standard_normal(4))  # rank one
    np.testing.assert_allclose(lmo("spectral", R), lmo("nuclear", R), atol=1e-14)  # zero directions get 0
    Z = rng.standard_normal((5, 4))
    Z[2] = 0.0
    assert np.all(lmo("row_l2", Z)[2] == 0.0)
    s = np.linalg.svd(G, compute_uv=False)
    assert float(dual_norm("kyfan:2", G)) == pytest.approx(max(s[0], s.sum() / 2))


@pytest.mark.parametrize("bad, words", [
    ("l3", "unknown name"), ("schatten", "needs a parameter"), ("schatten:0.5", "p = 0.5 must be >= 1"),
    ("schatten:nan", "NaN"), ("kyfan:0", "k = '0'"), ("kyfan:1.5", "integer"), ("kyfan:two", "integer"),
    ("ffanion:2", "k,alpha"), ("fmuon:1.5", "alpha = 1.5"), ("spectral:2", "no parameter"),
    ("__import__('os')", "unknown name"), (3, "named by a string"),
])
def test_bad_names_list_the_valid_ones(bad, words):
    with pytest.raises(InvalidNormError, match=words) as info:
        lmo(bad, np.ones((2, 2)))
    assert isinstance(info.value, GeomrelaxError)
    assert "kyfan_dual:k" in str(info.value) and "schatten:p" in str(info.value)


def test_bad_arrays():
    with pytest.raises(NonFiniteError):
        lmo("l1", np.array([1.0, np.nan]))
    with pytest.raises(InvalidNormError, match="matrices"):
        lmo("spectral", np.ones(3))
    with pytest.raises(InvalidNormError, match="ndim"):
        lmo("l2", np.ones((2, 2)), ndim=3)
    with pytest.raises(InvalidNormError, match="real array"):
        lmo("l2", np.ones(2) * 1j)


def test_names_listed_and_exported():
    assert set(NORM_NAMES) >= {"l1", "linf", "l2", "spectral", "nuclear", "frobenius", "schatten:p", "kyfan:k",
                               "kyfan_dual:k", "row_l2", "col_l2", "rms", "left_polar"}
    # geomrelax.lmo is the function; the module geomrelax/lmo.py stays importable
    assert geomrelax.lmo is lmo and geomrelax.dual_norm is dual_norm and geomrelax.norm_value is norm_value
    from geomrelax.lmo import relaxed_lmo

    assert relaxed_lmo is geomrelax.relaxed_lmo
    np.testing.assert_array_equal(geomrelax.lmo("linf", np.array([2.0, -1.0, 0.0])), [-1.0, 1.0, 0.0])


def test_left_polar_loses_small_singular_values_only():
    # the Gram route resolves sigma_i down to about sqrt(N eps) sigma_1: a direction at 1e-12 is dropped
    # (weight 0, still in the ball), one at 1e-3 is kept with the SVD route's answer to ~ eps cond^2
    rng = np.random.default_rng(7)
    u, _ = np.linalg.qr(rng.standard_normal((4, 3)))
    v, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    for small, kept in ((1e-3, True), (1e-12, False)):
        G = (u * np.array([1.0, 0.5, small])) @ v.T
        D = lmo("left_polar", G)
        s = np.linalg.svd(D, compute_uv=False)
        assert s[0] <= 1 + 1e-9
        assert (s[-1] > 0.5) == kept


def _bisect(f, lo, hi, steps=64):
    """The boundary of a monotone predicate f (True on the high side) by bisection: the reference route
    (64 halvings: 2^-64 of the interval, below float64 resolution for these brackets)."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if f(mid) else (mid, hi)
    return hi


def test_fanion_norm_against_plain_bisection():
    # N(sigma) = the least t with dist(sigma, alpha t C) <= (1 - alpha) t, C = {0 <= c <= 1, sum c <= k}; here
    # the projection's theta and the root t are both found by plain bisection, independent of the exact
    # projection and the false-position steps of the package (agreement to 1e-13: a few ulps of each route)
    rng = np.random.default_rng(9)
    k, a = 2, 0.4
    for _ in range(8):
        G = rng.standard_normal((5, 4)) * 10.0 ** rng.uniform(-3, 3)
        s = np.linalg.svd(G, compute_uv=False)

        def proj(t):
            cap, tot = a * t, a * t * k
            if np.minimum(s, cap).sum() <= tot:
                return np.minimum(s, cap)
            th = _bisect(lambda th: np.clip(s - th, 0, cap).sum() <= tot, 0.0, s[0])
            return np.clip(s - th, 0, cap)

        t = _bisect(lambda t: np.linalg.norm(s - proj(t)) <= (1 - a) * t, 0.0, np.linalg.norm(s) / (1 - a))
        assert float(norm_value(f"ffanion:{k},{a}", G)) == pytest.approx(t, rel=1e-13)


@pytest.mark.parametrize("name", ALL)
def test_float32_input_gives_a_float32_lmo_in_the_ball(name):
    # the LMO keeps the input's dtype; its norm, recomputed in float32, is 1 within the float32 rounding
    # allowance _tol derives (64 N eps32: the sums' rounding and the float32 SVD's backward error)
    rng = np.random.default_rng(17)
    G = _draw(name, rng, (20,)).astype(np.float32)
    D = lmo(name, G)
    assert D.dtype == np.float32
    eps32 = float(np.finfo(np.float32).eps)
    allow = _tol(G[0]) / EPS * eps32
    if name == "left_polar":
        # the Gram route adds its documented relative error r eps cond(G)^2 (module docstring)
        s = np.linalg.svd(G.astype(np.float64), compute_uv=False)
        allow = allow + min(G.shape[-2:]) * eps32 * (s[:, 0] / s[:, -1]) ** 2
    assert np.all(np.abs(norm_value(name, D) - 1.0) <= allow)
