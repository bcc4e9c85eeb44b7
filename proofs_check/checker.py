"""The checker: hunt for a violation of a claim, then separate real violations from rounding.

Plan for a claim with budget B seconds and relative cost c: N = max(MIN_EVALS, B * RATE / c)
margin evaluations, fixed in advance so that a seed gives the same verdict on any machine
(a measurement, ``search=False``, evaluates its ``draws`` sampled inputs and nothing else):

  1. random inputs from the claim's ``sample``        (40% of N)
  2. edge cases: corners, faces and near-face points of ``bounds``, the claim's own ``edges``,
     tiny and huge magnitudes when ``scales``           (up to 15% of N)
  3. search from the worst points: geomrelax.search.local_search (adaptive evolution strategy),
     then a Nelder-Mead polish of the best point (geomrelax.search.polish)   (the rest)

The search maximises margin - allowance. Every point with margin > allowance (allowance 0 when the
claim has none) is a candidate; the best candidates are re-evaluated (proofs_check.precision): at 30
and 60 digits through the claim's high-precision twin or its margin run on mpmath numbers; when
neither stays in mpmath, a claim with a derived allowance is violated by margin > allowance; a
claim with neither is 'inconclusive' (a positive margin that could be rounding).

The plan is sized to fit B; the hard wall-clock limit is 2 B + 1 s (start-up costs such as
first imports must not cut a plan short). When it is reached the search stops, the verdict says so
(stopped_by_time) and is no longer reproducible.
"""

from __future__ import annotations

import math
import time
import zlib

import numpy as np

from geomrelax.search import clip_to_box, edge_points, local_search, magnitude_ladder, polish
from geomrelax.validate import check_int, check_real

from .claim import Claim, ClaimError, Verdict
from .precision import HIGH_DPS, confirm

RATE = 5000  # planned evaluations per second of budget for a claim of cost 1 (a scalar formula)
MIN_EVALS = 64
N_STARTS = 4  # local_search starts: the worst points found by sampling
N_CONFIRM = 5  # candidates re-evaluated in high precision
_CAUGHT = (ArithmeticError, ValueError, np.linalg.LinAlgError, FloatingPointError)


class _OutOfTime(Exception):
    pass


class _Evaluator:
    """Scores batches of points, counts evaluations, keeps the worst point and the candidates."""

    def __init__(self, claim: Claim, deadline: float):
        self.c = claim
        self.deadline = deadline
        self.bounds = None if claim.bounds is None else np.asarray(claim.bounds, dtype=float)
        self.n = 0
        self.n_failed = 0
        self.n_inadmissible = 0
        self.first_error = ""
        self.worst = (-math.inf, -math.inf, None)  # (score, margin, z) over all points
        self.clean = (-math.inf, -math.inf, None)  # the largest margin over points that are not candidates
        self.cands: list = []  # (score, margin, z), best first, distinct points
        self.n_cands = 0

    def _one(self, fn, z):
        try:
            with np.errstate(all="ignore"):
                return float(np.asarray(fn(z), dtype=float).reshape(-1)[0])
        except _CAUGHT as exc:
            if not self.first_error:
                self.first_error = f"{type(exc).__name__}: {exc}"
            return math.nan

    def margins(self, Z):
        """(margin, allowance) for the rows of Z (float64)."""
        c = self.c
        if c.batched:
            try:
                with np.errstate(all="ignore"):
                    m = np.asarray(c.margin(Z), dtype=float).reshape(len(Z))
                    a = (np.zeros(len(Z)) if c.allowance is None
                         else np.asarray(c.allowance(Z), dtype=float).reshape(len(Z)))
            except _CAUGHT:
                return (np.array([self._one(lambda z: c.margin(z[None]), z) for z in Z]),
                        np.array([0.0 if c.allowance is None else self._one(lambda z: c.allowance(z[None]), z)
                                  for z in Z]))
            return m, a
        m = np.array([self._one(c.margin, z) for z in Z])
        a = np.zeros(len(Z)) if c.allowance is None else np.array([self._one(c.allowance, z) for z in Z])
        return m, a

    def __call__(self, Z) -> np.ndarray:
        """Scores margin - allowance of the rows of Z; NaN and inadmissible (-inf) rows score -inf."""
        if time.perf_counter() > self.deadline:
            raise _OutOfTime
        Z = clip_to_box(np.atleast_2d(np.asarray(Z, dtype=float)), self.bounds)
        m, a = self.margins(Z)
        self.n += len(Z)
        bad = np.isnan(m) | np.isnan(a)
        self.n_failed += int(bad.sum())
        self.n_inadmissible += int(np.sum(m == -math.inf))
        with np.errstate(invalid="ignore"):
            s = np.where(bad, -math.inf, m - np.where(np.isnan(a), 0.0, a))
        s = np.where(np.isnan(s), -math.inf, s)
        i = int(np.argmax(s)) if len(s) else 0
        if len(s) and (s[i] > self.worst[0] or self.worst[2] is None) and not bad[i]:
            self.worst = (float(s[i]), float(m[i]), Z[i].copy())
        for j in np.flatnonzero(s > 0):
            self.n_cands += 1
            self._candidate(float(s[j]), float(m[j]), Z[j])
        ok = np.flatnonzero(~(s > 0) & ~bad & (s > -math.inf))
        if len(ok):
            j = ok[int(np.argmax(m[ok]))]  # the largest margin (not margin - allowance) is what is reported
            if m[j] > self.clean[1] or self.clean[2] is None:
                self.clean = (float(s[j]), float(m[j]), Z[j].copy())
        return s

    def _candidate(self, score, margin, z):
        if len(self.cands) >= N_CONFIRM and score <= self.cands[-1][0]:
            return
        if any(np.array_equal(z, q[2]) for q in self.cands):
            return
        self.cands.append((score, margin, z.copy()))
        self.cands.sort(key=lambda t: -t[0])
        del self.cands[N_CONFIRM:]


