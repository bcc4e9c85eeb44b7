"""The zoo of variants (NorMuon, MiMuon, schedule-free, SSVR, majority vote): torch against the numpy
references step by step in float64, and the behaviour each API promises.

Tolerances: the sign methods use the same element-wise operations in both backends, so they are compared
bitwise; the Muon variants go through float64 matrix products whose summation order differs between
numpy's BLAS and torch (measured differences ~1e-15 relative per step), hence rtol 1e-10 over 8 steps.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import geomrelax as gr  # noqa: E402
from geomrelax import reference as R  # noqa: E402
from geomrelax.optim import SSVR, MajorityVote, MiMuon, Muon, NorMuon, ScheduleFree  # noqa: E402

SHAPES = [(6, 4), (3, 5), (4, 2, 3)]
RTOL = 1e-10


def _params(shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    return arrays, [torch.nn.Parameter(torch.tensor(a)) for a in arrays]


def _grads(shapes, seed, steps):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


def _step_torch(opt, params, grads):
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)
    opt.step()


@pytest.mark.parametrize("opts", [{}, {"weight_decay": 0.1, "maximize": True, "nesterov": False, "beta2": 0.5}])
def test_normuon_matches_reference(opts):
    arrays, params = _params(SHAPES, 0)
    opt = NorMuon(params, lr=0.05, ns_dtype=torch.float64, **opts)
    state = R.muon_variant_init()
    for gs in _grads(SHAPES, 1, 8):
        _step_torch(opt, params, gs)
        arrays, state = R.normuon_step(arrays, gs, state, lr=0.05, **opts)
        for a, p in zip(arrays, params):
            np.testing.assert_allclose(p.detach().numpy(), a, rtol=RTOL, atol=1e-13)
    for p, r in zip(params, state["row_moment"]):
        np.testing.assert_allclose(opt.state[p]["row_moment"].numpy(), r, rtol=RTOL)


def test_normuon_update_has_the_requested_rms_and_unit_rows():
    # the step is lr * rms * sqrt(rows cols) N / ||N||_F: its RMS is exactly lr * rms
    p = torch.nn.Parameter(torch.zeros(8, 5, dtype=torch.float64))
    opt = NorMuon([p], lr=0.1, rms=0.3, ns_dtype=torch.float64)
    p.grad = torch.randn(8, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    opt.step()
    rms = float(p.detach().pow(2).mean().sqrt())
    assert abs(rms - 0.03) < 1e-12          # float64 rounding of a few sums
    rows = p.detach().pow(2).mean(1).sqrt()
    # first step: r = (1 - beta2) mean O^2, so every row of N has the same RMS 1/sqrt(1 - beta2) (eps aside)
    assert float(rows.max() / rows.min()) < 1 + 1e-6


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_mimuon_matches_reference(alpha):
    arrays, params = _params(SHAPES, 2)
    opt = MiMuon(params, lr=0.05, alpha=alpha, weight_decay=0.01, ns_dtype=torch.float64)
    state = R.muon_variant_init()
    for gs in _grads(SHAPES, 3, 8):
        _step_torch(opt, params, gs)
        arrays, state = R.mimuon_step(arrays, gs, state, lr=0.05, alpha=alpha, weight_decay=0.01)
        for a, p in zip(arrays, params):
            np.testing.assert_allclose(p.detach().numpy(), a, rtol=RTOL, atol=1e-13)


def test_mimuon_alpha_one_is_muon_bitwise():
    _, pa = _params(SHAPES, 4)
    _, pb = _params(SHAPES, 4)
    a, b = MiMuon(pa, alpha=1.0), Muon(pb)
    for gs in _grads(SHAPES, 5, 5):
        _step_torch(a, pa, gs)
        _step_torch(b, pb, gs)
    for x, y in zip(pa, pb):
        assert torch.equal(x, y)


SF_CASES = [dict(lmo="sign"), dict(lmo="softsign", tau=3.0, psi="algebraic"), dict(lmo="muon"),
            dict(lmo="relaxed", regularizer="entropic", tau=5.0), dict(lmo="sign", weight_power=2.0, weight_decay=0.1)]


@pytest.mark.parametrize("opts", SF_CASES, ids=[str(c) for c in SF_CASES])
def test_schedule_free_matches_reference(opts):
    shapes = SHAPES[:2]
    arrays, params = _params(shapes, 6)
    opt = ScheduleFree(params, lr=0.05, beta=0.8, **opts)
    state = R.schedule_free_init(arrays)
    for gs in _grads(shapes, 7, 8):
        _step_torch(opt, params, gs)
        state = R.schedule_free_step(state, gs, lr=0.05, beta=0.8, **opts)
        for y, p in zip(state["y"], params):
            np.testing.assert_allclose(p.detach().numpy(), y, rtol=RTOL, atol=1e-13)


@pytest.mark.parametrize("power", [0.0, 1.0, 2.0])
def test_schedule_free_x_is_the_weighted_average_of_the_z(power):
    arrays, params = _params([(5,)], 8)
    opt = ScheduleFree(params, lr=0.1, weight_power=power)
    zs, ws = [arrays[0]], [1.0]
    for t, gs in enumerate(_grads([(5,)], 9, 12), start=2):
        _step_torch(opt, params, gs)
        zs.append(opt.state[params[0]]["z"].numpy().copy())
        ws.append(float(t) ** power)
        avg = sum(w * z for w, z in zip(ws, zs)) / sum(ws)
        # x is a running recursion of the average: rounding of t convex combinations, each ~1e-16
        np.testing.assert_allclose(opt.state[params[0]]["x"].numpy(), avg, rtol=1e-13, atol=1e-14)


def test_schedule_free_eval_train_swap_and_refusal():
    arrays, params = _params([(4,)], 10)
    opt = ScheduleFree(params, lr=0.1, beta=0.5)
    for gs in _grads([(4,)], 11, 3):
        _step_torch(opt, params, gs)
    y = params[0].detach().clone()
    opt.eval()
    assert torch.equal(params[0].detach(), opt.state[params[0]]["x"])
    params[0].grad = torch.ones(4, dtype=torch.float64)
    with pytest.raises(gr.GeomrelaxError, match="train"):
        opt.step()
    assert opt.step_count() == 3
    opt.train()
    assert torch.allclose(params[0].detach(), y, rtol=0, atol=1e-15)   # y recomputed from z, x


def _quadratic_sample(seed, d=6):
    """f(x; xi) = 0.5 ||A_xi x - b_xi||^2 for the sample of a step (A, b drawn from the seed)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((4, d)), rng.standard_normal(4)


