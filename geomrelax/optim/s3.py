"""S3 (SoftSignSGD, Peng et al., arXiv 2507.06464): a sign-like step bounded by a p-th order moment.

Per parameter, t = 1, 2, ... (reconstructed from the abstract; docs/theory.md, "Update rules"; formulas in
:mod:`geomrelax.updates`), with m_0 = r_0 = 0 and one EMA coefficient beta for both moments:

    m_t = beta m_{t-1} + (1 - beta) g_t            r_t = beta r_{t-1} + (1 - beta) |g_t|^p
    n_t = beta m_t + (1 - beta) g_t                b_t = (beta r_t + (1 - beta) |g_t|^p)^(1/p)
    theta <- (1 - lr wd) theta - lr n_t / (b_t + eps)

Bounded update. n_t = sum_i w_i g_i and b_t^p = sum_i w_i |g_i|^p with the same weights w_i >= 0,
sum_i w_i = 1 - beta^(t+1) <= 1, so Hoelder gives |n_t| <= (sum w_i)^(1 - 1/p) b_t <= b_t:
|n_t / b_t| <= 1 coordinate-wise in exact arithmetic (0/0 taken as 0 when eps = 0). In floating
point it can fail where |g|^p underflows (float32: |g| below about 1e-13 for p = 3 makes
|g|^p subnormal or 0 while n_t is not); eps > 0 (default 1e-8) keeps the step bounded there.
Where |g|^p overflows (float32: |g| above about 7e12 for p = 3) the step is refused with
NonFiniteError and nothing changes.

Half precision. For float16 and bfloat16 parameters the statistics m, r (the state) and the
direction are kept and computed in float32, as torch's optimizers keep some states in float32: in
float16, |g|^3 underflows to 0 already for |g| < 4e-3 and eps = 1e-8 rounds to 0, so n / (b + eps)
would be n / 0 = inf. Only the new parameter is rounded to the half dtype. An eps too small for the
statistics' dtype (it rounds to 0 there) is treated as eps = 0 (0/0 taken as 0), never as a division
by 0.
"""

from __future__ import annotations

import math

import torch

from .. import updates as U
from .base import GeomOptimizer, check_bool, check_real

__all__ = ["S3"]


class S3(GeomOptimizer):
    """S3 / SoftSignSGD: theta <- (1 - lr wd) theta - lr n_t / (b_t + eps), |n_t / b_t| <= 1.

    Arguments: lr=1e-3, beta=0.95, p=3 (p >= 1; p = 2 is an Adam-like denominator with shared
    EMA weights and Nesterov numerator), eps=1e-8 (>= 0), weight_decay=0, maximize=False,
    foreach=None, nonfinite="raise". State per parameter: 'exp_avg' (m), 'exp_avg_p' (r), in the
    parameter's dtype, or float32 for float16 / bfloat16 parameters.
    """

    def __init__(self, params, lr=1e-3, beta=0.95, p=3.0, eps=1e-8, weight_decay=0.0, *, maximize=False,
                 foreach=None, nonfinite="raise"):
        defaults = dict(lr=lr, beta=beta, p=p, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, nonfinite=nonfinite)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        check_real("lr", group["lr"], low=0.0, allow_tensor=True)
        check_real("beta", group["beta"], low=0.0, high=1.0, high_open=True)
        check_real("p", group["p"], low=1.0)
        check_real("eps", group["eps"], low=0.0)
        check_real("weight_decay", group["weight_decay"], low=0.0)
        check_bool("maximize", group["maximize"])

    @staticmethod
    def state_dtype(p) -> torch.dtype:
        """The dtype of the statistics of parameter p: float32 for half dtypes, else p's."""
        return torch.float32 if p.dtype in (torch.float16, torch.bfloat16) else p.dtype

    def _init_state(self, group, p, state):
        dt = self.state_dtype(p)
        state["exp_avg"] = torch.zeros_like(p, dtype=dt, memory_format=torch.preserve_format)
        state["exp_avg_p"] = torch.zeros_like(p, dtype=dt, memory_format=torch.preserve_format)

    def _state_spec(self, group, p):
        dt = self.state_dtype(p)
        return {"exp_avg": (True, dt), "exp_avg_p": (True, dt)}

    @staticmethod
    def _eps(eps, dtype) -> float:
        """eps as the statistics' dtype holds it (0 when it rounds to 0 there: then 0/0 is taken as 0)."""
        return float(torch.tensor(eps, dtype=dtype)) if eps > 0 else 0.0

    def _state_bound(self, group, prev, gmax):
        # |m| <= max(|m_prev|, gmax) and r <= max(r_prev, gmax^p): both EMAs are convex combinations.
        # The direction is <= 1 where b is normal; where |g|^p underflowed, |n| is as tiny as |g|.
        p = float(group["p"])
        gp = math.inf if gmax > 0 and p * math.log(gmax) > 700 else gmax ** p
        return max(prev, gmax, gp)

    def _update(self, group, params, grads, states, step, ctx):
        dtypes = {p.dtype for p in params}
        if self.use_foreach(group, params) and len(dtypes) == 1 and params[0].dtype == self.state_dtype(params[0]):
            return self._update_foreach(group, params, grads, states)
        lr, beta, pw, wd = self.hyper(group, "lr"), group["beta"], group["p"], group["weight_decay"]
        for par, g, st in zip(params, grads, states):
            dt = st["exp_avg"].dtype
            g = (-g if group["maximize"] else g).to(dt)
            theta = par.to(dt)
            new, m, r, _ = U.s3_step(theta, st["exp_avg"], st["exp_avg_p"], g, lr, beta, pw,
                                     self._eps(group["eps"], dt), wd)
            st["exp_avg"].copy_(m)
            st["exp_avg_p"].copy_(r)
            par.copy_(new)

    def _update_foreach(self, group, params, grads, states):
        lr, beta, pw, wd = self.hyper(group, "lr"), group["beta"], group["p"], group["weight_decay"]
        eps = self._eps(group["eps"], params[0].dtype)  # one dtype, that of the statistics (see _update)
        gs = torch._foreach_neg(grads) if group["maximize"] else list(grads)
        ms = [st["exp_avg"] for st in states]
        rs = [st["exp_avg_p"] for st in states]
        gp = torch._foreach_abs(gs)
        torch._foreach_pow_(gp, pw)
        torch._foreach_mul_(ms, beta)
        torch._foreach_add_(ms, torch._foreach_mul(gs, 1.0 - beta))
        torch._foreach_mul_(rs, beta)
        torch._foreach_add_(rs, torch._foreach_mul(gp, 1.0 - beta))
        n = torch._foreach_mul(ms, beta)
        torch._foreach_add_(n, torch._foreach_mul(gs, 1.0 - beta))
        b = torch._foreach_mul(rs, beta)
        torch._foreach_add_(b, torch._foreach_mul(gp, 1.0 - beta))
        torch._foreach_pow_(b, 1.0 / pw)
        if eps > 0:
            torch._foreach_add_(b, eps)
            torch._foreach_div_(n, b)
        else:
            n = [torch.where(bi == 0, torch.zeros_like(ni), ni / torch.where(bi == 0, torch.ones_like(bi), bi))
                 for ni, bi in zip(n, b)]
        if wd != 0:
            torch._foreach_mul_(params, 1.0 - lr * wd)
        torch._foreach_add_(params, torch._foreach_mul(n, -lr))
