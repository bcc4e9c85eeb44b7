"""Rate fits recover known exponents; verdicts; bounds: the true ones hold, a planted wrong one is flagged."""

import math

import numpy as np
import pytest

import synthetic
from synthetic.bounds import bernstein_signsgd, check_bound, run_bernstein, softsign_descent_check
from synthetic.problems import Problem
from synthetic.rates import fit_exponential, fit_power, fit_rates, verdict


def test_planted_power_law_is_recovered():
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e4, 7)
    S, b, noise = 20, -0.37, 0.1
    Y = 3.0 * x ** b * np.exp(noise * rng.standard_normal((S, x.size)))
    fit = fit_power(x, Y)
    # slope standard error = noise / sqrt(S * sum (log x - mean)^2) = 0.1 / sqrt(20 * 16.7) ~ 0.0055;
    # 0.02 is more than 3.5 of them
    assert abs(fit["exponent"] - b) < 0.02
    assert fit["lo"] <= b <= fit["hi"]
    assert verdict(fit, b) == "consistent"
    assert verdict(fit, -0.25) == "faster" and verdict(fit, -0.5) == "slower"
    assert fit["hi"] - fit["lo"] < 0.06      # about 4 standard errors wide


def test_gd_on_quadratic_has_the_linear_rate():
    """GD with step 1/L on ||A X - B||^2/2: f - f* ~ (1 - mu/L)^(2k) once the faster modes have died."""
    P = synthetic.make_problem({"kind": "matrix_least_squares", "cond": 10.0, "n": 2}, 5)
    m = synthetic.Method("sgd", lr=1.0 / P.L2, momentum=0.0)
    rows = synthetic.run_cell(P, synthetic.NoNoise(), m, 200, seeds=[0], n_checkpoints=40, dtype="float64")
    late = [r for r in rows if r["step"] >= 60]
    fit = fit_exponential([r["step"] for r in late], np.array([[r["f_gap"] for r in late]]))
    # eigenvalues of A^T A: geomspace(1, 0.1, 5); the slowest mode decays as (1 - 0.1)^(2k). The next one
    # (0.178) is (0.822/0.9)^120 ~ 2e-5 of it by k = 60: the slope is exact to about 1e-6
    assert fit["exponent"] == pytest.approx(2 * math.log(0.9), abs=1e-4)


class _Quadratic(Problem):
    """f = sum_i h_i x_i^2 / 2 (strongly convex), x0 = 1."""

    def __init__(self, h):
        self.h = np.asarray(h, dtype=float)
        self.name, self.event_shape, self.x0_np = "quadratic", (self.h.size,), np.ones(self.h.size)
        self.L2, self.L_inf, self.L_coord = float(self.h.max()), float(self.h.sum()), self.h

    def value(self, x):
        (h,) = self.tensors(x, "h")
        return 0.5 * (h * x * x).sum(-1)

    def grad(self, x):
        (h,) = self.tensors(x, "h")
        return h * x


def test_sgd_constant_step_noise_floor():
    """SGD x <- x - lr (h x + sigma z): stationary E f = sum_i lr sigma^2 / (2 (2 - lr h_i))."""
    h = np.geomspace(0.5, 2.0, 50)
    P, lr, sigma = _Quadratic(h), 0.2, 0.3
    rows = synthetic.run_cell(P, synthetic.Gaussian(sigma), synthetic.Method("sgd", lr=lr, momentum=0.0), 400,
                              seeds=range(64), n_checkpoints=12, dtype="float64")
    late = [r["f_gap"] for r in rows if r["step"] >= 150]       # transient (1 - 0.2*0.5)^300 ~ 2e-14
    want = float((lr * sigma ** 2 / (2 * (2 - lr * h))).sum())
    # f at stationarity: sum of 50 scaled chi^2_1, relative std sqrt(2/50) = 0.2 per run; the mean over
    # 64 seeds x 3 late checkpoints (correlated within a seed) has relative std <= 0.2/8 = 0.025: 4 of them
    assert np.mean(late) == pytest.approx(want, rel=0.1)


def test_fit_rates_groups_and_verdicts():
    rows = []
    for T in (100, 1000, 10000):
        for seed in range(4):
            rows.append({"optimizer": "signum", "problem": "p", "noise": "n", "tau": math.inf, "d": 10, "T": T,
                         "seed": seed, "step": T, "min_l1": T ** -0.25 * (1 + 0.01 * seed), "schedule": "theory",
                         "lr_base": 1.0, "momentum_base": 0.9, "lr_power": 0.75, "momentum_power": 0.5})
    (r,) = [x for x in fit_rates(rows, measures=("min_l1",)) if x["varied"] == "T"]
    assert r["exponent"] == pytest.approx(-0.25, abs=1e-9) and r["verdict"] == "consistent"
    for x in rows:
        x["min_l1"] = x["T"] ** -0.1
    (r,) = fit_rates(rows, measures=("min_l1",))
    assert r["verdict"] == "slower"


def test_planted_wrong_bound_is_flagged():
    assert check_bound(2.0, 3.0) == {"measured": 2.0, "bound": 3.0, "ratio": 2.0 / 3.0, "exceeded": False}
    assert check_bound(2.0, 1.0)["exceeded"]
    P = synthetic.Separable(20, seed=3)
    true = run_bernstein(P, 0.5, Ks=(64,), seeds=range(2))[0]
    assert not true["exceeded"]
    planted = check_bound(true["measured"], true["bound"] / 100.0)      # a claim 100x too strong
    assert planted["exceeded"] and planted["ratio"] == pytest.approx(100 * true["ratio"])
    assert true["bound"] == pytest.approx(bernstein_signsgd(float(P.L_coord.sum()), P.delta, 0.5 * 20, 64 ** 2))


def test_softsign_descent_bound_holds_pathwise_where_it_applies():
    res = synthetic.sweep(optimizers=[{"name": "softsignum", "lr": 0.02, "momentum": 0.9}], dims=[30],
                          horizons=[200], taus=[0.1, 1.0, 2.0], seeds=range(3), progress=False, fit=False)
    checks = softsign_descent_check(res.runs)
    assert len(checks) == 9 and all(c["applies"] for c in checks)        # lr tau <= 1/L2 = 1/20
    assert not any(c["exceeded"] for c in checks), [c["ratio"] for c in checks]
