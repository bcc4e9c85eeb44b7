"""Quantile temperature schedule of SoftSignum / SoftMuon (docs/theory.md, "The temperature schedule").

Computed once, at step K_s + 1, from data z (the entries of the momentum direction for
SoftSignum, the singular values of the raw gradients for SoftMuon):

    1. robust Cauchy fit        mu = median(z),  s = median(|z - mu|)
    2. folded Cauchy CDF of |z| F(q) = F_C((q - mu)/s) - F_C((-q - mu)/s),  F_C(t) = 1/2 + arctan(t)/pi
    3. quantiles                F(q_j) = p_j,  p_j = j/K,  j = 0 .. K-1
    4. temperatures             tau_j = clip(psi^{-1}(1 - eps) / q_j, 1, tmax)

Two departures from the official code, both checked in tests/test_schedule.py:

* F(q) = p has a closed form. tan(pi F(q)) = 2 q s / (s^2 + mu^2 - q^2), so q_j is the positive
  root of q^2 + 2 s cot(pi p) q - (s^2 + mu^2) = 0; no Newton iteration is needed (the official
  10 Newton steps are not converged when |mu| >> s; see newton_quantile).
* The fit is exact but needs no full sort or partition: see :mod:`geomrelax.robust_fit`.

The fit takes the mean of the two middle values for an even count (np.median); the official code's
torch.median takes the lower one. ``median="lower"`` reproduces it (see robust_fit).

The last section is the run around the schedule, shared by SoftSignum and SoftMuon (torch optimizers
and numpy references): K_s sign (Muon) steps, then the schedule fitted once, on the first transition
step whose data are not all zero, and tau_j at step K_s + 1 + j (tau_{K-1} for j >= K).

This module is core: torch is imported only when a tensor is handed in.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .backend import is_tensor
from .robust_fit import MEDIANS, ScheduleError, _data, cauchy_fit
from .updates import PSI_KINDS
from .validate import check_int, check_real

__all__ = ["MEDIANS", "PSI_KINDS", "Schedule", "ScheduleCollapseWarning", "ScheduleError", "cauchy_fit",
           "fit_transition", "folded_cauchy_cdf", "folded_cauchy_quantile", "newton_quantile", "psi_inverse",
           "saturated_fraction", "tau_at", "temperature_schedule", "transition_index"]

_PSI_ALIASES = {"tanh": "tanh", "entropic": "tanh", "algebraic": "algebraic"}


class ScheduleCollapseWarning(UserWarning):
    """The temperature schedule has at most two distinct values: the transition is a switch."""


# ---------------------------------------------------------------------------------------------
# argument checks

def _check_psi(psi) -> str:
    if not isinstance(psi, str) or psi.lower() not in _PSI_ALIASES:
        raise ScheduleError(f"psi must be one of {sorted(_PSI_ALIASES)}, got {psi!r}")
    return _PSI_ALIASES[psi.lower()]


def _check_eps(eps) -> float:
    return check_real("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True, error=ScheduleError)


def _check_int(name, value, low) -> int:
    return check_int(name, value, low=low, error=ScheduleError)


def _check_tmax(tmax):
    """tmax >= 1, or None / inf for no upper clamp (returned as None)."""
    if tmax is None:
        return None
    t = check_real("tmax", tmax, low=1.0, allow_inf=True, error=ScheduleError)
    return None if math.isinf(t) else t


# ---------------------------------------------------------------------------------------------
# psi and the folded Cauchy law

def psi_inverse(y_complement: float, psi: str = "tanh") -> float:
    """psi^{-1}(1 - eps) for eps = ``y_complement``, written in eps to keep precision for tiny eps.

    tanh:       atanh(1 - eps)          = ln((2 - eps)/eps) / 2           (eps = 1e-4: 4.9517)
    algebraic:  y / sqrt(1 - y^2), y=1-eps = (1 - eps) / sqrt(eps (2 - eps))  (eps = 1e-4: 70.709)
    """
    eps = _check_eps(y_complement)
    psi = _check_psi(psi)
    if psi == "tanh":
        return 0.5 * math.log((2.0 - eps) / eps)
    return (1.0 - eps) / math.sqrt(eps * (2.0 - eps))


def folded_cauchy_cdf(q, mu: float, s: float, complement: bool = False):
    """F(q) = P(|Z| <= q) for Z ~ Cauchy(mu, s), or 1 - F(q) when ``complement``.

    With a = (q - mu)/s, b = (q + mu)/s, pi F = arctan a + arctan b lies in [0, pi) for q >= 0 and
    tan(arctan a + arctan b) = (a + b)/(1 - ab) = 2 q s / (s^2 + mu^2 - q^2), so

        F(q)     = atan2(2 q s, (r - q)(r + q)) / pi,   r^2 = s^2 + mu^2
        1 - F(q) = atan2(2 q s, (q - r)(q + r)) / pi

    one atan2 each, accurate in relative terms on both tails (no 1 - F cancellation).
    F(q) = 0 for q <= 0 and F(inf) = 1.
    """
    q = np.asarray(q, dtype=np.float64)
    r = np.hypot(s, mu)
    qf = np.where(np.isfinite(q), np.maximum(q, 0.0), 0.0)
    y = 2.0 * qf * s
    x = (r - qf) * (r + qf)
    f = np.arctan2(y, -x if complement else x) / math.pi
    at_inf = (q == np.inf)
    if complement:
        return np.where(at_inf, 0.0, np.where(q <= 0, 1.0, f))
    return np.where(at_inf, 1.0, np.where(q <= 0, 0.0, f))


def _cot_pi(p, pc):
    """cot(pi p) for p in (0, 1), from pc = 1 - p on the upper half so p near 1 keeps its precision."""
    low = p <= 0.5
    with np.errstate(divide="ignore"):
        c = 1.0 / np.tan(np.pi * np.where(low, p, pc))
    return np.where(low, c, -c)


def _check_p(p, p_complement):
    p = np.asarray(p, dtype=np.float64)
    if np.any(~(p >= 0) | ~(p <= 1)):
        raise ScheduleError(f"probabilities p must lie in [0, 1], got {p[~(p >= 0) | ~(p <= 1)].ravel()[:5]}")
    pc = (1.0 - p) if p_complement is None else np.asarray(p_complement, dtype=np.float64)
    return p, pc


def folded_cauchy_quantile(p, mu: float, s: float, newton_iters: int = 0, p_complement=None):
    """Solve F(q) = p for q >= 0 (F the folded Cauchy CDF above), in closed form.

    From tan(pi F) = 2 q s / (r^2 - q^2) with r^2 = s^2 + mu^2, F(q) = p is the quadratic
    q^2 + 2 s C q - r^2 = 0 with C = cot(pi p), whose non-negative root is

        q(p) = sqrt(s^2 C^2 + r^2) - s C         (0 < p < 1;  q(0) = 0, q(1) = inf)

    evaluated as r^2 / (s C + sqrt(s^2 C^2 + r^2)) when C > 0, to avoid cancellation. For mu = 0 it
    is s tan(pi p / 2); as p -> 1, q ~ 2 s / (pi (1 - p)). Its relative error is a few ulps, so
    |F(q) - p| is at the conditioning limit ~ ulp(q) F'(q). ``newton_iters`` polishing Newton steps
    may follow; each is kept only if it lowers |F(q) - p|, so they never move q away from the root.
    ``p_complement`` = 1 - p when known exactly (p = j/K: (K - j)/K) keeps p near 1 precise.
    s must be > 0.
    """
    p, pc = _check_p(p, p_complement)
    mu, s = float(mu), float(s)
    if not (s > 0 and math.isfinite(s) and math.isfinite(mu)):
        raise ScheduleError(f"folded Cauchy quantile needs finite mu and s > 0, got mu={mu!r}, s={s!r}")
    r = math.hypot(s, mu)
    inner = (p > 0) & (pc > 0)
    sc = s * _cot_pi(np.where(inner, p, 0.5), np.where(inner, pc, 0.5))
    h = np.hypot(sc, r)
    with np.errstate(divide="ignore", invalid="ignore"):    # np.where evaluates the unused branch too
        q = np.where(sc > 0, r * r / (sc + h), h - sc)
    q = np.where(inner, q, np.where(p > 0, np.inf, 0.0))
    for _ in range(int(newton_iters)):
        q = _newton_polish(q, p, pc, mu, s, inner)
    return q


def _residual(q, p, pc, mu, s):
    """F(q) - p, computed as (1 - p) - (1 - F(q)) on the upper half for relative precision."""
    upper = p > 0.5
    return np.where(upper, pc - folded_cauchy_cdf(q, mu, s, complement=True), folded_cauchy_cdf(q, mu, s) - p)


def _folded_pdf(q, mu, s):
    """F'(q) = (1/(pi s)) (1/(1 + a^2) + 1/(1 + b^2)), a = (q - mu)/s, b = (q + mu)/s."""
    a = (q - mu) / s
    b = (q + mu) / s
    return (1.0 / (1.0 + a * a) + 1.0 / (1.0 + b * b)) / (math.pi * s)


