"""Relaxed(V): parity with the numpy reference for built-in, spectral and numpy-only regularizers;
cross-checks against torch.optim.SGD (euclidean), Signum (box) and closed forms (entropic, spectral algebraic)."""

import dataclasses
import io
import warnings

import numpy as np
import pytest
import torch

import geomrelax as gr
from geomrelax.errors import InvalidTemperatureError, NonFiniteError
from geomrelax.optim.base import InvalidHyperparameterError
from geomrelax.optim.relaxed import NumpyFallbackWarning, Relaxed
from geomrelax.optim.softsignum import Signum
from geomrelax.reference.relaxed import relaxed_init, relaxed_step

VEC_SHAPES = [(6, 4), (9,), (3, 2, 2)]
MAT_SHAPES = [(6, 4), (3, 5), (4, 2, 3, 3)]  # the 4-D one is a conv filter, seen as (4, 18)
EPS64 = np.finfo(np.float64).eps


def grads_at(k, shapes):
    rng = np.random.default_rng(300 + k)
    return [rng.standard_normal(s) for s in shapes]


def make_params(shapes, dtype=torch.float64, seed=4):
    rng = np.random.default_rng(seed)
    thetas = [rng.standard_normal(s) for s in shapes]
    return thetas, [torch.nn.Parameter(torch.tensor(t, dtype=dtype)) for t in thetas]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=p.dtype)


def step_together(*pairs, steps):
    """Step each (optimizer, params) pair on the same gradients."""
    for k in range(1, steps + 1):
        g = grads_at(k, VEC_SHAPES)
        for opt, params in pairs:
            set_grads(params, g)
            opt.step()


def run_pair(V, shapes, steps=8, **hp):
    thetas, params = make_params(shapes)
    opt = Relaxed(params, regularizer=V, **hp)
    state, ref = relaxed_init(), thetas
    errs = []
    for k in range(1, steps + 1):
        g = grads_at(k, shapes)
        set_grads(params, g)
        opt.step()
        ref, state = relaxed_step(ref, g, state, regularizer=V, **hp)
        errs.append(max(float(np.abs(p.detach().numpy() - r).max()) for p, r in zip(params, ref)))
    return opt, params, ref, state, errs


VECTOR_VS = ["entropic", "algebraic", "euclidean", "box_quadratic", "ball_quadratic", "box"]


@pytest.mark.parametrize("V", VECTOR_VS)
def test_parity_builtin_vector_regularizers(V):
    hp = dict(tau=lambda k: 0.5 * k, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)
    _, _, _, _, errs = run_pair(V, VEC_SHAPES, **hp)
    # same formulas in both backends; grad V* (tanh, sqrt, norms) differs by a few ulps of |d| <= tau |u|
    # (euclidean: d = -tau u, tau <= 4, |u| <= 30), times lr, plus the decay rounding of |theta| ~ 3
    for k, e in enumerate(errs, 1):
        assert e <= 64 * EPS64 * 8 * k, (k, e)


@pytest.mark.parametrize("base", ["algebraic", "entropic", "box_quadratic"])
def test_parity_spectral_regularizers(base):
    V = gr.spectral(base)
    hp = dict(tau=3.0, lr=0.05, momentum=0.8, dampening=0.2, maximize=True)
    opt, params, ref, _, errs = run_pair(V, MAT_SHAPES, **hp)
    # torch and LAPACK SVDs agree to ~1e-15 relative on these well-conditioned 6x4 .. 4x18 matrices
    for k, e in enumerate(errs, 1):
        assert e <= 1e-13 * k, (k, e)


def test_spectral_algebraic_is_the_closed_form_smoothed_polar():
    """Independent check: d = -M (M^T M + tau^-2 I)^(-1/2) (docs/theory.md section 2) on one step, momentum 0."""
    tau, lr = 2.0, 0.1
    theta = torch.nn.Parameter(torch.zeros(5, 3, dtype=torch.float64))
    opt = Relaxed([theta], regularizer=gr.spectral("algebraic"), tau=tau, lr=lr, momentum=0.0)
    g = np.random.default_rng(0).standard_normal((5, 3))
    theta.grad = torch.tensor(g)
    opt.step()
    w, Q = np.linalg.eigh(g.T @ g + np.eye(3) / tau ** 2)
    expect = -lr * g @ (Q @ np.diag(w ** -0.5) @ Q.T)
    np.testing.assert_allclose(theta.detach().numpy(), expect, rtol=0, atol=1e-14)


