"""The variants' claims: registered, the identities hold, a planted bug in the schedule-free average is caught,
and (slow) the measurements hold on their default seeds."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from proofs_check import all_claims, check, select  # noqa: E402

IDS = ("variants/sf-averaging-identity", "variants/normuon-update-rms", "variants/ssvr-rate-T^-1/3",
       "variants/majority-byzantine-below-half", "variants/majority-byzantine-above-half",
       "variants/signsgd-heavy-tail-q90")


def test_the_variant_claims_are_registered():
    ids = {c.id for c in select(all_claims(), tags="variants")}
    assert ids == set(IDS)


@pytest.mark.parametrize("ident", IDS[:2])
def test_identities_hold(ident):
    c = next(c for c in all_claims() if c.id == ident)
    v = check(c, seed=1, budget_s=1.0)
    assert v.status == "holds", v.note


def test_a_wrong_averaging_weight_is_caught(monkeypatch):
    import geomrelax.updates as U

    # c_{t+1} = 1 / (t + 2) instead of 1 / (t + 1): x is no longer the average of the z
    monkeypatch.setattr(U, "sf_coefficient", lambda t, power=0.0: 1.0 / (t + 2))
    c = next(c for c in all_claims() if c.id == IDS[0])
    assert check(c, seed=0, budget_s=1.0).status == "violated"


@pytest.mark.slow
@pytest.mark.parametrize("ident", IDS[2:])
def test_measurements_hold_on_the_default_seed(ident):
    c = next(c for c in all_claims() if c.id == ident)
    v = check(c, seed=0)
    assert v.status == "holds", v.note
