"""proofs_check: the rate claims measured through synthetic (small sweeps)."""

import pytest

from proofs_check import all_claims, check

RATE_IDS = ["rate/signum-T^-1/4", "rate/s3-T^-1/4", "rate/signsgd-density-gain", "rate/bernstein-theorem-1",
            "rate/softsign-descent-pathwise"]


def _claim(ident):
    return next(c for c in all_claims() if c.id == ident)


def test_rate_claims_are_registered_as_measurements():
    for ident in RATE_IDS:
        c = _claim(ident)
        assert not c.search and c.theoretical is not None and c.quantity is not None


@pytest.mark.parametrize("ident", ["rate/bernstein-theorem-1", "rate/softsign-descent-pathwise"])
def test_explicit_bounds_hold_with_their_ratio(ident):
    v = check(_claim(ident), seed=0)
    assert v.status == "holds", v.note
    # measured is the largest measured/bound ratio: positive, and at most 1 since the verdict holds
    assert 0 < v.measured <= 1 and v.theoretical == 1.0
    assert v.worst_margin == pytest.approx(v.measured - 1.0 - (1e-4 if "pathwise" in ident else 0.0))


@pytest.mark.slow
@pytest.mark.parametrize("ident", ["rate/signum-T^-1/4", "rate/s3-T^-1/4", "rate/signsgd-density-gain"])
def test_rate_claims_hold(ident):
    v = check(_claim(ident), seed=0)
    assert v.status == "holds", v.note
    if ident.endswith("T^-1/4"):
        # the fitted exponent is at most the claimed -1/4 (a faster decrease is consistent with an upper bound)
        assert v.measured <= -0.25
    else:
        assert v.measured >= 1.0
