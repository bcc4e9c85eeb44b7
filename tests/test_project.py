"""Regularizer.project, the Euclidean projection onto D the cross-check uses: lands in D, idempotent,
non-expansive, certified optimal by the variational inequality, and equal to cvxpy's projection within the
solver's certified accuracy; None where no exact projection is known.

Float tolerances: 64 N eps max(1, ||d||) (N = entries of an event) covers the rounding of a sum of N
products and the SVD's backward error, N eps ||d||, as in tests/test_norms.py.
"""

import dataclasses
import math

import numpy as np
import pytest

import geomrelax as gr
from geomrelax.regularizers import Interval
from geomrelax.spectral import Spectral
from geomrelax.zoo import _SHRINK, norm_ball

cp = pytest.importorskip("cvxpy")

EPS = np.finfo(np.float64).eps
VECTOR_BALLS = ["l1", "linf", "l2"]
MATRIX_BALLS = ["frobenius", "spectral", "nuclear", "schatten:1", "schatten:2", "schatten:inf", "kyfan:1", "kyfan:3",
                "kyfan_dual:1", "kyfan_dual:2", "row_l2", "col_l2", "rms", "left_polar"]


def _asymmetric_box():
    return dataclasses.replace(gr.regularizer("box"), name="box[-0.5,2]", domain=Interval(-0.5, 2.0), even=False)


def _cases():
    vec = {name: gr.regularizer(name) for name in ("ball_quadratic", "box", "box_quadratic", "entropic", "euclidean")}
    vec["box[-0.5,2]"] = _asymmetric_box()
    vec.update({f"ball({n})": norm_ball(n) for n in VECTOR_BALLS})
    mat = {f"spectral({n})": Spectral(gr.regularizer(n)) for n in ("box", "box_quadratic", "ball_quadratic")}
    mat.update({f"ball({n})": norm_ball(n) for n in MATRIX_BALLS})
    return {**{k: (V, (9,)) for k, V in vec.items()}, **{k: (V, (5, 3)) for k, V in mat.items()}}


CASES = _cases()


def _points(shape, seed, n=8):
    # scales from well inside to far outside every unit-sized D
    rng = np.random.default_rng(seed)
    scale = np.logspace(-1.5, 1.5, n).reshape((n,) + (1,) * len(shape))
    return rng.standard_normal((n,) + shape) * scale


def _tol(d):
    return 64 * d.size * EPS * max(1.0, float(np.linalg.norm(d)))


@pytest.mark.parametrize("name", list(CASES))
def test_projection_lands_in_D_is_idempotent_and_non_expansive(name):
    V, shape = CASES[name]
    pts = _points(shape, 0)
    proj = [V.project(d) for d in pts]
    for d, p in zip(pts, proj):
        assert p.shape == d.shape
        assert bool(V.contains(p)), f"{name}: P(d) outside D"
        assert np.linalg.norm(V.project(p) - p) <= _tol(d)
        if bool(V.contains(d)):
            assert np.linalg.norm(p - d) <= _tol(d)
    for i in range(len(pts)):
        for j in range(i):
            a, b = pts[i], pts[j]
            assert np.linalg.norm(proj[i] - proj[j]) <= np.linalg.norm(a - b) + _tol(a) + _tol(b)


@pytest.mark.parametrize("name", list(CASES))
def test_projection_satisfies_the_variational_inequality(name):
    # p = P_D(d) iff p in D and <d - p, x - p> <= 0 for every x in D, i.e. sup_D <d - p, .> = support(d - p)
    # <= <d - p, p>: a certificate of optimality that moves linearly with an error in p (no solver involved)
    V, shape = CASES[name]
    for d in _points(shape, 1):
        p = V.project(d)
        r = d - p
        gap = float(V.support(r)) - float(np.sum(r * p))
        assert gap <= _tol(d) * max(1.0, float(np.linalg.norm(r))), f"{name}: {gap:.3g}"


def _cvxpy_projection(V, d):
    """(x_s, L): cvxpy's argmin_{x in D} ||x - d||^2 and a certified lower bound L of its optimum (the conic
    dual objective less the dual residual term, as in the cross-check)."""
    from geomrelax.crosscheck.program import LmoProgram
    from geomrelax.crosscheck.solve import _solve

    x = cp.Variable(d.shape)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - d)), V.cvxpy_domain(x).constraints)
    solved = _solve(LmoProgram(prob, x, False, "projection"), "CLARABEL", 1e-9, None)
    assert solved.status == "optimal"
    return solved.d_raw, solved.dobj_user - solved.dual_residual * solved.x_norm1


