"""Matrix maps of the Muon family: Newton-Schulz orthogonalisation and the smoothed polar map.

Muon's direction is the polar factor U W^T of the momentum u = U diag(sigma) W^T (thin SVD),
approximated by a quintic Newton-Schulz iteration (``newton_schulz5``). SoftMuon's transition
direction is the smoothed polar map (the gradient of the conjugate of the spectral algebraic
regularizer at tau u):

    S_tau(u) = u (u^T u + tau^-2 I)^{-1/2} = (u u^T + tau^-2 I)^{-1/2} u
             = U diag(f(sigma)) W^T,   f(s) = s / sqrt(s^2 + tau^-2) = tau s / sqrt(1 + tau^2 s^2),

which tends to the polar factor as tau -> inf and to tau u as tau -> 0. Three ways to compute it
(``smoothed_polar(u, tau, method=...)``):

- ``exact``: the SVD formula in float64 (the reference; float32 allowed).
- ``official``: the coupled Newton-Schulz inverse square root of the official SoftMuon code,
  reproduced step for step (5 steps in bfloat16 by default). It is a poor approximation: a small
  eigenvalue x of the normalised Gram matrix only grows as x -> x (3 - x)^2 / 4 per step, and in
  bfloat16 it overflows to NaN with 20 or more steps for tau >= 100 (see ``official_step_gain``).
- ``minimax`` (the default of the optimizers): greedy minimax odd-polynomial iterations (module
  :mod:`geomrelax.optim.minimax_design`). Writing A = u u^T + tau^-2 I (u is m x n, m <= n after a
  transpose, scaled by ||u||_F) and G_0 = A / c with c = ||(u u^T)^2||_F^{1/2} + tau^-2 >= lambda_max(A)
  (within a factor m^{1/4}), the Gram form keeps polynomials R_k(G_k) (a_k I + b_k G_k + c_k G_k^2 for a
  quintic step, degree 4 in G_k for a nonic one),

      P_{k+1} = R_k P_k,   G_{k+1} = R_k G_k R_k,

  and returns P_K u / sqrt(c) (the first step forms G_1 from [R_0 u, tau^-1 R_0] instead, for accuracy).
  On each eigenvalue g of G_0 the composition phi of the odd polynomials p_k(x) = x R_k(x^2)
  (x = sqrt(g)) gives exactly

      singular value of the result = f(sigma) * phi(sqrt((sigma^2 + tau^-2) / c)),

  and the steps are designed greedily (Remez exchange, as in the Polar Express construction of Amsel
  et al. 2025) so that |phi(x) - 1| <= E on [floor, 1]; below ``floor`` phi rises monotonically from 0
  to 1 - E, so those directions are shrunk (0 <= gain <= f), never enlarged or NaN.

  Forms and designs, costs counted in multiply-adds against NS5 (5 (2 m^2 n + m^3), 15 m^3 square):
  - polar form, when tau is large against the spectrum (shift / c <= E floor^2, i.e. tau sigma_max
    >~ 2e5 in float32): the shift moves f by at most E / 2 above the floor, the target is the polar
    factor and the polynomials act on X itself as NS5 does. float32: 7 quintics from floor 3e-4,
    E = 2.1e-4, 1.4x NS5 on every shape.
  - Gram form (float32, otherwise): steps of degrees (5, 5, 9, 9, 9) from floor 7e-4, E = 9.2e-4, one
    leading step on Z: 4 m^2 n + 18 m^3 = 22/15 NS5 square, 34/45 at 4:1. Six or seven quintics cost
    23 and 27 m^3, and 5 or 6 quintics from 3e-4 reach only E = 0.47 / 0.07: a nonic step (two
    products, Paterson-Stockmeyer) does more per product than a quintic in the Gram form.
  - the Z form (bfloat16 / float16 below the polar band): the quintics act on the m x (n + m) matrix
    Z = [u, tau^-1 I], whose polar factor's first block is S_tau(u) and whose singular values are all
    >= tau^-1; the second block stays a symmetric m x m matrix. Z Z^T is recomputed from the iterate
    every step, so rounding cannot make an eigenvalue negative and feed back (the Gram form's R G R can:
    it went NaN in bfloat16 from tau = 1e3). 2 K m^2 n + (3 K - 3) m^3: 5 quintics = 22/15 NS5 square,
    52/45 at 4:1. Half precision uses 5 quintics from floor 2e-2 in both forms (polar form: 1.0x
    NS5): two of Muon's NS5 quintic, then three greedy ones on their image, each designed with a safety
    margin ([lo, 1.02]: without it the steep steps send x = 1.05 to infinity); E = 4.2e-6.
  When the shift alone lifts the spectrum (shift / c >= floor^2, small tau), fewer quintics designed on
  [sqrt(shift / c), 1] reach the same E (``minimax_plan``): NS5's count or less at tau sigma_max <= 10.

  Accuracy, float32 (against the float64 SVD; ``map_errors``' spectral, per direction relative to
  f(sigma_i)): at most ``MINIMAX_ERROR_BOUND`` = 1e-2 on every direction with sigma >= FLOAT32_FLOOR
  sqrt(c) = 7e-4 (sum_i sigma_i^8)^{1/8}, a floor <= 7e-4 r^{1/8} sigma_max (r = min(m, n); 9e-4
  sigma_max for r = 512 with three decades log-uniform), for every tau including inf. Measured: design
  error plus rounding 1.3e-3 worst on 128 x 128 .. 512 x 512 three-decade inputs, 2.1e-3 worst over
  3000 random 2..64 x 2..64 inputs with tau sigma_max in [1e-2, 1e9] (the previous 7-quintic design:
  7.7e-3 on small matrices; its Gram matrix was formed with the 2e-4 design at floor 3e-4).
  Half precision: rounding u alone moves a direction of singular value sigma by about 2^-9 sigma_rms /
  sigma, so the metric is the error relative to f(sigma_1), max_i ||(Y - S) w_i|| / f(sigma_1) over
  sigma_i >= HALF_FLOOR sigma_1 = 5e-2 sigma_1 (map_errors(..., floor=HALF_FLOOR, relative="top")).
  The error is set by rounding, not by the design: the rounding of u u^T (2^-9 relative in bfloat16)
  enters each step multiplied by about |b| + 2|c| and acts as an input perturbation that later steps
  do not undo (they fix singular values, not directions). A greedy first step from 2e-2 has |b| + 2|c|
  = 25, NS5's 8.8: hence the two leading NS5 steps, which cut the worst bfloat16 error from 0.11 to 0.04.
  Measured with all-bfloat16 products (``products=torch.bfloat16``): <= 1.5e-2 on 8 x 6 .. 512 x 512
  inputs with three decades, tau sigma_max from 1 to inf; <= 2.7e-2 over 600 random 2..64 x 2..64 inputs
  (tau sigma_max 1e-2 .. 1e9) and <= 4.1e-2 over 600 random 4 x 6 .. 48 x 48 ones (``HALF_ERROR_BOUND`` =
  5e-2). Muon's bfloat16 NS5 in the same metric: 0.32 against the polar factor (its design: singular
  values in [0.68, 1.13]), and its rounding part alone (bfloat16 NS5 against float32 NS5) 1.7e-2 ..
  3.3e-2 on the three-decade inputs, 4.4e-2 worst on 1000 random ones. Rounding the input alone to
  bfloat16 moves the exact map by up to 9.3e-3 in this metric, so no all-bfloat16 iteration of this kind
  reaches 1e-2.
  Hence on CUDA both half dtypes run their products in float16 by default: float16's 10-bit significand
  against bfloat16's 7, on tensor cores at the same rate as bfloat16 (A100, H100, H200, MI300). CPUs keep
  the dtype asked for (``products=torch.float16`` chooses the accurate route there too): most have no
  float16 units, and where bfloat16 has them (AVX512-BF16, AMX) it is the fast one. There the 1e-2 is
  out of reach at bfloat16 speed: torch 2.13's CPU matmul rounds a bfloat16 product's output to bfloat16
  (no float32-output variant on CPU: ``mm(..., out_dtype=)`` is CUDA-only), and that rounding, amplified
  by the early steps, is the error above. The input is
  scaled by its Frobenius norm first (every entry of X, X X^T, (X X^T)^2 <= 1), so float16's range is
  enough; a bfloat16 input converts exactly wherever it lands in float16's normal range, and entries
  below it (under 6e-5 of the Frobenius norm) keep an absolute error of 2^-25, less than a normal
  entry's rounding. A ``dtype=torch.bfloat16`` map returns bfloat16. Measured: <= 2.7e-3 (three
  decades, float32 or bfloat16 inputs, the latter against the exact map of the bfloat16 input) and
  <= 3.1e-3 over the 600 random inputs, as bfloat16 results; float16 <= 2.5e-3. Both within 1e-2 at
  the bfloat16 NS5's cost (22/15 at most, counted).

Dtypes: NS5 runs in bfloat16 on CUDA and float32 elsewhere: on CPUs without bfloat16 units a
bfloat16 NS5 is very slow (about 23 s for 1024 x 1024 against 0.3 s in float32), and float32 gives
the same numbers on every CPU (on one with AVX512-BF16, bfloat16 was measured 2x faster than
float32: pass ``dtype=torch.bfloat16`` there). The minimax map defaults to float16 on CUDA (tensor-core
speed, within 1e-2) and float32 elsewhere (CPUs without float16 units multiply float16 matrices slowly:
a 512 x 512 product took 0.11 s on the second build machine against 1.7 ms in float32 and 0.4 ms in
bfloat16). Every map returns its working dtype (the minimax map: the dtype asked for); the
caller casts. Matrices are the last two axes; leading axes are a batch. Non-finite input gives
non-finite output: the optimizers check their gradients before calling these maps.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import torch

from .. import updates as U
from ..errors import GeomrelaxError
from ..lmo import check_tau
from ..updates import NS5_COEFFICIENTS, NS5_EPS
from . import minimax_design as D

MINIMAX_STEPS = 7
MINIMAX_FLOOR = 3e-4
MINIMAX_ERROR_BOUND = 1e-2  # per direction, relative, above the float32 floor: see the module docstring
OFFICIAL_STEPS = 5
_Z_STEPS = 1  # leading minimax steps taken on [u, tau^-1 P] rather than on the Gram matrix


class Design(NamedTuple):
    """A minimax design: floor, steps (K quintics or a sequence of odd degrees), safety margin above 1,
    the most quintics a small-tau plan may use instead (so that it never costs more), and the error a
    plan may have where it exceeds the design's E (half precision: E = 8e-7 is far below rounding)."""
    floor: float
    steps: object
    safety: float
    max_quintics: int
    plan_error: float = 0.0
    lead: int = 0


