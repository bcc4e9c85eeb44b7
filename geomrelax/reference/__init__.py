"""Numpy reference implementations of the optimizer updates (float64, one step at a time).

The torch optimizers in :mod:`geomrelax.optim` share their update formulas with these functions;
the parity tests compare the two step by step.
"""

from .relaxed import relaxed_direction, relaxed_init, relaxed_step
from .s3 import s3_init, s3_ratio, s3_step
from .softmuon import muon_direction, ns5, run_softmuon, softmuon_schedule, softmuon_step
from .softsignum import signum_step, softsignum_init, softsignum_step

__all__ = ["muon_direction", "ns5", "relaxed_direction", "relaxed_init", "relaxed_step", "run_softmuon",
           "s3_init", "s3_ratio", "s3_step", "signum_step", "softmuon_schedule", "softmuon_step",
           "softsignum_init", "softsignum_step"]
