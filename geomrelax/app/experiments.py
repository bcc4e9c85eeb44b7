"""Report sections on the synthetic experiments (:mod:`synthetic`): measured rates beside the stated ones,
convergence across the temperature tau and the dimension d, and SignSGD against SGD across the noise
density.

Each item runs one :func:`synthetic.sweep` (or :func:`synthetic.comparison.sign_vs_sgd`) into its folder
of the result store (``<item>/sweep/``: synthetic's own resumable layout, so an interrupted sweep
continues cell by cell), then writes the tidy rows its figure reads. The configuration holds the grid
and a hash of synthetic's source, so a changed experiment is recomputed and an unchanged one never is.
"""

from __future__ import annotations

import math

import numpy as np

from ..store import write_csv
from .report import Item, Section, package_fingerprint
from .render import TableView

EXPERIMENTS_VERSION = 1
MEASURE = "min_l1"  # min_t ||grad f(x_t)||_1: what the sign-method bounds control
PROBLEM = {"kind": "separable"}  # curvatures a_i spread over three decades: the heterogeneous separable problem
NOISE = {"kind": "gaussian", "sigma": 0.1, "phi": 1.0}
SIGN = {"name": "signum", "lr": 1.0, "schedule": "theory"}
SOFT = {"name": "softsignum", "lr": 1.0, "schedule": "theory"}
SGD = {"name": "sgd", "lr": 0.5, "schedule": "theory"}
S3 = {"name": "s3", "lr": 1.0, "schedule": "theory"}
RATE_TAU = 10.0  # SoftSignum's fixed temperature in the T and d sweeps


def _synthetic():
    import synthetic  # noqa: F401 - a missing package fails the section, with its error, not the report

    return synthetic


def _common(opts) -> dict:
    return {"seed": opts.seed, "version": EXPERIMENTS_VERSION, "synthetic": package_fingerprint("synthetic"),
            "core": package_fingerprint("geomrelax", exclude=("app",)), "problem": PROBLEM, "noise": NOISE}


def _seeds(opts, n: int) -> list:
    return list(range(opts.seed * 1000, opts.seed * 1000 + n))


def _sweep(folder, opts, **grid):
    synthetic = _synthetic()
    return synthetic.sweep(problems=[PROBLEM], noises=[NOISE], out=str(folder / "sweep"), progress=opts.progress,
                           **grid)


def _fits(res, varied: str) -> dict:
    """optimizer -> its fitted exponent on MEASURE against ``varied``."""
    return {r["optimizer"]: r for r in res.rates if r["varied"] == varied and r["measure"] == MEASURE}


def _fit_columns(fit) -> dict:
    if fit is None:
        return {"exponent": math.nan, "lo": math.nan, "hi": math.nan, "claimed": math.nan, "verdict": "not fitted"}
    return {k: fit[k] for k in ("exponent", "lo", "hi", "claimed", "verdict")}


def _rates_rows(fits) -> list:
    return [{k: f[k] for k in ("optimizer", "varied", "values", "measure", "exponent", "lo", "hi", "claimed",
                               "verdict", "source")} for f in fits.values()]


# -- rates against T -----------------------------------------------------------------------------------
def _rate_items(opts) -> list:
    _synthetic()
    grid = {"optimizers": [SIGN, SOFT, SGD, S3], "dims": [100], "taus": [RATE_TAU],
            "horizons": opts.pick([100, 300, 1000], [100, 300, 1000, 3000], [100, 300, 1000, 3000, 10000, 30000]),
            "seeds": _seeds(opts, opts.pick(3, 8, 16))}

    from figures.rates import RATE_COLUMNS

    return [_fit_sweep_item("rates", "horizon_sweep", opts, grid, "T", "rate_fits.csv", RATE_COLUMNS)]


def _fit_sweep_item(section: str, name: str, opts, grid: dict, varied: str, filename: str, columns) -> Item:
    """An item sweeping ``varied`` ('T' or 'd'): rows at each run's horizon, with the fitted exponent of
    MEASURE against ``varied`` (synthetic's fit and claim) repeated on each optimizer's rows."""
    def run(folder):
        res = _sweep(folder, opts, **grid)
        fits = _fits(res, varied)
        rows = [{"optimizer": r["optimizer"], varied: r[varied], "seed": r["seed"], "value": r[MEASURE],
                 "measure": MEASURE, **_fit_columns(fits.get(r["optimizer"]))} for r in res.runs if r["step"] == r["T"]]
        write_csv(folder / filename, rows, columns)
        return {"passed": True, "files": [filename], "rates": _rates_rows(fits),
                "summary": "; ".join(f"{k} {varied}-slope {f['exponent']:.2f} (claimed {f['claimed']:.2f}: "
                                     f"{f['verdict']})" for k, f in fits.items())}

    return Item(section, name, {**_common(opts), **grid}, run, with_dir=True)


