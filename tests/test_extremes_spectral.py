"""smoothed_polar and the spectral lifts on ill-conditioned matrices and at extreme tau.

The map acts on singular values: sigma_i(result) = f(sigma_i(M)), f(s) = tau s / sqrt(1 + tau^2 s^2).
Tolerance, derived per singular value, with p = 2 max(rows, cols) for the backward error of a LAPACK
SVD (p(m, n) eps ||A||, p a modest polynomial in the dimensions):
  - building M = U diag(s) W^T and the algorithm's own SVD move each sigma_i by <= p eps sigma_max
    (Weyl), which moves f by f'(s) times that: relative 2 p eps (sigma_max / s) / (1 + tau^2 s^2)
    (d log f / d log s = 1 / (1 + tau^2 s^2));
  - forming the result (r-term sums of products of factors with entries <= 1: r^2 eps in the 2-norm),
    the orthogonality loss of the algorithm's factors U and W (p eps each) and measuring the result's
    singular values (p eps ||result|| <= p eps) add (r^2 + 3 p) eps absolutely;
  - the eigh route, where chosen, adds its relative error r eps cond^2 (measured <= 1.2 r eps cond^2;
    we allow 2 r eps cond^2), which it only accepts up to EIGH_MAX_ULPS eps.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import geomrelax as gr
from geomrelax.spectral import EIGH_MAX_ULPS, smoothed_polar

EPS = np.finfo(np.float64).eps
SHAPES = [(4, 4), (7, 4), (4, 7), (12, 5), (2, 6, 3)]
TAUS = [1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6, 1e8]


def ill_conditioned(rng, shape, lo=-8.0, hi=8.0):
    """A matrix with singular values spread log-uniformly over 10^lo .. 10^hi (both ends included)."""
    *batch, rows, cols = shape
    r = min(rows, cols)
    out, svals = [], []
    for _ in range(int(np.prod(batch)) if batch else 1):
        s = np.sort(np.concatenate([[10.0 ** hi, 10.0 ** lo], 10.0 ** rng.uniform(lo, hi, r - 2)]))[::-1]
        u, _ = np.linalg.qr(rng.standard_normal((rows, r)))
        w, _ = np.linalg.qr(rng.standard_normal((cols, r)))
        out.append((u * s) @ w.T)
        svals.append(s)
    return np.array(out).reshape(shape), np.array(svals).reshape(*batch, r)


def check_map(M, P, tau, eigh: bool):
    assert P.dtype == M.dtype
    EPS = float(np.finfo(M.dtype).eps)
    M, P = M.astype(np.float64), P.astype(np.float64)
    rows, cols = M.shape[-2:]
    r, p = min(rows, cols), 2 * max(rows, cols)
    s = np.linalg.svd(M, compute_uv=False)
    got = np.linalg.svd(P, compute_uv=False)
    ts = tau * s
    f = ts / np.hypot(1.0, ts)
    smax = s[..., :1]
    with np.errstate(divide="ignore"):
        tol = EPS * (2 * p * (smax / s) / (1 + ts * ts) + (r * r + 3 * p) / f)
    if eigh:
        cond2 = (smax[..., 0] / s[..., -1]) ** 2
        tol = tol + np.where(r * cond2 <= EIGH_MAX_ULPS, 2 * r * EPS * cond2, 0.0)[..., None]
    rel = np.abs(got - f) / f
    assert np.all(rel <= tol), f"worst relative error {rel.max():.3g}, {np.max(rel / tol):.3g} x the bound"
    # inside the spectral-norm ball: <= 1 up to the measurement error (and the eigh route's bound)
    assert np.all(got <= 1 + (r * r + 3 * p) * EPS + (EIGH_MAX_ULPS * EPS if eigh else 0.0))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method", ["eigh", "svd"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_smoothed_polar_ill_conditioned(shape, method, dtype):
    rng = np.random.default_rng(11)
    for _ in range(4):
        M, _ = ill_conditioned(rng, shape)
        M = M.astype(dtype)
        for tau in TAUS:
            # measured: the worst error is 0.04-0.6 of this bound depending on the shape
            check_map(M, smoothed_polar(M, tau, method=method), tau, method == "eigh")


def test_smoothed_polar_brief_example():
    # singular values [1e6, 1, 1e-3, 1e-6] at tau = 1e4: the Gram route gave a largest singular value 9.25
    rng = np.random.default_rng(3)
    u, _ = np.linalg.qr(rng.standard_normal((6, 4)))
    w, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    M = (u * np.array([1e6, 1.0, 1e-3, 1e-6])) @ w.T
    for method in ("eigh", "svd"):
        check_map(M, smoothed_polar(M, 1e4, method=method), 1e4, method == "eigh")


@pytest.mark.parametrize("method", ["eigh", "svd"])
def test_smoothed_polar_float_range_ends(method):
    """M near the ends of the float range and tau at 1e+-300: the limits tau M and polar(M), no NaN."""
    rng = np.random.default_rng(5)
    M0 = rng.standard_normal((6, 4))  # well conditioned: both routes agree to ~1e-15
    P0 = gr.polar(M0)
    for scale in (1e-300, 1e-160, 1.0, 1e160, 1e300):
        M = M0 * scale
        # tau sigma >= 1e16 for every sigma: the result is polar(M) to within 1/(tau sigma)^2
        tau = 1e16 / scale / np.linalg.svd(M0, compute_uv=False)[-1]
        np.testing.assert_allclose(smoothed_polar(M, tau, method=method), P0, atol=1e-14)
        np.testing.assert_allclose(smoothed_polar(M, math.inf, method=method), P0, atol=1e-14)
        # tau sigma <= 1e-10: the result is tau M to relative (tau sigma)^2 / 2
        tau = 1e-10 / scale / np.linalg.norm(M0, 2)
        np.testing.assert_allclose(smoothed_polar(M, tau, method=method), tau * M, rtol=1e-14,
                                   atol=1e-14 * np.abs(tau * M).max())
    assert np.array_equal(smoothed_polar(np.zeros((3, 2)), 1.0, method=method), np.zeros((3, 2)))


def test_eigh_route_kept_for_well_conditioned():
    """The route choice: a well-conditioned matrix stays on eigh (its result differs from the SVD route's
    by eigh's own rounding, not bit for bit), an ill-conditioned one is redone by the SVD."""
    rng = np.random.default_rng(8)
    u, _ = np.linalg.qr(rng.standard_normal((6, 4)))
    w, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    good = (u * np.array([2.0, 1.5, 1.2, 1.0])) @ w.T
    bad = (u * np.array([1e6, 1.0, 1e-3, 1e-6])) @ w.T
    batch = np.stack([good, bad])
    out = smoothed_polar(batch, 3.0)
    np.testing.assert_array_equal(out[1], smoothed_polar(bad, 3.0, method="svd"))
    assert not np.array_equal(out[0], smoothed_polar(good, 3.0, method="svd"))
    np.testing.assert_allclose(out[0], smoothed_polar(good, 3.0, method="svd"), atol=1e-14)
    # the rule is in the float type's own eps: a well-conditioned float32 matrix stays on eigh too
    g32 = good.astype(np.float32)
    assert not np.array_equal(smoothed_polar(g32, 3.0), smoothed_polar(g32, 3.0, method="svd"))
