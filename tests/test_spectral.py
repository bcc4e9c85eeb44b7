"""Spectral lifting (Lewis): closed forms against the SVD-free formula and finite differences."""

import numpy as np
import pytest

import geomrelax as gr
from geomrelax.errors import InvalidRegularizerError, InvalidTemperatureError
from geomrelax.regularizers import SeparableRegularizer


def spectrum_matrix(rng, rows, cols, lo=1e-3, hi=1.0):
    """A matrix whose singular values span [lo, hi] log-uniformly."""
    r = min(rows, cols)
    u, _ = np.linalg.qr(rng.standard_normal((rows, r)))
    w, _ = np.linalg.qr(rng.standard_normal((cols, r)))
    s = np.geomspace(hi, lo, r)
    return (u * s) @ w.T, s


@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (5, 5), (3, 6, 4)])
@pytest.mark.parametrize("tau", [0.3, 10.0, 1e3])
def test_smoothed_polar_eigh_equals_svd_lift(shape, tau):
    rng = np.random.default_rng(0)
    M = rng.standard_normal(shape)
    S = gr.spectral("algebraic")
    lifted = S.grad_conj(tau * M)
    # the eigh route squares the condition number: error ~ eps * cond(M)^2 relative to ||M||
    np.testing.assert_allclose(gr.smoothed_polar(M, tau, method="eigh"), lifted, atol=1e-10)
    np.testing.assert_allclose(gr.smoothed_polar(M, tau, method="svd"), lifted, atol=1e-13)


def test_spectral_box_lmo_is_minus_polar_and_support_is_nuclear():
    rng = np.random.default_rng(1)
    M = rng.standard_normal((6, 4))
    S = gr.spectral("box")
    P = gr.polar(M)
    np.testing.assert_allclose(gr.relaxed_lmo(S, M, np.inf), -P, atol=1e-14)
    np.testing.assert_allclose(S.support(M), np.linalg.norm(M, "nuc"), rtol=1e-14)
    # the polar factor is the argmax of <M, D> over the spectral-norm ball
    assert np.sum(M * P) == pytest.approx(np.linalg.norm(M, "nuc"), rel=1e-14)


@pytest.mark.parametrize("name", ["box", "box_quadratic", "entropic", "ball_quadratic"])
def test_spectral_lmo_keeps_float32(name):
    # the base's weights come back in float64; the lift must not promote a float32 LMO (it read as outside
    # a float32 ball before). float32 SVD: the result agrees with the float64 one to ~1e-6 of its scale
    M = np.random.default_rng(4).standard_normal((6, 4))
    S = gr.spectral(name)
    d32 = S.lmo(M.astype(np.float32))
    assert d32.dtype == np.float32
    np.testing.assert_allclose(d32, S.lmo(M), atol=64 * 6 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("name", ["euclidean", "box_quadratic", "entropic", "algebraic", "ball_quadratic"])
def test_lewis_gradient_by_finite_differences(name):
    rng = np.random.default_rng(2)
    S = gr.spectral(name)
    Y = rng.standard_normal((5, 3)) * 1.5
    G = S.grad_conj(Y)
    h = 1e-6
    fd = np.zeros_like(Y)
    for idx in np.ndindex(Y.shape):
        E = np.zeros_like(Y)
        E[idx] = h
        fd[idx] = (S.conj(Y + E) - S.conj(Y - E)) / (2 * h)
    # truncation h^2/6 * |third derivative| (bounded by a few units for these) + rounding 1e-16 |F*| / h
    np.testing.assert_allclose(G, fd, atol=1e-7)


def test_spectral_fenchel_young_equality_and_domain():
    rng = np.random.default_rng(3)
    S = gr.spectral("entropic")
    Y = rng.standard_normal((4, 6, 5)) * 3
    X = S.grad_conj(Y)
    assert np.all(S.contains(X))
    gap = S.value(X) + S.conj(Y) - np.sum(X * Y, axis=(-2, -1))
    np.testing.assert_allclose(gap, 0.0, atol=1e-11)
    Z = S.sample_domain(rng, (3, 4, 5), margin=0.1)
    assert np.all(np.linalg.svd(Z, compute_uv=False) <= 0.9 + 1e-12)


def test_spectral_refusals():
    with pytest.raises(InvalidRegularizerError, match="vector regularizer"):
        gr.spectral(gr.spectral("box"))
    skew = SeparableRegularizer(
        name="skew", v=lambda x: x * x / 2, dv=lambda x: x, d2v=np.ones_like, conj_fn=lambda s: s * s / 2,
        grad_conj_fn=lambda s: s, domain=(-1.0, 2.0), mu=1.0, hess0=1.0,
    )
    with pytest.raises(InvalidRegularizerError, match="absolutely symmetric"):
        gr.spectral(skew)
    with pytest.raises(ValueError, match="matrix"):
        gr.spectral("box").grad_conj(np.ones(3))
    with pytest.raises(InvalidTemperatureError):
        gr.smoothed_polar(np.eye(2), -1.0)


def test_spectral_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    Y = rng.standard_normal((2, 5, 3))
    S = gr.spectral("algebraic")
    np.testing.assert_allclose(S.torch_grad_conj(torch.from_numpy(Y)).numpy(), S.grad_conj(Y), atol=1e-13)


@pytest.mark.parametrize("name", ["box", "entropic", "algebraic", "box_quadratic"])
def test_map_outputs_count_as_inside_the_domain(name):
    """The SVD returns singular values of polar factors at 1 + O(r eps); they must stay feasible."""
    rng = np.random.default_rng(7)
    S = gr.spectral(name)
    for _ in range(20):
        M = rng.standard_normal((9, 6))
        for D in (S.lmo(M), S.grad_conj(1e6 * M)):
            assert S.contains(D)
            assert np.isfinite(S.value(D))
    assert not S.contains(1.01 * S.lmo(rng.standard_normal((9, 6))))
