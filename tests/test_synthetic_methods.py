"""The batched methods of synthetic make the same steps as their geomrelax.optim / torch.optim twins."""

import math

import numpy as np
import pytest
import torch

import geomrelax
from geomrelax import optim as go
from synthetic import Method

K = 25


def _grads(shape, seed=0):
    rng = np.random.default_rng(seed)
    return [torch.as_tensor(rng.standard_normal(shape), dtype=torch.float64) for _ in range(K)]


def _run_batched(method, x0, grads, taus=(math.nan,), T=K):
    x = x0.expand(len(taus), 1, *x0.shape).clone()
    st = method.init(x, list(taus), T)
    for k, g in enumerate(grads, 1):
        x, _ = method.step(st, x, g.expand_as(x), k)
    return x


def _run_optim(make, x0, grads):
    p = torch.nn.Parameter(x0.clone())
    opt = make([p])
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach()


# float64 throughout: the two paths apply the same formulas; the tolerance 1e-12 allows for a
# different association of the same operations (a few ulps per step over K steps)
TOL = dict(rtol=1e-12, atol=1e-12)

VECTOR_CASES = [
    (Method("sgd", lr=0.05, momentum=0.9), None,
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.9)),
    (Method("sgd", lr=0.05, momentum=0.9, dampening=0.0, nesterov=True), None,
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True)),
    (Method("signum", lr=0.01, momentum=0.9), None,
     lambda ps: go.Signum(ps, lr=0.01, momentum=0.9, dampening=0.9)),
    (Method("softsignum", lr=0.01, momentum=0.8), 3.0,
     lambda ps: go.Relaxed(ps, "entropic", tau=3.0, lr=0.01, momentum=0.8, dampening=0.8)),
    (Method("relaxed", regularizer="algebraic", lr=0.01, momentum=0.8), 2.0,
     lambda ps: go.Relaxed(ps, "algebraic", tau=2.0, lr=0.01, momentum=0.8, dampening=0.8)),
    (Method("relaxed", regularizer="ball_quadratic", lr=0.01, momentum=0.8), 0.7,
     lambda ps: go.Relaxed(ps, "ball_quadratic", tau=0.7, lr=0.01, momentum=0.8, dampening=0.8)),
    (Method("s3", lr=0.01, momentum=0.9, eps=1e-8), None,
     lambda ps: go.S3(ps, lr=0.01, beta=0.9, p=3.0, eps=1e-8)),
]


@pytest.mark.parametrize("method,tau,make", VECTOR_CASES, ids=lambda v: getattr(v, "name", None) or "")
def test_vector_methods_match_optimizers(method, tau, make):
    x0 = torch.as_tensor(np.linspace(-1, 1, 7), dtype=torch.float64)
    grads = _grads(7)
    want = _run_optim(make, x0, grads)
    got = _run_batched(method, x0, grads, taus=(tau,) if tau else (math.nan,))
    torch.testing.assert_close(got[0, 0], want, **TOL)


def test_tau_axis_is_a_batch_axis():
    """Each tau of the batch gives the run of the optimizer at that tau alone."""
    x0 = torch.zeros(5, dtype=torch.float64)
    grads = _grads(5, seed=3)
    got = _run_batched(Method("softsignum", lr=0.02, momentum=0.5), x0, grads, taus=(0.1, 1.0, 30.0))
    for i, tau in enumerate((0.1, 1.0, 30.0)):
        want = _run_optim(lambda ps: go.Relaxed(ps, "entropic", tau=tau, lr=0.02, momentum=0.5, dampening=0.5), x0, grads)
        torch.testing.assert_close(got[i, 0], want, **TOL)