@pytest.mark.parametrize("a", [0.3, 1.0])
def test_ssvr_matches_reference_with_the_same_sample_at_two_points(a):
    d = 6
    x_np = np.random.default_rng(12).standard_normal(d)
    p = torch.nn.Parameter(torch.tensor(x_np))
    opt = SSVR([p], lr=0.05, a=a, weight_decay=0.01)
    state, prev_x = R.ssvr_init(), None
    calls = []
    for t in range(10):
        A, b = _quadratic_sample(100 + t, d)
        At, bt = torch.tensor(A), torch.tensor(b)

        def closure():
            opt.zero_grad()
            loss = 0.5 * ((At @ p - bt) ** 2).sum()
            loss.backward()
            calls.append(p.detach().clone())
            return loss
        calls.clear()
        opt.step(closure)
        grad = A.T @ (A @ x_np - b)
        prev = None if prev_x is None else A.T @ (A @ prev_x - b)
        # the closure ran at x_(t-1) then at x_t (from step 2 on)
        if prev_x is not None:
            assert np.array_equal(calls[0].numpy(), prev_x) and np.array_equal(calls[1].numpy(), x_np)
        prev_x = x_np
        (x_np,), state = R.ssvr_step([x_np], [grad], [prev] if prev is not None else None, state, lr=0.05, a=a,
                                     weight_decay=0.01)
        # same element-wise operations on the same floats, but A.T @ (...) sums in another order: 1e-13
        np.testing.assert_allclose(p.detach().numpy(), x_np, rtol=0, atol=1e-12)


def test_ssvr_without_closure_is_refused_after_the_first_step_and_nothing_changes():
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = SSVR([p], lr=0.1, a=0.5)
    p.grad = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    opt.step()
    before = (p.detach().clone(), {k: v.clone() for k, v in opt.state[p].items()})
    with pytest.raises(gr.GeomrelaxError, match="closure"):
        opt.step()
    assert torch.equal(p.detach(), before[0]) and opt.step_count() == 1
    assert all(torch.equal(opt.state[p][k], v) for k, v in before[1].items())


def test_ssvr_closure_failure_restores_the_parameters():
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = SSVR([p], lr=0.1, a=0.5)
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    x = p.detach().clone()

    def bad():
        raise RuntimeError("data loader failed")
    with pytest.raises(RuntimeError):
        opt.step(bad)
    assert torch.equal(p.detach(), x)


@pytest.mark.parametrize("byz", [0, 1, 2])
def test_majority_vote_matches_reference(byz):
    shapes = SHAPES[:2]
    arrays, params = _params(shapes, 13)
    opt = MajorityVote(params, lr=0.05, byzantine=byz, weight_decay=0.1)
    rng = np.random.default_rng(14)
    for _ in range(6):
        workers = [[rng.standard_normal(s) for s in shapes] for _ in range(5)]
        opt.step(worker_grads=[[torch.tensor(g) for g in w] for w in workers])
        arrays = R.majority_step(arrays, workers, lr=0.05, byzantine=byz, weight_decay=0.1)
        for a, p in zip(arrays, params):
            assert np.array_equal(p.detach().numpy(), a)   # element-wise only: bitwise