POLAR_DESIGN = Design(MINIMAX_FLOOR, MINIMAX_STEPS, 0.0, 6)     # float32, tau large: 1.4x NS5, E = 2.1e-4
GRAM_DESIGN = Design(7e-4, (5, 5, 9, 9, 9), 1e-3, 5)            # float32, the Gram form: 1.47x NS5 square, E = 9.2e-4
HALF_DESIGN = Design(2e-2, 5, 0.02, 4, 2.0 ** -10, 2)          # bfloat16 / float16, both forms, E = 4.2e-6
FLOAT32_FLOOR = GRAM_DESIGN.floor   # the documented floor: sigma >= floor sqrt(c)
HALF_ERROR_BOUND = 5e-2             # all-bfloat16 products, relative to f(sigma_1), above HALF_FLOOR (float16 products: 1e-2)
HALF_FLOOR = 5e-2                   # half precision: the floor of that bound, sigma / sigma_max
METHODS = ("minimax", "exact", "official")

__all__ = [
    "Design", "FLOAT32_FLOOR", "GRAM_DESIGN", "HALF_DESIGN", "HALF_ERROR_BOUND", "HALF_FLOOR", "METHODS",
    "MINIMAX_ERROR_BOUND", "MINIMAX_FLOOR", "MINIMAX_STEPS", "NS5_COEFFICIENTS", "POLAR_DESIGN", "default_dtype", "map_errors",
    "minimax_coefficients", "minimax_gain", "minimax_plan", "newton_schulz5", "official_step_gain", "smoothed_polar",
    "smoothed_polar_exact", "smoothed_polar_minimax", "smoothed_polar_official",
]


