"""Pieces on singular values and rows the LMOs share: exact power-of-two scaling, overflow-free l2 norms,
the rank threshold, rebuilding U diag(w) W^T, top-k weights and Ky Fan sums.
"""

from __future__ import annotations

import numpy as np

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
