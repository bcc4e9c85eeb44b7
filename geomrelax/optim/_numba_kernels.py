"""The numba kernels behind :mod:`geomrelax.optim.compiled` (imported on first use only: numba's import
costs about half a second). Defined at module level so that ``cache=True`` keeps their machine code on
disk between processes. The mathematics is in :mod:`geomrelax.optim.compiled`'s docstring.
"""

from __future__ import annotations

import math

import llvmlite.ir as llvm_ir
import numba
import numpy as np
from numba import carray, cfunc, njit, types
from numba.extending import intrinsic, overload

from .tanh_approx import TANH_CLAMP, TANH_P, TANH_Q

# float32 constants: the tanh kernels work in float32 (8 lanes of AVX2 against float64's 4: measured 0.57 against
# 1.2 ns an entry in cache, the difference between a compute-bound and a memory-bound transition step)
P0, P1, P2, P3, P4, P5 = (np.float32(c) for c in TANH_P)
Q0, Q1, Q2, Q3, Q4, Q5 = (np.float32(c) for c in TANH_Q)
CLAMP = np.float32(TANH_CLAMP)
_OPTS = dict(nogil=True, cache=True, error_model="numpy")  # error_model: no zero-division branch, so loops vectorise


def as_like(v, like):  # pragma: no cover - only its overload runs, inside compiled code
    """v converted to the type of the scalar ``like`` (float64 -> float32 rounds; numba widens int32
    arithmetic to int64, which halves the vector width of an integer loop unless narrowed back). A scalar,
    not an array: an array handed to a helper inside a loop is reference-counted there, which stops the
    loop from vectorising."""
    raise NotImplementedError


@overload(as_like)
def _as_like(v, like):
    cast = {numba.float32: np.float32, numba.int32: np.int32, numba.int64: np.int64}.get(like, np.float64)
    return lambda v, like: cast(v)


