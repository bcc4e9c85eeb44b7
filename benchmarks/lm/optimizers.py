"""The five optimizers of the language-model comparison, built on one model for one budget.

- adamw:      torch.optim.AdamW on every parameter.
- signum:     geomrelax Signum on every parameter (momentum 0.9).
- softsignum: geomrelax SoftSignum on every parameter: the Signum steps for the first 90% of the
              budget, then the smooth transition psi(tau_j u) over the last 10%.
- muon:       torch.optim.Muon on the hidden matrices + AdamW on the rest (embeddings, output head,
              LayerNorm gains and biases), the usual Muon set-up; the split is geomrelax's split_params.
- softmuon:   geomrelax SoftMuon on the hidden matrices (Muon for 90% of the budget, then the smoothed
              polar map) + AdamW on the rest, through split_params(...).build.

``lr`` is the learning rate of the optimizer named; the AdamW that takes the non-matrix parameters of
muon / softmuon runs at ``aux_lr`` (the experiment passes the best AdamW learning rate of its grid).
No weight decay anywhere, so the comparison is of the update directions alone. SoftMuon's Muon phase
is torch.optim.Muon's step (NS5 in bfloat16, eps 1e-7, the sqrt(max(1, rows/cols)) scale): geomrelax
tests that the two agree bitwise, so muon and softmuon differ only by the transition.
"""

from __future__ import annotations

import torch

from geomrelax.errors import GeomrelaxError
from geomrelax.optim import Signum, SoftSignum, split_params

__all__ = ["DEFAULT_LR_GRIDS", "OPTIMIZERS", "USES_AUX_ADAMW", "build_optimizers", "transition_budget"]

OPTIMIZERS = ("adamw", "signum", "softsignum", "muon", "softmuon")
USES_AUX_ADAMW = ("muon", "softmuon")

# log-spaced grids around the usual values for small transformers (muon / softmuon: the matrix lr)
DEFAULT_LR_GRIDS = {
    "adamw": (1e-3, 3e-3, 1e-2),
    "signum": (3e-4, 1e-3, 3e-3),
    "softsignum": (3e-4, 1e-3, 3e-3),
    "muon": (0.01, 0.03, 0.1),
    "softmuon": (0.01, 0.03, 0.1),
}

ADAMW_OPTIONS = dict(betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
SIGNUM_MOMENTUM = 0.9
MUON_OPTIONS = dict(momentum=0.95, nesterov=True, weight_decay=0.0)
TORCH_MUON_EPS = 1e-7  # torch.optim.Muon's default, given to SoftMuon's NS5 as well


def transition_budget(steps: int, transition_frac: float) -> tuple:
    """(sign_iters, transition_iters) for a run of ``steps`` steps: the last ``transition_frac`` of it
    (at least one step) is the transition; 0.1 is the ratio of the official defaults (9000 / 1000)."""
    if not 0.0 < transition_frac < 1.0:
        raise GeomrelaxError(f"transition_frac must lie in (0, 1), got {transition_frac!r}")
    k = max(1, round(transition_frac * steps))
    if k >= steps:
        raise GeomrelaxError(f"a run of {steps} steps has no room for a sign phase and a transition "
                             f"(transition_frac={transition_frac})")
    return steps - k, k


def build_optimizers(name: str, model: torch.nn.Module, lr: float, steps: int, *, aux_lr: float | None = None,
                     transition_frac: float = 0.1) -> list:
    """The optimizers (one or two) that together update every parameter of ``model``."""
    if name not in OPTIMIZERS:
        raise GeomrelaxError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise GeomrelaxError(f"lr must be a positive number, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "adamw":
        return [torch.optim.AdamW(params, lr=lr, **ADAMW_OPTIONS)]
    if name == "signum":
        return [Signum(params, lr=lr, momentum=SIGNUM_MOMENTUM)]
    sign_iters, transition_iters = transition_budget(steps, transition_frac)
    # tmax=None: the official default tmax=20 clamps every temperature. The schedule asks for
    # tau_j = psi^{-1}(1 - eps) / q_j (about 5 / q_j for tanh), and the entries of the momentum are
    # ~1e-3 or smaller here, so every tau_j is far above 20 and all of them are clamped to 20: the
    # "transition" collapses to a single switch from sign(u) to tanh(20 u) ~ 20 u, a step 10-100x
    # shorter than the sign step, with no smooth path between them. Without the clamp the quantile
    # schedule goes from tau ~ 5 / min|u| (still a sign step) down to tau ~ 1, as designed.
    if name == "softsignum":
        return [SoftSignum(params, lr=lr, momentum=SIGNUM_MOMENTUM, sign_iters=sign_iters,
                           transition_iters=transition_iters, tmax=None)]
    if aux_lr is None or not aux_lr > 0:
        raise GeomrelaxError(f"{name} needs aux_lr > 0 for the AdamW on the non-matrix parameters, got {aux_lr!r}")
    split = split_params(model, matrix_optimizer="softmuon" if name == "softmuon" else "muon", other="adamw")
    aux = dict(lr=aux_lr, **ADAMW_OPTIONS)
    if name == "muon":
        return [torch.optim.Muon(split.matrix, lr=lr, eps=TORCH_MUON_EPS, **MUON_OPTIONS),
                torch.optim.AdamW(split.other, **aux)]
    matrix, other = split.build(dict(lr=lr, sign_iters=sign_iters, transition_iters=transition_iters, tmax=None,
                                     ns_dtype=torch.bfloat16, ns_eps=TORCH_MUON_EPS, **MUON_OPTIONS), aux)
    return [o for o in (matrix, other) if o is not None]
