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
from .majority import majority_step  # noqa: E402  (the zoo of variants)
from .muon_variants import mimuon_step, muon_variant_init, normuon_step  # noqa: E402
from .schedule_free import schedule_free_init, schedule_free_step, sf_lmo  # noqa: E402
from .ssvr import ssvr_init, ssvr_step  # noqa: E402

__all__ = ["relaxed_direction", "relaxed_init", "relaxed_step", "s3_init", "s3_ratio", "s3_step", "signum_step",
           "softmuon_direction", "softmuon_init", "softmuon_schedule", "softmuon_step", "softsignum_init",
           "softsignum_step", "majority_step", "mimuon_step", "muon_variant_init", "normuon_step",
           "schedule_free_init", "schedule_free_step", "sf_lmo", "ssvr_init", "ssvr_step"]