def _rates_table(title: str, rates: list) -> TableView:
    def num(v):
        try:
            return f"{float(v):.3g}"
        except (TypeError, ValueError):
            return str(v)
    rows = [[r["optimizer"], r["measure"], r["values"], f"{num(r['exponent'])} [{num(r['lo'])}, {num(r['hi'])}]",
             num(r["claimed"]), r["verdict"], r["source"]] for r in rates]
    cls = ["pass" if r["verdict"] == "consistent" else "warn" for r in rates]
    return TableView(title, ["optimizer", "measure", "values", "fitted exponent [95% interval]", "claimed",
                             "verdict", "source of the claim"], rows, row_class=cls,
                     note="A verdict is 'consistent' when the claimed exponent lies in the interval, 'faster' or "
                          "'slower' otherwise; a bound is an upper bound, so 'faster' does not contradict it.")


def _present_rates(records, p) -> None:
    from figures.rates import rate_fits

    rec = records[0]
    p.figure("rate_fits", "Rate fits: stationarity against the horizon T",
             f"On the heterogeneous separable problem (d = 100, Gaussian noise), each optimizer runs with the step "
             f"sizes its theorem prescribes for the horizon T (SoftSignum at tau = {RATE_TAU:g}); the slope of "
             "log stationarity against log T is fitted with a seed-bootstrap interval and compared with the "
             "claimed exponent.", lambda out: rate_fits(rec.item_dir / "rate_fits.csv", out))
    p.table(_rates_table("Fitted rates against T", rec.result["rates"]))


# -- convergence against tau -----------------------------------------------------------------------------
def _tau_items(opts) -> list:
    _synthetic()
    taus = [float(t) for t in opts.pick(np.geomspace(1e-2, 1e2, 5), np.geomspace(1e-2, 1e3, 11),
                                        np.geomspace(1e-3, 1e4, 15))]
    grid = {"optimizers": [SIGN, SOFT, SGD], "dims": [100], "taus": taus,
            "horizons": [opts.pick(1000, 3000, 10000)], "seeds": _seeds(opts, opts.pick(3, 8, 16)),
            "n_checkpoints": opts.pick(12, 20, 30)}

    def run(folder):
        from figures.convergence import TAU_COLUMNS


        res = _sweep(folder, opts, **grid)
        rows = [{"optimizer": r["optimizer"], "tau": r["tau"], "seed": r["seed"], "step": r["step"],
                 "value": r[MEASURE], "measure": MEASURE} for r in res.runs]
        write_csv(folder / "tau_convergence.csv", rows, TAU_COLUMNS)
        T = grid["horizons"][0]
        final = {}
        for r in res.runs:
            if r["step"] == T:
                final.setdefault((r["optimizer"], r["tau"]), []).append(r[MEASURE])
        med = {k: float(np.median(v)) for k, v in final.items()}
        soft = {t: v for (o, t), v in med.items() if o == "softsignum"}
        best = min(soft, key=soft.get) if soft else math.nan
        return {"passed": True, "files": ["tau_convergence.csv"],
                "final_median": [{"optimizer": o, "tau": t, "value": v} for (o, t), v in med.items()],
                "summary": f"T = {T}: best SoftSignum tau = {best:g} ({soft.get(best, math.nan):.3g}); Signum "
                           f"{next((v for (o, _), v in med.items() if o == 'signum'), math.nan):.3g}, SGD "
                           f"{next((v for (o, _), v in med.items() if o == 'sgd'), math.nan):.3g}"}

    return [Item("tau", "tau_sweep", {**_common(opts), **grid}, run, with_dir=True)]


def _present_tau(records, p) -> None:
    from figures.convergence import tau_convergence

    rec = records[0]
    p.figure("tau_convergence", "Convergence across the temperature tau",
             "SoftSignum with a fixed temperature tau on the heterogeneous separable problem (d = 100): small tau "
             "behaves like SGD with step lr tau, large tau like Signum. Left: stationarity along the run for each "
             "tau; right: stationarity at the horizon against tau, with Signum and SGD (at their own step sizes) as "
             "the two limits. " + rec.result["summary"] + ".",
             lambda out: tau_convergence(rec.item_dir / "tau_convergence.csv", out))


