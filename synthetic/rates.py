"""Rate fits: exponents by log-log regression with a bootstrap interval over seeds, and verdicts.

For a measure y (e.g. E min_t ||grad f||_1) observed for seeds s = 1..S at values x_1 < ... < x_n
of a varied quantity (the horizon T or the dimension d), the fitted exponent is the slope b of

    log mean_s y(s, x_i) = a + b log x_i      (least squares over i)

and its interval is the 2.5% / 97.5% percentile of b over bootstrap replicates that resample the
seeds with replacement (the seeds are the independent unit; the x_i of one seed share its noise).
``fit_exponential`` does the same for y = A exp(-r t) (linear convergence): the slope of log y in t.

Verdict against a claimed exponent c (an upper bound's exponent): "consistent" when c lies in the
interval, "faster" when the whole interval lies below c (y decreases faster, or grows more slowly,
than claimed), "slower" when it lies above c -- for an upper bound, "slower" contradicts the claim
(within the range of x measured; asymptotic claims may need larger x).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

__all__ = ["Fit", "fit_power", "fit_exponential", "verdict", "fit_rates", "CLAIMED_T"]

N_BOOT = 2000

# The exponent in T of E min_t ||grad f|| claimed under the prescribed step sizes (schedule="theory":
# sign-type methods lr ~ T^-3/4, beta = 1 - T^-1/2; SGD lr ~ T^-1/2). Sources, in the project's words:
# Signum / SignSGD with momentum: O(T^-1/4) in l1 (Jiang et al. 2025); S3: O(T^-1/4); Muon: nuclear-norm
# stationarity O(T^-1/4) (eps^-4 samples); SGD: E min ||grad f||_2^2 = O(T^-1/2); the Softsign descent
# bound at fixed tau with the same schedule as Signum: claimed -1/4 (the question the fits answer).
CLAIMED_T = {"sgd": -0.25, "signum": -0.25, "softsignum": -0.25, "s3": -0.25, "relaxed": -0.25, "muon": -0.25,
             "softmuon": -0.25}


class Fit(dict):
    """exponent, lo, hi, n_points, n_seeds (a dict, so it goes straight into a CSV row)."""


def _slope(lx, ly):
    lxm = lx.mean()
    return float(((lx - lxm) * (ly - ly.mean())).sum() / ((lx - lxm) ** 2).sum())


def _fit(x, Y, transform, n_boot, seed):
    x = np.asarray(x, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[None, :]
    if x.size < 2 or np.unique(x).size < 2:
        raise ValueError(f"a rate fit needs at least two distinct x values, got {x.tolist()}")
    if not np.all(np.isfinite(Y)) or np.any(Y <= 0):
        return Fit(exponent=math.nan, lo=math.nan, hi=math.nan, n_points=int(x.size), n_seeds=int(Y.shape[0]),
                   note="non-positive or non-finite values")
    lx = transform(x)
    b = _slope(lx, np.log(Y.mean(0)))
    S = Y.shape[0]
    if S > 1:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, S, size=(n_boot, S))
        means = Y[idx].mean(1)                              # (n_boot, n)
        lxm = lx - lx.mean()
        ly = np.log(means)
        bs = (lxm * (ly - ly.mean(1, keepdims=True))).sum(1) / (lxm ** 2).sum()
        lo, hi = (float(v) for v in np.percentile(bs, [2.5, 97.5]))
    else:
        lo = hi = math.nan
    return Fit(exponent=b, lo=lo, hi=hi, n_points=int(x.size), n_seeds=int(S))


def fit_power(x, Y, *, n_boot: int = N_BOOT, seed: int = 0) -> Fit:
    """Exponent b of mean_s Y[s, i] ~ C x_i^b, with a seed-bootstrap interval (Y: seeds x points)."""
    return _fit(x, Y, np.log, n_boot, seed)


def fit_exponential(t, Y, *, n_boot: int = N_BOOT, seed: int = 0) -> Fit:
    """Slope b of log mean_s Y ~ a + b t (linear convergence: Y ~ A exp(b t), b < 0)."""
    return _fit(t, Y, lambda v: v, n_boot, seed)


def verdict(fit, claimed) -> str:
    """'consistent' / 'faster' / 'slower' against ``claimed`` (see the module docstring), or 'no claim'."""
    if claimed is None or (isinstance(claimed, float) and math.isnan(claimed)):
        return "no claim"
    lo, hi = fit["lo"], fit["hi"]
    if math.isnan(fit["exponent"]):
        return "no fit"
    if math.isnan(lo):
        lo = hi = fit["exponent"]
    if lo <= claimed <= hi:
        return "consistent"
    return "faster" if hi < claimed else "slower"


GROUP_KEYS = ("optimizer", "problem", "noise", "tau", "d", "T", "lr_base", "momentum_base", "lr_power",
              "momentum_power", "schedule")
FIT_MEASURES = ("min_l1", "min_l2", "min_nuc", "avg_vstar")


def _key(v):
    """A grouping key: NaN (not equal to itself) becomes None."""
    return None if isinstance(v, float) and math.isnan(v) else v


def _claim_T(row, measure):
    if row.get("schedule") != "theory" or measure == "avg_vstar":
        return None, ""
    return CLAIMED_T.get(str(row["optimizer"]).split("[")[0]), "theory schedule: O(T^-1/4)"


def fit_rates(rows, measures=FIT_MEASURES, claim_d=None, n_boot: int = N_BOOT) -> list:
    """One rate row per (group, varied quantity, measure) from the final-step rows of a sweep.

    A group is every grid coordinate but the varied one (T or d) and the seed. ``claim_d(rows_of_group,
    measure)`` may return (claimed d-exponent, source) from an explicit bound (see synthetic.bounds).
    """
    final = [r for r in rows if r["step"] == r["T"]]
    out = []
    for varied in ("T", "d"):
        groups = defaultdict(list)
        for r in final:
            groups[tuple((k, _key(r.get(k))) for k in GROUP_KEYS if k != varied)].append(r)
        for key, grp in sorted(groups.items(), key=lambda kv: str(kv[0])):
            xs = sorted({r[varied] for r in grp})
            if len(xs) < 3:
                continue
            seeds = sorted({r["seed"] for r in grp})
            for m in measures:
                table = {(r["seed"], r[varied]): r.get(m) for r in grp}
                try:
                    Y = np.array([[float(table[(s, x)]) for x in xs] for s in seeds])
                except (KeyError, TypeError):
                    continue
                if np.all(np.isnan(Y)):
                    continue
                fit = fit_power(xs, Y, n_boot=n_boot)
                if varied == "T":
                    claimed, source = _claim_T(grp[0], m)
                else:
                    claimed, source = claim_d(grp, m) if claim_d else (None, "")
                row = dict(key)
                row.update(varied=varied, values=" ".join(str(x) for x in xs), measure=m, **fit,
                           claimed=claimed if claimed is not None else math.nan, source=source,
                           verdict=verdict(fit, claimed))
                row.pop("note", None)
                out.append(row)
    return out
