"""One test matrix over every optimizer, in the style of torch's OptimizerInfo.

Each entry says how to build the optimizer on a small model (with a transition early enough to be
crossed in a short run) and which hyperparameters must be refused. Every optimizer must decrease
the loss, round-trip its state_dict with a bitwise-identical continuation, leave p.grad alone and
refuse bad hyperparameters with a message naming the value.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import pytest

torch = pytest.importorskip("torch")

import geomrelax as gr  # noqa: E402
from geomrelax.optim import S3, Muon, Relaxed, Signum, SoftMuon, SoftSignum  # noqa: E402
from geomrelax.optim import SSVR, MajorityVote, MiMuon, NorMuon, ScheduleFree  # noqa: E402


@dataclass
class OptimizerInfo:
    name: str
    make: Callable  # (params, **overrides) -> optimizer
    matrices_only: bool = False
    steps: int = 60
    bad: list = field(default_factory=list)  # (kwargs, regex the message must match)


def _softsignum(params, **kw):
    return SoftSignum(params, **{"lr": 0.01, "momentum": 0.9, "sign_iters": 15, "transition_iters": 20,
                                 "tmax": None, **kw})


def _softmuon(params, **kw):
    return SoftMuon(params, **{"lr": 0.02, "sign_iters": 15, "transition_iters": 20, **kw})


OPTIMIZERS = [
    OptimizerInfo("SoftSignum", _softsignum, bad=[({"lr": -1.0}, "lr"), ({"momentum": 1.0}, "momentum"),
                                                  ({"eps": 1.5}, "eps"), ({"tmax": 0.5}, "tmax"),
                                                  ({"sign_iters": -3}, "sign_iters"),
                                                  ({"transition_iters": -1}, "transition_iters")]),
    OptimizerInfo("Signum", lambda p, **kw: Signum(p, **{"lr": 0.01, "momentum": 0.9, **kw}),
                  bad=[({"lr": -0.1}, "lr"), ({"momentum": -0.2}, "momentum")]),
    OptimizerInfo("S3", lambda p, **kw: S3(p, **{"lr": 0.01, **kw}),
                  bad=[({"lr": -1.0}, "lr"), ({"beta": 1.0}, "beta")]),
    OptimizerInfo("Relaxed-entropic", lambda p, **kw: Relaxed(p, **{"regularizer": "entropic", "tau": 50.0,
                                                                   "lr": 0.01, **kw}),
                  bad=[({"tau": -1.0}, "tau"), ({"lr": -1.0}, "lr")]),
    OptimizerInfo("Relaxed-spectral-algebraic",
                  lambda p, **kw: Relaxed(p, **{"regularizer": gr.spectral("algebraic"), "tau": 50.0,
                                                "lr": 0.01, **kw}),
                  matrices_only=True, bad=[({"tau": float("nan")}, "tau")]),
    OptimizerInfo("SoftMuon", _softmuon, matrices_only=True,
                  bad=[({"lr": -1.0}, "lr"), ({"momentum": 1.5}, "momentum"), ({"eps": 0.0}, "eps"),
                       ({"sign_iters": -1}, "sign_iters")]),
    OptimizerInfo("Muon", lambda p, **kw: Muon(p, **{"lr": 0.02, **kw}), matrices_only=True,
                  bad=[({"lr": -1.0}, "lr")]),
    # the zoo of variants (NorMuon, MiMuon, schedule-free, SSVR, majority vote)
    OptimizerInfo("NorMuon", lambda p, **kw: NorMuon(p, **{"lr": 0.02, **kw}), matrices_only=True,
                  bad=[({"beta2": 1.0}, "beta2"), ({"norm_eps": 0.0}, "norm_eps"), ({"rms": -1.0}, "rms")]),
    OptimizerInfo("MiMuon", lambda p, **kw: MiMuon(p, **{"lr": 0.02, **kw}), matrices_only=True,
                  bad=[({"alpha": 1.5}, "alpha"), ({"momentum": 1.0}, "momentum")]),
    OptimizerInfo("ScheduleFree-sign", lambda p, **kw: ScheduleFree(p, **{"lr": 0.01, **kw}),
                  bad=[({"beta": 1.5}, "beta"), ({"lmo": "adam"}, "lmo"), ({"lmo": "softsign"}, "tau")]),
    OptimizerInfo("ScheduleFree-muon", lambda p, **kw: ScheduleFree(p, **{"lr": 0.02, "lmo": "muon", **kw}),
                  matrices_only=True, bad=[({"ns_steps": 0}, "ns_steps")]),
    OptimizerInfo("ScheduleFree-relaxed",
                  lambda p, **kw: ScheduleFree(p, **{"lr": 0.01, "lmo": "relaxed", "regularizer": "entropic",
                                                     "tau": 50.0, **kw}),
                  bad=[({"regularizer": "nope"}, "regularizer"), ({"tau": -1.0}, "tau")]),
    OptimizerInfo("SSVR", lambda p, **kw: SSVR(p, **{"lr": 0.01, "a": 0.5, **kw}),
                  bad=[({"a": 0.0}, "a"), ({"a": 1.5}, "a")]),
    OptimizerInfo("MajorityVote", lambda p, **kw: MajorityVote(p, **{"lr": 0.01, **kw}),
                  bad=[({"byzantine": -1}, "byzantine"), ({"byzantine": 0.5}, "byzantine")]),
]
IDS = [info.name for info in OPTIMIZERS]


def make_problem(seed=0):
    """A small two-layer regression model (no biases: every parameter is a matrix) and its data."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=g, dtype=torch.float64)
    w_true = torch.randn(8, 1, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ w_true)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), torch.nn.Tanh(),
                                torch.nn.Linear(16, 1, bias=False)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return model, x, y


