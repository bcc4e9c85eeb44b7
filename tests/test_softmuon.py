"""SoftMuon / Muon: parity with the numpy reference and torch.optim.Muon, the pitfalls, state_dict."""

import copy
import io
import math

import numpy as np
import pytest
import torch

from geomrelax.errors import GeomrelaxError, NonFiniteError
from geomrelax.optim import spectral_maps as sm
from geomrelax.optim.softmuon import Muon, SoftMuon
from geomrelax import updates as U
from geomrelax.reference import softmuon as ref
from geomrelax.schedule import tau_at, temperature_schedule

SHAPES = [(6, 4), (9, 5), (4, 7), (3, 2, 2, 2)]


def make_problem(seed=0, shapes=SHAPES, dtype=torch.float64):
    """Parameters, fixed targets and a gradient g_k(theta) = theta - target + 0.3 noise_k (noise seeded by k)."""
    rng = np.random.default_rng(seed)
    thetas = [rng.standard_normal(s) for s in shapes]
    targets = [rng.standard_normal(s) for s in shapes]

    def grad_fn(k, ths):
        noise = np.random.default_rng(1000 * seed + k)
        return [np.asarray(t, dtype=np.float64) - tg + 0.3 * noise.standard_normal(tg.shape) for t, tg in zip(ths, targets)]

    params = [torch.nn.Parameter(torch.tensor(t, dtype=dtype)) for t in thetas]
    return params, thetas, grad_fn


def set_grads(params, grad_fn, k):
    grads = grad_fn(k, [p.detach().double().numpy() for p in params])
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=p.dtype)


def step_pair(a, b, pa, pb, grad_fn, k):
    """Step optimizer a (on pa) and b (on pb) with the same gradients, those of step k."""
    set_grads(pa, grad_fn, k)
    for p, q in zip(pa, pb):
        q.grad = p.grad.clone()
    a.step()
    b.step()


def run_reference(thetas, grad_fn, steps, **options):
    """The numpy reference stepped ``steps`` times: (parameters after each step, tau of each step)."""
    state, history, taus = ref.softmuon_init(), [], []
    for k in range(1, steps + 1):
        thetas, state = ref.softmuon_step(thetas, grad_fn(k, thetas), state, **options)
        history.append(thetas)
        taus.append(tau_at(state["schedule"], k, options.get("sign_iters")))
    return history, taus


# -- the numpy reference ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7, 11), (11, 7)])
def test_one_ns5_for_numpy_and_torch(shape):
    G = np.random.default_rng(1).standard_normal(shape)
    ours = sm.newton_schulz5(torch.tensor(G), dtype=torch.float64).numpy()
    # the same function on both backends; addmm fuses where numpy rounds twice: float64 rounding only
    np.testing.assert_allclose(U.newton_schulz5(G), ours, atol=1e-13)


@pytest.mark.parametrize("options", [
    dict(),
    dict(nesterov=False, weight_decay=0.1, momentum=0.9),
    dict(maximize=True, lr=0.01),
])
def test_softmuon_float64_exact_equals_reference_through_the_transition(options):
    sign_iters, transition_iters, steps = 3, 4, 10  # steps 8..10 are past the schedule (last tau kept)
    params, thetas, grad_fn = make_problem(seed=2)
    opt = SoftMuon(params, sign_iters=sign_iters, transition_iters=transition_iters, spectral_map="exact",
                   map_dtype=torch.float64, ns_dtype=torch.float64, **options)
    history, taus = run_reference(thetas, grad_fn, steps, sign_iters=sign_iters,
                                  transition_iters=transition_iters, **options)
    assert taus[:3] == [None] * 3 and taus[-3:] == [taus[6]] * 3
    for k in range(1, steps + 1):
        set_grads(params, grad_fn, k)
        opt.step()
        if k > sign_iters:
            np.testing.assert_allclose(opt.param_groups[0]["schedule"], [taus[sign_iters + j] for j in range(transition_iters)],
                                       rtol=1e-12)  # two float64 SVDs of the same gradients
        for p, t in zip(params, history[k - 1]):
            # float64 rounding, compounded over 10 steps of unit-size updates
            np.testing.assert_allclose(p.detach().numpy(), t, rtol=0, atol=1e-12)


