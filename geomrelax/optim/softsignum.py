"""SoftSignum and Signum: sign steps, then a smooth transition psi(tau_j u) driven by a schedule.

Per param group, step k = 1, 2, ... (docs/theory.md, "Update rules"; formulas in :mod:`geomrelax.updates`):

    b_1 = g_1,  b_k = beta b_{k-1} + (1 - dampening) g_k,   u_k = g_k + beta b_k (nesterov) or b_k
    theta <- (1 - lr wd) theta
    k <= K_s (sign phase):           theta <- theta - lr_eff sign(u_k)
    j = k - K_s - 1 >= 0:            theta <- theta - lr_eff psi(tau_j u_k),  tau_j = tau_{K-1} for j >= K

with lr_eff = lr / ||u||_2 (normalized), lr ||u||_2 (sign_norm) or lr; ||u||_2 is over the whole
group. The temperatures tau_0 >= ... >= tau_{K-1} in [1, tmax] come from
:func:`geomrelax.schedule.temperature_schedule` applied once, at step K_s + 1, to all entries of
u over the group; they are kept in the param group (``group['schedule']``, a tuple of floats)
so that state_dict / load_state_dict continue a run bitwise. The schedule step itself runs on
copies of the group's parameters and buffers (once per run), so that a failing fit changes nothing.
If u is all zero at that step (the step is then a no-op for every temperature: psi(tau 0) = 0) the
fit waits for the first step with a non-zero u, and j stays tied to the step count
(:func:`geomrelax.schedule.fit_transition`). The fit's medians average the two middle values for an
even count (np.median); ``schedule_median="lower"`` takes the lower one, as the official code's
torch.median (mu and s then move by up to half the gap between the two middle values).

Differences from the official code (brain-lab-research/softsign, softsignum.py), all deliberate:
- past step K_s + K the last temperature is kept (the official code raises IndexError);
- the step count is ``group['step']``, not ``state['step']`` beside the per-parameter states;
- a NaN/inf gradient raises NonFiniteError (or skips the step with ``nonfinite="skip"``) before
  anything changes; the official code lets NaN into the momentum (sign(NaN) = 0);
- with normalized and u = 0 the step is 0 (the official code divides by 0);
- the schedule collapsing to a switch (official tmax = 20 with momenta ~1e-3) is warned about with
  :class:`ScheduleCollapseWarning`. To avoid it, pass ``tmax=None`` (no clamp) or a tmax of at least
  psi^{-1}(1 - eps) / q where q is the typical |u| (for |u| ~ 1e-3 and psi = tanh: tmax >= 5e3).

Implementations (the tests check each against ``eager``):
- default on CPU (foreach=None, fused=None), float32 and float64: compiled kernels (numba,
  :mod:`geomrelax.optim.compiled`), one loop per tensor that reads p, g, b and writes p, b once (the memory
  floor), the gradient check one vectorised read. Sign steps and the momentum buffer are bitwise the eager
  path's; a float32 tanh step uses a rational tanh evaluated in float32 (<= 17 ulps by analysis, 6
  measured; ATen's: 1), :mod:`geomrelax.optim.tanh_approx`; float64 tanh steps and half types take the
  chunked path. The kernels compile on first use (1-2 s, then cached
  on disk); without numba the chunked path runs;
- foreach=False on CPU: the same formulas in place, each tensor in cache-sized chunks
  (:mod:`geomrelax.optim.kernels`): bitwise the eager path in every dtype, ATen's tanh included, no
  compilation (the reproduction setting). Steps that need the whole group first (normalized / sign_norm, the
  schedule fit) and non-contiguous tensors run eagerly on either path;
- eager: the formulas of geomrelax.updates per tensor, out of place (the reference);
- foreach=True: torch._foreach_* in-place sequence (default on accelerators; fused multiply-adds);
- fused=True: compiled kernels, one per tensor, called from one compiled function per group (torch.compile
  of the same formulas; reads p, g, b and writes p, b once). In float32 / bfloat16 / float16 its tanh is :func:`geomrelax.updates.fast_tanh`
  (one exp and a polynomial, within 2 ulps of tanh; ATen's and inductor's tanh are several times
  slower than memory on CPU). Not with normalized / sign_norm. The first step of each kind compiles
  (10-60 s on CPU); if compilation fails the optimizer warns once and runs eagerly.
"""

from __future__ import annotations

import functools
import math
import warnings

import torch

