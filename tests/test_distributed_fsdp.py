"""The optimizers on 2 and 3 processes (gloo, CPU): FSDP2 (DTensor shards), DDP, torch.distributed.checkpoint.

Each world size is one launch of tests/test_distributed_worker.py (a torchrun-like environment on a free
port of 127.0.0.1) that runs every scenario; the tests below compare what it recorded with the
single-process run of the same optimizer on the same gradients (the whole gradients each distributed
step saw). The model is Linear(7, 5), Tanh, Linear(5, 4), Tanh, Linear(4, 3):
shards of unequal size, and over 3 processes an empty one.

Tolerances. Sign steps (sign, mul, add: correctly rounded IEEE operations on the same numbers) and
the schedule (an exact median and MAD, see geomrelax.optim.distributed) are compared bitwise. The
other steps may differ by rounding only, for two reasons: the group norm of ``normalized`` /
``sign_norm`` is summed in another order (relative error <= (log2 n + 2) 2^-24 < 9 * 2^-24 for n = 79
entries), and elementwise transcendental kernels (tanh, pow, lerp) may take their vectorised or scalar
form depending on where an entry falls in a shard (each within 2 ulp, so <= 4 ulp = 2^-21 relative
apart). Both scale the step, so step j of an entry differs by at most 17 * 2^-24 < 2^-19 times
|delta theta_j|, plus the
rounding of theta - step: 2 ulp(|theta|) <= 2^-22 max|theta|. The bound used is the sum of these over
the steps so far (measured differences: 0 to 6e-8; the bound is 3e-7 to 1e-6).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

sys.path.insert(0, os.path.dirname(__file__))
from test_distributed_worker import CHECKPOINTS, SCENARIOS, STEPS, build_model, make_optimizer  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "test_distributed_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(world: int, out: str):
    port = _free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        log = open(os.path.join(out, f"log{rank}"), "w")
        procs.append((subprocess.Popen([sys.executable, WORKER, out], env=env, stdout=log,
                                       stderr=subprocess.STDOUT), log))
    failed = []
    for rank, (proc, log) in enumerate(procs):
        try:
            rc = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            for p, _ in procs:
                p.kill()
            rc = "timeout"
        log.close()
        if rc != 0:
            with open(os.path.join(out, f"log{rank}")) as f:
                failed.append(f"rank {rank}: {rc}\n{f.read()[-3000:]}")
    assert not failed, "\n".join(failed)
    return out


@pytest.fixture(scope="module", params=[2, pytest.param(3, marks=pytest.mark.slow)], ids=["world2", "world3"])
def run(request, tmp_path_factory):
    world = request.param
    out = str(tmp_path_factory.mktemp(f"world{world}"))
    return world, _launch(world, out)


def _load(run, name):
    return torch.load(os.path.join(run[1], name), weights_only=False)


def _strip(d):
    return {k.removeprefix("module."): v for k, v in d.items()}


def _reference(name, initial, steps):
    """The single-process run on the recorded gradients: [(params, schedules)] per step."""
    model = build_model()
    params = list(model.named_parameters())
    with torch.no_grad():
        for n, p in params:
            p.copy_(initial[n])
    opt = make_optimizer(name, params)
    out = []
    for rec in steps:
        grads = _strip(rec["grads"])
        for n, p in params:
            p.grad = grads[n].clone()
        opt.step()
        out.append(({n: p.detach().clone() for n, p in params}, [g.get("schedule") for g in opt.param_groups]))
    return out


def _bounds(initial, ref):
    """The cumulative rounding bound of the module docstring, per step."""
    bounds, total, prev = [], 0.0, initial
    for params, _ in ref:
        step = max(float((params[n] - prev[n]).abs().max()) for n in params)
        theta = max(float(params[n].abs().max()) for n in params)
        total += step * 2.0 ** -19 + theta * 2.0 ** -22
        bounds.append(total)
        prev = params
    return bounds


def _max_diff(a, b):
    return max(float((a[n] - b[n]).abs().max()) for n in b)


@pytest.mark.parametrize("name", SCENARIOS)
def test_fsdp_step_equals_single_process(run, name):
    data = _load(run, f"fsdp_{name}.pt")
    assert len(data["steps"]) == STEPS
    ref = _reference(name, data["initial"], data["steps"])
    bounds = _bounds(data["initial"], ref)
    for k, (rec, (params, schedules), bound) in enumerate(zip(data["steps"], ref, bounds), start=1):
        got = _strip(rec["params"])
        assert rec["schedules"] == schedules, f"{name} step {k}: the schedule differs"
        diff = _max_diff(got, params)
        assert diff <= bound, f"{name} step {k}: max difference {diff:.3g} > bound {bound:.3g}"
        if name == "softsignum" and k <= 3:   # the sign phase: bitwise
            assert all(torch.equal(got[n], params[n]) for n in params), f"sign step {k} is not bitwise"
    if name.startswith("softsignum") or name == "softmuon":
        assert data["steps"][-1]["schedules"][0] is not None   # the schedule was fitted and used


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_checkpoint_mid_transition_continues_bitwise(run, name):
    data = _load(run, f"checkpoint_{name}.pt")
    # saved after the fit, with transition steps still to come
    assert data["saved_schedule"] is not None and len(data["saved_schedule"]) == data["transition_iters"]
    assert len(data["restored"]) == len(data["uninterrupted"]) == STEPS - data["save"]
    for a, b in zip(data["uninterrupted"], data["restored"]):
        assert a["schedules"] == b["schedules"]
        for n in a["params"]:
            assert torch.equal(a["params"][n], b["params"][n]), n


def test_pitfall_8_flattening_uneven_shards_fails_in_torch(run):
    """A flat view of an unevenly sharded weight (5 rows over 2 or 3 processes) is what torch refuses;
    the optimizers above never flatten a DTensor (they step local shards, or gather whole tensors)."""
    message = _load(run, "flatten.pt")["message"]
    assert message is not None and "Cannot flatten unevenly sharded tensor" in message


def test_nonfinite_on_one_shard_stops_every_process(run):
    world = run[0]
    outcomes = [_load(run, f"nonfinite_{r}.pt") for r in range(world)]
    for r, o in enumerate(outcomes):
        assert o["unchanged"], f"rank {r} changed something"
        assert "Nothing was changed" in o["outcome"], o["outcome"]
    assert "another process's shards" in outcomes[0]["outcome"]
    assert "1 of" in outcomes[-1]["outcome"] and "this process's shard" in outcomes[-1]["outcome"]


def test_ddp_identical_on_every_rank_and_equal_to_single_process(run):
    data = _load(run, "ddp.pt")
    for other in data["every"][1:]:
        assert torch.equal(other, data["every"][0])
    ref = _reference("softsignum", data["initial"], data["steps"])
    for rec, (params, schedules) in zip(data["steps"], ref):
        assert rec["schedules"] == schedules
        got = _strip(rec["params"])
        assert all(torch.equal(got[n], params[n]) for n in params)   # the same computation, bitwise