def loss_of(model, x, y):
    return torch.nn.functional.mse_loss(model(x), y)


def run(opt, model, x, y, steps):
    for _ in range(steps):
        def closure():
            opt.zero_grad()
            loss = loss_of(model, x, y)
            loss.backward()
            return loss
        opt.step(closure)


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_decreases_loss(info):
    model, x, y = make_problem()
    start = loss_of(model, x, y).item()
    opt = info.make(model.parameters())
    run(opt, model, x, y, info.steps)
    end = loss_of(model, x, y).item()
    assert math.isfinite(end)
    # a working optimizer removes at least a third of the initial loss in 60 steps on this problem
    assert end < 0.67 * start, (start, end)


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_state_dict_round_trip_is_bitwise(info):
    n = info.steps // 2
    model_a, x, y = make_problem(1)
    model_b = copy.deepcopy(model_a)
    opt_a = info.make(model_a.parameters())
    run(opt_a, model_a, x, y, 2 * n)

    opt_b = info.make(model_b.parameters())
    run(opt_b, model_b, x, y, n)
    saved = copy.deepcopy(opt_b.state_dict())
    assert all(isinstance(k, int) for k in saved["state"]), "per-parameter state keys must be indices"
    model_c = copy.deepcopy(model_b)
    opt_c = info.make(model_c.parameters())
    opt_c.load_state_dict(saved)
    run(opt_c, model_c, x, y, n)
    for pa, pc in zip(model_a.parameters(), model_c.parameters()):
        assert torch.equal(pa, pc)


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_grad_untouched_and_params_without_grad_skipped(info):
    model, x, y = make_problem(2)
    frozen = torch.nn.Parameter(torch.randn(3, 3, dtype=torch.float64))
    opt = info.make(list(model.parameters()) + [frozen])
    before = frozen.detach().clone()
    for _ in range(3):
        opt.zero_grad()
        loss_of(model, x, y).backward()
        grads = [p.grad.clone() for p in model.parameters()]
        # a closure recomputing the same gradients (SSVR calls it; deterministic, so bitwise equal)
        opt.step(lambda: (opt.zero_grad(), loss_of(model, x, y).backward()))
        for p, g in zip(model.parameters(), grads):
            assert torch.equal(p.grad, g)
    assert torch.equal(frozen, before)
    assert frozen.grad is None


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_nonfinite_gradient_refused_and_nothing_changes(info):
    model, x, y = make_problem(3)
    opt = info.make(model.parameters())
    run(opt, model, x, y, 3)
    params = [p.detach().clone() for p in model.parameters()]
    state = copy.deepcopy(opt.state_dict())
    opt.zero_grad()
    loss_of(model, x, y).backward()
    last = list(model.parameters())[-1]
    last.grad[0, 0] = float("nan")
    with pytest.raises(gr.NonFiniteError, match=r"param"):
        opt.step()
    for p, q in zip(model.parameters(), params):
        assert torch.equal(p, q)
    after = opt.state_dict()
    for k, v in state["state"].items():
        for name, t in v.items():
            if torch.is_tensor(t):
                assert torch.equal(after["state"][k][name], t), (k, name)
    assert [g.get("step") for g in after["param_groups"]] == [g.get("step") for g in state["param_groups"]]


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_bad_hyperparameters_refused(info):
    model, _, _ = make_problem()
    for kwargs, pattern in info.bad:
        with pytest.raises(ValueError, match=pattern):
            info.make(model.parameters(), **kwargs)


