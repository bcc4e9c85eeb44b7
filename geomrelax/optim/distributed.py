"""The optimizers on many processes: DDP (replicated parameters) and FSDP2 (DTensor parameters).

DDP. Every process holds the whole parameter and DDP has averaged the gradients before ``step``:
every process computes the same step from the same data, and nothing here is used (no
torch.distributed call is made for plain tensors).

FSDP2 (``torch.distributed.fsdp.fully_shard``) and other DTensor parameters. Each process holds a
shard (its local tensor) of every parameter and of its gradient. The optimizers step on the local
shards; the per-parameter states are kept as DTensors laid out like their parameter, so that
``state_dict`` and torch.distributed.checkpoint save and restore them sharded. What spans the whole
param group is computed across the processes that hold its shards (the "shard group": the mesh
dimension that shards the parameters; replicated mesh dimensions, as in HSDP, hold identical data
and are not reduced over):

- the non-finite check: max |g| over the group, one all_reduce (MAX; NaN travels as a flag, since
  MAX of NaN is not defined for every backend). Every process takes the same decision.
- the group norm ||u||_2 (``normalized`` / ``sign_norm``): each process sums the squares of its
  shards in float64, one all_reduce (SUM), then ||u|| = sqrt(sum_i ||u_i||^2). It differs from the
  single-process value only by the summation order: a few ulps of the parameters' dtype.
- the temperature schedule's median and MAD: exact (:func:`exact_median`), by a radix selection on
  the float64 bit patterns: four rounds of a 65536-bin histogram of the next 16 bits, each summed over
  the processes with one all_reduce. The selected value is a datum, bitwise the one np.median sees,
  so the schedule is bitwise the single-process one.
- whole-tensor maps (SoftMuon / Muon's orthogonalisation, Relaxed with a non-separable or spectral
  regularizer): the tensor is gathered to one process (tensor i of the group to shard rank
  i mod world size, round-robin, so the work is spread), mapped there, and scattered back. Shards of
  unequal size (a bias of 3 over 2 processes) follow DTensor's torch.chunk layout: shard r holds
  rows [r c, min((r + 1) c, n)) of the sharded dimension, c = ceil(n / world); every exchange pads
  to c and cuts back, so no size needs to divide evenly.

Limits: one sharded mesh dimension per param group (FSDP2 and HSDP; not tensor parallelism, which
shards along a second mesh dimension), all DTensor parameters of a group on the same mesh.
"""

from __future__ import annotations

import struct
import sys
import warnings

import torch

from ..errors import GeomrelaxError, NonFiniteError

__all__ = ["GroupComm", "exact_median", "group_comm", "is_dtensor", "local", "state_commit", "state_view"]

_BINS = 1 << 16
_FLIP = (1 << 63) - 1


def _dtensor_type():
    # Without torch.distributed.tensor imported no DTensor exists: no import, no call, nothing to check.
    mod = sys.modules.get("torch.distributed.tensor")
    return getattr(mod, "DTensor", None) if mod is not None else None


def is_dtensor(t) -> bool:
    cls = _dtensor_type()
    return cls is not None and isinstance(t, cls)


def local(t):
    """The local shard of a DTensor (a view of its storage: in-place writes reach the DTensor); t otherwise."""
    return t.to_local() if is_dtensor(t) else t


def state_view(state: dict, key) -> dict:
    """The per-parameter state of ``key`` with DTensors as their local shards (the state itself for a
    plain parameter)."""
    if not is_dtensor(key):
        return state
    return {k: local(v) for k, v in state.items()}


def state_commit(state: dict, view: dict, key) -> None:
    """Write back into ``state`` the entries of ``view`` that are not views of it already: local
    tensors shaped like the parameter's shard become DTensors laid out like the parameter."""
    if view is state:
        return
    from torch.distributed.tensor import DTensor

    shard_shape = local(key).shape
    for k, v in view.items():
        old = state.get(k)
        if old is not None and local(old) is v:
            continue
        if torch.is_tensor(v) and not is_dtensor(v) and v.shape == shard_shape:
            v = DTensor.from_local(v, key.device_mesh, key.placements, run_check=False, shape=key.shape,
                                   stride=key.stride())
        state[k] = v


def _shard_dims(p):
    return [i for i, pl in enumerate(p.placements) if pl.is_shard()]


def group_comm(params):
    """The :class:`GroupComm` of a param group, or None when no parameter is a DTensor."""
    dts = [p for p in params if is_dtensor(p)]
    if not dts:
        return None
    mesh = dts[0].device_mesh
    dims = set()
    for p in dts:
        if p.device_mesh != mesh:
            raise GeomrelaxError("the DTensor parameters of one param group must share one device mesh; "
                                 f"got meshes {mesh} and {p.device_mesh}: put them in separate param groups")
        if any(pl.is_partial() for pl in p.placements):
            raise GeomrelaxError(f"a parameter has placements {p.placements}: partial parameters cannot be stepped")
        dims.update(_shard_dims(p))
        if len(_shard_dims(p)) > 1:
            raise GeomrelaxError(f"a parameter is sharded along {len(_shard_dims(p))} mesh dimensions "
                                 f"(placements {p.placements}); geomrelax supports one (FSDP2, HSDP)")
    if len(dims) > 1:
        raise GeomrelaxError(f"the parameters of one param group are sharded along mesh dimensions {sorted(dims)}; "
                             "geomrelax supports one sharded mesh dimension per group (FSDP2, HSDP)")
    return GroupComm(mesh, dims.pop() if dims else None)


