"""Rate claims, measured on the synthetic problems of :mod:`synthetic` (small by default: each
claim runs one small sweep, a few seconds).

    rate/signum-T^-1/4        Signum (theory schedule lr ~ T^-3/4, beta = 1 - T^-1/2): E min_t ||grad f||_1
                              = O(T^-1/4) (Jiang et al. 2025). Measured: the exponent of a log-log fit over
                              T in {100, 300, 1000, 3000}, with a seed-bootstrap interval [lo, hi]; the claim
                              (an upper bound) is violated only when lo > -1/4 (the whole interval is slower).
    rate/s3-T^-1/4            the same for S3 / SoftSignSGD.
    rate/signsgd-density-gain SignSGD vs SGD (Tao, Yu, Zhang): with the SGD noise term d ||sigma||_2^2 held
                              fixed, Signum's noise term scales with ||sigma||_1^2 = phi d ||sigma||_2^2, so
                              the ratio R = min ||grad f||_1 (SGD) / min ||grad f||_1 (Signum) should grow as
                              the noise density phi falls: gain = R(phi = 1/d) / R(phi = 1) >= 1 (up to
                              d^(1/4) when the noise term dominates).
    rate/bernstein-theorem-1  Bernstein et al. (2018), Theorem 1, explicit constants: SignSGD with step
                              1/sqrt(||L||_1 K), batch K, K steps: (E mean_k ||g_k||_1)^2 / bound <= 1.
    rate/softsign-descent-pathwise   the reconstructed Softsign descent bound summed along real
                              SoftSignum runs (synthetic.bounds.softsign_descent_check), where lr tau <= mu/L2.

The sampled input is the first seed of the run's seeds, so a check seed picks the runs.
"""

from __future__ import annotations

import functools

import numpy as np

from ..claim import Claim

D = 20
SIGMA = 0.5
HORIZONS = (100, 300, 1000, 3000)
N_SEEDS = 4
_PROBLEM = {"kind": "separable"}
_SOURCE_SIGNUM = "Jiang et al. 2025 (Signum / SignSGD with momentum): E min ||grad f||_1 = O(T^-1/4)"


def _seeds(z):
    s0 = int(abs(z[0])) % 100000
    return range(s0, s0 + N_SEEDS)


def _sample(rng):
    return np.array([float(rng.integers(0, 100000))])


@functools.lru_cache(maxsize=16)
def _rate(name: str, s0: int) -> dict:
    from synthetic.sweep import sweep

    res = sweep(problems=(_PROBLEM,), noises=({"kind": "gaussian", "sigma": SIGMA},),
                optimizers=({"name": name, "schedule": "theory", "lr": 1.0},), dims=(D,), horizons=HORIZONS,
                taus=(1.0,), seeds=range(s0, s0 + N_SEEDS), progress=False)
    (row,) = [r for r in res.rates if r["varied"] == "T" and r["measure"] == "min_l1"]
    return row


def rate_claim(name: str, source: str) -> Claim:
    def margin(z):
        row = _rate(name, _seeds(z).start)
        return float(row["lo"]) - (-0.25)

    return Claim(id=f"rate/{name}-T^-1/4", source=source,
                 description=f"{name}: exponent of E min_t ||grad f||_1 in T at most -1/4 (bootstrap interval's lower end)",
                 assumptions=f"separable non-convex problem, d = {D}, Gaussian noise sigma = {SIGMA}, theory schedule "
                             f"(lr = T^-3/4, beta = 1 - T^-1/2), T in {HORIZONS}, {N_SEEDS} seeds",
                 sample=_sample, margin=margin, quantity=lambda z: float(_rate(name, _seeds(z).start)["exponent"]),
                 allowance=lambda z: 0.0, hp_route=False, search=False, theoretical=-0.25, bound="upper",
                 budget_s=10.0, tags=("rate", name))


@functools.lru_cache(maxsize=16)
def _density_gain(s0: int) -> float:
    from synthetic.sweep import sweep

    noises = ({"kind": "gaussian", "sigma": SIGMA, "phi": 1.0}, {"kind": "gaussian", "sigma": SIGMA, "phi": 1.0 / D})
    res = sweep(problems=(_PROBLEM,), noises=noises, optimizers=({"name": "signum", "schedule": "theory", "lr": 1.0},
                                                                 {"name": "sgd", "schedule": "theory", "lr": 0.1}),
                dims=(D,), horizons=(1000,), taus=(1.0,), seeds=range(s0, s0 + N_SEEDS), progress=False, fit=False)
    mean = {}
    for r in res.runs:
        if r["step"] == r["T"]:
            mean.setdefault((r["optimizer"].split("[")[0], r["noise_phi"]), []).append(r["min_l1"])
    ratio = {phi: np.mean(mean[("sgd", phi)]) / np.mean(mean[("signum", phi)]) for phi in (1.0, 1.0 / D)}
    return float(ratio[1.0 / D] / ratio[1.0])