# -- torch.optim's conventions ------------------------------------------------------------------------------
def step_once(opt, model, x, y):
    # through a closure: SSVR needs one to take the gradient of the step's sample at its previous point
    run(opt, model, x, y, 1)


def trained(info, seed, steps):
    """(model, x, y, optimizer) after ``steps`` steps on the problem of ``seed``."""
    model, x, y = make_problem(seed)
    opt = info.make(model.parameters())
    for _ in range(steps):
        step_once(opt, model, x, y)
    return model, x, y, opt


def assert_same_run(model_a, model_b):
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_hyperparameters_are_checked_before_the_parameters(info):
    # torch's optimizers raise the ValueError about lr even when params is not an iterable
    with pytest.raises(ValueError, match="lr"):
        info.make(None, lr=-1.0)


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_zero_size_parameters_are_skipped(info):
    model_a, x, y = make_problem(4)
    model_b = copy.deepcopy(model_a)
    empty = torch.nn.Parameter(torch.zeros(0, 4, dtype=torch.float64))
    opt_a = info.make(list(model_a.parameters()) + [empty])
    opt_b = info.make(model_b.parameters())
    for _ in range(20):  # through the schedule fit and into the transition
        empty.grad = torch.zeros(0, 4, dtype=torch.float64)
        step_once(opt_a, model_a, x, y)
        step_once(opt_b, model_b, x, y)
    assert_same_run(model_a, model_b)
    assert empty not in opt_a.state


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_a_0d_tensor_lr_steps_as_the_float(info):
    model_a, x, y = make_problem(5)
    model_b = copy.deepcopy(model_a)
    lr = 0.01
    opt_a = info.make(model_a.parameters(), lr=torch.tensor(lr, dtype=torch.float64))
    opt_b = info.make(model_b.parameters(), lr=lr)
    for _ in range(20):
        step_once(opt_a, model_a, x, y)
        step_once(opt_b, model_b, x, y)
    assert_same_run(model_a, model_b)


