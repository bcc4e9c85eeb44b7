"""The adversarial search engine of the core: find inputs that maximise a score (a violation margin).

One engine serves every checker: ``geomrelax.verify`` (the identity checks of a regularizer) and
``proofs_check`` (claims). Both hand in a batched score function and starting points; the engine only
searches, it does not decide what a violation is.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SEARCH_ITERS", "SEARCH_BATCH", "clip_to_box", "edge_points", "local_search", "magnitude_ladder", "polish"]

SEARCH_ITERS = 150
SEARCH_BATCH = 16


def local_search(score, P0, rng, iters: int = SEARCH_ITERS, k: int = SEARCH_BATCH):
    """Maximise score (batched: (S, m, dim) -> (S, m), row s scored for start s) from each row of P0 by an adaptive (1+k) evolution
    strategy: k Gaussian trials per start and step, per-coordinate step sizes relative to the point,
    grown x1.5 after a success and shrunk x0.6 after a failure. One batched call per step keeps the
    cost per step that of one vectorised evaluation (SVDs, numeric conjugates are batched)."""
    P = np.array(P0, dtype=float)
    S, dim = P.shape
    F = score(P[:, None, :])[:, 0]
    sigma = 0.1 * np.maximum(np.abs(P), 1e-3)
    rows = np.arange(S)
    for _ in range(iters):
        C = P[:, None, :] + sigma[:, None, :] * rng.standard_normal((S, k, dim))
        FC = score(C)
        j = np.argmax(FC, axis=1)
        best = FC[rows, j]
        up = best > F
        P[up] = C[rows[up], j[up]]
        F[up] = best[up]
        sigma = np.where(up[:, None], sigma * 1.5, sigma * 0.6)
        # keep a floor relative to the point so that a start at 0 can still move
        sigma = np.maximum(sigma, 1e-12 * np.maximum(np.abs(P), 1e-3))
    return P


# ------------------------------------------------------------------------------------------------
# pieces for searches over a box of inputs (used by proofs_check): edge cases and a bounded polish
# ------------------------------------------------------------------------------------------------
def clip_to_box(P, bounds):
    """P clipped into the box ``bounds`` (an array (dim, 2) of [lo, hi], infinite ends allowed), or P."""
    if bounds is None:
        return P
    b = np.asarray(bounds, dtype=float)
    return np.clip(P, b[:, 0], b[:, 1])


def edge_points(bounds, rng, n: int):
    """Edge cases of the box ``bounds`` (dim, 2): corners, points with some coordinates on a face,
    and points at relative distances 1e-2 .. 1e-14 inside a face (where rounding decides on which
    side of the boundary a value lands). Infinite ends are replaced by +-1e8 (huge inputs)."""
    b = np.asarray(bounds, dtype=float)
    lo = np.where(np.isfinite(b[:, 0]), b[:, 0], -1e8)
    hi = np.where(np.isfinite(b[:, 1]), b[:, 1], 1e8)
    dim = len(b)
    corner = np.where(rng.uniform(size=(n, dim)) < 0.5, lo, hi)
    inner = rng.uniform(lo, hi, size=(n, dim))
    face = np.where(rng.uniform(size=(n, dim)) < 0.5, corner, inner)
    depth = 10.0 ** -rng.choice([2, 4, 6, 8, 10, 12, 14], size=(n, 1))
    mid = 0.5 * (lo + hi)
    near = face + depth * (mid - face)
    return np.concatenate([corner, face, near])


def magnitude_ladder(P, exponents=(-12, -8, -4, -2, 2, 4, 8)):
    """Copies of the points P scaled by 10**k: tiny and huge magnitudes of the same directions."""
    P = np.asarray(P, dtype=float)
    return np.concatenate([P * 10.0 ** k for k in exponents])


def polish(score_one, x0, bounds=None, max_evals: int = 200):
    """Maximise score_one (one point -> float) from x0 by Nelder-Mead (scipy), inside ``bounds``
    (points are clipped into the box before scoring, so the simplex may leave it harmlessly).
    Returns (best point, best score, evaluations used). Non-finite scores count as -inf."""
    from scipy.optimize import minimize

    best = [np.array(x0, dtype=float), float("-inf")]
    used = [0]

    def neg(x):
        p = clip_to_box(np.asarray(x, dtype=float)[None], bounds)[0]
        used[0] += 1
        s = float(score_one(p))
        s = float("-inf") if np.isnan(s) else s
        if s > best[1]:
            best[0], best[1] = p, s
        return float(np.clip(-s, -1e300, 1e300))  # Nelder-Mead needs finite values

    x0 = np.asarray(x0, dtype=float)
    # initial simplex relative to the point, so that tiny and huge starts are explored at their scale
    step = 0.05 * np.maximum(np.abs(x0), 1e-8 * max(1.0, float(np.max(np.abs(x0)))))
    simplex = np.vstack([x0] + [x0 + np.eye(len(x0))[i] * step[i] for i in range(len(x0))])
    minimize(neg, x0, method="Nelder-Mead",
             options={"maxfev": int(max_evals), "initial_simplex": simplex, "xatol": 0.0, "fatol": 0.0})
    return best[0], best[1], used[0]