def test_user_regularizer_from_expr():
    V = geomrelax.from_expr("x**2/2 + x**4/4", domain=(-1, 1))
    x0 = torch.zeros(4, dtype=torch.float64)
    grads = _grads(4, seed=5)
    got = _run_batched(Method("relaxed", regularizer=V, lr=0.01, momentum=0.5), x0, grads, taus=(2.0,))
    want = _run_optim(lambda ps: go.Relaxed(ps, V, tau=2.0, lr=0.01, momentum=0.5, dampening=0.5), x0, grads)
    torch.testing.assert_close(got[0, 0], want, rtol=1e-9, atol=1e-9)   # numeric grad V*: Newton tolerance


def test_muon_matches():
    x0 = torch.zeros(6, 4, dtype=torch.float64)
    grads = _grads((6, 4), seed=1)
    got = _run_batched(Method("muon", lr=0.02, momentum=0.95, options={"ns_dtype": torch.float64}), x0, grads)
    want = _run_optim(lambda ps: go.Muon(ps, lr=0.02, momentum=0.95, ns_dtype=torch.float64), x0, grads)
    # the batched Newton-Schulz normalises per matrix with a per-axis reduction: rounding only
    torch.testing.assert_close(got[0, 0], want, rtol=1e-10, atol=1e-10)


def test_softmuon_fixed_tau_is_the_spectral_algebraic_relaxed_lmo():
    x0 = torch.zeros(5, 5, dtype=torch.float64)
    grads = _grads((5, 5), seed=2)
    got = _run_batched(Method("softmuon", lr=0.02, momentum=0.0), x0, grads, taus=(4.0,))
    V = geomrelax.spectral("algebraic")
    want = _run_optim(lambda ps: go.Relaxed(ps, V, tau=4.0, lr=0.02, momentum=0.0), x0, grads)
    torch.testing.assert_close(got[0, 0], want, rtol=1e-10, atol=1e-10)   # two SVDs of the same matrix


def test_softsignum_schedule_matches_softsignum():
    x0 = torch.as_tensor(np.linspace(-1, 1, 40), dtype=torch.float64)
    grads = _grads(40, seed=4)
    m = Method("softsignum", lr=0.01, momentum=0.9, schedule="softsign", alpha_sign=0.6, tmax=50.0)
    got = _run_batched(m, x0, grads, T=K)
    K_s = int(round(0.6 * K))
    want = _run_optim(lambda ps: go.SoftSignum(ps, lr=0.01, momentum=0.9, dampening=0.9, sign_iters=K_s,
                                               transition_iters=K - K_s, tmax=50.0), x0, grads)
    torch.testing.assert_close(got[0, 0], want, **TOL)


def test_theory_schedule():
    m = Method("signum", lr=2.0, schedule="theory")
    lr, beta, damp = m.at_horizon(10_000)
    assert lr == pytest.approx(2.0 * 10_000 ** -0.75) and beta == pytest.approx(0.99) and damp == beta
    lr, beta, _ = Method("sgd", lr=1.0, schedule="theory").at_horizon(400)
    assert lr == pytest.approx(0.05) and beta == 0.0


@pytest.mark.parametrize("name, momentum", [("muon", 0.95), ("muon", 0.3), ("normuon", 0.95)])
def test_spectral_momentum_is_the_optimizers_bit_for_bit(name, momentum):
    # one route (geomrelax.updates.muon_momentum / muon_input, lerp-rounded as torch): the buffer after K
    # steps is the torch optimizer's exactly; beta M + (1 - beta) g, the formula written out, differs in ulps
    x0 = torch.zeros(6, 4, dtype=torch.float64)
    grads = _grads((6, 4), seed=4)
    m = Method(name, lr=0.02, momentum=momentum, options={"ns_dtype": torch.float64})
    x = x0.expand(1, 1, *x0.shape).clone()
    st = m.init(x, [math.nan], K)
    for k, g in enumerate(grads, 1):
        x, _ = m.step(st, x, g.expand_as(x), k)
    p = torch.nn.Parameter(x0.clone())
    cls = go.Muon if name == "muon" else go.NorMuon
    opt = cls([p], lr=0.02, momentum=momentum, ns_dtype=torch.float64)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    assert torch.equal(st["buf"][0, 0], opt.state[p]["momentum_buffer"])