def density_gain_claim() -> Claim:
    return Claim(id="rate/signsgd-density-gain", source="Tao, Yu, Zhang (arXiv 2605.06615): SignSGD vs SGD, l1 "
                 "stationarity; the SGD noise term is inferred", description="gain = R(phi = 1/d) / R(phi = 1) >= 1, "
                 f"R = min ||grad f||_1 of SGD / of Signum (theory: up to d^(1/4) = {D ** 0.25:.2f})",
                 assumptions=f"separable problem, d = {D}, Gaussian noise sigma = {SIGMA} with profile of density phi "
                             f"(d ||sigma||_2^2 fixed), T = 1000, {N_SEEDS} seeds, theory schedules",
                 sample=_sample, margin=lambda z: 1.0 - _density_gain(_seeds(z).start),
                 quantity=lambda z: _density_gain(_seeds(z).start), allowance=lambda z: 0.0, hp_route=False,
                 search=False, theoretical=1.0, bound="lower", budget_s=10.0, tags=("rate", "signum", "sgd", "density"))


@functools.lru_cache(maxsize=16)
def _bernstein(s0: int) -> float:
    from synthetic.bounds import run_bernstein
    from synthetic.sweep import make_problem

    out = run_bernstein(make_problem(_PROBLEM, D), SIGMA, Ks=(16, 64, 256), seeds=range(s0, s0 + N_SEEDS))
    return float(max(r["ratio"] for r in out))


def bernstein_claim() -> Claim:
    return Claim(id="rate/bernstein-theorem-1", source="Bernstein et al. 2018 (signSGD), Theorem 1 with its explicit constants",
                 description="(E (1/K) sum_k ||g_k||_1)^2 <= (1/sqrt N)[sqrt(||L||_1)(f_0 - f* + 1/2) + 2||sigma||_1]^2, "
                             "N = K^2; measured / bound <= 1 for K in {16, 64, 256}",
                 assumptions=f"SignSGD, step 1/sqrt(||L||_1 K), batch K; separable problem d = {D}, Gaussian sigma = {SIGMA}, "
                             f"{N_SEEDS} seeds (expectation by the seed mean)",
                 sample=_sample, margin=lambda z: _bernstein(_seeds(z).start) - 1.0,
                 quantity=lambda z: _bernstein(_seeds(z).start), allowance=lambda z: 0.0, hp_route=False,
                 search=False, theoretical=1.0, bound="upper", budget_s=10.0, tags=("rate", "signum", "bound"))


@functools.lru_cache(maxsize=16)
def _descent_ratio(s0: int) -> float:
    from synthetic.bounds import softsign_descent_check
    from synthetic.sweep import sweep

    res = sweep(problems=(_PROBLEM,), noises=({"kind": "gaussian", "sigma": SIGMA},),
                optimizers=({"name": "softsignum", "lr": 0.01, "momentum": 0.9},), dims=(D,), horizons=(300,),
                taus=(0.5, 2.0, 4.0), seeds=range(s0, s0 + N_SEEDS), progress=False, fit=False)
    checks = [c for c in softsign_descent_check(res.runs) if c["applies"]]
    return float(max(c["ratio"] for c in checks)) if checks else float("nan")


def softsign_pathwise_claim() -> Claim:
    # synthetic.bounds.softsign_descent_check's rtol (1e-4) covers the float32 iterates' rounding
    return Claim(id="rate/softsign-descent-pathwise", source="Softsign (arXiv 2605.31371), descent bound summed over "
                 "a run: reconstruction", description="(1/T) sum_k V*(-tau grad f)/tau <= Delta/(lr T) + (tau/2mu)(1/T) "
                 "sum_k ||grad f - m_k||^2 along SoftSignum runs (ratio <= 1)",
                 assumptions=f"fixed tau in (0.5, 2, 4), lr = 0.01, lr tau <= mu/L2; separable problem d = {D}, T = 300, "
                             f"{N_SEEDS} seeds; float32 runs (rtol 1e-4)",
                 sample=_sample, margin=lambda z: _descent_ratio(_seeds(z).start) - (1.0 + 1e-4),
                 quantity=lambda z: _descent_ratio(_seeds(z).start), allowance=lambda z: 0.0, hp_route=False,
                 search=False, theoretical=1.0, bound="upper", budget_s=10.0, tags=("rate", "descent", "softsignum"))


def claims() -> list:
    try:
        import synthetic.bounds  # noqa: F401
        import synthetic.sweep  # noqa: F401
    except ImportError:  # synthetic not installed: the rate claims are left out (the registry stays usable)
        return []
    return [rate_claim("signum", _SOURCE_SIGNUM),
            rate_claim("s3", "S3 / SoftSignSGD (arXiv 2507.06464): O(T^-1/4) for non-convex stochastic problems"),
            density_gain_claim(), bernstein_claim(), softsign_pathwise_claim()]
