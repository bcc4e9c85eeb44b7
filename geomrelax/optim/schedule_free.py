"""Schedule-free (SF) wrapping of an LMO step: no learning-rate schedule, an averaged iterate.

Defazio et al. (2024), with the gradient step replaced by one of our LMO directions. Step t = 1, 2, ...,
z_1 = x_1 = y_1 = the initial parameters, g_t the gradient at y_t (-g when ``maximize``):

    d_t = lmo(g_t):   sign(g)                               lmo='sign'     (Signum's map)
                      psi(tau g), psi = tanh or algebraic     lmo='softsign' (SoftSignum at fixed tau)
                      sqrt(max(1, rows/cols)) NS5(g)          lmo='muon'     (matrices)
                      -grad V*(-tau g)                        lmo='relaxed'  (a built-in regularizer V)
    z_{t+1} = z_t - lr (d_t + wd y_t)                         (weight decay at the gradient point)
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},   c_{t+1} = w_{t+1} / (w_1 + ... + w_{t+1}),  w_i = i^r
    y_{t+1} = (1 - beta) z_{t+1} + beta x_{t+1}

so x_{t+1} = sum_i w_i z_i / sum_i w_i (the averaging identity; r = ``weight_power``, 0: the uniform
average). There is no momentum buffer: the interpolation y plays its role. The parameters hold y (where
the gradient is taken) in training mode; ``eval()`` puts the average x into them (for evaluation and
checkpoints of the model) and ``train()`` puts y back; ``step`` refuses to run in eval mode. State per
parameter: ``z`` and ``x``; per group: ``train_mode``. Formulas: :func:`geomrelax.updates.sf_point`,
:func:`geomrelax.updates.sf_average`, shared with :func:`geomrelax.reference.schedule_free_step`.
"""

from __future__ import annotations

import torch

from .. import updates as U
from ..errors import GeomrelaxError
from ..regularizers import BUILTIN_NAMES, SeparableRegularizer, as_regularizer
from .base import GeomOptimizer, InvalidHyperparameterError, check_bool, check_choice, check_int, check_real
from .relaxed import torch_relaxed_lmo
from .spectral_maps import newton_schulz5

__all__ = ["ScheduleFree", "LMOS"]

LMOS = ("sign", "softsign", "muon", "relaxed")


class ScheduleFree(GeomOptimizer):
    """SF around an LMO (see the module docstring). Options: lr >= 0, beta in [0, 1], lmo (one of LMOS),
    tau > 0 (softsign, relaxed), psi 'tanh' or 'algebraic' (softsign), regularizer (a built-in name,
    relaxed), weight_decay >= 0, weight_power >= 0, ns_steps (muon), maximize."""

    def __init__(self, params, lr=1e-3, beta=0.9, lmo="sign", tau=None, psi="tanh", regularizer=None,
                 weight_decay=0.0, weight_power=0.0, ns_steps=5, maximize=False, nonfinite="raise"):
        super().__init__(params, dict(lr=lr, beta=beta, lmo=lmo, tau=tau, psi=psi, regularizer=regularizer,
                                      weight_decay=weight_decay, weight_power=weight_power, ns_steps=ns_steps,
                                      maximize=maximize, nonfinite=nonfinite))

    def _validate_group(self, group):
        check_real("lr", group["lr"], low=0.0, allow_tensor=True)
        check_real("beta", group["beta"], low=0.0, high=1.0)
        lmo = check_choice("lmo", group["lmo"], LMOS)
        check_real("weight_decay", group["weight_decay"], low=0.0)
        check_real("weight_power", group["weight_power"], low=0.0)
        check_int("ns_steps", group["ns_steps"], low=1)
        check_bool("maximize", group["maximize"])
        check_choice("psi", group["psi"], U.PSI_KINDS)
        if lmo in ("softsign", "relaxed"):
            if group["tau"] is None:
                raise InvalidHyperparameterError(f"lmo={lmo!r} needs a temperature tau > 0")
            check_real("tau", group["tau"], low=0.0, low_open=True)
        if lmo == "relaxed" and group["regularizer"] not in BUILTIN_NAMES:
            raise InvalidHyperparameterError(f"lmo='relaxed' needs regularizer = one of {sorted(BUILTIN_NAMES)}, "
                                             f"got {group['regularizer']!r}")
        if lmo == "muon":
            for p in group["params"]:
                if p.ndim < 2:
                    raise InvalidHyperparameterError(f"lmo='muon' acts on matrices; a parameter has shape "
                                                     f"{tuple(p.shape)}")

    def _init_group_state(self, group):
        group.setdefault("train_mode", True)

    def _init_state(self, group, p, state):
        state["z"] = p.detach().clone(memory_format=torch.preserve_format)
        state["x"] = p.detach().clone(memory_format=torch.preserve_format)

    def _state_spec(self, group, p):
        return {"z": (True, p.dtype), "x": (True, p.dtype)}

    # -- modes ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def eval(self):
        """Put the averaged iterate x into the parameters (those with a state)."""
        self._swap(False)

    @torch.no_grad()
    def train(self):
        """Put the gradient point y = (1 - beta) z + beta x back into the parameters."""
        self._swap(True)

    def _swap(self, train):
        for group in self.param_groups:
            if group["train_mode"] == train:
                continue
            for p in group["params"]:
                st = self.state.get(p)
                if st:
                    p.copy_(U.sf_point(st["z"], st["x"], group["beta"]) if train else st["x"])
            group["train_mode"] = train

    # -- the step ------------------------------------------------------------------------------------
    def direction(self, group, g):
        """d = lmo(g) (see the module docstring) for one parameter-shaped gradient."""
        lmo = group["lmo"]
        if lmo == "sign":
            return g.sign()
        if lmo == "softsign":
            return U.psi(group["tau"] * g, group["psi"])
        if lmo == "muon":
            m = U.as_matrix(g)
            O = newton_schulz5(m, group["ns_steps"], dtype=g.dtype)
            return (U.muon_scale(*m.shape) * O).reshape(g.shape)
        return -torch_relaxed_lmo(as_regularizer(group["regularizer"]), g, group["tau"])

    def _plan(self, group, params, grads, states, step, ctx):
        if not group["train_mode"]:
            raise GeomrelaxError("ScheduleFree.step in eval mode (the parameters hold the average x): call "
                                 "train() first. Nothing was changed.")
        sign = -1.0 if group["maximize"] else 1.0
        gs = [sign * g for g in grads]
        elementwise = group["lmo"] in ("sign", "softsign") or (
            group["lmo"] == "relaxed" and isinstance(as_regularizer(group["regularizer"]), SeparableRegularizer))
        if ctx.comm is None or elementwise:
            return [self.direction(group, g) for g in gs]
        # a whole-tensor map (Muon, a non-separable regularizer) on sharded parameters: each tensor is
        # gathered to one process, mapped whole and scattered back, as SoftMuon does
        return ctx.comm.map_whole(ctx.keys, gs, lambda g: self.direction(group, g))

    def _update(self, group, params, grads, states, step, ctx):
        lr, wd, beta = self.hyper(group, "lr"), self.hyper(group, "weight_decay"), group["beta"]
        c = U.sf_coefficient(step, group["weight_power"])
        for p, st, d in zip(params, states, ctx.plan):
            z = st["z"] - lr * (d + wd * p) if wd else st["z"] - lr * d
            x = U.sf_average(st["x"], z, c)
            st["z"].copy_(z)
            st["x"].copy_(x)
            p.copy_(U.sf_point(z, x, beta))
