"""geomrelax: geometry relaxation of sign-based and LMO-based optimizers.

A strongly convex regularizer V goes in; out come V*, grad V*, the regularized LMO
d_tau(m) = argmin_{d in D} <m, d> + V(d)/tau = grad V*(-tau m) and its cross-check by cvxpy.
Heavier parts (sympy, cvxpy, torch) are imported on first use.
"""

from importlib import import_module

from .errors import (
    DomainError,
    GeomrelaxError,
    InvalidHyperparameterError,
    InvalidRegularizerError,
    InvalidTemperatureError,
    NonFiniteError,
    NotConvexError,
    NotStronglyConvexError,
    SolverError,
)
from .lmo import check_tau, relaxed_lmo, relaxed_lmo_value
from .regularizers import BUILTIN_NAMES, Regularizer, SeparableRegularizer, as_regularizer, regularizer
from .spectral import Spectral, polar, smoothed_polar, spectral

# imported eagerly (it needs only numpy): `geomrelax.verify` is then the function, not its module, which
# stays reachable as `from geomrelax.verify import VerifyReport` and as sys.modules["geomrelax.verify"]
from .verify import VerifyReport, verify

# likewise `geomrelax.lmo` is the norm-ball LMO function; the module geomrelax/lmo.py stays reachable as
# `from geomrelax.lmo import relaxed_lmo` and as sys.modules["geomrelax.lmo"]
from .norms import NORM_NAMES, dual_norm, lmo, norm_value

__version__ = "0.1.0"

# name -> module, imported when first asked for (keeps `import geomrelax` free of sympy/cvxpy/torch)
_LAZY = {
    "from_expr": "geomrelax.symbolic",
    "cvxpy_lmo": "geomrelax.crosscheck",
    "cross_check": "geomrelax.crosscheck",
    "temperature_schedule": "geomrelax.schedule",
    "optim": "geomrelax.optim",
    "reference": "geomrelax.reference",
}


def __getattr__(name):
    if name in _LAZY:
        module = import_module(_LAZY[name])
        value = module if module.__name__.endswith("." + name) else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'geomrelax' has no attribute {name!r}")


__all__ = [
    "BUILTIN_NAMES", "DomainError", "GeomrelaxError", "InvalidHyperparameterError", "InvalidRegularizerError", "InvalidTemperatureError",
    "NonFiniteError", "NotConvexError", "NotStronglyConvexError", "Regularizer", "SeparableRegularizer",
    "SolverError", "Spectral", "as_regularizer", "check_tau", "polar", "regularizer", "relaxed_lmo", "relaxed_lmo_value",
    "smoothed_polar", "spectral", "verify", "VerifyReport", "NORM_NAMES", "dual_norm", "lmo", "norm_value", *_LAZY,
]
