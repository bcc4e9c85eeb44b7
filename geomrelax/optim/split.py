"""Splitting a model's parameters between a matrix optimizer (SoftMuon, Muon) and an element-wise one.

Muon-style training gives the hidden weight matrices (ndim >= 2: linear weights, conv filters,
attention projections) to the matrix optimizer and everything else to AdamW (or SoftSignum):

- gains and biases (ndim < 2),
- embeddings (the weights of nn.Embedding / nn.EmbeddingBag modules): their rows are looked up
  one at a time, so orthogonalising the whole table has no meaning,
- the output head: the modules whose own name is one of ``head_names`` (lm_head, head,
  classifier, fc_out by default); if none is found, the last nn.Linear in module order.

``overrides`` decides first: a mapping from a name pattern (fnmatch syntax on the full parameter
name, e.g. ``"blocks.*.attn.*"``) or a predicate ``(name, param) -> bool`` to ``"matrix"`` or
``"other"``; the first entry that matches wins. Frozen parameters (requires_grad False) are left
out. A parameter shared by several modules (tied weights) is listed once.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import GeomrelaxError

HEAD_NAMES = ("lm_head", "head", "classifier", "fc_out")
MATRIX_OPTIMIZERS = ("softmuon", "muon")
OTHER_OPTIMIZERS = ("adamw", "softsignum")

__all__ = ["HEAD_NAMES", "ParamSplit", "split_params"]


@dataclass
class ParamSplit:
    """The result of :func:`split_params`.

    ``matrix`` / ``other``: the parameters for each optimizer (model order), with their names in
    ``matrix_names`` / ``other_names``; ``reasons[name]`` says why each went where it went;
    ``frozen`` names the parameters left out.
    """

    matrix_optimizer: str
    other_optimizer: str
    matrix: list = field(default_factory=list)
    other: list = field(default_factory=list)
    matrix_names: list = field(default_factory=list)
    other_names: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)
    frozen: list = field(default_factory=list)

    def param_groups(self, matrix_options=None, other_options=None) -> list:
        """Two param-group dicts (``use_muon`` True for the matrix group, as Muon-with-aux-Adam setups expect).

        Options are copied into each group; empty groups are dropped.
        """
        groups = []
        if self.matrix:
            groups.append({"params": list(self.matrix), "use_muon": True, **(matrix_options or {})})
        if self.other:
            groups.append({"params": list(self.other), "use_muon": False, **(other_options or {})})
        return groups

    def build(self, matrix_kwargs=None, other_kwargs=None):
        """(matrix optimizer, other optimizer), each None when it has no parameters.

        ``softmuon``/``muon`` are :class:`geomrelax.optim.softmuon.SoftMuon`/``Muon``; ``adamw`` is
        torch.optim.AdamW; ``softsignum`` is ``geomrelax.optim.softsignum.SoftSignum``.
        """
        from .softmuon import Muon, SoftMuon

        matrix_cls = {"softmuon": SoftMuon, "muon": Muon}[self.matrix_optimizer]
        if self.other_optimizer == "adamw":
            other_cls = torch.optim.AdamW
        else:
            try:
                from .softsignum import SoftSignum as other_cls
            except ImportError as err:  # pragma: no cover - depends on the rest of the package
                raise GeomrelaxError(f"other='softsignum' needs geomrelax.optim.softsignum: {err}") from err
        mat = matrix_cls(list(self.matrix), **(matrix_kwargs or {})) if self.matrix else None
        oth = other_cls(list(self.other), **(other_kwargs or {})) if self.other else None
        return mat, oth


def _check_overrides(overrides):
    if overrides is None:
        return []
    items = list(overrides.items()) if isinstance(overrides, dict) else list(overrides)
    out = []
    for entry in items:
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise GeomrelaxError(f"overrides must map a pattern or predicate to 'matrix'/'other', got entry {entry!r}")
        key, target = entry
        if target not in ("matrix", "other"):
            raise GeomrelaxError(f"override target must be 'matrix' or 'other', got {target!r} for {key!r}")
        if not (isinstance(key, str) or callable(key)):
            raise GeomrelaxError(f"override key must be a name pattern (str) or a predicate, got {key!r}")
        out.append((key, target))
    return out


def _head_modules(model: nn.Module, head_names):
    """Names of the modules treated as output heads."""
    if head_names is None:
        return set()
    names = {head_names} if isinstance(head_names, str) else set(head_names)
    found = {mname for mname, _ in model.named_modules() if mname and mname.rsplit(".", 1)[-1] in names}
    if found:
        return found
    linears = [mname for mname, mod in model.named_modules() if isinstance(mod, nn.Linear)]
    return {linears[-1]} if linears else set()


def split_params(model, matrix_optimizer: str = "softmuon", other: str = "adamw", *, overrides=None,
                 head_names=HEAD_NAMES, strict: bool = True) -> ParamSplit:
    """Split ``model``'s trainable parameters the way Muon users do (see the module docstring).

    ``head_names``: module names that mark an output head (None: no head rule; if none of the
    names is found, the last nn.Linear is the head). ``strict``: refuse an override pattern that
    matches no parameter (usually a typo).
    """
    if not isinstance(model, nn.Module):
        raise GeomrelaxError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if matrix_optimizer not in MATRIX_OPTIMIZERS:
        raise GeomrelaxError(f"matrix_optimizer must be one of {MATRIX_OPTIMIZERS}, got {matrix_optimizer!r}")
    if other not in OTHER_OPTIMIZERS:
        raise GeomrelaxError(f"other must be one of {OTHER_OPTIMIZERS}, got {other!r}")
    rules = _check_overrides(overrides)
    used = [False] * len(rules)

    embedding_params, head_params = set(), set()
    heads = _head_modules(model, head_names)
    for mname, mod in model.named_modules():
        own = [id(p) for p in mod.parameters(recurse=False)]
        if isinstance(mod, (nn.Embedding, nn.EmbeddingBag)):
            embedding_params.update(own)
        if mname in heads:
            head_params.update(id(p) for p in mod.parameters())

    split = ParamSplit(matrix_optimizer, other)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            split.frozen.append(name)
            continue
        target, reason = None, None
        for i, (key, tgt) in enumerate(rules):
            if isinstance(key, str):
                hit = fnmatch.fnmatchcase(name, key)
                used[i] = used[i] or hit  # a pattern counts as used if it names a parameter, even when shadowed
            elif target is None:
                hit = bool(key(name, p))
            else:
                continue
            if hit and target is None:
                target, reason = tgt, f"override {key!r}"
        if target is None:
            if p.ndim < 2:
                target, reason = "other", f"ndim {p.ndim} (gain or bias)"
            elif id(p) in embedding_params:
                target, reason = "other", "embedding"
            elif id(p) in head_params:
                target, reason = "other", "output head"
            else:
                target, reason = "matrix", f"hidden matrix of shape {tuple(p.shape)}"
        if target == "matrix" and p.ndim < 2:
            raise GeomrelaxError(
                f"parameter {name!r} of shape {tuple(p.shape)} cannot go to {matrix_optimizer}: it needs ndim >= 2"
            )
        if target == "matrix":
            split.matrix.append(p)
            split.matrix_names.append(name)
        else:
            split.other.append(p)
            split.other_names.append(name)
        split.reasons[name] = reason
    if strict:
        unused = [key for (key, _), u in zip(rules, used) if not u and isinstance(key, str)]
        if unused:
            raise GeomrelaxError(f"override pattern(s) {unused} matched no trainable parameter (strict=True)")
    return split
