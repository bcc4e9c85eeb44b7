"""The common base of the Muon variants (NorMuon, MiMuon): Muon's options plus a few of their own.

A variant is Muon (momentum M_k = beta M_{k-1} + (1 - beta) g_k, Nesterov input u_k, NS5 of the
(shape[0], -1) view of u_k) whose direction is post-processed. ``MuonVariant`` adds the variant's own
options to Muon's param-group defaults: :class:`_ExtraDefaults` sits between SoftMuon and
GeomOptimizer in the method resolution order, so SoftMuon's constructor builds Muon's defaults and
the variant's options are merged in before GeomOptimizer checks them (before the parameters are read).
"""

from __future__ import annotations

from .base import GeomOptimizer
from .softmuon import Muon

__all__ = ["MuonVariant"]


class _ExtraDefaults(GeomOptimizer):
    _extra_defaults: dict = {}

    def __init__(self, params, defaults):
        super().__init__(params, {**defaults, **self._extra_defaults})


class MuonVariant(Muon, _ExtraDefaults):
    """Muon with extra per-group options: subclasses call ``super().__init__(params, extra, **muon_options)``."""

    def __init__(self, params, extra: dict, **muon_options):
        self._extra_defaults = dict(extra)
        super().__init__(params, **muon_options)
