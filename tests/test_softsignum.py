"""SoftSignum / Signum: parity with the numpy reference, the schedule, the official pitfalls, state_dict."""

import io
import warnings

import numpy as np
import pytest
import torch

from geomrelax.errors import GeomrelaxError
from geomrelax.optim.softsignum import ScheduleCollapseWarning, Signum, SoftSignum
from geomrelax.reference.softsignum import signum_step, softsignum_init, softsignum_step
from geomrelax.schedule import tau_at, temperature_schedule

SHAPES = [(6, 4), (9,), (3, 2, 2)]
EPS64 = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)


def grads_at(k, shapes=SHAPES, scale=1.0, seed=0):
    """Seeded gradient k: a fixed direction plus noise, so that momenta are of size ~scale."""
    rng = np.random.default_rng(1000 * seed + k)
    base = np.random.default_rng(seed)
    return [scale * (base.standard_normal(s) + 0.5 * rng.standard_normal(s)) for s in shapes]


def make_params(seed=0, dtype=torch.float64, shapes=SHAPES):
    rng = np.random.default_rng(seed + 77)
    thetas = [rng.standard_normal(s) for s in shapes]
    return thetas, [torch.nn.Parameter(torch.tensor(t, dtype=dtype)) for t in thetas]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=p.dtype)


def step_pair(a, b, pa, pb, k):
    """Step optimizer a (on pa) and b (on pb) with the gradients of step k."""
    g = grads_at(k)
    set_grads(pa, g)
    set_grads(pb, g)
    a.step()
    b.step()


def max_err(params, ref):
    return max(float(np.max(np.abs(p.detach().double().numpy() - r))) for p, r in zip(params, ref))


CONFIGS = [
    dict(lr=1e-2, momentum=0.9, nesterov=True, weight_decay=0.1, tmax=None),
    dict(lr=1e-2, momentum=0.8, dampening=0.1, tmax=20.0),
    dict(lr=1e-2, momentum=0.0, normalized=True, tmax=50.0),
    dict(lr=1e-3, momentum=0.5, sign_norm=True, tmax=None, psi="algebraic"),
    dict(lr=1e-2, momentum=0.9, maximize=True, tmax=None, eps=1e-3, newton_iters=3),
]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_parity_with_numpy_reference(cfg, foreach):
    """torch float64 == numpy reference step by step: sign phase, schedule step, transition, past K."""
    hp = dict(cfg, sign_iters=3, transition_iters=4)
    thetas, params = make_params()
    opt = SoftSignum(params, foreach=foreach, **hp)
    state, ref = softsignum_init(), thetas
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScheduleCollapseWarning)
        warnings.simplefilter("ignore", UserWarning)
        for k in range(1, 13):  # 12 steps > K_s + K = 7: the official code raises IndexError at step 8
            g = grads_at(k, scale=0.1)
            set_grads(params, g)
            opt.step()
            ref, state = softsignum_step(ref, g, state, **hp)
            # the formulas are the same; tanh (libm vs torch), fused multiply-adds of foreach and the
            # order of the group-norm sum differ by an ulp per operation; 32 ulps of |theta| ~ 3 per step
            assert max_err(params, ref) <= 32 * EPS64 * 4 * k, (k, max_err(params, ref))
            assert opt.step_count() == k == state["step"]
    sched = opt.param_groups[0]["schedule"]
    assert len(sched) == 4
    np.testing.assert_allclose(sched, state["schedule"], rtol=1e-12)
    # the momentum buffers agree as well
    if cfg["momentum"]:
        for p, b in zip(params, state["momentum_buffer"]):
            np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), b, rtol=0, atol=64 * EPS64)


def test_schedule_nonincreasing_within_bounds_and_used_after_K():
    hp = dict(lr=1e-2, momentum=0.9, sign_iters=2, transition_iters=50, tmax=None)
    _, params = make_params()
    opt = SoftSignum(params, **hp)
    taus_seen = []
    for k in range(1, 60):
        set_grads(params, grads_at(k))
        tau = opt.current_tau()
        opt.step()
        if k > 2:
            taus_seen.append(tau_at(opt.param_groups[0]["schedule"], k, 2))
        if k > 3:
            assert tau == taus_seen[-1]
    sched = np.array(opt.param_groups[0]["schedule"])
    assert np.all(np.diff(sched) <= 0)
    assert sched.min() >= 1.0 and np.isfinite(sched.max())
    # past K the last temperature is kept (pitfall 1)
    assert taus_seen[-1] == sched[-1] and len(taus_seen) == 57
    assert len(np.unique(sched)) > 10


