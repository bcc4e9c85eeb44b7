"""The adversarial search engine of the core: find inputs that maximise a score (a violation margin).

One engine serves every checker: ``geomrelax.verify`` (the identity checks of a regularizer) and
``proofs_check`` (claims). Both hand in a batched score function and starting points; the engine only
searches, it does not decide what a violation is.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SEARCH_ITERS", "SEARCH_BATCH", "local_search"]

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
