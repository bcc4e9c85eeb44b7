"""geomrelax sweep's functions (synthetic.cli), the TOML grid, and the Dask executor."""

import argparse
import os
import textwrap

import pytest

import synthetic
from geomrelax.errors import GeomrelaxError
from synthetic.cli import add_sweep_arguments, run_sweep_command
from synthetic.config import ConfigError, load_config, parse_config
from synthetic.store import read_csv

TOML = textwrap.dedent("""
    [grid]
    dims = [10, 20, 40]
    horizons = [30, 60, 120]
    taus = [1.0, 5.0]
    seeds = 2
    n_checkpoints = 5

    [[problems]]
    kind = "separable"
    phi = "log"

    [[noises]]
    kind = "gaussian"
    sigma = 0.2
    phi = 0.5

    [[optimizers]]
    name = "signum"
    lr = 1.0
    schedule = "theory"

    [[optimizers]]
    name = "relaxed"
    regularizer = "algebraic"
    lr = 1.0
    schedule = "theory"
""")


def _args(*argv):
    p = argparse.ArgumentParser()
    add_sweep_arguments(p)
    return p.parse_args(list(argv))


def test_config_file_sweep_and_resume(tmp_path, capsys):
    cfg = tmp_path / "grid.toml"
    cfg.write_text(TOML)
    out = str(tmp_path / "out")
    assert run_sweep_command(_args("--config", str(cfg), "--out", out, "--no-progress")) == 0
    runs = read_csv(os.path.join(out, "runs.csv"))
    rates = read_csv(os.path.join(out, "rates.csv"))
    assert {r["optimizer"] for r in runs} == {"signum", "relaxed[algebraic]"}
    assert {r["noise"] for r in runs} == {"gaussian:phi=0.5:sigma=0.2"}
    assert {r["varied"] for r in rates} == {"T", "d"}
    for col in ("optimizer", "problem", "noise", "varied", "exponent", "lo", "hi", "claimed", "verdict"):
        assert col in rates[0]
    assert run_sweep_command(_args("--config", str(cfg), "--out", out, "--no-progress")) == 0
    again = read_csv(os.path.join(out, "runs.csv"))
    assert len(again) == len(runs)
    assert "fitted exponents" in capsys.readouterr().out


def test_bad_config_is_refused_with_exit_2(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[grid]\ndims = [0]\n")
    assert run_sweep_command(_args("--config", str(cfg), "--out", str(tmp_path / "o"))) == 2
    assert "grid.dims" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown top-level"):
        parse_config({"gird": {}})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"grid": {"dim": [3]}})
    with pytest.raises(ConfigError, match="not valid TOML"):
        (tmp_path / "x.toml").write_text("[grid\n")
        load_config(str(tmp_path / "x.toml"))


def test_regularizer_expression_is_parsed_as_data():
    cfg = parse_config({"optimizers": [{"name": "relaxed", "regularizer_expr": "x**2/2 + x**4/4",
                                        "regularizer_domain": [-1.0, 1.0]}]})
    V = cfg["optimizers"][0]["regularizer"]
    assert V.mu == pytest.approx(1.0)
    with pytest.raises(GeomrelaxError, match="not allowed"):
        parse_config({"optimizers": [{"name": "relaxed", "regularizer_expr": "__import__('os').system('true')"}]})


def test_dask_executor_gives_the_same_results(tmp_path):
    pytest.importorskip("distributed", reason="the Dask executor needs dask[distributed] (an optional extra)")
    from distributed import Client, LocalCluster

    grid = dict(optimizers=[{"name": "softsignum", "lr": 0.05}, {"name": "sgd", "lr": 0.05}], dims=[10],
                horizons=[20, 40], taus=[1.0, 3.0], seeds=range(2), progress=False)
    here = synthetic.sweep(**grid, out=str(tmp_path / "here"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        there = synthetic.sweep(**grid, out=str(tmp_path / "dask"), executor=client)
    key = lambda r: (r["cell"], r["tau"], r["seed"], r["step"])
    assert sorted(map(key, here.runs)) == sorted(map(key, there.runs))
    a = {key(r): r["min_l1"] for r in here.runs}
    assert all(a[key(r)] == r["min_l1"] for r in there.runs)


def test_interrupt_exit_status_and_lock_refusal(tmp_path, monkeypatch, capsys):
    import sys

    sweep_mod = sys.modules["synthetic.sweep"]

    def interrupted(cell, progress=None):
        raise KeyboardInterrupt

    cfg = tmp_path / "grid.toml"
    cfg.write_text(TOML)
    monkeypatch.setattr(sweep_mod, "run_one", interrupted)
    assert run_sweep_command(_args("--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress")) == 130
    assert "resume" in capsys.readouterr().err
    from synthetic.store import ResultStore

    with ResultStore(str(tmp_path / "o")):
        assert run_sweep_command(_args("--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress")) == 2
    assert "another sweep" in capsys.readouterr().err
