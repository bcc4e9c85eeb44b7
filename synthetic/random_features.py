"""Random-feature regression with a power-law spectrum, and the scaling exponent alpha of L(N) ~ N^-alpha.

Data: latent z in R^M with z ~ N(0, Lambda), lambda_k = k^-(1+s) (k = 1..M); target y = <w*, z> with
w*_k = 1, so mode k carries target power lambda_k. Model with N random features: prediction
<theta, F z>, F (N x M) with N(0, 1/M) entries. Population loss (no label noise)

    f(theta) = (1/2) E (<theta, F z> - <w*, z>)^2 = (1/2) r^T Lambda r,   r = F^T theta - w*
    grad f   = F Lambda (F^T theta - w*),   Hessian H = F Lambda F^T (N x N)

f* = min_theta f is the approximation error of N features (exact, by least squares in float64),
theta_0 = 0. The scaling law L(N) = f(theta_T) after T steps: natural gradient (preconditioned by
H^-1, one exact step on a quadratic) reaches f* at once, so alpha_NG is the exponent of f*(N); an
optimizer limited to T steps learns only the modes of H it resolves in T steps, which flattens L(N)
in N (smaller alpha). With lambda_k = k^-(1+s) and w*_k = 1 the tail sum gives f*(N) ~ N^-s for
N << M in the idealised (orthogonal-feature) limit; random features fall short of it.

Minibatch noise draws fresh z (a data distribution, not a finite sum).
"""

from __future__ import annotations

import math

import numpy as np

from .problems import Problem, _check_positive, _check_positive_int

__all__ = ["RandomFeatures", "scaling_exponent"]


class RandomFeatures(Problem):
    """See the module docstring; d is the number of features N, M the latent dimension (default 2048)."""

    def __init__(self, d: int, *, s: float = 1.0, M: int = 2048, seed: int = 0):
        N = _check_positive_int("d", d)
        M = _check_positive_int("M", M)
        s = _check_positive("s", s)
        rng = np.random.default_rng(seed)
        self.lam = np.arange(1, M + 1, dtype=np.float64) ** (-(1.0 + s))
        self.F = rng.standard_normal((N, M)) / math.sqrt(M)
        self.w = np.ones(M)
        self.FL = self.F * self.lam                                   # F Lambda (N x M)
        self.s, self.M = s, M
        self.name = "random_features"
        self.event_shape = (N,)
        self.x0_np = np.zeros(N)
        H = self.FL @ self.F.T
        self.Fw = self.FL @ self.w                                    # F Lambda w*
        theta, *_ = np.linalg.lstsq(np.sqrt(self.lam)[:, None] * self.F.T, np.sqrt(self.lam) * self.w, rcond=None)
        r = self.F.T @ theta - self.w
        self.theta_star = theta
        self.f_star = float(0.5 * (r * self.lam * r).sum())
        self.L2 = float(np.linalg.eigvalsh(H)[-1])
        self.L_coord = np.abs(H).sum(1)
        self.L_inf = float(self.L_coord.sum())
        self.H = H

    def value(self, x):
        F, lam, w = self.tensors(x, "F", "lam", "w")
        r = x @ F - w
        return 0.5 * (r * r * lam).sum(-1)

    def grad(self, x):
        H, Fw = self.tensors(x, "H", "Fw")
        return x @ H - Fw                                             # H symmetric: F Lambda (F^T theta - w*)

    def minibatch_draw(self, rng, chunk: int, batch: int):
        """Fresh latent samples z ~ N(0, Lambda): shape (chunk, batch, M)."""
        return (rng.standard_normal((chunk, batch, self.M)) * np.sqrt(self.lam)).astype(np.float32)

    def minibatch_grad(self, x, draw):
        """mean_b (F z_b) <F^T theta - w*, z_b>, x (..., S, N), draw (S, batch, M)."""
        F, w = self.tensors(x, "F", "w")
        z = draw.to(x.dtype)
        Fz = z @ F.mT                                                 # (S, b, N)
        r = (x.unsqueeze(-2) * Fz).sum(-1) - (z * w).sum(-1)          # (..., S, b)
        return (r.unsqueeze(-1) * Fz).mean(-2)

    def minibatch_sigma(self, x, batch: int):
        """Exact per-coordinate std for Gaussian z (Isserlis): Var_i = (F_i Lambda F_i^T)(r^T Lambda r) + (F_i Lambda r)^2."""
        r = self.F.T @ np.asarray(x, dtype=np.float64) - self.w
        FLr = self.FL @ r
        var = np.diag(self.H) * float((r * self.lam * r).sum()) + FLr ** 2
        return np.sqrt(var / batch)


def scaling_exponent(Ns, *, s: float = 1.0, T: int = 1000, optimizers=None, M: int = 2048, problem_seeds=(0,),
                     seeds=(0,), noise=None, dtype: str = "float64") -> list:
    """alpha of L(N) = f(theta_T) ~ N^-alpha for each optimizer, plus natural gradient (f*(N)).

    Each problem seed draws its own features F; the interval comes from the bootstrap over problem
    seeds (the runs' seeds only matter with a noise model, and are averaged). optimizers: Method
    specs, or "gd" (sgd with lr 1/L2 and no momentum, the default). Returns rows {optimizer, alpha,
    lo, hi, losses (mean over problem seeds, per N)}.
    """
    from .engine import run_cell
    from .methods import Method, make_method
    from .noise import NoNoise
    from .rates import fit_power

    Ns = [int(n) for n in Ns]
    probs = [[RandomFeatures(n, s=s, M=M, seed=ps) for n in Ns] for ps in problem_seeds]
    noise = noise or NoNoise()
    out = []
    for spec in optimizers or ["gd"]:
        Y = np.zeros((len(probs), len(Ns)))
        for i, row in enumerate(probs):
            for j, P in enumerate(row):
                m = Method("sgd", lr=1.0 / P.L2, momentum=0.0, label="gd") if spec == "gd" else make_method(spec)
                rows = run_cell(P, noise, m, T, taus=[10.0], seeds=seeds, n_checkpoints=2, dtype=dtype)
                Y[i, j] = np.mean([r["f_gap"] + P.f_star for r in rows if r["step"] == T])
        out.append(_alpha_row(m.key(), Ns, Y, fit_power))
    F = np.array([[P.f_star for P in row] for row in probs])
    out.append(_alpha_row("natural_gradient", Ns, F, fit_power))
    return out


def _alpha_row(name, Ns, Y, fit_power):
    fit = fit_power(Ns, Y)
    return {"optimizer": name, "alpha": -fit["exponent"], "lo": -fit["hi"], "hi": -fit["lo"],
            "losses": Y.mean(0).tolist()}