from .. import updates as U
from ..robust_fit import MEDIANS
from ..schedule import ScheduleCollapseWarning, fit_pending, fit_transition, tau_at, transition_index
from . import compiled as C
from .kernels import softsignum_chunked
from .base import (GeomOptimizer, InvalidHyperparameterError, check_bool, check_choice, check_int, check_real,
                   check_sgd_momentum_options)

__all__ = ["SoftSignum", "Signum", "ScheduleCollapseWarning"]


_FUSED_CACHE: dict = {}
_FUSED_BROKEN: list = []


def _fused_body(p, g, b, lr_eff, keep, beta, one_minus_damp, tau, *, has_buf, nesterov, sign_phase, kind,
                maximize, decay, fast):
    """The update of one tensor, written with the updates formulas; p and b are updated in place."""
    g = -g if maximize else g
    if has_buf:
        bn = beta * b + one_minus_damp * g
        u = U.momentum_direction(g, bn, beta, nesterov)
        b.copy_(bn)
    else:
        u = g
    theta = p * keep if decay else p
    new = U.sign_step(theta, u, lr_eff) if sign_phase else U.soft_step(theta, u, lr_eff, tau, kind, fast)
    p.copy_(new)


def _fused_kernel(**flags):
    """One compiled function over the lists of tensors of a group: inductor emits the per-tensor
    kernels and a single wrapper calls them, so the per-tensor dispatch cost (~40 us, measured: 2 ms
    a step for 50 tensors, half the memory floor of 10M parameters on 2 threads) is paid once."""
    key = tuple(sorted(flags.items()))
    fn = _FUSED_CACHE.get(key)
    if fn is None:
        def body(ps, gs, bs, lr_eff, keep, beta, one_minus_damp, tau):
            for p, g, b in zip(ps, gs, bs):
                _fused_body(p, g, b, lr_eff, keep, beta, one_minus_damp, tau, **flags)
        # static shapes: a group's shapes do not change between steps, and specialised kernels are faster
        fn = torch.compile(body, dynamic=False, fullgraph=True)
        _FUSED_CACHE[key] = fn
    return fn


