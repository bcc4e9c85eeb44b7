"""The shared optimizer base: hyperparameter refusals, non-finite handling, grads untouched, conventions."""

import copy
import math

import pytest
import torch

from geomrelax.errors import GeomrelaxError, InvalidTemperatureError, NonFiniteError
from geomrelax.optim.base import GeomOptimizer, InvalidHyperparameterError, NonFiniteStepWarning, check_real
from geomrelax.optim.relaxed import Relaxed
from geomrelax.optim.s3 import S3
from geomrelax.optim.softsignum import Signum, SoftSignum

FACTORIES = {
    "softsignum": lambda ps, **kw: SoftSignum(ps, momentum=0.9, sign_iters=2, transition_iters=3, tmax=None, **kw),
    "signum": lambda ps, **kw: Signum(ps, momentum=0.9, nesterov=True, **kw),
    "s3": lambda ps, **kw: S3(ps, lr=1e-2, **kw),
    "relaxed": lambda ps, **kw: Relaxed(ps, regularizer="entropic", tau=3.0, **kw),
}


def model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()


def backward(net, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 4, generator=gen, dtype=torch.float64)
    net.zero_grad()
    loss = (net(x) ** 2).sum()
    loss.backward()
    return loss


def snapshot(opt, params):
    state = {i: {k: (v.clone() if torch.is_tensor(v) else copy.deepcopy(v)) for k, v in opt.state[p].items()}
             for i, p in enumerate(params)}
    groups = [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return [p.detach().clone() for p in params], state, groups


def assert_same(a, b):
    pa, sa, ga = a
    pb, sb, gb = b
    assert all(torch.equal(x, y) for x, y in zip(pa, pb))
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k in sa[i]:
            assert torch.equal(sa[i][k], sb[i][k]) if torch.is_tensor(sa[i][k]) else sa[i][k] == sb[i][k]
    assert ga == gb


BAD_OPTIONS = [
    (SoftSignum, dict(lr=-1e-3), "lr", "-0.001"),
    (SoftSignum, dict(momentum=1.0), "momentum", "1.0"),
    (SoftSignum, dict(momentum=-0.1), "momentum", "-0.1"),
    (SoftSignum, dict(dampening=1.5), "dampening", "1.5"),
    (SoftSignum, dict(weight_decay=-1.0), "weight_decay", "-1.0"),
    (SoftSignum, dict(eps=0.0), "eps", "0.0"),
    (SoftSignum, dict(eps=1.0), "eps", "1.0"),
    (SoftSignum, dict(tmax=0.5), "tmax", "0.5"),
    (SoftSignum, dict(sign_iters=-1), "sign_iters", "-1"),
    (SoftSignum, dict(transition_iters=-5), "transition_iters", "-5"),
    (SoftSignum, dict(sign_iters=2.5), "sign_iters", "2.5"),
    (SoftSignum, dict(newton_iters=0), "newton_iters", "0"),
    (SoftSignum, dict(psi="relu"), "psi", "'relu'"),
    (SoftSignum, dict(nesterov=True), "nesterov", "momentum=0.0"),
    (SoftSignum, dict(normalized=True, sign_norm=True), "mutually exclusive", ""),
    (SoftSignum, dict(lr=float("nan")), "lr", "NaN"),
    (SoftSignum, dict(nonfinite="ignore"), "nonfinite", "'ignore'"),
    (SoftSignum, dict(foreach="yes"), "foreach", "'yes'"),
    (Signum, dict(momentum=2.0), "momentum", "2.0"),
    (S3, dict(beta=1.0), "beta", "1.0"),
    (S3, dict(p=0.5), "p", "0.5"),
    (S3, dict(eps=-1e-8), "eps", "-1e-08"),
    (S3, dict(lr=-1.0), "lr", "-1.0"),
]


@pytest.mark.parametrize("cls,kwargs,name,value", BAD_OPTIONS)
def test_invalid_hyperparameters_refused_naming_the_value(cls, kwargs, name, value):
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(InvalidHyperparameterError) as info:
        cls([p], **kwargs)
    assert name in str(info.value) and value in str(info.value)


@pytest.mark.parametrize("kwargs,exc,text", [
    (dict(regularizer="entropic", tau=0.0), InvalidTemperatureError, "0.0"),
    (dict(regularizer="entropic", tau=float("inf")), InvalidTemperatureError, "inf"),
    (dict(regularizer="entropic", tau=1.0, momentum=1.0), InvalidHyperparameterError, "1.0"),
    (dict(regularizer="no-such", tau=1.0), GeomrelaxError, "no-such"),
])
def test_relaxed_refusals(kwargs, exc, text):
    p = torch.nn.Parameter(torch.zeros(3, 3))
    with pytest.raises(exc, match=text):
        Relaxed([p], **kwargs)


def test_add_param_group_validates_and_keeps_groups_clean():
    p, q = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    opt = SoftSignum([p])
    with pytest.raises(InvalidHyperparameterError, match="-2"):
        opt.add_param_group({"params": [q], "lr": -2})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [q], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["step"] == 0


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("foreach", [False, True])
def test_nonfinite_gradient_raises_and_changes_nothing(name, bad, foreach):
    net = model()
    opt = FACTORIES[name](net.named_parameters(), foreach=foreach)
    params = list(net.parameters())
    for k in range(3):  # reach the transition of SoftSignum (sign_iters = 2)
        backward(net, k)
        opt.step()
    backward(net, 10)
    params[2].grad[1, 2] = bad
    before = snapshot(opt, params)
    grads_before = [p.grad.clone() for p in params]
    with pytest.raises(NonFiniteError) as info:
        opt.step()
    msg = str(info.value)
    assert "param group 0" in msg and "parameter 2" in msg and "'2.weight'" in msg and "(2, 3)" in msg
    assert "index (1, 2)" in msg
    assert_same(before, snapshot(opt, params))
    assert all(torch.allclose(g, p.grad, rtol=0, atol=0, equal_nan=True) for g, p in zip(grads_before, params))
    # the next finite step proceeds normally (pitfall 6: the NaN never entered the momentum)
    backward(net, 11)
    opt.step()
    assert opt.step_count() == 4
    for st in opt.state.values():
        assert all(bool(torch.isfinite(v).all()) for v in st.values() if torch.is_tensor(v))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_nonfinite_skip_mode(name):
    assert not torch.distributed.is_available() or not torch.distributed.is_initialized()  # pitfall 2
    net = model()
    opt = FACTORIES[name](net.parameters(), nonfinite="skip")
    params = list(net.parameters())
    backward(net, 0)
    opt.step()
    backward(net, 1)
    params[0].grad[0, 0] = float("nan")
    before = snapshot(opt, params)
    with pytest.warns(NonFiniteStepWarning, match="parameter 0"):
        opt.step()
    assert_same(before, snapshot(opt, params))
    assert opt.step_count() == 1
    backward(net, 2)
    opt.step()
    assert opt.step_count() == 2


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("foreach", [False, True])
def test_grad_is_never_mutated(name, foreach):
    """Pitfall 3: p.grad is read only (also with maximize, which negates a copy)."""
    net = model()
    opt = FACTORIES[name](net.parameters(), foreach=foreach, maximize=True)
    params = list(net.parameters())
    for k in range(5):
        backward(net, k)
        grads = [p.grad.clone() for p in params]
        ptrs = [p.grad.data_ptr() for p in params]
        opt.step()
        assert all(torch.equal(g, p.grad) for g, p in zip(grads, params))
        assert ptrs == [p.grad.data_ptr() for p in params]
        for p in params:
            for v in opt.state[p].values():
                if torch.is_tensor(v):
                    assert v.data_ptr() != p.grad.data_ptr()


@pytest.mark.parametrize("name", list(FACTORIES))
def test_params_without_grad_are_skipped_and_closure_works(name):
    net = model()
    params = list(net.parameters())
    opt = FACTORIES[name](net.parameters())
    frozen = params[3].detach().clone()

    def closure():
        loss = backward(net, 5)
        params[3].grad = None
        return loss

    loss = opt.step(closure)
    assert torch.is_tensor(loss) and loss.item() > 0
    assert torch.equal(params[3], frozen) and len(opt.state[params[3]]) == 0
    assert not torch.equal(params[0], model().state_dict()["0.weight"])
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    # with no gradient at all the step is a no-op and does not count
    opt.step()
    assert opt.step_count() == 1


def test_momentum_overflow_is_refused_before_anything_changes():
    """A finite but huge float32 gradient whose momentum would overflow: raise, nothing changed."""
    p = torch.nn.Parameter(torch.ones(4))
    opt = SoftSignum([p], momentum=0.9)
    big = torch.full((4,), 3e38)
    p.grad = big.clone()
    opt.step()  # b_1 = g_1 = 3e38 is finite
    before = snapshot(opt, [p])
    p.grad = big.clone()  # b_2 = 0.9 * 3e38 + 3e38 overflows
    with pytest.raises(NonFiniteError, match="momentum_buffer"):
        opt.step()
    assert_same(before, snapshot(opt, [p]))


def test_load_state_dict_refuses_nonfinite_momentum_and_keeps_the_old_state():
    p = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
    opt = SoftSignum([p], momentum=0.9)
    p.grad = torch.ones(4, dtype=torch.float64)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["momentum_buffer"][2] = float("nan")
    before = snapshot(opt, [p])
    with pytest.raises(NonFiniteError, match="momentum_buffer"):
        opt.load_state_dict(sd)
    assert_same(before, snapshot(opt, [p]))
    opt.step()
    assert opt.step_count() == 2


def test_per_group_options_and_step_counts():
    a = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = SoftSignum([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}], momentum=0.0)
    a.grad = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
    b.grad = a.grad.clone()
    opt.step()
    b.grad = None
    a.grad = a.grad.clone()
    opt.step()
    assert torch.equal(a.detach(), torch.tensor([-0.2, 0.2, 0.0], dtype=torch.float64))
    assert torch.equal(b.detach(), torch.tensor([-0.01, 0.01, 0.0], dtype=torch.float64))
    assert (opt.step_count(0), opt.step_count(1)) == (2, 1)