BAD_LRS = [(torch.tensor([0.01]), r"shape \[1\]"), (torch.tensor([[0.01]]), r"shape \[1, 1\]"),
           (float("inf"), "finite, got inf"), (float("nan"), "NaN"), (-0.5, "-0.5"), ("0.01", "'0.01'"),
           (None, "None"), (True, "True")]


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
@pytest.mark.parametrize("lr,pattern", BAD_LRS, ids=[repr(v) for v, _ in BAD_LRS])
def test_bad_lr_refused_at_construction_and_in_add_param_group(info, lr, pattern):
    model, _, _ = make_problem()
    with pytest.raises(ValueError, match="lr.*" + pattern):
        info.make(model.parameters(), lr=lr)
    first, second = list(model.parameters())
    opt = info.make([first])
    with pytest.raises(ValueError, match="lr.*" + pattern):
        opt.add_param_group({"params": [second], "lr": lr})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_state_dict_without_later_flags_loads_with_their_defaults(info):
    model_a, x, y, opt_a = trained(info, 6, 18)
    saved = copy.deepcopy(opt_a.state_dict())
    for g in saved["param_groups"]:
        for key in ("maximize", "foreach", "nonfinite", "fused", "schedule_median"):
            g.pop(key, None)
    model_b = copy.deepcopy(model_a)
    opt_b = info.make(model_b.parameters())
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0]["maximize"] is False and opt_b.param_groups[0]["nonfinite"] == "raise"
    for _ in range(10):
        step_once(opt_a, model_a, x, y)
        step_once(opt_b, model_b, x, y)
    assert_same_run(model_a, model_b)


def _other_state_dict(info, model, x, y):
    """A state_dict of another optimizer on the same parameters (torch AdamW)."""
    other = torch.optim.AdamW(model.parameters(), lr=1e-3)
    step_once(other, model, x, y)
    return other.state_dict()


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_foreign_state_dict_is_refused_naming_what_is_wrong(info):
    model, x, y, opt = trained(info, 7, 1)
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(gr.GeomrelaxError, match=r"not .*'s: .* lacks .*torch\.optim\.AdamW"):
        opt.load_state_dict(_other_state_dict(info, copy.deepcopy(model), x, y))
    for o in OPTIMIZERS:
        other = o.make(model.parameters())
        if type(other) is type(opt) or (type(opt), type(other)) == (SoftMuon, Muon):
            continue  # Muon is SoftMuon without a transition: its state is a SoftMuon state
        with pytest.raises(gr.GeomrelaxError, match=type(opt).__name__):
            opt.load_state_dict(other.state_dict())
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_loaded_state_is_checked_like_a_gradient(info):
    model, x, y, opt = trained(info, 8, 3)
    good = copy.deepcopy(opt.state_dict())
    bad_bound = copy.deepcopy(good)
    bad_bound["param_groups"][0]["state_bound"] = float("nan")
    with pytest.raises(ValueError, match="state_bound"):
        opt.load_state_dict(bad_bound)
    if good["state"]:
        key = next(iter(good["state"][0]))
        wrong = copy.deepcopy(good)
        wrong["state"][0][key] = wrong["state"][0][key][:-1]
        with pytest.raises(gr.GeomrelaxError, match=rf"{key}.*shape"):
            opt.load_state_dict(wrong)
        nan = copy.deepcopy(good)
        nan["state"][0][key].view(-1)[0] = float("nan")
        with pytest.raises(gr.NonFiniteError, match=key):
            opt.load_state_dict(nan)
    opt.load_state_dict(good)


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_pickle_and_deepcopy_give_an_optimizer_that_steps_identically(info, how):
    import pickle

    model, x, y, opt = trained(info, 9, 10)
    # copy the optimizer together with its parameters (one memo keeps them the same objects)
    pair = (model, opt)
    model2, opt2 = pickle.loads(pickle.dumps(pair)) if how == "pickle" else copy.deepcopy(pair)
    assert type(opt2) is type(opt) and opt2.param_groups[0]["params"][0] is next(model2.parameters())
    for _ in range(12):  # across the schedule fit (step 16)
        step_once(opt, model, x, y)
        step_once(opt2, model2, x, y)
    assert_same_run(model, model2)


@pytest.mark.parametrize("info", OPTIMIZERS, ids=IDS)
def test_a_refused_first_step_leaves_no_state_behind(info):
    model, x, y = make_problem(10)
    opt = info.make(model.parameters())
    opt.zero_grad()
    loss_of(model, x, y).backward()
    next(model.parameters()).grad[0, 0] = float("inf")
    with pytest.raises(gr.NonFiniteError):
        opt.step()
    assert not opt.state and opt.state_dict()["state"] == {}
