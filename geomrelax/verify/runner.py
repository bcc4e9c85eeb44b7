"""The check runner: residuals and allowances per point, points where a check does not apply (skipped,
counted, with the reason), the worst point, and the adversarial search from the worst random points
(geomrelax.search.local_search).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..search import local_search
from .geometry import _Geo
from .results import CheckResult


# adversarial search budget: starts per check (vector, matrix); steps and trials per step are geomrelax.search's
N_STARTS = {1: 16, 2: 8}


@dataclass
class _Spec:
    """One identity check: ``evaluate`` maps a batch of points to (residual, allowance) or to
    (residual, allowance, skip), where skip[i] = k > 0 says that the identity does not apply at point i
    for the reason skip_reasons[k - 1] (its residual must then be -inf, so that it never ranks worst)."""

    name: str
    evaluate: Callable[[dict], tuple]  # points -> (residual, allowance[, skip code]), one per point
    points: dict  # name -> array (batch first)
    kinds: dict  # name -> 'domain' | 'interior' | 'free' (how the search maps R^k onto valid points)
    search_points: Optional[dict] = None  # start pool in the search shape (default: points)
    note: str = ""
    skip_reasons: tuple = ()


def _evaluated(spec: _Spec, pts: dict):
    """(residual, allowance, skip code) of spec at pts, broadcast to one entry per point."""
    out = spec.evaluate(pts)
    r, a = out[0], out[1]
    skip = out[2] if len(out) > 2 else np.zeros(np.shape(r), int)
    return np.broadcast_arrays(np.asarray(r, float), np.asarray(a, float), np.asarray(skip, int))


def _skipped_note(spec: _Spec, counts: np.ndarray, total: int) -> str:
    return "; ".join(f"{int(c)} of {total} points skipped: {why}"
                     for why, c in zip(spec.skip_reasons, counts) if c)


def _ratio(r, a):
    r = np.asarray(r, dtype=float)
    a = np.asarray(a, dtype=float)
    with np.errstate(all="ignore"):
        q = r / a
    # a NaN or +inf residual is a failure (NaN returned, point outside D), so it must rank worst
    bad = np.isnan(r) | np.isnan(a) | (r == np.inf)
    return np.where(bad, np.inf, np.where(np.isnan(q), -np.inf, q))


def _take(points: dict, idx) -> dict:
    return {k: v[idx] for k, v in points.items()}


def _run(spec: _Spec, geo: _Geo, rng, search: bool) -> CheckResult:
    n_starts = N_STARTS[geo.ev]
    pools = [spec.points]
    if search:
        pool = spec.search_points if spec.search_points is not None else spec.points
        if pool is not spec.points:
            pools.append(pool)
        r, a, _ = _evaluated(spec, pool)
        q = _ratio(r, a)
        order = np.argsort(-q, kind="stable")
        n = len(q)
        starts = list(order[: max(1, n_starts - 2)]) + list(rng.choice(n, size=min(2, n), replace=False))
        names = list(spec.kinds)
        shapes = {k: pool[k].shape[1:] for k in names}
        sizes = {k: int(np.prod(shapes[k])) for k in names}

        def unpack(P):
            out, valid, i = {}, np.ones(len(P), bool), 0
            for k in names:
                z = P[:, i:i + sizes[k]].reshape((len(P),) + shapes[k])
                i += sizes[k]
                out[k], ok = geo.search_map(z, spec.kinds[k])
                valid &= ok
            return out, valid

        def score(P):
            pts, valid = unpack(P)
            with np.errstate(all="ignore"):
                rr, aa, _ = _evaluated(spec, pts)
            return np.where(valid, _ratio(rr, aa), -np.inf), pts

        P0 = np.stack([np.concatenate([pool[k][i].ravel() for k in names]) for i in starts])
        P = local_search(lambda C: score(C.reshape(-1, C.shape[-1]))[0].reshape(C.shape[:2]), P0, rng)
        pools.append(score(P)[1])

    worst = None
    total = 0
    skipped = np.zeros(len(spec.skip_reasons), int)
    for pool in pools:
        r, a, skip = _evaluated(spec, pool)
        q = _ratio(r, a)
        total += len(q)
        skipped += np.bincount(skip[skip > 0] - 1, minlength=len(spec.skip_reasons))[:len(skipped)]
        i = int(np.argmax(q))
        if worst is None or q[i] > worst[0]:
            worst = (q[i], float(r[i]), float(a[i]), _take(pool, i))
    q, r, a, point = worst
    note = spec.note + (f"; searched from {n_starts} starts" if search else "")
    n_skip = int(skipped.sum())
    if n_skip:
        note += "; " + _skipped_note(spec, skipped, total)
    if q == -np.inf:
        return CheckResult(spec.name, "skipped", note="no point where the identity applies; " + note,
                           n_skipped=n_skip)
    failed = not (q <= 1.0)
    # inequality checks have residual = violation: a negative one is slack, reported as 0
    return CheckResult(spec.name, "fail" if failed else "pass", error=max(r, 0.0), tolerance=a,
                       counterexample=point if failed else None, note=note, n_points=total - n_skip,
                       n_skipped=n_skip)
