"""One process of the multi-process tests (tests/test_distributed_fsdp.py starts it with a torchrun-like
environment: RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT). Not a test module itself.

    python tests/test_distributed_worker.py OUT_DIR

Runs every scenario of SCENARIOS with FSDP2 (fully_shard, gloo, CPU) and DDP, and rank 0 writes what
the parent compares with the single-process run: per step the whole gradients the optimizer saw, the
whole parameters after the step, and the param groups' schedules.
"""

from __future__ import annotations

import os
import sys

import torch

STEPS = 8


def build_model(seed=0):
    # 7 -> 5 -> 4 -> 3: rows 5 and 3 divide neither by 2 nor by 3 processes, and 4 rows over 3
    # processes leave the last one an empty shard (torch.chunk: 2, 2, 0)
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4), torch.nn.Tanh(),
                               torch.nn.Linear(4, 3))


def batch(step, rank):
    g = torch.Generator().manual_seed(1000 * step + rank)
    return torch.randn(4, 7, generator=g), torch.randn(4, 3, generator=g)


def make_optimizer(name, params):
    """The optimizer of a scenario, on a list of (name, parameter) pairs (the same for both runs)."""
    from geomrelax.optim import S3, Relaxed, Signum, SoftMuon, SoftSignum

    ps = [p for _, p in params]
    if name == "softsignum":
        return SoftSignum(ps, lr=0.05, momentum=0.9, sign_iters=3, transition_iters=4, tmax=None)
    if name == "softsignum_normalized":
        return SoftSignum(ps, lr=0.05, momentum=0.9, sign_iters=2, transition_iters=3, tmax=None, normalized=True,
                          schedule_median="lower")
    if name == "signum_signnorm":
        return Signum(ps, lr=0.01, momentum=0.5, sign_norm=True)
    if name == "s3":
        return S3(ps, lr=0.01, weight_decay=0.1)
    if name == "relaxed_ball":
        return Relaxed(ps, "ball_quadratic", tau=2.0, lr=0.05, momentum=0.9)
    if name == "softmuon":
        return SoftMuon([p for n, p in params if p.dim() >= 2], lr=0.05, sign_iters=2, transition_iters=3,
                        spectral_map="exact")
    raise ValueError(name)


SCENARIOS = ("softsignum", "softsignum_normalized", "signum_signnorm", "s3", "relaxed_ball", "softmuon")


def whole(t):
    from geomrelax.optim.distributed import is_dtensor

    return (t.full_tensor() if is_dtensor(t) else t).detach().clone()


def train(model, opt, rank, steps, record):
    for step in range(steps[0], steps[1]):
        x, y = batch(step, rank)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        grads = {n: whole(p.grad) for n, p in model.named_parameters()}
        opt.step()
        opt.zero_grad()
        record.append({"grads": grads, "params": {n: whole(p) for n, p in model.named_parameters()},
                       "schedules": [g.get("schedule") for g in opt.param_groups]})


def fsdp_model(seed=0):
    from torch.distributed.fsdp import fully_shard

    model = build_model(seed)
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    for layer in (model[0], model[2], model[4]):
        fully_shard(layer)
    fully_shard(model)
    return model, initial


def run_fsdp(name, rank, out):
    model, initial = fsdp_model()
    opt = make_optimizer(name, list(model.named_parameters()))
    record = []
    train(model, opt, rank, (0, STEPS), record)
    if rank == 0:
        torch.save({"initial": initial, "steps": record}, os.path.join(out, f"fsdp_{name}.pt"))


def run_flatten(rank, out):
    """What a schedule fit that flattens the whole group's DTensors meets with uneven shards (the
    official code's failure, pitfall 8, reproduced with torch alone): torch refuses the flat view."""
    model, _ = fsdp_model()
    try:
        model[0].weight.detach().reshape(-1)
        message = None
    except Exception as exc:   # torch raises RuntimeError or a sharding-propagation error by version
        message = str(exc)
    if rank == 0:
        torch.save({"message": message}, os.path.join(out, "flatten.pt"))


