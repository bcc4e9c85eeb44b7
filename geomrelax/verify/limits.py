"""The limits of the relaxed LMO d_tau(m) = grad V*(-tau m): the hard LMO and the support function as
tau -> inf (with the exact rate from the root of v'(x) = tau |m|), and the SGD limit d_tau(m)/tau ->
-m/hess0 as tau -> 0 (projected onto the tangent cone of D at 0 when 0 is on the boundary).
"""

from __future__ import annotations

import numpy as np

from ..regularizers import SeparableRegularizer
from .geometry import TOL, _rand_m
from .results import CheckResult, _skip
from .runner import _ratio


def _root_dv(base: SeparableRegularizer, t):
    """The x in [lo, hi] with v'(x) = t (the endpoint when t is beyond v' there), by bisection on v' alone.

    Independent of grad_conj_fn: it is the optimality condition of argmax_x t x - v(x).
    """
    t = np.asarray(t, dtype=float)
    lo, hi = base.domain.lo, base.domain.hi
    a = np.where(t > 0, 0.0, lo)
    b = np.where(t > 0, hi, 0.0)
    with np.errstate(all="ignore"):
        dv = lambda z: np.asarray(base.dv(z), dtype=float)
        for _ in range(2100):  # bisection on doubles: at most ~2100 halvings to reach adjacent floats
            mid = 0.5 * (a + b)
            done = (mid == a) | (mid == b)
            if np.all(done):
                break
            go_right = dv(mid) < t
            a = np.where(go_right & ~done, mid, a)
            b = np.where(~go_right & ~done, mid, b)
        # endpoint cases: v' bounded at the end and t beyond it
        x = 0.5 * (a + b)
        x = np.where((t > 0) & (dv(np.full_like(t, hi)) <= t), hi, x)
        x = np.where((t < 0) & (dv(np.full_like(t, lo)) >= t), lo, x)
    return np.where(t == 0, 0.0, x)


TAUS_INF = (1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4)

TAUS_ZERO = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