# -- validation ----------------------------------------------------------------------------------
def _check_matrix(G, what: str = "G") -> torch.Tensor:
    if not isinstance(G, torch.Tensor):
        raise GeomrelaxError(f"{what} must be a torch tensor, got {type(G).__name__}")
    if G.ndim < 2:
        raise GeomrelaxError(f"{what} must be a matrix (ndim >= 2, the last two axes), got shape {tuple(G.shape)}")
    if not G.is_floating_point():
        raise GeomrelaxError(f"{what} must be a real floating tensor, got dtype {G.dtype}")
    return G


def _check_steps(steps, what: str = "steps") -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise GeomrelaxError(f"{what} must be an integer >= 1, got {steps!r}")
    return int(steps)


def _check_dtype(dtype, what: str = "dtype") -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise GeomrelaxError(f"{what} must be a floating torch dtype, got {dtype!r}")
    return dtype


def default_dtype(device, method: str = "ns5") -> torch.dtype:
    """The working dtype of a map on a device.

    ``ns5``: bfloat16 on CUDA (tensor cores), float32 elsewhere (a bfloat16 NS5 on a 1024 x 1024
    matrix takes about 23 s on a small CPU, float32 0.3 s). ``minimax``: float16 on CUDA (tensor cores, the
    speed of a bfloat16 NS5, and within 1e-2; a bfloat16 map there also multiplies in float16, see the module
    docstring), float32 elsewhere (CPUs without half-precision units).
    ``official``: bfloat16 (reproduction). ``exact``: float64.
    """
    device = torch.device(device)
    if method == "ns5":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if method == "minimax":
        return torch.float16 if device.type == "cuda" else torch.float32
    if method == "official":
        return torch.bfloat16
    if method == "exact":
        return torch.float64
    raise GeomrelaxError(f"unknown map {method!r}; expected 'ns5' or one of {METHODS}")


