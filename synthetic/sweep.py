"""synthetic.sweep: run a grid of (problem, noise, optimizer, d, T) cells over (tau, seed) and fit rates.

A cell is one (problem, noise, optimizer, d, T); inside it every tau and seed runs at once
(:func:`synthetic.engine.run_cell`). Cells are independent: they run one after the other here, or
on a Dask cluster (``executor=client`` or ``executor="dask"`` for a local cluster); either way the
driver alone writes the results directory (:mod:`synthetic.store`), so the files are the same.
"""

from __future__ import annotations

import hashlib
from importlib import import_module
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .engine import MEASURES, run_cell
from .methods import make_method
from .noise import density, make_noise
from .problems import ProblemError
from .rates import fit_rates
from .store import ResultStore, write_csv

__all__ = ["sweep", "SweepResult", "make_problem", "PROBLEM_KINDS", "Cell", "RUN_COLUMNS", "RATE_COLUMNS"]

RUN_COLUMNS = ["optimizer", "problem", "noise", "tau", "d", "T", "seed", "step", *MEASURES, "lr", "momentum", "lr_base", "momentum_base",
               "lr_power", "momentum_power", "schedule", "noise_kind", "noise_sigma", "noise_phi", "noise_df",
               "noise_batch", "delta", "f_star", "L2", "L_inf", "L_coord_l1", "sigma_l1", "sigma_l2", "noise_density",
               "dtype", "cell"]
RATE_COLUMNS = ["optimizer", "problem", "noise", "varied", "values", "measure", "exponent", "lo", "hi", "claimed",
                "verdict", "source", "tau", "d", "T", "lr_base", "momentum_base", "lr_power", "momentum_power", "n_points",
                "n_seeds"]


_PROBLEMS = {"separable": ("problems", "Separable"), "robust_regression": ("problems", "RobustRegression"),
             "matrix_least_squares": ("matrix_problems", "MatrixLeastSquares"),
             "matrix_sensing": ("matrix_problems", "MatrixSensing"),
             "random_features": ("random_features", "RandomFeatures")}


PROBLEM_KINDS = ("separable", "robust_regression", "matrix_least_squares", "matrix_sensing", "random_features")


def _spec(spec, what):
    if isinstance(spec, str):
        return {"kind": spec}
    if isinstance(spec, dict):
        if "kind" not in spec:
            raise ProblemError(f"a {what} spec needs a 'kind', got {spec!r}")
        return dict(spec)
    raise ProblemError(f"a {what} is a name or a dict with a 'kind', got {type(spec).__name__}")


def make_problem(spec, d: int):
    """A problem of dimension d from a name or {'kind': name, options...} (see PROBLEM_KINDS)."""
    spec = _spec(spec, "problem")
    kind = spec.pop("kind")
    if kind not in _PROBLEMS:
        raise ProblemError(f"unknown problem {kind!r}; choose from {PROBLEM_KINDS}")
    module, name = _PROBLEMS[kind]
    cls = getattr(import_module(f"synthetic.{module}"), name)
    try:
        return cls(d, **spec)
    except TypeError as err:
        raise ProblemError(f"bad options for problem {kind!r}: {err}") from None


def _label(spec) -> str:
    spec = _spec(spec, "spec")
    kind = spec.pop("kind")
    return ":".join([kind] + [f"{k}={spec[k]}" for k in sorted(spec)])


@dataclass
class Cell:
    """One cell of the grid; ``cell_id`` hashes everything that determines its numbers."""

    problem: dict
    noise: dict
    optimizer: object
    d: int
    T: int
    taus: tuple
    seeds: tuple
    n_checkpoints: int = 12
    dtype: str = "float32"
    device: str = "cpu"
    compile: object = None
    method: object = field(default=None, repr=False)

    def __post_init__(self):
        self.method = make_method(self.optimizer)

    @property
    def cell_id(self) -> str:
        m = self.method
        desc = {"problem": _label(self.problem), "noise": _label(self.noise), "optimizer": m.key(),
                "mparams": {k: str(v) for k, v in sorted(vars(m).items()) if k not in ("V", "label", "regularizer")},
                "regularizer": getattr(m.V, "name", None) if m.V is not None else None,
                "d": self.d, "T": self.T, "taus": [repr(float(t)) for t in (self.taus if m.uses_tau else ())],
                "seeds": list(self.seeds), "nck": self.n_checkpoints, "dtype": self.dtype}
        return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:20]


def run_one(cell: Cell, progress=None) -> list:
    """The rows of one cell, with every grid coordinate and the problem's constants as columns."""
    problem = make_problem(cell.problem, cell.d)
    nspec = _spec(cell.noise, "noise")
    noise = make_noise(nspec.pop("kind"), **nspec)
    m = cell.method
    rows = run_cell(problem, noise, m, cell.T, cell.taus, cell.seeds, n_checkpoints=cell.n_checkpoints,
                    device=cell.device, dtype=cell.dtype, progress=progress, compile=cell.compile)
    sig = np.ravel(noise.sigma(problem))
    consts = problem.constants()
    lr, beta, _ = m.at_horizon(cell.T)
    common = {"optimizer": m.key(), "problem": _label(cell.problem), "noise": noise.label(), "d": cell.d,
              "T": cell.T, "lr": lr, "momentum": beta, "lr_base": m.lr, "momentum_base": m.momentum, "lr_power": m.lr_power,
              "momentum_power": m.momentum_power if m.momentum_power is not None else math.nan,
              "schedule": m.schedule or "", "noise_kind": noise.kind,
              "noise_sigma": getattr(noise, "level", math.nan), "noise_phi": getattr(noise, "phi", math.nan),
              "noise_df": getattr(noise, "df", math.nan), "noise_batch": getattr(noise, "batch", math.nan),
              "delta": consts["delta"], "f_star": consts["f_star"], "L2": consts["L2"], "L_inf": consts["L_inf"],
              "L_coord_l1": consts["L_coord_l1"], "sigma_l1": float(np.abs(sig).sum()),
              "sigma_l2": float(np.sqrt((sig * sig).sum())),
              "noise_density": density(sig) if np.all(np.isfinite(sig)) and sig.any() else math.nan,
              "dtype": cell.dtype, "cell": cell.cell_id}
    return [{**common, **r} for r in rows]


