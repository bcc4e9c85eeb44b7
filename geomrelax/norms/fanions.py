"""The Fanion norms and their duals (Kravatskiy et al., "The Ky Fan norms and beyond"): for
P = alpha KF_k + (1 - alpha) Q, Q = ||.||_F or sigma_1, the LMOs of the balls of N = P* (the Fanions) and of P
itself, and the value of N computed on the singular values. The formulas and their proofs are below.
"""

from __future__ import annotations

import numpy as np

from .names import NormSpec
from .spectra import _kf, _positive, _rebuild, _topk

_EPS = np.finfo(np.float64).eps
_MAX_STEPS = 200  # false-position steps of the F-Fanion norm (about 10-40 are used)


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


def _combination_weights(spec, G, s):
    # Proof. P = alpha KF_k + (1 - alpha) Q is unitarily invariant, so (von Neumann's trace inequality) the
    # minimiser of <G, D> over its ball is -U diag(x) W^T with x >= 0 maximising <sigma, x> over the vector
    # ball {P(x) <= 1}, the maximum being N(sigma) = P*(sigma).
    # Q = sigma_1: on the cone x_1 >= ... >= x_r >= 0 (where the maximiser lies, sigma being sorted) P is
    # linear, so the ball there is a polytope with vertices 0 and 1_j / P(1_j); a linear function peaks at a
    # vertex: x = 1_j / (alpha min(j, k) + 1 - alpha) for the j that maximises <sigma, 1_j> / P(1_j).
    # Q = Frobenius: at t = N(sigma), sigma = alpha t a + (1 - alpha) t b with a in C (the KF_k* ball on sigma),
    # ||b|| <= 1, and c = alpha t a = proj_{alpha t C}(sigma) (the split of _fanion_norm, with
    # ||sigma - c|| = (1 - alpha) t at the root). Put y = sigma - c and x = y / P(y). The projection's
    # optimality condition says y is normal to alpha t C at c: <y, c> = max over alpha t C of <y, .> =
    # alpha t KF_k(y) (the support function of C is KF_k). Also <y, b> = ||y||^2 / ((1 - alpha) t) = ||y||,
    # as ||y|| = (1 - alpha) t. Hence <sigma, y> = <c, y> + (1 - alpha) t <b, y> = t (alpha KF_k(y) +
    # (1 - alpha) ||y||) = t P(y), so <sigma, x> = t = N(sigma) with P(x) = 1: x attains the maximum.
    r = s.shape[-1]
    k = min(spec.k or r, r)
    a = spec.alpha
    pos = _positive(s, G)
    if spec.family == "kyfan_spectral":
        j = np.arange(1, r + 1)
        den = a * np.minimum(j, k) + 1.0 - a
        best = np.argmax(np.cumsum(s, axis=-1) / den, axis=-1)[..., None]
        w = np.where(j - 1 <= best, 1.0, 0.0) / np.take_along_axis(np.broadcast_to(den, s.shape), best, -1)
        return np.where(pos, w, 0.0)
    if a == 1.0:  # the Ky Fan k ball itself (y = 0 at the root): its vertices, as for kyfan:k
        one = s[..., :1] >= np.sum(s, axis=-1, keepdims=True) / k
        return np.where(pos, np.where(one, _topk(s, G, 1), 1.0 / k), 0.0)
    t = _fanion_norm(NormSpec("ffanion", k=k, alpha=a), s)
    y = s - _capped_projection(s, a * t, a * t * k)
    py = (a * _kf(y, k) + (1.0 - a) * np.sqrt(np.sum(y * y, axis=-1)))[..., None]
    return np.where(pos & (py > 0), y / np.where(py > 0, py, 1.0), 0.0)


# ------------------------------------------------------------------------------------------------
# norm and dual norm values
# ------------------------------------------------------------------------------------------------


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