def _eye_add_(M: torch.Tensor, value) -> torch.Tensor:
    """M + value I in place on the last two axes (value: a number or a (..., 1, 1) tensor)."""
    d = M.diagonal(dim1=-2, dim2=-1)
    d.add_(value.squeeze(-1) if isinstance(value, torch.Tensor) else value)
    return M


# -- Muon's quintic Newton-Schulz ------------------------------------------------------------------
def newton_schulz5(G, steps: int = 5, coefficients=NS5_COEFFICIENTS, dtype=None, eps: float = NS5_EPS):
    """Muon's quintic Newton-Schulz orthogonalisation: approximately U W^T.

    On the singular values it applies x -> a x + b x^3 + c x^5 five times to x = sigma / ||G||_F;
    with the default coefficients every x >= 2e-3 ends in [0.68, 1.21] (the iteration overshoots
    1 on purpose), smaller ones are only multiplied by about a^5 = 490.

    X <- G / max(||G||_F, eps) (transposed when rows > cols), then ``steps`` times
    A = X X^T, X <- a X + (b A + c A^2) X (:func:`geomrelax.updates.newton_schulz5`, the one
    implementation, shared with the numpy reference). The two updates use fused addmm exactly as
    torch.optim.Muon does, so in the same dtype the result is bitwise that of torch.optim.Muon
    (the official SoftMuon code writes X / (||X||_F + 1e-7) and unfused products: the same
    numbers up to the rounding of the fused products). ``dtype=None`` picks bfloat16 on CUDA and
    float32 elsewhere.
    """
    G = _check_matrix(G)
    steps = _check_steps(steps)
    if len(coefficients) != 3 or not all(math.isfinite(float(v)) for v in coefficients):
        raise GeomrelaxError(f"coefficients must be three finite numbers (a, b, c), got {coefficients!r}")
    if not (isinstance(eps, numbers.Real) and eps > 0):
        raise GeomrelaxError(f"eps must be a number > 0, got {eps!r}")
    dtype = default_dtype(G.device, "ns5") if dtype is None else _check_dtype(dtype)
    return U.newton_schulz5(G.to(dtype), steps, coefficients, eps)


# -- the smoothed polar map -------------------------------------------------------------------------
def _inv_tau2(tau: float) -> float:
    return 0.0 if math.isinf(tau) else 1.0 / (tau * tau)


def smoothed_polar_exact(G, tau, *, dtype=torch.float64) -> torch.Tensor:
    """U diag(tau s / sqrt(1 + tau^2 s^2)) W^T by an SVD in ``dtype`` (float64: the reference).

    tau = inf gives the polar factor (with 0 on a zero singular value).
    """
    G = _check_matrix(G)
    tau = check_tau(tau)
    dtype = _check_dtype(dtype)
    U, s, Vh = torch.linalg.svd(G.to(dtype), full_matrices=False)
    if math.isinf(tau):
        w = (s > 0).to(dtype)
    else:
        ts = tau * s
        w = ts / torch.hypot(torch.ones_like(ts), ts)
    return (U * w.unsqueeze(-2)) @ Vh


