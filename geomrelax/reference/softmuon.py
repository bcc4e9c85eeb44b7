"""Numpy reference (float64) of Muon and SoftMuon, one step at a time.

Step k = 1, 2, ... on a parameter theta with gradient g (-g when maximizing), momentum M_0 = 0:

    M_k = beta M_{k-1} + (1 - beta) g_k
    u_k = (1 - beta) g_k + beta M_k          (Nesterov; u_k = M_k without)
    U_k = u_k reshaped to (rows, cols) = (shape[0], prod(shape[1:]))
    D_k = NS5(U_k)                           (k <= K_s, the Muon phase)
        = U_k (U_k^T U_k + tau_j^-2 I)^{-1/2}   (k > K_s, j = k - K_s - 1, the transition)
    theta_k = (1 - lr wd) theta_{k-1} - lr sqrt(max(1, rows/cols)) D_k

tau_j comes from the temperature schedule (psi algebraic) fitted once, at step K_s + 1, to all
singular values of the raw gradients of that step; j >= K keeps the last tau. The transition map
here is the exact one (SVD); Muon is SoftMuon without a transition. NS5 is the quintic
Newton-Schulz iteration X <- X / max(||X||_F, eps), then ``steps`` times X <- a X + (b A + c A^2) X
with A = X X^T (on the transposed matrix when rows > cols).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import GeomrelaxError
from ..spectral import smoothed_polar

NS5_COEFFICIENTS = (3.4445, -4.7750, 2.0315)

__all__ = ["NS5_COEFFICIENTS", "as_matrix", "muon_direction", "ns5", "run_softmuon", "softmuon_schedule",
           "softmuon_step"]


def as_matrix(x) -> np.ndarray:
    """The (rows, cols) = (shape[0], prod(shape[1:])) view used for N-D parameters (conv filters)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise GeomrelaxError(f"SoftMuon acts on parameters with ndim >= 2, got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def ns5(G, steps: int = 5, coefficients=NS5_COEFFICIENTS, eps: float = 1e-7) -> np.ndarray:
    """Muon's quintic Newton-Schulz iteration in float64 (a 2-D array)."""
    a, b, c = coefficients
    X = np.asarray(G, dtype=np.float64)
    transposed = X.shape[0] > X.shape[1]
    if transposed:
        X = X.T
    X = X / max(np.linalg.norm(X), eps)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if transposed else X


def muon_direction(u, tau=None, *, ns_steps: int = 5, ns_coefficients=NS5_COEFFICIENTS) -> np.ndarray:
    """sqrt(max(1, rows/cols)) times NS5(U) (tau None) or the exact smoothed polar map of U, in u's shape."""
    U = as_matrix(u)
    rows, cols = U.shape
    D = ns5(U, ns_steps, ns_coefficients) if tau is None else smoothed_polar(U, tau, method="svd")
    return (math.sqrt(max(1.0, rows / cols)) * D).reshape(np.shape(u))


def softmuon_step(theta, grad, buffer, *, lr, momentum=0.95, nesterov=True, weight_decay=0.0, tau=None,
                  ns_steps=5, ns_coefficients=NS5_COEFFICIENTS, maximize=False):
    """One step with momentum buffer ``buffer`` (beta = ``momentum``); returns (theta, buffer) as new arrays."""
    g = -np.asarray(grad, dtype=np.float64) if maximize else np.asarray(grad, dtype=np.float64)
    beta = momentum
    M = beta * np.asarray(buffer, dtype=np.float64) + (1 - beta) * g
    u = (1 - beta) * g + beta * M if nesterov else M
    D = muon_direction(u, tau, ns_steps=ns_steps, ns_coefficients=ns_coefficients)
    theta = (1 - lr * weight_decay) * np.asarray(theta, dtype=np.float64) - lr * D
    return theta, M


def softmuon_schedule(grads, transition_iters, *, eps=1e-4, newton_iters=10, tmax=1e9):
    """The transition schedule fitted to all singular values of the raw gradients ``grads`` (psi algebraic)."""
    from ..schedule import temperature_schedule

    z = np.concatenate([np.linalg.svd(as_matrix(g), compute_uv=False) for g in grads])
    return temperature_schedule(z, transition_iters, eps=eps, newton_iters=newton_iters, tmax=tmax, psi="algebraic")


def run_softmuon(thetas, grad_fn, steps, *, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0,
                 sign_iters=None, transition_iters=None, eps=1e-4, newton_iters=10, tmax=1e9,
                 ns_steps=5, ns_coefficients=NS5_COEFFICIENTS, maximize=False):
    """Run ``steps`` steps on a list of parameters; ``grad_fn(k, thetas)`` returns their gradients at step k.

    Returns (list of the parameter lists after each step, the list of taus used (None in the Muon phase)).
    """
    thetas = [np.array(t, dtype=np.float64) for t in thetas]
    moms = [np.zeros_like(t) for t in thetas]
    history, taus, schedule = [], [], None
    for k in range(1, steps + 1):
        grads = [np.asarray(g, dtype=np.float64) for g in grad_fn(k, thetas)]
        tau = None
        if sign_iters is not None and transition_iters is not None and k > sign_iters:
            if schedule is None:
                schedule = softmuon_schedule(grads, transition_iters, eps=eps, newton_iters=newton_iters, tmax=tmax)
            tau = float(schedule.tau(k - sign_iters - 1))
        for i in range(len(thetas)):
            thetas[i], moms[i] = softmuon_step(
                thetas[i], grads[i], moms[i], lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                tau=tau, ns_steps=ns_steps, ns_coefficients=ns_coefficients, maximize=maximize,
            )
        history.append([t.copy() for t in thetas])
        taus.append(tau)
    return history, taus
