"""Compiled SoftSignum / Signum kernels (numba): the default CPU path for float32 and float64 tensors.

One loop per tensor reads p, g, b and writes p, b once, every intermediate in registers: 5 words moved
per entry, the memory floor of the update. (The chunked ATen path moves the same 5 words but pays a
dispatch per operation, and ATen's float32 tanh costs about 3.6 ns an entry a thread here, several times
the memory traffic.) Per entry, in the tensor's dtype and in the order of the eager formulas
(:mod:`geomrelax.updates`), each operation rounding once (numba fuses no multiply-add unless asked):

    gs = +-g  (maximize)          b <- beta b + (1 - dampening) gs    (kept for a fresh buffer b_1 = g_1)
    u  = gs + beta b (nesterov) or b (or gs without momentum)
    p <- p keep - lr_eff s,       s = sign(u), psi(tau u)

so the sign phase, and the momentum buffer in every phase, are bitwise the eager step's. psi acts on
x = tau u rounded as the eager product is:

- tanh (float32 tensors only): the rational approximation of :mod:`geomrelax.optim.tanh_approx`
  (relative error 5.9e-11 in exact arithmetic) evaluated in float32 with fused multiply-adds: at most
  17 ulps by the rounding analysis there, 6 ulps measured over 3M arguments (ATen's float32 tanh: 1 ulp;
  the fused=True path's fast_tanh: 2.8). In float64 the same evaluation would be within one ulp of the
  float32 tanh, at twice the arithmetic: 4 lanes instead of 8, and on this CPU the step is then bound
  by arithmetic, not memory (measured 2.3 against 1.1 ns an entry in cache). float64 tensors keep
  ATen's tanh (the chunked path), since 5.9e-11 is not float64 accuracy;
- algebraic: x / sqrt(1 + x^2) (sign(x) / sqrt(1 + 1/x^2) for |x| > 1) in float64, rounded once to the
  tensor's dtype (IEEE square root and division).

Threads: with more than one torch thread, a step runs on torch's own OpenMP team: GOMP_parallel of the
runtime ATen uses (found among the libraries loaded in the process, :func:`parallel_backend`) calls a
compiled C callback on every thread of the team, and the threads take chunks of at least 2^16 entries from
an atomic counter until none is left. A pool of Python threads was the first design: after any parallel
torch op the OpenMP workers spin for a while, and a second team of threads then shares the cores with
them; measured with 2 threads, 10M entries in 50 tensors, the update itself took 3.8 ms on the team
against 4.8 ms on the pool, and a whole sign step went from 0.92-0.96x the official code's speed to
1.13-1.16x (caches evicted before each step). The pool remains the fallback where ATen's backend is not
OpenMP or no runtime is found, and in a forked child (a parent's GNU OpenMP team does not survive fork, and
a call there would hang): contiguous slices of at least 2^16 entries on ``torch.get_num_threads()`` Python
threads (the kernels release the GIL). Either way each entry is computed by the same loop, so the numbers do
not depend on the split. The gradient check's max |g| (:func:`group_absmax`) is an integer max over the bit
patterns, one vectorised read. numba compiles each kernel and each callback on first use, for the dtype it
meets (about 1 s each, plus ~1 s of numba start-up), and keeps the machine code on disk (``cache=True``):
later processes load it in a fraction of a second.

numba is imported on first use only; without it (:func:`available` False) the optimizers take the chunked
ATen path.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import glob
import math
import os
import threading
import weakref

import numpy as np
import torch

__all__ = ["available", "group_absmax", "parallel_backend", "psi_values", "ready", "softsignum_step", "usable",
           "why_not"]

_SLICE = 1 << 16          # the least work handed to one thread
_KERNELS = {}
_COMPILED = {}
_VIEWS = {}
_DTYPES = {torch.float32, torch.float64}
_MASK32, _MASK64 = np.int32(0x7FFFFFFF), np.int64(0x7FFFFFFFFFFFFFFF)
_STATE = {"checked": False, "error": None}
_POOL = {"pool": None, "size": 0, "pid": None}
_LOCK = threading.Lock()
# torch's OpenMP team: GOMP_parallel of the runtime ATen runs on (resolved once per process); "forked" is set
# in a child after fork, where a GNU OpenMP team of the parent's does not exist and a call would hang
_OMP = {"pid": None, "parallel": None, "path": None, "why": "not resolved yet", "off": False, "forked": False}
_DRIVERS = {}
_OMP_NAMES = ("libgomp", "libiomp5", "libomp")
if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork
    os.register_at_fork(after_in_child=lambda: _OMP.update(forked=True))


def available() -> bool:
    """True when numba imports here (checked once; the reason otherwise is in :func:`why_not`). The kernels
    themselves compile on first use, each for the dtype it is called with (:func:`ready`)."""
    if not _STATE["checked"]:
        _STATE["checked"] = True
        try:
            _build()
        except Exception as exc:  # pragma: no cover - depends on the installation
            _STATE["error"] = f"{type(exc).__name__}: {exc}"
    return _STATE["error"] is None


def ready(kind: str, dtype: torch.dtype) -> bool:
    """Compile (or load from numba's disk cache) the ``kind`` kernel ('sign', 'tanh', 'algebraic',
    'absmax', 'psi_tanh', 'psi_algebraic') for ``dtype`` by a call on empty arrays, which writes nothing.
    False if that fails (and :func:`available` is False from then on, with the reason in :func:`why_not`)."""
    key = (kind, dtype)
    if key in _COMPILED:
        return _COMPILED[key]
    if kind in ("tanh", "psi_tanh") and dtype != torch.float32:
        return False  # the rational tanh is float32-accurate only: float64 keeps ATen's tanh
    ok = available()
    if ok:
        dt = np.float32 if dtype == torch.float32 else np.float64
        z = np.zeros(0, dt)
        try:
            if kind == "absmax":
                it = np.int32 if dt is np.float32 else np.int64
                _KERNELS[kind](z.view(it), it(-1))
            elif kind.startswith("psi_"):
                _KERNELS[kind](z, z)
            else:
                _KERNELS[kind](z, z, z, False, False, dt(1), dt(0.5), dt(1), dt(1), dt(0), dt(1))
                _KERNELS[kind + "_plain"](z, z, dt(1), dt(1), dt(0), dt(1))
        except Exception as exc:  # pragma: no cover - depends on the toolchain
            _STATE["error"] = f"compiling {kind} for {dtype}: {type(exc).__name__}: {exc}"
            ok = False
    if ok and kind in ("sign", "tanh", "algebraic", "absmax") and torch.get_num_threads() > 1 \
            and _omp_parallel() is not None:
        _driver(kind, dtype)  # its callback for the OpenMP team too (a failure only moves the work to Python threads)
    _COMPILED[key] = ok
    return ok


def why_not() -> str | None:
    """Why the compiled kernels are not available (None when they are)."""
    available()
    return _STATE["error"]


def usable(kind: str, *lists) -> bool:
    """Every tensor of the lists is a contiguous strided CPU float32 / float64 tensor (numpy can view it),
    and the ``kind`` kernel is ready for each dtype among them."""
    dtypes = set()
    for ts in lists:
        for t in ts:
            if not (t.is_cpu and t.layout == torch.strided and t.is_contiguous()):
                return False
            dtypes.add(t.dtype)
    return dtypes <= _DTYPES and all(ready(kind, d) for d in dtypes)


def _flat(t: torch.Tensor, keep: bool = False) -> np.ndarray:
    """A flat numpy view of a contiguous CPU tensor. ``keep``: the tensor lives across steps (a parameter, a
    buffer), so its view is kept (keyed by id, checked against a weak reference, the data pointer and the
    size): ~0.4 us a tensor instead of ~2 us, which is 0.2 ms a step for 100 tensors."""
    if keep:
        hit = _VIEWS.get(id(t))
        if hit is not None and hit[0]() is t and hit[1] == t.data_ptr() and hit[2].size == t.numel():
            return hit[2]
    a = (t.detach() if t.requires_grad else t).numpy()
    if a.ndim != 1:
        a = a.reshape(-1)
    if keep:
        # the entry goes with the tensor (the view would otherwise keep its storage alive)
        key = id(t)
        _VIEWS[key] = (weakref.ref(t, lambda _ref, key=key: _VIEWS.pop(key, None)), t.data_ptr(), a)
    return a


def _build():
    from . import _numba_kernels as K
    for kind in ("sign", "tanh", "algebraic"):
        _KERNELS[kind] = getattr(K, f"{kind}_momentum")
        _KERNELS[kind + "_plain"] = getattr(K, f"{kind}_plain")
    _KERNELS.update(absmax=K.absmax, psi_tanh=K.psi_tanh, psi_algebraic=K.psi_algebraic)


def _openmp_library():
    """(path, None) of the OpenMP runtime ATen's parallel backend runs on in this process, or (None, why)."""
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None, "ATen's parallel backend is not OpenMP"
    found = []
    try:  # the runtimes loaded in this process (Linux)
        with open("/proc/self/maps") as fh:
            for line in fh:
                fields = line.split()
                path = fields[5] if len(fields) >= 6 else ""  # address, perms, offset, dev, inode, path
                if os.path.basename(path).startswith(_OMP_NAMES) and path not in found:
                    found.append(path)
    except OSError:
        pass
    here = os.path.join(os.path.dirname(torch.__file__), "lib")
    if not found:
        found = [p for n in _OMP_NAMES for p in sorted(glob.glob(os.path.join(here, n + "*")))]
    if not found:
        return None, "no OpenMP runtime found beside torch"
    # torch's own copy first, then GNU, Intel, LLVM (the latter two export GOMP_parallel too)
    found.sort(key=lambda p: (not p.startswith(here), [os.path.basename(p).startswith(n) for n in _OMP_NAMES].index(True)))
    return found[0], None


