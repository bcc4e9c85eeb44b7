"""Norm names: parsing 'schatten:3', 'kyfan:2', 'ffanion:2,0.5' into a NormSpec, with errors that list the
valid names. A name is data: numbers are read by float() and int() of the text, nothing is evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..errors import GeomrelaxError

VECTOR_NORMS = ("l1", "linf", "l2")
MATRIX_NORMS = ("frobenius", "spectral", "nuclear", "schatten:p", "kyfan:k", "kyfan_dual:k", "row_l2", "col_l2",
                "rms", "left_polar", "ffanion:k,alpha", "sfanion:k,alpha", "fmuon:alpha", "smuon:alpha",
                "kyfan_fro:k,alpha", "kyfan_spectral:k,alpha")
_COMBINATIONS = ("ffanion", "sfanion", "kyfan_fro", "kyfan_spectral")
NORM_NAMES: tuple = VECTOR_NORMS + MATRIX_NORMS
_PLAIN = ("l1", "linf", "l2", "frobenius", "spectral", "nuclear", "row_l2", "col_l2", "rms", "left_polar")
# Regularizer.norm names the Frobenius norm 'fro' (numpy's spelling): the same norm, so the same NormSpec
_ALIASES = {"fro": "frobenius"}


class InvalidNormError(GeomrelaxError, ValueError):
    """An unknown norm name or a bad parameter; the message lists the valid ones."""


@dataclass(frozen=True)
class NormSpec:
    """A parsed norm name: ``family`` (the name before the colon), its parameters, and ``matrix``."""

    family: str
    p: Optional[float] = None
    k: Optional[int] = None
    alpha: Optional[float] = None

    @property
    def matrix(self) -> bool:
        return self.family not in VECTOR_NORMS

    @property
    def text(self) -> str:
        if self.family == "schatten":
            return f"schatten:{self.p:g}"
        if self.family in ("kyfan", "kyfan_dual"):
            return f"{self.family}:{self.k}"
        if self.family in _COMBINATIONS:
            return f"{self.family}:{'r' if self.k is None else self.k},{self.alpha:g}"
        return self.family


def _bad(norm, why: str):
    raise InvalidNormError(f"norm {norm!r}: {why}; valid norms are {', '.join(NORM_NAMES)} "
                           "(p in [1, inf], k an integer >= 1, alpha in [0, 1])")


def _number(norm, text: str, what: str) -> float:
    try:
        val = float(text)  # float() of a string reads a number only: the name is data
    except ValueError:
        _bad(norm, f"{what} {text!r} is not a number")
    if math.isnan(val):
        _bad(norm, f"{what} is NaN")
    return val


def _integer(norm, text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        _bad(norm, f"k = {text!r} must be an integer >= 1")
    return int(text)


def _alpha(norm, text: str) -> float:
    a = _number(norm, text, "alpha")
    if not 0.0 <= a <= 1.0:
        _bad(norm, f"alpha = {a:g} must lie in [0, 1]")
    return a


def parse_norm(norm) -> NormSpec:
    """The NormSpec of a name such as 'l1', 'schatten:3', 'kyfan:2', 'ffanion:2,0.5' (a NormSpec passes)."""
    if isinstance(norm, NormSpec):
        return norm
    if not isinstance(norm, str):
        raise InvalidNormError(f"a norm is named by a string, got {type(norm).__name__}: {norm!r:.80}; "
                               f"valid norms are {', '.join(NORM_NAMES)}")
    family, _, arg = norm.strip().lower().partition(":")
    family = _ALIASES.get(family, family)
    if family in _PLAIN:
        if arg:
            _bad(norm, f"{family} takes no parameter")
        return NormSpec(family)
    if not arg:
        if family in ("schatten", "kyfan", "kyfan_dual", "fmuon", "smuon") + _COMBINATIONS:
            _bad(norm, f"{family} needs a parameter after ':'")
        _bad(norm, "unknown name")
    if family == "schatten":
        p = _number(norm, arg, "p")
        if not p >= 1.0:
            _bad(norm, f"p = {p:g} must be >= 1 (p < 1 is a quasi-norm, without a convex ball)")
        return NormSpec("schatten", p=p)
    if family in ("kyfan", "kyfan_dual"):
        return NormSpec(family, k=_integer(norm, arg))
    if family in ("fmuon", "smuon"):
        return NormSpec(family[0] + "fanion", k=None, alpha=_alpha(norm, arg))
    if family in _COMBINATIONS:
        parts = arg.split(",")
        if len(parts) != 2:
            _bad(norm, f"{family} takes 'k,alpha'")
        return NormSpec(family, k=_integer(norm, parts[0]), alpha=_alpha(norm, parts[1]))
    _bad(norm, "unknown name")


# ------------------------------------------------------------------------------------------------
# input handling
# ------------------------------------------------------------------------------------------------
