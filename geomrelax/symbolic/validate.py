"""Validation of a formula v on [lo, hi]: each failure a clear error.

    v real and finite inside the domain (30-digit values decide where float64 overflows);
    v continuous: v(c-) = v(c) = v(c+) at every kink c and wherever sign, Heaviside, floor, ceiling switch
        (a jump is an InvalidRegularizerError naming the point and both one-sided values: a convex v is
        continuous inside its domain, and the v', v'' checks below cannot see a jump);
    v(0) = 0;
    v convex: v'' >= 0, and v' nondecreasing across kinks (NotConvexError with a witness point);
    0 the minimiser: 0 in [v'(0-), v'(0+)] (v'(0) = 0 at a smooth interior 0; v'(0+) >= 0 at lo = 0);
    mu = inf v'' over the domain > 0 (NotStronglyConvexError unless require_strong=False).

mu is the smallest of: v'' on a dense grid refined by Brent's method around its lowest local minima,
the one-sided limits of v'' at the ends, and v'' at the critical points of v'' when sympy can solve
v''' = 0 (then mu is exact). A negative grid value of v'' is confirmed at 30 digits before it is
reported; a grid minimum below 1e-10 of the typical v'' counts as 0.

The validation runs in the calling process; its sympy calls (limits, solve) are capped at 2-3 s each
by worker.limited, and the parser's size bounds keep the expressions small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import sympy

from ..errors import InvalidRegularizerError, NotConvexError, NotStronglyConvexError
from ..numeric import domain_grid, scan_curvature
from .lambdify import _drop_dirac, lambdify_numpy
from .parse import X
from .pieces import _GiveUp, _pieces
from .values import _EPS, _exact, _fmt, _fnum, _hp, _real_value, _short, _value_at
from .worker import Clock as _Clock
from .worker import Timeout as _Timeout


_NEG_CURV_DIGITS = 30
_PRINT_SECONDS = 10.0


@dataclass
class _Checked:
    lo: float
    hi: float
    lo_s: object
    hi_s: object
    v: Callable
    dv: Callable
    d2v: Callable
    mu: float
    mu_exact: bool
    hess0: Optional[float]
    dv0_minus: float
    dv0_plus: float
    dv_lo: float
    dv_hi: float
    v_lo: float
    v_hi: float
    pieces: Optional[list]
    notes: list


def _classify(hv):
    """('undefined' | 'complex' | 'infinite' | 'real', text) for a high-precision value (sympy)."""
    if hv is None:
        return "undefined", "undefined"
    if hv in (sympy.oo, -sympy.oo):
        return "infinite", str(hv)
    re_, im_ = hv.as_real_imag()
    if not (re_.is_number and im_.is_number):
        return "undefined", str(hv)
    if abs(im_) > 1e-20 * max(1, abs(re_)):
        return "complex", str(sympy.N(hv, 6))
    if not re_.is_finite:
        return "infinite", str(re_)
    return "real", str(sympy.N(re_, 6))


def _one_sided(pieces, dv_s, dv_np, point: float, side: str, clock: _Clock) -> float:
    """v'(point+) or v'(point-): from the smooth expression of the piece on that side (so that a kink at
    ``point`` is seen), else numerically just beside the point."""
    if pieces is not None:
        for pc in pieces:
            c0, c1 = _fnum(pc.c0), _fnum(pc.c1)
            if (side == "+" and c0 <= point < c1) or (side == "-" and c0 < point <= c1):
                val = _value_at(sympy.diff(pc.v, X), _exact(point), side, clock)
                if val is not None:
                    return _fnum(val)
                break
    h = 1e-9 * max(1.0, abs(point))
    return float(dv_np(np.array([point + (h if side == "+" else -h)]))[0])


def numpy_functions(e, clock: _Clock, shown: str):
    """v, v', v'' of the formula ``e`` as numpy functions (Dirac deltas of kinks dropped)."""
    dv_s = _drop_dirac(sympy.diff(e, X))
    d2v_s = _drop_dirac(sympy.diff(dv_s, X))
    try:
        # sympy's numpy printer simplifies Piecewise conditions, which can run for minutes (Max of a
        # Heaviside with trigonometric constants): capped like every other sympy call here
        fns = clock.run(lambda: (lambdify_numpy(e), lambdify_numpy(dv_s), lambdify_numpy(d2v_s)), _PRINT_SECONDS)
    except _Timeout:
        raise InvalidRegularizerError(
            f"v = {_short(shown)} is too complicated to evaluate: turning it and its derivatives into numpy code "
            f"did not finish within {_PRINT_SECONDS:g} s; write the formula more simply") from None
    return (dv_s, d2v_s, *fns)


