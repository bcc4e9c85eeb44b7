"""Relaxed: the momentum optimizer of any regularizer V, theta <- theta + lr d_tau(u).

    b_1 = g_1,  b_k = beta b_{k-1} + (1 - dampening) g_k,   u = g + beta b (nesterov) or b
    d_tau(u) = argmin_{d in D} <u, d> + V(d)/tau = grad V*(-tau u)
    theta <- (1 - lr wd) theta + lr d_tau(u)

V is any regularizer of the core: a built-in (by name or object: euclidean gives SGD with step
lr tau, entropic gives tanh steps, box gives Signum), a spectral lift ``geomrelax.spectral(V)``
(matrix parameters; conv filters are flattened to (out, -1) as in Muon), or a user regularizer
from ``geomrelax.from_expr``. A vector regularizer sees each parameter tensor as one flat vector
(for a separable V this is the same as acting entry by entry; for ball_quadratic the l2 ball is
that of the whole tensor). grad V* runs in torch through ``V.torch_grad_conj``; a regularizer
without a torch implementation runs in numpy on the CPU (float64) with a one-time warning.

tau is a float > 0 or a callable ``tau(step) -> float`` of the group's 1-based step count.
With DTensor parameters (FSDP2) a separable V acts on the local shards; any other V gets the whole
tensor, gathered to one process and scattered back (geomrelax.optim.distributed).

Every direction is checked to be finite before anything is written (a user formula may return
NaN): a non-finite direction raises NonFiniteError and leaves parameters and state unchanged
(nonfinite="skip" applies to non-finite gradients only).
"""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import torch

from .. import updates as U
from ..errors import GeomrelaxError, NonFiniteError
from ..lmo import check_tau
from ..regularizers import BUILTIN_NAMES, Regularizer, SeparableRegularizer, as_regularizer
from .base import GeomOptimizer, InvalidHyperparameterError, check_sgd_momentum_options

__all__ = ["Relaxed", "NumpyFallbackWarning", "torch_relaxed_lmo"]


class NumpyFallbackWarning(UserWarning):
    """A regularizer without a torch grad V* is evaluated in numpy on the CPU (slow)."""


def _resolve(V) -> Regularizer:
    V = as_regularizer(V)
    if not V.strongly_convex and not V.bounded:
        raise InvalidHyperparameterError(
            f"regularizer {V.name!r} is neither strongly convex nor has a bounded domain: no relaxed LMO")
    return V


def _as_event(V, u):
    """The view of a parameter-shaped tensor that V acts on (flat vector, or a matrix for spectral V)."""
    if V.event_ndim == 1:
        return u.reshape(-1)
    return u.reshape(u.shape[0], -1) if u.dim() > 2 else u


def torch_relaxed_lmo(V, u, tau, fallback=None):
    """d_tau(u) = grad V*(-tau u) on a parameter-shaped tensor; ``fallback(V)`` is called once per
    use of the numpy route (for the warning). Returns a tensor of u's shape, dtype and device."""
    y = -tau * _as_event(V, u)
    try:
        d = V.torch_grad_conj(y)
    except NotImplementedError:
        if fallback is not None:
            fallback(V)
        with np.errstate(over="ignore"):
            d = torch.from_numpy(np.asarray(V.grad_conj(y.detach().cpu().double().numpy()), dtype=np.float64))
        d = d.to(device=u.device, dtype=u.dtype)
    return d.reshape(u.shape)