def _omp_parallel():
    """GOMP_parallel(fn, data, threads, flags) of torch's OpenMP runtime (ctypes), or None: not OpenMP, not
    found, a forked child, or switched off (``_OMP["off"]``, for tests and comparisons)."""
    if _OMP["pid"] is None:
        _OMP["pid"] = os.getpid()
        path, why = _openmp_library()
        if path is not None:
            try:
                fn = ctypes.CDLL(path).GOMP_parallel
                fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint], None
                _OMP.update(parallel=fn, path=path, why=None)
            except (OSError, AttributeError) as exc:
                why = f"{path}: {type(exc).__name__}: {exc}"
        if why is not None:
            _OMP["why"] = why
    if _OMP["pid"] != os.getpid():  # a fork that bypassed Python's at-fork hooks
        _OMP["forked"] = True
    return None if _OMP["forked"] or _OMP["off"] else _OMP["parallel"]


def parallel_backend() -> tuple:
    """How the kernels share a step between threads: ("openmp", path of the runtime) -- on torch's own
    OpenMP team -- or ("threads", why not) -- a pool of Python threads."""
    if _omp_parallel() is not None:
        return "openmp", _OMP["path"]
    if _OMP["forked"]:
        return "threads", "a forked process (a parent's GNU OpenMP team does not survive fork)"
    return "threads", "switched off" if _OMP["off"] else _OMP["why"]