def validate_job(e, lo_s, hi_s, require_strong: bool, seconds: float, shown: str) -> _Checked:
    """_validate in a worker process: the same checks, returned without the numpy functions (which do
    not travel between processes); the caller rebuilds them with ``numpy_functions``."""
    from dataclasses import replace

    chk = _validate(e, lo_s, hi_s, require_strong, _Clock(seconds), shown)
    return replace(chk, v=None, dv=None, d2v=None)


def _validate(e, lo_s, hi_s, require_strong: bool, clock: _Clock, shown: str) -> _Checked:
    lo, hi = _fnum(lo_s), _fnum(hi_s)
    where = f"[{_fmt(lo)}, {_fmt(hi)}]"
    notes: list = []
    dv_s, d2v_s, v_np, dv_np, d2v_np = numpy_functions(e, clock, shown)

    # -- real and finite inside ------------------------------------------------------------------
    grid = domain_grid(lo, hi)
    vals = v_np(grid)
    bad = np.flatnonzero(~np.isfinite(vals))
    if bad.size:
        for i in bad[np.unique(np.linspace(0, bad.size - 1, min(bad.size, 50)).astype(int))]:
            p = float(grid[i])
            kind, text = _classify(_hp(e, X, _exact(p)))
            if kind != "real":
                what = {"undefined": "undefined", "complex": "complex (not real)", "infinite": "infinite"}[kind]
                raise InvalidRegularizerError(
                    f"v = {shown} is {what} at x = {p:.6g} inside the domain {where} (v({p:.6g}) = {text}); "
                    "choose a domain where the formula is real and finite")
        # 30-digit values are finite: float64 overflow only; scan without those points
        notes.append(f"v overflows float64 at {bad.size} grid points (e.g. x = {float(grid[bad[0]]):.3g}; "
                     "finite at 30 digits), left out of the scans")
        grid = grid[np.isfinite(vals)]

    pieces = None
    try:
        pieces = _pieces(e, lo_s, hi_s, clock)
    except (_GiveUp, _Timeout) as err:
        notes.append(f"kinks not located ({err})")

    # -- continuity: no jump at a kink or where sign/Heaviside/floor/ceiling switch ------------------
    _check_continuity(e, pieces, lo, hi, clock, shown)

    # -- v(0) = 0 ----------------------------------------------------------------------------------
    v0 = _value_at(e, sympy.Integer(0), "+" if lo == 0 else "-" if hi == 0 else None, clock)
    v0f = _fnum(v0) if v0 is not None else float(v_np(np.array([0.0]))[0])
    finite_vals = vals[np.isfinite(vals)]
    scale = max(1.0, float(np.max(np.abs(finite_vals)))) if finite_vals.size else 1.0
    # exact zero, or zero up to the rounding of a formula with float coefficients (16 eps of its size)
    if not (v0 is not None and v0.is_zero) and not (math.isfinite(v0f) and abs(v0f) <= 16 * _EPS * scale):
        shown0 = v0 if v0 is not None else _fmt(v0f)
        raise InvalidRegularizerError(
            f"v(0) = {shown0} but a regularizer needs v(0) = 0 = min v; subtract the constant: use "
            f"'{shown} - ({shown0})'")

    # -- convexity: v'' >= 0 and v' nondecreasing across kinks ---------------------------------------
    scan = scan_curvature(d2v_np, dv_np, lo, hi, grid=grid)
    if scan.negative is not None:
        p, val = scan.negative
        hv = _real_value(_hp(d2v_s, X, _exact(p), _NEG_CURV_DIGITS))
        if hv is None or hv < 0:
            shown_val = val if hv is None else hv
            raise NotConvexError(
                f"v = {shown} is not convex on {where}: v''({p:.6g}) = {shown_val:.6g} < 0", point=p,
                curvature=shown_val)
        notes.append(f"grid v'' = {val:.3g} at x = {p:.3g} is rounding (30 digits: {hv:.3g})")
    if scan.decrease is not None:
        x1, x2, g1, g2 = scan.decrease
        raise NotConvexError(
            f"v = {shown} is not convex on {where}: v' decreases from v'({x1:.6g}) = {g1:.6g} to v'({x2:.6g}) = "
            f"{g2:.6g} (a concave kink near x = {(x1 + x2) / 2:.6g}, where v'' has a negative point mass)",
            point=(x1 + x2) / 2, curvature=-math.inf)
    exact = _exact_critical(d2v_s, lo, hi, clock)
    for val, at in exact or []:
        if val < 0:
            raise NotConvexError(f"v = {shown} is not convex on {where}: v''({at}) = {val:.6g} < 0",
                                 point=_fnum(at), curvature=val)

    # -- 0 is the minimiser: 0 in [v'(0-), v'(0+)] ---------------------------------------------------
    dv0_minus = _one_sided(pieces, dv_s, dv_np, 0.0, "-", clock) if lo < 0 else -math.inf
    dv0_plus = _one_sided(pieces, dv_s, dv_np, 0.0, "+", clock) if hi > 0 else math.inf
    finite_d = [abs(d) for d in (dv0_minus, dv0_plus) if math.isfinite(d)]
    tol0 = 16 * _EPS * max([1.0] + finite_d)  # rounding of v'(0) for formulas with float coefficients
    if dv0_plus < -tol0 or dv0_minus > tol0:
        g = dv0_plus if dv0_plus < -tol0 else dv0_minus
        if lo < 0 < hi and dv0_minus != dv0_plus:
            cond = f"v'(0-) = {_fmt(dv0_minus)}, v'(0+) = {_fmt(dv0_plus)}; need v'(0-) <= 0 <= v'(0+)"
        elif lo < 0 < hi:
            cond = f"v'(0) = {_fmt(g)}; need v'(0) = 0 at an interior 0"
        else:
            cond = f"v'(0) = {_fmt(g)}; need v'(0) {'>=' if lo == 0 else '<='} 0 at the end 0 of the domain"
        raise InvalidRegularizerError(
            f"0 is not the minimiser of v = {shown} on {where} ({cond}), but a regularizer needs min v = v(0) = 0. "
            f"Use '{shown} - ({_fmt(g)})*x' instead: same curvature, minimum at 0 (its conjugate is "
            f"v*(s + {_fmt(g)}))")

    # -- mu = inf v'' ----------------------------------------------------------------------------------
    candidates = [(scan.inf_d2v, _fmt(scan.argmin), False)]
    for end, side in ((lo_s, "+"), (hi_s, "-")):
        lim = _value_at(d2v_s, end, side, clock)
        if lim is not None:
            candidates.append((_fnum(lim), f"the limit x -> {end}", True))
    candidates += [(val, at, True) for val, at in exact or []]
    mu, mu_where, mu_exact = min(candidates, key=lambda c: (c[0], not c[2]))  # ties: the exact value
    # v'' of a strongly convex formula stays away from 0; a grid minimum below 1e-10 of the typical
    # curvature is the float resolution of v'' at large |x| or near a flat point: count it as 0
    fin = np.abs(scan.d2v[np.isfinite(scan.d2v)])
    typical = float(np.median(fin)) if fin.size else 1.0
    if not mu_exact and mu <= 1e-10 * typical:
        if mu != 0:
            notes.append(f"inf v'' = {mu:.3g} on the grid (at x = {mu_where}) counts as 0")
        mu = 0.0
    if mu <= 0:
        mu = 0.0
        if require_strong:
            raise NotStronglyConvexError(
                f"v = {shown} is convex but not strongly convex on {where}: inf v'' = 0 (at x = {mu_where}). "
                "It can still be used as a hard LMO (tau = inf), not as a relaxed one; pass require_strong=False "
                "(on the command line: --allow-weak) to get it with mu = 0")

    # -- curvature at 0, one-sided derivatives and values at the ends --------------------------------
    # v''(0), when it exists: None at a kink at 0 (tau -> 0 is then not SGD) and where v'' jumps at 0
    hess0 = None
    if not (lo < 0 < hi and dv0_minus < dv0_plus):
        sides = [s for s, ok in (("-", lo < 0), ("+", hi > 0)) if ok]
        hs = []
        for side in sides:
            h = None
            for pc in pieces or []:
                c0, c1 = _fnum(pc.c0), _fnum(pc.c1)
                if (side == "+" and c0 <= 0 < c1) or (side == "-" and c0 < 0 <= c1):
                    h = _value_at(_drop_dirac(sympy.diff(pc.v, X, 2)), sympy.Integer(0), side, clock)
            hs.append(_fnum(h) if h is not None else float(d2v_np(np.array([0.0]))[0]))
        if hs and all(math.isfinite(h) for h in hs) and max(hs) - min(hs) <= 1e-12 * max(1.0, max(map(abs, hs))):
            hess0 = hs[0]

    def end_value(expr, fn, end, side, default):
        if not math.isfinite(_fnum(end)):
            return default
        val = _value_at(expr, end, side, clock)
        if val is not None:
            return _fnum(val)
        inward = _fnum(end) + (1 if side == "+" else -1) * 1e-12 * max(1.0, abs(_fnum(end)))
        return float(fn(np.array([inward]))[0])

    dv_lo = _one_sided(pieces, dv_s, dv_np, lo, "+", clock) if math.isfinite(lo) else -math.inf
    dv_hi = _one_sided(pieces, dv_s, dv_np, hi, "-", clock) if math.isfinite(hi) else math.inf
    dv_lo = -math.inf if math.isnan(dv_lo) else dv_lo
    dv_hi = math.inf if math.isnan(dv_hi) else dv_hi
    v_lo = end_value(e, v_np, lo_s, "+", math.inf)
    v_hi = end_value(e, v_np, hi_s, "-", math.inf)
    return _Checked(lo=lo, hi=hi, lo_s=lo_s, hi_s=hi_s, v=v_np, dv=dv_np, d2v=d2v_np, mu=float(mu),
                    mu_exact=bool(mu_exact and mu > 0), hess0=hess0, dv0_minus=dv0_minus, dv0_plus=dv0_plus,
                    dv_lo=dv_lo, dv_hi=dv_hi, v_lo=v_lo, v_hi=v_hi, pieces=pieces, notes=notes)