def _rng(claim: Claim, seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(claim.id.encode())])


def _draw(claim: Claim, rng, n: int) -> np.ndarray:
    rows = [np.atleast_1d(np.asarray(claim.sample(rng), dtype=float)).ravel() for _ in range(n)]
    dims = {len(r) for r in rows}
    if len(dims) != 1:
        raise ClaimError(f"claim {claim.id!r}: sample returned vectors of different lengths {sorted(dims)}")
    dim = dims.pop()
    if claim.bounds is not None and len(claim.bounds) != dim:
        raise ClaimError(f"claim {claim.id!r}: sample draws vectors of length {dim} but bounds has {len(claim.bounds)} rows")
    return np.stack(rows)


def _search(claim, ev: _Evaluator, rng, n_plan: int):
    if not claim.search:  # a measurement: its sampled inputs only
        ev(_draw(claim, rng, claim.draws))
        return
    n_rand = max(8, int(0.4 * n_plan))
    P = _draw(claim, rng, n_rand)
    for k in range(0, len(P), 256):
        ev(P[k:k + 256])
    extra = []
    if claim.bounds is not None:
        extra.append(edge_points(claim.bounds, rng, max(4, int(0.03 * n_plan))))
    if claim.edges is not None:
        E = np.asarray(claim.edges(rng), dtype=float)
        extra.append(E.reshape(len(E), -1))
    if claim.scales:
        extra.append(magnitude_ladder(P[: max(1, int(0.01 * n_plan))]))
    if extra:
        E = np.concatenate(extra)[: max(8, int(0.15 * n_plan))]
        for k in range(0, len(E), 256):
            ev(E[k:k + 256])
    # starts: the worst points so far (re-scored in one call) and one fresh random point
    pool = np.concatenate([P] + ([E] if extra else []))
    s = ev(pool)
    order = np.argsort(-s, kind="stable")
    starts = np.concatenate([pool[order[: N_STARTS - 1]], _draw(claim, rng, 1)])
    left = n_plan - ev.n
    k = 8
    iters = max(1, int(0.7 * left / (len(starts) * k)))
    if left > len(starts) * k:
        local_search(lambda C: ev(C.reshape(-1, C.shape[-1])).reshape(C.shape[:2]), starts, rng,
                     iters=iters, k=k)
    left = n_plan - ev.n
    if left > 4 and ev.worst[2] is not None:
        polish(lambda z: ev(z[None])[0], ev.worst[2], claim.bounds, max_evals=left)


def reevaluate(claim: Claim, z) -> dict:
    """Re-evaluate a claim at the input z (e.g. a verdict's counterexample): the float64 margin, the
    allowance (0 without one), the 60-digit margin (None where that route does not apply) and
    ``violated``: True when the margin exceeds the allowance and the 60-digit value (if any) confirms it."""
    z = np.asarray(z, dtype=float)
    with np.errstate(all="ignore"):
        m = float(np.asarray(claim.margin(z[None]) if claim.batched else claim.margin(z), dtype=float).reshape(-1)[0])
        a = 0.0 if claim.allowance is None else float(
            np.asarray(claim.allowance(z[None]) if claim.batched else claim.allowance(z), dtype=float).reshape(-1)[0])
    real, hp = None, None
    if claim.margin_hp is not None:
        real, hp = confirm(claim.margin_hp, z, False)
    elif claim.hp_route:
        real, hp = confirm(claim.margin, z, claim.batched)
    return {"margin": m, "allowance": a, "hp_margin": hp, "violated": bool(m > a and real is not False)}


