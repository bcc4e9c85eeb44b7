"""The shared base of geomrelax's torch optimizers: checked, transactional steps.

``GeomOptimizer`` is a ``torch.optim.Optimizer`` (param_groups with per-group options,
state_dict / load_state_dict, zero_grad, closures, hooks, named parameters) that adds what every
optimizer of the toolkit needs and the official code lacks:

- a per-group step count ``group['step']`` (an int in the param group, so it round-trips through
  state_dict with everything else; nothing is stored beside the per-parameter states, pitfall 5);
- a non-finite check of all gradients before anything is touched: one fused reduction per group
  (max |g| over the group), one host synchronisation per step for all groups. A NaN/inf gradient
  raises :class:`~geomrelax.errors.NonFiniteError` naming the parameter (group index, parameter
  index, shape, and its name when named parameters were given), or with ``nonfinite="skip"``
  skips the whole step with a :class:`NonFiniteStepWarning`. Either way parameters, state and
  step counts are left bitwise as they were (pitfall 6: NaN never enters a momentum);
- an overflow guard: each subclass bounds the magnitude of its state from max |g| (a host-side
  recurrence, no extra pass over memory); when the bound could reach the dtype's largest finite
  number, or when the subclass asks for it, the step runs as a transaction on copies and is
  committed only if every new parameter and state entry is finite;
- everything that can fail runs before the first write, over all groups: the gradient check, each
  group's plan (a schedule fit, a user function, a matrix map checked finite) and the whole update
  of the groups that run as a transaction; only then is anything written;
- torch.optim's conventions: options are checked before the parameters are read, at construction
  and in add_param_group, with messages that name the value (lr: a real number or a 0-d tensor,
  finite, >= 0); parameters without a gradient or without entries are skipped; load_state_dict
  fills the flags a state_dict saved before they existed lacks (as torch's ``__setstate__``),
  refuses another optimizer's state saying which options differ, and checks every loaded state
  tensor (keys, shape, dtype, finite); pickle and deepcopy give an optimizer that steps the same;
- no torch.distributed call for plain tensors (pitfall 2; with DDP every process steps the same
  replicated parameters), and p.grad is never written (pitfall 3);
- DTensor parameters (FSDP2): the hooks get the local shards (``params``, ``grads`` and the states
  as local tensors; ``ctx.keys`` are the parameters themselves, with the global shapes), the states
  are kept as DTensors laid out like their parameter, and what spans the group (the non-finite
  check, the transaction's finite check) is reduced across the processes (``ctx.comm``, a
  :class:`geomrelax.optim.distributed.GroupComm`), so that every process takes the same decision.

(The pitfalls are those of the official code, numbered as in docs/theory.md.)

Contract for subclasses
-----------------------
``__init__`` builds ``defaults`` (a dict of the hyperparameters, plus ``foreach`` and
``nonfinite``) and calls ``super().__init__(params, defaults)``. Then override:

``_validate_group(self, group) -> None``
    Raise :class:`InvalidHyperparameterError` (use :func:`check_real`, :func:`check_int`,
    :func:`check_bool`, :func:`check_choice`) for bad options. Called for every param group when
    it is added and after load_state_dict.
``_init_group_state(self, group) -> None``
    Optional: ``group.setdefault`` the per-group state keys (beyond ``step`` and ``state_bound``
    that the base adds), e.g. a temperature schedule. Values must be plain Python objects or
    tensors (they are saved by state_dict as they are); replace them, never mutate in place.
``_init_state(self, group, p, state) -> None``
    Fill the empty per-parameter ``state`` dict of ``p`` (tensors like ``p``).
``_plan(self, group, params, grads, states, step, ctx) -> object``
    Optional: everything of the step that can fail (a user function, a schedule fit, a matrix map
    that may return NaN), computed without writing anything; raise to refuse the step. The base
    calls it for every group before the first write of any group and hands the result to
    ``_update`` as ``ctx.plan``.
``_update(self, group, params, grads, states, step, ctx) -> None``
    Apply one step in place to ``params`` and ``states`` (lists of equal length, only the
    parameters that have a gradient and at least one entry). ``step`` is this group's 1-based step
    number (the base stores it in ``group['step']`` after the update succeeded); ``ctx`` is the
    :class:`GroupStep` (group index ``ctx.gi``, positions ``ctx.index``, ``ctx.plan``). Rules: never
    write to ``grads``; treat ``params`` as plain tensors (in a transaction they are copies); read
    options from ``group`` each step (LR schedulers change them; :meth:`hyper` reads a 0-d tensor
    lr as a float); nothing may fail here that ``_plan`` could have checked.
``_state_bound(self, group, prev, gmax) -> float``
    An upper bound on |entry| of every state tensor and of every intermediate (direction,
    parameter change) after this step, given ``prev`` (the bound after the previous step, 0.0 at
    the start) and ``gmax`` = max |g| over the group (including the sign flip of ``maximize``,
    which does not change it). Default: ``math.inf`` (every step runs as a transaction).
``_needs_transaction(self, group, step) -> bool``
    Optional: True for steps that may fail after some writes (a schedule fit, a user function).
``_state_spec(self, group, p) -> dict``
    ``{key: (required, dtype)}`` of the per-parameter state tensors: load_state_dict refuses other
    keys, a missing required key, another shape or dtype, and non-finite entries.
``_check_loaded_state(self, group, p, state) -> None``
    Optional: further checks of a loaded per-parameter state.

Read-only helpers: :meth:`step_count`, :meth:`param_name`, :meth:`use_foreach`.
"""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from dataclasses import dataclass, field

