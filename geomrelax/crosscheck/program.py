"""The LMO program min_{d in D} <m, d> + V(d)/tau for cvxpy, from the regularizer's own cvxpy form
(Regularizer.cvxpy_term, or cvxpy_domain for the hard LMO at tau = inf): no regularizer is asked its name.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from ..errors import GeomrelaxError, InvalidRegularizerError
from ..lmo import _check_finite, check_tau
from ..regularizers import Regularizer, as_regularizer


_SPECTRAL_FORMS = ("auto", "majorization", "von_neumann")


@dataclass
class LmoProgram:
    """The convex program min_{d in D} <m, d> + V(d)/tau written for cvxpy.

    ``point`` is the cvxpy expression of d (a Variable or a block of one); ``linear`` says that the
    objective is linear (V = 0 on D, or tau = inf), ``formulation`` describes the program.
    """

    problem: cp.Problem
    point: cp.Expression
    linear: bool
    formulation: str
    # Clarabel settings this program needs by default (the caller's solver_opts override them)
    clarabel_defaults: dict = dataclasses.field(default_factory=dict)


def lmo_program(V, m, tau, spectral_form: str = "auto") -> LmoProgram:
    """The cvxpy program min_{d in D} <m, d> + V(d)/tau (tau = inf: min_{d in D} <m, d>).

    ``V`` is a Regularizer or a built-in name; ``m`` one vector (vector regularizers) or one matrix
    (spectral ones). ``spectral_form`` picks the form of the spectral entropic program: 'auto' or
    'majorization' (Ky Fan majorization), 'von_neumann' (von Neumann entropy of [[I, D], [D^T, I]]).
    Raises NotExpressible (an InvalidRegularizerError) when V has no DCP form (the message says why).
    """
    V, m, tau = _check_inputs(V, m, tau, spectral_form)
    return _program(V, m, tau, spectral_form)


def _program(V: Regularizer, m: np.ndarray, tau: float, form: str) -> LmoProgram:
    """The program from V's own cvxpy form (V.cvxpy_term / V.cvxpy_domain): no names asked."""
    d = cp.Variable(m.shape)
    lin = cp.sum(cp.multiply(m, d))
    if math.isinf(tau):
        # the hard LMO argmin_{d in D} <m, d>: only the domain matters
        if not V.bounded:
            raise InvalidRegularizerError(f"{V.name}: the domain is unbounded, so the hard LMO (tau = inf) "
                                          "does not exist")
        dom = V.cvxpy_domain(d)
        return LmoProgram(cp.Problem(cp.Minimize(lin), dom.constraints), d, True, f"<m, d> over {dom.description}")
    # the spectral form choice only means something to a matrix regularizer
    term = V.cvxpy_term(d, spectral_form=form) if V.event_ndim == 2 and form != "auto" else V.cvxpy_term(d)
    cons = list(term.constraints)
    if not cons:
        # SCS refuses a problem without constraint rows; one row fixing an unused variable changes nothing
        cons = [cp.Variable() == 0]
    return LmoProgram(cp.Problem(cp.Minimize(lin + term.value / tau), cons), d, term.zero,
                      f"<m, d> + V(d)/tau, V(d) = {term.description}", dict(term.clarabel))


def _check_inputs(V, m, tau, spectral_form: str = "auto"):
    """(V, m, tau) of the entry points, checked once: V resolved, tau valid, m real, finite, float64 and of
    V's event shape; ``spectral_form`` one of _SPECTRAL_FORMS."""
    V = as_regularizer(V)
    tau = check_tau(tau)
    m = np.asarray(m)
    if m.dtype == object or np.iscomplexobj(m):
        raise GeomrelaxError(f"m must be a real array, got dtype {m.dtype}")
    m = _check_finite(m).astype(np.float64)
    want = V.event_ndim
    if m.ndim != want or m.size == 0:
        what = "one non-empty vector (ndim 1)" if want == 1 else "one non-empty matrix (ndim 2)"
        raise GeomrelaxError(f"{V.name}: the cross-check solves {what} at a time, got m of shape {m.shape}")
    if spectral_form not in _SPECTRAL_FORMS:
        raise GeomrelaxError(f"spectral_form must be one of {_SPECTRAL_FORMS}, got {spectral_form!r}")
    return V, m, tau