def _chunks(n: int, world: int):
    """torch.chunk's layout of n rows over world shards: (sizes, c), c = ceil(n / world)."""
    c = -(-n // world) if n else 0
    return [max(0, min(c, n - r * c)) for r in range(world)], c


def _order_keys(x64):
    """int64 keys whose order is the order of the float64 values (no NaN; -0.0 already made +0.0)."""
    b = x64.view(torch.int64)
    return torch.where(b < 0, b ^ _FLIP, b)


def _key_to_float(key: int) -> float:
    bits = key if key >= 0 else key ^ _FLIP
    return struct.unpack("<d", struct.pack("<q", bits))[0]


class GroupComm:
    """The processes that hold the shards of one param group and the reductions over them."""

    def __init__(self, mesh=None, dim=None):
        """mesh None or dim None: nothing is split (one process, or only replicated DTensors)."""
        self.mesh, self.dim = mesh, dim
        self.pg = mesh.get_group(dim) if mesh is not None and dim is not None else None
        self.size, self.rank = 1, 0
        if self.pg is not None:
            import torch.distributed as dist

            self.size, self.rank = dist.get_world_size(self.pg), dist.get_rank(self.pg)

    # -- which tensors are split ------------------------------------------------------------------
    def sharded(self, key) -> bool:
        return self.pg is not None and is_dtensor(key) and bool(_shard_dims(key))

    @property
    def lead(self) -> bool:
        """True on the one process of the shard group that counts replicated data (rank 0)."""
        return self.rank == 0

    # -- reductions -------------------------------------------------------------------------------
    def all_reduce(self, t, op="sum"):
        if self.pg is not None:
            import torch.distributed as dist

            dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX, group=self.pg)
        return t

    def max(self, m):
        """The maximum over the shard group of a 0-d float64 tensor; NaN anywhere gives NaN."""
        nan = torch.isnan(m)
        packed = torch.stack([torch.where(nan, torch.full_like(m, float("inf")), m), nan.to(m.dtype)])
        self.all_reduce(packed, "max")
        return torch.where(packed[1] > 0, torch.full_like(m, float("nan")), packed[0])

    def any(self, flag: bool) -> bool:
        return bool(self.all_reduce(torch.tensor([1.0 if flag else 0.0], dtype=torch.float64), "max")[0] > 0)

    def group_norm(self, keys, us) -> float:
        """||u||_2 over the whole group: sqrt(sum_i ||u_i||^2), the squares of the shards summed in float64."""
        if not us:
            return 0.0
        sq = torch.stack([torch.linalg.vector_norm(u, dtype=torch.float64).square().cpu() for u in us])
        split = torch.tensor([self.sharded(k) for k in keys])
        part = self.all_reduce(torch.where(split, sq, torch.zeros_like(sq)))
        total = torch.where(split, part, sq)
        return float(torch.linalg.vector_norm(total.sqrt()))

    # -- exact order statistics over the group ------------------------------------------------------
    def values(self, keys, tensors):
        """The group's entries held here as one float64 vector (replicated tensors counted once, on the lead)."""
        parts = [t.detach().reshape(-1).to(torch.float64) for k, t in zip(keys, tensors)
                 if self.sharded(k) or self.lead]
        x = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
        return x + 0.0  # -0.0 -> +0.0: the two are equal values and must share a key

    def count(self, n: int) -> int:
        return int(self.all_reduce(torch.tensor([n], dtype=torch.int64))[0])

    def select(self, x, k: int) -> float:
        """The k-th smallest (0-based) of the union over the group of the float64 vectors x: exact."""
        keys = _order_keys(x)
        prefix, rank = 0, k
        for shift in (48, 32, 16, 0):
            digit = (keys >> shift) + (_BINS // 2) if shift == 48 else (keys >> shift) & (_BINS - 1)
            hist = self.all_reduce(torch.bincount(digit.cpu(), minlength=_BINS))
            cum = torch.cumsum(hist, 0)
            b = int(torch.searchsorted(cum, torch.tensor(rank), right=True))
            rank -= int(cum[b - 1]) if b else 0
            prefix = (b - _BINS // 2) if shift == 48 else (prefix << 16) | b
            keys = keys[digit == b]
        return _key_to_float(prefix)

    # -- whole tensors ----------------------------------------------------------------------------
    def owner(self, i: int) -> int:
        return i % self.size

    def _layout(self, key, t):
        d = key.placements[self.dim].dim
        sizes, c = _chunks(key.shape[d], self.size)
        if t.shape[d] != sizes[self.rank]:
            raise GeomrelaxError(f"a shard of shape {tuple(t.shape)} does not follow DTensor's torch.chunk layout "
                                 f"of {tuple(key.shape)} over {self.size} processes (expected {sizes[self.rank]} "
                                 f"along dimension {d})")
        shape = list(t.shape)
        shape[d] = c
        return d, sizes, shape

    def gather(self, i, key, t):
        """Start gathering the whole tensor ``key`` (local shard t) to its owner; returns a callable
        giving the whole tensor on the owner (None elsewhere)."""
        import torch.distributed as dist

        d, sizes, shape = self._layout(key, t)
        buf = t.new_zeros(shape)
        buf.narrow(d, 0, t.shape[d]).copy_(t)
        own = self.owner(i)
        bufs = [torch.empty_like(buf) for _ in range(self.size)] if self.rank == own else None
        work = dist.gather(buf, bufs, group=self.pg, group_dst=own, async_op=True)

        def done():
            work.wait()
            if bufs is None:
                return None
            return torch.cat([b.narrow(d, 0, s) for b, s in zip(bufs, sizes)], dim=d)
        return done

    def scatter(self, i, key, t, full, dtype):
        """Start scattering ``full`` (the whole result, on the owner) back into shards shaped like t."""
        import torch.distributed as dist

        d, sizes, shape = self._layout(key, t)
        out = torch.empty(shape, dtype=dtype, device=t.device)
        parts = None
        if full is not None:
            parts = []
            for r, s in enumerate(sizes):
                part = torch.zeros(shape, dtype=dtype, device=t.device)
                part.narrow(d, 0, s).copy_(full.narrow(d, sum(sizes[:r]), s))
                parts.append(part)
        work = dist.scatter(out, parts, group=self.pg, group_src=self.owner(i), async_op=True)

        def done():
            work.wait()
            return out.narrow(d, 0, t.shape[d])
        return done

    def map_whole(self, keys, tensors, fn):
        """[fn(whole tensor)] as local shards: each sharded tensor is gathered to its owner, mapped there
        and scattered back; replicated ones are mapped where they are. fn must keep the shape."""
        pending = {i: self.gather(i, k, t) for i, (k, t) in enumerate(zip(keys, tensors)) if self.sharded(k)}
        fulls = {i: g() for i, g in pending.items()}
        out = [None if i in pending else fn(t) for i, t in enumerate(tensors)]
        scatters = {}
        for i, full in fulls.items():
            t = tensors[i]
            result = fn(full) if full is not None else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # a probe of the output dtype, same on every process
                dtype = fn(torch.zeros((1,) * t.dim(), dtype=t.dtype, device=t.device)).dtype
            scatters[i] = self.scatter(i, keys[i], t, result, dtype)
        for i, s in scatters.items():
            out[i] = s()
        return out


    def map_whole_values(self, keys, tensors, fn):
        """[fn(whole tensor) as a numpy array] for every tensor, on every process (each computed once, by
        the owner, and shared with all_gather_object: for small results such as singular values)."""
        import torch.distributed as dist

        pending = {i: self.gather(i, k, t) for i, (k, t) in enumerate(zip(keys, tensors)) if self.sharded(k)}
        mine = {}
        for i, t in enumerate(tensors):
            full = pending[i]() if i in pending else (t if self.lead else None)
            if full is not None:
                mine[i] = fn(full)
        if self.pg is None:
            return [mine[i] for i in range(len(tensors))]
        shared = [None] * self.size
        dist.all_gather_object(shared, mine, group=self.pg)
        merged = {i: v for d in shared for i, v in d.items()}
        return [merged[i] for i in range(len(tensors))]


def exact_median(comm: GroupComm, x, lower: bool = False) -> float:
    """np.median of the union over the group of the float64 vectors x (the lower middle value with
    ``lower``): the (n-1)//2-th and n//2-th smallest, averaged. Exact: both are data values."""
    n = comm.count(x.numel())
    k1 = (n - 1) // 2
    k2 = k1 if lower else n // 2
    a = comm.select(x, k1)
    return a if k1 == k2 else (a + comm.select(x, k2)) / 2


def exact_cauchy_fit(comm: GroupComm, keys, tensors, median: str = "mean"):
    """(mu, s) = (median(z), median(|z - mu|)) over the group, with the rules of
    geomrelax.robust_fit.cauchy_fit (float64; the median of the positive deviations when the MAD is 0);
    None when every entry is 0 (the schedule then waits for data)."""
    lower = median == "lower"
    x = comm.values(keys, tensors)
    bad = comm.count(int((~torch.isfinite(x)).sum()))
    if bad:
        raise NonFiniteError(f"the schedule's data have {bad} non-finite entries (over all processes)")
    if comm.count(int(x.ne(0).sum())) == 0:
        return None
    mu = exact_median(comm, x, lower)
    dev = (x - mu).abs()
    s = exact_median(comm, dev, lower)
    if s == 0.0:
        pos = dev[dev > 0]
        s = exact_median(comm, pos, lower) if comm.count(pos.numel()) else 0.0
    return mu, s