def smoothed_polar_official(G, tau, *, steps: int = OFFICIAL_STEPS, dtype=torch.bfloat16) -> torch.Tensor:
    """The official SoftMuon transition map, step for step (coupled Newton-Schulz inverse square root).

    With X = G (transposed when rows > cols) in ``dtype``: A = (X X^T + tau^-2 I) / ||.||_F,
    Y_0 = A, Z_0 = I, then ``steps`` times T = (3I - Z Y)/2, Y <- Y T, Z <- T Z; returns
    Z X / sqrt(||X X^T + tau^-2 I||_F). Z tends to A^{-1/2} only where Z Y is near 1: a small
    eigenvalue x of A evolves as x -> x (3 - x)^2 / 4 (``official_step_gain``).
    """
    G = _check_matrix(G)
    tau = check_tau(tau)
    steps = _check_steps(steps)
    dtype = _check_dtype(dtype)
    X = G.to(dtype)
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    eye = torch.eye(X.size(-2), dtype=dtype, device=X.device)
    A = X @ X.mT
    A = A + eye * _inv_tau2(tau)  # the official code divides I by tau^2 in the working dtype: the same number
    norm = A.norm(dim=(-2, -1), keepdim=True)
    A = A / norm
    Y, Z = A, eye
    for _ in range(steps):
        T = 0.5 * (3 * eye - Z @ Y)
        Y = Y @ T
        Z = T @ Z
    out = (Z @ X) / norm.sqrt()
    return out.mT if transposed else out


def official_step_gain(x):
    """One coupled Newton-Schulz step on an eigenvalue x of the normalised A (Y = x, Z = 1): x -> x (3 - x)^2 / 4.

    The product z y of the eigenvalues of Z and Y is what must reach 1; for small x it only grows
    by 9/4 per step, so 5 steps lift x = 1e-4 to about 0.06 (the reason the official map is off).
    """
    x = np.asarray(x, dtype=np.float64)
    return x * (3 - x) ** 2 / 4


def minimax_coefficients(floor: float = MINIMAX_FLOOR, steps=MINIMAX_STEPS, safety: float = 0.0, lead: int = 0):
    """The greedy minimax design for [floor, 1]: (coefficients per step, E) with |phi - 1| <= E there.

    ``steps``: K (K quintics, coefficients (a, b, c)) or a sequence of odd degrees (3, 5, 7, 9).
    Every step but the last is scaled so that its image of [lo_k, 1] ends at 1; the last one is
    centred on 1 (:func:`geomrelax.optim.minimax_design.design`). Cached.
    """
    return D.design(floor, steps, safety, lead)


def minimax_plan(floor: float = MINIMAX_FLOOR, steps=MINIMAX_STEPS, xmin: float = 0.0, safety: float = 0.0,
                 max_quintics=None, error: float = 0.0, lead: int = 0):
    """The coefficients the minimax map uses when every x = sqrt(g) (g an eigenvalue of G_0) is >= xmin:
    fewer quintics designed on [xmin, 1] when they reach max(E, error) (:func:`minimax_design.plan`)."""
    return D.plan(floor, steps, xmin, safety, max_quintics, error, lead)


def minimax_gain(x, floor: float = MINIMAX_FLOOR, steps=MINIMAX_STEPS, xmin: float = 0.0, safety: float = 0.0,
                 max_quintics=None, error: float = 0.0, lead: int = 0):
    """phi(x): the composed odd polynomials of :func:`minimax_plan`, in float64. The minimax map
    multiplies f(sigma) by phi(x), x = sqrt((sigma^2 + tau^-2) / c)."""
    return D.gain(x, minimax_plan(floor, steps, xmin, safety, max_quintics, error, lead))


def _poly(G, G2, c):
    """(c_0, B) with R(G) = c_0 I + B, B = sum_{j >= 1} c_j G^j (j <= 4); G2 = G^2 when already at hand.

    Products: none for a cubic, one for a quintic (G^2, fused), two for degrees 7 and 9 (G^2 and
    G^2 (c_3 G + c_4 G^2): Paterson-Stockmeyer).
    """
    if len(c) == 2:
        return c[0], G * c[1]
    if len(c) == 3:
        B = torch.baddbmm(G, G, G, beta=c[1], alpha=c[2]) if G2 is None else G * c[1] + G2 * c[2]
        return c[0], B
    G2 = G @ G if G2 is None else G2
    high = G * c[3] if len(c) == 4 else G * c[3] + G2 * c[4]
    return c[0], torch.baddbmm(G * c[1] + G2 * c[2], G2, high)