def check(claim: Claim, seed: int = 0, budget_s=None, max_evals=None) -> Verdict:
    """Check one claim: search for a violation within the budget, confirm it, return a Verdict.

    ``budget_s`` (default: the claim's own) sets the planned evaluations (see the module doc) and a
    hard time limit; ``max_evals`` overrides the planned count. The same seed gives the same verdict.
    """
    if not isinstance(claim, Claim):
        raise ClaimError(f"check needs a Claim, got {type(claim).__name__}")
    seed = check_int("seed", seed, low=0, error=ClaimError)
    budget = claim.budget_s if budget_s is None else budget_s
    check_real("budget_s (seconds)", budget, low=0.0, low_open=True, error=ClaimError)
    if not claim.search:
        n_plan = claim.draws
    elif max_evals is not None:
        n_plan = check_int("max_evals", max_evals, low=1, error=ClaimError)
    else:
        n_plan = max(MIN_EVALS, int(budget * RATE / claim.cost))
    t0 = time.perf_counter()
    ev = _Evaluator(claim, t0 + 2 * budget + 1.0)
    rng = _rng(claim, seed)
    stopped = False
    try:
        _search(claim, ev, rng, n_plan)
    except _OutOfTime:
        stopped = True
    status, counterexample, hp, how, rejected, undecided = "holds", None, None, "", 0, 0
    worst_m, worst_z = ev.clean[1], ev.clean[2]  # a holds verdict reports margins net of rounding
    for score, margin, z in ev.cands:
        if claim.margin_hp is not None:
            real, value = confirm(claim.margin_hp, z, False)
        elif claim.hp_route:
            real, value = confirm(claim.margin, z, claim.batched)
        else:
            real, value = None, None
        if real is None and claim.allowance is not None:
            real, how = True, "margin > derived rounding allowance (no high-precision route)"
        elif real is not None:
            how = f"re-evaluated at {HIGH_DPS} digits" + (" (high-precision twin)" if claim.margin_hp else "")
        if real:
            status, counterexample, hp, worst_m, worst_z = "violated", z, value, margin, z
            break
        if real is None:
            undecided += 1
        else:
            rejected += 1
            if value is not None and value > worst_m:
                worst_m, worst_z = value, z
    notes = [f"planned {n_plan} evaluations, used {ev.n}"]
    if stopped:
        notes.append("stopped by the time budget (the verdict may differ between runs)")
    if rejected:
        notes.append(f"{rejected} candidate(s) with margin > 0 rejected as rounding by the {HIGH_DPS}-digit "
                     f"re-evaluation (the worst margin reported is their {HIGH_DPS}-digit value)")
        if ev.n_cands > len(ev.cands):
            notes.append(f"{ev.n_cands} evaluations had margin > 0 (all at or below the re-evaluated ones)")
    if ev.n_failed:
        notes.append(f"{ev.n_failed} evaluation(s) failed (NaN or error{': ' + ev.first_error if ev.first_error else ''})")
    if status != "violated":
        if undecided:
            status, worst_m, worst_z = "inconclusive", ev.worst[1], ev.worst[2]
            notes.insert(0, "a positive margin was found but could not be told from rounding: the margin does not "
                            "run on mpmath numbers and the claim has no high-precision twin or rounding allowance")
        elif ev.worst[2] is None:
            status = "inconclusive"
            notes.insert(0, "no admissible point could be evaluated")
        elif ev.n - ev.n_failed - ev.n_inadmissible < (MIN_EVALS if claim.search else claim.draws):
            status = "inconclusive"
            notes.insert(0, f"only {ev.n - ev.n_failed - ev.n_inadmissible} admissible evaluations "
                            f"(fewer than {MIN_EVALS})")
        elif ev.n_failed > 0.5 * ev.n:
            status = "inconclusive"
            notes.insert(0, "most evaluations failed")
    if not how and rejected:
        how = f"rounding rejected at {HIGH_DPS} digits"
    measured = None
    if claim.quantity is not None and worst_z is not None:
        with np.errstate(all="ignore"):
            measured = float(claim.quantity(worst_z))
    elif claim.theoretical is not None and math.isfinite(worst_m):
        measured = claim.theoretical + worst_m if claim.bound == "upper" else claim.theoretical - worst_m
    return Verdict(
        id=claim.id, source=claim.source, status=status, worst_margin=worst_m, counterexample=counterexample,
        worst_point=worst_z, evaluations=ev.n, seconds=time.perf_counter() - t0, budget_s=float(budget),
        seed=seed, theoretical=claim.theoretical, measured=measured, hp_margin=hp, confirmed_by=how,
        rounding_rejected=rejected, note="; ".join(notes), description=claim.description,
        assumptions=claim.assumptions, expected=claim.expected, tags=claim.tags, stopped_by_time=stopped)