def _jump_candidates(e, pieces, lo: float, hi: float, clock: _Clock) -> list:
    """(c, left, right): the interior points c where v may jump, with the expressions whose one-sided
    limits are v(c-) and v(c+): the piece boundaries (kinks and the switch points of sign, Heaviside,
    Max, Min, Piecewise), and the points where the argument u of floor(u) / ceiling(u) crosses an
    integer (the few nearest 0, located on the scan grid, exactly by sympy where it can)."""
    out = [(a.c1, a.v, b.v) for a, b in zip(pieces[:-1], pieces[1:])] if pieces else []
    steps = [f for f in e.atoms(sympy.floor, sympy.ceiling) if f.args[0].has(X)]
    if not steps:
        return out
    grid = domain_grid(lo, hi)
    found: dict = {}  # ordered, without repeats
    for f in steps:
        u = f.args[0]
        with np.errstate(all="ignore"):
            k = np.floor(lambdify_numpy(u)(grid))
        change = np.flatnonzero(np.isfinite(k[:-1]) & np.isfinite(k[1:]) & (k[:-1] != k[1:]))
        for i in sorted(change, key=lambda j: abs(grid[j]))[:4]:
            level = max(k[i], k[i + 1])  # the integer u crosses between grid[i] and grid[i + 1]
            a, b = float(grid[i]), float(grid[i + 1])
            c = None
            try:
                roots = clock.run(lambda: sympy.solve(u - int(level), X), 2.0)
                c = next((r for r in roots if (rv := _real_value(_hp(r, X, 0))) is not None and a <= rv <= b), None)
            except (_Timeout, Exception):  # no exact crossing: the grid bracket's midpoint stands in
                c = None
            found.setdefault(c if c is not None else _exact((a + b) / 2))
    return out + [(c, e, e) for c in found]