def _newton_polish(q, p, pc, mu, s, active):
    res = _residual(q, p, pc, mu, s)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cand = q - res / _folded_pdf(q, mu, s)
        ok = active & np.isfinite(cand) & (cand >= 0)
        cand = np.where(ok, cand, q)
        better = np.abs(_residual(cand, p, pc, mu, s)) < np.abs(res)
    return np.where(ok & better, cand, q)


def newton_quantile(p, mu: float, s: float, iters: int = 10):
    """The official code's Newton iteration for F(q) = p (float64 here), kept to measure it.

    Start q0 = s F_C^{-1}((1 + p)/2) + |mu| = s tan(pi p/2) + |mu|, then ``iters`` steps
    q <- max(q - (F(q) - p)/F'(q), 0). Returns q.

    What it does (see tests/test_schedule.py): q0 >= the root always (sqrt(x + mu^2) <= sqrt(x) + |mu|
    in the closed form), and F is concave on [|mu|, inf), so in the tail the iteration decreases
    monotonically and converges. For small p and |mu| ~ s/10 .. s the first step overshoots below 0;
    the clamp at 0 saves it. For |mu|/s >~ 100 (a tight cluster away from 0, e.g. singular values)
    10 steps are not enough at the smallest p: on the grid p_j = j/1000 the relative error of q_1
    is 4e-3 at |mu|/s = 300 and 1e-2 at |mu|/s = 1000. The closed form has no such failure.
    """
    p = np.asarray(p, dtype=np.float64)
    q = s * np.tan(np.pi * p / 2.0) + abs(mu)
    for _ in range(iters):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = np.maximum(q - (folded_cauchy_cdf(q, mu, s) - p) / _folded_pdf(q, mu, s), 0.0)
    return q


