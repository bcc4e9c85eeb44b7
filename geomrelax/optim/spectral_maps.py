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
- ``minimax`` (the default of the optimizers): a greedy minimax quintic iteration on the shifted
  Gram matrix of the smaller side, in float32. Writing A = u u^T + tau^-2 I (u is m x n, m <= n
  after a transpose) and G_0 = A / c with c >= lambda_max(A), it keeps two polynomials in G_0,

      R_k = a_k I + b_k G_k + c_k G_k^2,   P_{k+1} = R_k P_k,   G_{k+1} = R_k G_k R_k,

  and returns P_K u / sqrt(c) (the first step forms G_1 from R_0 u instead, for accuracy). On
  each eigenvalue g of G_0 the composition x -> phi(x) of the odd quintics
  p_k(x) = x (a_k + b_k x^2 + c_k x^4) (x = sqrt(g)) gives exactly

      singular value of the result = f(sigma) * phi(sqrt((sigma^2 + tau^-2) / c)),

  and the coefficients are chosen greedily (Remez exchange, as in the Polar Express construction
  of Amsel et al. 2025) so that |phi(x) - 1| <= E_K on [floor, 1]; below ``floor`` phi rises
  monotonically from 0, so those directions are shrunk, never enlarged or NaN. The defaults
  (7 steps, floor 3e-4, E_7 = 2.1e-4) cover every singular value down to 3e-4 sqrt(c); float32
  cannot resolve much less anyway, since the Gram matrix carries an absolute rounding error of
  about u_32 lambda_max, i.e. sigma / sigma_max ~ sqrt(u_32) = 2.4e-4. The scale c is
  ||A^2||_F^{1/2} (an upper bound of lambda_max within a factor m^{1/4}, and A^2 is needed by the
  first step anyway).

  Two forms, one design. When tau is large against the spectrum (shift / c <= E floor^2, i.e. tau
  sigma_max >~ 2e5), the shift moves f by at most E / 2 above the floor, the target is the polar
  factor, and the quintics act on X itself as NS5 does: 7 (2 m^2 n + m^3) multiply-adds, 1.4x NS5
  on every shape; in float32 this form is the more accurate one (error = E on three decades). Otherwise
  the Gram form above: 4 m^2 n + 23 m^3 (1.8x NS5 square, 0.87x at 4:1). When the shift alone lifts
  the spectrum (shift / c >= floor^2, small tau), fewer steps designed on [sqrt(shift / c), 1] reach the
  same E (``minimax_plan``): 3-5 steps at tau sigma_max ~ 10-100.
  Accuracy (float32, against the float64 SVD, singular values spanning three decades below
  sigma_max, tau from 10 to 1e9): at most ``MINIMAX_ERROR_BOUND`` = 1e-2 relative error on every
  singular direction, the bound the tests assert. Measured: 2e-4 .. 1.2e-3 on 128-512 matrices; the
  worst cases are small Gram-form matrices (float32 rounding of the Gram matrix): 7.7e-3 worst over
  ~10,000 random 4x6 .. 128x32 inputs, 6.4e-3 found by an adversarial search on 6x4 inputs (tau =
  1077, singular values [0.69, 0.59, 0.29, 0.025]). An earlier version of this text claimed 2.6e-3
  everywhere: that held for 128-512 matrices only (a 6x4 input with tau = 124 gave 4.6e-3).
  Below sigma_max * floor the relative error can reach 1 (those
  directions are shrunk, never enlarged or NaN).

  bfloat16 / float16 are refused: rounding u to bfloat16 alone perturbs a direction of singular value
  1e-3 sigma_max by ~2^-9 ||u||_2 / 1e-3, of order 1, whatever the iteration, and the Gram form then
  went NaN from tau = 1e3 on (measured on 512 x 512, 0.6 relative error below).

