"""synthetic.sweep: resumable results, no duplicates, the lock, determinism, the CSV layout."""

import csv
import json
import math
import os
import sys

import numpy as np
import pytest

import synthetic
from synthetic.store import ResultStore, SweepLockedError

sweep_mod = sys.modules["synthetic.sweep"]   # the module; synthetic.sweep is the function

OPTS = [{"name": "signum", "lr": 1.0, "schedule": "theory"}, {"name": "softsignum", "lr": 1.0, "schedule": "theory"},
        {"name": "sgd", "lr": 0.5, "schedule": "theory"}]
GRID = dict(problems=["separable"], noises=[{"kind": "gaussian", "sigma": 0.1}], optimizers=OPTS, dims=[10], threads=1,
            horizons=[10, 20, 40], taus=[1.0, 10.0], seeds=range(3), progress=False)


def _keys(rows):
    return [(r["cell"], r["tau"], r["seed"], r["step"]) for r in rows]


def test_sweep_rows_and_columns(tmp_path):
    res = synthetic.sweep(**GRID, out=str(tmp_path))
    # 3 horizons x (signum 1 tau + softsignum 2 taus + sgd 1 tau) x 3 seeds x checkpoints
    n_ck = sum(len(synthetic.checkpoints(T)) for T in (10, 20, 40))
    assert len(res.runs) == n_ck * 4 * 3
    with open(tmp_path / "runs.csv") as fh:
        header = next(csv.reader(fh))
    for col in ("optimizer", "problem", "noise", "tau", "d", "T", "seed", "step", "min_l1", "min_l2", "avg_vstar"):
        assert col in header
    assert os.path.exists(tmp_path / "rates.csv")
    taus = {r["optimizer"]: set() for r in res.runs}
    for r in res.runs:
        taus[r["optimizer"]].add(r["tau"])
    assert taus["signum"] == {math.inf} and taus["sgd"] == {0.0} and taus["softsignum"] == {1.0, 10.0}


def test_resume_after_interrupt_adds_nothing_twice(tmp_path, monkeypatch):
    fresh = synthetic.sweep(**GRID, out=str(tmp_path / "fresh"))
    real = sweep_mod.run_one
    calls = {"n": 0}

    def flaky(cell, progress=None):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(cell, progress)

    monkeypatch.setattr(sweep_mod, "run_one", flaky)
    out = str(tmp_path / "interrupted")
    with pytest.raises(KeyboardInterrupt):
        synthetic.sweep(**GRID, out=out)
    assert len(os.listdir(os.path.join(out, "cells"))) == 3          # the finished cells survive
    monkeypatch.setattr(sweep_mod, "run_one", real)
    # a half-written temporary file left by a killed writer is ignored
    open(os.path.join(out, "cells", ".tmp-abc.csv"), "w").write("optimizer,pro")
    resumed = synthetic.sweep(**GRID, out=out)
    again = synthetic.sweep(**GRID, out=out)
    assert len(_keys(resumed.runs)) == len(set(_keys(resumed.runs)))
    assert sorted(_keys(resumed.runs)) == sorted(_keys(fresh.runs)) == sorted(_keys(again.runs))
    a = {k: r["min_l1"] for k, r in zip(_keys(fresh.runs), fresh.runs)}
    b = {k: r["min_l1"] for k, r in zip(_keys(resumed.runs), resumed.runs)}
    assert a == b                                                     # same seed, same numbers


def test_concurrent_sweep_is_refused(tmp_path):
    with ResultStore(str(tmp_path)):
        with pytest.raises(SweepLockedError, match="another sweep"):
            synthetic.sweep(**GRID, out=str(tmp_path))


def test_same_seed_same_numbers_independent_of_batch():
    P = synthetic.Separable(50, seed=1)
    N = synthetic.Gaussian(0.2)
    m = synthetic.Method("softsignum", lr=0.05)
    a = synthetic.run_cell(P, N, m, 60, taus=[3.0], seeds=[5])
    b = synthetic.run_cell(P, N, m, 60, taus=[0.5, 3.0], seeds=[2, 5, 9])
    c = synthetic.run_cell(P, N, m, 60, taus=[3.0], seeds=[5])
    assert a == c                                                     # bitwise on rerun
    sel = [r for r in b if r["seed"] == 5 and r["tau"] == 3.0]
    # the run of seed 5 does not depend on its batch companions; only float32 reductions over d may
    # round in another order (relative 1e-6 is a few float32 ulps of a sum of 50 terms)
    for r, s in zip(a, sel):
        for k in ("f_gap", "min_l1", "avg_l2", "avg_vstar"):
            assert math.isclose(r[k], s[k], rel_tol=1e-6) or (r["step"] == 0 and k == "avg_vstar"), (k, r, s)
    d = synthetic.run_cell(P, N, m, 60, taus=[3.0], seeds=[6])
    assert [r["f_gap"] for r in d][1:] != [r["f_gap"] for r in a][1:]       # another seed, other noise


