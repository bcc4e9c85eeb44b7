"""Norm balls and their linear minimization oracles: lmo, dual_norm, norm_value.

The package: names (parsing), spectra (shared pieces on singular values), fanions (the Ky Fan combinations).

For a norm ||.|| with dual norm ||G||_* = sup_{||D|| <= 1} <G, D>, the LMO of the unit ball is

    lmo(G) = argmin_{||D|| <= 1} <G, D>,     <G, lmo(G)> = -||G||_*.

The norm is named by a string, with its parameter after a colon. Vector norms act on the last axis
(``ndim=2`` takes the last two axes as one entrywise vector); matrix norms act on the last two axes
(rows x cols, r = min(rows, cols), sigma = singular values, G = U diag(sigma) W^T the thin SVD). Leading
axes are a batch.

    name              ||D||                                   ||G||_*                   lmo(G)
    l1                sum |d_i|                               max |g_i|                 -sign(g_j) e_j, j = argmax |g_i|
    linf              max |d_i|                               sum |g_i|                 -sign(g)
    l2                ||d||_2                                 ||g||_2                   -g / ||g||_2
    frobenius         ||D||_F                                 ||G||_F                   -G / ||G||_F
    spectral          sigma_1                                 sum sigma_i               -U W^T (Muon)
    nuclear           sum sigma_i                             sigma_1                   -u_1 w_1^T
    schatten:p        ||sigma||_p, p in [1, inf]              ||sigma||_q, 1/p + 1/q = 1  -U diag(sigma^(q-1)) W^T / ||sigma||_q^(q-1)
    kyfan:k           sigma_1 + ... + sigma_k                 max(sigma_1, ||G||_nuc / k)  -u_1 w_1^T if sigma_1 >= ||G||_nuc/k, else -U W^T / k
    kyfan_dual:k      max(sigma_1, ||D||_nuc / k)             sigma_1 + ... + sigma_k   -U_k W_k^T (top k pairs: Dion-like)
    row_l2            max_i ||D_i,:||_2                       sum_i ||G_i,:||_2         each row -G_i / ||G_i||
    col_l2            max_j ||D_:,j||_2                       sum_j ||G_:,j||_2         each column normalised
    rms               sqrt(cols/rows) sigma_1                 sqrt(rows/cols) sum sigma   -sqrt(rows/cols) U W^T
    left_polar        sigma_1 (the spectral ball)             sum sigma_i               -(G G^T)^(+1/2) G  (one-sided route)
    ffanion:k,alpha   the dual of P = alpha KF_k + (1 - alpha) ||.||_F               P(G)   -(alpha U_k W_k^T + (1 - alpha) G / ||G||_F)
    sfanion:k,alpha   the dual of P = alpha KF_k + (1 - alpha) sigma_1               P(G)   -(alpha U_k W_k^T + (1 - alpha) u_1 w_1^T)
    fmuon:alpha       ffanion with k = r (F-Muon);  smuon:alpha  sfanion with k = r (S-Muon)
    kyfan_fro:k,alpha       P = alpha KF_k + (1 - alpha) ||.||_F itself      N(G)   -U diag(y / P(y)) W^T, y below
    kyfan_spectral:k,alpha  P = alpha KF_k + (1 - alpha) sigma_1 itself      N(G)   -U_j W_j^T / (alpha min(j, k) + 1 - alpha)

``rms`` is the RMS-to-RMS operator norm of a rows x cols matrix mapping R^cols to R^rows (the layer norm
Scion uses for hidden layers): ||A||_{RMS->RMS} = sup ||A x||_2/sqrt(rows) / (||x||_2/sqrt(cols)). The
vector RMS norm ||x||_2 / sqrt(n) is l2 scaled; it is not a separate name. ``left_polar`` is the
one-sided spectral update, the orthogonal factor of the left polar decomposition G = (G G^T)^(1/2) Q,
computed from the eigendecomposition of G G^T without an SVD. It is the LMO of the spectral ball, so it
equals ``spectral`` mathematically; the Gram matrix squares the condition number, so singular values
below about sqrt(r eps) sigma_1 are lost (taken as 0), and the kept ones carry a relative error of about
eps cond(G)^2. Measured on 50 random 4 x 3 matrices per condition number: ||lmo(G)||_2 - 1 up to 1e-12 at
cond 1e2, 1e-8 at 1e4, 9e-5 at 1e6, 5.5e-2 at 1e15; -<G, lmo(G)> off ||G||_* by up to 1e-8 relative. Use
'spectral' (SVD) where G may be ill-conditioned; the norms claims show both routes.

Fanions (Kravatskiy et al., "The Ky Fan norms and beyond"): the optimizer takes the LMO of the ball of
N = P* for P = alpha KF_k + (1 - alpha) Q, Q = ||.||_F (F-Fanions) or Q = sigma_1 (S-Fanions). The ball
of a dual of a sum of norms is the Minkowski sum of the dual balls, B(P*) = alpha B(KF_k*) +
(1 - alpha) B(Q*), so its LMO is alpha lmo_{KF_k*} + (1 - alpha) lmo_{Q*} and ||G||_{N*} = P(G) (proof
at _fanion_lmo, norms/fanions.py). norm_value of these N is computed on sigma (_fanion_norm).

The combinations P themselves (kyfan_fro, kyfan_spectral) are the duals of the Fanion norms; their balls'
LMOs are spectral maps on sigma(G) too (proofs at _combination_weights, norms/fanions.py):
    kyfan_spectral: j = the first maximiser of (sigma_1 + ... + sigma_j) / (alpha min(j, k) + 1 - alpha);
    kyfan_fro:      y = sigma - proj_{alpha t C}(sigma) at t = N(sigma) (C = {0 <= c <= 1, sum c <= k}),
                    lmo = -U diag(y / P(y)) W^T   (alpha = 1: the kyfan:k ball; alpha = 0: Frobenius).

Ties and zeros (documented choices; each is optimal, the LMO is then not unique): a zero vector, row,
column or matrix gives 0; singular values at or below the rank threshold r eps sigma_1 count as 0 and
their directions get weight 0; among equal |g_i| (l1) the first index is taken; among equal singular
values the SVD's order decides (nuclear, kyfan_dual, fanions: any choice has the same value); kyfan at
sigma_1 = ||G||_nuc / k takes -u_1 w_1^T. Parameters: p in [1, inf] ('inf' accepted), k an integer >= 1
(capped at r: KF_k with k >= r is the nuclear norm), alpha in [0, 1].
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..errors import NonFiniteError
from .fanions import _combination_weights, _fanion_lmo, _fanion_norm
from .names import MATRIX_NORMS, NORM_NAMES, VECTOR_NORMS, InvalidNormError, NormSpec, parse_norm
from .spectra import _kf, _l2, _positive, _rebuild, _scale, _svd, _topk

__all__ = ["MATRIX_NORMS", "NORM_NAMES", "VECTOR_NORMS", "InvalidNormError", "NormSpec", "dual_norm", "lmo",
           "norm_value", "parse_norm"]

def _prepare(spec: NormSpec, G, ndim):
    """(float array, restore) with the event on the last axis (vectors) or the last two (matrices)."""
    G = np.asarray(G)
    if G.dtype == object or np.iscomplexobj(G):
        raise InvalidNormError(f"G must be a real array, got dtype {G.dtype}")
    if not np.issubdtype(G.dtype, np.floating):
        G = G.astype(np.float64)
    if not np.all(np.isfinite(G)):
        raise NonFiniteError(f"G has a non-finite entry (norm {spec.text})")
    if spec.matrix:
        if ndim not in (None, 2):
            raise InvalidNormError(f"{spec.text} is a matrix norm: ndim must be 2 (or None), got {ndim!r}")
        if G.ndim < 2 or G.shape[-1] == 0 or G.shape[-2] == 0:
            raise InvalidNormError(f"{spec.text} acts on matrices (the last two axes), got shape {G.shape}")
        return G, lambda x: x
    ndim = 1 if ndim is None else ndim
    if ndim not in (1, 2):
        raise InvalidNormError(f"ndim (trailing axes forming one vector) must be 1 or 2, got {ndim!r}")
    if G.ndim < ndim or G.size == 0:
        raise InvalidNormError(f"{spec.text} with ndim={ndim} needs at least {ndim} non-empty axes, got {G.shape}")
    shape = G.shape
    flat = G.reshape(shape[:-2] + (-1,)) if ndim == 2 else G
    return flat, lambda x: x.reshape(shape) if np.ndim(x) == len(shape) - ndim + 1 else x


def _lmo_vector(spec, g):
    fam = spec.family
    if fam == "linf":
        return -np.sign(g) + 0.0  # + 0.0: a zero entry gives 0, not -0
    if fam == "l2":
        n = _l2(g, -1)
        return -g / np.where(n > 0, n, 1.0)
    # l1: a vertex -sign(g_j) e_j at the first j of largest |g_j|
    j = np.argmax(np.abs(g), axis=-1)[..., None]
    out = np.zeros_like(g)
    np.put_along_axis(out, j, -np.sign(np.take_along_axis(g, j, axis=-1)), axis=-1)
    return out


def _schatten_weights(s, G, p):
    """sigma^(q-1) / ||sigma||_q^(q-1), computed on sigma / sigma_1 (no overflow for large q)."""
    if p == 1.0:
        return _topk(s, G, 1)
    if math.isinf(p):
        return np.where(_positive(s, G), 1.0, 0.0)
    q = p / (p - 1.0)
    top = s[..., :1]
    x = np.where(top > 0, s / np.where(top > 0, top, 1.0), 0.0)
    w = x ** (q - 1.0)
    nq = np.sum(x ** q, axis=-1, keepdims=True) ** ((q - 1.0) / q)
    return np.where(nq > 0, w / np.where(nq > 0, nq, 1.0), 0.0)


def _left_polar(G):
    # (G G^T)^(+1/2) G from eigh of the Gram matrix, after an exact power-of-two scaling of G
    c = _scale(G, (-2, -1))
    Gs = G / c
    w, Q = np.linalg.eigh(Gs @ np.swapaxes(Gs, -1, -2))
    # the Gram's rounding is eps of G's own dtype: a float64 eps would keep (and invert) float32 noise
    keep = w > max(G.shape[-2:]) * np.finfo(w.dtype).eps * w[..., -1:]
    inv = np.where(keep, 1.0 / np.sqrt(np.where(keep, w, 1.0)), 0.0)
    return -((Q * inv[..., None, :]) @ np.swapaxes(Q, -1, -2)) @ Gs


def _lmo_matrix(spec, G):
    fam = spec.family
    if fam == "frobenius":
        n = _l2(G, (-2, -1))
        return -G / np.where(n > 0, n, 1.0)
    if fam in ("row_l2", "col_l2"):
        n = _l2(G, -1 if fam == "row_l2" else -2)
        return -G / np.where(n > 0, n, 1.0)
    if fam == "left_polar":
        return _left_polar(G)
    u, s, vt = _svd(G)
    rows, cols = G.shape[-2:]
    if fam in ("spectral", "rms"):
        w = np.where(_positive(s, G), 1.0, 0.0)
        return -_rebuild(u, w * (math.sqrt(rows / cols) if fam == "rms" else 1.0), vt)
    if fam == "nuclear":
        return -_rebuild(u, _topk(s, G, 1), vt)
    if fam == "schatten":
        return -_rebuild(u, _schatten_weights(s, G, spec.p), vt)
    if fam == "kyfan_dual":
        return -_rebuild(u, _topk(s, G, spec.k), vt)
    if fam == "kyfan":
        # the ball of KF_k has the extreme points u w^T (rank one) and U_k W_k^T / k; the support function is
        # max(sigma_1, ||G||_nuc / k), reached at -u_1 w_1^T or at -U W^T / k (positive sigma only)
        k = min(spec.k, s.shape[-1])
        one = s[..., :1] >= np.sum(s, axis=-1, keepdims=True) / k
        flat = np.where(_positive(s, G), 1.0 / k, 0.0)
        return -_rebuild(u, np.where(one, _topk(s, G, 1), flat), vt)
    if fam in ("kyfan_fro", "kyfan_spectral"):
        return -_rebuild(u, _combination_weights(spec, G, s), vt)
    return _fanion_lmo(spec, G, u, s, vt)


def _vector_norm(fam, g, dual: bool):
    kind = {"l1": "linf", "linf": "l1", "l2": "l2"}[fam] if dual else fam
    if kind == "l1":
        return np.sum(np.abs(g), axis=-1)
    if kind == "linf":
        return np.max(np.abs(g), axis=-1)
    return _l2(g, -1)[..., 0]


def _matrix_norm(spec, G, dual: bool):
    fam = spec.family
    rows, cols = G.shape[-2:]
    if fam == "frobenius":
        return _l2(G, (-2, -1))[..., 0, 0]
    if fam in ("row_l2", "col_l2"):
        n = _l2(G, -1 if fam == "row_l2" else -2)
        return np.sum(n, axis=(-2, -1)) if dual else np.max(n, axis=(-2, -1))
    s = np.linalg.svd(G, compute_uv=False)
    if fam in ("spectral", "left_polar", "rms", "nuclear"):
        nuclear = (fam == "nuclear") != dual
        val = np.sum(s, axis=-1) if nuclear else s[..., 0]
        if fam == "rms":
            val = val * math.sqrt(rows / cols if dual else cols / rows)
        return val
    if fam == "schatten":
        p = spec.p
        if dual:  # the dual exponent q, 1/p + 1/q = 1
            p = math.inf if p == 1.0 else (1.0 if math.isinf(p) else p / (p - 1.0))
        return _lp(s, p)
    if fam in ("kyfan", "kyfan_dual"):
        k = min(spec.k, s.shape[-1])
        if (fam == "kyfan") != dual:
            return _kf(s, k)
        return np.maximum(s[..., 0], np.sum(s, axis=-1) / k)
    if fam in ("kyfan_fro", "kyfan_spectral"):  # P itself: its dual is the Fanion norm N
        spec, dual = NormSpec("ffanion" if fam == "kyfan_fro" else "sfanion", k=spec.k, alpha=spec.alpha), not dual
    if dual:
        k = min(spec.k or s.shape[-1], s.shape[-1])
        q = np.sqrt(np.sum(s * s, axis=-1)) if spec.family == "ffanion" else s[..., 0]
        return spec.alpha * _kf(s, k) + (1.0 - spec.alpha) * q
    return _fanion_norm(spec, s)


def _lp(s, e):
    if math.isinf(e):
        return s[..., 0] if s.ndim else s
    top = s[..., :1]
    x = np.where(top > 0, s / np.where(top > 0, top, 1.0), 0.0)
    return np.sum(x ** e, axis=-1) ** (1.0 / e) * top[..., 0]


# ------------------------------------------------------------------------------------------------
# the API
# ------------------------------------------------------------------------------------------------
def lmo(norm, G, *, ndim: Optional[int] = None) -> np.ndarray:
    """argmin_{||D|| <= 1} <G, D> for the named norm (module docstring: names, formulas, ties).

    ``G``: a vector (vector norms, last axis) or a matrix (matrix norms, last two axes), batched over
    leading axes; ``ndim=2`` makes a vector norm act on the last two axes as one vector (l1 of a whole
    matrix). Zero input gives zero. <G, lmo(G)> = -dual_norm(norm, G) and norm_value(norm, lmo(G)) <= 1
    (= 1 for G != 0)."""
    spec = parse_norm(norm)
    G, restore = _prepare(spec, G, ndim)
    # weights such as np.where(keep, 1.0, 0.0) are float64 and promote a float32 rebuild: give back G's dtype
    out = _lmo_matrix(spec, G) if spec.matrix else _lmo_vector(spec, G)
    return restore(out.astype(G.dtype, copy=False))


def dual_norm(norm, G, *, ndim: Optional[int] = None) -> np.ndarray:
    """||G||_* = sup_{||D|| <= 1} <G, D> = -<G, lmo(G)>, one value per event (shape of the batch)."""
    spec = parse_norm(norm)
    G, _ = _prepare(spec, G, ndim)
    return _matrix_norm(spec, G, True) if spec.matrix else _vector_norm(spec.family, G, True)


def norm_value(norm, G, *, ndim: Optional[int] = None) -> np.ndarray:
    """||G|| for the named norm, one value per event (shape of the batch)."""
    spec = parse_norm(norm)
    G, _ = _prepare(spec, G, ndim)
    return _matrix_norm(spec, G, False) if spec.matrix else _vector_norm(spec.family, G, False)
