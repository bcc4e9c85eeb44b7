"""The cross-check is honest at the edges: a tolerance that certifies nothing is 'inconclusive', not 'agree'."""

import math

import numpy as np
import pytest

import geomrelax as gr

pytest.importorskip("cvxpy")
from geomrelax.crosscheck.certify import _a_priori_diameter  # noqa: E402


def _m(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("name", ["entropic", "box_quadratic", "algebraic"])
def test_huge_tau_is_inconclusive_not_agree(name):
    m = _m(10, 0)
    r = gr.cross_check(name, m, 1e300)
    # tol ~ sqrt(2 eps tau / mu) ~ 1e146 while every point of [-1, 1]^10 is within 2 sqrt(10) of d*
    assert r.status == "optimal"
    assert r.outcome == "inconclusive" and not r.passed, r.summary()
    assert r.tolerance >= 2 * math.sqrt(10)
    assert "certifies nothing" in r.note and "diameter of D" in r.note
    assert "inconclusive" in r.summary()


@pytest.mark.parametrize("name", ["entropic", "box_quadratic", "algebraic"])
@pytest.mark.parametrize("tau", [0.5, 20.0])
def test_normal_taus_still_agree(name, tau):
    r = gr.cross_check(name, _m(10, 0), tau)
    assert r.outcome == "agree" and r.passed, r.summary()
    assert r.tolerance < 2 * math.sqrt(10)


def test_a_wrong_closed_form_is_still_caught_at_huge_tau():
    # the objective and domain tests keep their force when the distance bound is void
    import dataclasses

    wrong = dataclasses.replace(gr.regularizer("box_quadratic"), grad_conj_fn=lambda s: -np.clip(s, -1, 1))
    r = gr.cross_check(wrong, _m(10, 1), 1e300)
    assert r.outcome == "disagree", r.summary()


def test_a_priori_diameters_are_the_exact_ones():
    m = _m(4, 2)
    # box [-1, 1]^4: diagonal 2 sqrt(4); l2 unit ball: 2; spectral-norm ball of 3 x 2: 2 sqrt(2) (two
    # singular values at 1 on each side); Frobenius ball: 2
    assert _a_priori_diameter(gr.regularizer("box"), m, math.inf)[0] == pytest.approx(4.0, rel=1e-15)
    assert _a_priori_diameter(gr.regularizer("ball_quadratic"), m, math.inf)[0] == pytest.approx(2.0, rel=1e-15)
    M = _m((3, 2), 3)
    assert _a_priori_diameter(gr.spectral("box"), M, math.inf)[0] == pytest.approx(2 * math.sqrt(2), rel=1e-15)
    assert _a_priori_diameter(gr.spectral("ball_quadratic"), M, math.inf)[0] == pytest.approx(2.0, rel=1e-15)
    # unbounded D: only the ball ||d*|| <= 2 tau ||m|| / mu bounds where d* lies
    diam, what = _a_priori_diameter(gr.regularizer("euclidean"), m, 3.0)
    assert diam == pytest.approx(4 * 3.0 * np.linalg.norm(m), rel=1e-15) and "ball" in what
