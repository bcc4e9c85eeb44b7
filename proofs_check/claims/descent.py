"""The one-step descent inequality of Softsign (a reconstruction; the paper's exact theorem was not
recovered), on random L-smooth functions with an explicit L.

For V mu-strongly convex w.r.t. ||.||_2 with V(0) = 0 = min V, f L-smooth w.r.t. ||.||_2, a step
theta' = theta + delta d with d = grad V*(-tau m) satisfies

    f(theta') <= f(theta) - (delta/tau) V*(-tau grad f(theta)) + (delta tau / (2 mu)) ||grad f(theta) - m||^2
                 - (delta/2) (mu/tau - L delta) ||d||^2.

Proof sketch: f(theta') <= f(theta) + delta <grad f, d> + L delta^2 ||d||^2 / 2; the Fenchel-Young
equality at d gives tau <m, d> = -V(d) - V*(-tau m); the (1/mu)-smoothness of V* at -tau m bounds
V*(-tau grad f) - V*(-tau m) - <d, -tau (grad f - m)>; and V(d) >= mu ||d||^2 / 2.

Test functions (d = 4): f(x) = x^T A x / 2 + b^T x + c sum_i sin(w_i x_i), A = Q diag(lambda) Q^T with
lambda in [-4, 4] (non-convex allowed), c in [0, 1], w in [0, 3]; L = max |lambda| + c max w_i^2
(the Hessian is A - c diag(w^2 sin(w x)), whose spectral norm is at most that). The input vector
holds theta, m, lambda, Q's raw entries, b, c, w and delta; tau is fixed per claim.

Rounding allowance: 64 eps times the sum of the magnitudes of every term on both sides (f's terms
taken in absolute value), since each side is a sum of those terms computed to a few ulps.
"""

from __future__ import annotations

import numpy as np

from geomrelax.regularizers import regularizer
from geomrelax.verify import TOL

from ..claim import Claim

D = 4
TAUS = (0.5, 5.0, 50.0)
# layout of the input vector
_SL = {"theta": slice(0, 4), "m": slice(4, 8), "lam": slice(8, 12), "q": slice(12, 28), "b": slice(28, 32),
       "c": slice(32, 33), "w": slice(33, 37), "logdelta": slice(37, 38)}
DIM = 38


class _Problem:
    def __init__(self, z):
        self.lam = np.clip(z[_SL["lam"]], -4.0, 4.0)
        Q, _ = np.linalg.qr(z[_SL["q"]].reshape(D, D) + 1e-3 * np.eye(D))
        self.A = (Q * self.lam) @ Q.T
        self.b = z[_SL["b"]]
        self.c = float(np.clip(z[_SL["c"]][0], 0.0, 1.0))
        self.w = np.clip(z[_SL["w"]], 0.0, 3.0)
        self.L = float(np.max(np.abs(self.lam)) + self.c * np.max(self.w ** 2))

    def f_terms(self, x):
        return np.array([x @ self.A @ x / 2, self.b @ x, self.c * np.sum(np.sin(self.w * x))])

    def f_abs(self, x):
        return 0.5 * np.abs(x) @ np.abs(self.A) @ np.abs(x) + np.abs(self.b) @ np.abs(x) + self.c * D

    def grad(self, x):
        return self.A @ x + self.b + self.c * self.w * np.cos(self.w * x)


def _sides(V, tau, z, delta_scale):
    P = _Problem(z)
    theta, m = z[_SL["theta"]], z[_SL["m"]]
    delta = delta_scale(P, tau) * 10.0 ** np.clip(z[_SL["logdelta"]][0], -3.0, 1.0)
    d = np.asarray(V.grad_conj(-tau * m), dtype=float)
    g = P.grad(theta)
    new = theta + delta * d
    lhs = np.sum(P.f_terms(new))
    terms = np.array([np.sum(P.f_terms(theta)), -(delta / tau) * float(V.conj(-tau * g)),
                      (delta * tau / (2 * V.mu)) * float(np.sum((g - m) ** 2)),
                      -(delta / 2) * (V.mu / tau - P.L * delta) * float(np.sum(d * d))])
    mags = P.f_abs(new) + P.f_abs(theta) + np.sum(np.abs(terms[1:]))
    return lhs, float(np.sum(terms)), mags


def _delta_scale(P, tau):
    return 1.0 / (P.L * tau)  # delta = mu/(L tau) * 10^z, z in [-3, 1]: both signs of mu/tau - L delta


def descent_claim(name: str, tau: float, factor: float = 1.0, ident=None, expected="holds") -> Claim:
    """The inequality for regularizer ``name`` at temperature tau; ``factor`` scales the noise term
    (1 is the claim; a planted false variant uses a smaller one)."""
    V = regularizer(name)

    def margin(z):
        lhs, rhs, _ = _sides(V, tau, z, _delta_scale)
        if factor != 1.0:
            P = _Problem(z)
            g, m = P.grad(z[_SL["theta"]]), z[_SL["m"]]
            delta = _delta_scale(P, tau) * 10.0 ** np.clip(z[_SL["logdelta"]][0], -3.0, 1.0)
            rhs -= (1 - factor) * (delta * tau / (2 * V.mu)) * float(np.sum((g - m) ** 2))
        return lhs - rhs

    def allowance(z):
        return TOL * _sides(V, tau, z, _delta_scale)[2]

    def sample(rng):
        z = rng.standard_normal(DIM)
        z[_SL["theta"]] *= 3.0
        z[_SL["m"]] = z[_SL["m"]] * 10.0 ** rng.uniform(-3, 1)
        z[_SL["lam"]] *= 3.0
        z[_SL["c"]] = rng.uniform(0, 1)
        z[_SL["w"]] = rng.uniform(0, 3, size=D)
        z[_SL["logdelta"]] = rng.uniform(-3, 1)
        return z

    return Claim(id=ident or f"descent/softsign-one-step/{name}/tau={tau:g}",
                 source="Softsign (arXiv 2605.31371), one-step descent inequality: reconstruction",
                 description=("f(theta + delta d) <= f(theta) - (delta/tau) V*(-tau grad f) + "
                              f"{factor:g} (delta tau/2mu) ||grad f - m||^2 - (delta/2)(mu/tau - L delta)||d||^2, "
                              f"d = grad V*(-tau m), V = {name}, tau = {tau:g}"),
                 assumptions="f L-smooth (quadratic + bounded sine term, L explicit), V mu-strongly convex (l2), "
                             "delta = 10^z mu/(L tau), z in [-3, 1]",
                 sample=sample, margin=margin, allowance=allowance, hp_route=False, cost=5.0,
                 expected=expected, tags=("descent", name) + (("planted",) if factor != 1.0 else ()))


def claims() -> list:
    return [descent_claim(n, t) for n in ("entropic", "algebraic") for t in TAUS]
