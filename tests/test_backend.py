"""The array adapters of geomrelax.backend: every operation, numpy against torch on float64.

+, -, *, /, hypot, abs, sign, comparisons and the integer tricks are exact or correctly rounded on
both sides, so they must agree exactly; sqrt, exp and tanh come from different vector libraries
(tolerance: 2 ulps of float64, two results each within 1 ulp of the truth; measured: sqrt differs
by 1 ulp between numpy 2 and torch 2.13 on an AVX-512 CPU).
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from geomrelax.backend import NumpyOps, TorchOps, is_tensor, numpy_ops, ops_for, torch_module, torch_ops

torch = pytest.importorskip("torch")

EPS64 = np.finfo(np.float64).eps


def sample(seed=0, n=400):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n),
                        [0.0, -0.0, 1.0, -1.0, 1e-308, -5e-324, 1e308, -1e308, math.inf, -math.inf, math.nan]])
    return x


def pair(dtype=np.float64):
    return numpy_ops(dtype), torch_ops(getattr(torch, np.dtype(dtype).name))


def same(a, b):
    """Exact equality of a numpy result and a torch one (NaN == NaN; the sign of a zero and a NaN's
    payload are not compared: np.sign(-0.0) is -0.0, torch's is +0.0, and neither is used)."""
    b = b.detach().cpu().numpy() if is_tensor(b) else np.asarray(b)
    a = np.asarray(a)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_array_equal(a, b.astype(a.dtype))


def test_ops_for_picks_backend_and_working_type():
    assert isinstance(ops_for(np.zeros(3)), NumpyOps) and ops_for(np.zeros(3)).dtype == np.float64
    assert ops_for(np.zeros(3, np.float32)).dtype == np.float32
    assert ops_for(np.arange(3)).dtype == np.float64  # integers work in float64
    assert ops_for([1.0, 2.0]).dtype == np.float64
    assert isinstance(ops_for(torch.zeros(3)), TorchOps) and ops_for(torch.zeros(3)).dtype == torch.float32
    assert ops_for(torch.zeros(3, dtype=torch.bfloat16)).dtype == torch.bfloat16
    assert ops_for(torch.arange(3)).dtype == torch.float64
    assert ops_for(torch.zeros(3), dtype=torch.float64).dtype == torch.float64
    assert ops_for(np.zeros(2)) is ops_for(np.ones(5))  # cached: adapters hold no state
    with pytest.raises(TypeError, match="float type"):
        NumpyOps(np.int32)
    with pytest.raises(TypeError, match="float type"):
        TorchOps(torch.int64)


def test_facts_match():
    for dt in (np.float16, np.float32, np.float64):
        n, t = pair(dt)
        assert n.eps == t.eps == float(np.finfo(dt).eps)
        assert np.dtype(n.itype).itemsize == np.dtype(dt).itemsize == t.itype.itemsize
        assert int(n.sign_bit) == t.sign_bit and int(n.mag) == t.mag


@pytest.mark.parametrize("op", ["abs", "sign", "isnan", "isfinite"])
def test_unary_exact(op):
    n, t = pair()
    x = sample()
    with n.errstate():
        same(getattr(n, op)(x), getattr(t, op)(torch.from_numpy(x)))


@pytest.mark.parametrize("op", ["exp", "tanh", "sqrt"])
def test_unary_libm(op):
    n, t = pair()
    x = sample()
    x = x[np.isfinite(x) & (np.abs(x) < 700)]
    x = np.abs(x) if op == "sqrt" else x
    with n.errstate():
        a, b = getattr(n, op)(x), getattr(t, op)(torch.from_numpy(x)).numpy()
    # 2 ulps of float64 (see the module docstring)
    np.testing.assert_allclose(b, a, rtol=2 * EPS64, atol=0)


@pytest.mark.parametrize("op", ["minimum", "maximum", "hypot"])
def test_binary(op):
    n, t = pair()
    x, y = sample(1), sample(2)
    same(getattr(n, op)(x, y), getattr(t, op)(torch.from_numpy(x), torch.from_numpy(y)))
    # a Python number on the right (clamp on the torch side)
    same(getattr(n, op)(x, 0.5), getattr(t, op)(torch.from_numpy(x), 0.5))


def test_where_keeps_the_working_type():
    n, t = pair()
    x = sample()
    c = x > 0
    same(n.where(c, x, -x), t.where(torch.from_numpy(c), torch.from_numpy(x), -torch.from_numpy(x)))
    # two Python numbers: the working type, not torch's default float32
    r = t.where(torch.from_numpy(c), 1e-300, 2.0)
    assert r.dtype == torch.float64
    same(n.where(c, 1e-300, 2.0), r)


def test_making():
    n, t = pair()
    x = sample()
    tx = torch.from_numpy(x)
    same(n.full(x, 3.5), t.full(tx, 3.5))
    same(n.zeros_like(x), t.zeros_like(tx))
    cx, ctx = n.copy(x), t.copy(tx)
    same(cx, ctx)
    cx[0], ctx[0] = 7.0, 7.0
    assert x[0] != 7.0 and tx[0] != 7.0  # copies, not views
    same(n.like(2.0, x), t.like(2.0, tx))
    with n.errstate():
        same(n.like(x * 2, x), t.like(tx * 2, tx))
    # a complex value with a nonzero imaginary part is NaN; a real one keeps its real part
    z = np.array([1 + 0j, 2 + 1j])
    same(n.like(z, z.real), t.like(torch.from_numpy(z), torch.from_numpy(z.real)))
    assert np.isnan(n.like(z, z.real)[1]) and n.like(z, z.real)[0] == 1.0
    same(n.as_work(np.arange(4)), t.as_work(torch.arange(4)))
    same(n.flat(x.reshape(-1, 1)), t.flat(tx.reshape(-1, 1)))
    same(n.to_numpy(x), t.to_numpy(tx))


def test_reductions():
    n, t = pair()
    x = sample()
    tx = torch.from_numpy(x)
    m = x > 1
    assert n.any(m) == t.any(torch.from_numpy(m)) is True
    assert n.any(x > 1e309) == t.any(tx > 1e309) is False
    assert n.count_nonzero(m) == t.count_nonzero(torch.from_numpy(m)) == int(m.sum())
    assert n.all_finite(x) is t.all_finite(tx) is False
    f = x[np.isfinite(x)]
    assert n.all_finite(f) is t.all_finite(torch.from_numpy(f)) is True
    # entries whose sum overflows are still finite
    big = np.array([1e308, 1e308])
    assert n.all_finite(big) is t.all_finite(torch.from_numpy(big)) is True
    h = np.array([60000.0, 60000.0], np.float16)
    assert numpy_ops(np.float16).all_finite(h) and torch_ops(torch.float16).all_finite(torch.from_numpy(h))
    # ||x||_2 without overflow (1e200^2 = inf) or underflow (1e-200^2 = 0) of the squares; the rounding
    # differs by the summation order: <= size eps relative (the bound of a recursive sum of squares)
    for v, want in ((f[np.abs(f) < 1e150], None), (np.array([3e200, 4e200]), 5e200), (np.array([3e-200, 4e-200]), 5e-200),
                    (f, None), (np.array([]), 0.0), (np.zeros(3), 0.0)):
        a, b = n.vector_norm(v), t.vector_norm(torch.from_numpy(v))
        assert math.isfinite(a) and b == pytest.approx(a, rel=max(v.size, 1) * EPS64)
        if want is not None:
            assert a == pytest.approx(want, rel=4 * EPS64)
    assert math.isnan(n.vector_norm(x)) and math.isnan(t.vector_norm(tx))
    assert n.vector_norm(np.array([1.0, math.inf])) == t.vector_norm(torch.tensor([1.0, math.inf])) == math.inf
    # float32: 1e20 squared overflows float32, 1e-25 squared underflows it
    n32, t32 = pair(np.float32)
    for v, want in ((np.array([3e20, 4e20], np.float32), 5e20), (np.array([3e-25, 4e-25], np.float32), 5e-25)):
        assert n32.vector_norm(v) == pytest.approx(want, rel=4e-7)
        assert t32.vector_norm(torch.from_numpy(v)) == pytest.approx(want, rel=4e-7)


def test_selection():
    n, t = pair()
    x = sample()[:-1]  # without NaN: sort order of NaN is backend-specific
    tx = torch.from_numpy(x)
    m = x < 0
    tm = torch.from_numpy(m)
    same(n.nonzero(m), t.nonzero(tm))
    m2 = m[: m.size // 2 * 2].reshape(-1, 2)  # flat indices of a 2-D mask
    same(n.nonzero(m2), t.nonzero(torch.from_numpy(m2)))
    same(n.compress(m, x), t.compress(tm, tx))
    same(n.concat([x, x[:3]]), t.concat([tx, tx[:3]]))
    s = n.sort(x)
    same(s, t.sort(tx))
    q = np.array([-1e300, -1.0, 0.0, 1.0, 1e300])
    for right in (False, True):
        same(n.searchsorted(s, q, right=right), t.searchsorted(torch.from_numpy(s), torch.from_numpy(q), right=right))


def test_sample_indices_reproducible_and_in_range():
    for ops in pair():
        a, b = ops.sample_indices(1000, 500, seed=3), ops.sample_indices(1000, 500, seed=3)
        a, b = np.asarray(ops.to_numpy(a)), np.asarray(ops.to_numpy(b))
        assert np.array_equal(a, b) and a.min() >= 0 and a.max() < 1000
        assert not np.array_equal(a, np.asarray(ops.to_numpy(ops.sample_indices(1000, 500, seed=4))))
        # uniform: each tenth of the range gets 50 +- 5 sigma (sigma = sqrt(500 * 0.1 * 0.9) = 6.7)
        counts = np.bincount(a // 100, minlength=10)
        assert np.all(np.abs(counts - 50) <= 34)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_float_ordering(dtype):
    n, t = pair(dtype)
    with np.errstate(over="ignore"):
        x = sample().astype(dtype)
    x = np.sort(x[np.isfinite(x)])
    tx = torch.from_numpy(x)
    k = n.key(x)
    same(k, t.key(tx))
    assert np.all(np.diff(k) >= 0)  # monotone
    # adjacent floats have adjacent keys; -0 and +0 share a key
    nxt = np.nextafter(x, np.array(np.inf, dtype))
    fin = np.isfinite(nxt) & (x != 0)
    assert np.all((n.key(nxt) - k)[fin] == 1)
    assert n.key(np.array([-0.0], dtype))[0] == n.key(np.array([0.0], dtype))[0] == 0
    rt = n.unkey(k)
    same(rt[x != 0], x[x != 0])
    same(n.unkey(k), t.unkey(t.key(tx)))
    # the midpoint lies between the ends and halves the number of floats between them
    a, b = x[:-1], x[1:]
    mid = n.ordered_mid(a, b)
    same(mid, t.ordered_mid(torch.from_numpy(a), torch.from_numpy(b)))
    assert np.all((mid >= a) & (mid <= b))
    ka, kb, km = n.key(a), n.key(b), n.key(mid)
    assert np.all(km - ka == (kb - ka) // 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_toward_zero(dtype):
    n, t = pair(dtype)
    for v in (1.0, -1.0, 3.0, -1e-3):
        a = n.toward_zero(v)
        assert a == t.toward_zero(v)
        assert abs(a) < abs(v) and a == float(np.nextafter(np.array(v, dtype), np.array(0, dtype)))


def test_errstate_silences_numpy():
    n, t = pair()
    for ops in (n, t):
        with ops.errstate(), np.errstate(over="raise"):
            pass
        with ops.errstate():
            np.exp(np.array([1000.0]))  # would warn outside


def test_core_never_imports_torch():
    # `import geomrelax` (the core) must not load torch; only the adapters reach it, and only on demand
    code = ("import sys, geomrelax, geomrelax.numeric, geomrelax.spectral, geomrelax.lmo; "
            "assert 'torch' not in sys.modules, 'torch loaded'; "
            "from geomrelax.backend import ops_for; import numpy as np; ops_for(np.zeros(2)); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert torch_module() is torch


def test_row_operations_and_scaling():
    n, t = pair()
    x = sample(3)[:-1].reshape(-1, 5)  # rows of 5, with infinities, no NaN
    tx = torch.from_numpy(x)
    same(n.row_absmax(x), t.row_absmax(tx))
    same(n.row_any(x > 1e300), t.row_any(tx > 1e300))
    same(n.clip(x, -2.0, 3.0), t.clip(tx, -2.0, 3.0))
    # scale_of: a power of two c with c <= big < 2c; 1 where big is 0 or not finite
    big = np.array([[3.0], [1e-310], [1.7e308], [0.0], [np.inf], [1.0]])
    c = n.scale_of(big)
    same(c, t.scale_of(torch.from_numpy(big)))
    np.testing.assert_array_equal(c.ravel(), [2.0, 2.0 ** -1030, 2.0 ** 1023, 1.0, 1.0, 1.0])
    # row_norm: exact-scaled, so rows near the ends of the float range come out right
    rows = np.array([[3e200, 4e200, 0.0], [3e-310, 4e-310, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 2.0], [np.inf, 1.0, 0.0]])
    want = np.array([5e200, 5e-310, 0.0, 3.0, np.inf])
    for ops, arr in ((n, rows), (t, torch.from_numpy(rows))):
        got = np.asarray(ops.to_numpy(ops.row_norm(arr))).ravel()
        # 5e-310 is subnormal: held to its spacing (5e-324) only
        np.testing.assert_allclose(got, want, rtol=2 * EPS64, atol=4 * 5e-324)
    for dt in (np.float64, np.float32, np.float16):
        a, b = pair(dt)
        assert a.max == b.max == float(np.finfo(dt).max) and a.tiny == b.tiny == float(np.finfo(dt).tiny)