def _gram_iteration(Xn, A, A2, shift, scale, coeffs, dtype):
    """The design's polynomials on the shifted Gram matrix (the smaller side): returns P_K Xn / sqrt(scale)."""
    steps = len(coeffs)
    w = (shift / scale).to(dtype)
    inv = (1.0 / scale).to(dtype)
    # G0 = (A + shift I) / scale and G0^2 from A and A^2 (no extra product)
    G = _eye_add_(A * inv, w)
    a, B = _poly(G, _eye_add_(A2 * (inv * inv) + A * (2 * w * inv), w * w), coeffs[0])
    R = _eye_add_(B, a)
    # The first step acts on the m x (n + m) matrix Z = [X, sqrt(w scale) I], whose Gram matrix is
    # scale G: a float32 Gram matrix carries an absolute error of about u_32 ||G|| on every
    # eigenvalue, a relative error of up to 10% on the smallest ones (~1e-6 at the start); formed
    # from Z after one step, when they have grown 18-fold, G is accurate enough (measured worst
    # spectral error on three decades with the 7-quintic design: 9e-3 with Gram steps only, 2.6e-3
    # with one Z step, 8e-4 with two, which cost 0.07 NS5 more on a square matrix and 0.15 more at 4:1).
    z = min(_Z_STEPS, steps - 1)
    if z:
        Xn = R @ Xn
        Bw = R * w.sqrt()
        G = (Xn @ Xn.mT).mul_(inv).add_(Bw @ Bw.mT)
        a, B = _poly(G, None, coeffs[1])
        R = _eye_add_(B, a)
    P = R
    for k in range(z + 1, steps):
        # G <- R G R (= R^2 G: all these matrices are polynomials in G0 and commute). R stays near
        # its scalar part, so this keeps small eigenvalues accurate; recomputing P G0 P instead
        # would amplify rounding by ||P||^2 (measured: errors of order 1 at tau = 1e9)
        G = R @ (G @ R)
        a, B = _poly(G, None, coeffs[k])
        R = _eye_add_(B, a)
        P = R @ P
    return (P * scale.rsqrt().to(dtype)) @ Xn


def _polar_iteration(X, A, A2, coeffs):
    """X <- c_0 X + B(A) X with A = X X^T, one step per polynomial (A, A^2 of the first step given)."""
    for k, c in enumerate(coeffs):
        if k:
            A, A2 = X @ X.mT, None
        a, B = _poly(A, A2, c)
        X = torch.baddbmm(X, B, X, beta=a)
    return X


def _z_iteration(X, A, A2, w, coeffs):
    """The polar iteration on Z = [X, sqrt(w) I] (m x (n + m)); returns its first block.

    The polar factor of Z is (X X^T + w I)^{-1/2} [X, sqrt(w) I], so its first block is the smoothed
    polar map, and every singular value of Z is >= sqrt(w): the shift is carried by the second block
    X_2 = sqrt(w) P_k (a polynomial in G0, kept as a matrix). Each step recomputes Z Z^T = X X^T +
    X_2 X_2^T from the iterate, so rounding cannot make an eigenvalue negative and feed back (the
    Gram form's R G R can, and went NaN in bfloat16). Steps after the first cost 2 m^2 n + 3 m^3
    (the last one 2 m^2 n + 2 m^3: X_2 is not needed after it).
    """
    rw = w.sqrt()
    G = _eye_add_(A.clone(), w)
    G2 = _eye_add_(A2 + A * (2 * w), w * w)
    X2 = None
    for k, c in enumerate(coeffs):
        if k:
            G, G2 = torch.baddbmm(X2 @ X2.mT, X, X.mT), None
        a, B = _poly(G, G2, c)
        if k < len(coeffs) - 1:
            X2 = _eye_add_(B * rw, a * rw) if X2 is None else torch.baddbmm(X2, B, X2, beta=a)
        X = torch.baddbmm(X, B, X, beta=a)
    return X


def _polar_form(ratio: float, design: Design) -> bool:
    """True when the map iterates on X itself rather than on the shifted Gram matrix; ratio = max shift / scale.

    The shift then moves f by at most ratio / (2 floor^2) <= E / 2 on every direction above the floor,
    so the polar factor itself is the target: the polynomials act on X as Muon's NS5 does (2 m^2 n + m^3
    a quintic step, 1.4x NS5 for 7 steps on any shape), and in float32 they are more accurate than the
    Gram form (measured worst 2.1e-4 = E on three decades against up to 1.3e-2 for the Gram form on
    small tall matrices). Below the floor phi(x) <= x / sqrt(x^2 + E floor^2) <= f (checked on each
    design): directions are only shrunk.
    """
    return ratio <= D.design(design.floor, design.steps, design.safety, design.lead)[1] * design.floor ** 2


def _is_half(dtype: torch.dtype) -> bool:
    """bfloat16 and float16 (any dtype coarser than float32)."""
    return torch.finfo(dtype).eps > torch.finfo(torch.float32).eps


