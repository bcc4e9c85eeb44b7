"""Checks of optimizer options, shared by every optimizer of the toolkit.

The validators live in the light core module geomrelax.validate (the core and synthetic use them without
loading torch); they are re-exported here. Each returns the checked value or raises
:class:`~geomrelax.errors.InvalidHyperparameterError` (a ValueError) whose message names the option and
the offending value.
"""

from __future__ import annotations

from ..validate import check_bool, check_choice, check_int, check_real

__all__ = ["check_bool", "check_choice", "check_int", "check_real", "check_sgd_momentum_options"]


def check_sgd_momentum_options(group, flags=("nesterov", "maximize")) -> None:
    """The options of torch-SGD-style momentum: lr >= 0, momentum in [0, 1), dampening in [0, 1],
    weight_decay >= 0, and the boolean ``flags``."""
    check_real("lr", group["lr"], low=0.0, allow_tensor=True)
    check_real("momentum", group["momentum"], low=0.0, high=1.0, high_open=True)
    check_real("dampening", group["dampening"], low=0.0, high=1.0)
    check_real("weight_decay", group["weight_decay"], low=0.0)
    for name in flags:
        check_bool(name, group[name])
