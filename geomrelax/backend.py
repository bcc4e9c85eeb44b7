"""The one place where the core meets torch, and the array adapters that let one algorithm run on both.

The core (everything in ``geomrelax`` outside ``geomrelax/optim``) is written for numpy arrays and, where a
route exists, for torch tensors too. It never imports torch at module level: ``import geomrelax`` must work
without torch and stay fast. A torch route is reached only when a tensor is handed in, and then torch is
already loaded (the caller made the tensor), so ``torch_module()`` costs nothing.

Rules (see ARCHITECTURE.md): core modules call ``is_tensor`` / ``torch_module`` / the array adapters here;
they never write ``import torch`` themselves. ``geomrelax/optim`` imports torch directly.

The adapters. ``ops_for(x)`` gives the adapter of x's backend (``NumpyOps`` or ``TorchOps``) for a working
float type (x's own when it is floating, else float64). Both have the same methods and the same meaning,
so that code written against an adapter runs unchanged on numpy arrays and on tensors of any device:

    facts        dtype, itype (the signed integer of the same width), eps, max, tiny (smallest normal), name
    making       full(like, value), zeros_like, copy, like(out, x) (a formula's output shaped like x),
                 as_work(x) (x in the working float type), to_numpy(x), flat(x)
    elementwise  abs, sign, sqrt, exp, tanh, hypot, isnan, isfinite, minimum, maximum, clip, where
    reductions   any(m) -> bool, row_any(m), count_nonzero(m) -> int, all_finite(x) -> bool, vector_norm(x) -> float,
                 row_absmax(x), row_norm(x) (over the last axis, kept; the norm never over/underflows),
                 scale_of(big) (a power of two near big: exact scaling)
    selection    nonzero(m) (flat indices), compress(m, x) (x[m]), concat(list), sort, searchsorted,
                 sample_indices(n, m, seed) (m uniform indices in [0, n), reproducible per seed)
    floats       key / unkey (the floats' ordering as integers), ordered_mid(a, b), toward_zero(value)
    errors       errstate() (a context in which overflow and invalid operations stay silent)

Agreement. Comparisons, abs, sign (NaN stays NaN on both), min/max, selection and the integer tricks
agree exactly; +, -, *, / are correctly rounded on both sides. sqrt, exp and tanh come from different
vector libraries and may differ by an ulp (measured: 1 ulp for sqrt between numpy 2 and torch 2.13 on
an AVX-512 CPU).
"""

from __future__ import annotations

import functools
import math
import sys

import numpy as np

__all__ = ["is_tensor", "torch_module", "NumpyOps", "TorchOps", "ops_for", "numpy_ops", "torch_ops"]