# ---------------------------------------------------------------------------------------------
# the schedule

@dataclass(frozen=True, eq=False)
class Schedule:
    """Temperatures tau_j (j = 0 .. K-1) of the transition phase and how they were obtained.

    taus        float64 array of length K, non-increasing, in [1, tmax]
    quantiles   q_j, the folded Cauchy quantiles with F(q_j) = p_j = j/K (q_0 = 0)
    mu, s       the Cauchy fit
    psi, eps    the saturation map and level: tau_j = psi^{-1}(1 - eps)/q_j before clamping
    tmax        the upper clamp (None: no clamp; tau_0 is then the value at p = 1/(2K))
    residual    max_j |F(q_j) - p_j|
    """

    taus: np.ndarray
    quantiles: np.ndarray
    mu: float
    s: float
    psi: str
    eps: float
    tmax: float | None
    residual: float

    @property
    def K(self) -> int:
        return int(self.taus.shape[0])

    def __len__(self) -> int:
        return self.K

    @property
    def n_distinct(self) -> int:
        """Number of distinct temperatures."""
        return int(np.unique(self.taus).size)

    @property
    def clamped_low_fraction(self) -> float:
        """Fraction of the K temperatures clamped at 1."""
        return float(np.mean(self.taus == 1.0))

    @property
    def clamped_high_fraction(self) -> float:
        """Fraction of the K temperatures clamped at tmax (0 when tmax is None)."""
        if self.tmax is None:
            return 0.0
        return float(np.mean(self.taus == self.tmax))

    @property
    def clamped_fraction(self) -> float:
        """Fraction of the K temperatures at either clamp (1 or tmax)."""
        at_clamp = self.taus == 1.0
        if self.tmax is not None:
            at_clamp |= self.taus == self.tmax
        return float(np.mean(at_clamp))

    def tau(self, j) -> float:
        """Temperature at transition step j; every j >= K holds the last one, tau_{K-1}."""
        if isinstance(j, bool) or not isinstance(j, (int, np.integer)):
            raise ScheduleError(f"transition step j must be an integer >= 0, got {j!r}")
        if j < 0:
            raise ScheduleError(f"transition step j must be >= 0, got {j}")
        return float(self.taus[min(int(j), self.K - 1)])


