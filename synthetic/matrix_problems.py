"""Matrix test problems for the spectral optimizers (Muon, SoftMuon, Relaxed with a spectral V).

The iterate is a matrix X (event_shape (rows, cols)); stationarity is also measured in the nuclear
norm ||grad f||_* (the dual of the spectral norm in which Muon's steps are bounded).

Constants for vec(X) (d = rows x cols coordinates), with H the Hessian:
    L2 = ||H||_2,  L_coord_i = sum_j |H_ij| (so H <= diag(L_coord), by Gershgorin),
    L_inf = sum_ij |H_ij| >= ||H||_{inf -> 1}.
"""

from __future__ import annotations

import math

import numpy as np

from .problems import Problem, _check_positive, _check_positive_int

__all__ = ["MatrixLeastSquares", "MatrixSensing"]


class MatrixLeastSquares(Problem):
    """f(X) = ||A X - B||_F^2 / 2 with A (p x d) ill-conditioned: singular values geomspace(1, 1/sqrt(cond)).

    X is d x n, B = A X_true (X_true ~ N(0, 1)), x0 = 0, so f* = 0 exactly. The Hessian is
    A^T A (x) I_n: L2 = ||A||_2^2 = 1 and the condition number of A^T A is ``cond``.
    """

    matrix = True

    def __init__(self, d: int, n: int = None, *, p: int = None, cond: float = 100.0, seed: int = 0):
        d = _check_positive_int("d", d, 2)
        n = d if n is None else _check_positive_int("n", n)
        p = d if p is None else _check_positive_int("p", p, d)
        cond = _check_positive("cond", cond)
        rng = np.random.default_rng(seed)
        U, _ = np.linalg.qr(rng.standard_normal((p, d)))
        V, _ = np.linalg.qr(rng.standard_normal((d, d)))
        s = np.geomspace(1.0, 1.0 / math.sqrt(cond), d)
        self.A = (U * s) @ V.T
        self.X_true = rng.standard_normal((d, n))
        self.B = self.A @ self.X_true
        self.name = "matrix_least_squares"
        self.event_shape = (d, n)
        self.x0_np = np.zeros((d, n))
        self.f_star = 0.0
        G = self.A.T @ self.A
        row = np.abs(G).sum(1)
        self.L2 = float(s[0] ** 2)
        self.L_coord = np.repeat(row[:, None], n, axis=1).ravel()
        self.L_inf = float(self.L_coord.sum())

    def value(self, x):
        A, B = self.tensors(x, "A", "B")
        R = A @ x - B
        return 0.5 * (R * R).sum((-2, -1))

    def grad(self, x):
        A, B = self.tensors(x, "A", "B")
        return A.mT @ (A @ x - B)


class MatrixSensing(Problem):
    """Low-rank matrix sensing: f(U) = (1/2m) sum_j (<A_j, U U^T> - y_j)^2, U of shape d x rank.

    A_j symmetric with N(0, 1) entries (off-diagonal N(0, 1/2)), y_j = <A_j, U* U*^T> with U* ~ N(0, 1/d),
    so f* = 0 exactly (non-convex: U and U Q for orthogonal Q are equivalent). x0 is a small random
    U (scale 1e-2, fixed by ``seed``). The Hessian is unbounded on the whole space (f is quartic), so
    the constants hold on the ball ||U||_F <= R with R = 2 max(||U0||_F, ||U*||_F) (a bound the
    runs' iterates are expected, not checked, to respect):

        L2 <= (2/m) sum_j (3 a_j^2 R^2 + a_j |y_j|),   a_j = ||A_j||_2
        L_coord_i = L2 (H <= L2 I),  L_inf = d_total L2 (||H||_{inf -> 1} <= d_total ||H||_2).
    """

    matrix = True

    def __init__(self, d: int, rank: int = 2, *, m: int = None, seed: int = 0):
        d = _check_positive_int("d", d, 2)
        rank = _check_positive_int("rank", rank)
        m = 5 * d * rank if m is None else _check_positive_int("m", m)
        rng = np.random.default_rng(seed)
        G = rng.standard_normal((m, d, d))
        self.As = (G + G.transpose(0, 2, 1)) / 2.0
        self.U_true = rng.standard_normal((d, rank)) / math.sqrt(d)
        self.y = np.einsum("jab,ab->j", self.As, self.U_true @ self.U_true.T)
        self.m = m
        self.name = "matrix_sensing"
        self.event_shape = (d, rank)
        self.x0_np = 1e-2 * rng.standard_normal((d, rank))
        self.f_star = 0.0
        R = 2.0 * max(np.linalg.norm(self.x0_np), np.linalg.norm(self.U_true))
        a = np.linalg.norm(self.As, ord=2, axis=(1, 2))
        self.radius = R
        self.L2 = float((2.0 / m) * (3.0 * a * a * R * R + a * np.abs(self.y)).sum())
        self.L_coord = np.full(d * rank, self.L2)
        self.L_inf = self.L2 * d * rank

    def _resid(self, x, As, y):
        P = x @ x.mT                                                   # (..., d, d)
        return (P.unsqueeze(-3) * As).sum((-2, -1)) - y               # (..., m)

    def value(self, x):
        As, y = self.tensors(x, "As", "y")
        r = self._resid(x, As, y)
        return 0.5 * (r * r).mean(-1)

    def grad(self, x):
        As, y = self.tensors(x, "As", "y")
        r = self._resid(x, As, y)
        M = (r.unsqueeze(-1).unsqueeze(-1) * As).sum(-3)               # sum_j r_j A_j
        return (2.0 / self.m) * M @ x

    def minibatch_draw(self, rng, chunk: int, batch: int):
        return rng.integers(0, self.m, size=(chunk, batch))

    def minibatch_grad(self, x, draw):
        """2 mean_{j in draw} r_j A_j U, x of shape (..., S, d, r) and draw (S, batch)."""
        As, y = self.tensors(x, "As", "y")
        Ab, yb = As[draw], y[draw]                                     # (S, b, d, d), (S, b)
        P = x @ x.mT                                                   # (..., S, d, d)
        r = (P.unsqueeze(-3) * Ab).sum((-2, -1)) - yb                  # (..., S, b)
        M = (r.unsqueeze(-1).unsqueeze(-1) * Ab).mean(-3)
        return 2.0 * M @ x

    def minibatch_sigma(self, x, batch: int):
        x = np.asarray(x, dtype=np.float64)
        r = np.einsum("jab,ab->j", self.As, x @ x.T) - self.y
        G = 2.0 * r[:, None, None] * (self.As @ x)                     # per-term gradients (m, d, rank)
        return G.std(0) / math.sqrt(batch)

