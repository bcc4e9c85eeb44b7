"""Train a small GPT with AdamW, Signum, SoftSignum, Muon and SoftMuon on equal budgets and compare them.

    python -m benchmarks.train_lm [--size small] [--quick] [--device cpu] [--out DIR] [--seeds 0 1] ...
    geomrelax train ...   (the same arguments)

The language is generated, nothing is downloaded: documents made of an order-k Markov segment over a
Zipfian vocabulary, a separator, and a copy of the segment (learning the copy needs attention). The
loss floor (the Bayes-optimal predictor's expected loss) is computed exactly. Each optimizer gets a
learning-rate grid on short runs (chosen on a tuning set), then full runs with its best rate for
every seed (measured on a separate validation set); all runs of a seed start from the same weights
and see the same batches. Writes results.csv / results.md / grid.csv / curves.csv / loss_curves.png
into --out (see benchmarks.lm.report); finished runs are stored under --out/runs and reused.

Sizes: tiny (--quick: seconds), small (the default, CPU: about 130 s of CPU time with --threads 1, measured;
7 minutes of wall time on 2 cores shared with ten other processes), medium and large (for a GPU: --device
cuda; bfloat16 autocast there). Same seed, same numbers on the CPU.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from geomrelax.errors import GeomrelaxError

from .lm.experiment import run_experiment
from .lm.optimizers import DEFAULT_LR_GRIDS, OPTIMIZERS
from .lm.report import write_report
from .lm.training import LR_SCHEDULES, PRESETS

__all__ = ["QUICK_GRIDS", "add_train_arguments", "main", "run_train_command"]

# --quick: two rates each, around the best ones of the tiny preset (it wants larger sign steps than small)
QUICK_GRIDS = {"adamw": (3e-3, 1e-2), "signum": (1e-3, 3e-3), "softsignum": (1e-3, 3e-3), "muon": (0.03, 0.1),
               "softmuon": (0.03, 0.1)}


def _integer(low: int, what: str):
    """An argparse type: an integer >= low ('what' names it in the error)."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not an integer") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{what} {v} is below {low}")
        return v
    return parse


_positive_int = _integer(1, "count")
_seed = _integer(0, "seed")


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"{text} must lie strictly between 0 and 1")
    return v


def _lr_grid(text):
    """NAME=LR[,LR...], e.g. adamw=1e-3,3e-3 (numbers parsed with float, nothing evaluated)."""
    name, sep, values = text.partition("=")
    name = name.strip().lower()
    if not sep or name not in OPTIMIZERS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=LR[,LR...] with NAME one of {', '.join(OPTIMIZERS)}")
    lrs = []
    for part in values.split(","):
        try:
            v = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {part.strip()!r} is not a number") from None
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"{text!r}: a learning rate must be a positive number, got {part.strip()}")
        lrs.append(v)
    return name, tuple(lrs)


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of the training comparison to ``parser`` (a parser or a subcommand's parser)."""
    g = parser.add_argument_group("size and budget")
    g.add_argument("--size", choices=tuple(PRESETS), default="small",
                   help="preset: tiny (seconds), small (default; CPU: ~2 min of one core), medium, large (GPU)")
    g.add_argument("--quick", action="store_true",
                   help="the tiny preset with two learning rates per optimizer (under 30 s on a CPU)")
    g.add_argument("--steps", type=_positive_int, help="training steps of the final runs (default: the preset's)")
    g.add_argument("--grid-steps", type=_positive_int, help="steps of each learning-rate grid run")
    g.add_argument("--batch", type=_positive_int, help="sequences per step")
    g.add_argument("--d-model", type=_positive_int, help="model width")
    g.add_argument("--layers", type=_positive_int, help="transformer blocks")
    g.add_argument("--heads", type=_positive_int, help="attention heads (must divide the width)")
    o = parser.add_argument_group("optimizers")
    o.add_argument("--optimizers", nargs="+", choices=OPTIMIZERS, default=list(OPTIMIZERS), metavar="NAME",
                   help=f"which to compare (default all: {' '.join(OPTIMIZERS)})")
    o.add_argument("--lr-grid", type=_lr_grid, action="append", default=[], metavar="NAME=LR[,LR...]",
                   help="replace an optimizer's learning-rate grid (repeatable); defaults: " +
                        "; ".join(f"{k} {','.join(f'{v:g}' for v in vs)}" for k, vs in DEFAULT_LR_GRIDS.items()))
    o.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                   help="constant after warm-up (default), or wsd: every optimizer also decays linearly to 0 over "
                        "the last 10%% of its steps")
    o.add_argument("--transition-frac", type=_fraction, default=None,
                   help="share of the budget SoftSignum / SoftMuon spend in the transition (default 0.1)")
    r = parser.add_argument_group("run")
    r.add_argument("--seeds", type=_seed, nargs="+", default=[0, 1], help="seeds of the final runs (default 0 1)")
    r.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, cuda:1, ...")
    r.add_argument("--threads", type=_positive_int, help="torch CPU threads (default: torch's choice)")
    r.add_argument("--out", default="train_lm_results", help="output folder (default ./train_lm_results)")
    r.add_argument("--force", action="store_true", help="recompute runs already stored under OUT/runs")
    return parser


def config_from_args(args):
    """The TrainConfig of the parsed arguments (the preset with the overrides applied)."""
    cfg = PRESETS["tiny" if args.quick else args.size]
    changes = {k: v for k, v in (("steps", args.steps), ("grid_steps", args.grid_steps), ("batch", args.batch),
                                 ("d_model", args.d_model), ("n_layers", args.layers), ("n_heads", args.heads),
                                 ("lr_schedule", args.lr_schedule), ("transition_frac", args.transition_frac))
               if v is not None}
    if "steps" in changes and "grid_steps" not in changes:
        changes["grid_steps"] = max(1, changes["steps"] * cfg.grid_steps // cfg.steps)
    if "d_model" in changes or "n_heads" in changes:
        d, h = changes.get("d_model", cfg.d_model), changes.get("n_heads", cfg.n_heads)
        if d % h:
            raise GeomrelaxError(f"--heads {h} does not divide --d-model {d}")
    return cfg.replace(**changes) if changes else cfg


def run_train_command(args) -> int:
    """Run the comparison described by ``args`` (from a parser given add_train_arguments); 0 on success,
    2 on bad input (one line on stderr naming the problem)."""
    import torch

    threads = torch.get_num_threads()
    try:
        cfg = config_from_args(args)
        grids = dict(QUICK_GRIDS) if args.quick else {}
        grids.update(dict(args.lr_grid))
        try:
            device = torch.device(args.device)
        except RuntimeError as exc:
            raise GeomrelaxError(f"--device {args.device!r} is not a torch device: {exc}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise GeomrelaxError(f"--device {args.device} asked for, but torch sees no CUDA device")
        if args.threads:
            torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        print(f"train_lm: size {'tiny (--quick)' if args.quick else args.size}, {cfg.steps} steps "
              f"(grid {cfg.grid_steps}), seeds {args.seeds}, device {device}, out {args.out}", flush=True)
        res = run_experiment(cfg, args.out, optimizers=args.optimizers, grids=grids, seeds=args.seeds,
                             device=device, force=args.force, log=lambda m: print(m, flush=True))
        paths = write_report(res, args.out)
    except GeomrelaxError as exc:
        print(f"geomrelax train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)  # a library call leaves the process as it found it
    print()
    print(paths["md"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())} in {time.perf_counter() - t0:.0f} s")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_lm", description=__doc__.split("\n\n")[0])
    add_train_arguments(parser)
    return run_train_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