def test_entropic_is_the_tanh_step():
    tau, lr = 3.0, 0.1
    theta = torch.nn.Parameter(torch.zeros(7, dtype=torch.float64))
    opt = Relaxed([theta], regularizer="entropic", tau=tau, lr=lr, momentum=0.0)
    g = np.random.default_rng(1).standard_normal(7)
    theta.grad = torch.tensor(g)
    opt.step()
    np.testing.assert_allclose(theta.detach().numpy(), -lr * np.tanh(tau * g), rtol=0, atol=4 * EPS64)


def test_spectral_refuses_vector_parameters():
    with pytest.raises(InvalidHyperparameterError, match=r"shape \(7,\)"):
        Relaxed([torch.nn.Parameter(torch.zeros(7))], regularizer=gr.spectral("algebraic"), tau=1.0)


def test_euclidean_is_torch_sgd_with_step_lr_tau():
    """d_tau(u) = -tau u for V = |x|^2/2: Relaxed(euclidean, tau) is torch.optim.SGD(lr * tau)."""
    _, pa = make_params(VEC_SHAPES)
    _, pb = make_params(VEC_SHAPES)
    tau, lr = 0.5, 0.1
    oa = Relaxed(pa, regularizer="euclidean", tau=tau, lr=lr, momentum=0.9, nesterov=True)
    ob = torch.optim.SGD(pb, lr=lr * tau, momentum=0.9, nesterov=True)
    step_together((oa, pa), (ob, pb), steps=9)
    for a, b in zip(pa, pb):
        # lr * (tau * u) vs (lr tau) * u: one reassociation per step, ulps of |lr tau u| ~ 1
        torch.testing.assert_close(a, b, rtol=0, atol=8 * 9 * EPS64 * 4)


def test_box_is_signum():
    _, pa = make_params(VEC_SHAPES)
    _, pb = make_params(VEC_SHAPES)
    oa = Relaxed(pa, regularizer="box", tau=123.0, lr=0.01, momentum=0.9, weight_decay=0.1)
    ob = Signum(pb, lr=0.01, momentum=0.9, weight_decay=0.1)
    step_together((oa, pa), (ob, pb), steps=9)
    assert all(torch.equal(a, b) for a, b in zip(pa, pb))


def test_numpy_fallback_warns_once_and_matches_torch_route():
    ent = gr.regularizer("entropic")
    numpy_only = dataclasses.replace(ent, name="entropic-numpy-only", torch_grad_conj_fn=None)
    hp = dict(tau=2.0, lr=0.05, momentum=0.9)
    _, pa = make_params(VEC_SHAPES)
    _, pb = make_params(VEC_SHAPES)
    oa = Relaxed(pa, regularizer=ent, **hp)
    ob = Relaxed(pb, regularizer=numpy_only, **hp)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(1, 6):
            g = grads_at(k, VEC_SHAPES)
            set_grads(pa, g)
            set_grads(pb, g)
            oa.step()
            ob.step()
    fallback = [w for w in caught if issubclass(w.category, NumpyFallbackWarning)]
    assert len(fallback) == 1 and "entropic-numpy-only" in str(fallback[0].message)
    for a, b in zip(pa, pb):
        torch.testing.assert_close(a, b, rtol=0, atol=4 * 5 * EPS64)  # np.tanh vs torch tanh: ulps


def test_nonfinite_direction_refused_without_changes():
    ent = gr.regularizer("entropic")
    nan_at_big = dataclasses.replace(ent, name="bad", torch_grad_conj_fn=lambda s: torch.where(
        s.abs() > 50, torch.full_like(s, float("nan")), s.tanh()))
    _, params = make_params(VEC_SHAPES)
    opt = Relaxed(params, regularizer=nan_at_big, tau=1.0, lr=0.1, momentum=0.5)
    set_grads(params, grads_at(1, VEC_SHAPES))
    opt.step()
    before = [p.detach().clone() for p in params]
    bufs = [opt.state[p]["momentum_buffer"].clone() for p in params]
    g = grads_at(2, VEC_SHAPES)
    g[1][3] = 1e3
    set_grads(params, g)
    with pytest.raises(NonFiniteError, match=r"parameter 1 \(shape \(9,\)\)"):
        opt.step()
    assert all(torch.equal(p, b) for p, b in zip(params, before))
    assert all(torch.equal(opt.state[p]["momentum_buffer"], b) for p, b in zip(params, bufs))
    assert opt.step_count() == 1


