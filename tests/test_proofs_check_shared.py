"""proofs_check's identity claims evaluate through geomrelax.verify's residuals (one evaluation of each
identity). Where the two copies differed, the claims now follow verify; these tests pin each difference."""

import dataclasses

import numpy as np
import pytest

from geomrelax.regularizers import regularizer
from geomrelax.verify.curvature import smoothness_margin
from geomrelax.verify.fenchel_young import fy_gap
from geomrelax.verify.geometry import geometry, norm_spec
from proofs_check import check, reevaluate
from proofs_check.claims import identities

ENTROPIC = regularizer("entropic")  # mu = 1 w.r.t. l2 (v'' = 1/(1 - x^2) >= 1, tight at 0)


def test_claims_and_verify_compute_the_same_numbers():
    V = ENTROPIC
    c = identities.fenchel_young_inequality(V)
    k = identities.VECTOR_DIM
    Z = np.random.default_rng(0).standard_normal((16, 2 * k))
    x, y = identities._Space(V).onto(Z[:, :k]), Z[:, k:]
    gap, allow = fy_gap(geometry(V), x, y)
    np.testing.assert_array_equal(c.margin(Z), -gap)
    np.testing.assert_array_equal(c.allowance(Z), allow)
    s = identities.conjugate_smoothness(V)
    m, a = smoothness_margin(geometry(V), norm_spec("l2", 1), Z[:, :k], Z[:, k:])
    np.testing.assert_array_equal(s.margin(Z), m)
    np.testing.assert_array_equal(s.allowance(Z), a)


@pytest.mark.parametrize("make", [identities.conjugate_smoothness, identities.strong_convexity])
def test_curvature_claims_use_the_norm_of_mu(make):
    # the claims measured ||.||_2 whatever V.norm said; mu = 1 holds in l2 and linf and fails in l1
    # (||d||_1 up to sqrt(3) ||d||_2 on the claims' 3 coordinates)
    for norm, status in (("l2", "holds"), ("linf", "holds"), ("l1", "violated")):
        V = dataclasses.replace(ENTROPIC, name=f"entropic-{norm}", norm=norm)
        v = check(make(V), seed=0)
        assert v.status == status, (norm, v.note)
        if status == "violated":
            assert reevaluate(make(V), v.counterexample)["violated"]


def _outward(delta_ulps=None, rel=None):
    """entropic with grad V* pushed outward at the edge of D: by ulps (rounding) or by a relative amount."""
    def grad_conj(s):
        x = np.tanh(s)
        if delta_ulps:
            return np.where(np.abs(x) == 1.0, np.nextafter(x, 2.0 * x), x)
        return x * (1.0 + rel)
    return dataclasses.replace(ENTROPIC, name="entropic-outward", grad_conj_fn=grad_conj)


def test_fenchel_young_equality_takes_rounding_at_the_edge_as_rounding():
    # grad V*(y) = 1 + 2^-52 for |y| > 19: one ulp outside [-1, 1]. The claim read V(x) = inf there and
    # reported a violation; verify's evaluation treats it as rounding (pull inside by ulps, then compare)
    c = identities.fenchel_young_equality(_outward(delta_ulps=1))
    y = np.full((1, identities.VECTOR_DIM), 30.0)
    assert np.isfinite(c.margin(y)).all() and (c.margin(y) <= c.allowance(y)).all()
    assert check(c, seed=0).status == "holds"
    # off by 1e-6 is no rounding: still a violation
    bad = identities.fenchel_young_equality(_outward(rel=1e-6))
    assert check(bad, seed=0).status == "violated"
