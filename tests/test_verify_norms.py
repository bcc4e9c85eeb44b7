"""verify's curvature checks measure ||.|| and ||.||_* through geomrelax.norms: every norm name it knows
is checked (not only the six verify once tabulated), and a norm that does not fit V's events is refused."""

import dataclasses

import numpy as np
import pytest

import geomrelax as gr
from geomrelax.norms import dual_norm, norm_value, parse_norm
from geomrelax.spectral import Spectral
from geomrelax.verify.geometry import event_norm, norm_spec

FAST = dict(search=False, n_points=16, crosscheck=False)
ENTROPIC = gr.regularizer("entropic")  # separable, v'' = 1/(1 - x^2) >= 1: mu = 1 in l2, tight at 0


def _with_norm(norm, spectral=False):
    if spectral:
        V = Spectral(ENTROPIC)
        V.norm = norm
        return V
    return dataclasses.replace(ENTROPIC, name="planted", norm=norm)


def _curvature(rep):
    sc, sm = rep["strong_convexity"], rep["smoothness_conj"]
    # a verdict from measured points (the note's observed constant), not from a check that raised
    assert "smallest observed" in sc.note and "largest observed" in sm.note, rep.format()
    return sc.status, sm.status


def test_fro_is_the_frobenius_norm_by_name():
    assert parse_norm("fro") == parse_norm("frobenius")
    # on vectors the Frobenius norm is l2, so Regularizer's default 'fro' stays valid for vector V
    assert norm_spec("fro", 1) == parse_norm("l2") and norm_spec("fro", 2) == parse_norm("frobenius")


def test_event_norm_matches_the_definitions():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3, 2))
    np.testing.assert_allclose(event_norm(parse_norm("l1"), a, 2), np.abs(a).sum(axis=(1, 2)), rtol=1e-15)
    s = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(event_norm(parse_norm("nuclear"), a, 2, dual=True), s[:, 0], rtol=1e-14)
    np.testing.assert_array_equal(event_norm(parse_norm("l2"), a[:, :, 0], 1), norm_value("l2", a[:, :, 0]))
    np.testing.assert_array_equal(event_norm(parse_norm("l1"), a[:, :, 0], 1, dual=True),
                                  dual_norm("l1", a[:, :, 0]))
    # geomrelax.norms refuses non-finite input; a check's point with one gets inf / NaN, as a sum would
    b = a[:, :, 0].copy()
    b[1, 0], b[2, 2] = np.inf, np.nan
    out = event_norm(parse_norm("linf"), b, 1)
    assert out[1] == np.inf and np.isnan(out[2]) and np.all(np.isfinite(out[[0, 3, 4]]))


@pytest.mark.parametrize("norm, holds", [("linf", True), ("l1", False), ("fro", True)])
def test_vector_norms_are_checked(norm, holds):
    # mu = 1 in l2 and ||d||_inf <= ||d||_2 <= ||d||_1 (d = 4 coordinates): true in linf, false in l1
    rep = verify_planted(_with_norm(norm))
    want = ("pass", "pass") if holds else ("fail", "fail")
    assert _curvature(rep) == want, rep.format()


@pytest.mark.parametrize("norm, holds", [("schatten:2", True), ("spectral", True), ("kyfan:2", False)])
def test_norms_only_geomrelax_norms_knew_are_now_checked(norm, holds):
    # the lift is 1-strongly convex in Frobenius (= schatten:2); sigma_1 <= ||.||_F <= KF_2 (= nuclear on
    # 3 x 2): mu = 1 holds in the spectral norm and fails in kyfan:2. Before, schatten:2 and kyfan:2 were
    # skipped as unknown.
    rep = verify_planted(_with_norm(norm, spectral=True))
    want = ("pass", "pass") if holds else ("fail", "fail")
    assert _curvature(rep) == want, rep.format()


def test_a_matrix_norm_on_vectors_fails_with_the_reason():
    rep = verify_planted(_with_norm("nuclear"))
    for name in ("strong_convexity", "smoothness_conj"):
        assert rep[name].status == "fail" and "matrix norm" in rep[name].note, rep.format()


def test_an_unknown_norm_is_skipped_with_its_name():
    rep = verify_planted(_with_norm("l3"))
    for name in ("strong_convexity", "smoothness_conj"):
        assert rep[name].status == "skipped" and "'l3'" in rep[name].note


def verify_planted(V):
    return gr.verify(V, **FAST)


@pytest.mark.parametrize("norm, search_dim", [("l2", 1), ("fro", 1), ("l1", 4), ("linf", 4)])
def test_separable_search_is_scalar_only_for_l2(norm, search_dim):
    # per-coordinate (scalar) search is exhaustive only when ||.||^2 is a sum over coordinates
    from geomrelax.verify.curvature import _check_smoothness, _check_strong_convexity
    from geomrelax.verify.geometry import geometry

    geo = geometry(_with_norm(norm))
    for make in (_check_strong_convexity, _check_smoothness):
        spec = make(geo, np.random.default_rng(0), 8, True)
        assert {a.shape[1:] for a in spec.search_points.values()} == {(search_dim,)}
