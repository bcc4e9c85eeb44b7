"""Claims about the zoo's variants (geomrelax.optim NorMuon, ScheduleFree, SSVR, MajorityVote).

Identities (searched over random inputs; rounding allowance derived below):

    variants/sf-averaging-identity   the schedule-free recursion x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},
                                     c_{t+1} = w_{t+1} / sum_{i <= t+1} w_i, w_i = i^r, gives the weighted average
                                     x_T = sum_i w_i z_i / sum_i w_i (Defazio et al. 2024). Each of the T
                                     convex combinations rounds by ~2 eps max|z|, so allowance = 4 T eps max|z|.
    variants/normuon-update-rms      NorMuon's step has RMS exactly rms: ||D||_F = rms sqrt(rows cols) for any
                                     orthogonalized O and row moment r (allowance: 16 N eps rms sqrt(N), N the
                                     entries: one norm and one division per entry).

Measurements (one small sweep each, a few seconds; the sampled input picks the seeds):

    variants/ssvr-rate-T^-1/3        SSVR, lr = T^-2/3 and a = T^-2/3: exponent of E min_t ||grad f||_1 in T is
                                     at most -1/3 (the bootstrap interval's lower end must not lie above it).
    variants/majority-byzantine-below-half   signSGD with majority vote, 20 workers, 9 of them Byzantine (45%):
                                     still converging, f_gap(T = 1000) / f_gap(T = 100) <= 1.
    variants/majority-byzantine-above-half   the same with 11 Byzantine workers (55%): the vote follows the
                                     adversaries and the iterate ascends, f_gap(T) / f_gap(0) >= 1.
    variants/signsgd-heavy-tail-q90  SignSGD (lr = T^-1/2) under Student-t noise with df = 1.5 (a bounded
                                     kappa-th moment for kappa < 3/2): the 90% quantile over 100 seeds of
                                     min_t ||grad f||_1 decays at least as T^-(kappa-1)/(3 kappa-2) -> T^-1/5
                                     (Kornilov et al., high-probability bound for SignSGD; log factors dropped).
"""

from __future__ import annotations

import functools

import numpy as np

from ..claim import Claim

EPS = float(np.finfo(np.float64).eps)
T_SF = 8
DIM_SF = 3
D = 20
SIGMA = 0.5
HORIZONS = (100, 300, 1000, 3000)
N_SEEDS = 4


# -- identities ---------------------------------------------------------------------------------------
def _sf_sample(rng):
    return np.concatenate([rng.standard_normal(T_SF * DIM_SF) * 10.0 ** rng.uniform(-3, 3), [rng.uniform(0, 3)]])


def _sf_gap(z):
    """(|x_T - weighted average of z_1..z_T|_max, max|z|) along a reference SF run driven by the sampled gradients."""
    from geomrelax.reference import schedule_free_init, schedule_free_step

    grads = np.asarray(z[:-1], dtype=np.float64).reshape(T_SF, DIM_SF)
    power = float(abs(z[-1]))
    state = schedule_free_init([np.zeros(DIM_SF)])
    zs = [state["z"][0]]
    for g in grads[:-1]:
        state = schedule_free_step(state, [g], lr=0.1, lmo="softsign", tau=1.0, weight_power=power)
        zs.append(state["z"][0])
    w = np.arange(1, len(zs) + 1, dtype=np.float64) ** power
    avg = (w[:, None] * np.array(zs)).sum(0) / w.sum()
    return float(np.abs(state["x"][0] - avg).max()), float(np.abs(np.array(zs)).max())


def sf_identity_claim() -> Claim:
    return Claim(id="variants/sf-averaging-identity", source="Defazio et al. 2024 (schedule-free): x is the weighted "
                 "average of the z sequence", description="x_T = sum_i w_i z_i / sum_i w_i for the recursion "
                 "x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}, w_i = i^r",
                 assumptions=f"{T_SF} steps in dimension {DIM_SF}, softsign LMO, r in [0, 3], gradients of any scale",
                 sample=_sf_sample, margin=lambda z: _sf_gap(z)[0],
                 allowance=lambda z: 4.0 * T_SF * EPS * _sf_gap(z)[1], hp_route=False, budget_s=2.0, cost=20.0,
                 tags=("identity", "schedule-free", "variants"))