# where to save: SoftSignum fits its schedule at step 4 (transition to step 7), SoftMuon at step 3 (to 5)
CHECKPOINTS = {"softsignum": 5, "softmuon": 3}


def run_checkpoint(name, rank, out):
    """Save with torch.distributed.checkpoint during the transition, after the schedule was fitted,
    restore into a fresh model and optimizer, continue: the same run."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    path, save = os.path.join(out, f"ckpt_{name}"), CHECKPOINTS[name]
    model, _ = fsdp_model()
    opt = make_optimizer(name, list(model.named_parameters()))
    first, rest = [], []
    train(model, opt, rank, (0, save), first)
    msd, osd = get_state_dict(model, opt)
    dcp.save({"model": msd, "optim": osd}, checkpoint_id=path)
    train(model, opt, rank, (save, STEPS), rest)

    model2, _ = fsdp_model(seed=1)   # other initial values: everything must come from the checkpoint
    opt2 = make_optimizer(name, list(model2.named_parameters()))
    msd2, osd2 = get_state_dict(model2, opt2)
    state = {"model": msd2, "optim": osd2}
    dcp.load(state, checkpoint_id=path)
    set_state_dict(model2, opt2, model_state_dict=state["model"], optim_state_dict=state["optim"])
    restored = []
    train(model2, opt2, rank, (save, STEPS), restored)
    if rank == 0:
        torch.save({"uninterrupted": rest, "restored": restored, "saved_schedule": first[-1]["schedules"][0],
                    "save": save, "transition_iters": opt2.param_groups[0]["transition_iters"]},
                   os.path.join(out, f"checkpoint_{name}.pt"))


def run_nonfinite(rank, world, out):
    """A NaN in the gradient shard of the last process only: every process refuses the step, nothing changes."""
    from geomrelax.errors import NonFiniteError

    model, _ = fsdp_model()
    opt = make_optimizer("softsignum", list(model.named_parameters()))
    x, y = batch(0, rank)
    torch.nn.functional.mse_loss(model(x), y).backward()
    if rank == world - 1:
        model[0].weight.grad.to_local().view(-1)[0] = float("nan")
    before = {n: whole(p) for n, p in model.named_parameters()}
    try:
        opt.step()
        outcome = "stepped"
    except NonFiniteError as exc:
        outcome = str(exc)
    after = {n: whole(p) for n, p in model.named_parameters()}
    unchanged = all(torch.equal(before[n], after[n]) for n in before) and not opt.state and opt.step_count() == 0
    torch.save({"outcome": outcome, "unchanged": unchanged}, os.path.join(out, f"nonfinite_{rank}.pt"))


def run_ddp(rank, world, out):
    """DDP: the replicated parameters take identical steps on every process (no optimizer communication)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    model = build_model()
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    ddp = DistributedDataParallel(model)
    opt = make_optimizer("softsignum", list(model.named_parameters()))
    record = []
    train(ddp, opt, rank, (0, STEPS), record)
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    every = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(every, flat)
    if rank == 0:
        torch.save({"initial": {n.removeprefix("module."): v for n, v in initial.items()}, "steps": record,
                    "every": every}, os.path.join(out, "ddp.pt"))


def main():
    import torch.distributed as dist

    out = sys.argv[1]
    only = sys.argv[2:] or None
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        for name in SCENARIOS:
            if only is None or name in only:
                run_fsdp(name, rank, out)
        if only is None or "flatten" in only:
            run_flatten(rank, out)
        for name in CHECKPOINTS:
            if only is None or "checkpoint" in only:
                run_checkpoint(name, rank, out)
        if only is None or "nonfinite" in only:
            run_nonfinite(rank, world, out)
        if only is None or "ddp" in only:
            run_ddp(rank, world, out)
        dist.barrier()  # every rank has written its results before any rank tears the group down
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
    # skip the interpreter's teardown: gloo's background threads can abort it ("terminate called without an
    # active exception", seen once in CI after every result was written); the results are on disk and closed
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