def temperature_schedule(z, K, *, eps=1e-4, newton_iters=10, tmax=20.0, psi="tanh", fit=None,
                         median="mean") -> Schedule:
    """Quantile temperature schedule tau_0 >= ... >= tau_{K-1} from data z.

    tau_j = clip(psi^{-1}(1 - eps) / q_j, 1, tmax) with F(q_j) = p_j = j/K, F the folded Cauchy CDF
    of the fit (mu, s) = cauchy_fit(z), or of ``fit`` = (mu, s) when given (z is then only checked
    for emptiness and NaN/inf, and may be None). Meaning: under the Cauchy model a fraction 1 - p_j
    of the |z| exceed q_j, and exactly those coordinates have |psi(tau_j z)| >= 1 - eps (saturated,
    sign-like) at transition step j.

    q_j is the closed form of folded_cauchy_quantile followed by ``newton_iters`` guarded
    polishing steps (N_q of the official code, whose plain Newton from q0 = s tan(pi p/2) + |mu|
    is not converged after 10 steps when |mu| >> s; see newton_quantile).

    psi: "tanh" (SoftSignum; "entropic" is an alias) or "algebraic" (x/sqrt(1+x^2), SoftMuon).
    median: "mean" (mean of the two middle values for an even count, np.median) or "lower" (the
    lower one, torch.median, as the official code), in both medians of the fit.
    tmax=None (or inf): no upper clamp. Then tau_0, where q_0 = 0, is psi^{-1}(1 - eps)/q(1/(2K)):
    the quantile at half a grid step, finite, about 2 tau_1, saturating all but 1/(2K) of the
    model's mass (the natural end of the grid, where the clamp would otherwise be arbitrary).

    Degenerate data (s = 0 after cauchy_fit's fallback, i.e. every entry equals mu): the law is a
    point mass at |mu|, and q_j = |mu| for j >= 1 (the s -> 0 limit of the closed form). If also
    mu = 0 (all-zero data, no scale at all) every tau_j is tmax, with a warning; with tmax=None that
    case is refused (ScheduleError), since no temperature is implied.

    Warns (ScheduleCollapseWarning, a UserWarning) when K >= 3 and the schedule has <= 2 distinct values: the transition is
    then a switch, not a smooth passage (pitfall 4 of the official code, tmax=20 with momenta ~1e-3).

    Refuses (ScheduleError, NonFiniteError for NaN/inf in z): K < 1, eps outside (0, 1), tmax < 1,
    newton_iters < 1, unknown psi, empty z, a malformed fit.
    """
    K = _check_int("K", K, 1)
    eps = _check_eps(eps)
    newton_iters = _check_int("newton_iters", newton_iters, 1)
    tmax = _check_tmax(tmax)
    psi = _check_psi(psi)
    if fit is None:
        if z is None:
            raise ScheduleError("z is None and no fit was given: the schedule needs data or a fit (mu, s)")
        mu, s = cauchy_fit(z, median=median)
    else:
        mu, s = _check_fit(fit)
        if z is not None:
            _check_data(z)
    c = psi_inverse(eps, psi)
    j = np.arange(K, dtype=np.float64)
    p, pc = j / K, (K - j) / K
    if s > 0:
        q = folded_cauchy_quantile(p, mu, s, newton_iters=newton_iters, p_complement=pc)
        residual = float(np.max(np.abs(_residual(q, p, pc, mu, s))))
        q_half = float(folded_cauchy_quantile(0.5 / K, mu, s, newton_iters=newton_iters))
    else:
        q = np.where(j > 0, abs(mu), 0.0)
        residual = 0.0
        q_half = abs(mu)
    if tmax is not None:
        cap = tmax
    elif q_half > 0:
        cap = max(c / q_half, 1.0)
    else:
        raise ScheduleError("temperature_schedule: every entry of z is 0, so the data give no scale and "
                            "tmax=None gives no temperature; pass a finite tmax (every tau is then tmax)")
    with np.errstate(divide="ignore"):
        taus = np.clip(c / q, 1.0, cap)          # c / 0 = inf -> cap at j = 0
    # q_j increases with j in exact arithmetic; the running minimum only irons out ulp-level wiggles
    taus = np.minimum.accumulate(taus)
    taus.setflags(write=False)
    q.setflags(write=False)
    sched = Schedule(taus=taus, quantiles=q, mu=float(mu), s=float(s), psi=psi, eps=eps, tmax=tmax,
                     residual=residual)
    if s == 0 and mu == 0:
        warnings.warn(f"temperature_schedule: every entry of z is 0, so the data give no scale; every "
                      f"temperature is tmax={tmax:g}", UserWarning, stacklevel=2)
    elif K >= 3 and sched.n_distinct <= 2:
        if s == 0:
            why = f"every entry of z equals mu={mu:.3g} (s = 0)."
        elif sched.clamped_low_fraction > sched.clamped_high_fraction:
            why = (f"the data are large (s={s:.3g}, mu={mu:.3g}): psi^-1(1-eps)/q_j < 1, so the update "
                   "saturates already at tau = 1 and the lower clamp holds.")
        else:
            why = (f"the data are small (s={s:.3g}, mu={mu:.3g}): psi^-1(1-eps)/q_j > tmax; use tmax=None "
                   "or a larger tmax.")
        warnings.warn(
            f"temperature_schedule: the K={K} temperatures collapsed to {sched.n_distinct} distinct value(s) "
            f"({taus[0]:.4g} ... {taus[-1]:.4g}; {sched.clamped_high_fraction:.1%} clamped at tmax={tmax}, "
            f"{sched.clamped_low_fraction:.1%} at 1): the transition is a switch, not smooth, because " + why,
            ScheduleCollapseWarning, stacklevel=2)
    return sched


