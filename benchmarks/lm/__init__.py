"""A small GPT trained on a synthetic language with a known loss floor, with AdamW, Signum, SoftSignum,
Muon and SoftMuon on equal budgets (``python -m benchmarks.train_lm``, ``geomrelax train``).

source: the language (order-k Markov segments and their copies) and its exact loss floor;
model: the GPT; optimizers: the five set-ups; training: one run; experiment: grid, then seeds;
report: the table, the curves and the figure.
"""
