"""Numpy reference implementations of the optimizer updates (float64, one step at a time).

The torch optimizers in :mod:`geomrelax.optim` share their update formulas with these functions;
the parity tests compare the two step by step.
"""