def test_schedule_is_fitted_to_raw_gradient_singular_values_with_algebraic_psi():
    params, _, grad_fn = make_problem(seed=3)
    opt = SoftMuon(params, sign_iters=2, transition_iters=5, tmax=1e9)
    for k in (1, 2, 3):
        set_grads(params, grad_fn, k)
        if k == 3:
            z = np.concatenate([np.linalg.svd(p.grad.reshape(p.shape[0], -1).numpy(), compute_uv=False) for p in params])
        assert opt.current_tau() is None
        opt.step()
    expected = temperature_schedule(z, 5, eps=1e-4, newton_iters=10, tmax=1e9, psi="algebraic").taus
    np.testing.assert_allclose(opt.param_groups[0]["schedule"], expected, rtol=1e-12)
    assert opt.param_groups[0]["schedule"][0] == 1e9  # q_0 = 0: the first transition step is at tmax
    assert opt.current_tau() == pytest.approx(expected[1], rel=1e-12)


# -- torch.optim.Muon ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_phase_is_bitwise_torch_optim_muon(nesterov):
    shapes = [(16, 16), (24, 8), (8, 24)]
    ours, _, grad_fn = make_problem(seed=4, shapes=shapes, dtype=torch.float32)
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    common = dict(lr=0.02, weight_decay=0.1, momentum=0.9, nesterov=nesterov, ns_coefficients=sm.NS5_COEFFICIENTS,
                  ns_steps=5)
    a = SoftMuon(ours, ns_eps=1e-7, ns_dtype=torch.bfloat16, **common)
    b = torch.optim.Muon(theirs, eps=1e-7, adjust_lr_fn="original", **common)
    for k in range(1, 6):
        step_pair(a, b, ours, theirs, grad_fn, k)
        for p, q in zip(ours, theirs):
            assert torch.equal(p, q), (k, p.shape)


def test_muon_is_softmuon_without_transition():
    p1, _, grad_fn = make_problem(seed=5, dtype=torch.float32)
    p2 = [torch.nn.Parameter(p.detach().clone()) for p in p1]
    a, b = Muon(p1, lr=0.03, weight_decay=0.01), SoftMuon(p2, lr=0.03, weight_decay=0.01)
    for k in range(1, 4):
        step_pair(a, b, p1, p2, grad_fn, k)
    assert all(torch.equal(p, q) for p, q in zip(p1, p2))


# -- the pitfalls -------------------------------------------------------------------------------------------
def test_grad_is_never_written_and_no_process_group_is_needed():
    assert not torch.distributed.is_available() or not torch.distributed.is_initialized()
    params, _, grad_fn = make_problem(seed=6, dtype=torch.float32)
    opt = SoftMuon(params, sign_iters=1, transition_iters=2)
    for k in range(1, 5):  # Muon phase, schedule fit, transition, past the schedule
        set_grads(params, grad_fn, k)
        before = [p.grad.clone() for p in params]
        opt.step()
        assert all(torch.equal(p.grad, g) for p, g in zip(params, before))


def test_parameters_without_gradient_are_skipped():
    params, _, grad_fn = make_problem(seed=7, dtype=torch.float32)
    opt = SoftMuon(params)
    set_grads(params, grad_fn, 1)
    params[1].grad = None
    frozen = params[1].detach().clone()
    opt.step()
    assert torch.equal(params[1], frozen) and params[1] not in opt.state


@pytest.mark.parametrize("at_step", [1, 3])  # Muon phase; the step where the schedule would be fitted
def test_nonfinite_gradient_raises_naming_the_parameter_and_changes_nothing(at_step):
    model = torch.nn.Sequential(torch.nn.Linear(5, 6, bias=False), torch.nn.Linear(6, 3, bias=False))
    opt = SoftMuon(model.named_parameters(), sign_iters=2, transition_iters=3)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(8))
    for _ in range(at_step - 1):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    opt.zero_grad()
    model(x).square().sum().backward()
    model[1].weight.grad[0, 1] = float("nan")
    params_before = [p.detach().clone() for p in model.parameters()]
    state_before = copy.deepcopy(opt.state_dict())
    with pytest.raises(NonFiniteError, match=r"'1\.weight'.*1 of 18 gradient entries"):
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params_before))
    state_after = opt.state_dict()
    assert state_after["param_groups"] == state_before["param_groups"]  # step count and schedule too
    for i, st in state_before["state"].items():
        assert torch.equal(state_after["state"][i]["momentum_buffer"], st["momentum_buffer"])
    assert "step" not in state_after["state"]  # pitfall 5: no 'step' key among the parameter states


