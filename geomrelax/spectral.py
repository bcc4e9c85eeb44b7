"""Spectral lifting of absolutely symmetric regularizers to matrices (Lewis).

For an absolutely symmetric f on R^r (invariant under permutations and sign changes) the spectral
function F(X) = f(sigma(X)) is convex iff f is, with

    F*(Y)      = f*(sigma(Y))
    grad F*(Y) = U diag(grad f*(sigma(Y))) W^T,   Y = U diag(sigma(Y)) W^T  (thin SVD).

Separable f = sum v gives V(X) = sum_i v(sigma_i(X)). The spectral ``box`` is the indicator of the
spectral-norm unit ball: grad F*(Y) = U W^T, the polar factor (Muon's LMO is -polar(M)). The spectral
``algebraic`` gives SoftMuon's map, which has the SVD-free form

    grad F*(tau M) = tau M (I + tau^2 M^T M)^{-1/2} = M (M^T M + tau^{-2} I)^{-1/2}.

Matrices are the last two axes; leading axes are a batch.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import torch_module
from .errors import InvalidRegularizerError, InvalidTemperatureError
from .regularizers import _ULPS, Regularizer, _as_float


def _check_matrix(x, what: str) -> np.ndarray:
    x = _as_float(x)
    if x.ndim < 2:
        raise ValueError(f"{what} must be a matrix (ndim >= 2, the last two axes), got shape {x.shape}")
    return x


def _rebuild(u, s, vt) -> np.ndarray:
    """U diag(s) V^T for batched thin SVD factors."""
    return (u * s[..., None, :]) @ vt


class Spectral(Regularizer):
    """F(X) = f(sigma(X)) for an absolutely symmetric vector regularizer f (``base``)."""

    event_ndim = 2

    def __init__(self, base: Regularizer):
        if isinstance(base, Spectral) or base.event_ndim != 1:
            raise InvalidRegularizerError(f"spectral lift needs a vector regularizer, got {base!r}")
        if not base.absolutely_symmetric:
            raise InvalidRegularizerError(
                f"spectral lift of {base.name!r} is not defined: Lewis' theorem needs an absolutely symmetric "
                "f (an even v on a symmetric domain [-a, a]); this one is not"
            )
        self.base = base
        self.name = f"spectral({base.name})"
        self.mu = base.mu
        self.norm = "fro"
        self.hess0 = base.hess0
        self.bounded = base.bounded
        self.formula = getattr(base, "formula", None)

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def svd(x):
        """Batched thin SVD (U, sigma, W^T)."""
        return np.linalg.svd(x, full_matrices=False)

    @staticmethod
    def singular_values(x) -> np.ndarray:
        return np.linalg.svd(x, compute_uv=False)

    def _snap(self, s) -> np.ndarray:
        """Singular values within a few ulps above the base domain's edge, put on the edge.

        An SVD returns the singular values of a polar factor or of grad F*(Y) at 1 + O(r eps): without
        this, V and `contains` would call the map's own outputs infeasible.
        """
        hi = getattr(getattr(self.base, "domain", None), "hi", 1.0 if self.base.bounded else math.inf)
        if not math.isfinite(hi):
            return s
        tol = _ULPS * np.finfo(s.dtype).eps * max(hi, 1.0) * s.shape[-1]
        return np.where((s > hi) & (s <= hi + tol), hi, s)

    # -- the interface ----------------------------------------------------------------------------
    def value(self, x) -> np.ndarray:
        return self.base.value(self._snap(self.singular_values(_check_matrix(x, "X"))))

    def conj(self, y) -> np.ndarray:
        return self.base.conj(self.singular_values(_check_matrix(y, "Y")))

    def grad_conj(self, y) -> np.ndarray:
        u, s, vt = self.svd(_check_matrix(y, "Y"))
        return _rebuild(u, self.base.grad_conj(s), vt)

    def grad(self, x) -> np.ndarray:
        u, s, vt = self.svd(_check_matrix(x, "X"))
        return _rebuild(u, self.base.grad(s), vt)

    def contains(self, x, tol: float = 0.0) -> np.ndarray:
        return self.base.contains(self._snap(self.singular_values(_check_matrix(x, "X"))), tol)

    def lmo(self, m) -> np.ndarray:
        u, s, vt = self.svd(_check_matrix(m, "M"))
        # the base LMO of -sigma gives the (non-negative) weights of the maximising singular directions
        return -_rebuild(u, self.base.lmo(-s), vt)

    def support(self, m) -> np.ndarray:
        return self.base.support(self.singular_values(_check_matrix(m, "M")))

    def sample_domain(self, rng, shape, margin: float = 0.0) -> np.ndarray:
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"matrix shape needed, got {shape}")
        r = min(shape[-2:])
        g = rng.standard_normal(shape)
        u, _, vt = self.svd(g)
        s = np.abs(self.base.sample_domain(rng, shape[:-2] + (r,), margin))
        s = -np.sort(-s, axis=-1)
        return _rebuild(u, s, vt)

    def torch_grad_conj(self, y):
        u, s, vh = _torch_svd(y)
        return (u * self.base.torch_grad_conj(s).unsqueeze(-2)) @ vh

    def __repr__(self) -> str:
        return f"<Spectral {self.base.name!r} mu={self.mu}>"


def _torch_svd(y):
    return torch_module().linalg.svd(y, full_matrices=False)


def spectral(base) -> Spectral:
    """The spectral lift of a vector regularizer (a Regularizer or a built-in name)."""
    from .regularizers import regularizer

    return Spectral(regularizer(base) if isinstance(base, str) else base)


def polar(m) -> np.ndarray:
    """The polar factor U W^T of M (batched); -polar(M) is Muon's LMO."""
    u, _, vt = np.linalg.svd(_check_matrix(m, "M"), full_matrices=False)
    return u @ vt


def smoothed_polar(m, tau: float, method: str = "eigh") -> np.ndarray:
    """M (M^T M + tau^{-2} I)^{-1/2}, i.e. grad F*(tau M) for the spectral algebraic regularizer.

    ``method='eigh'`` uses the eigendecomposition of the Gram matrix of the smaller side (SVD-free);
    ``method='svd'`` uses U diag(tau s / sqrt(1 + tau^2 s^2)) W^T. tau = inf gives the polar factor.
    """
    m = _check_matrix(m, "M")
    tau = float(tau)
    if not tau > 0 or math.isnan(tau):
        raise InvalidTemperatureError(f"tau must be > 0, got {tau}")
    if method == "svd" or math.isinf(tau):
        u, s, vt = np.linalg.svd(m, full_matrices=False)
        w = np.ones_like(s) if math.isinf(tau) else tau * s / np.hypot(1.0, tau * s)
        return _rebuild(u, np.where(s > 0, w, 0.0), vt)
    if method != "eigh":
        raise ValueError(f"method must be 'eigh' or 'svd', got {method!r}")
    rows, cols = m.shape[-2:]
    inv_tau2 = 1.0 / (tau * tau)
    if rows >= cols:
        lam, q = np.linalg.eigh(np.swapaxes(m, -1, -2) @ m)
        w = 1.0 / np.sqrt(np.maximum(lam, 0.0) + inv_tau2)
        return m @ ((q * w[..., None, :]) @ np.swapaxes(q, -1, -2))
    lam, q = np.linalg.eigh(m @ np.swapaxes(m, -1, -2))
    w = 1.0 / np.sqrt(np.maximum(lam, 0.0) + inv_tau2)
    return ((q * w[..., None, :]) @ np.swapaxes(q, -1, -2)) @ m
