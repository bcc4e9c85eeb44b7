"""Checks of optimizer options, shared by every optimizer of the toolkit.

Each returns the checked value or raises :class:`~geomrelax.errors.InvalidHyperparameterError` (a
ValueError) whose message names the option and the offending value.
"""

from __future__ import annotations

import math
import numbers

import torch

from ..errors import InvalidHyperparameterError

__all__ = ["check_bool", "check_choice", "check_int", "check_real", "check_sgd_momentum_options"]


def check_real(name, value, *, low=None, high=None, low_open=False, high_open=False, allow_inf=False,
               allow_tensor=False):
    """``value`` as a float within [low, high] (open ends as asked).

    Accepted: a real number, or with ``allow_tensor`` a 0-d real tensor (torch.optim accepts a tensor
    lr). Refused with a message naming the value: bools, non-reals, tensors with a shape (even [1] or
    [1, 1]), NaN, and +-inf unless ``allow_inf``.
    """
    if isinstance(value, torch.Tensor) and allow_tensor:
        if value.dim() != 0 or value.is_complex() or value.dtype == torch.bool:
            raise InvalidHyperparameterError(
                f"{name} must be a real number or a 0-d tensor, got a tensor of shape {list(value.shape)} "
                f"and dtype {value.dtype}: {value!r}")
        v = float(value)
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidHyperparameterError(f"{name} must be a real number, got {value!r}")
    else:
        v = float(value)
    if math.isnan(v):
        raise InvalidHyperparameterError(f"{name} must be a real number, got NaN")
    if math.isinf(v) and not allow_inf:
        raise InvalidHyperparameterError(f"{name} must be finite, got {value!r}")
    lo_ok = low is None or (v > low if low_open else v >= low)
    hi_ok = high is None or (v < high if high_open else v <= high)
    if not (lo_ok and hi_ok):
        lb = "-inf" if low is None else f"{low:g}"
        hb = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lb}, {hb}{')' if high_open or high is None else ']'}"
        raise InvalidHyperparameterError(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_int(name, value, *, low=0):
    """``value`` as an int >= low; refuses bools, floats and negative counts."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidHyperparameterError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise InvalidHyperparameterError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_bool(name, value):
    if not isinstance(value, bool):
        raise InvalidHyperparameterError(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(name, value, choices):
    if value not in choices:
        raise InvalidHyperparameterError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_sgd_momentum_options(group, flags=("nesterov", "maximize")) -> None:
    """The options of torch-SGD-style momentum: lr >= 0, momentum in [0, 1), dampening in [0, 1],
    weight_decay >= 0, and the boolean ``flags``."""
    check_real("lr", group["lr"], low=0.0, allow_tensor=True)
    check_real("momentum", group["momentum"], low=0.0, high=1.0, high_open=True)
    check_real("dampening", group["dampening"], low=0.0, high=1.0)
    check_real("weight_decay", group["weight_decay"], low=0.0)
    for name in flags:
        check_bool(name, group[name])