def _tau_inf_momenta(geo, rng, n, name, why):
    """(momenta, None) for a tau -> inf limit, or (None, the skip) when D is unbounded (no hard LMO)."""
    if not geo.V.bounded:
        return None, _skip(name, why)
    return _rand_m(geo, rng, max(8, n // 4)), None


def _check_limit_lmo(geo, rng, n):
    V = geo.V
    name = "limit_tau_inf_lmo"
    m, skipped = _tau_inf_momenta(geo, rng, n, name,
                                  "D is unbounded: the hard LMO argmin_{d in D} <m, d> does not exist")
    if skipped:
        return skipped
    # rounding can put the spectral lmo's singular values an ulp above the bound (V = inf there)
    lmo = geo.pull_inside(np.asarray(V.lmo(m), float))
    ref_base = geo.V if geo.separable else (geo.base if isinstance(geo.base, SeparableRegularizer) else None)
    worst, errs = None, []
    for tau in TAUS_INF:
        d = geo.grad_conj(-tau * m)
        inside = np.asarray(V.contains(d, tol=TOL * geo.radius_inf()))
        d = geo.pull_inside(d)
        with np.errstate(all="ignore"):
            # optimality of d against the candidate lmo: <m,d> + V(d)/tau <= <m,lmo> + V(lmo)/tau
            obj_d = geo.inner(m, d) + geo.value(d) / tau
            obj_l = geo.inner(m, lmo) + geo.value(lmo) / tau
            r1 = obj_d - obj_l
            a1 = TOL * (1 + geo.abs_inner(m, d) + geo.abs_inner(m, lmo) + (np.abs(geo.value(d)) + geo.value(lmo)) / tau)
            r1 = np.where(inside, r1, np.inf)
            cand = [(r1, a1, "optimality vs lmo")]
            if ref_base is not None:
                if geo.separable:
                    dref = _root_dv(ref_base, -tau * m)
                else:
                    u, s, vt = np.linalg.svd(m, full_matrices=False)
                    dref = -(u * _root_dv(ref_base, tau * s)[..., None, :]) @ vt
                # the root is exact to ~2 ulps per entry, d to a few ulps of its size
                cand.append((geo.fro(d - dref), TOL * (1 + geo.fro(dref)), "root of v'(x) = tau|m|"))
        errs.append(float(np.max(geo.maxabs(d - lmo))))
        for r, a, what in cand:
            q = _ratio(r, a)
            i = int(np.argmax(q))
            if worst is None or q[i] > worst[0]:
                worst = (q[i], float(r[i]), float(a[i]), {"m": m[i], "tau": tau, "d": d[i], "lmo": lmo[i]}, what)
    q, r, a, point, what = worst
    rate = ", ".join(f"{t:g}: {e:.2e}" for t, e in zip(TAUS_INF, errs))
    note = (f"max|d_tau - lmo| at tau {rate}; checked: optimality against lmo"
            + (" and the exact rate (bisection root of v'(x) = tau|m|)" if ref_base is not None else ""))
    if q > 1:
        note += f"; worst: {what}"
    return CheckResult(name, "fail" if q > 1 else "pass", max(r, 0.0), a, point if q > 1 else None, note,
                       n_points=len(m) * len(TAUS_INF))


def _check_limit_support(geo, rng, n):
    V = geo.V
    name = "limit_tau_inf_support"
    m, skipped = _tau_inf_momenta(geo, rng, n, name, "D is unbounded: the support function is +inf")
    if skipped:
        return skipped
    sup = np.asarray(V.support(m), float)
    a_max = geo.pull_inside(np.asarray(V.lmo(-m), float))  # argmax_D <m, d>
    va = geo.value(a_max)
    worst, gaps = None, []
    for tau in TAUS_INF:
        c = geo.conj(tau * m) / tau
        with np.errstate(all="ignore"):
            gap = sup - c
            # 0 <= support(m) - V*(tau m)/tau <= V(argmax)/tau (V >= 0 and the candidate argmax)
            r = np.maximum(-gap, gap - va / tau)
            a = TOL * (1 + np.abs(sup) + np.abs(c) + va / tau)
        gaps.append(float(np.max(np.abs(gap))))
        q = _ratio(r, a)
        i = int(np.argmax(q))
        if worst is None or q[i] > worst[0]:
            worst = (q[i], float(r[i]), float(a[i]), {"m": m[i], "tau": tau, "conj_over_tau": c[i], "support": sup[i]})
    q, r, a, point = worst
    note = ("0 <= support(m) - V*(tau m)/tau <= V(argmax_D <m,d>)/tau; max gap at tau "
            + ", ".join(f"{t:g}: {g:.2e}" for t, g in zip(TAUS_INF, gaps)))
    return CheckResult(name, "fail" if q > 1 else "pass", max(r, 0.0), a, point if q > 1 else None, note,
                       n_points=len(m) * len(TAUS_INF))


def _tangent_target(geo, m):
    """(lim_{tau -> 0} d_tau(m)/tau, how many entries of -m point out of D, or a reason it is unknown).

    With d = tau e, <m, d> + V(d)/tau = tau (<m, e> + hess0 |e|^2/2 + o(1)) over e in D/tau, which tends
    to the tangent cone T of D at 0: the limit is the projection of -m/hess0 onto T. T is everything
    when 0 is interior; for a box [lo, hi]^n with lo = 0 (or hi = 0) it is [0, inf) (or (-inf, 0]) in
    each coordinate, so d_tau(m)_i = 0 wherever -m_i points out of D."""
    V = geo.V
    target = -m / V.hess0
    if geo.separable:
        lo = 0.0 if V.domain.lo == 0 else -np.inf
        hi = 0.0 if V.domain.hi == 0 else np.inf
        proj = np.clip(target, lo, hi)
        return proj, int(np.sum(proj != target)), None
    if geo.spec_sep or geo.zero_interior(1e-10 * max(1.0, geo.radius_inf() if V.bounded else 1.0)):
        return target, 0, None
    return None, 0, "0 lies on the boundary of a D that is not a box: its tangent cone at 0 is not known here"


def _check_limit_zero(geo, rng, n):
    V = geo.V
    name = "limit_tau_zero"
    if V.hess0 is None or not (V.hess0 > 0):
        return _skip(name, f"V has no finite positive curvature at 0 (hess0 = {V.hess0}): no SGD limit")
    m = _rand_m(geo, rng, max(8, n // 4))
    target, n_out, why = _tangent_target(geo, m)
    if target is None:
        return _skip(name, why)
    nm = geo.maxabs(m)
    errs = []
    for tau in TAUS_ZERO:
        t = tau / nm.reshape((-1,) + (1,) * geo.ev)  # tau |m|_inf runs over 1e-1 .. 1e-5
        d = geo.grad_conj(-t * m)
        with np.errstate(all="ignore"):
            errs.append(geo.maxabs(d / t - target))
    errs = np.array(errs)  # (len(TAUS_ZERO), n)
    # rate O(tau): each factor 10 smaller in tau must shrink the error by >= 5 (first order, slack 2),
    # until it reaches rounding: d/tau carries ~eps relative error of |m|/hess0.
    floor = TOL * (1 + geo.maxabs(target))
    allow = np.maximum(errs[:-1] / 5.0, floor)
    r = errs[1:]
    q = _ratio(r, allow)
    k, i = np.unravel_index(int(np.argmax(q)), q.shape)
    failed = q[k, i] > 1
    emax = errs.max(1)
    above = (emax[:-1] > 100 * floor.max()) & (emax[1:] > 100 * floor.max())
    with np.errstate(all="ignore"):
        orders = np.log10(emax[:-1] / emax[1:])[above]
    order = f"; observed order {np.median(orders):.2f}" if orders.size else "; exact to rounding"
    note = ("d_tau(m)/tau -> -m/hess0 with hess0 = " f"{V.hess0:g}; max error at tau|m| = "
            + ", ".join(f"{t:g}: {e:.2e}" for t, e in zip(TAUS_ZERO, emax))
            + order + "; each decade must shrink it >= 5x until rounding")
    if n_out:
        note += (f"; {n_out} entries of -m point out of D (0 on its boundary): there the limit is 0, the "
                 "projection of -m/hess0 onto the tangent cone of D at 0")
    point = {"m": m[i], "tau_times_max_abs_m": TAUS_ZERO[k + 1], "error_sequence": errs[:, i]}
    return CheckResult(name, "fail" if failed else "pass", float(r[k, i]), float(allow[k, i]),
                       point if failed else None, note, n_points=errs.size)