@intrinsic
def fma(typingctx, a, b, c):
    """a b + c rounded once (llvm.fma: one instruction where the CPU has FMA, and the loop vectoriser knows
    it). Only the polynomials use it; the update's own products round as the eager formulas do."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, a, a), codegen


@njit(inline="always", **_OPTS)
def _horner5(s, c0, c1, c2, c3, c4, c5):
    return fma(fma(fma(fma(fma(c5, s, c4), s, c3), s, c2), s, c1), s, c0)


@njit(inline="always", **_OPTS)
def tanh_f(x):
    """tanh(x) for a float32 x by the rational approximation of :mod:`geomrelax.optim.tanh_approx`, in float32."""
    a = min(abs(x), CLAMP)
    s = a * a  # a = CLAMP also for |x| = inf
    p = _horner5(s, P0, P1, P2, P3, P4, P5)
    q = _horner5(s, Q0, Q1, Q2, Q3, Q4, Q5)
    # beyond the clamp tanh rounds to 1 in float32; the rational, rounded there, can land an ulp below
    t = a * p / q if a < CLAMP else np.float32(1.0)
    return math.copysign(t, x)


@njit(inline="always", **_OPTS)
def algebraic_d(x):
    # x / sqrt(1 + x^2); for |x| > 1 as sign(x) / sqrt(1 + (1/x)^2), where x * x could overflow
    a = abs(x)
    w = 1.0 / (x if a > 1.0 else 1.0)
    big = math.copysign(1.0, x) / math.sqrt(1.0 + w * w)
    return big if a > 1.0 else x / math.sqrt(1.0 + x * x)


@njit(inline="always", **_OPTS)
def _momentum(g, b, i, fresh, nesterov, gsign, beta, omd):
    """u_i, with b_i updated; the branches are selects on loop-invariant flags and the store is
    unconditional (a conditional store becomes a masked store, which is slow on AMD CPUs)."""
    gi = gsign * g[i]
    old = b[i]
    bi = old if fresh else beta * old + omd * gi
    b[i] = bi
    return gi + beta * bi if nesterov else bi


@njit(inline="always", **_OPTS)
def _sign(u, like):
    return as_like(1.0 if u > 0 else (-1.0 if u < 0 else 0.0), like)


@njit(inline="always", **_OPTS)
def _tanh(u, tau, like):
    return tanh_f(tau * u)


@njit(inline="always", **_OPTS)
def _algebraic(u, tau, like):
    return as_like(algebraic_d(np.float64(tau * u)), like)


# p <- p keep - lr s(u): one kernel per (psi, with momentum or not), so that each loop is straight-line
@njit(**_OPTS)
def sign_momentum(p, g, b, fresh, nesterov, gsign, beta, omd, keep, lr, tau):
    for i in range(p.shape[0]):
        p[i] = p[i] * keep - lr * _sign(_momentum(g, b, i, fresh, nesterov, gsign, beta, omd), lr)


@njit(**_OPTS)
def tanh_momentum(p, g, b, fresh, nesterov, gsign, beta, omd, keep, lr, tau):
    for i in range(p.shape[0]):
        p[i] = p[i] * keep - lr * _tanh(_momentum(g, b, i, fresh, nesterov, gsign, beta, omd), tau, lr)


@njit(**_OPTS)
def algebraic_momentum(p, g, b, fresh, nesterov, gsign, beta, omd, keep, lr, tau):
    for i in range(p.shape[0]):
        p[i] = p[i] * keep - lr * _algebraic(_momentum(g, b, i, fresh, nesterov, gsign, beta, omd), tau, lr)


@njit(**_OPTS)
def sign_plain(p, g, gsign, keep, lr, tau):
    for i in range(p.shape[0]):
        p[i] = p[i] * keep - lr * _sign(gsign * g[i], lr)


@njit(**_OPTS)
def tanh_plain(p, g, gsign, keep, lr, tau):
    for i in range(p.shape[0]):
        p[i] = p[i] * keep - lr * _tanh(gsign * g[i], tau, lr)


@njit(**_OPTS)
def algebraic_plain(p, g, gsign, keep, lr, tau):
    for i in range(p.shape[0]):
        p[i] = p[i] * keep - lr * _algebraic(gsign * g[i], tau, lr)


@njit(**_OPTS)
def absmax(bits, mask):
    """max over i of bits[i] & mask, reading four quarters of the array side by side: one thread keeps more
    loads in flight over four streams than over one (measured: 2.3 ms against 3.1 ms for 40 MB)."""
    h = bits.shape[0] // 4
    m0 = as_like(0, mask)
    m1, m2, m3 = m0, m0, m0
    for i in range(h):
        v0 = as_like(bits[i] & mask, mask)
        v1 = as_like(bits[i + h] & mask, mask)
        v2 = as_like(bits[i + 2 * h] & mask, mask)
        v3 = as_like(bits[i + 3 * h] & mask, mask)
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
    for i in range(4 * h, bits.shape[0]):
        v0 = as_like(bits[i] & mask, mask)
        m0 = v0 if v0 > m0 else m0
    return max(max(m0, m1), max(m2, m3))


@njit(**_OPTS)
def psi_tanh(x, out):
    """out = tanh(x), float32 only, as the step kernels compute it."""
    for i in range(x.shape[0]):
        out[i] = tanh_f(x[i])


@njit(**_OPTS)
def psi_algebraic(x, out):
    for i in range(x.shape[0]):
        out[i] = as_like(algebraic_d(np.float64(x[i])), x[i])


# -- drivers for an OpenMP team ----------------------------------------------------------------------
# C callbacks void(void *block) run by every thread of torch's OpenMP team (GOMP_parallel, called from
# geomrelax.optim.compiled). The block is an int64 array: [0] a chunk counter (atomic), [1] the chunk
# size, [2] the total entries, [3] the number of jobs, [4] the address of the scalars (updates: gsign,
# beta, omd, keep, lr, tau, nesterov, in the tensors' dtype) or of the per-chunk output (absmax), then
# five int64 a job: addresses of p, g, b (0: no momentum) and the entry count and the fresh flag (absmax:
# the address of the bit patterns and the count in the first and fourth). Each thread takes chunks from
# the counter until none is left, so the split does not depend on the team's size, and each entry is
# computed as by the kernels above: the results are bitwise those of the sliced Python-thread path.
# No ctypes object appears in compiled code, so the drivers are cached on disk like the kernels.
BLOCK_HEAD = 5
JOB_WORDS = 5
DRIVER_SIGNATURE = types.void(types.voidptr)


@intrinsic
def _ptr(typingctx, addr, like):
    """The integer address ``addr`` as a pointer to the type of the scalar ``like``."""
    if not isinstance(addr, types.Integer):
        return None
    ptype = types.CPointer(like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptype))

    return ptype(addr, like), codegen


@intrinsic
def _next_chunk(typingctx, block):
    """Atomically increment the block's first int64 and return its value before."""
    if block != types.voidptr:
        return None

    def codegen(context, builder, signature, args):
        counter = builder.bitcast(args[0], llvm_ir.IntType(64).as_pointer())
        return builder.atomic_rmw("add", counter, llvm_ir.Constant(llvm_ir.IntType(64), 1), "monotonic")

    return types.int64(types.voidptr), codegen