@pytest.mark.parametrize("name", list(CASES))
def test_projection_equals_cvxpy_within_the_certified_accuracy(name):
    # f(x) = ||x - d||^2 is 2-strongly convex with minimiser p*: for p in D, ||p - p*||^2 <= f(p) - f* <=
    # f(p) - L. For the solver's x_s (outside D by its residual), with q = P_D(x_s) in D,
    # <p* - d, x_s - p*> >= -||p* - d|| ||x_s - q||, so ||x_s - p*||^2 <= f(x_s) - L + 2 ||p - d|| ||x_s - q||
    # (||p* - d|| <= ||p - d||). The sum of the two roots bounds ||p - x_s||; the float floor N eps f covers
    # the rounding of f.
    V, shape = CASES[name]
    for d in _points(shape, 2, n=4):
        p = V.project(d)
        x_s, L = _cvxpy_projection(V, d)
        fp, fx = float(np.sum((p - d) ** 2)), float(np.sum((x_s - d) ** 2))
        floor = 16 * d.size * EPS * max(1.0, fp, fx, abs(L))
        q = V.project(x_s)
        assert bool(V.contains(q))
        bound = (math.sqrt(max(fp - L, 0.0) + floor)
                 + math.sqrt(max(fx - L + 2 * math.sqrt(fp) * float(np.linalg.norm(x_s - q)), 0.0) + floor))
        assert np.linalg.norm(p - x_s) <= bound, name
        # the certificate is informative: far below the size of the points
        assert bound <= 1e-3 * max(1.0, float(np.linalg.norm(d)))


def test_spectral_lift_projects_singular_values_with_the_base():
    # spectral(box) is the spectral-norm ball, spectral(ball_quadratic) the Frobenius ball, and a vector l1
    # ball lifts to the nuclear ball: the same points as the matrix norm balls' own projections
    rng = np.random.default_rng(3)
    pairs = [(Spectral(gr.regularizer("box")), norm_ball("spectral")),
             (Spectral(gr.regularizer("ball_quadratic")), norm_ball("frobenius")),
             (Spectral(norm_ball("l1")), norm_ball("nuclear")),
             (Spectral(norm_ball("linf")), norm_ball("spectral"))]
    for d in rng.standard_normal((4, 6, 4)) * 3:
        for lifted, ball in pairs:
            np.testing.assert_allclose(lifted.project(d), ball.project(d), atol=_tol(d))
    # a batch of matrices projects event by event
    batch = rng.standard_normal((3, 4, 2)) * 2
    for V in (norm_ball("nuclear"), norm_ball("l1"), Spectral(gr.regularizer("box"))):
        one = np.stack([V.project(b) for b in batch])
        np.testing.assert_allclose(V.project(batch), one, atol=_tol(batch))


def test_l1_projection_closed_forms():
    P = norm_ball("l1").project
    np.testing.assert_allclose(P(np.array([3.0, 0.0, 0.0])), [1.0, 0.0, 0.0])
    # theta = (2 + 1 - 1) / 2 = 1: (2, -1, 0.5) -> (1, 0, 0)
    np.testing.assert_allclose(P(np.array([2.0, -1.0, 0.5])), [1.0, 0.0, 0.0], atol=4 * EPS)
    # theta = (1 + 1 - 1) / 2 = 0.5: equal entries share the unit mass
    np.testing.assert_allclose(P(np.array([-1.0, 1.0])), [-0.5, 0.5], atol=4 * EPS)
    inside = np.array([0.2, -0.3, 0.1])
    np.testing.assert_array_equal(P(inside), inside)
    # the input's dtype is kept (as by the LMO), for every ball with a projection
    for name in VECTOR_BALLS + MATRIX_BALLS:
        x = np.ones(9 if name in VECTOR_BALLS else (5, 3), np.float32) * 2
        assert norm_ball(name).project(x).dtype == np.float32


@pytest.mark.parametrize("name", ["kyfan:2", "schatten:3", "ffanion:2,0.5", "sfanion:2,0.3", "kyfan_fro:2,0.5"])
def test_balls_without_a_projection_keep_the_shrunk_program(name):
    # no exact projection: project says None, the cross-check keeps the solver's point, and the program's
    # radius stays 1 - _SHRINK so that point lies inside the ball
    V = norm_ball(name)
    d = np.random.default_rng(4).standard_normal((5, 3))
    assert V.project(d) is None
    assert f"radius 1 - {_SHRINK:g}" in V.cvxpy_domain(cp.Variable((5, 3))).description
    assert "radius 1)" in norm_ball("spectral").cvxpy_domain(cp.Variable((5, 3))).description
    assert Spectral(norm_ball("l1")).project(d) is not None
    r = gr.cross_check(V, d, math.inf)
    assert r.outcome == "agree", r.summary()