import torch

from ..errors import GeomrelaxError, InvalidHyperparameterError, NonFiniteError
from .. import updates as U
from . import compiled as C
from . import distributed as D
from .options import check_bool, check_choice, check_int, check_real, check_sgd_momentum_options

__all__ = [
    "GeomOptimizer", "GroupStep", "InvalidHyperparameterError", "NonFiniteStepWarning", "NONFINITE_MODES",
    "check_real", "check_int", "check_bool", "check_choice", "check_sgd_momentum_options",
]

NONFINITE_MODES = ("raise", "skip")
# A step runs as a transaction when the host-side bound on |state| reaches this fraction of the
# dtype's largest finite number: the bound is exact up to rounding (a few ulps per operation), so
# a factor 1/4 leaves room for every rounding and for one more addition of the same size.
_OVERFLOW_MARGIN = 0.25


class NonFiniteStepWarning(UserWarning):
    """A step was skipped because of a non-finite gradient (``nonfinite="skip"``)."""


# ------------------------------------------------------------------------------------------------

@dataclass
class GroupStep:
    """One param group's share of a step, handed to the subclass hooks.

    gi: the group's index; group: the param group; params / grads: the parameters that have a
    gradient and their gradients; index: their positions in group['params'] (for messages: in a
    transaction ``params`` are copies); gmax: max |g| over the group; plan: what ``_plan`` returned;
    keys: the parameters themselves (global shapes; the state's keys); comm: the GroupComm of a group
    of DTensor parameters (params and grads are then their local shards), None otherwise.
    """

    gi: int
    group: dict
    params: list
    grads: list
    index: list
    gmax: float = field(default=math.nan)
    plan: object = None
    keys: list = None
    comm: object = None


# the group keys the base keeps beside the options
_BOOKKEEPING = ("params", "param_names", "step", "state_bound")
# options that a state_dict saved before they existed may lack: filled with the class default on load,
# as torch's optimizers do in __setstate__
_FLAGS = ("maximize", "foreach", "fused", "nonfinite")