# -- scaling with the dimension ---------------------------------------------------------------------------
def _dimension_items(opts) -> list:
    _synthetic()
    grid = {"optimizers": [SIGN, SOFT, SGD, S3], "taus": [RATE_TAU],
            "dims": opts.pick([10, 100, 1000], [10, 30, 100, 300, 1000], [10, 30, 100, 300, 1000, 3000]),
            "horizons": [opts.pick(300, 1000, 3000)], "seeds": _seeds(opts, opts.pick(3, 8, 16))}

    from figures.convergence import DIM_COLUMNS

    return [_fit_sweep_item("dimension", "dimension_sweep", opts, grid, "d", "dimension.csv", DIM_COLUMNS)]


def _present_dimension(records, p) -> None:
    from figures.convergence import dimension_scaling

    rec = records[0]
    T = rec.config["horizons"][0]
    p.figure("dimension", "Stationarity against the dimension d",
             f"Each optimizer at the horizon T = {T} on the separable problem of dimension d (the same curvature "
             "range at every d). Dashed: the d-scaling the bound predicts on this problem's constants (where the "
             "theory gives one).", lambda out: dimension_scaling(rec.item_dir / "dimension.csv", out))
    p.table(_rates_table("Fitted exponents against d", rec.result["rates"]))


# -- SignSGD against SGD across the noise density ---------------------------------------------------------
def _noise_items(opts) -> list:
    _synthetic()
    d = opts.pick(100, 300, 1000)
    cfg = {"d": d, "phis": [float(v) for v in np.geomspace(1.0 / d, 1.0, opts.pick(3, 6, 9))],
           "T": opts.pick(300, 1000, 3000), "seeds": _seeds(opts, opts.pick(3, 6, 12))}

    def run(folder):
        from synthetic.comparison import sign_vs_sgd

        from figures.rates import GAIN_COLUMNS


        problem = _synthetic().make_problem(PROBLEM, d)
        rows = sign_vs_sgd(problem, cfg["phis"], T=cfg["T"], seeds=cfg["seeds"])
        write_csv(folder / "noise_density.csv", rows, GAIN_COLUMNS)
        edge = sum(bool(r[k]) for r in rows for k in r if k.endswith("_lr_at_edge"))
        return {"passed": True, "files": ["noise_density.csv"], "rows": rows, "lr_at_edge": edge,
                "summary": f"gain {rows[0]['gain_min']:.3g} at phi = {rows[0]['phi']:.3g}, "
                           f"{rows[-1]['gain_min']:.3g} at phi = 1 (predicted {rows[0]['gain_pred_bounds']:.3g} and "
                           f"{rows[-1]['gain_pred_bounds']:.3g})"}

    return [Item("noise_density", f"sign_vs_sgd_d{d}", {**_common(opts), **cfg}, run, with_dir=True)]


def _present_noise(records, p) -> None:
    from figures.rates import noise_density_gain

    rec = records[0]
    c = rec.config
    edge = rec.result.get("lr_at_edge", 0)
    p.figure("noise_density", "SignSGD against SGD across the noise density",
             f"Separable problem, d = {c['d']}, T = {c['T']}, {len(c['seeds'])} seeds; each method at its best constant "
             "step size from a grid. The noise density phi = ||sigma||_1^2 / (d ||sigma||_2^2) runs from 1/d (one "
             "noisy coordinate) to 1 (uniform noise) with d ||sigma||_2^2 held fixed."
             + (f" {edge} best step size(s) lie at an end of the grid: the gain there is a bound, not a value."
                if edge else ""),
             lambda out: noise_density_gain(rec.item_dir / "noise_density.csv", out))


SECTIONS = [
    Section("rates", "Measured rates beside the stated bounds", _rate_items,
            "How fast stationarity falls with the horizon T for each optimizer, fitted on seeds and set beside the "
            "exponent the theory states.", _present_rates),
    Section("tau", "From SGD to Signum: convergence across tau", _tau_items,
            "The temperature tau interpolates between SGD (tau -> 0) and Signum (tau -> inf).", _present_tau),
    Section("dimension", "Convergence against the dimension", _dimension_items,
            "Sign methods pay for the l1 geometry with a dimension factor; the bounds predict how much on each "
            "problem.", _present_dimension),
    Section("noise_density", "SignSGD against SGD across the noise density", _noise_items,
            "The predicted advantage of SignSGD over SGD grows as the noise concentrates on few coordinates.",
            _present_noise),
]