class Relaxed(GeomOptimizer):
    """theta <- (1 - lr wd) theta + lr grad V*(-tau u) with SGD-style momentum u.

    Arguments: regularizer (Regularizer or built-in name), tau (float > 0 or callable of the step),
    lr=1e-3, momentum=0.9, dampening=0, nesterov=False, weight_decay=0, maximize=False,
    nonfinite="raise". The regularizer is the same for every param group; tau may differ by group.
    ``foreach`` is accepted for uniformity and has no effect: grad V* is applied tensor by tensor
    (a spectral V needs one SVD per matrix anyway).
    """

    _pickled_attributes = ("regularizer", "_warned_fallback")

    def __init__(self, params, regularizer, tau, lr=1e-3, momentum=0.9, dampening=0.0, nesterov=False,
                 weight_decay=0.0, *, maximize=False, foreach=None, nonfinite="raise"):
        self.regularizer = _resolve(regularizer)
        self._warned_fallback = False
        defaults = dict(tau=tau, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay, maximize=maximize, foreach=foreach, nonfinite=nonfinite)
        super().__init__(params, defaults)

    def __getstate__(self):
        state = super().__getstate__()
        try:
            pickle.dumps(self.regularizer)
        except (pickle.PicklingError, AttributeError, TypeError):
            # the built-ins hold local functions: a built-in travels by its name and is rebuilt on load
            if self.regularizer.name not in BUILTIN_NAMES:
                raise GeomrelaxError(
                    f"Relaxed: regularizer {self.regularizer.name!r} cannot be pickled (it holds local "
                    "functions); save the optimizer's state_dict() instead") from None
            state["regularizer"] = self.regularizer.name
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "regularizer" in state:  # unpickling (torch's load_state_dict also calls this, without it)
            state["regularizer"] = _resolve(state["regularizer"])
        super().__setstate__(state)

    def _validate_group(self, group):
        check_sgd_momentum_options(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise InvalidHyperparameterError(
                f"nesterov=True needs momentum > 0 and dampening = 0, got momentum={group['momentum']!r}, "
                f"dampening={group['dampening']!r}")
        if not callable(group["tau"]):
            check_tau(group["tau"], allow_inf=False)
        if self.regularizer.event_ndim == 2:
            for p in group["params"]:
                if p.dim() < 2:
                    raise InvalidHyperparameterError(
                        f"spectral regularizer {self.regularizer.name!r} needs matrix parameters, got a "
                        f"parameter of shape {tuple(p.shape)}; give vectors to another optimizer "
                        "(geomrelax.optim.split.split_params)")

    def _init_state(self, group, p, state):
        pass  # b_1 = g_1: the buffer is created at the first step

    def _state_spec(self, group, p):
        return {"momentum_buffer": (False, p.dtype)}

    def _state_bound(self, group, prev, gmax):
        beta = group["momentum"]
        if beta == 0:
            return gmax
        b = beta * prev + (1 - group["dampening"]) * gmax if prev > 0 else gmax
        return max(b, gmax + beta * b) if group["nesterov"] else b

    def _fallback(self, V):
        if not self._warned_fallback:
            self._warned_fallback = True
            warnings.warn(f"Relaxed: regularizer {V.name!r} has no torch grad V*; it is evaluated in numpy "
                          "(float64, CPU) at every step, which is slow", NumpyFallbackWarning, stacklevel=5)

    def tau_at(self, group: int = 0, step=None) -> float:
        """The temperature of param group ``group`` at ``step`` (default: its next step)."""
        g = self.param_groups[group]
        step = g["step"] + 1 if step is None else step
        tau = g["tau"](step) if callable(g["tau"]) else g["tau"]
        return check_tau(tau, allow_inf=False)

    def _plan(self, group, params, grads, states, step, ctx):
        """The new buffers and directions d_tau(u) of every parameter, checked finite; nothing is written
        (a user formula may fail or return NaN)."""
        tau = self.tau_at(ctx.gi, step)
        beta, damp = group["momentum"], group["dampening"]
        bus = []
        for g, st in zip(grads, states):
            g = -g if group["maximize"] else g
            bus.append(U.softsignum_direction(g, st.get("momentum_buffer"), beta, damp, group["nesterov"]))

        def lmo(u):
            return torch_relaxed_lmo(self.regularizer, u, tau, self._fallback)

        us = [u for _, u in bus]
        if ctx.comm is not None and not isinstance(self.regularizer, SeparableRegularizer):
            # a non-separable or spectral V needs the whole tensor: mapped on one process, scattered back
            ds = ctx.comm.map_whole(ctx.keys, us, lmo)
        else:
            ds = [lmo(u) for u in us]
        plan = [(b, d) for (b, _), d in zip(bus, ds)]
        # one reduction over all directions (and over the processes of a sharded group), before any write
        biggest = self._group_maxabs(ds)
        if not math.isfinite(float(biggest if ctx.comm is None else ctx.comm.max(biggest))):
            names = "; ".join(self.param_name(ctx.gi, pi) for pi, (_, d) in zip(ctx.index, plan)
                              if not bool(torch.isfinite(d).all()))
            raise NonFiniteError(f"Relaxed: grad V* of regularizer {self.regularizer.name!r} at tau={tau} returned "
                                 f"non-finite entries for {names}. Nothing was changed.")
        return plan

    def _update(self, group, params, grads, states, step, ctx):
        lr, wd = self.hyper(group, "lr"), group["weight_decay"]
        for p, st, (b, d) in zip(params, states, ctx.plan):
            if b is not None:
                if "momentum_buffer" in st:
                    st["momentum_buffer"].copy_(b)
                else:
                    st["momentum_buffer"] = b
            p.copy_(U.relaxed_step(p, d, lr, wd))