def test_bad_specs_are_refused():
    with pytest.raises(synthetic.ProblemError, match="unknown problem"):
        synthetic.make_problem("nope", 3)
    with pytest.raises(synthetic.ProblemError, match="unknown noise"):
        synthetic.make_noise("cauchy")
    with pytest.raises(ValueError, match="unknown optimizer"):
        synthetic.make_method("adam")
    with pytest.raises(ValueError, match="unknown option"):
        synthetic.make_method({"name": "signum", "betas": 3})
    with pytest.raises(synthetic.ProblemError, match="noise density phi"):
        synthetic.profile(10, 0.05)


@pytest.mark.slow
def test_compiled_step_matches_eager():
    """The fused (torch.compile) step computes the same runs; only float32 rounding may differ."""
    P, N = synthetic.Separable(200, seed=2), synthetic.Gaussian(0.1)
    m = synthetic.Method("softsignum", lr=0.02, momentum=0.9)
    eager = synthetic.run_cell(P, N, m, 50, taus=[0.5, 5.0], seeds=[0, 1], compile=False)
    fused = synthetic.run_cell(P, N, m, 50, taus=[0.5, 5.0], seeds=[0, 1], compile=True)
    for a, b in zip(eager, fused):
        for k in ("f_gap", "min_l1", "avg_vstar", "avg_merr"):
            # 50 float32 steps of tanh and fused multiply-adds: 1e-4 relative (measured ~1e-6)
            assert math.isclose(a[k], b[k], rel_tol=1e-4) or (a["step"] == 0 and k in ("avg_vstar", "avg_merr"))


def test_matrix_and_finite_sum_cells_run_every_optimizer():
    """Every optimizer on a problem it fits: spectral ones on matrices (nuclear-norm stationarity),
    the rest with heavy-tailed and minibatch noise."""
    mat = synthetic.sweep(problems=[{"kind": "matrix_least_squares", "n": 3}, {"kind": "matrix_sensing", "rank": 2}],
                          noises=[{"kind": "gaussian", "sigma": 0.05}],
                          optimizers=[{"name": "muon", "lr": 0.02}, {"name": "softmuon", "lr": 0.02},
                                      {"name": "relaxed", "regularizer": "spectral:algebraic", "lr": 0.02},
                                      {"name": "relaxed", "regularizer": "entropic", "lr": 0.02}],
                          dims=[5], horizons=[15], taus=[1.0, 10.0], seeds=range(2), progress=False, fit=False)
    final = [r for r in mat.runs if r["step"] == 15]
    assert {r["optimizer"] for r in final} == {"muon", "softmuon", "relaxed[spectral(algebraic)]", "relaxed[entropic]"}
    for r in final:
        assert math.isfinite(r["min_nuc"]) and r["min_nuc"] <= r["min_l1"] + 1e-9   # ||G||_* <= ||vec G||_1
        assert r["f_gap"] < r["delta"]                                             # every run made progress
    soft = [r for r in final if r["optimizer"] == "softmuon"]
    assert all(math.isfinite(r["avg_vstar"]) for r in soft)
    vec = synthetic.sweep(problems=[{"kind": "robust_regression"}],
                          noises=[{"kind": "student_t", "sigma": 0.05, "df": 2.5}, {"kind": "minibatch", "batch": 8}],
                          optimizers=["s3", {"name": "signum", "lr": 0.01}, {"name": "sgd", "lr": 0.1}],
                          dims=[10], horizons=[20], taus=[1.0], seeds=range(2), progress=False, fit=False)
    final = [r for r in vec.runs if r["step"] == 20]
    assert len(final) == 2 * 3 * 2
    assert all(math.isfinite(r["min_l2"]) and r["f_gap"] < r["delta"] for r in final)


@pytest.mark.slow
def test_killed_process_resumes(tmp_path):
    """SIGKILL in the middle of a sweep: the finished cells stay, the lock dies with the process, and
    the rerun completes the grid with exactly the rows of an uninterrupted sweep."""
    import signal
    import subprocess
    import time

    out = str(tmp_path / "killed")
    grid = dict(GRID, horizons=[200, 400, 800, 1600])
    code = "import json, sys, synthetic; synthetic.sweep(**json.loads(sys.argv[1]), out=sys.argv[2])"
    args = {k: (list(v) if isinstance(v, range) else v) for k, v in grid.items()}
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(args), out], cwd=os.getcwd())
    cells = os.path.join(out, "cells")
    deadline = time.time() + 120
    while time.time() < deadline and not (os.path.isdir(cells) and len(os.listdir(cells)) >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len([f for f in os.listdir(cells) if not f.startswith(".tmp-")])
    assert 2 <= n_before < 12                                   # killed part-way through the 12 cells
    resumed = synthetic.sweep(**grid, out=out)
    fresh = synthetic.sweep(**grid, out=str(tmp_path / "fresh"))
    assert len(_keys(resumed.runs)) == len(set(_keys(resumed.runs)))
    a = {k: r["f_gap"] for k, r in zip(_keys(fresh.runs), fresh.runs)}
    b = {k: r["f_gap"] for k, r in zip(_keys(resumed.runs), resumed.runs)}
    assert a == b
