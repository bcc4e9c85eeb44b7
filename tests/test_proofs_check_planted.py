"""proofs_check: planted false claims are reported violated with a counterexample that re-evaluates
as a violation; the shipped claims that are known to be false are found too."""

import math

import numpy as np
import pytest

from geomrelax.regularizers import SeparableRegularizer, log_cosh, regularizer
from proofs_check import Claim, all_claims, check, reevaluate
from proofs_check.claims import descent, identities, newton_schulz


def reevaluates_as_violation(c: Claim, z) -> bool:
    """margin(z) > allowance(z) in float64, and, where the 60-digit route applies, confirmed there too."""
    r = reevaluate(c, z)
    if c.margin_hp is not None or c.hp_route:
        assert r["hp_margin"] is not None and r["hp_margin"] > 0
    return r["violated"]


def wrong_conjugate() -> SeparableRegularizer:
    """The entropic v with the conjugate of the wrong scale: ln cosh(s)/2 instead of ln cosh s."""
    V = regularizer("entropic")
    return SeparableRegularizer(name="entropic-wrong-conj", v=V.v, dv=V.dv, d2v=V.d2v,
                                conj_fn=lambda s: 0.5 * log_cosh(s), grad_conj_fn=np.tanh, domain=(-1.0, 1.0), mu=1.0,
                                hess0=1.0)


def planted_claims():
    wrong = wrong_conjugate()
    return {
        "wrong conjugate (Fenchel-Young inequality)": identities.fenchel_young_inequality(wrong),
        "wrong conjugate (Fenchel-Young equality)": identities.fenchel_young_equality(wrong),
        "constant off by a factor 4 (descent noise term)": descent.descent_claim(
            "entropic", 5.0, factor=0.25, ident="planted/descent-quarter", expected="violated"),
        # tau -> 0: tanh(tau m)/tau -> m, not m/2; |tanh(t m)/t - m| <= t^2 |m|^3 / 3 holds, the planted
        # limit m/2 is off by |m|/2
        "wrong limit (tau -> 0 of tanh(tau m)/tau)": Claim(
            id="planted/limit-zero", source="planted", sample=lambda rng: np.array([rng.uniform(-8, 0), rng.normal()]),
            margin=lambda z: abs(np.tanh(10.0 ** z[0] * z[1]) / 10.0 ** z[0] - z[1] / 2)
            - (10.0 ** z[0]) ** 2 * abs(z[1]) ** 3 / 3, bounds=[[-8.0, 0.0], [-10.0, 10.0]]),
        "band too tight (NS5 in [0.69, 1.13])": newton_schulz.ns5_band(0.05, (0.69, 1.13), "planted/ns5-tight"),
    }


@pytest.mark.parametrize("name", list(planted_claims()))
def test_planted_false_claim_is_violated(name):
    c = planted_claims()[name]
    v = check(c, seed=0, budget_s=0.5)
    assert v.status == "violated", (name, v.note)
    assert v.counterexample is not None and np.all(np.isfinite(v.counterexample))
    assert v.worst_margin > 0
    assert reevaluates_as_violation(c, v.counterexample)


def test_the_right_limit_holds():
    # the same family as the planted limit, with the true limit m and the Taylor remainder t^2|m|^3/3
    # (|tanh u - u| <= |u|^3/3): must not be reported violated
    c = Claim(id="limit-zero", source="t", sample=lambda rng: np.array([rng.uniform(-8, 0), rng.normal()]),
              margin=lambda z: abs(np.tanh(10.0 ** z[0] * z[1]) / 10.0 ** z[0] - z[1])
              - (10.0 ** z[0]) ** 2 * abs(z[1]) ** 3 / 3, bounds=[[-8.0, 0.0], [-10.0, 10.0]])
    assert check(c, seed=0, budget_s=0.5).status == "holds"


def test_the_right_conjugate_holds():
    V = regularizer("entropic")
    for c in (identities.fenchel_young_inequality(V), identities.fenchel_young_equality(V)):
        assert check(c, seed=0).status == "holds"


@pytest.mark.parametrize("ident", ["bounded/s3-ratio-p-below-1", "bounded/adam-ratio-at-most-1",
                                   "newton-schulz/ns5-quoted-band", "newton-schulz/coupled-5-steps-1pct-from-0.001"])
def test_shipped_known_false_claims_are_found(ident):
    c = next(c for c in all_claims() if c.id == ident)
    assert c.expected == "violated"
    v = check(c, seed=0)
    assert v.status == "violated"
    assert reevaluates_as_violation(c, v.counterexample)


def test_quoted_ns5_band_counterexample_is_below_0_7():
    c = next(c for c in all_claims() if c.id == "newton-schulz/ns5-quoted-band")
    v = check(c, seed=0)
    y = newton_schulz._ns5_scalar(v.counterexample[0])
    # the true minimum of p^5 on [0.05, 1] is 0.68183 (dense grid): the search must get within 1e-4 of it
    assert 0.68183 <= y < 0.6820
    assert v.worst_margin == pytest.approx(0.7 - y)


def test_adam_bound_equality_case_and_equal_betas():
    from proofs_check.claims.updates import T_STEPS, _adam_ratio, adam_bound

    for b1, b2 in ((0.9, 0.999), (0.5, 0.9), (0.0, 0.99)):
        g = (b1 / b2) ** np.arange(T_STEPS)[::-1]
        # Cauchy-Schwarz equality: the ratio reaches R_t (float64 rounding: a few ulps of R_t)
        assert _adam_ratio(b1, b2, g) == pytest.approx(adam_bound(b1, b2, T_STEPS), rel=1e-13)
    for b in (0.0, 0.5, 0.9, 0.999):
        assert adam_bound(b, b, T_STEPS) == pytest.approx(1.0, rel=1e-12)
    # defaults: R_t -> (1-b1)/sqrt((1-b2)(1-b1^2/b2)) = 7.27 as t -> infinity
    assert adam_bound(0.9, 0.999, 100000) == pytest.approx(0.1 / math.sqrt(0.001 * (1 - 0.81 / 0.999)), rel=1e-9)
