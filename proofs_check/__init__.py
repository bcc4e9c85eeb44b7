"""proofs_check: the identities, lemmas and stated bounds of the theory as claim objects.

Each claim is checked numerically, hunting for counterexamples, and reported as holds / violated
(with the counterexample) / inconclusive. It depends on the core (:mod:`geomrelax`) and may use
:mod:`synthetic` for rate claims; the identity checks of a single regularizer live in
:mod:`geomrelax.verify`.
"""