def _check_fit(fit):
    try:
        mu, s = fit
        mu, s = float(mu), float(s)
    except (TypeError, ValueError):
        raise ScheduleError(f"fit must be a pair (mu, s) of real numbers, got {fit!r}") from None
    if not (math.isfinite(mu) and math.isfinite(s)) or s < 0:
        raise ScheduleError(f"fit must be finite with s >= 0, got (mu, s) = ({mu!r}, {s!r})")
    return mu, s


def _check_data(z):
    data = _data(z)
    if not data.all_finite():
        data.raise_nonfinite()
    return data


def saturated_fraction(z, tau, eps=1e-4, psi="tanh"):
    """Fraction of entries with |psi(tau z)| >= 1 - eps (saturated, sign-like).

    psi is odd and increasing, so this is the fraction with |z| >= psi^{-1}(1 - eps)/tau; the
    threshold form is used (exact, no rounding of psi near 1). ``tau`` may be an array: the result
    then has its shape (one sort of |z|).
    """
    c = psi_inverse(eps, psi)
    tau_arr = np.asarray(tau, dtype=np.float64)
    if tau_arr.size == 0 or np.any(~np.isfinite(tau_arr)) or np.any(tau_arr <= 0):
        raise ScheduleError(f"tau must be finite and > 0, got {tau!r}")
    data = _check_data(z)
    thr = c / tau_arr
    ops = data.ops
    a = ops.abs(data.float64())
    if thr.ndim == 0:
        return ops.count_nonzero(a >= float(thr)) / data.n
    thr = thr.reshape(-1)
    if is_tensor(a):
        thr = a.new_tensor(thr)
    below = ops.to_numpy(ops.searchsorted(ops.sort(a), thr, right=False))
    return (1.0 - below / data.n).reshape(tau_arr.shape)