Dtypes: NS5 runs in bfloat16 on CUDA and float32 elsewhere: on CPUs without bfloat16 units a
bfloat16 NS5 is very slow (about 23 s for 1024 x 1024 against 0.3 s in float32), and float32 gives
the same numbers on every CPU (on one with AVX512-BF16, bfloat16 was measured 2x faster than
float32: pass ``dtype=torch.bfloat16`` there). The minimax map needs float32 on every device
(bfloat16 cannot resolve the three decades of a gradient's spectrum). Every map returns its working dtype; the caller casts. Matrices are the
last two axes; leading axes are a batch. Non-finite input gives non-finite output: the optimizers
check their gradients before calling these maps.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np
import torch

from .. import updates as U
from ..errors import GeomrelaxError
from ..lmo import check_tau
from ..updates import NS5_COEFFICIENTS, NS5_EPS
MINIMAX_STEPS = 7
MINIMAX_FLOOR = 3e-4
MINIMAX_ERROR_BOUND = 1e-2  # float32, three decades, tau in [10, 1e9]: see the module docstring
OFFICIAL_STEPS = 5
_Z_STEPS = 1  # leading minimax steps taken on [u, tau^-1 P] rather than on the Gram matrix
METHODS = ("minimax", "exact", "official")

__all__ = [
    "METHODS", "MINIMAX_ERROR_BOUND", "MINIMAX_FLOOR", "MINIMAX_STEPS", "NS5_COEFFICIENTS", "default_dtype", "map_errors",
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
    matrix takes about 23 s on a small CPU, float32 0.3 s). ``minimax``: float32 everywhere.
    ``official``: bfloat16 (reproduction). ``exact``: float64.
    """
    device = torch.device(device)
    if method == "ns5":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if method == "minimax":
        return torch.float32
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


def _remez_odd_quintic(lo: float):
    """Minimax odd quintic p(x) = a x + b x^3 + c x^5 approximating 1 on [lo, 1]; returns (a, b, c, E).

    Equioscillation at lo, the two interior critical points and 1: p = 1 - E, 1 + E, 1 - E, 1 + E.
    The critical points are the positive roots of p'(x) = a + 3b x^2 + 5c x^4 (a quadratic in x^2),
    so each exchange is exact and the iteration converges in a few passes.
    """
    sign = np.array([-1.0, 1.0, -1.0, 1.0])
    x = np.array([lo, lo + 0.3 * (1 - lo), lo + 0.8 * (1 - lo), 1.0])
    for _ in range(200):
        a, b, c, E = np.linalg.solve(np.stack([x, x ** 3, x ** 5, -sign], 1), np.ones(4))
        y = np.roots([5 * c, 3 * b, a])
        y = np.sort(np.real(y[np.isreal(y) & (np.real(y) > 0)]))
        if y.size != 2:
            raise GeomrelaxError(f"minimax design failed on [{lo}, 1]: p' has {y.size} positive critical points")
        x_new = np.array([lo, math.sqrt(y[0]), math.sqrt(y[1]), 1.0])
        done = np.allclose(x_new, x, rtol=1e-13, atol=0.0)
        x = x_new
        if done:
            break
    else:
        raise GeomrelaxError(f"minimax design on [{lo}, 1] did not converge")
    if not (lo < x[1] < x[2] < 1.0 and 0 < E < 1):
        raise GeomrelaxError(f"minimax design on [{lo}, 1] is degenerate (points {x}, error {E})")
    return float(a), float(b), float(c), float(E)


# The classical quintic Newton-Schulz (order-3 convergence at 1) for intervals too close to [1, 1]
# for the Remez solve; the greedy design hands it over only once E is far below float32 resolution.
_NEWTON_QUINTIC = (15 / 8, -10 / 8, 3 / 8)


@functools.lru_cache(maxsize=64)
def _minimax_design(floor: float, steps: int):
    coeffs, errors = [], []
    lo = floor
    for k in range(steps):
        try:
            if 1.0 - lo < 1e-6:
                raise GeomrelaxError("interval too close to [1, 1] for the Remez solve")
            a, b, c, E = _remez_odd_quintic(lo)
        except GeomrelaxError:  # near 1 the exchange stalls (seen at lo = 0.998): Newton's quintic is then ample
            a, b, c = _NEWTON_QUINTIC
            E = 1.0 - float(lo * (a + b * lo ** 2 + c * lo ** 4))
        if k < steps - 1:
            # rescale so that [lo, 1] lands in [(1-E)/(1+E), 1]: the next design interval ends at 1
            a, b, c = a / (1 + E), b / (1 + E), c / (1 + E)
            lo = (1 - E) / (1 + E)
        coeffs.append((a, b, c))
        errors.append(E)
    return tuple(coeffs), errors[-1]


def minimax_coefficients(floor: float = MINIMAX_FLOOR, steps: int = MINIMAX_STEPS):
    """The greedy minimax quintics for [floor, 1]: ((a_k, b_k, c_k) for k < steps, E) with |phi - 1| <= E there.

    Every step but the last is scaled so that its image of [lo_k, 1] ends at 1; the last one is
    centred on 1. Computed once per (floor, steps) and cached.
    """
    floor = float(floor)
    if not (0.0 < floor < 1.0):
        raise GeomrelaxError(f"floor must lie in (0, 1), got {floor!r}")
    return _minimax_design(floor, _check_steps(steps))


_FLOOR_GRID = 2.0 ** 0.25  # lower ends above the floor are snapped down to this grid, so designs are cached


def minimax_plan(floor: float = MINIMAX_FLOOR, steps: int = MINIMAX_STEPS, xmin: float = 0.0):
    """The coefficients the minimax map uses when every x = sqrt(g) (g an eigenvalue of G_0) is >= xmin.

    The shift alone gives g >= tau^-2 / c, so for small tau the spectrum starts far above ``floor``:
    then the fewest greedy steps designed on [lo, 1] whose error is at most E(floor, steps) are
    used, lo = xmin snapped down to floor * 2^(k/4) (k >= 0). Otherwise the (floor, steps) design.
    """
    coeffs, E = minimax_coefficients(floor, steps)
    if not xmin >= floor * _FLOOR_GRID:
        return coeffs
    lo = min(floor * _FLOOR_GRID ** math.floor(math.log(xmin / floor, _FLOOR_GRID)), 0.5)
    for s in range(1, steps):
        c, e = minimax_coefficients(lo, s)
        if e <= E:
            return c
    return coeffs


def minimax_gain(x, floor: float = MINIMAX_FLOOR, steps: int = MINIMAX_STEPS, xmin: float = 0.0):
    """phi(x): the composed odd quintics of :func:`minimax_plan`, in float64. The minimax map
    multiplies f(sigma) by phi(x), x = sqrt((sigma^2 + tau^-2) / c)."""
    coeffs = minimax_plan(floor, steps, xmin)
    x = np.asarray(x, dtype=np.float64)
    for a, b, c in coeffs:
        x2 = x * x
        x = x * (a + b * x2 + c * x2 * x2)
    return x


def _gram_iteration(Xn, A, A2, shift, scale, coeffs, dtype):
    """The greedy quintics on the shifted Gram matrix (the smaller side): returns P_K Xn / sqrt(scale)."""
    steps = len(coeffs)
    w = (shift / scale).to(dtype)
    inv = (1.0 / scale).to(dtype)
    # G0 = (A + shift I) / scale; R_0 = a I + b G0 + c G0^2 expanded in A and A^2 (no extra product)
    a, b, c = coeffs[0]
    G = _eye_add_(A * inv, w)
    R = _eye_add_(A2 * (c * inv * inv) + A * (inv * (b + 2 * c * w)), a + w * (b + c * w))
    # The first step acts on the m x (n + m) matrix Z = [X, sqrt(w scale) P], whose Gram matrix is
    # scale G: a float32 Gram matrix carries an absolute error of about u_32 ||G|| on every
    # eigenvalue, a relative error of up to 10% on the smallest ones (~1e-6 at the start); formed
    # from Z after one step, when they have grown a_0^2 = 18-fold, G is accurate enough (measured
    # worst spectral error on three decades: 9e-3 with Gram steps only, 2.6e-3 with one Z step,
    # 8e-4 with two, which cost 0.07 NS5 more on a square matrix and 0.15 more at 4:1).
    Bw = None
    for k in range(1, min(_Z_STEPS, steps - 1) + 1):
        Xn = R @ Xn
        Bw = R * w.sqrt() if Bw is None else R @ Bw
        G = (Xn @ Xn.mT).mul_(inv).add_(Bw @ Bw.mT)
        a, b, c = coeffs[k]
        R = _eye_add_(torch.baddbmm(G, G, G, beta=b, alpha=c), a)
    P = R
    for k in range(min(_Z_STEPS, steps - 1) + 1, steps):
        # G <- R G R (= R^2 G: all these matrices are polynomials in G0 and commute). R stays near
        # its scalar part, so this keeps small eigenvalues accurate; recomputing P G0 P instead
        # would amplify rounding by ||P||^2 (measured: errors of order 1 at tau = 1e9)
        G = R @ (G @ R)
        a, b, c = coeffs[k]
        R = _eye_add_(torch.baddbmm(G, G, G, beta=b, alpha=c), a)
        P = R @ P
    return (P * scale.rsqrt().to(dtype)) @ Xn


def _polar_iteration(X, A, A2, coeffs):
    """X <- a X + (b A + c A^2) X with A = X X^T, one step per quintic (A, A^2 of the first step given)."""
    for k, (a, b, c) in enumerate(coeffs):
        if k == 0:
            B = A2 * c + A * b
        else:
            A = X @ X.mT
            B = torch.baddbmm(A, A, A, beta=b, alpha=c)
        X = torch.baddbmm(X, B, X, beta=a)
    return X


def _polar_form(ratio: float, floor: float, steps: int) -> bool:
    """True when the map iterates on X itself rather than on the shifted Gram matrix; ratio = max shift / scale.

    The shift then moves f by at most ratio / (2 floor^2) <= E / 2 on every direction above the floor,
    so the polar factor itself is the target: the quintics act on X as Muon's NS5 does (2 m^2 n + m^3
    a step, 1.4x NS5 for 7 steps on any shape), and in float32 they are more accurate than the Gram
    form (measured worst 2.1e-4 = E on three decades against up to 1.3e-2 for the Gram form on small
    tall matrices).
    """
    return ratio <= minimax_coefficients(floor, steps)[1] * floor ** 2


def smoothed_polar_minimax(G, tau, *, steps: int = MINIMAX_STEPS, floor: float = MINIMAX_FLOOR,
                           dtype=torch.float32) -> torch.Tensor:
    """The smoothed polar map by the greedy minimax quintic iteration on the shifted Gram matrix.

    See the module docstring: the result is U diag(f(sigma) phi(sqrt((sigma^2 + tau^-2)/c))) W^T
    (up to float rounding) with |phi - 1| <= E on [floor, 1].
    """
    G = _check_matrix(G)
    tau = check_tau(tau)
    steps = _check_steps(steps)
    dtype = _check_dtype(dtype)
    if torch.finfo(dtype).eps > torch.finfo(torch.float32).eps:
        # measured: NaN in bfloat16 from tau = 1e3 on (rounding pushes eigenvalues past the quintics'
        # stable range) and 0.6 relative error below; see the module docstring
        raise GeomrelaxError(f"the minimax map needs float32 or float64, got {dtype}: a half-precision Gram "
                             "iteration cannot resolve three decades of singular values")
    minimax_coefficients(floor, steps)  # checks floor
    X = G.to(dtype)
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    batch, (m, n) = X.shape[:-2], X.shape[-2:]
    X = X.reshape(-1, m, n)
    # Scale by the largest entry: the Gram matrix then cannot overflow, and the shift becomes
    # (1 / (tau s0))^2, computed in float64 so that no intermediate over- or underflows.
    s0 = X.abs().amax(dim=(-2, -1), keepdim=True)
    s0 = torch.where(s0 > 0, s0, torch.ones_like(s0))
    Xn = X / s0
    A = Xn @ Xn.mT
    A2 = A @ A
    s0d = s0.to(torch.float64)
    shift = torch.zeros_like(s0d) if math.isinf(tau) else (1.0 / (tau * s0d)) ** 2
    # tau s0 < 1e-150 would overflow: the result, tau u, is 0 in float32 anyway, and a capped shift gives 0
    shift = shift.clamp(max=1e300)
    scale = torch.linalg.matrix_norm(A2, keepdim=True, dtype=torch.float64).sqrt() + shift
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # X = 0 and tau = inf: the result is 0 anyway
    # every eigenvalue of G0 is >= shift / scale: for small tau fewer steps reach the same design error
    coeffs = minimax_plan(floor, steps, math.sqrt(float((shift / scale).min())))
    inv = (1.0 / scale).to(dtype)
    if _polar_form(float((shift / scale).max()), floor, steps):
        out = _polar_iteration(Xn * inv.sqrt(), A * inv, A2 * (inv * inv), coeffs)
    else:
        out = _gram_iteration(Xn, A, A2, shift, scale, coeffs, dtype)
    out = out.reshape(*batch, m, n)
    return out.mT if transposed else out


def smoothed_polar(G, tau, method: str = "minimax", *, steps=None, dtype=None, floor: float = MINIMAX_FLOOR):
    """S_tau(G) = G (G^T G + tau^-2 I)^{-1/2} by ``method`` in METHODS ('minimax', 'exact', 'official').

    ``steps`` defaults to 7 (minimax) or 5 (official); ``dtype`` to float32 (minimax), float64
    (exact) or bfloat16 (official). ``floor`` only concerns minimax.
    """
    if method == "exact":
        if steps is not None:
            raise GeomrelaxError(f"the exact map takes no steps, got steps={steps!r}")
        return smoothed_polar_exact(G, tau, dtype=torch.float64 if dtype is None else dtype)
    if method == "official":
        return smoothed_polar_official(G, tau, steps=OFFICIAL_STEPS if steps is None else steps,
                                       dtype=torch.bfloat16 if dtype is None else dtype)
    if method == "minimax":
        return smoothed_polar_minimax(G, tau, steps=MINIMAX_STEPS if steps is None else steps, floor=floor,
                                      dtype=torch.float32 if dtype is None else dtype)
    raise GeomrelaxError(f"unknown spectral map {method!r}; expected one of {METHODS}")


def map_errors(Y, G, tau, svd=None):
    """Errors of an approximation Y of S_tau(G) against the float64 SVD formula.

    Returns (fro, spectral): fro = ||Y - S||_F / ||S||_F; spectral = max_i ||(Y - S) w_i|| / f(sigma_i)
    over the right singular vectors w_i of G with sigma_i > 0 (the worst relative error over the
    spectrum: S w_i = f(sigma_i) u_i). NaN in Y gives NaN. ``svd``: G's float64 thin SVD
    (U, s, Vh) when already at hand (comparing several Y to one G).
    """
    G = _check_matrix(G).to(torch.float64)
    tau = check_tau(tau)
    U, s, Vh = torch.linalg.svd(G, full_matrices=False) if svd is None else svd
    f = (s > 0).to(s.dtype) if math.isinf(tau) else tau * s / torch.hypot(torch.ones_like(s), tau * s)
    S = (U * f.unsqueeze(-2)) @ Vh
    D = Y.to(torch.float64) - S
    fro = float((torch.linalg.matrix_norm(D) / torch.linalg.matrix_norm(S)).max())
    per = torch.linalg.vector_norm(D @ Vh.mT, dim=-2)
    keep = f > 0
    spectral = float((per[keep] / f[keep]).max()) if bool(keep.any()) else float(per.max())
    if torch.isnan(D).any():
        return math.nan, math.nan
    return fro, spectral
