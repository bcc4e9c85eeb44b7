"""One training run: a GPT on the synthetic source, one optimizer, one learning rate, one seed.

Everything random is a function of the seeds: the source tables (``source_seed``), the model's
initial weights (``seed``), the training batch of step k (``seed`` and k), the validation and tuning
sets (``source_seed``). So every optimizer of a seed starts from the same weights and sees the same
batches in the same order, and on the CPU the same call gives the same numbers, bit for bit.

Learning-rate multiplier (the same for every optimizer): linear warm-up over the first
``warmup_frac`` of the steps, then constant (``lr_schedule="constant"``), or constant and a linear
decay to 0 over the last ``decay_frac`` ("wsd", warm-up / stable / decay). With "constant" only the
soft optimizers anneal (their transition shortens the steps); "wsd" gives every optimizer an
annealing phase of its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from geomrelax.errors import GeomrelaxError, NonFiniteError

from .model import GPT, ModelConfig
from .optimizers import build_optimizers
from .source import STREAM_TRAIN, STREAM_TUNE, STREAM_VAL, MarkovCopySource, rng_for

__all__ = ["LR_SCHEDULES", "PRESETS", "RunResult", "TrainConfig", "evaluate", "lr_multiplier", "train_run"]

LR_SCHEDULES = ("constant", "wsd")


@dataclass(frozen=True)
class TrainConfig:
    """A size preset: the source, the model, the batch and the budget."""

    vocab: int
    order: int
    segment_len: int
    branching: int
    docs_per_seq: int
    d_model: int
    n_layers: int
    n_heads: int
    batch: int
    steps: int
    grid_steps: int
    eval_every: int
    val_seqs: int
    source_seed: int = 0
    warmup_frac: float = 0.05
    lr_schedule: str = "constant"
    decay_frac: float = 0.1
    transition_frac: float = 0.1

    def __post_init__(self):
        for name in ("vocab", "order", "segment_len", "branching", "docs_per_seq", "d_model", "n_layers", "n_heads",
                     "batch", "steps", "grid_steps", "eval_every", "val_seqs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise GeomrelaxError(f"{name} must be a positive integer, got {v!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise GeomrelaxError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        for name in ("warmup_frac", "decay_frac"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise GeomrelaxError(f"{name} must lie in [0, 1), got {getattr(self, name)!r}")
        if not 0.0 < self.transition_frac < 1.0:
            raise GeomrelaxError(f"transition_frac must lie in (0, 1), got {self.transition_frac!r}")

    @property
    def seq_len(self) -> int:
        """Tokens per input sequence: docs_per_seq documents of 2L+1 tokens, minus the one not predicted."""
        return self.docs_per_seq * (2 * self.segment_len + 1) - 1

    def model_config(self) -> ModelConfig:
        return ModelConfig(self.vocab + 1, self.seq_len, self.d_model, self.n_layers, self.n_heads)

    def source(self) -> MarkovCopySource:
        return MarkovCopySource.random(self.vocab, self.order, self.segment_len, self.branching, self.source_seed)

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)


# tiny: the tests and --quick (seconds); small: the CPU default (minutes on 2 cores); medium / large: a GPU
PRESETS = {
    "tiny": TrainConfig(vocab=16, order=1, segment_len=6, branching=3, docs_per_seq=3, d_model=32, n_layers=1,
                        n_heads=2, batch=16, steps=60, grid_steps=30, eval_every=10, val_seqs=64),
    "small": TrainConfig(vocab=32, order=2, segment_len=12, branching=4, docs_per_seq=3, d_model=64, n_layers=2,
                         n_heads=4, batch=16, steps=300, grid_steps=100, eval_every=25, val_seqs=256),
    "medium": TrainConfig(vocab=256, order=2, segment_len=32, branching=8, docs_per_seq=4, d_model=512,
                          n_layers=8, n_heads=8, batch=64, steps=3000, grid_steps=1000, eval_every=100,
                          val_seqs=1024),
    "large": TrainConfig(vocab=512, order=2, segment_len=64, branching=16, docs_per_seq=8, d_model=1024,
                         n_layers=16, n_heads=16, batch=64, steps=6000, grid_steps=1500, eval_every=200,
                         val_seqs=2048),
}


def lr_multiplier(step: int, steps: int, cfg: TrainConfig) -> float:
    """The learning-rate factor of step ``step`` (1-based) of ``steps`` (module docstring)."""
    warm = math.ceil(cfg.warmup_frac * steps)
    if step <= warm:
        return step / warm
    if cfg.lr_schedule == "wsd":
        decay = math.ceil(cfg.decay_frac * steps)
        if step > steps - decay:
            return (steps - step + 1) / (decay + 1)
    return 1.0


@dataclass
class RunResult:
    train_loss: list        # one per step
    val_steps: list         # steps at which the validation loss was measured (0 = the initial model)
    val_loss: list
    ms_per_step: float      # median wall time of forward + backward + optimizer steps
    ms_per_opt_step: float  # median wall time of the optimizer steps alone
    diverged: bool
    update_norm: list = field(default_factory=list)  # per step, when asked: ||theta_k - theta_{k-1}||

    @property
    def final_val(self) -> float:
        return self.val_loss[-1] if self.val_loss and not self.diverged else math.nan

    def to_dict(self) -> dict:
        return {**asdict(self), "final_val": self.final_val}


def heldout(cfg: TrainConfig, source: MarkovCopySource, purpose: str):
    """(tokens, bayes_loss): the validation ("val") or tuning ("tune") sequences and the Bayes-optimal
    predictor's mean loss on them (an unbiased estimate of the floor)."""
    stream = {"val": STREAM_VAL, "tune": STREAM_TUNE}[purpose]
    toks, logp = source.sample(cfg.val_seqs, cfg.seq_len, rng_for(cfg.source_seed, stream), with_logp=True)
    return torch.from_numpy(toks), float(-logp.mean())