def _normuon_sample(rng):
    return np.concatenate([rng.standard_normal(12) * 10.0 ** rng.uniform(-2, 2), rng.uniform(0, 2, 4),
                           [rng.uniform(0.01, 1.0)]])


def _normuon_norm(z):
    """(||D||_F, rms sqrt(rows cols)) for O (4 x 3), r (4 x 1) and rms taken from z."""
    from geomrelax import updates as U

    O = np.asarray(z[:12], dtype=np.float64).reshape(4, 3)
    r = np.abs(np.asarray(z[12:16], dtype=np.float64)).reshape(4, 1)
    rms = abs(float(z[16])) + 1e-3
    if not np.any(O):
        return 0.0, 0.0
    D, _ = U.normuon_direction(O, r, 0.9, 1e-8, rms)
    return float(np.linalg.norm(D)), rms * np.sqrt(12.0)


def normuon_rms_claim() -> Claim:
    return Claim(id="variants/normuon-update-rms", source="NorMuon (Li et al. 2025): the update rescaled to a fixed RMS",
                 description="||D||_F = rms sqrt(rows cols) for NorMuon's row-normalized direction D",
                 assumptions="O a 4 x 3 matrix of any scale (not zero), r >= 0, rms > 0, beta2 = 0.9, eps = 1e-8",
                 sample=_normuon_sample, margin=lambda z: abs(_normuon_norm(z)[0] - _normuon_norm(z)[1]),
                 allowance=lambda z: 16 * 12 * EPS * _normuon_norm(z)[1], hp_route=False, budget_s=2.0, cost=5.0,
                 tags=("identity", "normuon", "variants"))


# -- measurements ---------------------------------------------------------------------------------------
def _seeds(z, n=N_SEEDS):
    s0 = int(abs(z[0])) % 100000
    return range(s0, s0 + n)


def _sample(rng):
    return np.array([float(rng.integers(0, 100000))])


def _measure(claim_id, source, description, assumptions, fn, theoretical, bound, tags):
    sign = 1.0 if bound == "upper" else -1.0
    return Claim(id=claim_id, source=source, description=description, assumptions=assumptions, sample=_sample,
                 margin=lambda z: sign * (fn(_seeds(z).start) - theoretical), quantity=lambda z: fn(_seeds(z).start),
                 allowance=lambda z: 0.0, hp_route=False, search=False, theoretical=theoretical, bound=bound,
                 budget_s=20.0, tags=("rate", "variants") + tags)


@functools.lru_cache(maxsize=8)
def _ssvr_lo(s0: int) -> float:
    from synthetic.sweep import sweep

    res = sweep(problems=({"kind": "separable"},), noises=({"kind": "gaussian", "sigma": SIGMA},),
                optimizers=({"name": "ssvr", "problem": "separable", "schedule": "theory", "lr": 1.0, "a": 1.0},),
                dims=(D,), horizons=HORIZONS, taus=(1.0,), seeds=range(s0, s0 + N_SEEDS), progress=False)
    (row,) = [r for r in res.rates if r["varied"] == "T" and r["measure"] == "min_l1"]
    return float(row["lo"])


@functools.lru_cache(maxsize=8)
def _majority_gaps(s0: int, byzantine: float) -> tuple:
    """Mean f_gap over seeds at (T = 100, step T), (T = 1000, step T) and step 0."""
    from synthetic.sweep import sweep

    opt = {"name": "majority", "workers": 20, "byzantine": byzantine, "worker_sigma": 1.0, "lr": 1.0,
           "lr_power": 0.5, "momentum": 0.0, "worker_seed": s0}
    res = sweep(problems=({"kind": "separable"},), noises=({"kind": "none"},), optimizers=(opt,), dims=(D,),
                horizons=(100, 1000), taus=(1.0,), seeds=range(s0, s0 + N_SEEDS), progress=False, fit=False)

    def mean(T, step):
        return float(np.mean([r["f_gap"] for r in res.runs if r["T"] == T and r["step"] == step]))
    return mean(100, 100), mean(1000, 1000), mean(1000, 0)


