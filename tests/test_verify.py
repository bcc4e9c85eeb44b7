"""geomrelax.verify: the identity checks pass on the built-ins and catch planted wrong closed forms."""

import dataclasses
import json
import sys
import types

import numpy as np
import pytest

import geomrelax as gr
from geomrelax.errors import GeomrelaxError, InvalidRegularizerError, SolverError
from geomrelax.regularizers import log_cosh
from geomrelax.verify import TOL, CheckResult, VerifyReport, fingerprint, verify
from geomrelax.verify.limits import _root_dv

FAST = dict(search=False, n_points=16, crosscheck=False)
ENTROPIC = gr.regularizer("entropic")


def planted(**changes):
    """A copy of the entropic regularizer with one piece replaced (a wrong closed form)."""
    return dataclasses.replace(ENTROPIC, name="planted", **changes)


def ratio(r: CheckResult) -> float:
    return 0.0 if not r.error else r.error / r.tolerance


# ------------------------------------------------------------------------------------------------
# the built-ins pass
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spectral", [False, True])
@pytest.mark.parametrize("name", gr.BUILTIN_NAMES)
def test_builtins_pass_with_margin(name, spectral):
    rep = verify(name, spectral=spectral, **FAST)
    assert rep.passed, rep.format()
    # the tolerances are float-error/derived bounds, not set just above what is measured: the worst
    # residual stays below half its allowance (measured worst over built-ins and lifts: 0.25)
    assert max(ratio(r) for r in rep.results) < 0.5, rep.format()
    assert all(r.status in ("pass", "skipped") for r in rep.results)


@pytest.mark.parametrize("name", ["entropic", "algebraic", "box_quadratic"])
def test_builtins_pass_under_adversarial_search(name):
    rep = verify(name, n_points=32, crosscheck=False, search=True)
    assert rep.passed, rep.format()
    assert max(ratio(r) for r in rep.results) < 0.5, rep.format()


@pytest.mark.slow
@pytest.mark.parametrize("spectral", [False, True])
@pytest.mark.parametrize("name", gr.BUILTIN_NAMES)
def test_builtins_pass_full(name, spectral):
    rep = verify(name, spectral=spectral)
    assert rep.passed, rep.format()


def test_checks_that_do_not_apply_are_skipped_with_reason():
    box = verify("box", **FAST)
    for name in ("inverse_conj_of_grad", "inverse_grad_of_conj", "smoothness_conj", "limit_tau_zero"):
        assert box[name].status == "skipped" and box[name].note, box.format()
    assert "mu = 0" in box["smoothness_conj"].note
    eu = verify("euclidean", **FAST)
    for name in ("limit_tau_inf_lmo", "limit_tau_inf_support"):
        assert eu[name].status == "skipped" and "unbounded" in eu[name].note
    assert eu["crosscheck_cvxpy"].status == "skipped" and "disabled" in eu["crosscheck_cvxpy"].note
    # a skipped check never counts as passed
    assert not eu["crosscheck_cvxpy"].passed
    with pytest.raises(KeyError, match="lewis_grad_fd"):  # Lewis checks belong to spectral lifts only
        verify("entropic", **FAST)["lewis_grad_fd"]


def test_spectral_lift_adds_lewis_checks():
    rep = verify("algebraic", spectral=True, **FAST)
    assert rep.regularizer == "spectral(algebraic)"
    assert rep["lewis_grad_fd"].status == "pass"
    assert rep["lewis_smoothed_polar"].status == "pass"
    other = verify("entropic", spectral=True, **FAST)
    assert other["lewis_smoothed_polar"].status == "skipped"


# ------------------------------------------------------------------------------------------------
# planted wrong closed forms are caught, with a counterexample that really violates the identity
# ------------------------------------------------------------------------------------------------
def fy_gap(V, y):
    x = np.asarray(V.grad_conj(y))
    return float(V.value(x) + V.conj(y) - np.sum(x * y))