class SweepResult:
    """runs (list of row dicts, RUN_COLUMNS), rates (list of dicts, RATE_COLUMNS), path (or None)."""

    def __init__(self, runs, rates, path=None):
        self.runs, self.rates, self.path = runs, rates, path

    def frames(self):
        """(runs, rates) as pandas DataFrames (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.runs), pd.DataFrame(self.rates)

    def __repr__(self):
        return f"<SweepResult {len(self.runs)} rows, {len(self.rates)} rates, path={self.path!r}>"


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple, range)) else [v]


def build_cells(problems, noises, optimizers, dims, horizons, taus, seeds, n_checkpoints=12, dtype="float32",
                device="cpu", compile=None) -> list:
    cells = []
    for p in _as_list(problems):
        for n in _as_list(noises):
            for o in _as_list(optimizers):
                for d in _as_list(dims):
                    for T in _as_list(horizons):
                        cells.append(Cell(_spec(p, "problem"), _spec(n, "noise"), o, int(d), int(T),
                                          tuple(float(t) for t in _as_list(taus)), tuple(int(s) for s in seeds),
                                          n_checkpoints, dtype, device, compile))
    return cells


def sweep(problems=("separable",), noises=({"kind": "gaussian", "sigma": 0.1},),
          optimizers=("signum", "softsignum", "sgd"), dims=(100,), horizons=(100, 300, 1000, 3000),
          taus=(0.1, 1.0, 10.0, 100.0), seeds=range(8), *, out=None, n_checkpoints: int = 12,
          dtype: str = "float32", device: str = "cpu", executor=None, progress: bool = True, fit: bool = True,
          claim_d="bounds", compile=None, threads=1) -> SweepResult:
    """Run the grid and return a :class:`SweepResult`; with ``out`` the results are also written
    (and a second call with the same ``out`` resumes: finished cells are loaded, not rerun).

    executor: None (here, one cell after another), a ``distributed.Client``, or "dask" (a local
    cluster with two in-process workers). ``claim_d="bounds"`` compares d-exponents with the
    explicit bounds of :mod:`synthetic.bounds` evaluated on each cell's constants. ``compile``: see
    :func:`synthetic.engine.run_cell` (None: automatic for long, large cells; True / False force it).
    ``threads``: torch's intra-op threads for this sweep (restored after; None leaves torch's setting).
    The default 1 suits machines shared with other work: two threads waiting on each other's barrier
    while descheduled made element-wise ops 20x slower than one thread (measured under a load of 6 on
    2 cores); cells run in parallel through a Dask executor instead.
    """
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ProblemError("device='cuda' asked for, but torch sees no CUDA device")
    cells = build_cells(problems, noises, optimizers, dims, horizons, taus, seeds, n_checkpoints, dtype, device,
                        compile)
    seen = {}
    for c in cells:
        seen.setdefault(c.cell_id, c)
    cells = list(seen.values())
    import torch

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        runs, path = _run_all(cells, out, executor, progress)
    finally:
        torch.set_num_threads(old_threads)
    rates = []
    if fit:
        from .bounds import claim_d_exponent

        rates = fit_rates(runs, claim_d=claim_d_exponent if claim_d == "bounds" else claim_d)
        if path is not None:
            write_csv(os.path.join(path, "rates.csv"), rates, RATE_COLUMNS)
    return SweepResult(runs, rates, path)


def _run_all(cells, out, executor, progress):
    if out is None:
        runs = _execute(cells, None, executor, progress)
        path = None
    else:
        with ResultStore(out) as store:
            _execute(cells, store, executor, progress)
            runs = store.merge(RUN_COLUMNS)
        path = os.path.abspath(out)
    return runs, path


def _execute(cells, store, executor, progress):
    """Run the cells not yet in the store; rows of every cell of the grid (finished ones loaded)."""
    todo = [c for c in cells if store is None or not store.done(c.cell_id)]
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(c.T for c in todo), unit="step", desc=f"sweep ({len(todo)} cells)", leave=False)
    results = {}
    try:
        if executor is None:
            for c in todo:
                rows = run_one(c, progress=bar.update if bar is not None else None)
                _finish(c, rows, store, results)
        else:
            _run_dask(todo, executor, store, results, bar)
    finally:
        if bar is not None:
            bar.close()
    if store is None:
        return [r for c in cells for r in results[c.cell_id]]
    return None


def _finish(cell, rows, store, results):
    if store is not None:
        store.save(cell.cell_id, rows, RUN_COLUMNS)
    else:
        results[cell.cell_id] = rows


def _run_dask(todo, executor, store, results, bar):
    """Submit every cell to Dask and write each as it completes (the driver is the only writer)."""
    from distributed import as_completed

    client, own = executor, None
    if executor == "dask":
        from distributed import Client, LocalCluster

        own = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
        client = Client(own)
    try:
        futures = {client.submit(run_one, c, pure=False): c for c in todo}
        for fut in as_completed(futures):
            c = futures[fut]
            _finish(c, fut.result(), store, results)
            if bar is not None:
                bar.update(c.T)
    finally:
        if own is not None:
            client.close()
            own.close()
