"""The results of geomrelax.verify: one CheckResult per identity, a VerifyReport per regularizer, and the
cache keys of report items (config_key of the configuration, fingerprint of what the regularizer computes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..regularizers import Regularizer
from ..store import config_key, jsonable  # noqa: F401  (config_key: re-exported as geomrelax.verify.config_key)
from ..validate import check_choice
from .geometry import MATRIX_SHAPE


VERIFY_VERSION = 4  # bump when the checks change: cached report items keyed by configuration are redone

STATUSES = ("pass", "fail", "skipped")


@dataclass
class CheckResult:
    """One identity check: ``status`` is 'pass', 'fail' or 'skipped'.

    ``error`` and ``tolerance`` are the residual and the allowance at the worst point checked (the
    point with the largest error/tolerance); ``counterexample`` holds that point when the check fails.
    """

    name: str
    status: str
    error: Optional[float] = None
    tolerance: Optional[float] = None
    counterexample: Optional[dict] = None
    note: str = ""
    n_points: int = 0
    n_skipped: int = 0  # points where the identity does not apply (the note says why); not in n_points

    def __post_init__(self):
        check_choice("status", self.status, STATUSES, error=ValueError)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict:
        return jsonable({
            "name": self.name, "status": self.status, "error": self.error, "tolerance": self.tolerance,
            "counterexample": self.counterexample, "note": self.note, "n_points": self.n_points,
            "n_skipped": self.n_skipped,
        })

    def format(self) -> str:
        f = lambda v: "      -  " if v is None else f"{v:9.2e}"
        line = f"{self.name:<26} {self.status:<7} error {f(self.error)}  tol {f(self.tolerance)}"
        return line + (f"  {self.note}" if self.note else "")


def _skip(name: str, reason: str) -> CheckResult:
    return CheckResult(name, "skipped", note=reason)


@dataclass
class VerifyReport:
    """The results of ``verify``: ``passed`` is True when no check failed (skipped checks are listed)."""

    regularizer: str
    config: dict
    results: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list:
        return [r for r in self.results if r.status == "fail"]

    @property
    def skipped(self) -> list:
        return [r for r in self.results if r.status == "skipped"]

    def __getitem__(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no check named {name!r}; checks are {[r.name for r in self.results]}")

    def counts(self) -> dict:
        return {s: sum(r.status == s for r in self.results) for s in STATUSES}

    def to_dict(self) -> dict:
        return jsonable({
            "regularizer": self.regularizer, "config": self.config, "passed": self.passed,
            "counts": self.counts(), "seconds": self.seconds, "results": [r.to_dict() for r in self.results],
        })

    def format(self) -> str:
        c = self.counts()
        head = f"verify {self.regularizer}  (seed {self.config.get('seed')})"
        lines = [head] + ["  " + r.format() for r in self.results]
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"{verdict}: {c['pass']} pass, {c['fail']} fail, {c['skipped']} skipped ({self.seconds:.1f} s)")
        return "\n".join(lines)


def fingerprint(V: Regularizer) -> str:
    """A hash of what V computes (V, V*, grad V* at fixed probes; mu, hess0, norm): cached results of a
    regularizer whose code changed do not match any more."""
    probe = np.linspace(-1.7, 2.3, 6).reshape(MATRIX_SHAPE if V.event_ndim == 2 else (2, 3))
    if V.event_ndim == 2:
        probe = probe[None]
    xs = [probe * 0.3, probe, probe * 40.0]
    parts = [V.name, repr(V.mu), repr(V.hess0), V.norm]
    with np.errstate(all="ignore"):
        for y in xs:
            for f in (V.value, V.conj, V.grad_conj):
                try:
                    v = np.asarray(f(y), dtype=float)
                except Exception as exc:  # noqa: BLE001 - a raising method is part of the fingerprint
                    parts.append(type(exc).__name__)
                    continue
                parts.append(np.array2string(v, precision=10, floatmode="fixed", separator=","))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