def test_callable_tau_is_checked_at_each_step():
    _, params = make_params(VEC_SHAPES)
    opt = Relaxed(params, regularizer="entropic", tau=lambda k: 1.0 if k < 3 else -1.0)
    for k in range(1, 3):
        set_grads(params, grads_at(k, VEC_SHAPES))
        opt.step()
    with pytest.raises(InvalidTemperatureError):
        opt.tau_at()
    before = [p.detach().clone() for p in params]
    set_grads(params, grads_at(3, VEC_SHAPES))
    with pytest.raises(InvalidTemperatureError, match="-1.0"):
        opt.step()
    assert all(torch.equal(p, b) for p, b in zip(params, before)) and opt.step_count() == 2


def test_state_dict_bitwise_continuation():
    hp = dict(regularizer=gr.spectral("algebraic"), tau=5.0, lr=0.02, momentum=0.9, nesterov=True)
    _, pa = make_params(MAT_SHAPES)
    oa = Relaxed(pa, **hp)
    for k in range(1, 9):
        set_grads(pa, grads_at(k, MAT_SHAPES))
        oa.step()
    _, pb = make_params(MAT_SHAPES)
    ob = Relaxed(pb, **hp)
    for k in range(1, 5):
        set_grads(pb, grads_at(k, MAT_SHAPES))
        ob.step()
    buf = io.BytesIO()
    torch.save(ob.state_dict(), buf)
    buf.seek(0)
    pc = [torch.nn.Parameter(p.detach().clone()) for p in pb]
    oc = Relaxed(pc, **hp)
    oc.load_state_dict(torch.load(buf, weights_only=True))
    for k in range(5, 9):
        set_grads(pc, grads_at(k, MAT_SHAPES))
        oc.step()
    assert all(torch.equal(a, c) for a, c in zip(pa, pc))
    assert oc.step_count() == 8


@pytest.mark.parametrize("expr,domain,route", [
    ("1 - sqrt(1 - x**2)", (-1, 1), "symbolic"),
    ("x**2/2 + x**4/4", (-2, 2), "auto"),          # a cubic inverse: Cardano or the numeric route
    ("cosh(x) - 1", (-1, 1), "numeric"),
])
def test_parity_user_defined_regularizers(expr, domain, route):
    """Relaxed(from_expr(...)) steps with the torch side of the user's grad V* and matches the reference."""
    V = gr.from_expr(expr, domain=domain, route=route)
    hp = dict(tau=3.0, lr=0.05, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumpyFallbackWarning)  # the torch route must exist for from_expr
        _, _, _, _, errs = run_pair(V, VEC_SHAPES, **hp)
    # the numeric route solves v'(x) = s to a few ulps of x (|x| <= 2), the closed forms are a few ulps too
    for k, e in enumerate(errs, 1):
        assert e <= 64 * EPS64 * 8 * k, (k, e)


def test_a_failing_group_changes_no_group():
    """Group 1's tau fails at step 2: group 0, stepped first, is left as it was too (plans before writes)."""
    _, params = make_params(VEC_SHAPES)
    opt = Relaxed([{"params": params[:1]}, {"params": params[1:], "tau": lambda k: 2.0 if k < 2 else float("nan")}],
                  regularizer="entropic", tau=3.0, lr=0.1, momentum=0.5)
    set_grads(params, grads_at(1, VEC_SHAPES))
    opt.step()
    before = [p.detach().clone() for p in params]
    bufs = [opt.state[p]["momentum_buffer"].clone() for p in params]
    set_grads(params, grads_at(2, VEC_SHAPES))
    with pytest.raises(InvalidTemperatureError, match="NaN"):
        opt.step()
    assert all(torch.equal(p, b) for p, b in zip(params, before))
    assert all(torch.equal(opt.state[p]["momentum_buffer"], b) for p, b in zip(params, bufs))
    assert (opt.step_count(0), opt.step_count(1)) == (1, 1)


def test_a_first_step_refused_by_its_plan_leaves_no_state_behind():
    _, params = make_params(VEC_SHAPES)
    opt = Relaxed(params, regularizer="entropic", tau=lambda k: -1.0)
    set_grads(params, grads_at(1, VEC_SHAPES))
    with pytest.raises(InvalidTemperatureError):
        opt.step()
    assert not opt.state and opt.step_count() == 0
