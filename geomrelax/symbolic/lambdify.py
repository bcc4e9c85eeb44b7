"""Formulas as functions: float64 numpy evaluation and torch evaluation of sympy expressions.

``lambdify_numpy(expr, sym)`` is vectorised and returns float64 (a complex result becomes NaN);
``lambdify_torch(expr, sym)`` takes a tensor and keeps its device and dtype. The torch version is built
from the numpy printer's output with torch implementations of the names it emits (sympy's own torch
printer cannot print log(2), Max or hypot in the sympy version used here); torch is reached only through
``geomrelax.backend.torch_module()``, when a tensor is handed in.

``softplus(u) = log(1 + exp(u))`` and ``logcosh(u) = log(cosh(u))`` are sympy functions that the
float-safe rewriting (stabilize.py) introduces; both printers evaluate them without overflow
(logaddexp; |u| + log1p(exp(-2|u|)) - log 2). Point masses (DiracDelta in v'' of a kinked v) and the
unevaluated derivative of floor/ceiling are 0 pointwise and are dropped before printing.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
import sympy

from ..backend import torch_module
from ..regularizers import log_cosh
from .parse import X


class softplus(sympy.Function):
    """softplus(u) = log(1 + exp(u)), evaluated without overflow."""

    nargs = 1

    def _eval_rewrite_as_log(self, u, **kwargs):
        return sympy.log(1 + sympy.exp(u))


class logcosh(sympy.Function):
    """logcosh(u) = log(cosh(u)), evaluated without overflow."""

    nargs = 1

    def _eval_rewrite_as_log(self, u, **kwargs):
        return sympy.log(sympy.cosh(u))


def _np_softplus(u):
    return np.logaddexp(0.0, u)


_NP_EXTRA = {"softplus": _np_softplus, "logcosh": log_cosh}


def _drop_dirac(expr):
    # v'' of a kinked v carries point masses (DiracDelta); pointwise they are 0, and the kinks
    # themselves are checked through v' (scan_curvature's `decrease`). Likewise the derivative of
    # floor/ceiling, which sympy leaves unevaluated: 0 between the jumps, which are refused separately
    out = expr.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    return out.replace(lambda a: isinstance(a, sympy.Derivative) and isinstance(a.expr, (sympy.floor, sympy.ceiling)),
                       lambda a: sympy.S.Zero)


def lambdify_numpy(expr, sym=X) -> Callable:
    """A vectorised float64 numpy function of ``expr`` in ``sym`` (complex results become NaN)."""
    f = sympy.lambdify(sym, _drop_dirac(expr), modules=[_NP_EXTRA, "numpy", "scipy"])

    def call(x):
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            out = np.asarray(f(x))
        if np.iscomplexobj(out):
            out = np.where(out.imag == 0, out.real, np.nan)
        out = out.astype(np.float64, copy=False)
        return out if out.shape == x.shape else np.broadcast_to(out, x.shape).copy()

    call.__doc__ = f"float64 numpy evaluation of {expr}"
    return call


@functools.lru_cache(maxsize=1)
def _torch_namespace() -> dict:
    """The names the numpy printer emits, implemented with torch for tensors and numpy otherwise."""
    torch = torch_module()  # only reached when a torch evaluation is asked for

    T = torch.Tensor

    def as_t(v, ref):
        return v if isinstance(v, T) else torch.as_tensor(v, dtype=ref.dtype, device=ref.device)

    def ref_of(*vals):
        for v in vals:
            if isinstance(v, T):
                return v
        return None

    def unary(tf, nf):
        return lambda a: tf(a) if isinstance(a, T) else nf(a)

    def binary(tf, nf):
        def f(a, b):
            ref = ref_of(a, b)
            return nf(a, b) if ref is None else tf(as_t(a, ref), as_t(b, ref))
        return f

    class _Logical:
        def __init__(self, tf, nf):
            self.tf, self.nf = tf, nf

        def __call__(self, *args):
            ref = ref_of(*args)
            return self.nf(*args) if ref is None else self.tf(*[as_t(a, ref) for a in args])

        def reduce(self, items):
            return functools.reduce(self, items)

    def select(condlist, choicelist, default=math.nan):
        ref = ref_of(*condlist, *choicelist)
        if ref is None:
            return np.select(condlist, choicelist, default=default)
        out = torch.full_like(ref, float(default), dtype=ref.dtype if ref.is_floating_point() else torch.float64)
        for cond, choice in reversed(list(zip(condlist, choicelist))):
            if cond is True or cond is np.True_:
                out = as_t(choice, out).expand_as(out).clone() if isinstance(choice, T) else torch.full_like(out, float(choice))
            elif cond is False or cond is np.False_:
                continue
            else:
                out = torch.where(as_t(cond, out).bool(), as_t(choice, out), out)
        return out

    def logcosh_t(u):
        a = u.abs()
        return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)

    def cbrt_t(u):
        return u.sign() * u.abs() ** (1.0 / 3.0)

    names = {
        "sqrt": (torch.sqrt, np.sqrt), "exp": (torch.exp, np.exp), "log": (torch.log, np.log),
        "log1p": (torch.log1p, np.log1p), "expm1": (torch.expm1, np.expm1), "log2": (torch.log2, np.log2),
        "log10": (torch.log10, np.log10), "sin": (torch.sin, np.sin), "cos": (torch.cos, np.cos),
        "tan": (torch.tan, np.tan), "arcsin": (torch.asin, np.arcsin), "arccos": (torch.acos, np.arccos),
        "arctan": (torch.atan, np.arctan), "sinh": (torch.sinh, np.sinh), "cosh": (torch.cosh, np.cosh),
        "tanh": (torch.tanh, np.tanh), "arcsinh": (torch.asinh, np.arcsinh), "arccosh": (torch.acosh, np.arccosh),
        "arctanh": (torch.atanh, np.arctanh), "abs": (torch.abs, np.abs), "sign": (torch.sign, np.sign),
        "floor": (torch.floor, np.floor), "ceil": (torch.ceil, np.ceil),
        "erf": (torch.special.erf, None), "erfc": (torch.special.erfc, None),
        "softplus": (lambda u: torch.logaddexp(u, torch.zeros_like(u)), _np_softplus),
        "logcosh": (logcosh_t, log_cosh), "cbrt": (cbrt_t, np.cbrt),
        "real": (lambda u: u, np.real), "imag": (torch.zeros_like, np.imag),
    }
    ns: dict = {}
    from scipy import special as _sp

    for name, (tf, nf) in names.items():
        ns[name] = unary(tf, nf if nf is not None else getattr(_sp, name))
    for name, tf in {"hypot": torch.hypot, "arctan2": torch.atan2, "maximum": torch.maximum,
                     "minimum": torch.minimum, "power": torch.pow, "less": torch.lt, "less_equal": torch.le,
                     "greater": torch.gt, "greater_equal": torch.ge, "equal": torch.eq, "not_equal": torch.ne,
                     "heaviside": torch.heaviside}.items():
        ns[name] = binary(tf, getattr(np, name))
    ns["logical_and"] = _Logical(lambda *a: functools.reduce(torch.logical_and, a), np.logical_and)
    ns["logical_or"] = _Logical(lambda *a: functools.reduce(torch.logical_or, a), np.logical_or)
    ns["logical_not"] = unary(torch.logical_not, np.logical_not)
    ns["select"] = select
    ns["reduce"] = functools.reduce
    return ns


def lambdify_torch(expr, sym=X) -> Callable:
    """``expr`` as a function of a torch tensor (same device and dtype), built from the numpy printer's
    output with torch implementations of the names it emits (sympy's own torch printer cannot print
    log(2), Max or hypot in this version)."""
    ns = _torch_namespace()
    f = sympy.lambdify(sym, _drop_dirac(expr), modules=[ns, "numpy"])

    def call(t):
        out = f(t)
        if not hasattr(out, "expand"):  # a constant formula gives a Python number
            return t.new_full(t.shape, float(out))
        return out.expand(t.shape) if out.shape != t.shape else out

    return call
