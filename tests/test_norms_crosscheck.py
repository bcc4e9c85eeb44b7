"""Each norm-ball LMO against cvxpy, through the existing cross-check (geomrelax.cross_check on the ball's
indicator, tau = inf: the linear program min <m, d> over the ball)."""

import math

import numpy as np
import pytest

import geomrelax
from geomrelax.norms import lmo, parse_norm
from geomrelax import zoo
from geomrelax.zoo import _SHRINK, NormBall, norm_ball, schatten_power

pytest.importorskip("cvxpy")

NAMES = ["l1", "linf", "l2", "frobenius", "spectral", "nuclear", "schatten:1", "schatten:1.5", "schatten:2",
         "schatten:3", "schatten:inf", "kyfan:1", "kyfan:2", "kyfan:3", "kyfan_dual:1", "kyfan_dual:2", "row_l2",
         "col_l2", "rms", "left_polar", "ffanion:2,0.5", "sfanion:2,0.3", "fmuon:0.7", "smuon:0.4", "kyfan_fro:2,0.5", "kyfan_spectral:2,0.5", "kyfan_fro:1,0.8", "kyfan_spectral:3,0.2"]


def _m(name, rng):
    return rng.standard_normal(7) if not parse_norm(name).matrix else rng.standard_normal((5, 3))


@pytest.mark.parametrize("name", NAMES)
def test_lmo_agrees_with_cvxpy(name):
    rng = np.random.default_rng(11)
    for _ in range(2):
        m = _m(name, rng)
        V = norm_ball(name)
        r = geomrelax.cross_check(V, m, math.inf)
        assert r.outcome == "agree", r.summary()
        # a ball with a projection is solved at radius 1 (its point projected back into the ball), the others
        # at radius 1 - 1e-6 (zoo._SHRINK): the solver's value is within that factor (and its own certified
        # gap) of the closed form's -||m||_*
        shrink = 0.0 if V.project(m) is not None else 2 * _SHRINK
        assert r.objective_closed_form <= r.objective_cvxpy
        assert r.objective_cvxpy - r.objective_closed_form <= shrink * abs(r.objective_closed_form) + r.suboptimality


def test_ill_conditioned_and_tall_wide():
    rng = np.random.default_rng(12)
    u, _ = np.linalg.qr(rng.standard_normal((6, 4)))
    v, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    M = (u * np.logspace(0, -6, 4)) @ v.T
    for name in ("spectral", "nuclear", "kyfan:2", "schatten:3", "ffanion:2,0.5"):
        for m in (M, M.T):
            r = geomrelax.cross_check(norm_ball(name), m, math.inf)
            assert r.outcome == "agree", r.summary()


class _Planted(NormBall):
    """A wrong LMO for the test that the cross-check can fail: the right direction, shrunk by 1e-4."""

    def lmo(self, m):
        return (1 - 1e-4) * lmo(self.spec, m)


@pytest.mark.parametrize("name", ["l1", "spectral", "kyfan:2", "ffanion:2,0.5"])
def test_a_wrong_lmo_is_caught(name):
    rng = np.random.default_rng(13)
    r = geomrelax.cross_check(_Planted(name), _m(name, rng), math.inf)
    assert r.outcome == "disagree" and "exceeds the solver's" in r.note


class _Planted7(NormBall):
    """The right direction shrunk by 1e-7: inside the ball, worse than the optimum by 1e-7 ||m||_*."""

    def lmo(self, m):
        return (1 - 1e-7) * lmo(self.spec, m)


PROJECTED = ["l1", "linf", "l2", "frobenius", "spectral", "nuclear", "schatten:1", "kyfan_dual:2", "row_l2", "rms"]


@pytest.mark.parametrize("name", PROJECTED)
def test_an_lmo_off_by_1e7_is_caught_where_the_ball_has_a_projection(name, monkeypatch):
    # the program at radius 1 has U within the solver's gap (measured <= 2.7e-9 ||m||_* on these draws) of
    # f* = -||m||_*, below the planted f(g) = -(1 - 1e-7) ||m||_*
    rng = np.random.default_rng(16)
    m = _m(name, rng)
    r = geomrelax.cross_check(_Planted7(name), m, math.inf)
    assert r.outcome == "disagree" and "exceeds the solver's" in r.note, r.summary()
    # the old program (radius 1 - 1e-6, no projection) let the same error through
    monkeypatch.setattr(zoo, "_projector", lambda spec, shape: None)
    assert geomrelax.cross_check(_Planted7(name), m, math.inf).outcome == "agree"


def test_kyfan_wrong_branch_is_caught():
    # kyfan's LMO picks -u1 w1^T or -U W^T / k; the other branch is feasible but worse when they differ
    class Flat(NormBall):
        def lmo(self, m):
            u, s, vt = np.linalg.svd(m, full_matrices=False)
            return -(u @ vt) / self.spec.k

    M = np.diag([10.0, 1.0, 1.0])  # sigma_1 = 10 > ||M||_nuc / 2 = 6: the rank-one vertex is optimal
    r = geomrelax.cross_check(Flat("kyfan:2"), M, math.inf)
    assert r.outcome == "disagree"


@pytest.mark.parametrize("finite_tau", [0.5, 30.0])
def test_relaxed_lmo_of_a_ball_is_the_hard_one(finite_tau):
    rng = np.random.default_rng(14)
    m = rng.standard_normal((4, 3))
    r = geomrelax.cross_check(norm_ball("nuclear"), m, finite_tau)
    assert r.outcome == "agree", r.summary()


@pytest.mark.parametrize("p", [1.5, 2.0, 3.0])
def test_schatten_power_against_cvxpy(p):
    # the spectral lift of |x|^p/p: cvxpy's generic Ky Fan majorization form of sum |sigma_i|^p / p
    rng = np.random.default_rng(15)
    V = schatten_power(p)
    r = geomrelax.cross_check(V, rng.standard_normal((4, 3)), 2.0)
    assert r.outcome == "agree", r.summary()
    r = geomrelax.cross_check(V.base, rng.standard_normal(5), 2.0)
    assert r.outcome == "agree", r.summary()
