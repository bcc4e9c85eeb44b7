"""S3 / SoftSignSGD: parity with the numpy reference, the bounded-update claim |n_t/b_t| <= 1, overflow."""

import io

import numpy as np
import pytest
import torch

from geomrelax.errors import NonFiniteError
from geomrelax.optim.s3 import S3
from geomrelax.reference.s3 import s3_init, s3_ratio, s3_step

SHAPES = [(5, 4), (7,), (2, 3, 2)]
EPS64 = np.finfo(np.float64).eps


def grads_at(k, scale=1.0):
    rng = np.random.default_rng(500 + k)
    return [scale * rng.standard_cauchy(s) for s in SHAPES]  # heavy tails: the case S3 is made for


def make_params(dtype=torch.float64):
    rng = np.random.default_rng(9)
    thetas = [rng.standard_normal(s) for s in SHAPES]
    return thetas, [torch.nn.Parameter(torch.tensor(t, dtype=dtype)) for t in thetas]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=p.dtype)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("cfg", [
    dict(lr=1e-2, beta=0.95, p=3.0, eps=1e-8),
    dict(lr=1e-2, beta=0.9, p=2.0, eps=0.0, weight_decay=0.1),
    dict(lr=1e-3, beta=0.5, p=1.5, eps=1e-3, maximize=True),
])
def test_parity_with_numpy_reference(cfg, foreach):
    thetas, params = make_params()
    opt = S3(params, foreach=foreach, **cfg)
    state, ref = s3_init(), thetas
    for k in range(1, 16):
        g = grads_at(k)
        set_grads(params, g)
        opt.step()
        ref, state = s3_step(ref, g, state, **cfg)
        # same formulas; pow may differ by an ulp between libms, |step| <= lr: 16 ulps of |theta| ~ 3
        err = max(float(np.abs(p.detach().numpy() - r).max()) for p, r in zip(params, ref))
        assert err <= 16 * 4 * EPS64 * k
    for p, m, r in zip(params, state["exp_avg"], state["exp_avg_p"]):
        np.testing.assert_allclose(opt.state[p]["exp_avg"].numpy(), m, rtol=16 * EPS64)
        np.testing.assert_allclose(opt.state[p]["exp_avg_p"].numpy(), r, rtol=16 * EPS64)


def test_first_step_closed_form():
    """t = 1: n = (1 - beta^2) g... n_1 = beta(1-beta) g + (1-beta) g, b_1 = (beta(1-beta) + (1-beta))^(1/p) |g|."""
    beta, p_, lr = 0.9, 3.0, 0.1
    theta = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    opt = S3([theta], lr=lr, beta=beta, p=p_, eps=0.0)
    g = torch.tensor([1.0, -2.0, 0.0, 1e-3, -7.0], dtype=torch.float64)
    theta.grad = g
    opt.step()
    w = beta * (1 - beta) + (1 - beta)
    expect = -lr * np.sign(g.numpy()) * w ** (1 - 1 / p_)  # |n/b| = w^(1 - 1/p) for one gradient
    np.testing.assert_allclose(theta.detach().numpy(), expect, rtol=8 * EPS64, atol=0)


def hoelder_bound(T, beta, p):
    """|n_t/b_t| <= W_t^(1-1/p), W_t = sum of the weights = 1 - beta^(t+1) (exact arithmetic)."""
    t = np.arange(1, T + 1)
    return (1 - beta ** (t + 1)) ** (1 - 1 / p)


