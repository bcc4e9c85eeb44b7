"""The torch routes at the extremes agree with the numpy ones (float64).

Tolerance: torch computes in the tensor's float type: tau m is rounded to it (relative eps_t), which
moves d by at most as much relatively (every built-in map g has s g'(s) <= g(s) for s >= 0: odd,
concave on s >= 0), and evaluating the map in that type adds a few eps_t; a value below the normal
range is only held to its subnormal spacing. Hence |d_torch - d_numpy| <= 8 eps_t max(1, |d|) + 4 sub_t.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import geomrelax as gr
from geomrelax.errors import NonFiniteError

torch = pytest.importorskip("torch")

NAMES = ["euclidean", "box", "box_quadratic", "entropic", "algebraic", "ball_quadratic"]
TDTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def tolerance(dtype, ref):
    fi = torch.finfo(dtype)
    return 8 * fi.eps * np.maximum(1.0, np.abs(ref)) + 4 * fi.tiny * fi.eps


def exps_for(dtype):
    fi = torch.finfo(dtype)
    return math.log10(fi.tiny) + 1, math.log10(fi.max) - 1


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), st.sampled_from(TDTYPES), st.integers(0, 2**31 - 1), st.floats(-300.0, 300.0))
def test_torch_relaxed_lmo_matches_numpy(name, dtype, seed, log_tau):
    rng = np.random.default_rng(seed)
    lo, hi = exps_for(dtype)
    m = torch.tensor(rng.choice([-1.0, 1.0, 0.0], 5) * 10.0 ** rng.uniform(lo, hi, 5)).to(dtype)
    m64 = m.double().numpy()
    tau = 10.0 ** log_tau
    V = gr.regularizer(name)
    with np.errstate(over="ignore"):
        overflow = np.any(np.abs(tau * m64) > torch.finfo(dtype).max)
    if name == "euclidean" and overflow:
        with pytest.raises(NonFiniteError, match="beyond the float range"):
            V.relaxed_lmo(m, tau)
        return
    d = V.relaxed_lmo(m, tau)
    assert d.dtype == dtype and d.shape == m.shape
    assert bool(torch.isfinite(d).all())
    ref = gr.relaxed_lmo(V, m64, tau)
    assert np.all(np.abs(d.double().numpy() - ref) <= tolerance(dtype, ref)), (name, dtype, m, tau, d, ref)


@pytest.mark.parametrize("name", ["box", "box_quadratic", "entropic", "algebraic", "ball_quadratic"])
@pytest.mark.parametrize("dtype", TDTYPES)
def test_torch_grad_conj_at_infinity_is_the_limit(name, dtype):
    """y = -tau m formed by a caller may overflow to +-inf: grad V* there is its limit, never NaN."""
    V = gr.regularizer(name)
    y = torch.tensor([math.inf, -math.inf, 2.0, 0.0], dtype=dtype)
    d = V.torch_grad_conj(y)
    ref = V.grad_conj(y.double().numpy())
    assert bool(torch.isfinite(d).all()) and np.all(np.isfinite(ref))
    np.testing.assert_allclose(d.double().numpy(), ref, atol=8 * torch.finfo(dtype).eps)
    if name == "ball_quadratic":
        np.testing.assert_allclose(ref, [2 ** -0.5, -2 ** -0.5, 0.0, 0.0], rtol=4e-16)
    else:
        assert ref[0] == 1.0 and ref[1] == -1.0


@pytest.mark.parametrize("dtype", TDTYPES)
def test_ball_norm_does_not_overflow(dtype):
    """||y||^2 overflows float32 at 1.8e19 and float16 at 256: the ball's map scales first."""
    big = 1e20 if dtype in (torch.float32, torch.float64, torch.bfloat16) else 6e4
    V = gr.regularizer("ball_quadratic")
    y = torch.tensor([big, 0.0, -big], dtype=dtype)
    np.testing.assert_allclose(V.torch_grad_conj(y).double().numpy(), [2 ** -0.5, 0.0, -2 ** -0.5],
                               rtol=4 * torch.finfo(dtype).eps)


def test_optimizer_steps_at_the_extremes():
    from geomrelax.optim import Relaxed

    # float32 gradient 1e20 (||g||^2 = inf in float32): the step is -lr g / ||g||, not 0
    p = torch.nn.Parameter(torch.zeros(2))
    opt = Relaxed([p], regularizer="ball_quadratic", tau=1.0, lr=1.0, momentum=0.0)
    p.grad = torch.tensor([1e20, 0.0])
    opt.step()
    assert p.data.tolist() == [-1.0, 0.0]
    # float16 m = 60000 at tau = 10 (tau m = inf in float16): the algebraic map gives -sign(m)
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float16))
    opt = Relaxed([p], regularizer="algebraic", tau=10.0, lr=1.0, momentum=0.0)
    p.grad = torch.tensor([60000.0, -60000.0], dtype=torch.float16)
    opt.step()
    assert p.data.tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_spectral_torch_matches_numpy_at_extremes(name, dtype):
    rng = np.random.default_rng(1)
    S = gr.spectral(name)
    big = 1e300 if dtype == torch.float64 else 1e30
    for scale in (1.0 / big, 1.0, big):
        M = rng.standard_normal((2, 4, 3)) * scale
        Mt = torch.tensor(M).to(dtype)
        M64 = Mt.double().numpy()
        for tau in (1.0 / big, 1.0, big, 1e300):
            sig_max = np.linalg.svd(M64, compute_uv=False).max()
            with np.errstate(over="ignore"):
                if name == "euclidean" and tau * sig_max > torch.finfo(dtype).max:
                    with pytest.raises(NonFiniteError):
                        S.relaxed_lmo(Mt, tau)
                    continue
            d = S.relaxed_lmo(Mt, tau)
            ref = gr.relaxed_lmo(S, M64, tau)
            assert bool(torch.isfinite(d).all())
            # an SVD adds r^2 + 6 r eps (rebuilding from r = 3 terms, orthogonality of U and W)
            eps = torch.finfo(dtype).eps
            np.testing.assert_allclose(d.double().numpy(), ref, atol=(9 + 18) * eps * max(1.0, np.abs(ref).max()),
                                       rtol=0)
