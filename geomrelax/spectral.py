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

from .backend import is_tensor, torch_module
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

    def relaxed_lmo(self, m, tau: float) -> np.ndarray:
        """grad F*(-tau M) = U diag(d_tau(sigma)) W^T from the SVD of M itself (-tau M has the singular
        vectors (-U, W) and values tau sigma, and grad f* is odd): tau M is never formed, so it cannot
        overflow, and the base map handles tau sigma beyond the float range. numpy or torch."""
        u, s, vt = _torch_svd(m) if is_tensor(m) else self.svd(_check_matrix(m, "M"))
        return _rebuild(u, self.base.relaxed_lmo(s, tau), vt)

    def grad(self, x) -> np.ndarray:
        u, s, vt = self.svd(_check_matrix(x, "X"))
        return _rebuild(u, self.base.grad(s), vt)

    def contains(self, x, tol: float = 0.0) -> np.ndarray:
        return self.base.contains(self._snap(self.singular_values(_check_matrix(x, "X"))), tol)

    def lmo(self, m) -> np.ndarray:
        m = _check_matrix(m, "M")
        u, s, vt = self.svd(m)
        # the base LMO of -sigma gives the (non-negative) weights of the maximising singular directions; in
        # m's dtype (the base's weights may come back in float64 and would promote a float32 result)
        return (-_rebuild(u, self.base.lmo(-s), vt)).astype(m.dtype, copy=False)

    def support(self, m) -> np.ndarray:
        return self.base.support(self.singular_values(_check_matrix(m, "M")))

    def project(self, d):
        """U diag(P(sigma)) W^T for d = U diag(sigma) W^T, P the base's projection; None where it has none.

        Valid only because P keeps a non-negative, sorted sigma non-negative and sorted: then
        U diag(P(sigma)) W^T is an SVD, and for every X in D, ||X - d||_F >= ||sigma(X) - sigma||_2 (Mirsky)
        >= ||P(sigma) - sigma||_2, attained. That holds for the projection onto every absolutely symmetric
        convex set, which the lift already requires of the base: swapping two out-of-order entries of P(sigma),
        or flipping the sign of a negative one, would give a point of the set strictly closer to sigma (equal
        sigma_i get equal P_i: the projection is unique).
        """
        u, s, vt = self.svd(_check_matrix(d, "D"))
        p = self.base.project(s)
        return None if p is None else _rebuild(u, p, vt)

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

    def cvxpy_term(self, D, spectral_form: str = "auto"):
        """F(D) for cvxpy: the spectral form its base f gives (Regularizer.cvxpy_spectral_term)."""
        return self.base.cvxpy_spectral_term(D, spectral_form)

    def cvxpy_domain(self, D):
        return self.base.cvxpy_spectral_domain(D)

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

    ``method='svd'`` uses U diag(tau s / sqrt(1 + tau^2 s^2)) W^T: each singular value of the result is
    that of M mapped by s -> tau s / sqrt(1 + tau^2 s^2) (<= 1), with the relative error of the SVD,
    about r eps sigma_max / sigma_i (r = min(rows, cols)).

    ``method='eigh'`` (SVD-free) uses the eigendecomposition of the Gram matrix G of the smaller side.
    Forming G squares the condition number: its rounding (about eps lambda_max) moves sigma_i^2 by
    eps sigma_max^2, so the result's singular values carry a relative error of about r eps cond(M)^2
    (measured: at most 1.2 r eps cond^2 over cond 1..1e8), and for cond(M) beyond 1/sqrt(eps) the small
    directions are amplified past 1. The route is therefore chosen per matrix from the eigenvalues
    already computed, cond^2 = lambda_max / lambda_min: matrices with r cond^2 > EIGH_MAX_ULPS (1024,
    i.e. an error above 1024 eps: in float64 12-13 correct digits and no singular value above
    1 + 2.3e-13; float32 likewise in its own eps) are redone by the SVD route. tau = inf gives the
    polar factor.

    Extremes: the eigh route scales M by a power of two c ~ max |M_ij| first (exact), so that neither
    the Gram matrix nor 1/tau^2 over- or underflows; the SVD route takes weight 1 where tau s
    overflows. tau = 1e300 gives the polar factor and tau = 1e-300 gives tau M, never NaN or 0.
    """
    m = _check_matrix(m, "M")
    tau = float(tau)
    if not tau > 0 or math.isnan(tau):
        raise InvalidTemperatureError(f"tau must be > 0, got {tau}")
    if method == "svd" or math.isinf(tau):
        return _smoothed_polar_svd(m, tau)
    if method != "eigh":
        raise ValueError(f"method must be 'eigh' or 'svd', got {method!r}")
    rows, cols = m.shape[-2:]
    tall = rows >= cols
    # M = c Mn with c a power of two near max |M_ij| (exact scaling): the Gram of Mn neither overflows
    # nor underflows, and with t = tau c the map is Mn (Mn^T Mn + t^-2)^{-1/2} = t Mn (I + t^2 Mn^T Mn)^{-1/2}
    big = np.max(np.abs(m), axis=(-2, -1), keepdims=True)
    c = np.ldexp(1.0, np.frexp(np.where(big > 0, big, 1.0))[1]).astype(m.dtype)
    mn = m / c
    mt = np.swapaxes(mn, -1, -2)
    lam, q = np.linalg.eigh(mt @ mn if tall else mn @ mt)
    lam = np.maximum(lam, 0.0)
    with np.errstate(over="ignore", under="ignore"):
        t = tau * c[..., 0]  # shape (..., 1): one per matrix
        # t >= 1: 1/sqrt(lam + t^-2); t < 1: t / sqrt(1 + t^2 lam) (never 1/t^2 = inf nor t^2 lam = inf)
        w = np.where(t >= 1, 1.0 / np.sqrt(lam + 1.0 / np.maximum(t, 1.0) ** 2),
                     np.minimum(t, 1.0) / np.sqrt(1.0 + np.minimum(t, 1.0) ** 2 * lam))
    root = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    out = mn @ root if tall else root @ mn
    out = np.where(big > 0, out, 0.0)
    # the eigh route's relative error is about r eps cond^2: redo the ill-conditioned ones by SVD
    bad = min(rows, cols) * lam[..., -1] > EIGH_MAX_ULPS * lam[..., 0]
    bad &= big[..., 0, 0] > 0
    if np.any(bad):
        if out.ndim == 2:
            return _smoothed_polar_svd(m, tau)
        out[bad] = _smoothed_polar_svd(m[bad], tau)
    return out


EIGH_MAX_ULPS = 1024  # smoothed_polar's eigh route accepts a relative error r eps cond^2 up to 1024 eps


def _smoothed_polar_svd(m, tau: float) -> np.ndarray:
    """U diag(tau s / sqrt(1 + tau^2 s^2)) W^T; where tau s overflows the weight is 1 (to rounding)."""
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    with np.errstate(over="ignore", invalid="ignore"):
        ts = tau * s
        w = np.where(np.isinf(ts), 1.0, ts / np.hypot(1.0, ts))
    return _rebuild(u, np.where(s > 0, w, 0.0), vt)