class SoftSignum(GeomOptimizer):
    """SoftSignum (Feoktistov et al.): Signum for ``sign_iters`` steps, then psi(tau_j u) steps.

    Arguments (official names and defaults): lr=1e-3, momentum=0, dampening=0, weight_decay=0,
    nesterov=False, sign_iters=9000 (K_s), transition_iters=1000 (K), eps=1e-4, newton_iters=10,
    tmax=20.0 (None: no upper clamp), sign_norm=False, normalized=False, maximize=False,
    foreach=None. Additions: alpha_sign (if given, the total budget K_s + K is split as
    K_s = round(alpha_sign (K_s + K)); constructor only), psi ("tanh" or "algebraic"),
    fused (compiled kernel), nonfinite ("raise" or "skip"), schedule_median ("mean" or "lower", the
    official code's torch.median).
    """

    _has_transition = True
    _late_options = ("schedule_median",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 sign_iters=9000, transition_iters=1000, alpha_sign=None, eps=1e-4, newton_iters=10,
                 tmax=20.0, psi="tanh", normalized=False, sign_norm=False, *, maximize=False, foreach=None,
                 fused=None, nonfinite="raise", schedule_median="mean"):
        if alpha_sign is not None:
            a = check_real("alpha_sign", alpha_sign, low=0.0, high=1.0)
            total = check_int("sign_iters", sign_iters) + check_int("transition_iters", transition_iters)
            sign_iters = int(round(a * total))
            transition_iters = total - sign_iters
            if transition_iters < 1:
                raise InvalidHyperparameterError(
                    f"alpha_sign={alpha_sign!r} leaves no transition step out of sign_iters + transition_iters "
                    f"= {total}; use Signum for sign steps only")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, sign_iters=sign_iters, transition_iters=transition_iters, eps=eps,
                        newton_iters=newton_iters, tmax=tmax, psi=psi, normalized=normalized,
                        sign_norm=sign_norm, maximize=maximize, foreach=foreach, fused=fused,
                        nonfinite=nonfinite, schedule_median=schedule_median)
        super().__init__(params, defaults)

    # -- options ---------------------------------------------------------------------------------
    def _validate_group(self, group):
        check_sgd_momentum_options(group, ("nesterov", "normalized", "sign_norm", "maximize"))
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise InvalidHyperparameterError(
                f"nesterov=True needs momentum > 0 and dampening = 0, got momentum={group['momentum']!r}, "
                f"dampening={group['dampening']!r}")
        if group["normalized"] and group["sign_norm"]:
            raise InvalidHyperparameterError("normalized and sign_norm are mutually exclusive; both are True")
        if group["fused"] is not None:
            check_bool("fused", group["fused"])
            if group["fused"] and (group["normalized"] or group["sign_norm"]):
                raise InvalidHyperparameterError(
                    "fused=True does not support normalized or sign_norm (they need ||u|| over the group "
                    "before any parameter moves); use foreach=True")
        if self._has_transition:
            check_int("sign_iters", group["sign_iters"], low=0)
            check_int("transition_iters", group["transition_iters"], low=1)
            check_real("eps", group["eps"], low=0.0, high=1.0, low_open=True, high_open=True)
            check_int("newton_iters", group["newton_iters"], low=1)
            if group["tmax"] is not None:
                check_real("tmax", group["tmax"], low=1.0, allow_inf=True)
            check_choice("psi", group["psi"], U.PSI_KINDS)
            check_choice("schedule_median", group["schedule_median"], MEDIANS)
            sched = group.get("schedule")
            if sched is not None and len(sched) != group["transition_iters"]:
                raise InvalidHyperparameterError(
                    f"the stored schedule has {len(sched)} temperatures but transition_iters = "
                    f"{group['transition_iters']}")

    def _init_group_state(self, group):
        group.setdefault("schedule", None)

    def _init_state(self, group, p, state):
        pass  # the momentum buffer is created at the first step (b_1 = g_1)

    def _state_spec(self, group, p):
        return {"momentum_buffer": (False, p.dtype)}

    def _state_bound(self, group, prev, gmax):
        beta = group["momentum"]
        if beta == 0:
            bound = gmax
        else:
            b = beta * prev + (1 - group["dampening"]) * gmax if prev > 0 else gmax
            bound = max(b, gmax + beta * b) if group["nesterov"] else b
        if group["sign_norm"]:
            numel = sum(p.numel() for p in group["params"])
            bound = max(bound, self.hyper(group, "lr") * math.sqrt(numel) * bound)
        return bound

    def _needs_transaction(self, group, step):
        return self._is_schedule_step(group, step)

    def _sign_iters(self, group):
        """K_s, or None without a transition (Signum)."""
        return group["sign_iters"] if self._has_transition else None

    def _is_schedule_step(self, group, step):
        return fit_pending(group.get("schedule"), step, self._sign_iters(group))

    # -- read-only helpers ----------------------------------------------------------------------
    def phase(self, group: int = 0) -> str:
        """'sign' or 'transition': the phase of the next step of param group ``group``."""
        g = self.param_groups[group]
        return "sign" if transition_index(g["step"] + 1, self._sign_iters(g)) is None else "transition"

    def current_tau(self, group: int = 0):
        """The temperature of the next step (None in the sign phase or before the schedule exists)."""
        g = self.param_groups[group]
        return tau_at(g.get("schedule"), g["step"] + 1, self._sign_iters(g))

    # -- the step --------------------------------------------------------------------------------
    def _fit_schedule(self, group, us, gi, ctx=None):
        z, fit = self._schedule_data(us, ctx, group["schedule_median"])
        if z is None and fit is None:
            return None   # all zero over every process: the fit waits for data
        return fit_transition(z, group["transition_iters"], eps=group["eps"], newton_iters=group["newton_iters"],
                              tmax=group["tmax"], psi=group["psi"], median=group["schedule_median"],
                              who=f"{type(self).__name__}: param group {gi}", fit=fit)

    def _update(self, group, params, grads, states, step, ctx):
        # the group's norm and schedule span the processes of a sharded group: the eager path reduces them
        whole = ctx.comm is not None and (group["normalized"] or group["sign_norm"])
        if self._is_schedule_step(group, step) or whole:
            return self._update_eager(group, params, grads, states, step, ctx.gi, ctx)
        if step > 1 and group["fused"] and not _FUSED_BROKEN:
            return self._update_fused(group, params, grads, states, step)
        if self.use_foreach(group, params):
            return self._update_foreach(group, params, grads, states, step)
        if self._chunked_applies(group, params, grads):
            compiled = group["foreach"] is None and self._compiled_applies(group, params, grads, step)
            return self._update_chunked(group, params, grads, states, step, compiled)
        return self._update_eager(group, params, grads, states, step, ctx.gi)

    @staticmethod
    def _chunked_applies(group, params, grads):
        """The chunked in-cache path (:mod:`geomrelax.optim.kernels`) takes a step that needs no
        reduction over the group, on contiguous CPU tensors."""
        return not (group["normalized"] or group["sign_norm"]) and all(
            p.device.type == "cpu" and p.is_contiguous() and g.is_contiguous() for p, g in zip(params, grads))

    def _compiled_applies(self, group, params, grads, step):
        """The compiled kernels (:mod:`geomrelax.optim.compiled`) take float32 / float64 CPU tensors when
        numba is installed; the kernel of this step's phase is compiled (or loaded) here, before any write."""
        kind = "sign" if self._phase_args(group, step)[0] else group["psi"]
        return C.usable(kind, params, grads)

    def _update_chunked(self, group, params, grads, states, step, compiled=False):
        """In place, 5 words per entry moved: the compiled kernels (one loop per tensor), or the eager
        formulas on cache-sized chunks (bitwise the eager path)."""
        beta = group["momentum"]
        fresh = None
        bufs = None
        if beta != 0:
            fresh = ["momentum_buffer" not in st for st in states]
            for st, g, new in zip(states, grads, fresh):
                if new:  # b_1 = g_1 (negated for maximize, as the eager direction)
                    st["momentum_buffer"] = torch.neg(g) if group["maximize"] else g.clone()
            bufs = [st["momentum_buffer"] for st in states]
        lr, wd = self.hyper(group, "lr"), group["weight_decay"]
        _, tau = self._phase_args(group, step)
        # compiled: _compiled_applies has just checked the lists (usable)
        run = functools.partial(C.softsignum_step, checked=True) if compiled else softsignum_chunked
        run(params, grads, bufs, lr_eff=lr, keep=1.0 - lr * wd if wd != 0 else 1.0, beta=beta,
            one_minus_damp=1.0 - group["dampening"], nesterov=group["nesterov"],
            maximize=group["maximize"], tau=tau, psi_kind=group["psi"], fresh=fresh)

    def _phase_args(self, group, step):
        """(sign step?, tau): a sign step in the sign phase and while the fit waits for data."""
        tau = tau_at(group.get("schedule"), step, self._sign_iters(group))
        return tau is None, tau

    def _update_eager(self, group, params, grads, states, step, gi=0, ctx=None):
        """The reference: updates.py formulas per tensor (out of place), then copied in."""
        beta, damp, nesterov = group["momentum"], group["dampening"], group["nesterov"]
        lr, wd = self.hyper(group, "lr"), group["weight_decay"]
        whole_group = group["normalized"] or group["sign_norm"] or self._is_schedule_step(group, step)

        def direction(g, st):
            g = -g if group["maximize"] else g
            b, u = U.softsignum_direction(g, st.get("momentum_buffer"), beta, damp, nesterov)
            return b, u

        def commit(p, st, b, u, lr_eff, sign_phase, tau):
            if b is not None:
                if "momentum_buffer" in st:
                    st["momentum_buffer"].copy_(b)
                else:
                    st["momentum_buffer"] = b
            theta = U.decay(p, lr, wd)
            new = U.sign_step(theta, u, lr_eff) if sign_phase else U.soft_step(theta, u, lr_eff, tau, group["psi"])
            p.copy_(new)

        if not whole_group:
            sign_phase, tau = self._phase_args(group, step)
            for p, g, st in zip(params, grads, states):
                b, u = direction(g, st)
                commit(p, st, b, u, lr, sign_phase, tau)
            return
        bus = [direction(g, st) for g, st in zip(grads, states)]
        us = [u for _, u in bus]
        lr_eff = U.effective_lr(lr, self._group_norm(us, ctx) if group["normalized"] or group["sign_norm"] else 0.0,
                                group["normalized"], group["sign_norm"])
        if self._is_schedule_step(group, step):
            group["schedule"] = self._fit_schedule(group, us, gi, ctx)
        sign_phase, tau = self._phase_args(group, step)
        for p, st, (b, u) in zip(params, states, bus):
            commit(p, st, b, u, lr_eff, sign_phase, tau)

    def _update_foreach(self, group, params, grads, states, step):
        """torch._foreach_* in place: a few passes over all tensors, no per-tensor Python work."""
        beta, damp, nesterov = group["momentum"], group["dampening"], group["nesterov"]
        lr, wd = self.hyper(group, "lr"), group["weight_decay"]
        gs = torch._foreach_neg(grads) if group["maximize"] else list(grads)
        if beta != 0:
            old = [i for i, st in enumerate(states) if "momentum_buffer" in st]
            for i, st in enumerate(states):
                if "momentum_buffer" not in st:
                    st["momentum_buffer"] = gs[i].clone()  # b_1 = g_1
            if old:
                bo = [states[i]["momentum_buffer"] for i in old]
                torch._foreach_mul_(bo, beta)
                torch._foreach_add_(bo, [gs[i] for i in old], alpha=1.0 - damp)
            bufs = [st["momentum_buffer"] for st in states]
            us = torch._foreach_add(gs, bufs, alpha=beta) if nesterov else bufs
        else:
            us = gs
        lr_eff = lr
        if group["normalized"] or group["sign_norm"]:
            norms = torch._foreach_norm(us, 2)
            unorm = float(torch.linalg.vector_norm(torch.stack(norms)))
            lr_eff = U.effective_lr(lr, unorm, group["normalized"], group["sign_norm"])
        if wd != 0:
            torch._foreach_mul_(params, 1.0 - lr * wd)
        sign_phase, tau = self._phase_args(group, step)
        if sign_phase:
            upd = torch._foreach_sign(us)
        elif group["psi"] == "tanh":
            upd = torch._foreach_mul(us, tau)
            torch._foreach_tanh_(upd)
        else:
            upd = [U.psi(tau * u, group["psi"]) for u in us]
        torch._foreach_add_(params, upd, alpha=-lr_eff)

    def _update_fused(self, group, params, grads, states, step):
        """One compiled call per (device, dtype): reads p, g, b, writes p, b (5 words per entry)."""
        beta, damp = group["momentum"], group["dampening"]
        sign_phase, tau = self._phase_args(group, step)
        flags = dict(has_buf=beta != 0, nesterov=group["nesterov"], sign_phase=sign_phase,
                     kind=group["psi"], maximize=group["maximize"], decay=group["weight_decay"] != 0)
        batches = {}
        for p, g, st in zip(params, grads, states):
            if (beta != 0 and "momentum_buffer" not in st) or not (p.is_contiguous() and g.is_contiguous()):
                self._update_eager(group, [p], [g], [st], step)
                continue
            b = st["momentum_buffer"].view(-1) if beta != 0 else p.view(-1)
            batch = batches.setdefault((p.device, p.dtype), ([], [], [], [], [], []))
            for lst, item in zip(batch, (p.view(-1), g.view(-1), b, p, g, st)):
                lst.append(item)
        for (dev, dtype), (ps, gs, bs, p_orig, g_orig, sts) in batches.items():
            lr = self.hyper(group, "lr")
            vals = (lr, 1.0 - lr * group["weight_decay"], beta, 1.0 - damp,
                    1.0 if tau is None else tau)
            scalars = [torch.tensor(v, dtype=torch.float64, device=dev) for v in vals]
            try:
                _fused_kernel(**flags, fast=dtype != torch.float64)(ps, gs, bs, *scalars)
            except Exception as exc:  # pragma: no cover - depends on the toolchain
                self._fused_failed(exc, group, p_orig, g_orig, sts, step)

    def _fused_failed(self, exc, group, params, grads, states, step):
        if not _FUSED_BROKEN:
            _FUSED_BROKEN.append(repr(exc))
            warnings.warn(f"{type(self).__name__}: fused=True could not compile ({exc!r}); running eagerly "
                          "from now on", RuntimeWarning, stacklevel=4)
        self._update_eager(group, params, grads, states, step)


class Signum(SoftSignum):
    """Signum: theta <- (1 - lr wd) theta - lr_eff sign(u_k) at every step (SoftSignum without transition).

    Same momentum, weight decay, normalized / sign_norm and implementation options as SoftSignum.
    """

    _has_transition = False

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 normalized=False, sign_norm=False, *, maximize=False, foreach=None, fused=None,
                 nonfinite="raise"):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, normalized=normalized, sign_norm=sign_norm, maximize=maximize,
                        foreach=foreach, fused=fused, nonfinite=nonfinite, psi="tanh")
        GeomOptimizer.__init__(self, params, defaults)

    def _init_group_state(self, group):
        pass