def _designs(dtype, steps, floor):
    """(polar design, shifted design) for a working dtype; ``steps``/``floor`` given: that quintic design for both."""
    half = _is_half(dtype)
    if steps is None and floor is None:
        return (HALF_DESIGN, HALF_DESIGN) if half else (POLAR_DESIGN, GRAM_DESIGN)
    steps = MINIMAX_STEPS if steps is None else _check_steps(steps)
    custom = Design(MINIMAX_FLOOR if floor is None else floor, steps, HALF_DESIGN.safety if half else 0.0, steps - 1)
    D.design(custom.floor, custom.steps, custom.safety)  # checks floor
    return custom, custom


def _products_dtype(dtype: torch.dtype, products, device) -> torch.dtype:
    """The dtype the products run in: ``dtype``, except that half precision on CUDA multiplies in float16
    for both half dtypes (unless ``products`` says otherwise). CPUs keep the requested half dtype: most have
    no float16 units (a 512 x 512 float16 product took 0.11 s on the build machine, bfloat16 0.4 ms)."""
    half = _is_half(dtype)
    if products is None:
        return torch.float16 if half and torch.device(device).type == "cuda" else dtype
    if not half:
        raise GeomrelaxError(f"products applies to half-precision maps (bfloat16, float16), got dtype={dtype}")
    if products not in (torch.float16, torch.bfloat16):
        raise GeomrelaxError(f"products must be torch.float16 or torch.bfloat16, got {products!r}")
    return products


def smoothed_polar_minimax(G, tau, *, steps=None, floor=None, dtype=torch.float32, products=None) -> torch.Tensor:
    """The smoothed polar map by the greedy minimax iteration (module docstring: forms, designs, bounds).

    The result is U diag(f(sigma) phi(sqrt((sigma^2 + tau^-2)/c))) W^T (up to float rounding) with
    |phi - 1| <= E on [floor, 1]. ``steps``/``floor`` (default: the dtype's designs) set a design of
    that many quintics from that floor for both forms. Half precision (bfloat16, float16) takes the
    polar form or the iteration on Z = [u, tau^-1 I], never the Gram form; on CUDA it multiplies in
    float16 for both (within 1e-2), on CPUs in the dtype asked for (bfloat16: error bound
    ``HALF_ERROR_BOUND``); ``products`` (torch.float16 or torch.bfloat16) chooses. The result has ``dtype``.
    """
    G = _check_matrix(G)
    tau = check_tau(tau)
    out_dtype = _check_dtype(dtype)
    dtype = _products_dtype(out_dtype, products, G.device)
    polar_design, shifted_design = _designs(dtype, steps, floor)
    half = _is_half(dtype)
    X = G.to(torch.float64 if dtype == torch.float64 else torch.float32)
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    batch, (m, n) = X.shape[:-2], X.shape[-2:]
    X = X.reshape(-1, m, n)
    # Scale by the Frobenius norm (taken after scaling by the largest entry, so it cannot overflow):
    # every entry of X X^T and (X X^T)^2 is then <= 1, also in float16; the shift becomes
    # (1 / (tau s0))^2, computed in float64 so that no intermediate over- or underflows.
    s0 = X.abs().amax(dim=(-2, -1), keepdim=True)
    s0 = torch.where(s0 > 0, s0, torch.ones_like(s0))
    s0 = s0 * torch.linalg.matrix_norm(X / s0, keepdim=True)
    zero = s0 == 0
    s0 = torch.where(zero, torch.ones_like(s0), s0)
    Xn = (X / s0).to(dtype)
    A = Xn @ Xn.mT
    A2 = A @ A
    s0d = s0.to(torch.float64)
    shift = torch.zeros_like(s0d) if math.isinf(tau) else (1.0 / (tau * s0d)) ** 2
    # tau s0 < 1e-150 would overflow: the result, tau u, is 0 in float32 anyway, and a capped shift gives 0
    shift = shift.clamp(max=1e300)
    scale = torch.linalg.matrix_norm(A2, keepdim=True, dtype=torch.float64).sqrt() + shift
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # X = 0 and tau = inf: the result is 0 anyway
    inv = (1.0 / scale).to(torch.float64 if dtype == torch.float64 else torch.float32)

    def scaled(M, factor):  # M * factor with the factor in float32: 1 / scale^2 can pass float16's range
        return (M.to(torch.float32) * factor).to(dtype) if half else M * factor.to(dtype)

    # every eigenvalue of G0 is >= shift / scale: for small tau fewer steps reach the same design error
    xmin = math.sqrt(float((shift / scale).min()))
    polar = _polar_form(float((shift / scale).max()), polar_design)
    design = polar_design if polar else shifted_design
    coeffs = minimax_plan(design.floor, design.steps, xmin, design.safety, design.max_quintics, design.plan_error,
                          design.lead)
    if polar:
        out = _polar_iteration(scaled(Xn, inv.sqrt()), scaled(A, inv), scaled(A2, inv * inv), coeffs)
    elif half:
        out = _z_iteration(scaled(Xn, inv.sqrt()), scaled(A, inv), scaled(A2, inv * inv), (shift / scale).to(dtype),
                           coeffs)
    else:
        out = _gram_iteration(Xn, A, A2, shift, scale, coeffs, dtype)
    # u = 0: the result is 0 (a float16 scale can underflow to 0 on the way there)
    out = torch.where(zero, torch.zeros_like(out), out) if half else out
    out = out.reshape(*batch, m, n).to(out_dtype)
    return out.mT if transposed else out


