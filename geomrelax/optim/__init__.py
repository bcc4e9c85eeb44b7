"""Torch optimizers of the geometry-relaxation family (CPU and CUDA).

SoftSignum / Signum (elementwise sign and tanh), SoftMuon / Muon (matrices: Newton-Schulz polar factor
and the smoothed polar map), S3 (SoftSignSGD), and Relaxed (the relaxed LMO of any regularizer of the
core). All share :class:`~geomrelax.optim.base.GeomOptimizer`: checked, transactional steps, the step
count and schedule in the param groups, and no process group needed.
"""

from .base import GeomOptimizer, InvalidHyperparameterError, NonFiniteStepWarning
from .relaxed import Relaxed
from .s3 import S3
from .softmuon import Muon, SoftMuon
from .softsignum import Signum, SoftSignum
from .split import split_params
from .majority import MajorityVote  # noqa: E402  (the zoo of variants)
from .mimuon import MiMuon  # noqa: E402
from .normuon import NorMuon  # noqa: E402
from .schedule_free import ScheduleFree  # noqa: E402
from .ssvr import SSVR  # noqa: E402

__all__ = ["GeomOptimizer", "InvalidHyperparameterError", "Muon", "NonFiniteStepWarning", "Relaxed", "S3",
           "Signum", "SoftMuon", "SoftSignum", "split_params",
           "MajorityVote", "MiMuon", "NorMuon", "ScheduleFree", "SSVR"]
