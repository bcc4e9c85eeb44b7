"""Claims and verdicts.

A claim is a statement "margin(z) <= 0 for every admissible input z", with a way to draw inputs
(``sample``). The checker hunts for an input with margin > 0 and re-evaluates any candidate in high
precision (or against a derived rounding allowance) before it calls the claim violated.

Bounds in the style of PEPit: when the claim is "quantity(z) <= theoretical" (``bound='upper'``)
or "quantity(z) >= theoretical" (``bound='lower'``), its margin is quantity - theoretical or
theoretical - quantity, and the verdict reports the theoretical value beside the measured one
(the worst quantity found: theoretical + worst margin, or theoretical - worst margin).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from geomrelax.errors import GeomrelaxError
from geomrelax.store import jsonable
from geomrelax.validate import check_choice, check_int, check_real

STATUSES = ("holds", "violated", "inconclusive")


class ClaimError(GeomrelaxError):
    """A claim or a check asked for with invalid settings."""


@dataclass(frozen=True)
class Claim:
    """A checkable statement: margin(z) <= 0 for all z drawn by ``sample`` (and inside ``bounds``).

    Required: ``id``, ``source`` (paper and section, code, or "reconstruction"), ``sample``
    (rng -> one input vector) and ``margin`` (vector -> float, <= 0 where the claim holds).
    The search perturbs inputs freely (inside ``bounds`` when given): the margin must accept any
    vector, either mapping it onto an admissible input (clip, abs, a parametrisation) or returning
    -inf for an inadmissible one (never a violation). NaN counts as a failed evaluation.

    Optional:
      description, assumptions  plain-text statement and hypotheses (shown in reports).
      bounds      (dim, 2) box [lo, hi] per coordinate: inputs are clipped into it and its corners,
                  faces and near-face points are tried (infinite ends allowed).
      edges       rng -> array (n, dim) of claim-specific edge cases (ill-conditioned matrices ...).
      scales      also try tiny and huge magnitudes (samples scaled by 10^-12 .. 10^8).
      margin_hp   a high-precision twin of the margin, run on an object array of mpmath numbers
                  (see proofs_check.precision); without it the margin itself is tried that way.
      hp_route    False when the margin calls code that casts to float64 (scipy, the regularizer
                  API): run on mpmath numbers it would look exact, so it must not be tried.
      allowance   z -> derived rounding allowance of the float64 margin (e.g. c eps sum |terms|):
                  a point is a candidate only when margin > allowance, and, when no high-precision
                  route exists, a confirmed violation.
      batched     margin and allowance take an array (n, dim) and return (n,) (fast claims).
      theoretical, bound   the bound's value and direction (PEPit style, see the module doc).
      cost        relative cost of one evaluation (1 = a cheap scalar formula); the number of
                  evaluations planned for a budget is divided by it.
      budget_s    the default time budget of the claim (check's budget_s overrides it).
      search      False for a measurement (an experiment whose margin already carries its
                  statistical interval, e.g. a rate fitted over seeds): the checker evaluates
                  ``draws`` sampled inputs and does not search.
      quantity    z -> the measured value reported beside ``theoretical`` (default: derived from
                  the margin as below); evaluated once, at the worst point.
      expected    "holds" or "violated": what the toolkit expects (a planted or known-false claim
                  says "violated"); informational, the verdict never depends on it.
      tags        words for filtering (e.g. "identity", "entropic", "slow").
    """

    id: str
    source: str
    sample: Callable[[np.random.Generator], np.ndarray]
    margin: Callable
    description: str = ""
    assumptions: str = ""
    bounds: Optional[Sequence[Sequence[float]]] = None
    edges: Optional[Callable[[np.random.Generator], np.ndarray]] = None
    scales: bool = False
    margin_hp: Optional[Callable] = None
    hp_route: bool = True
    allowance: Optional[Callable] = None
    batched: bool = False
    theoretical: Optional[float] = None
    bound: str = "upper"
    cost: float = 1.0
    budget_s: float = 1.0
    search: bool = True
    draws: int = 1
    quantity: Optional[Callable] = None
    expected: str = "holds"
    tags: tuple = ()

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id.strip():
            raise ClaimError(f"a claim needs a non-empty string id, got {self.id!r}")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ClaimError(f"claim {self.id!r}: source must be a non-empty string, got {self.source!r}")
        for name in ("sample", "margin"):
            if not callable(getattr(self, name)):
                raise ClaimError(f"claim {self.id!r}: {name} must be callable, got {getattr(self, name)!r}")
        check_int(f"claim {self.id!r}: draws", self.draws, low=1, error=ClaimError)
        for name in ("edges", "margin_hp", "allowance", "quantity"):
            v = getattr(self, name)
            if v is not None and not callable(v):
                raise ClaimError(f"claim {self.id!r}: {name} must be callable or None, got {v!r}")
        check_choice(f"claim {self.id!r}: bound", self.bound, ("upper", "lower"), error=ClaimError)
        check_choice(f"claim {self.id!r}: expected", self.expected, ("holds", "violated"), error=ClaimError)
        for name in ("cost", "budget_s"):
            check_real(f"claim {self.id!r}: {name}", getattr(self, name), low=0.0, low_open=True, error=ClaimError)
        if self.bounds is not None:
            b = np.asarray(self.bounds, dtype=float)
            if b.ndim != 2 or b.shape[1] != 2 or np.any(np.isnan(b)) or np.any(b[:, 0] > b[:, 1]):
                raise ClaimError(f"claim {self.id!r}: bounds must be (dim, 2) rows [lo, hi] with lo <= hi, got {self.bounds!r}")
        object.__setattr__(self, "tags", tuple(self.tags))


@dataclass
class Verdict:
    """The outcome of checking one claim.

    status          'holds' | 'violated' | 'inconclusive'
    worst_margin    the largest margin found: on a violation, the counterexample's float64 margin;
                    otherwise the largest over points that were not candidates (margin <= allowance)
                    and over the 60-digit values of candidates rejected as rounding (so a true claim
                    that touches 0 shows a margin <= 0, or within its allowance); on an undecided
                    candidate, its float64 margin
    counterexample  the input of a confirmed violation (margin(counterexample) > 0), else None
    worst_point     the input with the largest margin, whatever the status
    confirmed_by    how the violation (or the rejection of candidates) was decided
    evaluations, seconds, budget_s   the effort: margin evaluations and wall time against the budget
    theoretical, measured            for bounds (PEPit style); None otherwise
    note            why a verdict is inconclusive, what was rejected as rounding, the search plan
    """

    id: str
    source: str
    status: str
    worst_margin: float
    counterexample: Optional[np.ndarray]
    worst_point: Optional[np.ndarray]
    evaluations: int
    seconds: float
    budget_s: float
    seed: int
    theoretical: Optional[float] = None
    measured: Optional[float] = None
    hp_margin: Optional[float] = None
    confirmed_by: str = ""
    rounding_rejected: int = 0
    note: str = ""
    description: str = ""
    assumptions: str = ""
    expected: str = "holds"
    tags: tuple = ()
    stopped_by_time: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        check_choice("status", self.status, STATUSES, error=ClaimError)

    @property
    def as_expected(self) -> bool:
        return self.status == self.expected

    def to_dict(self) -> dict:
        return jsonable({
            "id": self.id, "source": self.source, "status": self.status, "worst_margin": self.worst_margin,
            "counterexample": self.counterexample, "worst_point": self.worst_point,
            "evaluations": self.evaluations, "seconds": self.seconds, "budget_s": self.budget_s,
            "seed": self.seed, "theoretical": self.theoretical, "measured": self.measured,
            "hp_margin": self.hp_margin, "confirmed_by": self.confirmed_by,
            "rounding_rejected": self.rounding_rejected, "note": self.note, "description": self.description,
            "assumptions": self.assumptions, "expected": self.expected, "tags": list(self.tags),
            "stopped_by_time": self.stopped_by_time, "extra": self.extra,
        })
