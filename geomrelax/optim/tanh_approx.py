"""The rational approximation of tanh used by the compiled SoftSignum kernels (float32 tensors).

    tanh(x) ~ sign(x) a P(a^2) / Q(a^2)   for |x| <= TANH_CLAMP, P, Q of degree 5, Q(0) = 1;   sign(x) beyond,

evaluated in float32 by Horner's rule with fused multiply-adds. TANH_CLAMP = 9.25: tanh(9.25) = 1 - 1.9e-8
rounds to 1 in float32, so the clamp costs nothing there. The coefficients minimise the relative error of
P(s) / Q(s) against tanh(sqrt(s)) / sqrt(s) on s in [0, TANH_CLAMP^2] (:func:`fit_tanh_rational`:
Sanathanan-Koerner iterations, then Lawson reweighting towards the minimax solution): 5.9e-11 in exact
arithmetic (:data:`TANH_REL_ERROR`), far below float32's 2^-24, so rounding sets the error:

    every coefficient and s are >= 0, so each of Horner's 5 fused steps for P and for Q adds at most u
    = 2^-24 relative, without cancellation; s = fl(a^2) moves P / Q by at most 5u (s P'/P, s Q'/Q <= 5
    for degree-5 polynomials with positive coefficients); the product a P and the division add u each:
    relative error <= 5u + 5u + 5u + 2u + 5.9e-11, i.e. at most 17 ulps (TANH_ULP_BOUND).

Measured over 3.1M arguments: at most 6 ulps from float32(tanh(float64 x)), mean 0.75, a third exact.
:func:`tanh_rational` is the same approximation in float64 numpy (within 5.9e-11 of tanh).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TANH_CLAMP", "TANH_P", "TANH_Q", "TANH_REL_ERROR", "TANH_ULP_BOUND", "fit_tanh_rational",
           "tanh_rational"]

TANH_CLAMP = 9.25
# from fit_tanh_rational(5, 5) (numpy 2.4, lstsq): coefficients of s^0 .. s^5
TANH_P = (0.9999999999414053, 0.14090393578123, 0.004414197654979109, 4.197071663679812e-05,
          1.0943577709998411e-07, 3.5659356548370016e-11)
TANH_Q = (1.0, 0.47423726854149706, 0.02915995483944342, 0.0004985730375912653, 2.5756943111040436e-06,
          2.8866832311638836e-09)
TANH_REL_ERROR = 5.9e-11
TANH_ULP_BOUND = 17  # the float32 evaluation, by the rounding analysis above


def tanh_rational(x):
    """The approximation in float64 numpy (the kernels evaluate it in float32, see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.minimum(np.abs(x), TANH_CLAMP)
    s = a * a
    p = np.full_like(s, TANH_P[-1])
    for c in TANH_P[-2::-1]:
        p = p * s + c
    q = np.full_like(s, TANH_Q[-1])
    for c in TANH_Q[-2::-1]:
        q = q * s + c
    return np.copysign(np.where(np.abs(x) <= TANH_CLAMP, a * p / q, 1.0), x)


def fit_tanh_rational(m: int = 5, n: int = 5, clamp: float = TANH_CLAMP, iters: int = 40, lawson: int = 60):
    """Fit P (degree m) / Q (degree n, Q(0) = 1) to g(s) = tanh(sqrt(s)) / sqrt(s) on [0, clamp^2] in
    relative error; returns (P, Q, max relative error on the fitting grid). Solved in the variable
    s / clamp^2 (conditioning), then rescaled."""
    x = np.unique(np.concatenate([np.linspace(0, clamp, 20000),
                                  clamp * (1 - np.cos(np.linspace(0, np.pi / 2, 5000)))]))
    safe = np.where(x > 0, x, 1.0)
    f = np.where(x > 0, np.tanh(x) / safe, 1.0)
    t = (x / clamp) ** 2
    vp, vq = np.vander(t, m + 1, increasing=True), np.vander(t, n + 1, increasing=True)
    q_prev, w = np.ones_like(t), np.ones_like(t)
    for it in range(iters + lawson):
        # minimise || w (P - f Q) / (f q_prev) ||: linear in the coefficients, relative error at convergence
        scale = w / (f * q_prev)
        a = np.hstack([vp, -(f[:, None] * vq[:, 1:])]) * scale[:, None]
        coef = np.linalg.lstsq(a, f * scale, rcond=None)[0]
        p, q = coef[:m + 1], np.concatenate([[1.0], coef[m + 1:]])
        q_prev = vq @ q
        err = np.abs((vp @ p) / q_prev - f) / f
        if it >= iters:  # Lawson: weight up where the error is largest
            w = w * (err / err.max() + 1e-3)
            w = w / w.max()
    powers = clamp ** (2 * np.arange(max(m, n) + 1))
    return tuple(p / powers[:m + 1]), tuple(q / powers[:n + 1]), float(err.max())
