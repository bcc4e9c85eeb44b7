"""The compiled SoftSignum / Signum kernels (geomrelax.optim.compiled), the default CPU path.

Against the eager formulas: bitwise in the sign phase and for the momentum buffer in every phase; in the
transition within the bound that follows from the two tanh implementations (each within 1 ulp of the true
value, so at most 2 ulps apart). The rational tanh against float32(tanh(float64 x)).
"""

import math
import os

import numpy as np
import pytest
import torch

from geomrelax.optim import compiled as C
from geomrelax.optim import tanh_approx as T
from geomrelax.optim.softsignum import Signum, SoftSignum
from tests.test_fastpath_softsignum import CONFIGS, grads_at, make_params

pytestmark = pytest.mark.skipif(not C.available(), reason=f"numba unavailable: {C.why_not()}")



def _ulps32(a, b):
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))


def _args(seed=0, n=2_000_000):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-12, 12, n), rng.standard_normal(n) * 0.05, np.logspace(-30, 1.2, 20000),
                        -np.logspace(-30, 1.2, 20000), [0.0, -0.0, 9.0, 9.25, 9.3, 1e30, -1e30]])
    return x.astype(np.float32)


class TestTanh:
    def test_within_the_rounding_bound_of_tanh(self):
        x = _args()
        ref = np.tanh(x.astype(np.float64)).astype(np.float32)
        d = _ulps32(C.psi_values(torch.from_numpy(x)).numpy(), ref)
        assert d.max() <= T.TANH_ULP_BOUND  # the rounding analysis of tanh_approx (measured: 6)
        assert d.mean() <= 1.0  # measured mean 0.75 ulps
        aten = _ulps32(torch.tanh(torch.from_numpy(x)).numpy(), ref)
        assert aten.max() <= 1  # the eager path's tanh, which the step bound below relies on

    def test_signs_zeros_and_saturation(self):
        x = torch.tensor([0.0, -0.0, 9.25, -9.25, 50.0, -1e38, float("inf"), -float("inf")])
        y = C.psi_values(x)
        assert torch.equal(y, torch.tensor([0.0, -0.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]))
        assert math.copysign(1.0, float(y[1])) == -1.0

    def test_kernel_computes_the_documented_rational(self):
        # the kernel evaluates in float32, the numpy reference in float64: apart by the float32 rounding only
        x = _args(1, 100_000)
        got = C.psi_values(torch.from_numpy(x)).numpy()
        d = _ulps32(got, T.tanh_rational(x.astype(np.float64)).astype(np.float32))
        assert d.max() <= T.TANH_ULP_BOUND

    def test_coefficients_meet_their_stated_error(self):
        s = np.linspace(0, T.TANH_CLAMP, 400_001)
        rel = np.abs(T.tanh_rational(s[1:]) - np.tanh(s[1:])) / np.tanh(s[1:])
        assert rel.max() <= T.TANH_REL_ERROR
        assert np.float32(np.tanh(T.TANH_CLAMP)) == 1.0  # the clamp costs nothing in float32

    @pytest.mark.slow
    def test_fit_reproduces_the_shipped_error(self):
        p, q, err = T.fit_tanh_rational()
        assert err <= T.TANH_REL_ERROR
        assert np.allclose(p, T.TANH_P, rtol=1e-6) and np.allclose(q, T.TANH_Q, rtol=1e-6)

    def test_float64_tanh_is_atens(self):
        x = torch.randn(1000, dtype=torch.float64)
        assert torch.equal(C.psi_values(x), torch.tanh(x))
        assert not C.ready("tanh", torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_algebraic_within_one_ulp(dtype):
    x = torch.from_numpy(_args(2, 200_000)).to(dtype)
    x = x[torch.isfinite(x)]
    xd = x.double()
    # float64 reference in the overflow-safe form; for float64 input it is itself rounded, hence 2 ulps
    ref = torch.where(xd.abs() > 1, torch.sign(xd) / torch.sqrt(1 + (1 / xd) ** 2), xd / torch.sqrt(1 + xd * xd))
    got = C.psi_values(x, "algebraic").double()
    ulp = torch.finfo(dtype).eps * ref.abs().clamp_min(torch.finfo(dtype).tiny)
    assert float(((got - ref).abs() / ulp).max()) <= (1.0 if dtype == torch.float32 else 2.0)


class TestGroupAbsmax:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_values(self, dtype):
        g = torch.Generator().manual_seed(5)
        ts = [torch.randn(n, generator=g, dtype=dtype) for n in (300_001, 7, 1)]
        assert C.group_absmax(ts) == max(float(t.abs().max()) for t in ts)
        assert C.group_absmax([torch.tensor([-0.0, 1e-45 if dtype == torch.float32 else 5e-324], dtype=dtype)]) > 0
        assert C.group_absmax([]) == 0.0 and C.group_absmax([torch.zeros(0, dtype=dtype)]) == 0.0

    @pytest.mark.parametrize("where", [0, 25_000, 50_001, 75_002, 100_002])
    def test_every_quarter_and_the_tail_is_read(self, where):
        t = torch.rand(100_003) * 0.5  # four quarters of 25_000 and a tail of 3
        t[where] = -7.5
        assert C.group_absmax([t]) == 7.5

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
    def test_nonfinite(self, bad):
        t = torch.randn(400_000)
        t[123_457] = bad
        m = C.group_absmax([torch.ones(3), t])
        assert math.isnan(m) if math.isnan(bad) else m == math.inf

    def test_nan_wins_over_inf(self):
        assert math.isnan(C.group_absmax([torch.tensor([float("inf")]), torch.tensor([1.0, float("nan")])]))


def _step_pair(fast, eager, pf, pe, k, dtype):
    for a, b, g in zip(pf, pe, grads_at(k, dtype)):
        a.grad, b.grad = g.clone(), g.clone()
    fast.step()
    eager.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_default_step_against_eager(cfg, dtype, monkeypatch):
    hp = dict(CONFIGS[cfg], sign_iters=3, transition_iters=4)
    calls = []
    orig = C.softsignum_step
    monkeypatch.setattr(C, "softsignum_step", lambda *a, **kw: (calls.append(kw["tau"]), orig(*a, **kw)))
    pf, pe = make_params(dtype), make_params(dtype)
    fast, eager = SoftSignum(pf, **hp), SoftSignum(pe, **hp, foreach=False)
    eager._chunked_applies = lambda *a: False  # the eager formulas, out of place
    lr = hp["lr"]
    drift = 0.0
    for k in range(1, 10):
        _step_pair(fast, eager, pf, pe, k, dtype)
        for a, b in zip(pf, pe):
            assert torch.equal(fast.state[a].get("momentum_buffer"), eager.state[b].get("momentum_buffer")) \
                if "momentum_buffer" in eager.state[b] else "momentum_buffer" not in fast.state[a]
            if k <= 3 or not fast.param_groups[0]["schedule"] or (dtype == torch.float64 and hp.get("psi") != "algebraic"):
                assert torch.equal(a, b), k  # sign steps, the schedule step, float64 tanh (ATen's): bitwise
        if k >= 5:
            # each transition step: psi differs by <= TANH_ULP_BOUND + 1 ulps (ATen's is within 1), times lr,
            # plus one rounding of p each side
            eps = torch.finfo(dtype).eps
            pmax = max(float(p.detach().abs().max()) for p in pe)
            drift += lr * (T.TANH_ULP_BOUND + 1) * eps + 2 * eps * pmax
            diff = max(float((a - b).detach().abs().max()) for a, b in zip(pf, pe))
            assert diff <= drift, (k, diff, drift)
    assert fast.param_groups[0]["schedule"] == eager.param_groups[0]["schedule"]
    # steps 1-3 sign and 5-9 transition take the kernels (step 4 fits the schedule, eagerly); float64 tanh
    # transitions take the chunked ATen path
    expect = 3 + (5 if dtype == torch.float32 or hp.get("psi") == "algebraic" else 0)
    assert len(calls) == expect and calls[:3] == [None] * 3


def test_signum_default_bitwise_eager():
    pf, pe = make_params(torch.float32), make_params(torch.float32)
    fast, eager = Signum(pf, lr=1e-2, momentum=0.9, weight_decay=0.05), Signum(pe, lr=1e-2, momentum=0.9,
                                                                                  weight_decay=0.05, foreach=False)
    for k in range(1, 6):
        _step_pair(fast, eager, pf, pe, k, torch.float32)
        assert all(torch.equal(a, b) for a, b in zip(pf, pe))


@pytest.fixture(params=["openmp", "threads"])
def backend(request, monkeypatch):
    """Both ways of sharing a step between threads: torch's OpenMP team and the Python thread pool."""
    if request.param == "openmp" and C.parallel_backend()[0] != "openmp":
        pytest.skip(f"no OpenMP team here: {C.parallel_backend()[1]}")
    monkeypatch.setitem(C._OMP, "off", request.param == "threads")
    assert C.parallel_backend()[0] == request.param
    return request.param


@pytest.mark.parametrize("tau,psi,dtype", [(None, "tanh", torch.float32), (3.0, "tanh", torch.float32),
                                           (3.0, "algebraic", torch.float32), (None, "tanh", torch.float64),
                                           (3.0, "algebraic", torch.float64)])
@pytest.mark.parametrize("momentum", [True, False])
def test_threads_split_gives_the_same_numbers(tau, psi, dtype, momentum, backend, monkeypatch):
    # the kernels are element-wise: any split over threads gives the numbers of one thread, bitwise
    gen = torch.Generator().manual_seed(9)
    n = 5 * C._SLICE + 123
    base = [torch.randn(n, generator=gen, dtype=dtype), torch.randn(77, generator=gen, dtype=dtype),
            torch.randn(3 * C._SLICE + 1, generator=gen, dtype=dtype)]
    grads = [torch.randn_like(t) for t in base]
    ran = []
    orig = C._on_team
    monkeypatch.setattr(C, "_on_team", lambda *a: ran.append(orig(*a)) or ran[-1])
    outs = []
    for threads in (1, 2, 3):
        ps, bs = [t.clone() for t in base], [t.clone() * 0.5 for t in base]
        C.softsignum_step(ps, grads, bs if momentum else None, lr_eff=1e-2, keep=0.999, beta=0.9,
                          one_minus_damp=1.0, nesterov=True, maximize=threads == 3, tau=tau, psi_kind=psi,
                          fresh=[False, True, False], threads=threads)
        outs.append((ps, bs))
    # threads == 3 maximizes: against one thread with -g
    ps, bs = [t.clone() for t in base], [t.clone() * 0.5 for t in base]
    C.softsignum_step(ps, [-g for g in grads], bs if momentum else None, lr_eff=1e-2, keep=0.999, beta=0.9,
                      one_minus_damp=1.0, nesterov=True, maximize=False, tau=tau, psi_kind=psi,
                      fresh=[False, True, False], threads=1)
    for (ps_, bs_), ref in ((outs[1], outs[0]), (outs[2], (ps, bs))):
        assert all(torch.equal(a, b) for a, b in zip(ps_ + bs_, ref[0] + ref[1]))
    # the team took the 2- and 3-thread steps, or nothing did
    assert ran == [backend == "openmp"] * 2


def test_mixed_dtypes_on_the_team(backend):
    gen = torch.Generator().manual_seed(4)
    base = [torch.randn(3 * C._SLICE, generator=gen), torch.randn(3 * C._SLICE + 5, generator=gen, dtype=torch.float64),
            torch.randn(11, generator=gen)]
    grads = [torch.randn_like(t) for t in base]
    outs = []
    for threads in (1, 2):
        ps, bs = [t.clone() for t in base], [t.clone() for t in base]
        C.softsignum_step(ps, grads, bs, lr_eff=1e-3, keep=1.0, beta=0.9, one_minus_damp=0.1, nesterov=False,
                          maximize=False, tau=None, threads=threads)
        outs.append(ps + bs)
    assert all(torch.equal(a, b) for a, b in zip(*outs))
    assert C.group_absmax(grads) == max(float(g.abs().max()) for g in grads)


@pytest.mark.parametrize("where", [0, C._SLICE - 1, C._SLICE, 2 * C._SLICE + 7, 4 * C._SLICE - 2])
@pytest.mark.parametrize("bad", [7.5, float("inf"), float("nan")])
def test_absmax_on_the_team_finds_every_chunk(where, bad, backend):
    # chunks of _SLICE entries and more, across the boundary of two tensors
    t1, t2 = torch.rand(2 * C._SLICE + 3) * 0.5, torch.rand(2 * C._SLICE - 4, dtype=torch.float32) * 0.5
    (t1 if where < t1.numel() else t2)[where if where < t1.numel() else where - t1.numel()] = -bad
    m = C.group_absmax([t1, t2])
    assert (math.isnan(m) if math.isnan(bad) else m == bad)


def test_parallel_backend_says_why(monkeypatch):
    kind, detail = C.parallel_backend()
    assert kind in ("openmp", "threads") and detail
    monkeypatch.setitem(C._OMP, "forked", True)
    assert C.parallel_backend() == ("threads", "a forked process (a parent's GNU OpenMP team does not survive fork)")
    assert C._omp_parallel() is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_leaves_the_team_alone():
    # after fork the child's first parallel step must not call GOMP_parallel (a parent's GNU OpenMP team is
    # not there and the call would hang): the at-fork hook marks the child. The child runs no torch op.
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0 if C._OMP["forked"] and C._omp_parallel() is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and not C._OMP["forked"]


def test_without_numba_the_chunked_path_runs(monkeypatch):
    monkeypatch.setitem(C._STATE, "checked", True)
    monkeypatch.setitem(C._STATE, "error", "ImportError: simulated")
    monkeypatch.setattr(C, "_COMPILED", {})
    assert not C.available() and not C.ready("sign", torch.float32)
    pf, pe = make_params(torch.float32), make_params(torch.float32)
    fast, eager = Signum(pf, lr=1e-2, momentum=0.9), Signum(pe, lr=1e-2, momentum=0.9, foreach=False)
    eager._chunked_applies = lambda *a: False
    for k in range(1, 4):
        _step_pair(fast, eager, pf, pe, k, torch.float32)
    assert all(torch.equal(a, b) for a, b in zip(pf, pe))


def test_refused_step_changes_nothing():
    p = torch.nn.Parameter(torch.randn(200_000))
    opt = SoftSignum([p], lr=1e-2, momentum=0.9, sign_iters=2, transition_iters=3)
    p.grad = torch.randn(200_000)
    opt.step()
    before = (p.detach().clone(), opt.state[p]["momentum_buffer"].clone())
    p.grad = torch.randn(200_000)
    p.grad[199_999] = float("nan")
    with pytest.raises(Exception, match="non-finite"):
        opt.step()
    assert torch.equal(p.detach(), before[0]) and torch.equal(opt.state[p]["momentum_buffer"], before[1])
    assert opt.param_groups[0]["step"] == 1