ADVERSARIAL = {
    "constant": lambda rng, T: [np.full(64, 1.0)] * T,
    "cauchy": lambda rng, T: list(rng.standard_cauchy((T, 64))),
    "spike_after_calm": lambda rng, T: [np.full(64, 1e-6)] * (T // 2) + [np.full(64, 1e6)] * (T - T // 2),
    "calm_after_spike": lambda rng, T: [np.full(64, 1e6)] * 3 + [np.full(64, 1e-6)] * (T - 3),
    "sign_flips": lambda rng, T: [np.full(64, (-1.0) ** t) for t in range(T)],
    "scales_1e-30_to_1e30": lambda rng, T: list(10.0 ** rng.uniform(-30, 30, (T, 64)) * rng.choice([-1, 1], (T, 64))),
    "constant_1e30": lambda rng, T: [np.full(64, -1e30)] * T,
    "same_sign_random_scale": lambda rng, T: list(np.exp(rng.normal(0, 5, (T, 64)))),
}


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 8.0])
@pytest.mark.parametrize("case", list(ADVERSARIAL))
def test_claim_bounded_update_float64(case, p):
    """|n_t/b_t| <= 1 (docs/theory.md section 3 / 5.8), and the sharper Hoelder bound W_t^(1-1/p)."""
    rng = np.random.default_rng(1)
    T, beta = 800, 0.95
    seq = ADVERSARIAL[case](rng, T)
    r = np.abs(s3_ratio(seq, beta=beta, p=p))
    # rounding: the EMA sums and pow carry a few ulps each (16 ulps); and b = x^fl(1/p) with
    # x = b^p has the extra relative error |ln x| |1/p - fl(1/p)| <= |ln x| eps (measured: 1.3e-14
    # for |g| = 1e100, p = 3). All |g|^p here stay inside the normal float64 range.
    logs = np.abs(np.log(np.abs(np.concatenate(seq)[np.concatenate(seq) != 0])) * p)
    slack = (16 + logs.max()) * EPS64
    assert r.max() <= 1 + slack
    assert np.all(r.max(axis=1) <= hoelder_bound(T, beta, p) * (1 + slack))


def test_claim_fails_by_rounding_and_range_in_float64():
    """Disproof of |n_t/b_t| <= 1 in floating point: it holds only up to rounding, and not at all
    where |g|^p leaves the float64 range (the true ratio is ~1 there, the computed one 0)."""
    r = np.abs(s3_ratio([np.full(4, 1e100)] * 1500, beta=0.95, p=3.0))
    assert 1 < r.max() <= 1 + 1e-13  # measured 1 + 1.3e-14: pow(x, fl(1/3)) with ln x = 690
    assert np.abs(s3_ratio([np.full(4, 1e100)] * 5, beta=0.95, p=7.0)).max() == 0.0  # 1e700 = inf


def test_claim_fails_in_float32_where_power_underflows():
    """Disproof in floating point: for |g| ~ 3e-14 (float32, p = 3) |g|^3 is subnormal and |n/b| > 1."""
    seq = [np.full(8, 3e-14)] * 3000
    r32 = np.abs(s3_ratio(seq, dtype=np.float32))
    r64 = np.abs(s3_ratio(seq, dtype=np.float64))
    assert r64.max() <= 1.0
    assert r32.max() > 1 + 1e-5  # measured 1.0003: far above float32 rounding (6e-8)
    # and for |g| ~ 1e-16 the power is 0 in float32: b = 0, the update is set to 0 (0/0 convention)
    assert np.abs(s3_ratio([np.full(4, 1e-16)] * 10, dtype=np.float32)).max() == 0.0


def test_default_eps_keeps_float32_steps_bounded():
    """With eps = 1e-8 (default) the float32 optimizer never moves a coordinate by more than lr."""
    lr = 0.1
    theta = torch.nn.Parameter(torch.zeros(16))
    opt = S3([theta], lr=lr)
    for k in range(300):
        prev = theta.detach().clone()
        scale = 3e-14 if k < 200 else 1e3 * (-1) ** k
        theta.grad = torch.full((16,), scale)
        opt.step()
        assert float((theta.detach() - prev).abs().max()) <= lr * (1 + 1e-6)


def test_power_overflow_refused():
    theta = torch.nn.Parameter(torch.zeros(3))
    opt = S3([theta])
    theta.grad = torch.tensor([1.0, 2.0, 1e13])  # 1e39 > float32 max
    before = theta.detach().clone()
    with pytest.raises(NonFiniteError, match="exp_avg_p"):
        opt.step()
    assert torch.equal(theta.detach(), before) and len(opt.state[theta]) == 0 and opt.step_count() == 0