class GeomOptimizer(torch.optim.Optimizer):
    """Base class; see the module docstring for the contract with subclasses."""

    # attributes beyond torch's (defaults, state, param_groups) that pickle and deepcopy must carry
    _pickled_attributes: tuple = ()
    # options added after the first release of a class: filled with the class default on load, like _FLAGS
    _late_options: tuple = ()

    def __init__(self, params, defaults):
        defaults = dict(defaults)
        defaults.setdefault("foreach", None)
        defaults.setdefault("nonfinite", "raise")
        # the options are checked before the parameters are read, as torch's optimizers do
        probe = dict(defaults, params=[])
        self._validate_base(probe)
        self._validate_group(probe)
        super().__init__(params, defaults)

    # -- groups ----------------------------------------------------------------------------------
    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            self._validate_base(group)
            self._validate_group(group)
        except Exception:
            self.param_groups.pop()
            raise
        group.setdefault("step", 0)
        group.setdefault("state_bound", 0.0)
        self._init_group_state(group)

    def _validate_base(self, group):
        check_choice("nonfinite", group["nonfinite"], NONFINITE_MODES)
        if group["foreach"] is not None:
            check_bool("foreach", group["foreach"])
        for p in group["params"]:
            if not torch.is_floating_point(p):
                raise InvalidHyperparameterError(f"parameters must be floating point, got dtype {p.dtype}")

    def __getstate__(self):
        state = super().__getstate__()
        for name in self._pickled_attributes:
            state[name] = getattr(self, name)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            self._fill_flags(group)
            group.setdefault("step", 0)
            group.setdefault("state_bound", 0.0)
            self._init_group_state(group)

    @classmethod
    def _flag_default(cls, key):
        """The default of option ``key`` in the signature of the class (torch's convention for old state)."""
        for c in cls.__mro__:
            if issubclass(c, GeomOptimizer) and c is not GeomOptimizer:
                param = inspect.signature(c.__init__).parameters.get(key)
                if param is not None and param.default is not inspect.Parameter.empty:
                    return param.default
        return {"foreach": None, "nonfinite": "raise", "maximize": False, "fused": None}[key]

    def _fill_flags(self, group):
        for key in _FLAGS + self._late_options:
            if key in self.defaults:
                group.setdefault(key, self._flag_default(key))

    # -- the subclass interface (defaults) -------------------------------------------------------
    def _validate_group(self, group) -> None:
        pass

    def _init_group_state(self, group) -> None:
        pass

    def _init_state(self, group, p, state) -> None:
        raise NotImplementedError

    def _plan(self, group, params, grads, states, step, ctx):
        return None

    def _update(self, group, params, grads, states, step, ctx) -> None:
        raise NotImplementedError

    def _state_bound(self, group, prev, gmax) -> float:
        return math.inf

    def _needs_transaction(self, group, step) -> bool:
        return False

    def _state_spec(self, group, p):
        """{key: (required, dtype)} of the per-parameter state tensors, checked on load (None: any keys)."""
        return None

    def _check_loaded_state(self, group, p, state) -> None:
        pass

    # -- read-only helpers -----------------------------------------------------------------------
    def step_count(self, group: int = 0) -> int:
        """Number of steps taken by param group ``group`` (skipped steps are not counted)."""
        return int(self.param_groups[group]["step"])

    def param_name(self, gi: int, pi: int) -> str:
        """'group gi, param pi (name 'x', shape (a, b))' -- how errors refer to a parameter."""
        group = self.param_groups[gi]
        p = group["params"][pi]
        names = group.get("param_names")
        name = f" name {names[pi]!r}," if names else ""
        return f"param group {gi}, parameter {pi} ({name} shape {tuple(p.shape)})".replace("( ", "(")

    @staticmethod
    def hyper(group, name) -> float:
        """Option ``name`` of ``group`` as a Python float (a 0-d tensor lr is read once per step)."""
        v = group[name]
        return float(v) if isinstance(v, torch.Tensor) else v

    @staticmethod
    def _group_norm(us, ctx=None) -> float:
        """||u||_2 over the group (across the processes of a sharded group, see geomrelax.optim.distributed)."""
        if ctx is None or ctx.comm is None:
            return U.group_norm(us)
        return ctx.comm.group_norm(ctx.keys, us)

    @staticmethod
    def _schedule_data(zs, ctx, median):
        """The data of a schedule fit: (all entries of zs as one flat tensor, None) in one process; (None,
        the exact (mu, s) over all processes) in a sharded group, (None, None) when they are all 0 there."""
        if ctx is None or ctx.comm is None:
            return torch.cat([z.detach().reshape(-1) for z in zs]), None
        return None, D.exact_cauchy_fit(ctx.comm, ctx.keys, zs, median)

    @staticmethod
    def use_foreach(group, params) -> bool:
        """group['foreach'] if set; by default foreach only on accelerators (on CPU it is slower)."""
        f = group.get("foreach")
        if f is not None:
            return bool(f) and len(params) > 0
        return len(params) > 0 and all(p.device.type != "cpu" for p in params)

    # -- the step --------------------------------------------------------------------------------
    def _collect(self):
        work = []
        for gi, group in enumerate(self.param_groups):
            params, grads, index = [], [], []
            for pi, p in enumerate(group["params"]):
                g = p.grad
                if g is None:
                    continue
                if g.is_sparse:
                    raise GeomrelaxError(f"{self.param_name(gi, pi)} has a sparse gradient; "
                                         f"{type(self).__name__} needs dense gradients")
                if g.shape != p.shape:
                    raise GeomrelaxError(f"{self.param_name(gi, pi)}: gradient shape {tuple(g.shape)} "
                                         "differs from the parameter's")
                if p.numel() == 0:
                    continue  # nothing to update, and no state to keep
                params.append(p)
                grads.append(g)
                index.append(pi)
            if params:
                w = GroupStep(gi, group, params, grads, index, keys=params)
                w.comm = D.group_comm(params)
                if w.comm is not None:
                    w.params, w.grads = [D.local(p) for p in params], [D.local(g) for g in grads]
                work.append(w)
        return work

    @staticmethod
    def _group_maxabs(grads):
        """max |g| over a list of tensors as a 0-d float64 tensor (NaN if any entry is NaN, inf if any is
        infinite). CPU float32 / float64: the compiled integer max over the bit patterns
        (:func:`geomrelax.optim.compiled.group_absmax`, one read at memory speed); otherwise aminmax, one
        vectorised pass that propagates NaN (the inf-norm and isfinite().all() are 10-20x slower on CPU,
        measured, torch 2.13)."""
        if grads and C.usable("absmax", grads):
            return torch.tensor(C.group_absmax(grads, checked=True), dtype=torch.float64)
        ends = []
        for g in grads:
            if g.numel():
                lo, hi = torch.aminmax(g)
                ends += [lo, hi]
        if not ends:
            return torch.zeros((), dtype=torch.float64)
        return torch.stack(ends).to(torch.float64).abs().max()

    def _check_gradients(self, work):
        """One fused reduction per group and one host sync; returns the groups that are not finite."""
        maxes = [self._group_maxabs(w.grads) if w.comm is None else w.comm.max(self._group_maxabs(w.grads))
                 for w in work]
        if len({m.device for m in maxes}) > 1:
            maxes = [m.cpu() for m in maxes]
        maxes = torch.stack(maxes).tolist()
        bad = []
        for w, m in zip(work, maxes):
            w.gmax = m
            if not math.isfinite(m):
                bad.append(w)
        return bad

    def _describe_nonfinite(self, w):
        """Only on the error path: name every offending parameter of a group."""
        parts = []
        for pi, g in zip(w.index, w.grads):
            finite = torch.isfinite(g)
            if bool(finite.all()):
                continue
            n_bad = int((~finite).sum())
            first = tuple(int(i) for i in torch.nonzero(~finite)[0].tolist()) if g.dim() else ()
            value = g[first].item() if g.dim() else g.item()
            shard = " of this process's shard" if w.comm is not None else ""
            parts.append(f"{self.param_name(w.gi, pi)}: {n_bad} of {g.numel()} gradient entries{shard} are "
                         f"non-finite (first {value} at index {first})")
        if not parts and w.comm is not None:
            parts.append(f"param group {w.gi}: non-finite gradient entries in another process's shards")
        return "; ".join(parts)

    def _state_views(self, w, create=False):
        """The states of w's parameters (local shards for DTensor parameters); read-only unless create."""
        if w.comm is None:  # no DTensor in the group (checked once in _collect): the states themselves
            return [self.state[k] for k in w.keys] if create else [self.state.get(k, {}) for k in w.keys]
        return [D.state_view(self.state[k] if create else self.state.get(k, {}), k) for k in w.keys]

    def _commit_views(self, w, views):
        if w.comm is None:
            return
        for k, view in zip(w.keys, views):
            D.state_commit(self.state[k], view, k)

    @torch.no_grad()
    def step(self, closure=None):
        """One step for every param group (parameters without a gradient, or without entries, are skipped).

        Everything that can fail runs before the first write, for all groups: the gradient check,
        then every group's plan (and the whole update of the groups that run as a transaction, on
        copies, checked finite); only then are parameters, states and step counts written.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = self._collect()
        if not work:
            return loss
        bad = self._check_gradients(work)
        if bad:
            msg = "; ".join(self._describe_nonfinite(w) for w in bad)
            if any(w.group["nonfinite"] == "raise" for w in bad):
                raise NonFiniteError(f"{type(self).__name__}: {msg}. Nothing was changed (parameters, "
                                     "state and step counts are as before this call).")
            warnings.warn(f"{type(self).__name__}: step skipped (nonfinite='skip'): {msg}",
                          NonFiniteStepWarning, stacklevel=2)
            return loss

        commits = []
        saved_groups = [(w.group, self._saved_options(w.group)) for w in work]
        try:
            for w in work:
                group = w.group
                step = int(group["step"]) + 1
                prev = float(group["state_bound"])
                bound = max(prev, float(self._state_bound(group, prev, w.gmax)))
                limit = min(torch.finfo(p.dtype).max for p in w.params) * _OVERFLOW_MARGIN
                if bound >= limit or self._needs_transaction(group, step):
                    commits.append((w, step, bound, self._transaction(w, step)))
                else:
                    # read-only: .get, so that a refused step leaves no empty state entries behind
                    states = self._state_views(w)
                    w.plan = self._plan(group, w.params, w.grads, states, step, w)
                    commits.append((w, step, bound, None))
        except Exception:
            for group, saved in saved_groups:
                group.update(saved)
            raise
        for w, step, bound, copies in commits:
            if copies is None:
                states = self._state_views(w, create=True)
                for p, st in zip(w.params, states):
                    if not st:
                        self._init_state(w.group, p, st)
                self._update(w.group, w.params, w.grads, states, step, w)
                self._commit_views(w, states)
            else:
                self._commit_copies(w, *copies)
            w.group["step"] = step
            w.group["state_bound"] = bound
        return loss

    @staticmethod
    def _saved_options(group):
        # a shallow copy: hooks replace group values (the schedule), they never mutate them in place
        return {k: v for k, v in group.items() if k not in ("params", "param_names")}

    def _transaction(self, w, step):
        """Run the update on copies and check every new parameter and state entry is finite; the
        caller commits the copies once every group has passed. Raises (nothing written) otherwise."""
        group = w.group
        params = [p.detach().clone() for p in w.params]
        states = []
        for clone, st in zip(params, self._state_views(w)):
            if st:
                states.append({k: (v.clone() if torch.is_tensor(v) else copy.deepcopy(v)) for k, v in st.items()})
            else:
                fresh = {}
                self._init_state(group, clone, fresh)
                states.append(fresh)
        w.plan = self._plan(group, params, w.grads, states, step, w)
        self._update(group, params, w.grads, states, step, w)
        problems = []
        for pi, p, st in zip(w.index, params, states):
            tensors = [("parameter", p)] + [(f"state[{k!r}]", v) for k, v in st.items() if torch.is_tensor(v)]
            for what, t in tensors:
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    problems.append(f"{self.param_name(w.gi, pi)}: the new {what} would be non-finite")
        if w.comm is not None and w.comm.any(bool(problems)) and not problems:
            problems.append(f"param group {w.gi}: a new parameter or state shard of another process")
        if problems:
            raise NonFiniteError(f"{type(self).__name__}: {'; '.join(problems)} (overflow or a non-finite "
                                 "direction). Nothing was changed.")
        return params, states

    def _commit_copies(self, w, params, states):
        views = self._state_views(w, create=True)
        for p, new, st_new, st in zip(w.params, params, states, views):
            p.copy_(new)
            for k, v in st_new.items():
                if torch.is_tensor(v) and torch.is_tensor(st.get(k)) and st[k].shape == v.shape \
                        and st[k].dtype == v.dtype:
                    st[k].copy_(v)
                else:
                    st[k] = v
        self._commit_views(w, views)

    # -- state_dict ------------------------------------------------------------------------------
    def load_state_dict(self, state_dict):
        """torch's load_state_dict, then every group and state re-validated; on any error the optimizer
        is left as it was.

        - options missing from the saved groups: the flags (maximize, foreach, fused, nonfinite) take
          the class default, as torch's optimizers do for flags added later; a missing option that is
          not a flag means the state_dict is another optimizer's, which is said with the options that
          differ (and the optimizer they look like);
        - per-parameter states must have this optimizer's keys, the parameter's shape and the state's
          dtype, and be finite; ``state_bound`` must be a number >= 0 and is raised to the largest
          |entry| of the loaded state, so the overflow guard holds for the loaded values.
        """
        self._check_foreign_groups(state_dict)
        backup_groups = [dict(g) for g in self.param_groups]
        backup_state = {p: dict(s) for p, s in self.state.items()}
        super().load_state_dict(state_dict)
        try:
            saved = self._saved_state_by_param(state_dict)
            for gi, group in enumerate(self.param_groups):
                self._fill_flags(group)
                self._validate_base(group)
                self._validate_group(group)
                group["step"] = check_int("step", group.get("step", 0))
                bound = check_real("state_bound", group.get("state_bound", 0.0), low=0.0, allow_inf=True)
                self._init_group_state(group)
                for pi, p in enumerate(group["params"]):
                    st = self.state.get(p)
                    if st:
                        bound = max(bound, self._check_state(gi, pi, group, p, st, saved.get(p, {})))
                group["state_bound"] = bound
        except Exception:
            self.param_groups[:] = backup_groups
            self.state.clear()
            self.state.update(backup_state)
            raise

    def _saved_state_by_param(self, state_dict):
        """The saved per-parameter states keyed by our parameters (before torch cast them to p.dtype)."""
        ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        ours = [p for g in self.param_groups for p in g["params"]]
        return {p: state_dict["state"].get(i, {}) for i, p in zip(ids, ours)}

    def _check_state(self, gi, pi, group, p, st, saved) -> float:
        """Check one loaded state (keys, shapes, dtypes, finite); returns its largest |entry|."""
        where = f"loaded state of {self.param_name(gi, pi)}"
        spec = self._state_spec(group, p)
        if spec is None:
            spec = {k: (False, v.dtype) for k, v in st.items() if torch.is_tensor(v) and v.shape == p.shape}
        unknown = sorted(set(st) - set(spec))
        if unknown:
            raise GeomrelaxError(f"{where} has entries {unknown} that {type(self).__name__} does not keep "
                                 f"(it keeps {sorted(spec)}): the state_dict is from another optimizer")
        biggest = 0.0
        for k, (required, dtype) in spec.items():
            v = st.get(k)
            if v is None:
                if required:
                    raise GeomrelaxError(f"{where} lacks state[{k!r}]")
                continue
            if not torch.is_tensor(v) or tuple(v.shape) != tuple(p.shape):
                shape = tuple(v.shape) if torch.is_tensor(v) else type(v).__name__
                raise GeomrelaxError(f"{where}: state[{k!r}] has shape {shape}, the parameter {tuple(p.shape)}")
            if v.dtype != dtype:
                src = saved.get(k)
                if torch.is_tensor(src) and src.dtype == dtype:   # torch cast it to p.dtype: take the saved one
                    v = st[k] = src.to(device=p.device, copy=True)
                else:
                    raise GeomrelaxError(f"{where}: state[{k!r}] has dtype {v.dtype}, expected {dtype}")
            if v.numel():
                m = float(self._group_maxabs([D.local(v)]))
                if not math.isfinite(m):
                    raise NonFiniteError(f"loaded state[{k!r}] of {self.param_name(gi, pi)} is not finite")
                biggest = max(biggest, m)
        self._check_loaded_state(group, p, st)
        return biggest

    def _check_foreign_groups(self, state_dict):
        """A saved group lacking one of our options that is not a flag comes from another optimizer."""
        name = type(self).__name__
        try:
            saved_groups = state_dict["param_groups"]
            state_dict["state"]
        except (KeyError, TypeError):
            raise GeomrelaxError(f"{name}.load_state_dict needs a dict with 'state' and 'param_groups' "
                                 f"(what state_dict() returns), got {type(state_dict).__name__}") from None
        # torch adds 'differentiable' to the defaults on the first load (Optimizer.__setstate__)
        options = set(self.defaults) - set(_FLAGS) - set(self._late_options) - {"differentiable"}
        group_state = {}
        self._init_group_state(group_state)
        ours = set(self.defaults) | set(group_state) | set(_BOOKKEEPING)
        for gi, g in enumerate(saved_groups):
            missing = sorted(options - set(g))
            # options of another optimizer of this family (other keys may be a user's own group entries)
            alien = sorted((set(g) - ours) & _family_options())
            if missing or alien:
                extra = sorted(set(g) - ours)
                guess = _guess_optimizer(set(g) - set(_BOOKKEEPING))
                raise GeomrelaxError(
                    f"this state_dict is not {name}'s: its param group {gi} "
                    + (f"lacks {name}'s option(s) {missing}" if missing else f"has options {alien}")
                    + (f" and has {extra}" if extra and missing else "")
                    + (f"; it looks like the state of {guess}" if guess else ""))


def _family_options():
    """Every option name of the optimizers of geomrelax.optim (and their per-group schedule)."""
    import geomrelax.optim as ours

    names = {"schedule"}
    for n in ours.__all__:
        cls = getattr(ours, n)
        if isinstance(cls, type) and issubclass(cls, GeomOptimizer) and cls is not GeomOptimizer:
            names |= set(inspect.signature(cls.__init__).parameters) - {"self", "params"}
    return names


def _guess_optimizer(keys):
    """The optimizer classes whose constructor options best match ``keys`` (only for error messages)."""
    import geomrelax.optim as ours

    candidates = [(f"geomrelax.optim.{n}", getattr(ours, n)) for n in ours.__all__]
    candidates += [(f"torch.optim.{n}", getattr(torch.optim, n)) for n in dir(torch.optim)]
    scores = {}
    for label, cls in candidates:
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)) or cls is GeomOptimizer:
            continue
        try:
            names = set(inspect.signature(cls.__init__).parameters) - {"self", "params"}
        except (TypeError, ValueError):
            continue
        scores[label] = len(names & keys) / max(1, len(names | keys))
    best = max(scores.values(), default=0.0)
    if best < 0.5:
        return None
    # near ties are named together (torch's Adam and AdamW differ by one option)
    return " or ".join(sorted(label for label, v in scores.items() if v >= best - 0.1))