def is_tensor(x) -> bool:
    """True for a torch.Tensor (and subclasses such as DTensor), without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def torch_module():
    """The torch module, imported on first use (a clear error when torch is not installed)."""
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch  # noqa: F401  (the only torch import of the core)
        except ImportError as err:  # pragma: no cover - torch is a declared dependency
            raise ImportError("this route needs torch; install it with `pip install torch`") from err
    return torch


def _int_bits(itemsize: int):
    """(bits, sign bit, magnitude mask) of the signed integer as wide as a float of ``itemsize`` bytes."""
    bits = 8 * itemsize
    return bits, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _safe_norm(ops, x, norm, max_abs) -> float:
    """||x||_2 by the plain sum of squares, redone as m ||x / m|| (m = max |x_i|) when that over- or
    underflowed: the plain result is kept when it lies in [sqrt(tiny) / eps, inf), where squares that
    went subnormal change it by less than eps^3 relative (one pass in the common case, two otherwise)."""
    if x.shape[0] == 0:
        return 0.0
    with ops.errstate():
        n = norm(x)
        if math.isnan(n) or math.isfinite(n) and n >= ops.norm_floor:
            return n
        m = max_abs(x)
        if m == 0 or not math.isfinite(m):
            return m
        return m * norm(x / m)


class _Ops:
    """What both adapters compute the same way from their own primitives."""

    def ordered_mid(self, a, b):
        """A float between a and b halfway along the ordered list of floats (a <= b, both finite)."""
        ka, kb = self.key(a), self.key(b)
        # floor((ka + kb) / 2) without the integer overflow of ka + kb
        return self.unkey((ka >> 1) + (kb >> 1) + (ka & kb & 1))


class NumpyOps(_Ops):
    """Array operations on numpy arrays, in the working float type ``dtype`` (float16/32/64)."""

    name = "numpy"

    def __init__(self, dtype=np.float64):
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"the working type must be a float type, got {self.dtype}")
        bits, sign, mag = _int_bits(self.dtype.itemsize)
        self.itype = np.dtype(f"int{bits}")
        self.sign_bit = self.itype.type(sign)
        self.mag = self.itype.type(mag)
        self.eps = float(np.finfo(self.dtype).eps)
        self.max = float(np.finfo(self.dtype).max)
        self.tiny = float(np.finfo(self.dtype).tiny)
        self.norm_floor = float(np.finfo(self.dtype).tiny) ** 0.5 / self.eps

    # -- making arrays --------------------------------------------------------------------------
    def full(self, like, value):
        return np.full(np.shape(like), value, dtype=self.dtype)

    def zeros_like(self, x):
        return np.zeros_like(x)

    def copy(self, x):
        return np.array(x, copy=True)

    def like(self, out, x):
        """``out`` (possibly a Python scalar from a constant formula) as an array shaped like x; a complex
        value with a nonzero imaginary part (a real formula evaluated outside its domain) becomes NaN."""
        out = np.asarray(out)
        if np.iscomplexobj(out):
            out = np.where(np.abs(out.imag) <= 0, out.real, np.nan)
        return np.broadcast_to(out.astype(self.dtype, copy=False), np.shape(x))

    def as_work(self, x):
        return np.asarray(x).astype(self.dtype, copy=False)

    def to_numpy(self, x):
        return np.asarray(x)

    def flat(self, x):
        return np.asarray(x).reshape(-1)

    # -- elementwise ----------------------------------------------------------------------------
    def abs(self, x):
        return np.abs(x)

    def sign(self, x):
        return np.sign(x)

    def sqrt(self, x):
        return np.sqrt(x)

    def exp(self, x):
        return np.exp(x)

    def tanh(self, x):
        return np.tanh(x)

    def hypot(self, x, y):
        return np.hypot(x, y)

    def isnan(self, x):
        return np.isnan(x)

    def isfinite(self, x):
        return np.isfinite(x)

    def minimum(self, x, y):
        return np.minimum(x, y)

    def maximum(self, x, y):
        return np.maximum(x, y)

    def where(self, c, a, b):
        return np.where(c, a, b)

    def clip(self, x, lo: float, hi: float):
        return np.clip(x, lo, hi)

    # -- reductions -----------------------------------------------------------------------------
    def any(self, m) -> bool:
        return bool(np.any(m))

    def count_nonzero(self, m) -> int:
        return int(np.count_nonzero(m))

    def row_any(self, m):
        """m.any over the last axis (kept, size 1)."""
        return np.any(m, axis=-1, keepdims=True)

    def all_finite(self, x) -> bool:
        # a finite sum proves every entry finite (NaN and inf propagate); only on overflow look closer
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(np.asarray(x).reshape(-1))):
                return True
        return bool(np.isfinite(x).all())

    def vector_norm(self, x) -> float:
        """||x||_2 over all entries as a Python float, without overflow or underflow of the squares."""
        x = np.asarray(x).reshape(-1)
        return _safe_norm(self, x, lambda y: float(np.linalg.norm(y)), lambda y: float(np.max(np.abs(y))))

    def row_absmax(self, x):
        """max |x_i| over the last axis (kept, size 1; 0 for an empty axis)."""
        x = np.asarray(x)
        return np.max(np.abs(x), axis=-1, keepdims=True) if x.shape[-1] else np.zeros(x.shape[:-1] + (1,), x.dtype)

    def row_norm(self, x):
        """||x||_2 over the last axis (kept, size 1), without overflow or underflow of the squares."""
        x = np.asarray(x)
        c = self.scale_of(self.row_absmax(x))
        with np.errstate(invalid="ignore"):
            return c * np.linalg.norm(x / c, axis=-1, keepdims=True)

    def scale_of(self, big):
        """A power of two c with c <= big < 2c (1 where big is 0 or not finite): x / c is exact and in (-2, 2)."""
        ok = np.isfinite(big) & (big > 0)
        return np.ldexp(np.ones_like(big), np.frexp(np.where(ok, big, 1.0))[1] - 1).astype(big.dtype, copy=False)

    # -- selection ------------------------------------------------------------------------------
    def nonzero(self, m):
        return np.flatnonzero(m)

    def compress(self, m, x):
        return np.compress(np.asarray(m).reshape(-1), np.asarray(x).reshape(-1))

    def concat(self, xs):
        return np.concatenate(xs)

    def sort(self, x):
        return np.sort(x)

    def searchsorted(self, sorted_x, v, right: bool = False):
        return np.searchsorted(sorted_x, v, side="right" if right else "left")

    def sample_indices(self, n: int, m: int, seed: int):
        return np.random.default_rng(seed).integers(0, n, m)

    # -- the floats' ordering ---------------------------------------------------------------------
    def key(self, x):
        """x's position in the ordered list of floats, as an integer (monotone; -0 and +0 share 0)."""
        i = np.asarray(x, dtype=self.dtype).view(self.itype)
        return np.where(i < 0, -(i & self.mag), i)

    def unkey(self, k):
        m = np.abs(k)
        return np.where(k < 0, m | self.sign_bit, m).astype(self.itype, copy=False).view(self.dtype)

    def toward_zero(self, value: float) -> float:
        """The float of the working type next to ``value`` on the side of 0."""
        return float(np.nextafter(self.dtype.type(value), self.dtype.type(0)))

    def errstate(self):
        return np.errstate(all="ignore")


