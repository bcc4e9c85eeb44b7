"""SSVR: the sign of a STORM-type variance-reduced gradient estimator.

Step t = 1, 2, ..., x_t the parameters, g(x; xi_t) the gradient at x on the sample xi_t of this step
(-g when ``maximize``):

    v_1 = g(x_1; xi_1)
    v_t = g(x_t; xi_t) + (1 - a) (v_{t-1} - g(x_{t-1}; xi_t))      (t >= 2; the same sample at two points)
    x_{t+1} = (1 - lr wd) x_t - lr sign(v_t)

(Sign-based Stochastic Variance Reduction, claimed rate E min ||grad f||_1 = O(d^1/2 T^-1/3) with
lr ~ T^-2/3 and a ~ T^-2/3; a = 1 is signSGD.)

API: the second gradient needs the sample of this step at the previous point, so ``step`` takes a
closure that recomputes the loss and gradients on *the same sample* each time it is called within one
step (zero_grad, forward on the step's batch, backward, return the loss)::

    batch = next(loader)
    def closure():
        opt.zero_grad()
        loss = loss_fn(model(batch.x), batch.y)
        loss.backward()
        return loss
    opt.step(closure)

From step 2 on, ``step`` first moves the parameters to x_{t-1} (kept in ``state['prev_param']``),
calls the closure and keeps the gradients as g(x_{t-1}; xi_t), moves them back to x_t (bitwise, also
when the closure raises) and calls the closure again: p.grad is then g(x_t; xi_t), and the loss returned
is the one at x_t. Without a closure only a = 1 (signSGD) can step after the first step; otherwise
the step is refused with a GeomrelaxError before anything changes. Formulas:
:func:`geomrelax.updates.storm_estimator`, shared with :func:`geomrelax.reference.ssvr_step`.
"""

from __future__ import annotations

import torch

from .. import updates as U
from ..errors import GeomrelaxError, NonFiniteError
from .base import GeomOptimizer, check_bool, check_real

__all__ = ["SSVR"]


class SSVR(GeomOptimizer):
    """SSVR (see the module docstring): lr >= 0, a in (0, 1], weight_decay >= 0, maximize."""

    _prev_grads = None   # {param: g(x_{t-1}; xi_t)} during one step only

    def __init__(self, params, lr=1e-3, a=0.1, weight_decay=0.0, maximize=False, nonfinite="raise"):
        super().__init__(params, dict(lr=lr, a=a, weight_decay=weight_decay, maximize=maximize,
                                      nonfinite=nonfinite))

    def _validate_group(self, group):
        check_real("lr", group["lr"], low=0.0, allow_tensor=True)
        check_real("a", group["a"], low=0.0, high=1.0, low_open=True)
        check_real("weight_decay", group["weight_decay"], low=0.0)
        check_bool("maximize", group["maximize"])

    def _init_state(self, group, p, state):
        state["estimator"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["prev_param"] = p.detach().clone(memory_format=torch.preserve_format)

    def _state_spec(self, group, p):
        return {"estimator": (True, p.dtype), "prev_param": (True, p.dtype)}

    @torch.no_grad()
    def step(self, closure=None):
        if closure is None:
            return super().step()
        moved = [(p, st["prev_param"]) for g in self.param_groups for p in g["params"]
                 if (st := self.state.get(p)) and p.numel()]
        prev = {}
        if moved:
            saved = [p.detach().clone() for p, _ in moved]
            try:
                for p, x_prev in moved:
                    p.copy_(x_prev)
                with torch.enable_grad():
                    closure()
                prev = {p: p.grad.detach().clone() for p, _ in moved if p.grad is not None}
            finally:
                for (p, _), s in zip(moved, saved):
                    p.copy_(s)
        self._prev_grads = prev
        try:
            return super().step(closure)
        finally:
            self._prev_grads = None

    def _plan(self, group, params, grads, states, step, ctx):
        a, sign = self.hyper(group, "a"), (-1.0 if group["maximize"] else 1.0)
        prev = self._prev_grads or {}
        plan = []
        for pi, grad, st in zip(ctx.index, grads, states):
            real = group["params"][pi]
            g = sign * grad
            if not self.state.get(real) or a == 1.0:
                plan.append(g.clone())
                continue
            gp = prev.get(real)
            if gp is None:
                raise GeomrelaxError(
                    f"SSVR: {self.param_name(ctx.gi, pi)} needs g(x_(t-1); xi_t), the gradient of this step's "
                    "sample at the previous point: call step(closure) with a closure that recomputes the loss "
                    "on the same sample (or use a = 1, signSGD). Nothing was changed.")
            if not bool(torch.isfinite(gp).all()):
                raise NonFiniteError(f"SSVR: the gradient at the previous point of {self.param_name(ctx.gi, pi)} "
                                     "is not finite. Nothing was changed.")
            plan.append(U.storm_estimator(st["estimator"], g, sign * gp, a))
        return plan

    def _update(self, group, params, grads, states, step, ctx):
        lr, wd = self.hyper(group, "lr"), self.hyper(group, "weight_decay")
        for p, st, v in zip(params, states, ctx.plan):
            st["estimator"].copy_(v)
            st["prev_param"].copy_(p)
            p.copy_(U.sign_step(U.decay(p, lr, wd), v, lr))