def test_state_dict_bitwise_continuation():
    _, pa = make_params()
    oa = S3(pa, lr=1e-2)
    for k in range(1, 9):
        set_grads(pa, grads_at(k))
        oa.step()
    _, pb = make_params()
    ob = S3(pb, lr=1e-2)
    for k in range(1, 5):
        set_grads(pb, grads_at(k))
        ob.step()
    buf = io.BytesIO()
    torch.save(ob.state_dict(), buf)
    buf.seek(0)
    pc = [torch.nn.Parameter(p.detach().clone()) for p in pb]
    oc = S3(pc, lr=1e-2)
    oc.load_state_dict(torch.load(buf, weights_only=True))
    for k in range(5, 9):
        set_grads(pc, grads_at(k))
        oc.step()
    assert all(torch.equal(a, c) for a, c in zip(pa, pc))
    assert oc.step_count() == 8


# -- half precision and loaded state -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("foreach", [False, True])
def test_half_precision_with_small_gradients_stays_finite_and_follows_the_reference(dtype, foreach):
    """|g| = 1e-3 in float16: |g|^3 = 1e-9 underflows and eps = 1e-8 rounds to 0 there; the statistics
    are kept in float32, so the steps are those of the float64 reference up to the half rounding."""
    rng = np.random.default_rng(3)
    theta0 = torch.tensor(rng.standard_normal(64), dtype=dtype)
    p = torch.nn.Parameter(theta0.clone())
    opt = S3([p], lr=0.1, foreach=foreach)
    assert opt.state_dtype(p) == torch.float32
    ref, state = [theta0.double().numpy()], s3_init()
    for k in range(1, 6):
        g = torch.tensor(1e-3 * rng.choice([-1.0, 1.0], 64) * rng.uniform(0.5, 2.0, 64), dtype=dtype)
        p.grad = g
        opt.step()
        ref, state = s3_step(ref, [g.double().numpy()], state, lr=0.1)
        assert bool(torch.isfinite(p).all())
        assert opt.state[p]["exp_avg"].dtype == torch.float32
        # each step rounds theta once to the half dtype (<= eps/2 |theta|; the direction does not depend
        # on theta); the float32 statistics add ~1e-7 relative: k eps |theta| per entry bounds the drift
        tol = k * float(torch.finfo(dtype).eps) * np.maximum(np.abs(ref[0]), np.abs(theta0.double().numpy()))
        assert np.all(np.abs(p.detach().double().numpy() - ref[0]) <= tol)
    # the comparison is not vacuous: the reference moved theta by more than the tolerance
    assert np.median(np.abs(ref[0] - theta0.double().numpy()) / tol) > 1


def test_half_precision_state_survives_state_dict_in_float32():
    p = torch.nn.Parameter(torch.ones(8, dtype=torch.float16))
    opt = S3([p], lr=1e-2)
    for k in range(3):
        p.grad = torch.full((8,), 1e-3 * (k + 1), dtype=torch.float16)
        opt.step()
    saved = opt.state_dict()
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = S3([q], lr=1e-2)
    buf = io.BytesIO()
    torch.save(saved, buf)
    buf.seek(0)
    opt2.load_state_dict(torch.load(buf, weights_only=True))  # torch casts state to p.dtype; we keep float32
    assert opt2.state[q]["exp_avg_p"].dtype == torch.float32
    assert torch.equal(opt2.state[q]["exp_avg_p"], opt.state[p]["exp_avg_p"])
    p.grad = torch.full((8,), 2e-3, dtype=torch.float16)
    q.grad = p.grad.clone()
    opt.step()
    opt2.step()
    assert torch.equal(p, q)


def test_loaded_huge_state_is_caught_before_it_overflows():
    """A finite but huge loaded exp_avg (3e38 in float32): the next step would overflow m to inf. The
    load raises the state bound to the state's size, so the step runs as a transaction and is refused."""
    p = torch.nn.Parameter(torch.zeros(4))
    opt = S3([p], lr=1e-2, beta=0.5)
    p.grad = torch.ones(4)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = torch.full((4,), 3e38)
    sd["state"][0]["exp_avg_p"] = torch.full((4,), 3e38)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["state_bound"] >= 3e38
    before = p.detach().clone(), {k: v.clone() for k, v in opt.state[p].items()}
    p.grad = torch.full((4,), 3e38)
    with pytest.raises(NonFiniteError, match="exp_avg"):
        opt.step()
    assert torch.equal(p, before[0])
    assert all(torch.equal(opt.state[p][k], v) for k, v in before[1].items())
