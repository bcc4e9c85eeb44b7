"""synthetic.comparison (SignSGD vs SGD against the noise density) and the random-feature scaling law."""

import math

import pytest

import synthetic
from synthetic.comparison import sign_vs_sgd
from synthetic.random_features import RandomFeatures, scaling_exponent


def test_sign_vs_sgd_rows_and_predictions():
    P = synthetic.Separable(20, seed=0)
    rows = sign_vs_sgd(P, [0.05, 0.3, 1.0], T=40, seeds=range(2), sign_lrs=[1e-3, 1e-2, 1e-1],
                       sgd_lrs=[1e-3, 1e-2, 3e-2], dtype="float64")
    assert [r["phi"] for r in rows] == [0.05, 0.3, 1.0]
    for r in rows:
        assert r["gain_pred_noise"] == pytest.approx(r["phi"] ** -0.25)
        assert r["gain_min"] == pytest.approx(r["sgd_min_l1"] / r["sign_min_l1"])
        assert r["sign_min_l1"] <= r["sign_avg_l1"] + 1e-12          # a minimum is at most the mean
        assert r["sign_min_l1_lr"] in (1e-3, 1e-2, 1e-1)
    # at phi = 1, ||sigma||_1^2 = d ||sigma||_2^2: the two bounds coincide exactly
    assert rows[-1]["gain_pred_bounds"] == pytest.approx(1.0, rel=1e-12)
    # sparser noise: a larger predicted gain, below the pure noise-term ratio phi^(-1/4)
    assert rows[0]["gain_pred_bounds"] > rows[1]["gain_pred_bounds"] > 1.0
    assert rows[0]["gain_pred_bounds"] < rows[0]["gain_pred_noise"]


def test_scaling_exponent_natural_gradient_is_the_approximation_floor():
    Ns = [16, 32, 64]
    rows = scaling_exponent(Ns, s=1.0, T=50, M=256, seeds=[0], optimizers=["gd"])
    gd, ng = rows[0], rows[-1]
    assert ng["optimizer"] == "natural_gradient" and gd["optimizer"] == "gd"
    floors = [RandomFeatures(n, s=1.0, M=256).f_star for n in Ns]
    assert ng["losses"] == pytest.approx(floors, rel=1e-12)
    # f* is the minimum: T steps of GD cannot go below it (float64: up to rounding)
    assert all(g >= f * (1 - 1e-9) for g, f in zip(gd["losses"], floors))
    assert all(math.isfinite(r["alpha"]) for r in rows)
