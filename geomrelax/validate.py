"""Checks of user-given numbers, counts, flags and choices: the one set the whole toolkit uses (the core,
geomrelax.optim through its options module, synthetic, proofs_check, the app).

Each returns the checked value or raises ``error`` (default
:class:`~geomrelax.errors.InvalidHyperparameterError`; every geomrelax error is a ValueError) with a
message that names the parameter and the offending value. Numbers are taken as numbers only: a string
such as "0.5" is refused, not read (float("0.5") would accept it). Light: no torch import (a tensor is
recognised through geomrelax.backend, which only looks at a torch already loaded).
"""

from __future__ import annotations

import math
import numbers

from .backend import is_tensor, torch_module
from .errors import InvalidHyperparameterError

__all__ = ["check_bool", "check_choice", "check_int", "check_real"]


def check_real(name, value, *, low=None, high=None, low_open=False, high_open=False, allow_inf=False,
               allow_tensor=False, error=InvalidHyperparameterError):
    """``value`` as a float within [low, high] (open ends as asked).

    Accepted: a real number (numpy scalars included), or with ``allow_tensor`` a 0-d real tensor
    (torch.optim accepts a tensor lr). Refused with a message naming the value: bools, non-reals (strings
    too), tensors with a shape (even [1] or [1, 1]), NaN, and +-inf unless ``allow_inf``.
    """
    if allow_tensor and is_tensor(value):
        if value.dim() != 0 or value.is_complex() or value.dtype == torch_module().bool:
            raise error(f"{name} must be a real number or a 0-d tensor, got a tensor of shape {list(value.shape)} "
                        f"and dtype {value.dtype}: {value!r}")
        v = float(value)
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{name} must be a real number, got {value!r}")
    else:
        v = float(value)
    if math.isnan(v):
        raise error(f"{name} must be a real number, got NaN")
    if math.isinf(v) and not allow_inf:
        raise error(f"{name} must be finite, got {value!r}")
    lo_ok = low is None or (v > low if low_open else v >= low)
    hi_ok = high is None or (v < high if high_open else v <= high)
    if not (lo_ok and hi_ok):
        lb = "-inf" if low is None else f"{low:g}"
        hb = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lb}, {hb}{')' if high_open or high is None else ']'}"
        raise error(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_int(name, value, *, low=0, high=None, error=InvalidHyperparameterError):
    """``value`` as an int in [low, high] (None: no bound that side); refuses bools, floats (even 3.0) and
    strings."""
    if high is None:
        what = "an integer" if low is None else f"an integer >= {low}"
    else:
        what = f"an integer <= {high}" if low is None else f"an integer in {low}..{high}"
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or (low is not None and value < low)
            or (high is not None and value > high)):
        raise error(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_bool(name, value, *, error=InvalidHyperparameterError):
    if not isinstance(value, bool):
        raise error(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(name, value, choices, *, error=InvalidHyperparameterError):
    if value not in choices:
        raise error(f"{name} must be one of {list(choices)}, got {value!r}")
    return value