def test_closed_form_first_steps():
    """Independent of the reference: k = 1 is theta - lr sign(g); k = K_s + 1 uses tau_0 = tmax."""
    thetas, params = make_params()
    lr, tmax = 0.01, 7.0
    opt = SoftSignum(params, lr=lr, momentum=0.0, sign_iters=1, transition_iters=5, tmax=tmax)
    g1 = grads_at(1)
    set_grads(params, g1)
    opt.step()
    for p, t, g in zip(params, thetas, g1):
        assert torch.equal(p.detach(), torch.tensor(t - lr * np.sign(g)))
    g2 = grads_at(2)
    before = [p.detach().clone() for p in params]
    set_grads(params, g2)
    opt.step()
    assert opt.param_groups[0]["schedule"][0] == tmax
    for p, b, g in zip(params, before, g2):
        expect = b - lr * torch.tanh(tmax * torch.tensor(g))
        torch.testing.assert_close(p.detach(), expect, rtol=0, atol=4 * EPS64)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("n_first", [2, 3, 5])
def test_state_dict_bitwise_continuation(n_first, foreach):
    """2N steps == N steps + torch.save/torch.load(weights_only) into a fresh optimizer + N steps."""
    hp = dict(lr=1e-2, momentum=0.9, nesterov=True, sign_iters=3, transition_iters=4, tmax=None, foreach=foreach)
    total = 10
    _, pa = make_params()
    opt_a = SoftSignum(pa, **hp)
    for k in range(1, total + 1):
        set_grads(pa, grads_at(k))
        opt_a.step()
    _, pb = make_params()
    opt_b = SoftSignum(pb, **hp)
    for k in range(1, n_first + 1):
        set_grads(pb, grads_at(k))
        opt_b.step()
    buf = io.BytesIO()
    torch.save({"opt": opt_b.state_dict(), "params": [p.detach() for p in pb]}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    pc = [torch.nn.Parameter(t.clone()) for t in saved["params"]]
    opt_c = SoftSignum(pc, **hp)
    opt_c.load_state_dict(saved["opt"])
    assert opt_c.step_count() == n_first
    for k in range(n_first + 1, total + 1):
        set_grads(pc, grads_at(k))
        opt_c.step()
    for p, q in zip(pa, pc):
        assert torch.equal(p, q)
        assert torch.equal(opt_a.state[p]["momentum_buffer"], opt_c.state[q]["momentum_buffer"])
    assert opt_a.param_groups[0]["schedule"] == opt_c.param_groups[0]["schedule"]
    assert opt_c.step_count() == total
    # pitfall 5: the step count lives in the param group, not beside the per-parameter states
    sd = opt_c.state_dict()
    assert set(sd["state"]) == {0, 1, 2}
    assert sd["param_groups"][0]["step"] == total


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_foreach_equals_eager(dtype):
    eps = EPS32 if dtype == torch.float32 else EPS64
    hp = dict(lr=1e-2, momentum=0.9, nesterov=True, weight_decay=0.05, sign_iters=2, transition_iters=3,
              tmax=None)
    _, pe = make_params(dtype=dtype)
    _, pf = make_params(dtype=dtype)
    oe, of = SoftSignum(pe, foreach=False, **hp), SoftSignum(pf, foreach=True, **hp)
    for k in range(1, 8):
        step_pair(oe, of, pe, pf, k)
        # one fused multiply-add rounding (<= 1 ulp of |theta| <= 4) per step
        assert max_err(pe, [p.detach().double().numpy() for p in pf]) <= 4 * 4 * eps * k
    np.testing.assert_allclose(oe.param_groups[0]["schedule"], of.param_groups[0]["schedule"], rtol=64 * eps)


def test_signum_is_softsignum_without_transition():
    thetas, ps = make_params()
    _, pq = make_params()
    hp = dict(lr=1e-2, momentum=0.9, weight_decay=0.1)
    sig = Signum(ps, **hp)
    soft = SoftSignum(pq, sign_iters=10**9, **hp)
    state, ref = softsignum_init(), thetas
    for k in range(1, 15):
        g = grads_at(k)
        set_grads(ps, g)
        set_grads(pq, g)
        sig.step()
        soft.step()
        ref, state = signum_step(ref, g, state, **hp)
    assert all(torch.equal(a, b) for a, b in zip(ps, pq))
    assert max_err(ps, ref) <= 16 * EPS64 * 15
    assert sig.phase() == "sign" and sig.current_tau() is None


def test_signum_sgd_momentum_equals_ema_sign():
    """sign(b_k) of SGD momentum (b_1 = g_1) equals sign of the EMA m_k = beta m + (1-beta) g (Bernstein)."""
    rng = np.random.default_rng(3)
    p = torch.nn.Parameter(torch.zeros(50, dtype=torch.float64))
    opt = Signum([p], lr=1.0, momentum=0.9)
    m = np.zeros(50)
    prev = np.zeros(50)
    for k in range(20):
        g = rng.standard_normal(50)
        m = 0.9 * m + 0.1 * g
        p.grad = torch.tensor(g)
        opt.step()
        step = p.detach().numpy() - prev
        prev = p.detach().numpy().copy()
        np.testing.assert_array_equal(step, -np.sign(m))


def test_tmax_collapse_warns_and_tmax_none_avoids_it():
    """Pitfall 4: momenta ~1e-3 with tmax = 20 give a two-valued schedule; tmax=None gives a smooth one."""
    _, params = make_params()
    opt = SoftSignum(params, momentum=0.9, sign_iters=1, transition_iters=100, tmax=20.0)
    set_grads(params, grads_at(1, scale=1e-3))
    opt.step()
    set_grads(params, grads_at(2, scale=1e-3))
    with pytest.warns(ScheduleCollapseWarning, match="tmax=None"):
        opt.step()
    assert len(set(opt.param_groups[0]["schedule"])) <= 2
    _, params = make_params()
    opt = SoftSignum(params, momentum=0.9, sign_iters=1, transition_iters=100, tmax=None)
    set_grads(params, grads_at(1, scale=1e-3))
    opt.step()
    set_grads(params, grads_at(2, scale=1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScheduleCollapseWarning)
        opt.step()
    assert len(set(opt.param_groups[0]["schedule"])) > 50


def test_normalized_with_zero_direction_is_a_zero_step():
    _, params = make_params()
    before = [p.detach().clone() for p in params]
    opt = SoftSignum(params, normalized=True, sign_iters=1, transition_iters=2)
    for _ in range(3):
        set_grads(params, [np.zeros(s) for s in SHAPES])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # all-zero data: schedule warns, expected
            opt.step()
    assert all(torch.equal(p, b) for p, b in zip(params, before))


def test_alpha_sign_splits_the_budget():
    _, params = make_params()
    opt = SoftSignum(params, alpha_sign=0.25)
    g = opt.param_groups[0]
    assert (g["sign_iters"], g["transition_iters"]) == (2500, 7500)
    with pytest.raises(GeomrelaxError, match="alpha_sign=1.0"):
        SoftSignum(params, alpha_sign=1.0)


def test_official_defaults():
    _, params = make_params()
    g = SoftSignum(params).param_groups[0]
    assert (g["lr"], g["momentum"], g["dampening"], g["sign_iters"], g["transition_iters"], g["eps"],
            g["newton_iters"], g["tmax"]) == (1e-3, 0.0, 0.0, 9000, 1000, 1e-4, 10, 20.0)


def test_fused_refused_with_normalized():
    _, params = make_params()
    with pytest.raises(GeomrelaxError, match="fused=True does not support"):
        SoftSignum(params, fused=True, normalized=True)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_fast_tanh_float32_accuracy(backend):
    """fast_tanh (the fused kernel's tanh) against tanh computed in float64, over all magnitudes."""
    from geomrelax.updates import fast_tanh

    mags = np.concatenate([np.linspace(0, 12, 400_001), np.geomspace(1e-38, 100, 20_001), [0.55, 1e30]])
    x = np.concatenate([mags, -mags]).astype(np.float32)
    x = np.concatenate([x, np.nextafter(np.float32(0.55), np.float32([0, 1]))])
    y = fast_tanh(x) if backend == "numpy" else fast_tanh(torch.from_numpy(x)).numpy()
    assert y.dtype == np.float32
    exact = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    err = np.abs(y.astype(np.float64) - exact) / ulp
    # measured 2.8 ulps (float32 roundings of the Pade polynomials and of exp); np.tanh: 1.4
    assert err.max() <= 3.0
    assert np.all(np.abs(y) <= 1) and np.all(np.sign(y) == np.sign(x))


@pytest.mark.slow
@pytest.mark.parametrize("nesterov", [False, True])
def test_fused_equals_eager(nesterov):
    """The compiled kernel (torch.compile of the same formulas) follows the eager path within rounding."""
    hp = dict(lr=1e-2, momentum=0.9, nesterov=nesterov, weight_decay=0.05, sign_iters=3, transition_iters=4,
              tmax=None)
    _, pe = make_params(dtype=torch.float32)
    _, pf = make_params(dtype=torch.float32)
    oe, of = SoftSignum(pe, **hp), SoftSignum(pf, fused=True, **hp)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a failed compilation would fall back silently
        for k in range(1, 10):
            step_pair(oe, of, pe, pf, k)
            # a contracted multiply-add differs by <= 1 ulp of |theta| <= 4 per operation, 4 operations;
            # fast_tanh is within 3 ulps of tanh (|tanh| <= 1), times lr = 1e-2
            assert max_err(pe, [p.detach().double().numpy() for p in pf]) <= 16 * 4 * EPS32 * k
    for p, q in zip(pe, pf):
        torch.testing.assert_close(oe.state[p]["momentum_buffer"], of.state[q]["momentum_buffer"],
                                   rtol=8 * EPS32, atol=0)
    from geomrelax.optim import softsignum as mod
    assert mod._FUSED_CACHE and not mod._FUSED_BROKEN  # the compiled kernels ran, no eager fallback


# -- the fit waits for a non-zero direction -----------------------------------------------------------------
def test_zero_direction_at_the_fit_step_is_a_no_op_and_the_fit_waits():
    """tmax=None and u = 0 at the first transition step: no ScheduleError; the step only decays theta
    (psi(tau 0) = 0 for every tau), the fit happens at the first non-zero u, and j stays tied to the step."""
    hp = dict(lr=0.1, momentum=0.0, weight_decay=0.1, sign_iters=1, transition_iters=4, tmax=None)
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    opt = SoftSignum([p], **hp)
    grads = [[1.0, -1.0, 2.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.5, -1.0, 2.0]]
    ref, state = [p.detach().numpy().copy()], softsignum_init()
    for k, g in enumerate(grads, start=1):
        before = p.detach().clone()
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        ref, state = softsignum_step(ref, [np.array(g)], state, **hp)
        assert opt.param_groups[0]["schedule"] == state["schedule"]
        np.testing.assert_array_equal(p.detach().numpy(), ref[0])  # the same formulas, float64
        if k in (2, 3):
            assert opt.param_groups[0]["schedule"] is None
            assert torch.equal(p.detach(), before * (1 - 0.1 * 0.1))
    taus = temperature_schedule(np.array(grads[3]), 4, tmax=None).taus
    assert opt.param_groups[0]["schedule"] == tuple(taus)
    j = 4 - 1 - 1  # step 4 is transition step j = 2 although the fit happened there
    expected = before * (1 - 0.01) - 0.1 * torch.tanh(taus[j] * torch.tensor(grads[3], dtype=torch.float64))
    assert torch.equal(p.detach(), expected)


def test_schedule_median_lower_is_the_official_torch_median():
    """An even number of entries: 'lower' fits torch.median's lower middle value (the official code)."""
    u = np.random.default_rng(4).standard_normal(10) * 1e-2
    fits = {}
    for median in ("mean", "lower"):
        p = torch.nn.Parameter(torch.zeros(10, dtype=torch.float64))
        opt = SoftSignum([p], sign_iters=0, transition_iters=5, tmax=None, schedule_median=median)
        p.grad = torch.tensor(u)
        opt.step()
        fits[median] = opt.param_groups[0]["schedule"]
    t = torch.tensor(u)
    mu = torch.median(t)
    official = temperature_schedule(None, 5, tmax=None, fit=(float(mu), float(torch.median((t - mu).abs())))).taus
    assert fits["lower"] == tuple(official)
    assert fits["mean"] == tuple(temperature_schedule(u, 5, tmax=None).taus) != fits["lower"]
