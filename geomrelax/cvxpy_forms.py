"""The cvxpy forms of regularizers: what a regularizer hands the cross-check (geomrelax.cross_check).

A regularizer writes V(d) for cvxpy itself (``Regularizer.cvxpy_term``), so that the cross-check never
asks for a name. This module holds the pieces the built-ins use: the result type ``CvxpyTerm``, the error
``NotExpressible``, and the exact DCP forms of the built-in v's and of their spectral lifts

    euclidean, box_quadratic   v = x^2/2: square(x)/2;     F(D) = sum_squares(D)/2 (and sigma_max(D) <= 1)
    box                        v = 0 on [-1, 1];            F = 0 on sigma_max(D) <= 1
    entropic                   -(entr(1 + x) + entr(1 - x))/2;  F by Ky Fan majorization (generic) or the
                               von Neumann entropy of [[I, D], [D^T, I]]
    algebraic                  1 - sqrt(1 - x^2);           F by one LMI (below)

cvxpy is imported only inside the functions: ``import geomrelax`` never loads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import InvalidRegularizerError

__all__ = ["CvxpyTerm", "NotExpressible", "cvxpy_module", "spectral_ball"]


class NotExpressible(InvalidRegularizerError):
    """The regularizer has no cvxpy (DCP) form here; the message says why."""


@dataclass
class CvxpyTerm:
    """V(d) written for cvxpy: ``value`` a scalar cvxpy expression equal to V(d) on D, ``constraints`` the
    ones that put d in D beyond what ``value``'s own domain imposes, ``description`` for reports, ``zero``
    when V = 0 on D (the LMO program is then linear), ``clarabel`` solver settings the program needs."""

    value: object
    constraints: list
    description: str
    zero: bool = False
    clarabel: dict = field(default_factory=dict)


def cvxpy_module():
    import cvxpy  # the core loads cvxpy only when a cvxpy form is asked for

    return cvxpy


def spectral_ball(D, a: float) -> list:
    return [cvxpy_module().sigma_max(D) <= a] if math.isfinite(a) else []


def quadratic_cvxpy(x):
    return cvxpy_module().square(x) / 2


def box_cvxpy(x):
    return cvxpy_module().Constant(np.zeros(x.shape))


def entropic_cvxpy(x):
    cp = cvxpy_module()
    return -(cp.entr(1 + x) + cp.entr(1 - x)) / 2  # entr(u) = -u log u


def algebraic_cvxpy(x):
    cp = cvxpy_module()
    return 1 - cp.sqrt(1 - cp.square(x))  # the sqrt of a concave argument is concave (DCP)


def quadratic_spectral(V, D, form) -> CvxpyTerm:
    # sum_i sigma_i^2 / 2 = ||D||_F^2 / 2
    ball = spectral_ball(D, V.domain.hi)
    return CvxpyTerm(cvxpy_module().sum_squares(D) / 2, ball,
                     "sum_squares(D)/2" + (", sigma_max(D) <= 1" if ball else ""))


def box_spectral(V, D, form) -> CvxpyTerm:
    return CvxpyTerm(cvxpy_module().Constant(0.0), spectral_ball(D, 1.0), "0 on sigma_max(D) <= 1", zero=True)


def algebraic_spectral(V, D, form) -> CvxpyTerm:
    """F(D) = r - max { tr Z : sigma_max([D; Z]) <= 1 }, Z r x r ([D, Z] when rows < cols).

    [D; Z]^T [D; Z] = D^T D + Z^T Z <= I and tr Z <= tr (Z^T Z)^(1/2) <= tr (I - D^T D)^(1/2) (the square
    root is operator monotone), with equality at Z = (I - D^T D)^(1/2): max tr Z = sum_i sqrt(1 - sigma_i^2).
    One LMI of size rows + 2r."""
    cp = cvxpy_module()
    rows, cols = D.shape
    r = min(rows, cols)
    Z = cp.Variable((r, r))
    stacked = cp.vstack([D, Z]) if rows >= cols else cp.hstack([D, Z])
    return CvxpyTerm(r - cp.trace(Z), [cp.sigma_max(stacked) <= 1],
                     f"{r} - tr Z, sigma_max({'[D; Z]' if rows >= cols else '[D, Z]'}) <= 1")


def entropic_spectral(V, D, form) -> Optional[CvxpyTerm]:
    """form 'von_neumann': B = [[I, D], [D^T, I]] has eigenvalues 1 +- sigma_i(D) and 1 (|rows - cols|
    times), so sum_i v(sigma_i) = -S(B)/2 with S(B) = -tr B log B (entr(1) = 0). Otherwise None: the
    generic Ky Fan majorization form."""
    if form != "von_neumann":
        return None
    cp = cvxpy_module()
    rows, cols = D.shape
    B = cp.Variable((rows + cols, rows + cols), symmetric=True)
    cons = [B[:rows, :rows] == np.eye(rows), B[rows:, rows:] == np.eye(cols), B[:rows, rows:] == D]
    # exponential cones beside large LMIs: Clarabel's default step fraction 0.99 ends 'optimal_inaccurate'
    return CvxpyTerm(-cp.von_neumann_entr(B) / 2, cons, "-S(B)/2, B = [[I, D], [D^T, I]] (von Neumann)",
                     clarabel={"max_step_fraction": 0.9})
