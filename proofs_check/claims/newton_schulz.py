"""Newton-Schulz iterations of the Muon family, and the SoftMuon spectral maps against the exact one.

Quintic (Muon, coefficients a, b, c = 3.4445, -4.7750, 2.0315): on a singular value x = sigma/||G||_F
five steps apply p(x) = a x + b x^3 + c x^5 five times. A dense grid (4e6 points) and the search
below give, for x in [0.05, 1], the band p^5(x) in [0.681831, 1.134357] (minimum near x = 0.21,
maximum near x = 0.68): the claim is the band [0.6818, 1.1344]. The band [0.7, 1.2] that is often
quoted is too tight at the bottom (expected violated). The docstring of
geomrelax.optim.spectral_maps.newton_schulz5 states [0.68, 1.21] for x >= 2e-3 (checked too).

Coupled inverse square root (official SoftMuon): on an eigenvalue x of the normalised Gram matrix
(Y_0 = x, Z_0 = 1) the product w = z y evolves as w -> w (3 - w)^2 / 4 and the map's relative error on
that direction is 1 - sqrt(w_k). Small w grow only 9/4-fold per step, so the steps needed for a
precision grow like log(1/x) / log(9/4): the claim is that N(x) = ceil(log(1/x)/log(9/4)) + 4
steps reach 1e-3 for every x in [1e-12, 1]; with the official 5 steps, 1% is reached for x >= 0.074
(the exact threshold is 0.0731), not for x >= 1e-3 (expected violated).

Spectral maps (geomrelax.optim.spectral_maps), on 6 x 4 matrices with singular values over three
decades and tau in [10, 1e9]:
  exact     = the numpy SVD formula (geomrelax.spectral.smoothed_polar, method 'svd') within
              TOL (1 + tau ||G||_2) sqrt(n): the map's Lipschitz constant is sup f' = tau
  official  in float64 = the scalar model: on each singular direction the relative error is
              1 - sqrt(w_5(x_i)), x_i = (sigma_i^2 + tau^-2)/||G^T G + tau^-2 I||_F (the smaller side), up to float64 rounding
  minimax   relative error <= MINIMAX_ERROR_BOUND (1e-2) on every singular direction above the documented
            float32 floor FLOAT32_FLOOR (sum_i sigma_i^8)^(1/8) (an earlier documented 2.6e-3 was refuted by this
            claim: 6.4e-3 on a 6x4 input, with the 7-quintic Gram design)
  minimax-half  bfloat16: error relative to f(sigma_1) <= HALF_ERROR_BOUND (5e-2) on every direction above
            HALF_FLOOR sigma_1, never NaN (the module's documented half-precision bound)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from geomrelax.optim.spectral_maps import (FLOAT32_FLOOR, HALF_ERROR_BOUND, HALF_FLOOR, MINIMAX_ERROR_BOUND, map_errors,
                                           smoothed_polar as torch_smoothed_polar)
from geomrelax.spectral import smoothed_polar
from geomrelax.verify import TOL

from ..claim import Claim

NS5 = (3.4445, -4.7750, 2.0315)
BAND = (0.6818, 1.1344)
QUOTED_BAND = (0.7, 1.2)
DOC_BAND = (0.68, 1.21)
EPS = float(np.finfo(np.float64).eps)


def _ns5_scalar(x, steps=5):
    a, b, c = NS5
    for _ in range(steps):
        x = a * x + b * x ** 3 + c * x ** 5
    return x


def ns5_band(lo_x, band, ident, expected="holds", note="") -> Claim:
    lo, hi = band

    def margin(z):
        y = _ns5_scalar(z[0])
        return max(lo - y, y - hi)

    return Claim(id=ident, source="Muon (Jordan et al. 2024; torch.optim.Muon) quintic Newton-Schulz" + note,
                 description=f"p^5(x) in [{lo}, {hi}] for x in [{lo_x}, 1], p(x) = 3.4445 x - 4.7750 x^3 + 2.0315 x^5",
                 assumptions="exact arithmetic on one singular value x = sigma / ||G||_F",
                 sample=lambda rng: np.array([rng.uniform(lo_x, 1.0)]), margin=margin,
                 bounds=[[lo_x, 1.0]], expected=expected,
                 tags=("newton-schulz", "muon") + (("finding",) if expected == "violated" else ()))


def coupled_error(x, steps):
    """1 - sqrt(w_k) after k coupled steps from w_0 = x (the relative error on that direction)."""
    w = x
    for _ in range(steps):
        w = w * (3 - w) ** 2 / 4
    return 1 - np.sqrt(w)


def coupled_steps_claim() -> Claim:
    def margin(z):
        x = 10.0 ** z[0]
        n = math.ceil(math.log(1.0 / float(x)) / math.log(9 / 4)) + 4
        return coupled_error(x, n) - 1e-3

    return Claim(id="newton-schulz/coupled-steps-for-1e-3",
                 source="SoftMuon official code (coupled Newton-Schulz inverse square root): reconstruction of its convergence",
                 description="ceil(log(1/x)/log(9/4)) + 4 coupled steps give relative error <= 1e-3 on an eigenvalue x of the normalised Gram matrix",
                 assumptions="x = 10^z in [1e-12, 1], exact arithmetic", sample=lambda rng: np.array([rng.uniform(-12, 0)]),
                 margin=margin, bounds=[[-12.0, 0.0]], theoretical=1e-3, bound="upper",
                 tags=("newton-schulz", "softmuon"))


def coupled_official_claim(x_min: float, expected: str) -> Claim:
    return Claim(id=f"newton-schulz/coupled-5-steps-1pct-from-{x_min:g}",
                 source="SoftMuon official code (5 coupled Newton-Schulz steps)",
                 description=f"5 coupled steps give relative error <= 1e-2 for every eigenvalue x >= {x_min:g} of the normalised Gram matrix",
                 assumptions="exact arithmetic", sample=lambda rng: np.array([rng.uniform(math.log10(x_min), 0)]),
                 margin=lambda z: coupled_error(10.0 ** z[0], 5) - 1e-2, bounds=[[math.log10(x_min), 0.0]],
                 theoretical=1e-2, bound="upper", expected=expected,
                 tags=("newton-schulz", "softmuon") + (("finding",) if expected == "violated" else ()))


# -- the maps on matrices -----------------------------------------------------------------------------
SHAPE = (6, 4)
_R = min(SHAPE)


def _matrix(z):
    """(G, tau) from z = [log10 tau, log10 sigma (r), raw U (6x4), raw W (4x4)]."""
    tau = 10.0 ** z[0]
    s = 10.0 ** np.clip(z[1:1 + _R], -3.0, 0.0)
    u, _ = np.linalg.qr(z[1 + _R:1 + _R + 24].reshape(SHAPE) + 1e-3 * np.eye(*SHAPE))
    w, _ = np.linalg.qr(z[1 + _R + 24:].reshape(_R, _R) + 1e-3 * np.eye(_R))
    return (u * s) @ w.T, tau


def _sample(rng):
    return np.concatenate([[rng.uniform(1, 9)], rng.uniform(-3, 0, size=_R), rng.standard_normal(24 + _R * _R)])


def _edges(rng):
    # spectra at the ends: all singular values equal, one at 1e-3 and the rest at 1, three decades evenly
    rows = []
    for s in (np.zeros(_R), np.array([0, 0, 0, -3.0]), np.linspace(0, -3, _R), np.array([0, -3, -3, -3.0])):
        for lt in (1.0, 3.0, 9.0):
            rows.append(np.concatenate([[lt], s, rng.standard_normal(24 + _R * _R)]))
    return np.array(rows)


_BOUNDS = [[1.0, 9.0]] + [[-3.0, 0.0]] * _R + [[-np.inf, np.inf]] * (24 + _R * _R)


def exact_map_claim() -> Claim:
    def parts(z):
        G, tau = _matrix(z)
        Y = torch_smoothed_polar(torch.from_numpy(G), tau, method="exact").numpy()
        return G, tau, float(np.linalg.norm(Y - smoothed_polar(G, tau, method="svd")))

    def allowance(z):
        G, tau, _ = parts(z)
        return TOL * (1 + tau * np.linalg.norm(G, 2)) * math.sqrt(_R)

    return Claim(id="spectral-map/exact", source="geomrelax.optim.spectral_maps (exact map) vs the SVD formula of the "
                 "spectral algebraic regularizer", description="||S_exact(G) - U f(sigma) W^T||_F <= TOL (1 + tau ||G||_2) sqrt(r)",
                 assumptions="G 6x4, sigma in [1e-3, 1], tau in [10, 1e9]", sample=_sample, edges=_edges,
                 margin=lambda z: parts(z)[2], allowance=allowance, hp_route=False, bounds=_BOUNDS, cost=10.0,
                 tags=("spectral-map", "softmuon"))


def official_model_claim() -> Claim:
    def parts(z):
        G, tau = _matrix(z)
        Y = torch_smoothed_polar(torch.from_numpy(G), tau, method="official", dtype=torch.float64).numpy()
        u, s, wt = np.linalg.svd(G, full_matrices=False)
        f = tau * s / np.hypot(1.0, tau * s)
        per = np.linalg.norm(Y @ wt.T, axis=0)  # Y w_i = (1 - e_i) f(sigma_i) u_i
        measured = 1.0 - per / f
        A = G.T @ G + np.eye(_R) / tau ** 2  # the Gram matrix of the smaller side, as the official code
        x = (s ** 2 + 1.0 / tau ** 2) / np.linalg.norm(A)
        return measured, coupled_error(x, 5), x

    def margin(z):
        measured, model, _ = parts(z)
        return float(np.max(np.abs(measured - model)))

    def allowance(z):
        # 3 products of 4x4 matrices per step, 5 steps: float64 rounding ~ n eps per product relative
        # to the factors' norms (<= 1 for Y, T; Z grows like x^-1/2 at most): 64 eps n steps / sqrt(x_min)
        _, _, x = parts(z)
        return TOL * _R * 5 / math.sqrt(float(np.min(x)))

    return Claim(id="spectral-map/official-model", source="SoftMuon official code, run in float64: the scalar model "
                 "w -> w(3-w)^2/4 of its coupled Newton-Schulz", description="on each singular direction the official "
                 "map's relative error equals 1 - sqrt(w_5(x_i)), x_i = (sigma_i^2 + tau^-2)/||G^T G + tau^-2 I||_F",
                 assumptions="float64, 5 steps, G 6x4, sigma in [1e-3, 1], tau in [10, 1e9]", sample=_sample,
                 edges=_edges, margin=margin, allowance=allowance, hp_route=False, bounds=_BOUNDS, cost=10.0,
                 tags=("spectral-map", "softmuon"))


def minimax_claim() -> Claim:
    def margin(z):
        G, tau = _matrix(z)
        Gt = torch.from_numpy(G)
        s = np.linalg.svd(G, compute_uv=False)
        floor = FLOAT32_FLOOR * float(np.sum((s / s[0]) ** 8)) ** 0.125
        _, spectral = map_errors(torch_smoothed_polar(Gt, tau, method="minimax"), Gt, tau, floor=floor)
        return spectral - MINIMAX_ERROR_BOUND

    return Claim(id="spectral-map/minimax", source="geomrelax.optim.spectral_maps module documentation (minimax map)",
                 description=f"minimax map (float32): relative error <= {MINIMAX_ERROR_BOUND:g} on every singular direction",
                 assumptions="G 6x4, sigma in [1e-3, 1] (three decades), tau in [10, 1e9]", sample=_sample,
                 edges=_edges, margin=margin, hp_route=False, allowance=lambda z: 0.0, bounds=_BOUNDS, cost=10.0,
                 theoretical=MINIMAX_ERROR_BOUND, bound="upper", tags=("spectral-map", "softmuon"))


def minimax_half_claim() -> Claim:
    def margin(z):
        G, tau = _matrix(z)
        Gt = torch.from_numpy(G)
        Y = torch_smoothed_polar(Gt, tau, method="minimax", dtype=torch.bfloat16)
        if not bool(torch.isfinite(Y).all()):
            return math.inf
        return map_errors(Y, Gt, tau, floor=HALF_FLOOR, relative="top")[1] - HALF_ERROR_BOUND

    return Claim(id="spectral-map/minimax-bf16", source="geomrelax.optim.spectral_maps module documentation "
                 "(minimax map in bfloat16)", description=f"minimax map (bfloat16): error relative to f(sigma_1) "
                 f"<= {HALF_ERROR_BOUND:g} on every singular direction above {HALF_FLOOR:g} sigma_1, never NaN",
                 assumptions="G 6x4, sigma in [1e-3, 1] (three decades), tau in [10, 1e9]", sample=_sample,
                 edges=_edges, margin=margin, hp_route=False, allowance=lambda z: 0.0, bounds=_BOUNDS, cost=10.0,
                 theoretical=HALF_ERROR_BOUND, bound="upper", tags=("spectral-map", "softmuon"))


def claims() -> list:
    return [
        ns5_band(0.05, BAND, "newton-schulz/ns5-band"),
        ns5_band(0.05, QUOTED_BAND, "newton-schulz/ns5-quoted-band", expected="violated", note=" (commonly quoted band)"),
        ns5_band(2e-3, DOC_BAND, "newton-schulz/ns5-docstring-band", note="; band stated in geomrelax.optim.spectral_maps"),
        coupled_steps_claim(),
        coupled_official_claim(0.074, "holds"),
        coupled_official_claim(1e-3, "violated"),
        exact_map_claim(), official_model_claim(), minimax_claim(), minimax_half_claim(),
    ]