def test_nonfinite_skip_mode_warns_and_changes_nothing():
    from geomrelax.optim.base import NonFiniteStepWarning

    params, _, grad_fn = make_problem(seed=12, dtype=torch.float32)
    opt = SoftMuon(params, nonfinite="skip")
    set_grads(params, grad_fn, 1)
    params[0].grad[0, 0] = float("inf")
    before = [p.detach().clone() for p in params]
    with pytest.warns(NonFiniteStepWarning, match="parameter 0"):
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(params, before)) and opt.param_groups[0]["step"] == 0
    assert not opt.state


def test_a_failing_schedule_fit_changes_nothing(monkeypatch):
    import geomrelax.schedule

    params, _, grad_fn = make_problem(seed=13, dtype=torch.float32)
    opt = SoftMuon(params, sign_iters=1, transition_iters=3)
    set_grads(params, grad_fn, 1)
    opt.step()
    set_grads(params, grad_fn, 2)
    before = [p.detach().clone() for p in params]
    buffers = [opt.state[p]["momentum_buffer"].clone() for p in params]

    def broken(*args, **kwargs):
        raise RuntimeError("fit failed")

    monkeypatch.setattr(geomrelax.schedule, "temperature_schedule", broken)
    with pytest.raises(RuntimeError, match="fit failed"):
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(params, before))
    assert all(torch.equal(opt.state[p]["momentum_buffer"], b) for p, b in zip(params, buffers))
    assert opt.param_groups[0]["step"] == 1 and opt.param_groups[0]["schedule"] is None
    monkeypatch.undo()
    opt.step()  # and the same step then goes through
    assert opt.param_groups[0]["step"] == 2 and len(opt.param_groups[0]["schedule"]) == 3


# -- state_dict -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("save_at", [2, 4])  # before the transition (the fit happens after loading); inside it
def test_state_dict_round_trip_continues_bitwise(save_at):
    params, _, grad_fn = make_problem(seed=9, dtype=torch.float32)
    opt = SoftMuon(params, sign_iters=3, transition_iters=3, weight_decay=0.01)
    for k in range(1, save_at + 1):
        set_grads(params, grad_fn, k)
        opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    clones = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt2 = SoftMuon(clones, sign_iters=3, transition_iters=3, weight_decay=0.01)
    buffer.seek(0)
    opt2.load_state_dict(torch.load(buffer, weights_only=True))
    for k in range(save_at + 1, 9):
        step_pair(opt, opt2, params, clones, grad_fn, k)
        assert all(torch.equal(p, q) for p, q in zip(params, clones)), k
    assert opt2.param_groups[0]["step"] == 8 and opt2.param_groups[0]["schedule"] == opt.param_groups[0]["schedule"]


# -- the transition map options ----------------------------------------------------------------------------
def test_transition_direction_per_spectral_map():
    # one transition step from zero momentum (tau_0 = tmax): theta_1 = theta_0 - lr scale S_tau(u) with
    # u = g.lerp(0.lerp(g, 1 - beta), beta), computed here by the same float32 operations
    G = torch.tensor(np.random.default_rng(10).standard_normal((12, 8)), dtype=torch.float32)
    beta, lr, tmax = 0.95, 0.1, 50.0
    u = G.lerp(torch.zeros(12, 8).lerp_(G, 1 - beta), beta)
    for name, expected in [("exact", sm.smoothed_polar_exact(u, tmax)),
                           ("minimax", sm.smoothed_polar_minimax(u, tmax)),
                           ("official", sm.smoothed_polar_official(u, tmax, steps=5))]:
        p = torch.nn.Parameter(torch.zeros(12, 8))
        opt = SoftMuon([p], lr=lr, momentum=beta, sign_iters=0, transition_iters=4, tmax=tmax, spectral_map=name)
        p.grad = G.clone()
        opt.step()
        assert opt.param_groups[0]["schedule"][0] == tmax
        assert torch.equal(p.detach(), torch.zeros(12, 8).add_(expected, alpha=-lr * math.sqrt(12 / 8))), name
    # and the options matter: here (measured) the official map is 4.4e-2 off in Frobenius norm, minimax 2e-4
    off = sm.map_errors(sm.smoothed_polar_official(u, tmax), u, tmax)[0]
    assert off > 10 * sm.map_errors(sm.smoothed_polar_minimax(u, tmax), u, tmax)[0]