def _one_sided_value(expr, c, side: str, clock: _Clock):
    """The limit of expr at x -> c from ``side`` as a float (sympy's limit, capped at 2 s), else expr
    at 40 digits at c -+ 1e-30 (1 + |c|); None where neither gives a real number."""
    try:
        val = clock.run(lambda: sympy.limit(expr, X, c, side), 2.0)
        f = _real_value(_hp(val, X, 0)) if val.is_number and not val.has(sympy.AccumBounds) else None
        if f is not None:
            return f
    except (_Timeout, Exception):  # sympy's limit raises many kinds on hard input
        pass
    h = sympy.Rational(1, 10 ** 30) * (1 + abs(_exact(_fnum(c))))
    return _real_value(_hp(expr, X, c - h if side == "-" else c + h, 40))


def _check_continuity(e, pieces, lo: float, hi: float, clock: _Clock, shown: str) -> None:
    """Refuse a v that jumps inside the domain: a convex function is continuous in the interior of its
    domain, and the checks of v'' and v' that follow would not see a jump (sign(x) has v' = 0 on both
    sides). At each candidate point c, v(c-), v(c) and v(c+) must agree to 1e-12 of their size."""
    def side_value(expr, c, side):
        if expr is not e:  # a kink-free piece: substitution (memoised) gives the one-sided value
            val = _value_at(expr, c, side, clock)
            if val is not None:
                return _real_value(_hp(val, X, 0))
        return _one_sided_value(expr, c, side, clock)

    for c, left, right in _jump_candidates(e, pieces, lo, hi, clock):
        vl, vr = side_value(left, c, "-"), side_value(right, c, "+")
        vc = _real_value(_hp(e, X, c))
        vals = [v for v in (vl, vc, vr) if v is not None]
        if len(vals) < 2:
            continue
        scale = 1.0 + max(abs(v) for v in vals)
        if max(vals) - min(vals) > 1e-12 * scale:
            at = c if isinstance(c, sympy.Rational) or c.is_number and len(str(c)) < 30 else _fmt(_fnum(c))
            mid = f", v({at}) = {vc:.6g}" if vc is not None and vl is not None and vr is not None \
                and abs(vl - vr) <= 1e-12 * scale else ""
            left_t = f"v({at}-) = {vl:.6g}" if vl is not None else f"v({at}) = {vc:.6g}"
            right_t = f"v({at}+) = {vr:.6g}" if vr is not None else f"v({at}) = {vc:.6g}"
            raise InvalidRegularizerError(
                f"v = {shown} jumps at x = {at}: {left_t}{mid}, {right_t}; a regularizer must be continuous "
                "(convex) on its domain")


def _exact_critical(d2v, lo: float, hi: float, clock: _Clock):
    """(v''(c), c) at the real critical points c of v'' inside (lo, hi) found by sympy, or None."""
    if d2v.has(sympy.Piecewise) or not d2v.has(X):
        return None
    try:
        crit = clock.run(lambda: sympy.solve(sympy.diff(d2v, X), X), 2.0)
    except _Timeout:
        return None
    except Exception:
        return None
    out = []
    for c in crit:
        cv = _real_value(_hp(c, X, 0))
        if cv is None or not lo < cv < hi:
            continue
        val = _real_value(_hp(d2v, X, c))
        if val is not None:
            out.append((val, c))
    return out