def _driver(kind: str, dtype: torch.dtype):
    """The address of the C callback that runs ``kind`` on an OpenMP team for ``dtype`` (compiled on first
    use), or None."""
    key = (kind, dtype)
    if key not in _DRIVERS:
        try:
            from . import _numba_kernels as K
            cb = K.compile_driver(kind, dtype == torch.float32)
            _DRIVERS[key] = None if cb is None else (cb, cb.address)
        except Exception:  # pragma: no cover - depends on the toolchain; the Python threads take over
            _DRIVERS[key] = None
    entry = _DRIVERS[key]
    return None if entry is None else entry[1]


def _on_team(kind, dtype, rows, head4, total, threads):
    """Run the ``kind`` driver on ``threads`` threads of torch's OpenMP team over the jobs ``rows``
    (five int64 each, see _numba_kernels); head4: the address of the scalars or of the output (one entry a
    chunk; chunks are >= _SLICE entries). True when it ran; False when one thread does the work, there is
    too little of it to share (< 2 _SLICE entries, as for the Python threads), or the team cannot take it
    (then nothing ran)."""
    if threads <= 1 or total < 2 * _SLICE:
        return False
    parallel, address = _omp_parallel(), _driver(kind, dtype)
    if parallel is None or address is None:
        return False
    chunk = max(_SLICE, (total // (threads * 8)) // 64 * 64)
    block = np.zeros(5 + 5 * len(rows), np.int64)
    block[1:5] = chunk, total, len(rows), head4
    block[5:] = np.asarray(rows, dtype=np.int64).reshape(-1)
    parallel(address, block.ctypes.data, threads, 0)
    return True


def _pool(threads: int):
    with _LOCK:
        if _POOL["pool"] is None or _POOL["size"] != threads or _POOL["pid"] != os.getpid():
            # a forked child inherits the pool object but not its threads: make a new one
            _POOL.update(pool=concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="geomrelax"),
                         size=threads, pid=os.getpid())
        return _POOL["pool"]


def _work(items):
    """Run (kernel, arrays, args, lo, hi) items: kernel(*(a[lo:hi] for a in arrays), *args); the results."""
    return [kernel(*[a[lo:hi] for a in arrays], *args) for kernel, arrays, args, lo, hi in items]


def _run_sliced(jobs, threads):
    """jobs: (numel, kernel, arrays, args), the kernel run on slices of the arrays (first axis) and the args;
    split into slices of >= _SLICE entries over ``threads`` workers. Returns the kernels' results."""
    total = sum(job[0] for job in jobs)
    if threads <= 1 or total < 2 * _SLICE:
        return _work([(kernel, arrays, args, 0, n) for n, kernel, arrays, args in jobs])
    per = max(_SLICE, -(-total // threads))
    parts, current, load = [], [], 0
    for n, kernel, arrays, args in jobs:
        lo = 0
        while lo < n:
            hi = min(n, lo + per - load)
            current.append((kernel, arrays, args, lo, hi))
            load += hi - lo
            lo = hi
            if load >= per:
                parts.append(current)
                current, load = [], 0
    if current:
        parts.append(current)
    if len(parts) == 1:
        return _work(parts[0])
    futures = [_pool(threads).submit(_work, items) for items in parts[1:]]
    out = _work(parts[0])
    for f in futures:
        out += f.result()
    return out


def softsignum_step(params, grads, bufs, *, lr_eff, keep, beta, one_minus_damp, nesterov, maximize, tau,
                    psi_kind="tanh", fresh=None, threads=None, checked=False):
    """One SoftSignum / Signum step over lists of contiguous CPU float32 / float64 tensors, in place.

    Arguments as :func:`geomrelax.optim.kernels.softsignum_chunked`: ``bufs`` None without momentum,
    ``fresh[i]`` True for a buffer just created as b_1 = +-g_1, ``keep`` = 1 - lr wd, ``tau`` None for a
    sign step. ``threads`` defaults to torch.get_num_threads(). ``checked``: the caller has just seen
    :func:`usable` say True for these lists.
    """
    kind = "sign" if tau is None else psi_kind
    if not (checked or usable(kind, params)):
        raise RuntimeError(f"compiled kernels unavailable: {why_not()}")
    threads = torch.get_num_threads() if threads is None else threads
    scalars = {}
    for dtype in {p.dtype for p in params}:
        dt = np.float32 if dtype == torch.float32 else np.float64
        scalars[dtype] = ((dt(-1.0 if maximize else 1.0),), (dt(beta), dt(one_minus_damp)),
                          (dt(keep), dt(lr_eff), dt(0.0 if tau is None else tau)))
    plain, momentum = _KERNELS[kind + "_plain"], _KERNELS[kind]
    todo = list(range(len(params)))
    for dtype in scalars if threads > 1 else ():
        mine = [i for i in todo if params[i].dtype == dtype]
        (gsign,), (beta_, omd), (keep_, lr_, tau_) = scalars[dtype]
        values = np.array([gsign, beta_, omd, keep_, lr_, tau_, bool(nesterov)],
                          dtype=np.float32 if dtype == torch.float32 else np.float64)
        rows = [(params[i].data_ptr(), grads[i].data_ptr(), 0 if bufs is None else bufs[i].data_ptr(),
                 params[i].numel(), bool(fresh[i]) if fresh is not None else False) for i in mine]
        if _on_team(kind, dtype, rows, values.ctypes.data, sum(params[i].numel() for i in mine), threads):
            todo = [i for i in todo if params[i].dtype != dtype]
    jobs = []
    for i in todo:
        p, g = params[i], grads[i]
        head, mom, tail = scalars[p.dtype]
        pn, gn = _flat(p, keep=True), _flat(g, keep=True)
        if bufs is None:
            jobs.append((pn.shape[0], plain, (pn, gn), head + tail))
        else:
            args = (bool(fresh[i]) if fresh is not None else False, bool(nesterov)) + head + mom + tail
            jobs.append((pn.shape[0], momentum, (pn, gn, _flat(bufs[i], keep=True)), args))
    _run_sliced(jobs, threads)


def group_absmax(tensors, checked=False) -> float:
    """max |t| over a list of contiguous CPU float32 / float64 tensors, from an integer max over their bit
    patterns with the sign bit cleared (monotone in |x| for non-negative floats; NaN patterns lie above
    +inf): nan if any entry is NaN, else inf if any is infinite; 0 for no entries. One vectorised read.
    ``checked``: the caller has just seen :func:`usable` say True for ``tensors``."""
    if not (checked or usable("absmax", tensors)):
        raise RuntimeError(f"compiled kernels unavailable: {why_not()}")
    kernel = _KERNELS["absmax"]
    threads = torch.get_num_threads()
    values = []
    for ftype, itype, mask in ((torch.float32, np.int32, _MASK32), (torch.float64, np.int64, _MASK64)):
        mine = [t for t in tensors if t.dtype == ftype and t.numel()]
        if not mine:
            continue
        total = sum(t.numel() for t in mine)
        # the largest pattern decides (NaN above inf above every finite value): one conversion per dtype
        out = np.zeros(-(-total // _SLICE), itype)
        if _on_team("absmax", ftype, [(t.data_ptr(), 0, 0, t.numel(), 0) for t in mine], out.ctypes.data, total,
                    threads):
            top = out.max()
        else:
            top = max(_run_sliced([(t.numel(), kernel, (_flat(t, keep=True).view(itype),), (mask,)) for t in mine],
                                  threads))
        values.append(float(np.array([top], dtype=itype).view(np.float32 if itype is np.int32 else np.float64)[0]))
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values, default=0.0)


def psi_values(x: torch.Tensor, kind: str = "tanh") -> torch.Tensor:
    """psi(x) as the kernels compute it (tanh: float32 only, float64 gets torch.tanh as in the optimizers):
    for tests and for anyone who wants the kernels' numbers outside a step."""
    if kind not in ("tanh", "algebraic"):
        raise ValueError(f"psi kind must be 'tanh' or 'algebraic', got {kind!r}")
    if kind == "tanh" and x.dtype != torch.float32:
        return torch.tanh(x)  # as the optimizers do: the compiled tanh is for float32 only
    if not ready("psi_" + kind, x.dtype):
        raise RuntimeError(f"compiled kernels unavailable: {why_not()}")
    xc = x.detach().contiguous().view(-1)
    out = torch.empty_like(xc)
    _KERNELS["psi_" + kind](xc.numpy(), out.numpy())
    return out.view(x.shape)
