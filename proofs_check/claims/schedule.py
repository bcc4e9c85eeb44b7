"""The quantile temperature schedule (geomrelax.schedule.temperature_schedule).

    range       tau_0 >= tau_1 >= ... >= tau_{K-1}, all in [1, tmax]             (every fit (mu, s), tmax)
    saturation  at transition step j, the fraction of coordinates with |tanh(tau_j z)| >= 1 - eps is
                1 - j/K under the Cauchy model; measured here as the true probability
                P(|Z| >= atanh(1 - eps)/tau_j) under the law that drew the data, for every j whose
                tau_j is not clamped, with the schedule fitted on n = 4000 draws:
                max_j |P - (1 - j/K)| <= 0.05.

For Cauchy data the deviation is only the fit's sampling error (median and MAD of 4000 draws:
standard error about 0.025 s). For Gaussian or Laplace data the Cauchy model is wrong in the tails
and the claim is expected to fail: the verdict then reports the drift (measured) beside 0.05.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from geomrelax.schedule import folded_cauchy_cdf, psi_inverse, temperature_schedule

from ..claim import Claim

K = 50
N_DATA = 4000
EPS_SAT = 1e-4
TOLERANCE = 0.05


def range_claim() -> Claim:
    def margin(z):
        mu, s, tmax = z[0] * 10.0 ** z[1], 10.0 ** z[1], 10.0 ** z[2]
        with warnings.catch_warnings():  # a collapsed schedule is part of the input space, not news
            warnings.simplefilter("ignore", UserWarning)
            t = temperature_schedule(None, K, fit=(mu, s), tmax=tmax).taus
        return float(max(np.max(np.diff(t)), 1.0 - np.min(t), np.max(t) - tmax))

    def sample(rng):
        return np.array([rng.choice([0.0, rng.uniform(-5, 5), rng.uniform(-500, 500)]), rng.uniform(-8, 4),
                         rng.uniform(0, 9)])

    return Claim(id="schedule/range-monotone", source="Softsign (arXiv 2605.31371), quantile temperature schedule; "
                 "geomrelax.schedule", description=f"tau_j non-increasing in j and within [1, tmax] (K = {K})",
                 assumptions="fit (mu, s) = (r s, 10^z1), r in [-500, 500], tmax = 10^z2 in [1, 1e9]",
                 sample=sample, margin=margin, allowance=lambda z: 0.0, hp_route=False,
                 bounds=[[-500.0, 500.0], [-8.0, 4.0], [0.0, 9.0]], cost=10.0, tags=("schedule",))


def _tail(law, q, mu, s):
    """P(|Z| >= q) for Z = mu + s * (standard law)."""
    if law == "cauchy":
        return folded_cauchy_cdf(q, mu, s, complement=True)
    dist = {"gaussian": stats.norm, "laplace": stats.laplace}[law]
    return dist.sf((q - mu) / s) + dist.cdf((-q - mu) / s)


def _draw(law, rng, n):
    return {"cauchy": rng.standard_cauchy, "gaussian": rng.standard_normal, "laplace": rng.laplace}[law](size=n)


def saturation_claim(law: str, expected: str) -> Claim:
    c = psi_inverse(EPS_SAT, "tanh")

    def margin(z):
        mu_ratio, s = float(np.clip(z[0], -3, 3)), 10.0 ** float(np.clip(z[1], -6, 3))
        seed = int(abs(z[2])) % (2 ** 31)
        mu = mu_ratio * s
        data = mu + s * _draw(law, np.random.default_rng(seed), N_DATA)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sched = temperature_schedule(data, K, eps=EPS_SAT, tmax=None)
        j = np.arange(K)
        inside = (sched.taus > 1.0) & (j > 0)
        if not np.any(inside):
            return -np.inf
        p_sat = _tail(law, c / sched.taus[inside], mu, s)
        return float(np.max(np.abs(p_sat - (1 - j[inside] / K)))) - TOLERANCE

    def sample(rng):
        return np.array([rng.choice([0.0, rng.uniform(-3, 3)]), rng.uniform(-6, 3), rng.integers(0, 2 ** 31)])

    return Claim(id=f"schedule/saturation-{law}", source="Softsign (arXiv 2605.31371), meaning of the quantile schedule "
                 "(saturated fraction 1 - j/K under the Cauchy model)",
                 description=f"{law} data: max_j |P(|Z| >= atanh(1-eps)/tau_j) - (1 - j/K)| <= {TOLERANCE} over unclamped j",
                 assumptions=f"n = {N_DATA} draws of mu + s Z, Z standard {law}, mu/s in [-3, 3], K = {K}, eps = {EPS_SAT}, tmax = None",
                 sample=sample, margin=margin, allowance=lambda z: 0.0, hp_route=False,
                 bounds=[[-3.0, 3.0], [-6.0, 3.0], [0.0, 2.0 ** 31 - 1]], theoretical=TOLERANCE, bound="upper",
                 cost=20.0, budget_s=0.6, expected=expected,
                 tags=("schedule", law) + (("finding",) if expected == "violated" else ()))


def claims() -> list:
    return [range_claim(), saturation_claim("cauchy", "holds"), saturation_claim("gaussian", "violated"),
            saturation_claim("laplace", "violated")]
