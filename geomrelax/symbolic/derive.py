"""The symbolic route: grad v* and v* in closed form, piece by piece, each branch verified.

On each smooth piece (c_i, c_{i+1}) of v (pieces.py) sympy solves v'(x) = s; the first branch x(s) that
is real, lies in the piece and satisfies v'(x(s)) = s to 1e-30 at 120 digits at ~20-40 values of s
from the middle of its range out to its ends or to |s| = 1e300 is kept (sympy returns spurious
branches: -s/sqrt(1 + s^2) for 1 - sqrt(1 - x^2), log(s - sqrt(s^2 + 1)) for cosh x - 1). A branch with
an odd root b**(p/q) is also tried as the real root (sympy's s**(1/3) is complex for s < 0). With
L_i = v'(c_i+) and R_i = v'(c_{i+1}-),

    grad v*(s) = lo          for s <= L_0             (lo finite; -inf if lo = -inf and L_0 > -inf)
                 x_i(s)      for L_i < s < R_i
                 c_{i+1}     for R_i <= s <= L_{i+1}   (a kink of v: a flat piece of grad v*)
                 hi          for s >= R_last          (hi finite; +inf if hi = inf and R_last < inf)

and v*(s) = s x(s) - v(x(s)), simplified (radsimp, log expansion, simplify). On a piece where v is
affine (mu = 0) the value s = v' there is given the maximiser closest to 0. Each piece's x(s) and v*(s)
get a float-safe form (stabilize.py).

All of this runs in a worker process (``_derive_job``, started by worker.run_in_worker) that is killed
at the deadline; it returns sympy expressions only, which the caller lambdifies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import mpmath
import numpy as np
import sympy

from .parse import S, X
from .pieces import _GiveUp, _Piece
from .stabilize import _float_check, _stable_forms
from .values import _Precise, _fmt, _fnum, _hp, _is_real, _real_value, _short, _value_at
from .worker import Clock as _Clock
from .worker import Timeout as _Timeout


def _piece_test_points(L: float, R: float, center: float) -> list:
    """Floats in (L, R) at which a candidate inverse and its float form are checked: spread over the
    range, near both ends, and out to 1e300 on an unbounded side; ordered from the centre outwards
    (so that a spurious branch is reported at a moderate s)."""
    pts = set()
    if math.isfinite(L) and math.isfinite(R):
        w = R - L
        pts |= {L + w * t for t in (1e-12, 1e-9, 1e-6, 1e-3, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)}
        pts |= {R - w * t for t in (1e-12, 1e-9, 1e-6, 1e-3)}
        c = center if math.isfinite(center) and L < center < R else (L + R) / 2
        # around v'(0): small steps, where cancellation in a closed form shows
        pts |= {c + o for o in (0.0, 1e-300, -1e-300, 1e-12, -1e-12, 1e-6, -1e-6)}
    else:
        c = min(max(center if math.isfinite(center) else 0.0, L), R)
        for o in (0.0, 1e-300, 1e-100, 1e-9, 1e-3, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e6, 1e12,
                  1e100, 1e300):
            pts |= {c + o, c - o}
        for fin, sgn in ((L, 1.0), (R, -1.0)):
            if math.isfinite(fin):
                pts |= {fin + sgn * o * max(1.0, abs(fin)) for o in (1e-12, 1e-9, 1e-6, 1e-3, 0.1)}
    return sorted((p for p in pts if L < p < R and math.isfinite(p)), key=lambda p: (abs(p - c), p))


def _check_branch(xs, piece: _Piece, points: list):
    """(reason, values): reason is None if x(s) = xs is real, inside the piece and solves v'(x) = s to
    1e-30 (1 + |s|) at 120 digits at every resolvable test point; values maps s to the 120-digit x(s).

    A point is skipped (not failed) where x(s) cannot be resolved at 60/120 digits or lies within 1e-50
    of a piece end (tanh(1e6) = 1 - 1e-868589); at least 4 checked points must remain."""
    c0, c1 = _fnum(piece.c0), _fnum(piece.c1)
    width = max([1.0] + [abs(c) for c in (c0, c1) if math.isfinite(c)])
    try:
        fx, fdv = _Precise(xs, S), _Precise(piece.dv, X)
    except Exception as err:  # a branch with zoo or a function mpmath lacks is not the inverse we can use
        return f"x(s) cannot be evaluated ({type(err).__name__}: {_short(str(err), 60)})", {}
    values, checked, undefined = {}, 0, []
    for sv in points:
        xv = fx.at(sv)
        if xv is _Precise.UNDEFINED:
            # an isolated 0/0 (a removable singularity, e.g. (sqrt(4 s^2 + 1) - 1) / (2 s) at s = 0) is
            # skipped; a branch undefined on a stretch of s is not the inverse there
            undefined.append(sv)
            if len(undefined) > max(2, len(points) // 4):
                return f"x(s) is undefined at s = {', '.join(f'{u:.3g}' for u in undefined[:3])}, ...", values
            continue
        if xv is None:
            continue
        if not _is_real(xv):
            return f"x(s) = {mpmath.nstr(xv, 6)} is complex at s = {sv:.6g}", values
        xv = mpmath.re(xv)
        if xv < c0 - 1e-30 * width or xv > c1 + 1e-30 * width:
            return f"x(s) = {mpmath.nstr(xv, 6)} lies outside the piece [{_fmt(c0)}, {_fmt(c1)}] at s = {sv:.6g}", values
        values[sv] = xv
        with mpmath.workdps(120):
            if min(xv - c0, c1 - xv) < mpmath.mpf("1e-50") * width:
                continue
        r = fdv.at(xv, digits=(120,))
        if r is None or r is _Precise.UNDEFINED or not _is_real(r):
            continue
        with mpmath.workdps(120):
            res = mpmath.re(r) - sv
            if abs(res) > mpmath.mpf("1e-30") * (1 + abs(sv)):
                return f"v'(x(s)) - s = {mpmath.nstr(res, 3)} at s = {sv:.6g}: a spurious branch", values
        checked += 1
    if checked < 4:
        return f"only {checked} test points could be resolved at 120 digits", values
    return None, values


def _real_roots(expr):
    """expr with each b**(p/q), q odd, read as the real root sign(b)^p |b|^(p/q) (sympy's principal
    root of a negative b is complex: s**(1/3) for the inverse of x^3 is wrong for s < 0)."""
    def rule(pw):
        if isinstance(pw, sympy.Pow) and pw.exp.is_Rational and not pw.exp.is_Integer and pw.exp.q % 2 == 1:
            return sympy.sign(pw.base) ** pw.exp.p * sympy.Abs(pw.base) ** pw.exp
        return pw

    return expr.replace(lambda a: isinstance(a, sympy.Pow), rule)


def _candidates(sol) -> list:
    """A solve() result as candidate branches: itself, its real-root reading, and the parts of a
    Piecewise with NaN parts."""
    out = [sol]
    rr = _real_roots(sol)
    if rr != sol:
        out.append(rr)
    if isinstance(sol, sympy.Piecewise):
        out += [ex for ex, _ in sol.args if not ex.has(sympy.nan) and ex not in out]
    return out


_CHEAP = (
    sympy.radsimp,
    lambda e: sympy.simplify(sympy.expand_log(e.rewrite(sympy.exp), force=True)),
)


_COSTLY = (
    lambda e: sympy.simplify(e.rewrite(sympy.exp)),
    sympy.simplify,
)


def _conj_variants(raw, clock: _Clock, strategies) -> list:
    """Equal forms of a v* piece from the given strategies (each time-limited), shortest first."""
    out = [raw]
    for strat in strategies:
        if clock.left() <= 0:
            break
        try:
            r = clock.run(lambda strat=strat: strat(raw), 3.0)
        except _Timeout:
            continue
        except Exception:  # a strategy that fails just gives no variant
            continue
        if isinstance(r, sympy.Expr) and r not in out and not r.has(sympy.nan, sympy.zoo):
            out.append(r)
    return sorted(out, key=sympy.count_ops)


@dataclass
class _Symbolic:
    grad: sympy.Expr  # for display (sympy's forms)
    conj: sympy.Expr
    grad_eval: sympy.Expr  # float-safe forms
    conj_eval: Optional[sympy.Expr]  # None: v* by substitution s x - v(x)
    rejected: list
    note: str
    checked_points: int


def _derive_job(e, pieces: list, seconds: float):
    """The worker process's job: (_Symbolic, pieces with their limits and branches filled in). A
    give-up because the budget ran out (a capped sympy call that timed out) is reported as a timeout."""
    clock = _Clock(seconds)
    try:
        return _derive(e, pieces, clock), pieces
    except _GiveUp:
        if clock.left() <= 0:
            raise _Timeout() from None
        raise


def _derive(e, pieces: Optional[list], clock: _Clock) -> _Symbolic:
    if pieces is None:
        raise _GiveUp("the kinks of v could not be located")
    rejected, described, conj_lossy = [], [], []
    n_points = 0
    pcs = pieces
    for pc in pcs:
        pc.dv = sympy.diff(pc.v, X)
        pc.L = _value_at(pc.dv, pc.c0, "+", clock)
        pc.R = _value_at(pc.dv, pc.c1, "-", clock)
        if pc.L is None or pc.R is None:
            raise _GiveUp(f"no one-sided limit of v' = {pc.dv} at the ends of [{pc.c0}, {pc.c1}]")
        Lf, Rf = _fnum(pc.L), _fnum(pc.R)
        pc.xs = pc.xs_eval = pc.cj = pc.cj_eval = None
        if not Lf < Rf:
            continue  # v is affine on this piece (mu = 0): it covers no range of s
        try:
            # check=False: sympy's own check is slow and not trusted anyway; _check_branch decides
            sols = clock.run(lambda pc=pc: sympy.solve(sympy.Eq(pc.dv, S), X, check=False))
        except _Timeout:
            raise _GiveUp(f"sympy timed out solving v'(x) = s with v' = {pc.dv}") from None
        except NotImplementedError as err:
            raise _GiveUp(f"sympy cannot solve v'(x) = s with v' = {pc.dv} ({err})") from None
        except Exception as err:  # sympy's solvers fail in many ways on hard input
            raise _GiveUp(f"sympy failed on v'(x) = s with v' = {pc.dv}: {type(err).__name__}: {err}") from None
        # the s where x(s) is nearest 0: v'(0) inside the piece, else v' at the end nearest 0
        if Lf < 0 < Rf and _fnum(pc.c0) < 0 < _fnum(pc.c1):
            center = _real_value(_hp(pc.dv, X, 0))
        else:
            center = Lf if _fnum(pc.c0) >= 0 else Rf
        points = _piece_test_points(Lf, Rf, center if center is not None else 0.0)
        cands = [c for sol in sols for c in _candidates(sol)]
        values = None
        for cand in cands:
            if not cand.free_symbols <= {S}:
                rejected.append((cand, "depends on symbols other than s"))
                continue
            try:
                why, vals = clock.run(lambda cand=cand: _check_branch(cand, pc, points))
            except _Timeout:
                raise _GiveUp("timed out checking the branches of v'(x) = s") from None
            if why is None:
                pc.xs, values = cand, vals
                break
            rejected.append((cand, why))
        if pc.xs is None:
            found = ", ".join(_short(c) for c in cands) or "none"
            raise _GiveUp(f"no branch of v'(x) = s on [{pc.c0}, {pc.c1}] passed the checks (sympy gave: {found})",
                          rejected)
        described.append(f"x = {_short(pc.xs)} for {pc.L} < s < {pc.R}")

        # float-safe grad piece: compared with the 120-digit x(s) at the test points
        s_pts = np.array(sorted(values))
        x_ref = np.array([float(values[sv]) for sv in s_pts])
        n_points += s_pts.size
        form, fail = _float_check(_stable_forms(pc.xs), s_pts, x_ref, None)
        if form is None:
            raise _GiveUp(f"the closed form x = {pc.xs} is not float-safe: at s = {fail[0]:.6g} float64 gives "
                          f"{fail[1]:.17g}, the exact value is {fail[2]:.17g}")
        pc.xs_eval = form

        # v* piece: s x - v(x) at 120 digits for reference, then the shortest float-safe equal form
        fv = _Precise(pc.v, X)
        c_ref = []
        for sv in s_pts:
            xv = values[sv]
            vv = fv.at(xv, digits=(120,))
            if vv is None or vv is _Precise.UNDEFINED or not _is_real(vv):
                vv = _value_at(e, pc.c1 if xv > (_fnum(pc.c0) + _fnum(pc.c1)) / 2 else pc.c0, None, clock) \
                    if min(abs(xv - _fnum(pc.c0)), abs(xv - _fnum(pc.c1))) < 1e-30 else None
                vv = mpmath.mpf(_fnum(vv)) if vv is not None else mpmath.nan
            with mpmath.workdps(120):
                c_ref.append(float(sv * xv - mpmath.re(vv)))
        c_ref = np.array(c_ref)
        raw = S * pc.xs - pc.v.subs(X, pc.xs)
        # the costly simplifications only when the cheap ones give no float-safe form
        for strategies in (_CHEAP, _COSTLY):
            variants = _conj_variants(raw, clock, strategies)
            if pc.cj is None:
                pc.cj = variants[0]
            for var in variants:
                form, fail = _float_check(_stable_forms(var), s_pts, c_ref, x_ref)
                if form is not None:
                    pc.cj, pc.cj_eval = var, form
                    break
            if pc.cj_eval is not None:
                break
        if pc.cj_eval is None:
            conj_lossy.append(f"{pc.cj} (at s = {fail[0]:.3g}: {fail[1]:.17g} vs {fail[2]:.17g})")

    # -- assemble grad v* and v* over all s --------------------------------------------------------
    def v_at(c, side):
        val = _value_at(e, c, side, clock)
        if val is None:
            raise _GiveUp(f"no value of v at x = {c}")
        return val

    g_show, g_eval, c_show, c_eval = [], [], [], []

    def add(x_ex, x_eval, c_ex, c_ev, cond):
        g_show.append((x_ex, cond))
        g_eval.append((x_eval, cond))
        c_show.append((c_ex, cond))
        c_eval.append((c_ev, cond))

    for i, pc in enumerate(pcs):
        if pc.c0 is -sympy.oo and pc.L is not -sympy.oo:
            # v' bounded below on an unbounded side: below that bound the sup is not attained
            add(-sympy.oo, -sympy.oo, sympy.oo, sympy.oo, S <= pc.L)
        elif pc.c0.is_finite and pc.L is not -sympy.oo:
            # s <= v'(c0+) above the previous range: x = c0, a domain end or a kink
            vc = v_at(pc.c0, "+" if i == 0 else None)
            if pc.xs is None and _fnum(pc.c0) < 0 < _fnum(pc.c1):
                # v affine on a piece around 0 (mu = 0): at s = v' there, take the maximiser 0
                add(pc.c0, pc.c0, S * pc.c0 - vc, S * pc.c0 - vc, S < pc.L)
                add(sympy.Integer(0), sympy.Integer(0), sympy.Integer(0), sympy.Integer(0), S <= pc.L)
            else:
                add(pc.c0, pc.c0, S * pc.c0 - vc, S * pc.c0 - vc, S <= pc.L)
        if pc.xs is not None:
            cond = S < pc.R if pc.R is not sympy.oo else sympy.true
            add(pc.xs, pc.xs_eval, pc.cj, pc.cj_eval, cond)
    last = pcs[-1]
    if last.c1.is_finite:
        vc = v_at(last.c1, "-")
        add(last.c1, last.c1, S * last.c1 - vc, S * last.c1 - vc, sympy.true)
    elif last.R is not sympy.oo:
        add(sympy.oo, sympy.oo, sympy.oo, sympy.oo, sympy.true)
    if not g_show or g_show[-1][1] is not sympy.true:
        raise _GiveUp("the pieces do not cover all s")

    def build(parts):
        return sympy.Piecewise(*parts) if len(parts) > 1 else parts[0][0]

    conj_eval = None if any(ex is None for ex, _ in c_eval) else build(c_eval)
    note = "; ".join(described)
    if conj_lossy:
        note += "; v* = " + ", ".join(conj_lossy) + " loses accuracy in float64, so v* is evaluated as s x - v(x)"
    return _Symbolic(grad=build(g_show), conj=build(c_show), grad_eval=build(g_eval), conj_eval=conj_eval,
                     rejected=rejected, note=note, checked_points=n_points)