# ---------------------------------------------------------------------------------------------
# the two phases of a run (SoftSignum and SoftMuon, torch optimizers and numpy references)

def transition_index(step: int, sign_iters):
    """j = step - K_s - 1 for a transition step (step > K_s), None for a sign (Muon) step or when
    there is no transition (``sign_iters`` None)."""
    if sign_iters is None or step <= sign_iters:
        return None
    return step - sign_iters - 1


def tau_at(schedule, step: int, sign_iters):
    """The temperature of ``step``: tau_j, j = step - K_s - 1, held at tau_{K-1} for j >= K. None in
    the sign phase and before the schedule is fitted (then the step keeps the sign phase's map)."""
    j = transition_index(step, sign_iters)
    if j is None or schedule is None:
        return None
    return float(schedule[min(j, len(schedule) - 1)])


def fit_pending(schedule, step: int, sign_iters) -> bool:
    """True on a transition step while no schedule has been fitted yet."""
    return schedule is None and transition_index(step, sign_iters) is not None


def _all_zero(z) -> bool:
    if is_tensor(z):
        return not bool(z.ne(0).any())
    return not np.any(np.asarray(z))


def fit_transition(z, K, *, eps, newton_iters, tmax, psi, median="mean", who="the schedule", fit=None):
    """The temperatures (a tuple of K floats) fitted to the data z of the first transition step, or
    None when every entry of z is 0.

    Zero data postpone the fit: they carry no scale, and the step they come from has a zero
    direction (SoftSignum: psi(tau 0) = sign(0) = 0 for every tau) or zero gradients (SoftMuon), so
    it keeps the sign (Muon) phase's map and the fit is tried again at the next step. The index j of
    tau_j stays tied to the step count (j = step - K_s - 1), so the transition still ends at step
    K_s + K as planned. A collapsed schedule is reported as ScheduleCollapseWarning naming ``who``
    with the remedy. ``fit`` = (mu, s), computed elsewhere from non-zero data (the exact median and MAD
    over many processes, geomrelax.optim.distributed), replaces z (then None).
    """
    if fit is None and _all_zero(z):
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sched = temperature_schedule(z, K, eps=eps, newton_iters=newton_iters, tmax=tmax, psi=psi, median=median,
                                     fit=fit)
    taus = tuple(float(t) for t in sched.taus)
    collapsed = K >= 3 and len(set(taus)) <= 2
    for w in caught:
        if not (collapsed and issubclass(w.category, ScheduleCollapseWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if collapsed:
        warnings.warn(
            f"{who}: the temperature schedule collapsed to {len(set(taus))} distinct value(s) (tau from "
            f"{taus[0]:.4g} to {taus[-1]:.4g}, tmax={tmax}, median |z| scale s={sched.s:.3g}), so the transition "
            "is a switch, not smooth. Pass tmax=None (no clamp) or a larger tmax to get a smooth transition; "
            "the official default tmax=20 is kept for reproduction.", ScheduleCollapseWarning, stacklevel=3)
    return taus
