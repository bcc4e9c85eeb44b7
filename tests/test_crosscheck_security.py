"""A formula string handed to the cross-check is data: it is never run as Python."""

import math

import numpy as np
import pytest

import geomrelax as gr
from geomrelax.errors import InvalidRegularizerError
from geomrelax.regularizers import Interval, SeparableRegularizer

cp = pytest.importorskip("cvxpy")
from geomrelax.crosscheck import sympy_to_cvxpy  # noqa: E402


def _payload(sentinel) -> str:
    # sympify / parse_expr evaluate this string as Python: it would create the sentinel file
    return f"__import__('pathlib').Path({str(sentinel)!r}).touch() or x**2"


def test_payload_string_is_refused_and_not_run(tmp_path):
    sentinel = tmp_path / "ran"
    with pytest.raises(InvalidRegularizerError):
        sympy_to_cvxpy(_payload(sentinel), cp.Variable(3))
    assert not sentinel.exists()


def test_payload_in_a_regularizer_formula_is_not_run(tmp_path):
    sentinel = tmp_path / "ran"
    V = SeparableRegularizer(name="payload", v=lambda x: x * x / 2, dv=lambda x: x, d2v=np.ones_like,
                             conj_fn=lambda s: s * s / 2, grad_conj_fn=lambda s: s + 0.0,
                             domain=Interval(-math.inf, math.inf), mu=1.0, formula=_payload(sentinel))
    r = gr.cross_check(V, np.ones(4), 1.0)
    assert r.outcome == "not_expressible" and not r.passed, r.summary()
    assert not sentinel.exists()


@pytest.mark.parametrize("bad", [object(), [1, 2], True])
def test_non_sympy_objects_are_refused_with_their_type(bad):
    with pytest.raises(InvalidRegularizerError, match=type(bad).__name__):
        sympy_to_cvxpy(bad, cp.Variable(2))


def test_numbers_are_accepted_as_constants():
    x = cp.Variable(2)
    assert sympy_to_cvxpy(2, x).value.tolist() == [2.0, 2.0]
    assert sympy_to_cvxpy(0.5, x).value.tolist() == [0.5, 0.5]
