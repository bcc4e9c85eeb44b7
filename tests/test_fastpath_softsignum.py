"""The chunked CPU step of SoftSignum / Signum (``foreach=False``: in place, cache-sized chunks) is bitwise the
eager formulas; the compiled default path is tested in test_compiled_softsignum.py."""

import numpy as np
import pytest
import torch

from geomrelax.optim import kernels
from geomrelax.optim.softsignum import Signum, SoftSignum
from geomrelax.reference.softsignum import softsignum_init, softsignum_step

SHAPES = [(70, 33), (1000,), (5, 4, 3), (1,)]


class EagerSoftSignum(SoftSignum):
    """The eager reference path only (updates.py formulas, out of place)."""

    @staticmethod
    def _chunked_applies(group, params, grads):
        return False


class EagerSignum(Signum):
    @staticmethod
    def _chunked_applies(group, params, grads):
        return False


def grads_at(k, dtype, seed=0):
    gen = torch.Generator().manual_seed(1000 * seed + k)
    return [(torch.randn(s, generator=gen, dtype=torch.float64) * 0.3).to(dtype) for s in SHAPES]


def make_params(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed + 77)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64).to(dtype)) for s in SHAPES]


CONFIGS = [
    dict(lr=1e-2, momentum=0.9, nesterov=True, weight_decay=0.1, tmax=None),
    dict(lr=1e-2, momentum=0.8, dampening=0.1, tmax=20.0),
    dict(lr=1e-2, momentum=0.0, tmax=50.0),
    dict(lr=1e-3, momentum=0.5, tmax=None, psi="algebraic"),
    dict(lr=1e-2, momentum=0.9, maximize=True, tmax=None, eps=1e-3, newton_iters=3),
]


def run_pair(cls_fast, cls_ref, hp, dtype, steps, chunk=None, monkeypatch=None):
    pf, pr = make_params(dtype), make_params(dtype)
    of, orf = cls_fast(pf, **hp), cls_ref(pr, **hp)
    for k in range(1, steps + 1):
        for a, b, g in zip(pf, pr, grads_at(k, dtype)):
            a.grad, b.grad = g.clone(), g.clone()
        of.step()
        orf.step()
        for a, b in zip(pf, pr):
            assert torch.equal(a, b), (k, (a - b).abs().max())
        for a, b in zip(pf, pr):
            sa, sb = of.state[a], orf.state[b]
            assert sa.keys() == sb.keys()
            for key in sa:
                assert torch.equal(sa[key], sb[key]), (k, key)
    return of, orf


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_default_path_bitwise_eager(cfg, dtype, monkeypatch):
    # a small chunk so that every tensor but the last spans several chunks, with a ragged tail
    monkeypatch.setattr(kernels, "_CHUNK", 97)
    hp = dict(CONFIGS[cfg], sign_iters=3, transition_iters=4, foreach=False)
    calls = []
    orig = kernels.softsignum_chunked
    monkeypatch.setattr("geomrelax.optim.softsignum.softsignum_chunked",
                        lambda *a, **kw: (calls.append(kw["tau"]), orig(*a, **kw)))
    of, orf = run_pair(SoftSignum, EagerSoftSignum, hp, dtype, steps=9)
    assert of.param_groups[0]["schedule"] == orf.param_groups[0]["schedule"]
    # steps 1-3 sign, step 4 fits the schedule (eager, whole group), steps 5-9 transition: all but one chunked
    assert len(calls) == 8 and calls[:3] == [None] * 3 and all(t is not None for t in calls[3:])


@pytest.mark.parametrize("foreach", [None, False])
def test_signum_default_bitwise_eager(foreach, monkeypatch):
    # None: the compiled kernels (Signum has only sign steps, which they take bitwise); False: chunked
    monkeypatch.setattr(kernels, "_CHUNK", 128)
    run_pair(Signum, EagerSignum, dict(lr=1e-2, momentum=0.9, weight_decay=0.05, foreach=foreach), torch.float32,
             steps=5)


def test_default_path_matches_numpy_reference():
    """float64 default path against the numpy reference of the formulas (same operations, so equal up to
    tanh's libm difference: <= 1 ulp of tanh times lr per step, far below the bound asserted)."""
    hp = dict(lr=1e-2, momentum=0.9, nesterov=True, weight_decay=0.1, tmax=None)
    params = make_params(torch.float64)
    ref = [p.detach().numpy().copy() for p in params]
    opt = SoftSignum(params, sign_iters=2, transition_iters=3, **hp)
    state = softsignum_init()
    for k in range(1, 8):
        gs = grads_at(k, torch.float64)
        for p, g in zip(params, gs):
            p.grad = g
        opt.step()
        ref, state = softsignum_step(ref, [g.numpy() for g in gs], state, sign_iters=2, transition_iters=3, **hp)
    eps = float(np.finfo(np.float64).eps)
    # 7 steps, each rounding |theta| <= ~6 a few times: 64 eps per unit per step is generous yet far below 1e-12
    assert max(float(np.max(np.abs(p.detach().numpy() - r))) for p, r in zip(params, ref)) <= 7 * 64 * 6 * eps


def test_non_contiguous_falls_back_to_eager(monkeypatch):
    calls = []
    monkeypatch.setattr("geomrelax.optim.softsignum.softsignum_chunked", lambda *a, **kw: calls.append(1))
    base = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    p = torch.nn.Parameter(base.clone())
    p.grad = torch.randn(4, 6, generator=torch.Generator().manual_seed(4)).t()  # non-contiguous gradient
    before = p.detach().clone()
    SoftSignum([p], lr=0.1, momentum=0.9).step()
    assert calls == []
    assert torch.equal(p.detach(), before - 0.1 * torch.sign(p.grad))


def test_chunk_size_scales_with_threads():
    assert kernels.chunk_numel(1) == kernels.chunk_numel(4) == kernels._CHUNK
    assert kernels.chunk_numel(16) == 16 * kernels._CHUNK_PER_THREAD > kernels._CHUNK