def test_wrong_conjugate_scaled_up_is_caught():
    bad = planted(conj_fn=lambda s: log_cosh(1.01 * s))
    rep = verify(bad, **FAST)
    assert not rep.passed
    fy = rep["fenchel_young_equality"]
    assert fy.status == "fail" and fy.counterexample is not None
    y = np.asarray(fy.counterexample["y"])
    # at the counterexample the planted pair has a Fenchel-Young gap, the true pair has none
    assert abs(fy_gap(bad, y)) > fy.tolerance
    assert abs(fy_gap(ENTROPIC, y)) <= TOL * (1 + abs(float(ENTROPIC.conj(y))) + np.sum(np.abs(y)))
    # V*(tau m)/tau tends to 1.01 ||m||_1, above the support function
    sup = rep["limit_tau_inf_support"]
    assert sup.status == "fail"
    m, tau = np.asarray(sup.counterexample["m"]), sup.counterexample["tau"]
    assert float(bad.conj(tau * m)) / tau > float(bad.support(m)) + sup.tolerance


def test_wrong_conjugate_scaled_down_breaks_the_inequality():
    bad = planted(conj_fn=lambda s: log_cosh(0.99 * s))
    # violations live only near x = tanh(y): random pairs rarely land there, the search does
    rep = verify(bad, n_points=16, crosscheck=False, search=True)
    ineq = rep["fenchel_young_inequality"]
    assert ineq.status == "fail"
    x, y = np.asarray(ineq.counterexample["x"]), np.asarray(ineq.counterexample["y"])
    assert bad.contains(x)
    assert float(bad.value(x) + bad.conj(y) - np.sum(x * y)) < -ineq.tolerance


def test_wrong_grad_conj_is_caught():
    bad = planted(grad_conj_fn=lambda s: np.tanh(1.02 * s))
    rep = verify(bad, **FAST)
    for name in ("fenchel_young_equality", "inverse_conj_of_grad", "inverse_grad_of_conj", "limit_tau_inf_lmo"):
        assert rep[name].status == "fail", rep.format()
    inv = rep["inverse_conj_of_grad"]
    x = np.asarray(inv.counterexample["x"])
    assert np.max(np.abs(bad.grad_conj(bad.grad(x)) - x)) > inv.tolerance
    assert np.max(np.abs(ENTROPIC.grad_conj(ENTROPIC.grad(x)) - x)) < inv.tolerance


def test_wrong_mu_is_caught_by_both_inequalities():
    bad = planted(mu=1.5)  # v''(x) = 1/(1-x^2) >= 1 with equality at 0: mu = 1 is the best constant
    rep = verify(bad, **FAST)
    sc, sm = rep["strong_convexity"], rep["smoothness_conj"]
    assert sc.status == "fail" and sm.status == "fail"
    x1, x2 = np.asarray(sc.counterexample["x1"]), np.asarray(sc.counterexample["x2"])
    breg = float(ENTROPIC.value(x2) - ENTROPIC.value(x1) - np.sum(ENTROPIC.grad(x1) * (x2 - x1)))
    d2 = float(np.sum((x2 - x1) ** 2))
    assert breg < 1.5 / 2 * d2 and breg >= 1.0 / 2 * d2 - sc.tolerance
    # a smaller (valid, not tight) mu passes and the note reports the observed constant
    loose = verify(planted(mu=0.5), **FAST)
    assert loose.passed and "smallest observed" in loose["strong_convexity"].note


def test_wrong_hess0_is_caught():
    rep = verify(planted(hess0=2.0), **FAST)
    assert rep["limit_tau_zero"].status == "fail"
    assert rep["limit_tau_zero"].counterexample["error_sequence"][-1] > 0.1  # plateaus at |m|/2


def test_right_limit_wrong_rate_is_caught():
    # same limits (sign at tau = inf) but snaps to the vertex at |s| >= 5 instead of approaching like tanh
    snap = planted(grad_conj_fn=lambda s: np.where(np.abs(s) >= 5, np.sign(s), np.tanh(s)))
    assert verify(snap, **FAST)["limit_tau_inf_lmo"].status == "fail"
    # the SGD limit reached at order 1/2 instead of >= 1 in tau
    slow = planted(grad_conj_fn=lambda s: np.tanh(s) + 0.01 * s * np.sqrt(np.abs(s)))
    assert verify(slow, **FAST)["limit_tau_zero"].status == "fail"


def test_grad_conj_leaving_the_domain_is_caught():
    bad = planted(grad_conj_fn=lambda s: 1.001 * np.tanh(s))
    fy = verify(bad, **FAST)["fenchel_young_equality"]
    assert fy.status == "fail" and fy.error == np.inf


