"""synthetic: non-convex stochastic test problems and noise models, and the empirical rates
measured on them against the stated bounds, across tau, dimension and seeds. Depends on the core
(:mod:`geomrelax`, including its numpy reference optimizers), never on :mod:`proofs_check`.
"""
