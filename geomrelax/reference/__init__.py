"""Numpy reference implementations of the optimizer updates (float64, one step at a time).

Every reference has the same form: ``state = <name>_init()``, then
``thetas, state = <name>_step(thetas, grads, state, **options)`` once per step. The torch optimizers in
:mod:`geomrelax.optim` share their update formulas (:mod:`geomrelax.updates`) with these functions;
the parity tests compare the two step by step.
"""

from .relaxed import relaxed_direction, relaxed_init, relaxed_step
from .s3 import s3_init, s3_ratio, s3_step
from .softmuon import softmuon_direction, softmuon_init, softmuon_schedule, softmuon_step
from .softsignum import signum_step, softsignum_init, softsignum_step

__all__ = ["relaxed_direction", "relaxed_init", "relaxed_step", "s3_init", "s3_ratio", "s3_step", "signum_step",
           "softmuon_direction", "softmuon_init", "softmuon_schedule", "softmuon_step", "softsignum_init",
           "softsignum_step"]