def test_wrong_spectral_lift_is_caught_by_lewis_checks():
    bad = planted(grad_conj_fn=lambda s: np.tanh(1.02 * s))
    rep = verify(bad, spectral=True, **FAST)
    fd = rep["lewis_grad_fd"]
    assert fd.status == "fail"
    Y = np.asarray(fd.counterexample["Y"])
    assert np.max(np.abs(np.asarray(fd.counterexample["grad_fd"]) - gr.spectral("entropic").grad_conj(Y))) < fd.tolerance
    alg = gr.regularizer("algebraic")
    bad_alg = dataclasses.replace(alg, name="planted_alg", grad_conj_fn=lambda s: s / np.sqrt(1 + 1.05 * s * s))
    assert verify(bad_alg, spectral=True, **FAST)["lewis_smoothed_polar"].status == "fail"


# ------------------------------------------------------------------------------------------------
# pieces
# ------------------------------------------------------------------------------------------------
def test_root_reference_reproduces_the_tanh_rate():
    # the independent reference for the tau -> inf rate: root of v'(x) = t by bisection on atanh alone
    t = np.array([0.5, 2.0, 5.0, 9.0, 15.0])
    x = _root_dv(ENTROPIC, t)
    exact_gap = 2 * np.exp(-2 * t) / (1 + np.exp(-2 * t))  # 1 - tanh t: the exp(-2 tau |m|) rate
    # bisection ends on adjacent floats near 1: gap exact to ~2 ulps of 1
    np.testing.assert_allclose(1 - x, exact_gap, rtol=0, atol=4 * np.finfo(float).eps)
    assert _root_dv(gr.regularizer("box_quadratic"), np.array([3.0, -3.0, 0.5])).tolist() == [1.0, -1.0, 0.5]


def test_same_seed_same_numbers():
    a = verify("algebraic", n_points=16, crosscheck=False, seed=3).to_dict()
    b = verify("algebraic", n_points=16, crosscheck=False, seed=3).to_dict()
    c = verify("algebraic", n_points=16, crosscheck=False, seed=4).to_dict()
    strip = lambda d: [(r["name"], r["error"], r["tolerance"]) for r in d["results"]]
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


def test_report_structure_and_json():
    rep = verify("entropic", **FAST)
    assert isinstance(rep, VerifyReport)
    d = rep.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["passed"] is True and d["counts"]["fail"] == 0
    lines = rep.format().splitlines()
    assert len(lines) == len(rep.results) + 2
    for r, line in zip(rep.results, lines[1:-1]):
        assert line.split()[:2] == [r.name, r.status]
    failing = verify(planted(mu=1.5), **FAST)
    json.dumps(failing.to_dict(), allow_nan=False)  # counterexamples (arrays) serialise
    assert "FAILED" in failing.format().splitlines()[-1]


def test_fingerprint_tracks_the_closed_forms():
    assert fingerprint(gr.regularizer("entropic")) == fingerprint(gr.regularizer("entropic"))
    assert fingerprint(planted(grad_conj_fn=lambda s: np.tanh(1.02 * s))) != fingerprint(planted())


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
def test_bad_input_is_refused_with_the_value():
    with pytest.raises(InvalidRegularizerError, match="only applies to an expression"):
        verify("entropic", domain=(-1, 1))
    with pytest.raises(InvalidRegularizerError, match="got int"):
        verify(3)
    with pytest.raises(GeomrelaxError, match="n_points must be an integer >= 8, got 2"):
        verify("box", n_points=2)
    with pytest.raises(GeomrelaxError, match="seed must be an integer >= 0, got -1"):
        verify("box", seed=-1)
    with pytest.raises(InvalidRegularizerError, match="empty"):
        verify("  ")


# ------------------------------------------------------------------------------------------------
# routing to other modules (stand-ins until geomrelax.symbolic / geomrelax.crosscheck are present)
# ------------------------------------------------------------------------------------------------
def test_expression_is_routed_through_from_expr(monkeypatch):
    calls = []

    def from_expr(expr, domain=None, **kw):
        calls.append((expr, domain))
        return dataclasses.replace(gr.regularizer("box_quadratic"), name=f"expr:{expr}")

    monkeypatch.setitem(sys.modules, "geomrelax.symbolic", types.SimpleNamespace(from_expr=from_expr))
    rep = verify("x**2/2", domain=(-1, 1), **FAST)
    assert calls == [("x**2/2", (-1, 1))] and rep.passed and rep.regularizer == "expr:x**2/2"