def smoothed_polar(G, tau, method: str = "minimax", *, steps=None, dtype=None, floor=None, products=None):
    """S_tau(G) = G (G^T G + tau^-2 I)^{-1/2} by ``method`` in METHODS ('minimax', 'exact', 'official').

    ``steps`` defaults to the minimax map's designs (POLAR_DESIGN / GRAM_DESIGN in float32, HALF_DESIGN in
    bfloat16 and float16) or 5 (official); ``dtype`` to float16 on CUDA and float32 elsewhere (minimax,
    :func:`default_dtype`), float64 (exact) or bfloat16 (official). ``floor`` only concerns minimax (given
    with or without ``steps``: that many quintics, default 7, from that floor, default 3e-4, for both of
    its forms).
    """
    if products is not None and method != "minimax":
        raise GeomrelaxError(f"products concerns the minimax map only, got method={method!r}")
    if method == "exact":
        if steps is not None:
            raise GeomrelaxError(f"the exact map takes no steps, got steps={steps!r}")
        return smoothed_polar_exact(G, tau, dtype=torch.float64 if dtype is None else dtype)
    if method == "official":
        return smoothed_polar_official(G, tau, steps=OFFICIAL_STEPS if steps is None else steps,
                                       dtype=torch.bfloat16 if dtype is None else dtype)
    if method == "minimax":
        return smoothed_polar_minimax(G, tau, steps=steps, floor=floor, products=products,
                                      dtype=default_dtype(G.device, "minimax") if dtype is None else dtype)
    raise GeomrelaxError(f"unknown spectral map {method!r}; expected one of {METHODS}")


def map_errors(Y, G, tau, svd=None, *, floor: float = 0.0, relative: str = "direction"):
    """Errors of an approximation Y of S_tau(G) against the float64 SVD formula.

    Returns (fro, spectral): fro = ||Y - S||_F / ||S||_F; spectral = max_i ||(Y - S) w_i|| / f(sigma_i)
    over the right singular vectors w_i of G with sigma_i > floor sigma_1 (the worst relative error over
    the spectrum: S w_i = f(sigma_i) u_i). ``relative="top"`` divides by f(sigma_1) instead (the
    half-precision metric: an error relative to the map's largest singular value). NaN in Y gives NaN.
    ``svd``: G's float64 thin SVD (U, s, Vh) when already at hand (comparing several Y to one G).
    """
    if relative not in ("direction", "top"):
        raise GeomrelaxError(f"relative must be 'direction' or 'top', got {relative!r}")
    G = _check_matrix(G).to(torch.float64)
    tau = check_tau(tau)
    U, s, Vh = torch.linalg.svd(G, full_matrices=False) if svd is None else svd
    f = (s > 0).to(s.dtype) if math.isinf(tau) else tau * s / torch.hypot(torch.ones_like(s), tau * s)
    S = (U * f.unsqueeze(-2)) @ Vh
    D = Y.to(torch.float64) - S
    if torch.isnan(D).any():
        return math.nan, math.nan
    fro = float((torch.linalg.matrix_norm(D) / torch.linalg.matrix_norm(S)).max())
    per = torch.linalg.vector_norm(D @ Vh.mT, dim=-2)
    keep = (f > 0) & (s > floor * s[..., :1])
    ref = f[..., :1].expand_as(f) if relative == "top" else f
    spectral = float((per[keep] / ref[keep]).max()) if bool(keep.any()) else float(per.max())
    return fro, spectral
