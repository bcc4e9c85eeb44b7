"""SoftMuon and Muon: momentum, then an orthogonalising (Muon) or smoothed polar (transition) map.

Per parameter (ndim >= 2; N-D tensors such as conv filters act as the (shape[0], -1) matrix), at
step k = 1, 2, ... of its group, with g the gradient (-g when ``maximize``) and M_0 = 0:

    M_k = beta M_{k-1} + (1 - beta) g_k
    u_k = (1 - beta) g_k + beta M_k           (nesterov; u_k = M_k otherwise)
    D_k = NS5(u_k)                            k <= K_s = sign_iters        (Muon phase)
        = u_k (u_k^T u_k + tau_j^-2 I)^{-1/2}   k > K_s, j = k - K_s - 1    (transition)
    theta_k = (1 - lr wd) theta_{k-1} - lr sqrt(max(1, rows/cols)) D_k

The temperatures tau_j come from :func:`geomrelax.schedule.temperature_schedule` with
psi(x) = x / sqrt(1 + x^2), fitted once, at step K_s + 1, to all singular values of the raw
gradients of the group at that step; j >= K = transition_iters keeps the last tau, so a run longer
than planned goes on at that temperature. If every gradient of the group is zero at that step the
fit waits for the first step with a non-zero gradient (zero data carry no scale); until then the
steps keep the Muon map, and j stays tied to the step count
(:func:`geomrelax.schedule.fit_transition`). Without sign_iters/transition_iters (or in
:class:`Muon`) there is no transition.

The fit's medians: for an even count the default takes the mean of the two middle values
(np.median, the statistically usual choice); the official code's torch.median takes the lower one,
which moves the temperatures by up to 0.1% - 1% relative (measured on the singular values of
Gaussian gradient matrices: 9e-4 for 1536 values, 1.1e-2 for 192). ``schedule_median="lower"`` reproduces the
official schedule, and it is the default with ``spectral_map="official"`` (the reproduction setting).

The keyword names and defaults are those of the official code (lr 0.02, momentum 0.95,
weight_decay 0, eps 1e-4, newton_iters 10, tmax 1e9).

Differences from the official code, on purpose:
- ``p.grad`` is never written (the official ``grad.lerp_(momentum, beta)`` overwrites it);
- no torch.distributed call for plain tensors (the official class needs a process group); with
  DTensor parameters (FSDP2) each matrix is gathered whole to one process, round-robin, mapped there
  and scattered back, also when its rows do not divide evenly (geomrelax.optim.distributed);
- the transition map defaults to ``spectral_map="minimax"`` in float32 (at most 1e-2 relative on every
  singular direction above 7e-4 r^{1/8} sigma_max, measured 1e-3 .. 2e-3, at <= 1.47x NS5's
  multiply-adds); ``"official"`` reproduces the coupled Newton-Schulz of the official
  code (5 bfloat16 steps, 31% to 78% off), ``"exact"`` is the SVD formula;
- NS5 runs in float32 on CPUs (bfloat16 on CUDA), see ``ns_dtype``;
- the schedule's medians average the two middle values (see above; ``schedule_median``);
- a non-finite gradient raises NonFiniteError naming the parameter before anything is modified;
- parameters without a gradient are skipped (torch convention; the official code steps them with
  a zero gradient, which keeps moving them along the decaying momentum);
- the rectangular scale sqrt(max(1, rows/cols)) uses the 2-D view (the official code reads the
  last two axes of the original tensor, i.e. kh/kw for a conv filter).

Equality with torch.optim.Muon (tested bitwise, CPU): ``SoftMuon(params, lr, momentum, nesterov,
weight_decay, ns_coefficients, ns_steps, ns_eps=eps, ns_dtype=torch.bfloat16)`` without
sign_iters/transition_iters makes the same steps as ``torch.optim.Muon(params, lr, weight_decay,
momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn=None or "original")`` on 2-D
parameters (both skip parameters without a gradient). torch's defaults differ: lr 1e-3,
weight_decay 0.1, bfloat16 NS5 on every device; it refuses N-D parameters and has no maximize.

The formulas (momentum, Nesterov input, scale, NS5) are those of :mod:`geomrelax.updates`, shared
with the numpy reference :mod:`geomrelax.reference.softmuon`. Built on
:class:`geomrelax.optim.base.GeomOptimizer`: per parameter ``momentum_buffer``; per group ``step``
(the group's step count) and ``schedule`` (the temperatures as a tuple of floats, None before the
fit), so state_dict() round-trips and the continuation is bitwise the same run. Gradients are
checked for NaN/inf before anything changes (NonFiniteError naming the parameter, or
``nonfinite="skip"``); the schedule fit and every direction (new momentum and map output, checked
finite) are computed for all parameters before the first write.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import updates as U
from ..errors import NonFiniteError
from ..robust_fit import MEDIANS
from ..schedule import fit_pending, fit_transition, tau_at, transition_index
from .base import GeomOptimizer, InvalidHyperparameterError, check_bool, check_choice, check_int, check_real
from .spectral_maps import METHODS, NS5_COEFFICIENTS, NS5_EPS, newton_schulz5, smoothed_polar

__all__ = ["Muon", "SoftMuon"]


def _check_dtype(name, value):
    if value is not None and (not isinstance(value, torch.dtype) or not value.is_floating_point):
        raise InvalidHyperparameterError(f"{name} must be a floating torch dtype or None, got {value!r}")


class SoftMuon(GeomOptimizer):
    """SoftMuon (see the module docstring for the update, the schedule and the options).

    Parameters
    ----------
    lr, momentum, nesterov, weight_decay : the step, beta, Nesterov direction, decoupled decay.
    sign_iters, transition_iters : K_s and K; both or neither (neither: Muon).
    eps, newton_iters, tmax : the schedule (saturation level, Newton polishing steps, upper clamp;
        tmax None or inf: no clamp).
    schedule_median : 'mean' or 'lower' (torch.median, the official code's); None: 'lower' with
        spectral_map='official', else 'mean'.
    spectral_map : 'minimax' (default), 'exact' or 'official' (see spectral_maps).
    map_steps, map_dtype : steps and dtype of the transition map (None: the map's defaults -- for minimax
        float16 on CUDA, float32 elsewhere -- except that 'official' uses ns_steps steps, as the official
        code does). The minimax map in half precision (map_dtype=torch.float16 or torch.bfloat16; on CUDA
        products in float16 for both, at most 1.47x a bfloat16 NS5's multiply-adds, never NaN) is within
        1e-2 of the largest singular value of S_tau(u) on directions above 5e-2 sigma_max (measured
        <= 3.1e-3); on CPUs bfloat16 multiplies in bfloat16 (error <= 5e-2 there); see spectral_maps.
    ns_coefficients, ns_steps, ns_eps, ns_dtype : Muon's quintic Newton-Schulz (None dtype:
        bfloat16 on CUDA, float32 elsewhere).
    maximize : ascend instead of descend.
    nonfinite : 'raise' (NonFiniteError naming the parameter) or 'skip' the step with a warning;
        either way nothing changes (geomrelax.optim.base).
    """

    _late_options = ("schedule_median",)

    def __init__(self, params, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0, sign_iters=None,
                 transition_iters=None, eps=1e-4, newton_iters=10, tmax=1e9, spectral_map="minimax",
                 map_steps=None, map_dtype=None, ns_coefficients=NS5_COEFFICIENTS, ns_steps=5, ns_eps=NS5_EPS,
                 ns_dtype=None, maximize=False, nonfinite="raise", schedule_median=None):
        if (sign_iters is None) != (transition_iters is None):
            raise InvalidHyperparameterError(
                f"sign_iters and transition_iters go together (both for a transition, neither for Muon), "
                f"got sign_iters={sign_iters!r}, transition_iters={transition_iters!r}"
            )
        if isinstance(tmax, float) and math.isinf(tmax):
            tmax = None
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                        sign_iters=sign_iters, transition_iters=transition_iters, eps=eps,
                        newton_iters=newton_iters, tmax=tmax, spectral_map=spectral_map, map_steps=map_steps,
                        map_dtype=map_dtype, ns_coefficients=tuple(ns_coefficients), ns_steps=ns_steps,
                        ns_eps=ns_eps, ns_dtype=ns_dtype, maximize=maximize, nonfinite=nonfinite,
                        schedule_median=schedule_median)
        super().__init__(params, defaults)

    # -- options ---------------------------------------------------------------------------------------
    def _validate_group(self, group):
        check_real("lr", group["lr"], low=0.0, allow_tensor=True)
        check_real("momentum", group["momentum"], low=0.0, high=1.0, high_open=True)
        check_real("weight_decay", group["weight_decay"], low=0.0)
        check_bool("nesterov", group["nesterov"])
        check_bool("maximize", group["maximize"])
        coeffs = group["ns_coefficients"]
        if len(coeffs) != 3:
            raise InvalidHyperparameterError(f"ns_coefficients must be three numbers (a, b, c), got {coeffs!r}")
        for c in coeffs:
            check_real("ns_coefficients", c)
        check_int("ns_steps", group["ns_steps"], low=1)
        check_real("ns_eps", group["ns_eps"], low=0.0, low_open=True)
        _check_dtype("ns_dtype", group["ns_dtype"])
        check_choice("spectral_map", group["spectral_map"], METHODS)
        if group["map_steps"] is not None:
            check_int("map_steps", group["map_steps"], low=1)
        _check_dtype("map_dtype", group["map_dtype"])
        check_real("eps", group["eps"], low=0.0, high=1.0, low_open=True, high_open=True)
        check_int("newton_iters", group["newton_iters"], low=1)
        if group["tmax"] is not None:
            check_real("tmax", group["tmax"], low=1.0, allow_inf=True)
        if group["schedule_median"] is not None:
            check_choice("schedule_median", group["schedule_median"], MEDIANS)
        if group["sign_iters"] is not None:
            check_int("sign_iters", group["sign_iters"], low=0)
            check_int("transition_iters", group["transition_iters"], low=1)
            sched = group.get("schedule")
            if sched is not None and len(sched) != group["transition_iters"]:
                raise InvalidHyperparameterError(
                    f"the stored schedule has {len(sched)} temperatures but transition_iters = "
                    f"{group['transition_iters']}")
        for i, p in enumerate(group["params"]):
            if p.ndim < 2:
                names = group.get("param_names")
                name = repr(names[i]) if names else f"parameter {i}"
                raise InvalidHyperparameterError(
                    f"{type(self).__name__} acts on matrices (ndim >= 2); {name} has shape {tuple(p.shape)}: "
                    "give gains, biases and other vectors to AdamW or SoftSignum "
                    "(geomrelax.optim.split.split_params does this)"
                )

    def _init_group_state(self, group):
        group.setdefault("schedule", None)

    def _init_state(self, group, p, state):
        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _state_spec(self, group, p):
        return {"momentum_buffer": (True, p.dtype)}

    def _state_bound(self, group, prev, gmax):
        # |M| <= max(prev, gmax) (a convex combination); u likewise. The maps normalise by
        # ||u||_F <= gmax sqrt(numel), and the official map forms u u^T (<= gmax^2 cols) before
        # normalising: these intermediates must not overflow either. Updates are <= lr sqrt(rows/cols) * 1.3.
        numel = max(p.numel() for p in group["params"])
        bound = max(prev, gmax * math.sqrt(numel))
        if group["sign_iters"] is not None and group["spectral_map"] == "official":
            bound = max(bound, gmax * gmax * numel)
        return bound

    # -- read-only helpers ----------------------------------------------------------------------------
    def phase(self, group: int = 0) -> str:
        """'muon' or 'transition': the phase of the next step of param group ``group``."""
        g = self.param_groups[group]
        return "muon" if transition_index(g["step"] + 1, g["sign_iters"]) is None else "transition"

    def current_tau(self, group: int = 0):
        """The temperature of the next step (None in the Muon phase or before the schedule is fitted)."""
        g = self.param_groups[group]
        return tau_at(g["schedule"], g["step"] + 1, g["sign_iters"])

    @staticmethod
    def median(group) -> str:
        """The schedule fit's median rule of ``group`` ('lower' for the official map unless set)."""
        m = group["schedule_median"]
        if m is None:
            m = "lower" if group["spectral_map"] == "official" else "mean"
        return m

    # -- the step --------------------------------------------------------------------------------------
    def _fit_schedule(self, group, grads, gi, ctx=None):
        """The temperatures from all singular values of the raw gradients (None while they are all 0).
        In a sharded group each matrix is gathered to one process for its singular values, which are
        then shared: the data, and so the schedule, are those of one process."""
        def svdvals(g):
            return torch.linalg.svdvals(U.as_matrix(g.detach()).to(torch.float64)).cpu().numpy()

        if ctx is None or ctx.comm is None:
            z = np.concatenate([svdvals(g) for g in grads])
        else:
            z = np.concatenate(ctx.comm.map_whole_values(ctx.keys, grads, svdvals))
        return fit_transition(z, group["transition_iters"], eps=group["eps"],
                              newton_iters=group["newton_iters"], tmax=group["tmax"], psi="algebraic",
                              median=self.median(group), who=f"{type(self).__name__}: param group {gi}")

    def _direction(self, group, u, tau):
        if tau is None:
            return newton_schulz5(u, group["ns_steps"], group["ns_coefficients"], dtype=group["ns_dtype"],
                                  eps=group["ns_eps"])
        steps = group["map_steps"]
        if steps is None and group["spectral_map"] == "official":
            steps = group["ns_steps"]  # the official code runs its map with ns_steps steps
        return smoothed_polar(u, tau, group["spectral_map"], steps=steps, dtype=group["map_dtype"])

    def _plan(self, group, params, grads, states, step, ctx):
        """The direction D of every parameter, checked finite; nothing is written. Only D is kept (the
        new momentum is recomputed at the commit, bitwise the same): the plan costs one matrix per
        parameter in the map's dtype."""
        if fit_pending(group["schedule"], step, group["sign_iters"]):
            # fitted to the raw gradients of this step (the base restores the group if the step fails)
            group["schedule"] = self._fit_schedule(group, grads, ctx.gi, ctx)
        tau = tau_at(group["schedule"], step, group["sign_iters"])
        beta = self.hyper(group, "momentum")
        us = []
        for p, grad, state in zip(params, grads, states):
            g = -grad if group["maximize"] else grad
            buf = state.get("momentum_buffer")
            M = U.muon_momentum(torch.zeros_like(p) if buf is None else buf, g, beta)
            us.append(U.muon_input(g, M, beta, group["nesterov"]))  # a new tensor: the gradient is not written
        if ctx.comm is None:
            plan = [self._direction(group, U.as_matrix(u), tau) for u in us]
            biggest = self._group_maxabs(plan)
        else:
            # each matrix is orthogonalised whole, on one process (round-robin), and scattered back
            plan = ctx.comm.map_whole(ctx.keys, us,
                                      lambda u: self._direction(group, U.as_matrix(u), tau).reshape(u.shape))
            biggest = ctx.comm.max(self._group_maxabs(plan))
        if not math.isfinite(float(biggest)):
            bad = [self.param_name(ctx.gi, pi) for pi, D in zip(ctx.index, plan) if not bool(torch.isfinite(D).all())]
            where = "the Muon map" if tau is None else f"the {group['spectral_map']!r} map at tau={tau:.4g}"
            raise NonFiniteError(f"{type(self).__name__}: {where} returned non-finite entries for "
                                 f"{'; '.join(bad)}. Nothing was changed.")
        return plan

    def _update(self, group, params, grads, states, step, ctx):
        lr, wd, beta = self.hyper(group, "lr"), self.hyper(group, "weight_decay"), self.hyper(group, "momentum")
        for p, grad, state, D, key in zip(params, grads, states, ctx.plan, ctx.keys):
            g = -grad if group["maximize"] else grad
            buf = state["momentum_buffer"]
            buf.copy_(U.muon_momentum(buf, g, beta))
            rows = key.shape[0]   # the whole matrix's shape (D and p may be shards of it)
            cols = key.numel() // rows
            p.copy_(U.muon_update(p, D, lr, wd, U.muon_scale(rows, cols)))


class Muon(SoftMuon):
    """Muon: SoftMuon without a transition (momentum, Nesterov, NS5, sqrt(max(1, rows/cols)) scale)."""

    def _validate_group(self, group):
        if group.get("sign_iters") is not None:
            raise InvalidHyperparameterError(
                f"Muon has no transition, got sign_iters={group['sign_iters']!r} (a SoftMuon state_dict?); "
                "use SoftMuon")
        super()._validate_group(group)

    def __init__(self, params, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.0,
                 ns_coefficients=NS5_COEFFICIENTS, ns_steps=5, ns_eps=NS5_EPS, ns_dtype=None, maximize=False,
                 nonfinite="raise"):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                         ns_coefficients=ns_coefficients, ns_steps=ns_steps, ns_eps=ns_eps, ns_dtype=ns_dtype,
                         maximize=maximize, nonfinite=nonfinite)