def _autocast(device):
    # bfloat16 matmuls on a GPU (what fills it); float32 on the CPU, where autocast is off
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def evaluate(model, tokens, batch: int, device) -> float:
    """Mean cross-entropy (nats/token) of ``model`` on ``tokens`` (n, seq_len + 1)."""
    model.train(False)  # evaluation mode (a no-op for this model today: no dropout)
    total, count = 0.0, 0
    for i in range(0, tokens.shape[0], batch):
        x = tokens[i:i + batch].to(device)
        with _autocast(device):
            loss = model(x[:, :-1], x[:, 1:])
        total += float(loss) * x.shape[0]
        count += x.shape[0]
    model.train()
    return total / count


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_run(cfg: TrainConfig, source: MarkovCopySource, optimizer: str, lr: float, steps: int, seed: int,
              heldout_tokens, *, aux_lr: float | None = None, device="cpu", eval_every: int | None = None,
              record_update_norm: bool = False) -> RunResult:
    """Train a fresh GPT (initial weights from ``seed``) for ``steps`` steps and return its curves.

    The held-out loss is measured every ``eval_every`` steps (default: the config's), at step 0 and at the end.
    ``record_update_norm``: also record, per step, the Euclidean norm of the change of the parameters of the
    first optimizer (all of them for adamw / signum / softsignum, the hidden matrices for muon / softmuon),
    to see how far a transition shortens the steps (costs a copy of those parameters per step)."""
    device = torch.device(device)
    model = GPT(cfg.model_config(), seed).to(device)
    opts = build_optimizers(optimizer, model, lr, steps, aux_lr=aux_lr, transition_frac=cfg.transition_frac)
    base_lrs = [[g["lr"] for g in o.param_groups] for o in opts]
    eval_at = set(range(0, steps + 1, eval_every or cfg.eval_every)) | {steps}
    train_loss, val_steps, val_loss, t_step, t_opt, update_norm = [], [], [], [], [], []
    watched = [p for g in opts[0].param_groups for p in g["params"]]
    diverged = False
    for step in range(steps + 1):
        if step in eval_at:
            val_steps.append(step)
            val_loss.append(evaluate(model, heldout_tokens, cfg.batch, device))
        if step == steps:
            break
        x = torch.from_numpy(source.sample(cfg.batch, cfg.seq_len, rng_for(seed, STREAM_TRAIN, step))).to(device)
        mult = lr_multiplier(step + 1, steps, cfg)
        for o, lrs in zip(opts, base_lrs):
            for g, base in zip(o.param_groups, lrs):
                g["lr"] = base * mult
        _sync(device)
        t0 = time.perf_counter()
        with _autocast(device):
            loss = model(x[:, :-1], x[:, 1:])
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        _sync(device)
        t1 = time.perf_counter()
        value = float(loss.detach())
        try:
            if not math.isfinite(value):
                raise NonFiniteError(f"loss {value} at step {step + 1}")
            before = [p.detach().clone() for p in watched] if record_update_norm else None
            for o in opts:
                o.step()
            if before is not None:
                update_norm.append(math.sqrt(sum(float((p.detach() - b).float().square().sum())
                                                 for p, b in zip(watched, before))))
        except NonFiniteError:
            diverged = True
            break
        _sync(device)
        t2 = time.perf_counter()
        train_loss.append(value)
        t_step.append(t2 - t0)
        t_opt.append(t2 - t1)
    return RunResult(train_loss, val_steps, val_loss, 1e3 * float(np.median(t_step)) if t_step else math.nan,
                     1e3 * float(np.median(t_opt)) if t_opt else math.nan, diverged, update_norm)
