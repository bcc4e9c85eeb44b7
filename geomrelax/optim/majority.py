"""SignSGD with majority vote over M workers, with Byzantine workers.

Step t, worker m = 1..M with gradient g_m (its own data: a shard, a shift of the problem; -g_m when
``maximize``):

    s_m = sign(g_m)             honest workers
    s_m = -sign(g_m)            the first ``byzantine`` workers (adversaries sending the negation)
    x_{t+1} = (1 - lr wd) x_t - lr sign(sum_m s_m)            (a tie gives 0)

(Bernstein et al.: signSGD with majority vote; with fewer than M/2 adversaries the vote keeps the
sign of the honest majority wherever the workers agree.) Three ways to give the workers' gradients:

- ``step(worker_grads=[[g_1 of param 1, g_1 of param 2, ...], [g_2 ...], ...])``: per worker, one
  tensor (or None) per parameter of all param groups in order;
- ``step(worker_closures=[c_1, ..., c_M])``: each closure computes its worker's loss and gradients
  (zero_grad, forward, backward); the gradients are copied after each call (p.grad is left as the
  last worker's);
- ``step()``: one worker, p.grad.

Every worker's gradient is checked finite (NonFiniteError naming the worker and the parameter) before
anything changes. No per-parameter state. Formulas: :func:`geomrelax.updates.worker_signs` (the step is
:func:`geomrelax.updates.sign_step` of the tally), shared with :func:`geomrelax.reference.majority_step`.
"""

from __future__ import annotations

import torch

from .. import updates as U
from ..errors import GeomrelaxError
from .base import GeomOptimizer, GroupStep, check_bool, check_int, check_real

__all__ = ["MajorityVote"]


class MajorityVote(GeomOptimizer):
    """SignSGD with majority vote (see the module docstring): lr >= 0, byzantine (an int >= 0, at most
    the number of workers of a step), weight_decay >= 0, maximize."""

    _workers = None   # {param: list of the workers' gradients} during one step only

    def __init__(self, params, lr=1e-3, byzantine=0, weight_decay=0.0, maximize=False, nonfinite="raise"):
        super().__init__(params, dict(lr=lr, byzantine=byzantine, weight_decay=weight_decay, maximize=maximize,
                                      nonfinite=nonfinite))

    def _validate_group(self, group):
        check_real("lr", group["lr"], low=0.0, allow_tensor=True)
        check_int("byzantine", group["byzantine"], low=0)
        check_real("weight_decay", group["weight_decay"], low=0.0)
        check_bool("maximize", group["maximize"])

    def _init_state(self, group, p, state):
        pass

    def _state_spec(self, group, p):
        return {}

    def _state_bound(self, group, prev, gmax):
        return prev     # no state; the tally is bounded by the number of workers

    def _all_params(self):
        return [p for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self, closure=None, worker_grads=None, worker_closures=None):
        if worker_grads is not None and worker_closures is not None:
            raise GeomrelaxError("give worker_grads or worker_closures, not both")
        params = self._all_params()
        if worker_closures is not None:
            worker_grads = []
            for c in worker_closures:
                with torch.enable_grad():
                    c()
                worker_grads.append([None if p.grad is None else p.grad.detach().clone() for p in params])
        if worker_grads is None:
            return self._stateless(super().step(closure))
        worker_grads = list(worker_grads)
        if not worker_grads:
            raise GeomrelaxError("MajorityVote needs at least one worker")
        per_param = {}
        for m, gs in enumerate(worker_grads):
            gs = list(gs)
            if len(gs) != len(params):
                raise GeomrelaxError(f"worker {m} gives {len(gs)} gradients for {len(params)} parameters")
            for p, g in zip(params, gs):
                if g is None:
                    continue
                if not torch.is_tensor(g) or g.shape != p.shape:
                    raise GeomrelaxError(f"worker {m}: a gradient of shape {tuple(getattr(g, 'shape', ()))} for a "
                                         f"parameter of shape {tuple(p.shape)}")
                per_param.setdefault(p, {})[m] = g
        for p, d in per_param.items():
            if len(d) != len(worker_grads):
                raise GeomrelaxError(f"a parameter of shape {tuple(p.shape)} has gradients from workers {sorted(d)} "
                                     f"only: every worker must give one (or none do)")
        self._workers = {p: [d[m] for m in sorted(d)] for p, d in per_param.items()}
        try:
            return self._stateless(super().step(closure))
        finally:
            self._workers = None

    def _stateless(self, loss):
        # no per-parameter state: the base's step leaves empty entries, which state_dict would save
        for p in [p for p, st in self.state.items() if not st]:
            del self.state[p]
        return loss

    def _collect(self):
        if self._workers is None:
            work = super()._collect()
            for w in work:
                w.grads = [g.unsqueeze(0) for g in w.grads]   # one worker
            return work
        work = []
        for gi, group in enumerate(self.param_groups):
            params, grads, index = [], [], []
            for pi, p in enumerate(group["params"]):
                gs = self._workers.get(p)
                if gs is None or p.numel() == 0:
                    continue
                params.append(p)
                grads.append(torch.stack([g.to(p.dtype) for g in gs]))
                index.append(pi)
            if params:
                w = GroupStep(gi, group, params, grads, index)
                if hasattr(w, "keys"):
                    w.keys = params     # the state's keys (the base's GroupStep may carry them)
                work.append(w)
        return work

    def _describe_nonfinite(self, w):
        parts = []
        for pi, G in zip(w.index, w.grads):
            for m in range(G.shape[0]):
                n_bad = int((~torch.isfinite(G[m])).sum())
                if n_bad:
                    parts.append(f"worker {m}, {self.param_name(w.gi, pi)}: {n_bad} of {G[m].numel()} gradient "
                                 "entries are non-finite")
        return "; ".join(parts)

    def _plan(self, group, params, grads, states, step, ctx):
        byz = group["byzantine"]
        M = grads[0].shape[0]
        if byz > M:
            raise GeomrelaxError(f"MajorityVote: byzantine = {byz} workers but this step has {M}")
        sign = -1.0 if group["maximize"] else 1.0
        return [U.worker_signs([sign * g for g in G.unbind(0)], byz) for G in grads]

    def _update(self, group, params, grads, states, step, ctx):
        lr, wd = self.hyper(group, "lr"), self.hyper(group, "weight_decay")
        for p, tally in zip(params, ctx.plan):
            p.copy_(U.sign_step(U.decay(p, lr, wd), tally, lr))
