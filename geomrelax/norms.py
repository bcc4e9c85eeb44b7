"""Norm balls and their linear minimization oracles: lmo, dual_norm, norm_value.

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

``rms`` is the RMS-to-RMS operator norm of a rows x cols matrix mapping R^cols to R^rows (the layer norm
Scion uses for hidden layers): ||A||_{RMS->RMS} = sup ||A x||_2/sqrt(rows) / (||x||_2/sqrt(cols)). The
vector RMS norm ||x||_2 / sqrt(n) is l2 scaled; it is not a separate name. ``left_polar`` is the
one-sided spectral update, the orthogonal factor of the left polar decomposition G = (G G^T)^(1/2) Q,
computed from the eigendecomposition of G G^T without an SVD. It is the LMO of the spectral ball, so it
equals ``spectral`` mathematically; the Gram matrix squares the condition number, so singular values
below about sqrt(r eps) sigma_1 are lost (taken as 0): a measured limitation, see the norms claims.

Fanions (Kravatskiy et al., "The Ky Fan norms and beyond"): the optimizer takes the LMO of the ball of
N = P* for P = alpha KF_k + (1 - alpha) Q, Q = ||.||_F (F-Fanions) or Q = sigma_1 (S-Fanions). The ball
of a dual of a sum of norms is the Minkowski sum of the dual balls, B(P*) = alpha B(KF_k*) +
(1 - alpha) B(Q*), so its LMO is alpha lmo_{KF_k*} + (1 - alpha) lmo_{Q*} and ||G||_{N*} = P(G) (proof
at _fanion_lmo). norm_value of these N is computed on sigma (see _fanion_norm).

Ties and zeros (documented choices; each is optimal, the LMO is then not unique): a zero vector, row,
column or matrix gives 0; singular values at or below the rank threshold r eps sigma_1 count as 0 and
their directions get weight 0; among equal |g_i| (l1) the first index is taken; among equal singular
values the SVD's order decides (nuclear, kyfan_dual, fanions: any choice has the same value); kyfan at
sigma_1 = ||G||_nuc / k takes -u_1 w_1^T. Parameters: p in [1, inf] ('inf' accepted), k an integer >= 1
(capped at r: KF_k with k >= r is the nuclear norm), alpha in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import GeomrelaxError, NonFiniteError

__all__ = ["NORM_NAMES", "InvalidNormError", "NormSpec", "dual_norm", "lmo", "norm_value", "parse_norm"]

VECTOR_NORMS = ("l1", "linf", "l2")
MATRIX_NORMS = ("frobenius", "spectral", "nuclear", "schatten:p", "kyfan:k", "kyfan_dual:k", "row_l2", "col_l2",
                "rms", "left_polar", "ffanion:k,alpha", "sfanion:k,alpha", "fmuon:alpha", "smuon:alpha")
NORM_NAMES: tuple = VECTOR_NORMS + MATRIX_NORMS
_PLAIN = ("l1", "linf", "l2", "frobenius", "spectral", "nuclear", "row_l2", "col_l2", "rms", "left_polar")
_EPS = np.finfo(np.float64).eps
_MAX_STEPS = 200  # false-position steps of the F-Fanion norm (about 10-40 are used)


class InvalidNormError(GeomrelaxError, ValueError):
    """An unknown norm name or a bad parameter; the message lists the valid ones."""


@dataclass(frozen=True)
class NormSpec:
    """A parsed norm name: ``family`` (the name before the colon), its parameters, and ``matrix``."""

    family: str
    p: Optional[float] = None
    k: Optional[int] = None
    alpha: Optional[float] = None

    @property
    def matrix(self) -> bool:
        return self.family not in VECTOR_NORMS

    @property
    def text(self) -> str:
        if self.family == "schatten":
            return f"schatten:{self.p:g}"
        if self.family in ("kyfan", "kyfan_dual"):
            return f"{self.family}:{self.k}"
        if self.family in ("ffanion", "sfanion"):
            return f"{self.family}:{'r' if self.k is None else self.k},{self.alpha:g}"
        return self.family


def _bad(norm, why: str):
    raise InvalidNormError(f"norm {norm!r}: {why}; valid norms are {', '.join(NORM_NAMES)} "
                           "(p in [1, inf], k an integer >= 1, alpha in [0, 1])")


def _number(norm, text: str, what: str) -> float:
    try:
        val = float(text)  # float() of a string reads a number only: the name is data
    except ValueError:
        _bad(norm, f"{what} {text!r} is not a number")
    if math.isnan(val):
        _bad(norm, f"{what} is NaN")
    return val


def _integer(norm, text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        _bad(norm, f"k = {text!r} must be an integer >= 1")
    return int(text)


def _alpha(norm, text: str) -> float:
    a = _number(norm, text, "alpha")
    if not 0.0 <= a <= 1.0:
        _bad(norm, f"alpha = {a:g} must lie in [0, 1]")
    return a


def parse_norm(norm) -> NormSpec:
    """The NormSpec of a name such as 'l1', 'schatten:3', 'kyfan:2', 'ffanion:2,0.5' (a NormSpec passes)."""
    if isinstance(norm, NormSpec):
        return norm
    if not isinstance(norm, str):
        raise InvalidNormError(f"a norm is named by a string, got {type(norm).__name__}: {norm!r:.80}; "
                               f"valid norms are {', '.join(NORM_NAMES)}")
    family, _, arg = norm.strip().lower().partition(":")
    if family in _PLAIN:
        if arg:
            _bad(norm, f"{family} takes no parameter")
        return NormSpec(family)
    if not arg:
        if family in ("schatten", "kyfan", "kyfan_dual", "ffanion", "sfanion", "fmuon", "smuon"):
            _bad(norm, f"{family} needs a parameter after ':'")
        _bad(norm, "unknown name")
    if family == "schatten":
        p = _number(norm, arg, "p")
        if not p >= 1.0:
            _bad(norm, f"p = {p:g} must be >= 1 (p < 1 is a quasi-norm, without a convex ball)")
        return NormSpec("schatten", p=p)
    if family in ("kyfan", "kyfan_dual"):
        return NormSpec(family, k=_integer(norm, arg))
    if family in ("fmuon", "smuon"):
        return NormSpec(family[0] + "fanion", k=None, alpha=_alpha(norm, arg))
    if family in ("ffanion", "sfanion"):
        parts = arg.split(",")
        if len(parts) != 2:
            _bad(norm, f"{family} takes 'k,alpha'")
        return NormSpec(family, k=_integer(norm, parts[0]), alpha=_alpha(norm, parts[1]))
    _bad(norm, "unknown name")


# ------------------------------------------------------------------------------------------------
# input handling
# ------------------------------------------------------------------------------------------------
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


def _scale(G, axes):
    """A power of two c per event with max |G| / c in [0.5, 1) (1 for a zero event): exact rescaling,
    so that sums of squares neither overflow nor underflow."""
    amax = np.max(np.abs(G), axis=axes, keepdims=True)
    _, e = np.frexp(amax)
    return np.where(amax > 0, np.ldexp(1.0, e), 1.0).astype(G.dtype)


def _l2(G, axis):
    c = _scale(G, axis)
    return np.sqrt(np.sum((G / c) ** 2, axis=axis, keepdims=True)) * c


def _svd(G):
    u, s, vt = np.linalg.svd(G, full_matrices=False)
    return u, s, vt


def _positive(s, G):
    """Singular values above the rank threshold max(rows, cols) eps sigma_1 (the SVD's own accuracy)."""
    return s > max(G.shape[-2:]) * np.finfo(s.dtype).eps * s[..., :1]


def _rebuild(u, w, vt):
    return (u * w[..., None, :]) @ vt


def _topk(s, G, k):
    """Weights 1 on the top min(k, r) positive singular values, 0 elsewhere."""
    w = np.zeros_like(s)
    w[..., :k] = 1.0
    return np.where(_positive(s, G), w, 0.0)


def _kf(s, k):
    return np.sum(s[..., :k], axis=-1)


# ------------------------------------------------------------------------------------------------
# the LMOs
# ------------------------------------------------------------------------------------------------
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


def _fanion_lmo(spec, G, u, s, vt):
    # Proof. Let P = alpha KF_k + (1 - alpha) Q. For norms P1, P2 with dual balls B1*, B2*,
    #   sup_{D in alpha B1* + (1 - alpha) B2*} <G, D> = alpha P1(G) + (1 - alpha) P2(G) = P(G),
    # so the closed convex set alpha B1* + (1 - alpha) B2* has support function P; a closed convex set is
    # determined by its support function, and the ball of N = P* has support function N* = P: the two sets
    # are equal. The minimum of the linear <G, .> over a Minkowski sum splits over the summands:
    #   lmo_N(G) = alpha lmo_{KF_k*}(G) + (1 - alpha) lmo_{Q*}(G),  <G, lmo_N(G)> = -P(G).
    # lmo_{KF_k*}(G) = -U_k W_k^T (top k pairs: KF_k*(U_k W_k^T) = max(1, k/k) = 1 and <G, U_k W_k^T> = KF_k(G));
    # lmo of the Frobenius ball -G/||G||_F; lmo of the nuclear ball (Q = sigma_1, Q* = nuclear) -u_1 w_1^T.
    # Both pieces are U diag(phi(sigma)) W^T: the LMO is a spectral map on sigma(G).
    k = min(spec.k or s.shape[-1], s.shape[-1])
    a = spec.alpha
    if spec.family == "ffanion":
        nf = np.sqrt(np.sum(s * s, axis=-1, keepdims=True))
        other = np.where(nf > 0, s / np.where(nf > 0, nf, 1.0), 0.0)
    else:
        other = _topk(s, G, 1)
    return -_rebuild(u, a * _topk(s, G, k) + (1.0 - a) * other, vt)


def _left_polar(G):
    # (G G^T)^(+1/2) G from eigh of the Gram matrix, after an exact power-of-two scaling of G
    c = _scale(G, (-2, -1))
    Gs = G / c
    w, Q = np.linalg.eigh(Gs @ np.swapaxes(Gs, -1, -2))
    keep = w > max(G.shape[-2:]) * _EPS * w[..., -1:]
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
    return _fanion_lmo(spec, G, u, s, vt)


# ------------------------------------------------------------------------------------------------
# norm and dual norm values
# ------------------------------------------------------------------------------------------------
def _vector_norm(fam, g, dual: bool):
    kind = {"l1": "linf", "linf": "l1", "l2": "l2"}[fam] if dual else fam
    if kind == "l1":
        return np.sum(np.abs(g), axis=-1)
    if kind == "linf":
        return np.max(np.abs(g), axis=-1)
    return _l2(g, -1)[..., 0]


def _fanion_norm(spec, s):
    """N(sigma) for N = P* (P = alpha KF_k + (1 - alpha) Q), computed on the singular values.

    S-Fanions (Q = sigma_1): on the cone x_1 >= ... >= x_r >= 0 P is linear, so its ball there is the polytope
    with vertices 0 and 1_j / P(1_j) (1_j = j leading ones, P(1_j) = alpha min(j, k) + 1 - alpha), and
        N(sigma) = max_j (sigma_1 + ... + sigma_j) / (alpha min(j, k) + 1 - alpha).
    F-Fanions (Q = Frobenius): sigma lies in t B(N) = alpha t B(KF_k*) + (1 - alpha) t B(l2) iff the distance
    from sigma to alpha t C, C = {0 <= c_i <= 1, sum c_i <= k} (the ball of KF_k* on sigma), is at most
    (1 - alpha) t. That distance is non-increasing and convex in t (the distance to the convex cone
    {(c, t) : c in alpha t C}), so N(sigma) is the root of a monotone convex function, found in a bracket
    that shrinks to 4 eps N (Illinois false position), with the exact projection onto alpha t C
    (_capped_projection). The upper end of the bracket is returned: sigma / N(sigma) is in the ball."""
    r = s.shape[-1]
    k = min(spec.k or r, r)
    a = spec.alpha
    if spec.family == "sfanion":
        j = np.arange(1, r + 1)
        return np.max(np.cumsum(s, axis=-1) / (a * np.minimum(j, k) + 1.0 - a), axis=-1)
    l2 = np.sqrt(np.sum(s * s, axis=-1))
    if a == 0.0:
        return l2
    kf_dual = np.maximum(s[..., 0], np.sum(s, axis=-1) / k)
    if a == 1.0:
        return kf_dual
    def phi(t):  # dist(sigma, alpha t C) - (1 - alpha) t: convex, decreasing through its root
        c = _capped_projection(s, a * t, a * t * k)
        return np.sqrt(np.sum((s - c) ** 2, axis=-1)) - (1.0 - a) * t

    # the bracket [lo, hi] keeps phi(lo) > 0 >= phi(hi); steps by false position with the Illinois
    # halving (superlinear), the midpoint where a step would leave the open bracket
    lo, hi = np.zeros_like(l2), np.minimum(l2 / (1.0 - a), kf_dual / a)
    flo, fhi = l2, phi(hi)
    side = np.zeros(l2.shape, dtype=int)
    for _ in range(_MAX_STEPS):
        open_ = hi - lo > 4 * _EPS * hi
        if not np.any(open_):
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (lo * fhi - hi * flo) / (fhi - flo)
        t = np.where((t > lo) & (t < hi), t, (lo + hi) / 2)
        ft = phi(t)
        inside = (ft <= 0) & open_
        outside = (ft > 0) & open_
        # Illinois: the endpoint kept twice in a row has its value halved
        flo = np.where(inside & (side == 1), flo / 2, np.where(outside, ft, flo))
        fhi = np.where(outside & (side == -1), fhi / 2, np.where(inside, ft, fhi))
        side = np.where(inside, 1, np.where(outside, -1, side))
        lo, hi = np.where(outside, t, lo), np.where(inside, t, hi)
    return hi


def _capped_projection(s, cap, total):
    """The Euclidean projection of s >= 0 onto {0 <= c_i <= cap, sum c_i <= total} (per batch entry):
    c = clip(s - theta, 0, cap) with theta = 0 when that sum is <= total, else the theta where
    h(theta) = sum clip(s - theta, 0, cap) = total (KKT). h is piecewise linear and non-increasing with
    breaks at s_i and s_i - cap, so theta is found exactly by evaluating h at the breaks and interpolating
    linearly on the bracketing piece."""
    cap, total = np.asarray(cap)[..., None], np.asarray(total)[..., None]
    breaks = np.sort(np.concatenate([s, s - cap], axis=-1), axis=-1)                 # (..., 2r) ascending
    h = np.sum(np.clip(s[..., None, :] - breaks[..., :, None], 0.0, cap[..., None]), axis=-1)  # non-increasing
    # the last break with h >= total, and the next one (h < total there, or the end where h = 0)
    i = np.clip(np.sum(h >= total, axis=-1, keepdims=True) - 1, 0, breaks.shape[-1] - 2)
    b0, b1 = np.take_along_axis(breaks, i, -1), np.take_along_axis(breaks, i + 1, -1)
    h0, h1 = np.take_along_axis(h, i, -1), np.take_along_axis(h, i + 1, -1)
    slope = np.where(h0 > h1, (total - h0) / np.where(h0 > h1, h1 - h0, 1.0), 0.0)
    theta = np.where(np.sum(np.minimum(s, cap), axis=-1, keepdims=True) <= total, 0.0,
                     np.maximum(b0 + slope * (b1 - b0), 0.0))
    return np.clip(s - theta, 0.0, cap)


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
    return restore(_lmo_matrix(spec, G) if spec.matrix else _lmo_vector(spec, G))


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
