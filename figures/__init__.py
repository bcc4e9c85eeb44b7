"""figures: one function per figure, reading results written by the core, :mod:`synthetic` and
:mod:`proofs_check`; figures compute nothing those could not.
"""
