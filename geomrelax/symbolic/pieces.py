"""The pieces of the domain between the kinks of v.

Abs, sign, Max, Min and Heaviside are rewritten as Piecewise and folded to the top; [lo, hi] is cut
where a Piecewise condition changes (sympy solves each condition's boundary, time-capped), and on each
piece (c_i, c_{i+1}) v is the single smooth branch that holds at the piece's middle. The validation
checks continuity and one-sided derivatives at the cuts; the symbolic route solves v'(x) = s piece by
piece. ``_GiveUp`` is the symbolic route's "cannot proceed" (with the branches it rejected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import sympy

from .parse import X
from .values import _fnum, _hp, _real_value
from .worker import Clock as _Clock
from .worker import Timeout as _Timeout


class _GiveUp(Exception):
    """The symbolic route cannot proceed; the message says why, ``rejected`` lists the branches dropped."""

    def __init__(self, message, rejected=()):
        super().__init__(message)
        self.rejected = list(rejected)

    def payload(self):
        """What crosses back from the worker process (plain data)."""
        return self.rejected


@dataclass
class _Piece:
    c0: object  # sympy ends (may be +-oo)
    c1: object
    v: sympy.Expr  # v without Abs/Piecewise on (c0, c1)
    dv: sympy.Expr = None
    L: object = None  # v'(c0+)
    R: object = None  # v'(c1-)
    xs: Optional[sympy.Expr] = None  # the verified inverse of v' on the piece (None: v affine there)
    xs_eval: Optional[sympy.Expr] = None  # its float-safe form
    cj: Optional[sympy.Expr] = None  # v* on the piece's range of s, and its float-safe form
    cj_eval: Optional[sympy.Expr] = None


def _kink_free(expr) -> sympy.Expr:
    """Abs, sign, Max, Min, Heaviside rewritten as Piecewise and folded to the top."""
    e = expr
    for f in (sympy.Abs, sympy.sign, sympy.Max, sympy.Min, sympy.Heaviside):
        if e.has(f):
            e = e.rewrite(sympy.Piecewise)
    return sympy.piecewise_fold(e)


def _pieces(e, lo, hi, clock: _Clock) -> list:
    """Split [lo, hi] at the points where a Piecewise condition of v changes."""
    pw = _kink_free(e)
    cuts = set()
    for p in pw.atoms(sympy.Piecewise):
        for _, cond in p.args:
            for rel in cond.atoms(sympy.core.relational.Relational):
                g = rel.lhs - rel.rhs
                if not g.has(X):
                    continue
                try:
                    roots = clock.run(lambda: sympy.solve(g, X), 3.0)
                except _Timeout:
                    raise _GiveUp(f"timed out locating the kink {rel}") from None
                except Exception as err:
                    raise _GiveUp(f"cannot locate the kink {rel}: {err}") from None
                for r in roots:
                    rv = _real_value(_hp(r, X, 0))
                    if rv is not None and _fnum(lo) < rv < _fnum(hi):
                        cuts.add(sympy.nsimplify(r))
    ends = [lo] + sorted(cuts, key=_fnum) + [hi]
    pieces = []
    for c0, c1 in zip(ends[:-1], ends[1:]):
        if c0.is_finite and c1.is_finite:
            mid = (c0 + c1) / 2
        elif c0.is_finite:
            mid = c0 + 1
        elif c1.is_finite:
            mid = c1 - 1
        else:
            mid = sympy.Integer(0)

        def pick(p, mid=mid):
            for ex, cond in p.args:
                c = cond.subs(X, mid)
                if c is sympy.true:
                    return ex
                if c is not sympy.false:
                    raise _GiveUp(f"cannot decide the condition {cond} at x = {mid}")
            raise _GiveUp(f"no branch of {p} holds at x = {mid}")

        v = pw.replace(lambda a: isinstance(a, sympy.Piecewise), pick) if pw.has(sympy.Piecewise) else pw
        pieces.append(_Piece(c0=c0, c1=c1, v=v))
    return pieces
