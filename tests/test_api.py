"""The public names users and docs rely on, and the README example."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import geomrelax as gr


def test_public_names_are_the_callables():
    for name in ["regularizer", "spectral", "from_expr", "relaxed_lmo", "cvxpy_lmo", "cross_check", "verify",
                 "temperature_schedule"]:
        assert callable(getattr(gr, name)), name
    import geomrelax.optim as optim

    for name in ["SoftSignum", "SoftMuon", "Signum", "Muon", "S3", "Relaxed", "split_params"]:
        assert callable(getattr(optim, name)), name


def test_import_is_light():
    code = "import sys, geomrelax; print(sorted(m for m in ('torch', 'sympy', 'cvxpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_readme_example_runs():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert ns["V"].route == "symbolic" and ns["check"].passed and ns["report"].passed
    np.testing.assert_allclose(ns["d"], -10 * ns["m"] / np.sqrt(1 + 100 * ns["m"] ** 2), rtol=1e-14)


def test_readme_optimizer_example_runs():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"## Optimizers\s+```python\n(.*?)```", text, re.S).group(1)
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert type(ns["muon_opt"]).__name__ == "SoftMuon" and type(ns["adamw_opt"]).__name__ == "AdamW"
    # hidden 64x32 matrix to SoftMuon; the output head and the biases to AdamW
    assert [tuple(p.shape) for g in ns["muon_opt"].param_groups for p in g["params"]] == [(64, 32)]