def test_majority_vote_closures_equal_grads_and_one_worker_is_signsgd():
    arrays, pa = _params([(4, 3)], 15)
    _, pb = _params([(4, 3)], 15)
    _, pc = _params([(4, 3)], 15)
    a, b = MajorityVote(pa, lr=0.1), MajorityVote(pb, lr=0.1)
    targets = [torch.randn(4, 3, generator=torch.Generator().manual_seed(m), dtype=torch.float64) for m in range(3)]

    def closure_for(p, t):
        def c():
            p.grad = None
            ((p - t) ** 2).sum().backward()
        return c
    a.step(worker_closures=[closure_for(pa[0], t) for t in targets])
    b.step(worker_grads=[[2 * (pb[0].detach() - t)] for t in targets])
    assert torch.equal(pa[0], pb[0])
    c = MajorityVote(pc, lr=0.1)
    pc[0].grad = torch.tensor(np.random.default_rng(0).standard_normal((4, 3)))
    expect = pc[0].detach() - 0.1 * pc[0].grad.sign()
    c.step()
    assert torch.equal(pc[0].detach(), expect)


def test_majority_vote_refusals_name_the_worker():
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = MajorityVote([p], byzantine=3)
    with pytest.raises(gr.GeomrelaxError, match="byzantine = 3"):
        opt.step(worker_grads=[[torch.ones(3, dtype=torch.float64)]] * 2)
    opt = MajorityVote([p])
    bad = torch.tensor([0.0, float("nan"), 1.0], dtype=torch.float64)
    with pytest.raises(gr.NonFiniteError, match="worker 1"):
        opt.step(worker_grads=[[torch.ones(3, dtype=torch.float64)], [bad]])
    with pytest.raises(gr.GeomrelaxError, match="worker 0 gives 2 gradients"):
        opt.step(worker_grads=[[torch.ones(3, dtype=torch.float64)] * 2])
    assert torch.equal(p.detach(), torch.zeros(3, dtype=torch.float64)) and opt.step_count() == 0


def test_normuon_refuses_a_row_moment_of_the_wrong_shape():
    p = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
    opt = NorMuon([p])
    p.grad = torch.randn(4, 3, dtype=torch.float64)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["row_moment"] = torch.zeros(3, 1, dtype=torch.float64)
    with pytest.raises(gr.GeomrelaxError, match="row_moment"):
        opt.load_state_dict(sd)


class _RecordingComm:
    """Stands in for the GroupComm of sharded parameters: maps each tensor whole and records it."""

    def __init__(self):
        self.mapped = []

    def map_whole(self, keys, tensors, fn):
        self.mapped.extend(tuple(t.shape) for t in tensors)
        return [fn(t) for t in tensors]


def _ctx(params, comm):
    from geomrelax.optim.base import GroupStep

    return GroupStep(gi=0, group={}, params=params, grads=[p.grad for p in params], index=list(range(len(params))),
                     gmax=0.0, keys=params, comm=comm)


def test_whole_tensor_maps_on_shards_go_through_the_group_comm():
    from geomrelax.errors import GeomrelaxError
    from geomrelax.optim import NorMuon, ScheduleFree

    W = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
    W.grad = torch.randn(4, 3, dtype=torch.float64)
    # ScheduleFree with Muon's map: the matrix is orthogonalised whole, not shard by shard
    for lmo, whole in (("muon", True), ("sign", False)):
        opt = ScheduleFree([W], lr=0.1, lmo=lmo)
        comm = _RecordingComm()
        opt._plan(opt.param_groups[0], [W], [W.grad], [{}], 1, _ctx([W], comm))
        assert comm.mapped == ([(4, 3)] if whole else [])
    # NorMuon's normalisation spans the whole matrix: refused on shards until it is gathered too
    opt = NorMuon([W], lr=0.1)
    with pytest.raises(GeomrelaxError, match="sharded"):
        opt._plan(opt.param_groups[0], [W], [W.grad], [{}], 1, _ctx([W], _RecordingComm()))


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0, 2.0])
def test_sf_coefficient_equals_the_direct_sum_bitwise(power):
    from geomrelax.updates import sf_coefficient

    for t in [200, 0, 7, 199, 1000]:  # out of order: the cached partial sums must serve any t
        direct = float(t + 1) ** power / sum(float(i) ** power for i in range(1, t + 2))
        assert sf_coefficient(t, power) == direct
