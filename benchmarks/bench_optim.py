"""Step time of the element-wise optimizers against AdamW and the memory floor (CPU, float32).

    python -m benchmarks.bench_optim [--numel 10000000] [--tensors 50] [--reps 15] [--threads 1] [--no-fused]

"default" is the path a user gets without options (on CPU the compiled kernels of
geomrelax.optim.compiled; "chunked" is foreach=False, the in-place chunked ATen path of geomrelax.optim.kernels). The floor is the time to move 5 words per parameter (read theta, g, b; write theta, b) at the
bandwidth of a large tensor copy_ measured in the same run. Absolute times depend on the machine
and its load; compare the ratios of one run. The "check" row is the non-finite check alone (one
fused reduction per group over the gradients: 1 word per parameter).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from geomrelax.optim.relaxed import Relaxed
from geomrelax.optim.s3 import S3
from geomrelax.optim.softsignum import Signum, SoftSignum


def make_params(numel: int, tensors: int, seed: int = 0, device="cpu"):
    """``tensors`` float32 parameters of ``numel`` entries in all, each with a gradient of scale 1e-2
    (drawn on the CPU, so that a seed gives the same numbers on every device)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [numel // tensors + (1 if i < numel % tensors else 0) for i in range(tensors)]
    params = []
    for n in sizes:
        p = torch.nn.Parameter(torch.randn(n, generator=gen).to(device))
        p.grad = (torch.randn(n, generator=gen) * 1e-2).to(device)
        params.append(p)
    return params


def timed(fn, reps: int) -> float:
    """Median wall time of fn() in ms (after two warm-up calls)."""
    fn()
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def interleaved(steppers: dict, rounds: int, sync=None, before=None) -> dict:
    """Median seconds of each callable, one call of each per round, in turn (a change of load hits all
    alike), after two warm-up rounds. ``sync`` (e.g. torch.cuda.synchronize) brackets each call;
    ``before()`` runs before each call, untimed (e.g. :func:`evict_caches`)."""
    times = {k: [] for k in steppers}
    for r in range(rounds + 2):
        for name, step in steppers.items():
            if before is not None:
                before()
            if sync is not None:
                sync()
            t0 = time.perf_counter()
            step()
            if sync is not None:
                sync()
            if r >= 2:
                times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def evict_caches(nbytes: int = 128 << 20):
    """A callable that writes ``nbytes`` (default 128 MiB, four times a 32 MiB L3) so that the next step
    starts with cold caches, as it does after a forward and backward pass in training."""
    buf = torch.empty(nbytes // 4)
    return lambda: buf.fill_(1.0)


def floor_ms(numel: int, reps: int) -> float:
    """5 words per parameter moved, at copy_ bandwidth (a copy moves 2 words per entry)."""
    n = 5 * numel // 2
    src, dst = torch.randn(n), torch.empty(n)
    return timed(lambda: dst.copy_(src), reps)


def state_bytes_per_param(opt, params) -> float:
    total = sum(v.numel() * v.element_size() for p in params for v in opt.state[p].values() if torch.is_tensor(v))
    return total / sum(p.numel() for p in params)


def bench(numel=10_000_000, tensors=50, reps=15, fused=True):
    params = make_params(numel, tensors)
    rows = []
    floor = floor_ms(numel, reps)
    rows.append(("memory floor (5 words/param at copy_ bandwidth)", floor, None))

    def run(label, opt, steps_before=0):
        for _ in range(steps_before):
            opt.step()
        t = timed(opt.step, reps)
        rows.append((label, t, state_bytes_per_param(opt, params)))
        return t

    def fresh():
        return [p.detach().clone() for p in params]

    saved = fresh()

    def reset():
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)

    for kw in ({"foreach": True}, {"foreach": False}, {"fused": True}):
        reset()
        run("AdamW " + ", ".join(f"{k}={v}" for k, v in kw.items()), torch.optim.AdamW(params, lr=1e-3, **kw))
    probe = SoftSignum(params)
    work = probe._collect()
    rows.append(("non-finite check alone (1 word/param)", timed(lambda: probe._check_gradients(work), reps), None))
    impls = [("default", {}), ("chunked (foreach=False)", {"foreach": False}), ("foreach", {"foreach": True})] + ([("fused", {"fused": True})] if fused else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, kw in impls:
            reset()
            run(f"SoftSignum sign phase, {name}", SoftSignum(params, momentum=0.9, sign_iters=10**9, **kw))
            reset()
            # sign_iters=1: step 2 fits the schedule, the timed steps are transition steps
            run(f"SoftSignum transition (tanh), {name}",
                SoftSignum(params, momentum=0.9, sign_iters=1, transition_iters=10**6, tmax=None, **kw),
                steps_before=2)
        reset()
        run("Signum, default", Signum(params, momentum=0.9))
        for foreach in (False, True):
            reset()
            run(f"S3, {'foreach' if foreach else 'eager'}", S3(params, foreach=foreach))
        reset()
        run("Relaxed(entropic), eager", Relaxed(params, regularizer="entropic", tau=10.0))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numel", type=int, default=10_000_000)
    ap.add_argument("--tensors", type=int, default=50)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch.set_num_threads; 0 keeps torch's default. Default 1: on a shared, loaded CPU "
                         "2 OpenMP threads spin-wait and a step takes seconds (measured), 1 gives stable ratios")
    ap.add_argument("--no-fused", action="store_true", help="skip the compiled kernels (compilation takes ~1 min)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = bench(args.numel, args.tensors, args.reps, fused=not args.no_fused)
    floor = rows[0][1]
    adamw = min(t for label, t, _ in rows if label.startswith("AdamW"))
    print(f"{args.numel} float32 parameters in {args.tensors} tensors, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; median of {args.reps} steps")
    print(f"{'':54s} {'ms':>8s} {'/floor':>7s} {'/AdamW best':>11s} {'state B/param':>13s}")
    for label, t, mem in rows:
        mem_s = "" if mem is None else f"{mem:.1f}"
        print(f"{label:54s} {t:8.2f} {t / floor:7.2f} {t / adamw:11.2f} {mem_s:>13s}")


if __name__ == "__main__":
    main()