@njit(inline="always", **_OPTS)
def _drive(block, piece, finish, aux, acc0):
    """Take chunks from the block's counter until none is left; on each, call ``piece`` on the part of
    every job inside it (``acc = piece(table, k, n, s, e, aux, acc)``, k: the job's first word, entries
    s:e of its n), then ``finish(aux, chunk index, acc)``."""
    head = carray(block, (BLOCK_HEAD,), np.int64)
    chunk, total = head[1], head[2]
    table = carray(block, (BLOCK_HEAD + JOB_WORDS * head[3],), np.int64)
    while True:
        c = _next_chunk(block)
        lo = c * chunk
        if lo >= total:
            return
        hi = min(total, lo + chunk)
        acc, offset = acc0, 0
        for k in range(BLOCK_HEAD, table.shape[0], JOB_WORDS):
            n = table[k + 3]
            s, e = max(lo, offset) - offset, min(hi, offset + n) - offset
            if s < e:
                acc = piece(table, k, n, s, e, aux, acc)
            offset += n
        finish(aux, c, acc)


@njit(inline="always", **_OPTS)
def _update_piece(table, k, n, s, e, aux, acc):
    """Entries s:e of job k through the kernels of aux = (scalars, with momentum, without)."""
    sc, with_momentum, without = aux
    like = sc[0]
    p = carray(_ptr(table[k], like), (n,))
    g = carray(_ptr(table[k + 1], like), (n,))
    if table[k + 2] != 0:
        b = carray(_ptr(table[k + 2], like), (n,))
        with_momentum(p[s:e], g[s:e], b[s:e], table[k + 4] != 0, sc[6] != 0, sc[0], sc[1], sc[2], sc[3], sc[4],
                      sc[5])
    else:
        without(p[s:e], g[s:e], sc[0], sc[3], sc[4], sc[5])
    return acc


@njit(inline="always", **_OPTS)
def _absmax_piece(table, k, n, s, e, out, top):
    v = absmax(carray(_ptr(table[k], top), (n,))[s:e], _mask_like(top))
    return v if v > top else top


def _mask_like(top):  # pragma: no cover - only its overload runs, inside compiled code
    """The mask that clears the sign bit of a bit pattern of ``top``'s integer type."""
    raise NotImplementedError


@overload(_mask_like)
def _mask_like_impl(top):
    if top.bitwidth == 32:
        return lambda top: np.int32(0x7FFFFFFF)
    return lambda top: np.int64(0x7FFFFFFFFFFFFFFF)


@njit(inline="always", **_OPTS)
def _no_finish(aux, c, acc):
    pass


@njit(inline="always", **_OPTS)
def _store(out, c, top):
    out[c] = top


@njit(inline="always", **_OPTS)
def _updates(block, with_momentum, without, like):
    scalars = carray(_ptr(carray(block, (BLOCK_HEAD,), np.int64)[4], like), (7,))
    _drive(block, _update_piece, _no_finish, (scalars, with_momentum, without), 0)


@njit(inline="always", **_OPTS)
def _absmax_chunks(block, zero):
    head = carray(block, (BLOCK_HEAD,), np.int64)
    _drive(block, _absmax_piece, _store, carray(_ptr(head[4], zero), ((head[2] + head[1] - 1) // head[1],)), zero)


# one module-level function per (kernel, dtype), so that numba can cache each on disk
def drive_sign_f32(block):
    _updates(block, sign_momentum, sign_plain, np.float32(0))


def drive_sign_f64(block):
    _updates(block, sign_momentum, sign_plain, np.float64(0))


def drive_tanh_f32(block):
    _updates(block, tanh_momentum, tanh_plain, np.float32(0))


def drive_algebraic_f32(block):
    _updates(block, algebraic_momentum, algebraic_plain, np.float32(0))


def drive_algebraic_f64(block):
    _updates(block, algebraic_momentum, algebraic_plain, np.float64(0))


def drive_absmax_f32(block):
    _absmax_chunks(block, np.int32(0))


def drive_absmax_f64(block):
    _absmax_chunks(block, np.int64(0))


def compile_driver(kind: str, single: bool):
    """The C callback of ``kind`` ('sign', 'tanh', 'algebraic', 'absmax') for float32 (single) or float64
    tensors, compiled on first use (or loaded from numba's disk cache); None where there is none (tanh
    in float64)."""
    fn = globals().get(f"drive_{kind}_{'f32' if single else 'f64'}")
    return None if fn is None else cfunc(DRIVER_SIGNATURE, cache=True, error_model="numpy")(fn)
