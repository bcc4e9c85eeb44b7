"""Chunked in-cache SoftSignum / Signum step: the default CPU path, bitwise the eager formulas.

The eager reference (:mod:`geomrelax.updates`, out of place) runs each formula over whole tensors:
every intermediate (beta b, u, sign(u), lr sign(u), ...) is a fresh tensor written to and read
back from memory, about 3x the traffic of the update itself. Here each flat tensor is cut into
chunks of :func:`chunk_numel` entries that stay in cache between the operations, and the same
formulas run on the chunk views in place, into one scratch buffer reused for every chunk:

    b  <- beta b;  b <- b + (1 - dampening) g        (b_1 = g_1: the buffer starts as a copy of g)
    u   = g + beta b (nesterov, into the scratch)  or  b
    p  <- p (1 - lr wd)                                (only when wd != 0)
    s   = sign(u)  or  psi(tau u)                      (into the scratch)
    p  <- p - lr_eff s

Each operation rounds exactly as the out-of-place formula it replaces (the same operands, the
same order, no fused multiply-add: ``add_(x, alpha=a)`` may fuse and round once, so it is used
only where the product is exact), so parameters and buffers are bitwise those of the eager path,
in every dtype. p, g and b are read from memory once and p, b written once: 5 words per entry,
the memory floor, plus the arithmetic on data already in cache. No compilation, so the first step
costs what every other step costs.
"""

from __future__ import annotations

import torch

from .. import updates as U

__all__ = ["chunk_numel", "softsignum_chunked"]

# entries per chunk: 2^18 float32 entries are 1 MiB per array, p, g, b and the scratch 4 MiB, in the
# last-level cache (32 MiB here, shared). Measured (10M float32 entries in 50 tensors of 200K, 1 thread,
# sign phase): 2^14-2^17 cost 1.3-1.6x 2^18, where per-op dispatch (~10 us, 5 ops a chunk) dominates;
# 2^19 is no faster. Tensors below one chunk run whole, as one op per formula.
_CHUNK = 1 << 18
_CHUNK_PER_THREAD = 1 << 16


def chunk_numel(threads: int | None = None) -> int:
    """Entries per chunk: 2^18, or 2^16 per intra-op thread beyond 4 threads (each thread's slice stays
    at least 256 KiB, so an op's fork/join is paid on enough work)."""
    t = max(1, threads if threads is not None else torch.get_num_threads())
    return max(_CHUNK, _CHUNK_PER_THREAD * t)


def softsignum_chunked(params, grads, bufs, *, lr_eff, keep, beta, one_minus_damp, nesterov, maximize, tau,
                       psi_kind="tanh", fresh=None, chunk=None):
    """One SoftSignum step over lists of contiguous tensors, in place, chunk by chunk.

    ``bufs[i]`` is the momentum buffer of ``params[i]`` (None for all when beta = 0: u = g);
    ``fresh[i]`` True means the buffer was just created as b_1 = g_1 (its momentum update is
    skipped). ``keep`` = 1 - lr wd (1.0: no decay pass); ``tau`` None: sign step, else psi(tau u).
    """
    if not params:
        return
    n_max = max(p.numel() for p in params)
    c = min(chunk or chunk_numel(), n_max)
    scratch = {}
    # p + (-lr) sign(u) rounds once, as p - (lr sign(u)) does when lr sign(u) is exact: in float32 /
    # float64, whose add_ works in the tensor's dtype; half types compute alpha * x in float32 first
    exact_alpha = all(p.dtype in (torch.float32, torch.float64) for p in params)
    for i, (p, g) in enumerate(zip(params, grads)):
        b = bufs[i] if bufs is not None else None
        pf, gf = p.view(-1), g.view(-1)
        bf = b.view(-1) if b is not None else None
        skip_momentum = fresh is not None and fresh[i]
        key = p.dtype
        if key not in scratch:
            scratch[key] = torch.empty(c, dtype=p.dtype, device=p.device)
            scratch[(key, "g")] = torch.empty(c, dtype=p.dtype, device=p.device) if maximize else None
        for lo in range(0, pf.numel(), c):
            hi = min(lo + c, pf.numel())
            pc, gc = pf[lo:hi], gf[lo:hi]
            t = scratch[key][:hi - lo]
            if maximize:
                gc = torch.neg(gc, out=scratch[(key, "g")][:hi - lo])
            if bf is not None:
                bc = bf[lo:hi]
                if not skip_momentum:
                    bc.mul_(beta)
                    if one_minus_damp == 1.0:
                        bc.add_(gc)  # 1.0 * g = g exactly
                    else:
                        bc.add_(torch.mul(gc, one_minus_damp, out=t))
                if nesterov:
                    u = torch.mul(bc, beta, out=t).add_(gc)
                else:
                    u = bc
            else:
                u = gc
            if keep != 1.0:
                pc.mul_(keep)
            if tau is None:
                if exact_alpha:
                    pc.add_(torch.sign(u, out=t), alpha=-lr_eff)
                    continue
                torch.sign(u, out=t)
            elif psi_kind == "tanh":
                torch.mul(u, tau, out=t).tanh_()
            else:
                t.copy_(U.psi(u * tau, psi_kind))
            pc.sub_(t.mul_(lr_eff))