def test_minimax_transition_in_bfloat16():
    # map_dtype=bfloat16 (refused before the Z-form iteration): the step uses the bfloat16 minimax map, and
    # the direction is within HALF_ERROR_BOUND of the exact one relative to its largest singular value
    G = torch.tensor(np.random.default_rng(12).standard_normal((24, 16)), dtype=torch.float32)
    beta, lr, tmax = 0.95, 0.1, 50.0
    u = G.lerp(torch.zeros(24, 16).lerp_(G, 1 - beta), beta)
    expected = sm.smoothed_polar_minimax(u, tmax, dtype=torch.bfloat16)
    p = torch.nn.Parameter(torch.zeros(24, 16))
    opt = SoftMuon([p], lr=lr, momentum=beta, sign_iters=0, transition_iters=4, tmax=tmax,
                   map_dtype=torch.bfloat16)
    p.grad = G.clone()
    opt.step()
    assert torch.equal(p.detach(), torch.zeros(24, 16).add_(expected.float(), alpha=-lr * math.sqrt(24 / 16)))
    _, err = sm.map_errors(expected, u, tmax, floor=sm.HALF_FLOOR, relative="top")
    assert err <= sm.HALF_ERROR_BOUND


def test_minimax_transition_tracks_the_exact_one():
    # the same run with the minimax and the exact map: the maps differ by <= ~1e-3 relative, and so do
    # the parameter displacements over 8 steps (the gradients depend on theta only through a contraction)
    pa, _, grad_fn = make_problem(seed=11, dtype=torch.float32)
    pb = [torch.nn.Parameter(p.detach().clone()) for p in pa]
    start = [p.detach().clone() for p in pa]
    a = SoftMuon(pa, sign_iters=2, transition_iters=4, spectral_map="minimax")
    b = SoftMuon(pb, sign_iters=2, transition_iters=4, spectral_map="exact")
    for k in range(1, 9):
        set_grads(pa, grad_fn, k)
        set_grads(pb, grad_fn, k)
        a.step()
        b.step()
    for p, q, s in zip(pa, pb, start):
        assert torch.linalg.vector_norm(p - q) <= 5e-3 * torch.linalg.vector_norm(q - s)


# -- bad input ---------------------------------------------------------------------------------------------
def test_bad_options_are_refused_by_name():
    W = torch.nn.Parameter(torch.zeros(3, 3))
    with pytest.raises(GeomrelaxError, match=r"shape \(3,\)"):
        SoftMuon([W, torch.nn.Parameter(torch.zeros(3))])
    with pytest.raises(GeomrelaxError, match="sign_iters=5, transition_iters=None"):
        SoftMuon([W], sign_iters=5)
    with pytest.raises(GeomrelaxError, match="'svd'"):
        SoftMuon([W], spectral_map="svd")
    with pytest.raises(GeomrelaxError, match=r"lr must lie in \[0, inf\), got -0.1"):
        SoftMuon([W], lr=-0.1)
    with pytest.raises(GeomrelaxError, match=r"momentum must lie in \[0, 1\), got 1.0"):
        SoftMuon([W], momentum=1.0)
    with pytest.raises(GeomrelaxError, match="transition_iters must be an integer >= 1"):
        SoftMuon([W], sign_iters=1, transition_iters=0)
    with pytest.raises(GeomrelaxError, match="ns_dtype"):
        SoftMuon([W], ns_dtype=torch.int8)
    with pytest.raises(GeomrelaxError, match=r"tmax must lie in \[1, inf\), got 0.5"):
        SoftMuon([W], tmax=0.5)


