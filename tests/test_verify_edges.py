"""verify at the edges of a domain: a check that does not apply at a point skips that point (counted, with
the reason), a check with no applicable point is 'skipped', and neither fails the regularizer."""

import dataclasses
import sys
import types

import numpy as np
import pytest

import geomrelax as gr

pytest.importorskip("geomrelax.symbolic")
FAST = dict(search=False, n_points=16, crosscheck=False)


def test_zero_on_the_boundary_limit_tau_zero():
    # -m pointing out of [0, 1]: d_tau(m) = 0 there, the projection of -tau m onto the tangent cone [0, inf)
    rep = gr.verify("x**2/2", domain=(0, 1), crosscheck=False)
    assert rep.passed, rep.format()
    lim = rep["limit_tau_zero"]
    assert lim.status == "pass" and "point out of D" in lim.note


def test_zero_on_the_boundary_still_catches_a_wrong_curvature():
    V = gr.from_expr("x**2/2", domain=(0, 1))
    rep = gr.verify(dataclasses.replace(V, name="planted", hess0=2.0), **FAST)
    assert rep["limit_tau_zero"].status == "fail", rep.format()


def test_open_domain_ends_are_skipped_by_the_biconjugate():
    rep = gr.verify("-log(1 - x**2)/2", domain=(-1, 1), crosscheck=False)
    assert rep.passed, rep.format()
    bic = rep["biconjugate"]
    assert bic.status == "pass" and bic.n_skipped > 0 and "V(x) = +inf" in bic.note
    assert f"{bic.n_skipped} of" in bic.note


@pytest.mark.parametrize("spectral", [False, True])
def test_kink_of_v_is_checked_in_the_subdifferential(spectral):
    rep = gr.verify("Abs(x) + x**2/2", domain=(-1, 1), crosscheck=False, spectral=spectral)
    assert rep.passed, rep.format()
    assert rep["inverse_grad_of_conj"].status == "pass"


def test_kink_membership_still_catches_a_wrong_threshold():
    V = gr.from_expr("Abs(x) + x**2/2", domain=(-1, 1))
    # right off the kink, but x = 0 for |y| in (1, 1.5], where y lies outside dv(0) = [-1, 1]: only the
    # membership test at the kink can see it (skipping the kink would pass it)
    def wrong(s):
        a = np.abs(s)
        return np.sign(s) * np.where(a <= 1.5, 0.0, np.clip(a - 1, 0, 1))

    rep = gr.verify(dataclasses.replace(V, name="planted", grad_conj_fn=wrong), **FAST)
    inv = rep["inverse_grad_of_conj"]
    assert inv.status == "fail", rep.format()
    y = np.asarray(inv.counterexample["y"])
    assert np.any((np.abs(y) > 1) & (np.abs(y) <= 1.5))


def test_skipped_points_never_fail_and_all_skipped_is_skipped(monkeypatch):
    from geomrelax.verify.geometry import _Geo
    from geomrelax.verify.runner import _run, _Spec

    geo = _Geo(gr.regularizer("entropic"))
    pts = {"x": np.linspace(-0.5, 0.5, 8)[:, None]}

    def none_apply(p):
        n = len(p["x"])
        return np.full(n, -np.inf), np.ones(n), np.ones(n, int)

    res = _run(_Spec("demo", none_apply, pts, {"x": "domain"}, skip_reasons=("never applies",)), geo,
               np.random.default_rng(0), False)
    assert res.status == "skipped" and "8 of 8 points skipped: never applies" in res.note and res.n_skipped == 8

    def half_apply(p):
        x = p["x"][:, 0]
        skip = (x > 0).astype(int)
        return np.where(skip > 0, -np.inf, 0.0), np.ones(len(x)), skip

    res = _run(_Spec("demo", half_apply, pts, {"x": "domain"}, skip_reasons=("x > 0",)), geo,
               np.random.default_rng(0), False)
    assert res.status == "pass" and res.n_skipped == 4 and res.n_points == 4


@dataclasses.dataclass
class FakeCross:
    passed: bool
    distance: float
    tolerance: float
    outcome: str
    status: str = "optimal"
    note: str = ""


def test_inconclusive_crosscheck_solves_are_left_out(monkeypatch):
    def cc(V, m, tau, **kw):
        if tau > 10:
            return FakeCross(False, 1e-9, 1e3, "inconclusive", note="certifies nothing")
        return FakeCross(True, 1e-9, 1e-7, "agree")

    monkeypatch.setitem(sys.modules, "geomrelax.crosscheck", types.SimpleNamespace(cross_check=cc))
    r = gr.verify("entropic", search=False, n_points=16)["crosscheck_cvxpy"]
    assert r.status == "pass" and r.n_skipped == 1 and "inconclusive" in r.note
    monkeypatch.setitem(sys.modules, "geomrelax.crosscheck", types.SimpleNamespace(
        cross_check=lambda V, m, tau, **kw: FakeCross(False, 1e-9, 1e3, "inconclusive", note="certifies nothing")))
    rep = gr.verify("entropic", search=False, n_points=16)
    assert rep["crosscheck_cvxpy"].status == "skipped" and "certifies nothing" in rep["crosscheck_cvxpy"].note
    assert rep.passed
