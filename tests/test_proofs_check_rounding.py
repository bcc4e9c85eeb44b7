"""proofs_check: true claims that touch zero at rounding level are not reported violated, and the
high-precision re-evaluation tells rounding from tiny real violations."""

import numpy as np
import pytest

from proofs_check import Claim, all_claims, check
from proofs_check.precision import HP, confirm, evaluate, to_hp

TIGHT = ["sandwich/lncosh-quadratic", "sandwich/lncosh-abs", "noise-density/upper", "noise-density/lower",
         "bounded/adam-ratio-equal-betas", "identity/entropic/fenchel-young-equality",
         "identity/ball_quadratic/fenchel-young-equality", "identity/spectral-algebraic/inverse-gradient",
         "sandwich/entropic-l1"]


def _claim(ident):
    return next(c for c in all_claims() if c.id == ident)


@pytest.mark.parametrize("ident", TIGHT)
def test_tight_true_claims_hold_for_a_few_seeds(ident):
    c = _claim(ident)
    for seed in range(3):
        v = check(c, seed=seed)
        assert v.status == "holds", (seed, v.note, v.counterexample)


@pytest.mark.slow
@pytest.mark.parametrize("ident", TIGHT)
def test_tight_true_claims_hold_for_20_seeds(ident):
    c = _claim(ident)
    for seed in range(3, 23):
        v = check(c, seed=seed)
        assert v.status == "holds", (seed, v.note, v.counterexample)


def test_rounding_level_positive_margins_are_rejected():
    f = lambda z: np.log(np.cosh(z[0])) - z[0] ** 2 / 2
    z = np.array([1e-5])
    assert f(z) > 0  # float64: cosh(1e-5) rounds up, the margin comes out +4e-18
    real, value = confirm(f, z)
    assert real is False and value == pytest.approx(-(1e-5) ** 4 / 12, rel=1e-6)  # the true value -x^4/12


def test_a_tiny_real_violation_is_confirmed():
    # x^2 <= x^2 - 1e-30 fails by exactly 1e-30 everywhere: far below float64 resolution of x^2 ~ 1,
    # but exact in 60 digits, so it must not be dismissed as rounding
    f = lambda z: z[0] ** 2 - (z[0] ** 2 - 1e-30)
    z = np.array([1.0])
    assert f(z) == 0.0
    real, value = confirm(f, z)
    assert real is True and value == pytest.approx(1e-30, rel=1e-12)


def test_overflow_in_float_is_not_a_violation():
    c = Claim(id="overflow", source="t", sample=lambda rng: rng.normal(0, 500, size=1),
              margin=lambda z: np.log(np.cosh(z[0])) - z[0] ** 2 / 2)  # cosh overflows beyond 710: inf - inf
    v = check(c, seed=0, budget_s=0.3)
    assert v.status == "holds" and v.worst_margin <= 0


def test_no_high_precision_route_and_no_allowance_is_inconclusive():
    # the same true claim written through float() casts: the 60-digit route is refused (hp_route False)
    # and no allowance is given, so a rounding-level positive margin cannot be decided
    c = Claim(id="cast", source="t", sample=lambda rng: np.array([rng.uniform(-1e-5, 1e-5)]),
              margin=lambda z: float(np.log(np.cosh(float(z[0])))) - float(z[0]) ** 2 / 2, hp_route=False,
              bounds=[[-1e-5, 1e-5]])
    v = check(c, seed=0, budget_s=0.3)
    assert v.status == "inconclusive" and "rounding" in v.note
    # with a derived allowance (ln cosh and x^2/2 are each within a few ulps of their value, which is
    # at most x^2/2 here; plus an ulp of 1 from rounding cosh x near 1): holds
    c2 = Claim(id="cast2", source="t", sample=c.sample, margin=c.margin, hp_route=False, bounds=c.bounds,
               allowance=lambda z: 4 * np.finfo(float).eps * (1 + z[0] ** 2))
    assert check(c2, seed=0, budget_s=0.3).status == "holds"


def test_hp_numbers_stay_hp_through_numpy():
    with __import__("mpmath").workdps(40):
        z = to_hp(np.array([0.5, -2.0]))
        r = np.sum(np.tanh(z) ** 2) + np.sqrt(np.abs(z[1])) - np.log1p(z[0]) / 3
        assert isinstance(r, HP)
    assert evaluate(lambda z: np.linalg.svd(np.array([[z[0]]]))[1][0], np.array([1.0]), 40) is None