N_HEAVY = 100


@functools.lru_cache(maxsize=8)
def _heavy_exponent(s0: int) -> float:
    from synthetic.sweep import sweep

    res = sweep(problems=({"kind": "separable"},), noises=({"kind": "student_t", "sigma": SIGMA, "df": 1.5},),
                optimizers=({"name": "signum", "lr": 1.0, "momentum": 0.0, "lr_power": 0.5},), dims=(D,),
                horizons=HORIZONS, taus=(1.0,), seeds=range(s0, s0 + N_HEAVY), progress=False, fit=False)
    q = [np.quantile([r["min_l1"] for r in res.runs if r["T"] == T and r["step"] == T], 0.9) for T in HORIZONS]
    return float(np.polyfit(np.log(HORIZONS), np.log(q), 1)[0])


def claims() -> list:
    out = [sf_identity_claim(), normuon_rms_claim()]
    try:
        import synthetic.sweep  # noqa: F401
    except ImportError:  # synthetic not installed: the measurements are left out
        return out
    setting = f"separable problem d = {D}, T in {HORIZONS}"
    out += [
        _measure("variants/ssvr-rate-T^-1/3", "SSVR (sign-based stochastic variance reduction): O(d^1/2 T^-1/3)",
                 "exponent of E min_t ||grad f||_1 in T at most -1/3 (bootstrap interval's lower end)",
                 f"{setting}, Gaussian noise sigma = {SIGMA} shared at both points, lr = a = T^-2/3, {N_SEEDS} seeds",
                 _ssvr_lo, -1.0 / 3.0, "upper", ("ssvr",)),
        _measure("variants/majority-byzantine-below-half", "signSGD with majority vote, Byzantine fault tolerance "
                 "(Bernstein et al.; omniscient adversaries): converges while adversaries are fewer than half",
                 "f_gap(T = 1000) / f_gap(T = 100) <= 1 with 9 of 20 workers sending negated signs",
                 f"separable problem d = {D}, exact gradients plus Gaussian worker noise 1.0, lr = T^-1/2, {N_SEEDS} seeds",
                 lambda s0: _majority_gaps(s0, 0.45)[1] / _majority_gaps(s0, 0.45)[0], 1.0, "upper", ("majority",)),
        _measure("variants/majority-byzantine-above-half", "signSGD with majority vote: a Byzantine majority "
                 "controls the vote (the complement of the < 1/2 guarantee)",
                 "f_gap(T) / f_gap(0) >= 1 with 11 of 20 workers sending negated signs (the iterate ascends)",
                 f"separable problem d = {D}, exact gradients plus Gaussian worker noise 1.0, lr = T^-1/2, T = 1000, "
                 f"{N_SEEDS} seeds", lambda s0: _majority_gaps(s0, 0.55)[1] / _majority_gaps(s0, 0.55)[2], 1.0,
                 "lower", ("majority",)),
        _measure("variants/signsgd-heavy-tail-q90", "Kornilov et al. (sign operator under heavy-tailed noise): "
                 "SignSGD, w.h.p. eps = O~(T^-(kappa-1)/(3 kappa-2)); kappa -> 3/2 gives T^-1/5",
                 "log-log slope in T of the 90% quantile over seeds of min_t ||grad f||_1 at most -1/5",
                 f"{setting}, Student-t noise df = 1.5 scale {SIGMA}, SignSGD lr = T^-1/2 without momentum, "
                 f"{N_HEAVY} seeds", _heavy_exponent, -0.2, "upper", ("heavy-tail", "signum")),
    ]
    return out