class TorchOps(_Ops):
    """The same operations on torch tensors (any device), in the working float type ``dtype``."""

    name = "torch"

    def __init__(self, dtype=None):
        torch = torch_module()
        self.torch = torch
        self.dtype = torch.float64 if dtype is None else dtype
        if not self.dtype.is_floating_point:
            raise TypeError(f"the working type must be a float type, got {self.dtype}")
        bits, self.sign_bit, self.mag = _int_bits(self.dtype.itemsize)
        self.itype = {16: torch.int16, 32: torch.int32, 64: torch.int64}[bits]
        self.eps = float(torch.finfo(self.dtype).eps)
        self.max = float(torch.finfo(self.dtype).max)
        self.tiny = float(torch.finfo(self.dtype).tiny)
        self.norm_floor = float(torch.finfo(self.dtype).tiny) ** 0.5 / self.eps

    def _is_t(self, x) -> bool:
        return isinstance(x, self.torch.Tensor)

    # -- making tensors -------------------------------------------------------------------------
    def full(self, like, value):
        return like.new_full(like.shape, float(value), dtype=self.dtype)

    def zeros_like(self, x):
        return x.new_zeros(x.shape)

    def copy(self, x):
        return x.clone()

    def like(self, out, x):
        """See NumpyOps.like."""
        if not self._is_t(out):
            return x.new_full(x.shape, float(out), dtype=self.dtype)
        if out.is_complex():
            out = self.torch.where(out.imag.abs() <= 0, out.real, self.torch.full_like(out.real, math.nan))
        return out.to(self.dtype).expand(x.shape)

    def as_work(self, x):
        return x.to(self.dtype)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def flat(self, x):
        return x.reshape(-1)

    # -- elementwise ----------------------------------------------------------------------------
    def abs(self, x):
        return x.abs()

    def sign(self, x):
        # torch's sign(NaN) is 0; numpy's is NaN, and a NaN must not turn into a quiet zero step
        return self.torch.where(x.isnan(), x, x.sign())

    def sqrt(self, x):
        return x.sqrt()

    def exp(self, x):
        return x.exp()

    def tanh(self, x):
        return x.tanh()

    def hypot(self, x, y):
        if not self._is_t(y):
            y = self.torch.full_like(x, float(y))
        if not self._is_t(x):
            x = self.torch.full_like(y, float(x))
        return self.torch.hypot(x, y)

    def isnan(self, x):
        return x.isnan()

    def isfinite(self, x):
        return x.isfinite()

    def minimum(self, x, y):
        return self.torch.minimum(x, y) if self._is_t(y) else x.clamp(max=y)

    def maximum(self, x, y):
        return self.torch.maximum(x, y) if self._is_t(y) else x.clamp(min=y)

    def clip(self, x, lo: float, hi: float):
        return x.clamp(lo, hi)

    def where(self, c, a, b):
        if not self._is_t(a) and not self._is_t(b):
            # two Python numbers would give torch's default dtype (float32): use the working type
            a = self.torch.full_like(c, a, dtype=self.dtype)
        return self.torch.where(c, a, b)

    # -- reductions -----------------------------------------------------------------------------
    def any(self, m) -> bool:
        return bool(m.any())

    def count_nonzero(self, m) -> int:
        return int(self.torch.count_nonzero(m))

    def row_any(self, m):
        return m.any(dim=-1, keepdim=True)

    def all_finite(self, x) -> bool:
        # the sum in a float type of at least float32 (a float16 sum overflows at 65504)
        work = x.dtype if x.dtype in (self.torch.float32, self.torch.float64) else self.torch.float32
        if bool(self.torch.isfinite(x.sum(dtype=work))):
            return True
        return bool(self.torch.isfinite(x).all())

    def vector_norm(self, x) -> float:
        """See NumpyOps.vector_norm."""
        la = self.torch.linalg
        return _safe_norm(self, x.reshape(-1), lambda y: float(la.vector_norm(y)),
                          lambda y: float(la.vector_norm(y, ord=math.inf)))

    def row_absmax(self, x):
        return x.abs().amax(dim=-1, keepdim=True) if x.shape[-1] else x.new_zeros(x.shape[:-1] + (1,))

    def row_norm(self, x):
        """See NumpyOps.row_norm."""
        c = self.scale_of(self.row_absmax(x))
        return c * self.torch.linalg.vector_norm(x / c, dim=-1, keepdim=True)

    def scale_of(self, big):
        """See NumpyOps.scale_of."""
        ok = big.isfinite() & (big > 0)
        _, e = self.torch.frexp(self.torch.where(ok, big, self.torch.ones_like(big)))
        return self.torch.ldexp(self.torch.ones_like(big), e - 1)

    # -- selection ------------------------------------------------------------------------------
    def nonzero(self, m):
        return m.reshape(-1).nonzero().squeeze(1)

    def compress(self, m, x):
        return x.reshape(-1)[m.reshape(-1)]

    def concat(self, xs):
        return self.torch.cat(xs)

    def sort(self, x):
        return self.torch.sort(x).values

    def searchsorted(self, sorted_x, v, right: bool = False):
        return self.torch.searchsorted(sorted_x, v, right=right)

    def sample_indices(self, n: int, m: int, seed: int):
        """m indices in [0, n) from a CPU generator seeded with ``seed`` (the same on every device)."""
        g = self.torch.Generator().manual_seed(int(seed))
        return self.torch.randint(0, n, (m,), generator=g)

    # -- the floats' ordering ---------------------------------------------------------------------
    def key(self, x):
        """See NumpyOps.key."""
        i = x.to(self.dtype).view(self.itype)
        return self.torch.where(i < 0, -(i & self.mag), i)

    def unkey(self, k):
        m = k.abs()
        return self.torch.where(k < 0, m | self.sign_bit, m).view(self.dtype)

    def toward_zero(self, value: float) -> float:
        t = self.torch.tensor(value, dtype=self.dtype)
        return float(self.torch.nextafter(t, self.torch.zeros_like(t)))

    def errstate(self):
        # torch never warns on overflow, but numpy scalars may meet tensors in mixed expressions
        return np.errstate(all="ignore")


@functools.lru_cache(maxsize=None)
def numpy_ops(dtype=np.float64) -> NumpyOps:
    """The numpy adapter for the working float type ``dtype`` (cached: adapters hold no state)."""
    return NumpyOps(np.dtype(dtype))


@functools.lru_cache(maxsize=None)
def torch_ops(dtype=None) -> TorchOps:
    """The torch adapter for the working float type ``dtype`` (default float64; cached)."""
    return TorchOps(dtype)


def ops_for(x, dtype=None):
    """The adapter of x's backend: TorchOps for a tensor, NumpyOps otherwise; the working float type is
    ``dtype`` if given, else x's own when it is floating, else float64."""
    if is_tensor(x):
        if dtype is None:
            dtype = x.dtype if x.dtype.is_floating_point else torch_module().float64
        return torch_ops(dtype)
    if dtype is None:
        dt = getattr(x, "dtype", None)
        dtype = dt if dt is not None and np.dtype(dt).kind == "f" else np.float64
    return numpy_ops(np.dtype(dtype))
