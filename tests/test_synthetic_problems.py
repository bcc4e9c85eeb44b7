"""Problems and noise models of synthetic: gradients, constants, f*, noise laws and density."""

import math

import numpy as np
import pytest
import torch

import synthetic
from synthetic.matrix_problems import MatrixLeastSquares, MatrixSensing
from synthetic.noise import StudentT, density, profile
from synthetic.random_features import RandomFeatures

PROBLEMS = [lambda: synthetic.Separable(7, seed=1), lambda: synthetic.Separable(7, phi="log"),
            lambda: synthetic.RobustRegression(6, seed=2), lambda: MatrixLeastSquares(5, 3),
            lambda: MatrixSensing(6, 2), lambda: RandomFeatures(8, M=64)]


@pytest.mark.parametrize("make", PROBLEMS)
def test_gradient_matches_autograd_on_a_batch(make):
    P = make()
    x = torch.randn(2, 3, *P.event_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    P.value(x).sum().backward()
    # float64 autograd against the closed form: a few ulps of the largest term
    torch.testing.assert_close(P.grad(x.detach()), x.grad, rtol=1e-10, atol=1e-12)
    assert P.value(x).shape == (2, 3)


@pytest.mark.parametrize("make", PROBLEMS)
def test_smoothness_constants_bound_sampled_gradient_differences(make):
    """||g(x) - g(y)||_2 <= L2 ||x - y||_2 and ||g(x) - g(y)||_1 <= L_inf ||x - y||_inf on random pairs
    (sensing: inside its ball ||U||_F <= R)."""
    P = make()
    gen = torch.Generator().manual_seed(1)
    scale = getattr(P, "radius", 2.0) / (2 * math.sqrt(P.dim))
    x = scale * torch.randn(200, *P.event_shape, dtype=torch.float64, generator=gen)
    y = x + 0.3 * scale * torch.randn(200, *P.event_shape, dtype=torch.float64, generator=gen)
    dg = (P.grad(x) - P.grad(y)).flatten(1)
    dx = (x - y).flatten(1)
    assert torch.all(dg.norm(dim=1) <= P.L2 * dx.norm(dim=1) * (1 + 1e-12))
    assert torch.all(dg.abs().sum(1) <= P.L_inf * dx.abs().max(1).values * (1 + 1e-12))
    # Bernstein's per-coordinate constants: f(y) <= f(x) + <g, y - x> + sum L_i (y_i - x_i)^2 / 2
    L = torch.as_tensor(P.L_coord, dtype=torch.float64).flatten()
    gap = P.value(y) - P.value(x) - (P.grad(x).flatten(1) * dx.neg()).sum(1) - 0.5 * (L * dx * dx).sum(1)
    assert torch.all(gap <= 1e-10 * (1 + P.value(x).abs()))


def test_f_star_and_delta():
    P = synthetic.Separable(10, seed=0)
    c = torch.as_tensor(P.c)
    assert float(P.value(c)) == 0.0 and P.delta == pytest.approx(float(P.value(torch.zeros(10, dtype=torch.float64))))
    R = synthetic.RobustRegression(8)
    assert float(R.value(torch.as_tensor(R.x_true))) == pytest.approx(0.0, abs=1e-24)
    F = RandomFeatures(16, M=128)
    # f* is the least-squares minimum: the gradient vanishes there (float64 lstsq: ~1e-12)
    assert float(F.grad(torch.as_tensor(F.theta_star)).abs().max()) < 1e-10
    assert F.value(torch.as_tensor(F.theta_star)).item() == pytest.approx(F.f_star, rel=1e-9)


@pytest.mark.parametrize("phi", [0.01, 0.05, 0.3, 0.77, 1.0])
def test_noise_density_is_set_exactly(phi):
    w = profile(100, phi, seed=3)
    assert density(w) == pytest.approx(phi, rel=1e-9)
    assert (w * w).sum() == pytest.approx(100.0)                  # d ||sigma||_2^2 fixed across phi
    with pytest.raises(synthetic.ProblemError, match="1/d"):
        profile(100, 0.001)


def test_gaussian_and_student_t_noise_laws():
    P = synthetic.Separable(4000, seed=0)
    rng = np.random.default_rng(0)
    g = synthetic.Gaussian(0.5, phi=0.5)
    z = g.draw(rng, 8, P)
    xi = g.apply(P, None, torch.zeros(4000), torch.as_tensor(z[0])).numpy()
    sig = g.sigma(P)
    # xi / sigma is N(0,1) over the 4000 coordinates with sigma > 0: std within 4 / sqrt(2 * 4000) ~ 4.5%
    mask = sig > 0
    assert np.std(xi[mask] / sig[mask]) == pytest.approx(1.0, abs=0.045)
    t = StudentT(1.0, df=5.0)
    draws = t.draw(rng, 50, P).ravel() * math.sqrt(3 / 5)
    assert np.std(draws) == pytest.approx(1.0, abs=0.05)           # std of t_5 is sqrt(5/3); 2e5 draws
    # E|T|^kappa for kappa < df: closed form against the sample (heavy tail: loose, 5%)
    assert np.mean(np.abs(draws) ** 1.5) == pytest.approx(StudentT(1.0, df=5.0).moment(1.5), rel=0.05)
    assert StudentT(1.0, df=1.5).moment(1.6) == math.inf
    assert np.all(np.isinf(StudentT(1.0, df=2.0).sigma(P)))


def test_minibatch_noise_is_unbiased_with_the_stated_sigma():
    P = synthetic.RobustRegression(5, n=40, seed=0)
    x = torch.as_tensor(np.linspace(-1, 1, 5)).reshape(1, 1, 5)
    mb = synthetic.Minibatch(4)
    rng = np.random.default_rng(1)
    draws = torch.as_tensor(mb.draw(rng, 20000, P))               # (20000, 4)
    g = P.minibatch_grad(x.expand(1, 20000, 5), draws)[0].numpy()  # 20000 independent minibatches
    exact = P.grad(x)[0, 0].numpy()
    sig = P.minibatch_sigma(x[0, 0].numpy(), 4)
    # the mean of 20000 draws is within 5 standard errors of the exact gradient
    assert np.all(np.abs(g.mean(0) - exact) <= 5 * sig / math.sqrt(20000))
    # sampling with replacement: the variance of a mean of 4 i.i.d. terms is sigma_1^2 / 4 (np.std over
    # n rows is the population std, as drawing with replacement has); 20000 draws: 3% relative
    assert np.allclose(g.std(0), sig, rtol=0.05)


def test_minibatch_refused_for_a_problem_without_data():
    with pytest.raises(synthetic.ProblemError, match="minibatch"):
        synthetic.run_cell(synthetic.Separable(3), synthetic.Minibatch(2), synthetic.Method("sgd"), 5)


def test_run_cell_refuses_a_fractional_horizon_and_bad_seeds():
    P, N, m = synthetic.Separable(3), synthetic.NoNoise(), synthetic.Method("sgd")
    with pytest.raises(ValueError, match="horizon T must be an integer >= 1, got 2.5"):
        synthetic.run_cell(P, N, m, 2.5)
    with pytest.raises(ValueError, match="horizon T"):
        synthetic.run_cell(P, N, m, 0)
    with pytest.raises(ValueError, match="a seed must be an integer >= 0, got 1.5"):
        synthetic.run_cell(P, N, m, 3, seeds=[1.5])
    with pytest.raises(ValueError, match="a seed"):
        synthetic.run_cell(P, N, m, 3, seeds=[-1])
    # a whole float is that horizon: the same rows as the integer
    a, b = synthetic.run_cell(P, N, m, 5.0), synthetic.run_cell(P, N, m, 5)
    assert a == b
