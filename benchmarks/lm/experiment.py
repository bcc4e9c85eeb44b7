"""The comparison: a learning-rate grid per optimizer on short runs, then the best rate over several seeds.

1. AdamW's grid first: its best rate is also the rate of the AdamW that takes the non-matrix
   parameters of muon and softmuon (one number tuned once, shared by both).
2. For each optimizer and each rate of its grid: one run of ``grid_steps`` steps (seed = the first
   seed); the rate with the lowest loss on the *tuning* set wins. SoftSignum / SoftMuon put their
   transition into the last ``transition_frac`` of whichever budget they run with, so a grid run
   has a transition too.
3. Each optimizer with its best rate: ``steps`` steps for every seed, measured on the *validation*
   set (held out from the tuning set, so the choice of rate does not flatter the reported loss).

Every run is stored as it finishes (geomrelax.store: one JSON record per run, keyed by the whole
configuration and CODE_VERSION) and read back instead of recomputed, so an interrupted experiment
resumes where it stopped and a finished one redraws its table and figure in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import geomrelax

from geomrelax.errors import GeomrelaxError
from geomrelax.store import ResultStore

from .model import GPT
from .optimizers import DEFAULT_LR_GRIDS, OPTIMIZERS, USES_AUX_ADAMW, transition_budget
from .training import TrainConfig, heldout, train_run

__all__ = ["CODE_VERSION", "ExperimentResult", "OptimizerSummary", "run_experiment"]

CODE_VERSION = "train_lm-1"  # change when a change of the code changes the numbers of a run


def _loss_or_inf(x) -> float:
    v = float(x)  # the store writes non-finite floats as the strings 'nan' / 'inf'
    return v if math.isfinite(v) else math.inf


@dataclass
class OptimizerSummary:
    name: str
    grid: list                 # [(lr, tuning loss)], inf where the run diverged
    best_lr: float | None
    aux_lr: float | None
    runs: dict = field(default_factory=dict)   # seed -> run dict (training.RunResult.to_dict())

    @property
    def finals(self) -> np.ndarray:
        return np.array([float(r["final_val"]) for r in self.runs.values()], dtype=float)

    @property
    def at_grid_edge(self) -> bool:
        """The best rate is the smallest or the largest of a grid of three or more (the optimum may lie outside it)."""
        lrs = [lr for lr, _ in self.grid]
        return self.best_lr is not None and len(lrs) > 2 and self.best_lr in (min(lrs), max(lrs))

    def stat(self, which: str) -> float:
        f = self.finals
        if len(f) == 0 or not np.all(np.isfinite(f)):
            return math.nan
        if which == "std":
            return float(f.std(ddof=1)) if len(f) > 1 else 0.0
        return float({"mean": f.mean, "min": f.min, "max": f.max}[which]())

    def timing(self, key: str) -> float:
        v = [float(r[key]) for r in self.runs.values()]
        return float(np.mean(v)) if v else math.nan


@dataclass
class ExperimentResult:
    cfg: TrainConfig
    device: str
    seeds: list
    source_description: str
    floor: float
    unigram_entropy: float
    val_bayes_loss: float
    n_params: int
    summaries: list


def _check_grids(optimizers, grids):
    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown or not optimizers:
        raise GeomrelaxError(f"unknown or no optimizer(s) {unknown}; choose from {', '.join(OPTIMIZERS)}")
    out = {}
    for name in set(optimizers) | ({"adamw"} if set(optimizers) & set(USES_AUX_ADAMW) else set()):
        lrs = tuple((grids or {}).get(name, DEFAULT_LR_GRIDS[name]))
        if not lrs or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in lrs):
            raise GeomrelaxError(f"the learning-rate grid of {name} must be positive numbers, got {lrs!r}")
        out[name] = tuple(sorted(set(float(v) for v in lrs)))
    return out


def run_experiment(cfg: TrainConfig, out, *, optimizers=OPTIMIZERS, grids=None, seeds=(0, 1), device="cpu",
                   force: bool = False, log=print) -> ExperimentResult:
    """Tune, then train every optimizer of ``optimizers`` on every seed (module docstring)."""
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise GeomrelaxError(f"seeds must be distinct non-negative integers, got {seeds!r}")
    optimizers = list(dict.fromkeys(optimizers))
    grids = _check_grids(optimizers, grids)
    if cfg.grid_steps > cfg.steps:
        raise GeomrelaxError(f"grid_steps={cfg.grid_steps} exceeds steps={cfg.steps}")
    if any(name.startswith("soft") for name in optimizers):  # refuse before any run, not half-way
        transition_budget(cfg.grid_steps, cfg.transition_frac)
    dev = torch.device(device)
    source = cfg.source()
    tune, _ = heldout(cfg, source, "tune")
    val, val_bayes = heldout(cfg, source, "val")
    store = ResultStore(Path(out) / "runs")

    def run(name, lr, steps, seed, purpose, aux_lr):
        config = {"version": CODE_VERSION, "geomrelax": geomrelax.__version__, "torch": torch.__version__, "cfg": cfg.to_dict(), "optimizer": name, "lr": lr, "aux_lr": aux_lr,
                  "steps": steps, "seed": seed, "purpose": purpose, "device": dev.type}

        def compute():
            # a grid run is judged by its last loss only: no evaluations in between
            r = train_run(cfg, source, name, lr, steps, seed, tune if purpose == "tune" else val,
                          aux_lr=aux_lr, device=dev, eval_every=steps if purpose == "tune" else None)
            return r.to_dict()

        rec = store.fetch("lm_runs", f"{name}-{purpose}-lr{lr:g}-seed{seed}", config, compute,
                          check=lambda r: len(r["val_loss"]) > 0, force=force)
        res = rec.result
        log(f"  {name:10s} {purpose:5s} lr={lr:<8g} seed={seed}: final loss {float(res['final_val']):.4f}, "
            f"{float(res['ms_per_step']):.1f} ms/step{' (stored)' if rec.cached else ''}")
        return res

    def tune_lr(name, aux_lr):
        grid = [(lr, _loss_or_inf(run(name, lr, cfg.grid_steps, seeds[0], "tune", aux_lr)["final_val"]))
                for lr in grids[name]]
        finite = [(loss, lr) for lr, loss in grid if math.isfinite(loss)]
        return grid, (min(finite)[1] if finite else None)

    aux_lr = None
    adamw_grid = None
    if "adamw" in grids:
        adamw_grid, aux_lr = tune_lr("adamw", None)
        if aux_lr is None and set(optimizers) & set(USES_AUX_ADAMW):
            raise GeomrelaxError("every AdamW run of the grid diverged; muon / softmuon have no AdamW rate to use")
    summaries = []
    for name in optimizers:
        aux = aux_lr if name in USES_AUX_ADAMW else None
        grid, best = (adamw_grid, aux_lr) if name == "adamw" else tune_lr(name, aux)
        s = OptimizerSummary(name, grid, best, aux)
        if best is not None:
            s.runs = {seed: run(name, best, cfg.steps, seed, "final", aux) for seed in seeds}
        summaries.append(s)
    n_params = GPT(cfg.model_config(), 0).n_params()
    return ExperimentResult(cfg, dev.type, seeds, source.describe(), source.loss_floor(cfg.seq_len),
                            source.unigram_entropy(cfg.seq_len), val_bayes, n_params, summaries)