def test_lr_scheduler_changes_apply():
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = Signum([p], lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = torch.ones(2, dtype=torch.float64)
        opt.step()
        sched.step()
    assert torch.equal(p.detach(), torch.full((2,), -1.75, dtype=torch.float64))


class _Minimal(GeomOptimizer):
    """A subclass written only against the documented contract (default bound: transactions)."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))

    def _validate_group(self, group):
        check_real("lr", group["lr"], low=0.0)

    def _init_state(self, group, p, state):
        state["acc"] = torch.zeros_like(p)

    def _update(self, group, params, grads, states, step, ctx):
        for p, g, st in zip(params, grads, states):
            st["acc"].add_(g * g)
            p.sub_(group["lr"] * g / st["acc"].sqrt())


def test_subclass_contract_transaction_commits_and_rolls_back():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    opt = _Minimal([p])
    p.grad = torch.tensor([1.0, 0.5, -2.0])
    opt.step()
    # first step: acc = g^2, p - lr g/|g| = p - lr sign(g) exactly
    assert torch.equal(p.detach(), torch.tensor([0.9, 1.9, 3.1]))
    assert torch.equal(opt.state[p]["acc"], torch.tensor([1.0, 0.25, 4.0]))
    before = snapshot(opt, [p])
    p.grad = torch.tensor([0.0, 0.0, 2e19])  # acc: 4 + 4e38 overflows to inf in float32
    with pytest.raises(NonFiniteError, match="acc"):
        opt.step()
    assert_same(before, snapshot(opt, [p]))
    # the default bound is inf: every step of this subclass ran as a transaction
    assert math.isinf(opt.param_groups[0]["state_bound"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("n", [1, 7, 64, 100_003])
def test_group_maxabs_detects_every_position_and_is_exact(dtype, n):
    """The check's reduction (aminmax) must see a NaN/inf wherever it sits (vector body or tail)."""
    gen = torch.Generator().manual_seed(n)
    gs = [torch.randn(n, generator=gen).to(dtype), torch.randn(3, 2, generator=gen).to(dtype)]
    exact = max(float(g.double().abs().max()) for g in gs)
    assert float(GeomOptimizer._group_maxabs(gs)) == exact
    for pos in sorted({0, n // 2, n - 1}):
        for bad in (float("nan"), float("inf"), -float("inf")):
            g = gs[0].clone()
            g[pos] = bad
            assert not math.isfinite(float(GeomOptimizer._group_maxabs([g, gs[1]])))
    assert float(GeomOptimizer._group_maxabs([torch.zeros(0, dtype=dtype)])) == 0.0


def test_only_lr_may_be_a_tensor():
    """torch.optim accepts a 0-d tensor lr; other options as tensors are refused, naming the value."""
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(InvalidHyperparameterError, match=r"momentum must be a real number, got tensor\(0.5"):
        SoftSignum([p], momentum=torch.tensor(0.5))
    with pytest.raises(InvalidHyperparameterError, match=r"beta must be a real number, got tensor"):
        S3([p], beta=torch.tensor(0.9))
    opt = SoftSignum([p], lr=torch.tensor(0.25))
    p.grad = torch.tensor([1.0, -1.0, 0.0])
    opt.step()
    assert torch.equal(p.detach(), torch.tensor([-0.25, 0.25, 0.0]))
