"""synthetic: non-convex stochastic test problems, noise models, a vectorized sweep engine, and rate
fits against the stated bounds, across the temperature tau (sign method at tau = inf, SGD as
tau -> 0), the dimension d, the horizon T and seeds. Depends on the core (geomrelax), never on
proofs_check, figures or geomrelax.app. The full guide is docs/sweep.md.

Quick start
-----------
    import synthetic
    res = synthetic.sweep(
        problems=["separable"],                                   # or {"kind": "separable", "phi": "log", ...}
        noises=[{"kind": "gaussian", "sigma": 0.1, "phi": 1.0}],
        optimizers=[{"name": "signum", "lr": 1.0, "schedule": "theory"},
                    {"name": "softsignum", "lr": 1.0, "schedule": "theory"},
                    {"name": "sgd", "lr": 0.5, "schedule": "theory"}],
        dims=[100], horizons=[100, 300, 1000, 3000], taus=[0.1, 1, 10, 100], seeds=range(8),
        out="results/")                                           # optional: resumable results directory
    res.runs    # list of dicts, one per (cell, tau, seed, checkpoint step); res.frames() -> pandas
    res.rates   # one dict per fitted exponent: varied ("T" or "d"), measure, exponent, lo, hi,
                # claimed, verdict ("consistent" / "faster" / "slower" / "no claim")

sweep(problems, noises, optimizers, dims, horizons, taus, seeds, *, out=None, n_checkpoints=12,
      dtype="float32", device="cpu", executor=None, progress=True, fit=True, compile=None,
      threads=1) -> SweepResult
    A cell is one (problem, noise, optimizer, d, T); all its taus and seeds run as one batch.
    ``compile``: fuse each step into one torch.compile'd kernel (None: for cells of >= 5e8
    element-steps). ``threads``: torch threads during the sweep (default 1, best on a shared machine).
    ``executor``: None (in this process), a distributed.Client, or "dask" (local cluster).
    With ``out``: DIR/runs.csv, DIR/rates.csv, DIR/cells/ (one file per finished cell); running
    again resumes, adds nothing twice; a second concurrent sweep on DIR is refused (SweepLockedError).

Problems (make_problem(spec, d)): separable (a_i phi(x_i - c_i), phi "rational" z^2/(1+z^2) or
"log" log(1+z^2), options a_min, a_max, offset, seed), robust_regression (Cauchy loss, n, outliers),
matrix_least_squares (||A X - B||^2/2, d = rows of X, options n, cond), matrix_sensing (low rank, d =
size, rank), random_features (power-law spectrum exponent s, d = number of features N). Each
exposes f_star, delta, L2, L_inf, L_coord (see synthetic.problems).

Noise (make_noise(kind, **options)): gaussian(sigma, phi), student_t(sigma, df, phi), minibatch(batch),
none. phi is the noise density ||sigma||_1^2 / (d ||sigma||_2^2) in [1/d, 1] (see synthetic.noise).

Optimizers (make_method(spec)): sgd, signum, softsignum (fixed tau; or schedule="softsign" for the
sign phase and quantile temperature schedule), s3, relaxed (regularizer = built-in name,
"spectral:NAME", or a Regularizer, e.g. geomrelax.from_expr(...)), muon, softmuon. Options: lr, momentum, dampening
("ema" default), nesterov, weight_decay, lr_power, momentum_power, schedule="theory" (the step sizes
the theorems prescribe per horizon: lr T^-3/4 and beta = 1 - T^-1/2 for sign-type methods, lr T^-1/2
for SGD), psi, p, eps, alpha_sign, tmax. See synthetic.methods.

Columns of runs.csv: optimizer, problem, noise, tau, d, T, seed, step, f_gap, grad_l1, grad_l2,
grad_nuc, min_l1, min_l2, min_nuc, avg_l1, avg_l2, avg_vstar, avg_merr, lr, momentum, lr_base,
momentum_base, lr_power, momentum_power, schedule, noise_kind, noise_sigma, noise_phi, noise_df,
noise_batch, delta, f_star, L2, L_inf, L_coord_l1, sigma_l1, sigma_l2, noise_density, dtype, cell.
Columns of rates.csv: optimizer, problem, noise, varied, values, measure, exponent, lo, hi, claimed,
verdict, source, tau, d, T, lr_base, momentum_base, lr_power, momentum_power, n_points, n_seeds.

The V* measure (avg_vstar) is computed for the built-in regularizers (and SoftMuon's spectral one);
for a user regularizer it is NaN (its conjugate has no torch form to evaluate at every step).

Rates and bounds: fit_power / fit_exponential (log-log or log-linear slope, seed-bootstrap 95%
interval), verdict, fit_rates; synthetic.bounds: bernstein_signsgd, tao_signsgd, sgd_l1_lower,
softsign_descent_check, run_bernstein, check_bound. synthetic.comparison: sign_vs_sgd (gain of
SignSGD over SGD against the noise density). synthetic.random_features.scaling_exponent.

TOML config (``geomrelax sweep --config FILE``; synthetic.config.load_config):

    [grid]
    dims = [100, 1000]
    horizons = [100, 1000, 10000]
    taus = [0.1, 1.0, 10.0]
    seeds = 8                      # or a list of seeds
    n_checkpoints = 12
    dtype = "float32"
    [[problems]]
    kind = "separable"
    phi = "rational"
    [[noises]]
    kind = "gaussian"
    sigma = 0.1
    [[optimizers]]
    name = "signum"
    lr = 1.0
    schedule = "theory"
"""

from .bounds import (bernstein_signsgd, check_bound, run_bernstein, sgd_l1_lower, softsign_descent_check,
                     tao_signsgd)
from .engine import checkpoints, run_cell
from .methods import METHOD_NAMES, Method, make_method
from .noise import Gaussian, Minibatch, NoNoise, StudentT, density, make_noise, profile
from .problems import Problem, ProblemError, RobustRegression, Separable
from .rates import fit_exponential, fit_power, fit_rates, verdict
from .store import ResultStore, SweepLockedError
from .sweep import SweepResult, make_problem, sweep

__all__ = [
    "sweep", "SweepResult", "make_problem", "make_noise", "make_method", "Method", "METHOD_NAMES", "run_cell",
    "checkpoints", "Problem", "ProblemError", "Separable", "RobustRegression", "Gaussian", "StudentT", "Minibatch",
    "NoNoise", "density", "profile", "fit_power", "fit_exponential", "fit_rates", "verdict", "ResultStore",
    "SweepLockedError", "bernstein_signsgd", "tao_signsgd", "sgd_l1_lower", "softsign_descent_check",
    "run_bernstein", "check_bound",
]
