"""Sandwich bounds of the smoothings, and the noise density.

    ln cosh x <= x^2 / 2                                  (equality at 0 only, touching at rounding level)
    ln cosh x >= |x| - ln 2                               (tight as |x| -> infinity)
    ||m||_1 - d ln 2 / tau <= V*(tau m)/tau <= ||m||_1   (entropic V* = sum ln cosh: the l1 norm smoothed)
    ||M||_* - r / tau <= F*(tau M)/tau <= ||M||_*        (spectral algebraic F* = sum sqrt(1 + tau^2 s_i^2) - 1,
                                                          r = rank bound min(rows, cols): nuclear norm smoothed)
    1/d <= phi(s) = ||s||_1^2 / (d ||s||_2^2) <= 1       (noise density; 1 iff all |s_i| equal, 1/d iff one-hot)

The scalar formulas are plain numpy, so candidates are re-evaluated at 30 and 60 digits.
"""

from __future__ import annotations

import numpy as np

from geomrelax.spectral import Spectral
from geomrelax.regularizers import regularizer
from geomrelax.verify import TOL

from ..claim import Claim

LN2 = np.log(2.0)
DIM = 4
SHAPE = (3, 2)


def _ln_cosh(s):
    """ln cosh s = |s| + log1p(exp(-2|s|)) - ln 2 (no overflow; runs on mpmath numbers too)."""
    a = np.abs(s)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0 + 0 * a)


def _scalar_sample(rng):
    return np.array([rng.standard_normal() * 10.0 ** rng.uniform(-8, 3)])


def lncosh_quadratic() -> Claim:
    return Claim(id="sandwich/lncosh-quadratic", source="textbook (Taylor: cosh x <= exp(x^2/2))",
                 description="ln cosh x <= x^2/2", assumptions="x real", sample=_scalar_sample,
                 margin=lambda z: np.log(np.cosh(z[0])) - z[0] ** 2 / 2, scales=True,
                 tags=("sandwich", "entropic", "rounding-tight"))


def lncosh_abs() -> Claim:
    return Claim(id="sandwich/lncosh-abs", source="textbook (cosh x >= exp|x| / 2)",
                 description="ln cosh x >= |x| - ln 2", assumptions="x real", sample=_scalar_sample,
                 margin=lambda z: np.abs(z[0]) - np.log(2.0 + 0 * z[0]) - _ln_cosh(z[0]), scales=True,
                 tags=("sandwich", "entropic", "rounding-tight"))


def entropic_l1() -> Claim:
    def margin(z):
        tau, m = 10.0 ** z[0], z[1:]
        val = np.sum(_ln_cosh(tau * m)) / tau
        l1 = np.sum(np.abs(m))
        return max(val - l1, l1 - DIM * np.log(2.0 + 0 * tau) / tau - val)

    def sample(rng):
        return np.concatenate([[rng.uniform(-3, 6)], rng.standard_normal(DIM) * 10.0 ** rng.uniform(-4, 3)])

    return Claim(id="sandwich/entropic-l1", source="Softsign (arXiv 2605.31371): V*(-tau g) = sum ln cosh(tau g_i) "
                 "is l1-like for large and l2^2-like for small gradients",
                 description="||m||_1 - d ln2/tau <= V*(tau m)/tau <= ||m||_1, V* = sum ln cosh (entropic), d = 4",
                 assumptions="tau = 10^z0 in [1e-3, 1e6]", sample=sample, margin=margin,
                 bounds=[[-3.0, 6.0]] + [[-np.inf, np.inf]] * DIM, tags=("sandwich", "entropic", "limit"))


def nuclear_smoothing() -> Claim:
    F = Spectral(regularizer("algebraic"))
    r = min(SHAPE)

    def parts(z):
        tau, M = 10.0 ** z[0], z[1:].reshape(SHAPE)
        s = np.linalg.svd(M, compute_uv=False)
        return tau, s, float(F.conj(tau * M)) / tau

    def margin(z):
        tau, s, val = parts(z)
        nuc = float(np.sum(s))
        return max(val - nuc, nuc - r / tau - val)

    def allowance(z):
        # the SVD's singular values are off by <= TOL sigma_max each (backward stable): the nuclear
        # norm by r TOL sigma_max, F*/tau (1-Lipschitz in each sigma) by as much; plus the sums' rounding
        tau, s, val = parts(z)
        return TOL * (1 + 2 * r * s.max() + abs(val) + r / tau)

    def sample(rng):
        return np.concatenate([[rng.uniform(-3, 6)], rng.standard_normal(SHAPE[0] * SHAPE[1]) * 10.0 ** rng.uniform(-4, 3)])

    return Claim(id="sandwich/nuclear-smoothing", source="Softsign (arXiv 2605.31371), SoftMuon: the spectral algebraic "
                 "conjugate smooths the nuclear norm",
                 description="||M||_* - r/tau <= F*(tau M)/tau <= ||M||_*, F* = sum sqrt(1 + tau^2 s_i^2) - 1, M 3x2, r = 2",
                 assumptions="tau = 10^z0 in [1e-3, 1e6]", sample=sample, margin=margin, allowance=allowance,
                 hp_route=False, bounds=[[-3.0, 6.0]] + [[-np.inf, np.inf]] * (SHAPE[0] * SHAPE[1]), cost=3.0,
                 tags=("sandwich", "algebraic", "spectral", "limit"))


def _phi(s):
    """phi(s); None for s = 0 (outside the assumption s != 0)."""
    a = np.abs(s)
    q = np.sum(a * a)
    return None if q == 0 else np.sum(a) ** 2 / (len(s) * q)


def _density_sample(rng):
    d = DIM + 2
    s = rng.standard_normal(d) * 10.0 ** rng.uniform(-3, 3, size=d)
    return np.where(rng.uniform(size=d) < 0.3, 0.0, s)


def _density_edges(rng):
    d = DIM + 2
    return np.concatenate([np.eye(d), np.ones((1, d)), -np.ones((1, d)), np.eye(d) * 1e-200, np.ones((1, d)) * 1e200])


def density_upper() -> Claim:
    return Claim(id="noise-density/upper", source="Tao, Yu, Zhang (arXiv 2605.06615): SignSGD vs SGD, noise density",
                 description="phi(s) = ||s||_1^2 / (d ||s||_2^2) <= 1 (Cauchy-Schwarz; equality iff all |s_i| equal), d = 6",
                 assumptions="s != 0", sample=_density_sample, edges=_density_edges,
                 margin=lambda z: -np.inf if _phi(z) is None else _phi(z) - 1.0, theoretical=1.0, bound="upper",
                 tags=("noise-density", "rounding-tight"))


def density_lower() -> Claim:
    d = DIM + 2
    return Claim(id="noise-density/lower", source="Tao, Yu, Zhang (arXiv 2605.06615): SignSGD vs SGD, noise density",
                 description=f"phi(s) >= 1/d (||s||_2 <= ||s||_1; equality iff s is one-hot), d = {d}",
                 assumptions="s != 0", sample=_density_sample, edges=_density_edges,
                 margin=lambda z: -np.inf if _phi(z) is None else 1.0 / d - _phi(z), theoretical=1.0 / d, bound="lower",
                 tags=("noise-density", "rounding-tight"))


def claims() -> list:
    return [lncosh_quadratic(), lncosh_abs(), entropic_l1(), nuclear_smoothing(), density_upper(), density_lower()]