# -- everything that can fail runs before the first write ------------------------------------------------------
def test_a_non_finite_map_output_in_one_group_changes_no_group(monkeypatch):
    import geomrelax.optim.softmuon as softmuon_module

    params, _, grad_fn = make_problem(seed=14, dtype=torch.float32)
    opt = SoftMuon([{"params": params[:2]}, {"params": params[2:], "sign_iters": 0}], sign_iters=1,
                   transition_iters=3)
    set_grads(params, grad_fn, 1)
    opt.step()
    set_grads(params, grad_fn, 2)
    before = [p.detach().clone() for p in params]
    buffers = [opt.state[p]["momentum_buffer"].clone() for p in params]
    groups = copy.deepcopy([{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups])

    def broken(u, tau, *args, **kwargs):  # a map that returns NaN (as the official map can in bfloat16)
        return torch.full_like(u, float("nan"))

    monkeypatch.setattr(softmuon_module, "smoothed_polar", broken)
    with pytest.raises(NonFiniteError, match=r"param group 0, parameter 0.*Nothing was changed"):
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(params, before))
    assert all(torch.equal(opt.state[p]["momentum_buffer"], b) for p, b in zip(params, buffers))
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == groups


def test_zero_gradients_at_the_fit_step_keep_the_muon_map_and_the_fit_waits():
    """tmax=None and all gradients 0 at the first transition step: no ScheduleError; that step keeps
    the Muon map (on the decaying momentum), the fit comes at the next step with non-zero gradients."""
    params, thetas, grad_fn = make_problem(seed=15)
    hp = dict(sign_iters=1, transition_iters=3, tmax=None, momentum=0.9)
    opt = SoftMuon(params, spectral_map="exact", map_dtype=torch.float64, ns_dtype=torch.float64, **hp)
    state, expected = ref.softmuon_init(), thetas
    for k in range(1, 5):
        grads = grad_fn(k, expected) if k in (1, 4) else [np.zeros(t.shape) for t in thetas]
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        opt.step()
        expected, state = ref.softmuon_step(expected, grads, state, **hp)
        assert (state["schedule"] is None) == (opt.param_groups[0]["schedule"] is None) == (k < 4)
        for p, t in zip(params, expected):
            np.testing.assert_allclose(p.detach().numpy(), t, rtol=0, atol=1e-12)  # float64 rounding
    z = np.concatenate([np.linalg.svd(U.as_matrix(g), compute_uv=False) for g in grads])
    assert state["schedule"] == tuple(temperature_schedule(z, 3, tmax=None, psi="algebraic").taus)
    # torch's and numpy's SVDs of the same gradients: float64 rounding
    np.testing.assert_allclose(opt.param_groups[0]["schedule"], state["schedule"], rtol=1e-12)
    assert opt.current_tau() == opt.param_groups[0]["schedule"][2]  # step 5 is j = 3: the last tau is kept


@pytest.mark.parametrize("spectral_map,median", [("minimax", "mean"), ("official", "lower")])
def test_the_official_map_fits_with_the_lower_median(spectral_map, median):
    """An even count of singular values (4 + 4): the official setting uses torch.median's lower middle."""
    params, _, grad_fn = make_problem(seed=16, shapes=[(6, 4), (4, 7)], dtype=torch.float32)
    opt = SoftMuon(params, sign_iters=0, transition_iters=4, tmax=None, spectral_map=spectral_map)
    set_grads(params, grad_fn, 1)
    opt.step()
    z = torch.cat([torch.linalg.svdvals(p.grad.double()) for p in params])
    mu = torch.median(z)
    official_fit = (float(mu), float(torch.median((z - mu).abs())))  # the official code's formula
    official = temperature_schedule(None, 4, tmax=None, psi="algebraic", fit=official_fit).taus
    default = temperature_schedule(z.numpy(), 4, tmax=None, psi="algebraic").taus
    assert not np.array_equal(official, default)
    assert opt.param_groups[0]["schedule"] == tuple(official if median == "lower" else default)
