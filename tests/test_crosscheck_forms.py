"""A regularizer carries its own cvxpy form: the cross-check asks it, never its name."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import geomrelax as gr
from geomrelax.regularizers import CvxpyTerm, Interval, NotExpressible, Regularizer, SeparableRegularizer

cp = pytest.importorskip("cvxpy")


class Cosh(SeparableRegularizer):
    """v = cosh(x) - 1 on R (mu = 1, v* = s asinh s - sqrt(1 + s^2) + 1), with its own cvxpy form."""

    def __init__(self, name="user-cosh", grad_conj_fn=np.arcsinh):
        super().__init__(name=name, v=lambda x: np.cosh(x) - 1, dv=np.sinh, d2v=np.cosh,
                         conj_fn=lambda s: s * np.arcsinh(s) - np.hypot(1.0, s) + 1, grad_conj_fn=grad_conj_fn,
                         domain=Interval(-math.inf, math.inf), mu=1.0, hess0=1.0)

    def cvxpy_elementwise(self, x):
        return (cp.exp(x) + cp.exp(-x)) / 2 - 1


class NoForm(SeparableRegularizer):
    def __init__(self):
        super().__init__(name="user-noform", v=lambda x: np.cosh(x) - 1, dv=np.sinh, d2v=np.cosh,
                         conj_fn=lambda s: s * np.arcsinh(s) - np.hypot(1.0, s) + 1, grad_conj_fn=np.arcsinh,
                         domain=Interval(-math.inf, math.inf), mu=1.0, hess0=1.0)


def _m(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def test_user_subclass_with_its_own_form_is_cross_checked():
    r = gr.cross_check(Cosh(), _m(50, 0), 2.0)
    assert r.outcome == "agree" and r.passed, r.summary()
    assert "the cvxpy form of user-cosh" in r.formulation
    # the certified tolerance decides, and it can fail: a wrong closed form is caught
    wrong = gr.cross_check(Cosh(name="wrong", grad_conj_fn=lambda s: np.arcsinh(1.1 * s)), _m(50, 0), 2.0)
    assert wrong.outcome == "disagree", wrong.summary()


def test_spectral_lift_of_a_user_subclass_uses_its_form():
    r = gr.cross_check(gr.Spectral(Cosh()), _m((4, 3), 1), 1.5)
    assert r.outcome == "agree", r.summary()
    assert "Ky Fan" in r.formulation and "user-cosh" in r.formulation


def test_user_subclass_without_a_form_is_not_expressible():
    r = gr.cross_check(NoForm(), _m(10, 2), 1.0)
    assert r.outcome == "not_expressible" and not r.passed
    assert "user-noform" in r.note and "no cvxpy form" in r.note
    with pytest.raises(NotExpressible, match="no cvxpy form"):
        gr.cvxpy_lmo(NoForm(), _m(10, 2), 1.0)


class Ball2(Regularizer):
    """||x||^2/2 on the l2 ball of radius 2 (not separable), written from scratch with its cvxpy form."""

    name, mu, hess0, bounded = "user-ball2", 1.0, 1.0, True

    def value(self, x):
        sq = np.sum(np.square(x), -1)
        return np.where(sq <= 4 * (1 + 1e-12), sq / 2, np.inf)

    def grad_conj(self, y):
        return y / np.maximum(1.0, np.linalg.norm(y, axis=-1, keepdims=True) / 2)

    def contains(self, x, tol=0.0):
        return np.linalg.norm(x, axis=-1) <= 2 + tol + 1e-12

    def support(self, m):
        return 2 * np.linalg.norm(m, axis=-1)

    def cvxpy_term(self, d):
        return CvxpyTerm(cp.sum_squares(d) / 2, [cp.norm(d, 2) <= 2], "sum_squares(d)/2, ||d|| <= 2")


def test_a_new_regularizer_class_needs_no_edit_in_crosscheck():
    r = gr.cross_check(Ball2(), 0.3 * _m(6, 3), 4.0)
    assert r.outcome == "agree", r.summary()
    r = gr.cross_check(Ball2(), 0.01 * _m(6, 3), 4.0)  # inside the ball: d* = -tau m
    assert r.outcome == "agree", r.summary()
    with pytest.raises(NotExpressible, match="cvxpy_domain"):
        gr.cvxpy_lmo(Ball2(), _m(6, 3), math.inf)


def test_crosscheck_asks_no_names():
    # no built-in name appears as a string in the cross-check's code (docstrings aside)
    root = Path(gr.__file__).parent
    files = sorted((root / "crosscheck").glob("*.py")) if (root / "crosscheck").is_dir() else [root / "crosscheck.py"]
    for path in files:
        tree = ast.parse(path.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                 and id(n) not in docs}
        assert not names & set(gr.BUILTIN_NAMES), (path, names & set(gr.BUILTIN_NAMES))