def test_expression_without_symbolic_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "geomrelax.symbolic", None)
    with pytest.raises(InvalidRegularizerError, match="not a built-in.*geomrelax.symbolic"):
        verify("x**4 + x**2")


@dataclasses.dataclass
class FakeCross:
    """The fields of geomrelax.crosscheck.CrossCheckResult that verify reads."""

    passed: bool
    distance: float
    tolerance: float
    outcome: str = "agree"
    status: str = "optimal"
    note: str = ""


def fake_crosscheck(monkeypatch, fn):
    monkeypatch.setitem(sys.modules, "geomrelax.crosscheck", types.SimpleNamespace(cross_check=fn))


def test_crosscheck_results_are_reported(monkeypatch):
    fake_crosscheck(monkeypatch, lambda V, m, tau, **kw: FakeCross(True, 1e-9, 1e-7))
    r = verify("entropic", search=False, n_points=16)["crosscheck_cvxpy"]
    assert r.status == "pass" and r.error == 1e-9 and r.tolerance == 1e-7
    fake_crosscheck(monkeypatch, lambda V, m, tau, **kw: FakeCross(tau < 10, 1e-3 if tau > 10 else 1e-9, 1e-7,
                                                                   "agree" if tau < 10 else "disagree"))
    r = verify("entropic", search=False, n_points=16)["crosscheck_cvxpy"]
    assert r.status == "fail" and r.error == 1e-3 and r.counterexample["tau"] == 30.0
    assert "disagree" in r.note


def test_crosscheck_unavailable_is_skipped_never_passed(monkeypatch):
    monkeypatch.setitem(sys.modules, "geomrelax.crosscheck", None)
    r = verify("entropic", search=False, n_points=16)["crosscheck_cvxpy"]
    assert r.status == "skipped" and "not available" in r.note

    no_form = FakeCross(False, float("nan"), float("nan"), "not_expressible", "not_expressible",
                        "cvxpy cannot express exp(x**3)")
    fake_crosscheck(monkeypatch, lambda V, m, tau, **kw: no_form)
    r = verify("entropic", search=False, n_points=16)["crosscheck_cvxpy"]
    assert r.status == "skipped" and "cannot express exp(x**3)" in r.note


@pytest.mark.parametrize("how", ["result", "raise"])
def test_crosscheck_solver_failure_is_a_failure(monkeypatch, how):
    solvers = []

    def broken(V, m, tau, solver=None, **kw):
        solvers.append(solver)
        if how == "raise":
            raise SolverError("solver status infeasible_inaccurate", status="infeasible_inaccurate")
        return FakeCross(False, float("nan"), float("nan"), "solver_failed", "infeasible_inaccurate")

    fake_crosscheck(monkeypatch, broken)
    r = verify("entropic", search=False, n_points=16)["crosscheck_cvxpy"]
    assert r.status == "fail" and "infeasible_inaccurate" in r.note
    assert solvers == [None, "SCS"]  # the default solver, then SCS, before giving up

    # a solver that fails first and succeeds with SCS: the SCS result counts
    def flaky(V, m, tau, solver=None, **kw):
        return FakeCross(solver == "SCS", 1e-9, 1e-7, "agree" if solver == "SCS" else "solver_failed")

    fake_crosscheck(monkeypatch, flaky)
    assert verify("entropic", search=False, n_points=16)["crosscheck_cvxpy"].status == "pass"


def test_real_crosscheck_when_present():
    pytest.importorskip("geomrelax.crosscheck")
    rep = verify("entropic", search=False, n_points=16)
    assert rep["crosscheck_cvxpy"].status == "pass", rep.format()
    bad = verify(planted(grad_conj_fn=lambda s: np.tanh(1.05 * s)), search=False, n_points=16)
    assert bad["crosscheck_cvxpy"].status == "fail"


def test_expression_end_to_end():
    pytest.importorskip("geomrelax.symbolic")
    rep = verify("cosh(x) - 1", domain=(-1, 1), **FAST)
    assert rep.passed and rep.regularizer == "cosh(x) - 1", rep.format()
    assert rep["limit_tau_inf_lmo"].status == "pass"  # bounded domain: the hard LMO exists
    unbounded = verify("x**2/2 + x**4/4", domain=(-np.inf, np.inf), **FAST)
    assert unbounded.passed and unbounded["limit_tau_inf_lmo"].status == "skipped"
    with pytest.raises(gr.NotStronglyConvexError, match="not strongly convex"):
        verify("x**4", domain=(-1, 1))
