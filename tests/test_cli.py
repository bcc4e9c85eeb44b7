"""The command line: geomrelax verify | report | list."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import geomrelax as gr
from geomrelax import regularizers
from geomrelax.app.cli import main

QUICK = ["--no-crosscheck", "--no-search", "--n-points", "8"]
ROOT = Path(__file__).resolve().parents[1]


ENTROPIC = gr.regularizer("entropic")


def wrong_entropic():
    return dataclasses.replace(ENTROPIC, grad_conj_fn=lambda s: np.tanh(1.02 * s))


def test_list_shows_every_builtin(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    rows = out.strip().splitlines()[1:]
    assert [r.split()[0] for r in rows] == list(gr.BUILTIN_NAMES)
    entropic = next(r for r in rows if r.startswith("entropic"))
    assert "log(1 + x)" in entropic and "[-1, 1]" in entropic
    box = next(r for r in rows if r.startswith("box "))
    assert box.split()[1] == "0"  # mu of the box indicator


def test_verify_prints_one_line_per_check_and_writes_json(capsys, tmp_path):
    path = tmp_path / "rep.json"
    assert main(["verify", "entropic", *QUICK, "--json", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(path.read_text())
    names = [r["name"] for r in data["results"]]
    assert len(out) == len(names) + 2  # header, one line per check, verdict
    for name, line in zip(names, out[1:-1]):
        assert line.split()[0] == name and line.split()[1] in ("pass", "skipped")
    assert data["passed"] is True and data["config"]["n_points"] == 8


def test_verify_spectral_flag(capsys):
    assert main(["verify", "algebraic", "--spectral", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "spectral(algebraic)" in out and "lewis_smoothed_polar" in out


def test_verify_exits_1_when_a_check_fails(capsys, monkeypatch):
    monkeypatch.setitem(regularizers._BUILTINS, "entropic", wrong_entropic)
    assert main(["verify", "entropic", *QUICK]) == 1
    out = capsys.readouterr().out
    assert ["inverse_conj_of_grad", "fail"] in [line.split()[:2] for line in out.splitlines()]
    assert out.strip().splitlines()[-1].startswith("FAILED")


@pytest.mark.parametrize("argv, message", [
    (["verify", "entropic", "--domain", "-1", "1"], "only applies to an expression"),
    (["verify", "box", "--n-points", "2"], "n_points must be an integer >= 8, got 2"),
    (["verify", "box", "--domain", "-1", "one"], "'one' is not a number"),
    (["verify"], "NAME_OR_EXPR"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_domain_accepts_negative_and_infinite_ends(monkeypatch, capsys):
    seen = {}

    def fake_from_expr(text, domain=None, **kw):  # records what the CLI parsed; checks a built-in instead
        seen["domain"] = domain
        return gr.regularizer("box_quadratic")

    monkeypatch.setattr("geomrelax.symbolic.from_expr", fake_from_expr)
    assert main(["verify", "x**2/2", "--domain", "-inf", "-1e-3", *QUICK]) == 0
    assert seen["domain"] == (-np.inf, -1e-3)


def run_report(tmp, *extra):
    # the verify section alone: these tests are about the CLI and the result store, not the other sections
    return main(["report", "--out", str(tmp), "--section", "verify", "--no-progress", *QUICK, *extra])


def test_report_writes_items_and_resumes(tmp_path, capsys):
    assert run_report(tmp_path) == 0
    first = capsys.readouterr().out
    files = sorted((tmp_path / "verify").glob("*.json"))
    assert len(files) == 2 * len(gr.BUILTIN_NAMES)  # every built-in and every spectral lift
    assert "12 items, 0 failed, 0 read" in first
    item = json.loads(files[0].read_text())
    assert item["result"]["passed"] is True and item["config"]["n_points"] == 8
    assert json.loads((tmp_path / "summary.json").read_text())["passed"] is True

    # an interrupted run: one item missing, one half-written; only those two are recomputed
    files[0].unlink()
    files[1].write_text('{"key": "')
    stamp = {f: f.stat().st_mtime_ns for f in files[2:]}
    assert run_report(tmp_path) == 0
    out = capsys.readouterr().out
    assert "12 items, 0 failed, 10 read" in out
    assert all(f.stat().st_mtime_ns == stamp[f] for f in files[2:])

    # a different configuration is a different item (new file), not a stale cache hit
    assert run_report(tmp_path, "--seed", "1") == 0
    assert "0 read" in capsys.readouterr().out
    assert len(list((tmp_path / "verify").glob("*.json"))) == 4 * len(gr.BUILTIN_NAMES)


def test_report_exits_nonzero_on_failure_and_changed_code_is_recomputed(tmp_path, capsys, monkeypatch):
    assert run_report(tmp_path) == 0
    capsys.readouterr()
    # same name, same options, different closed form: the fingerprint changes the key, so it reruns
    monkeypatch.setitem(regularizers._BUILTINS, "entropic", wrong_entropic)
    assert run_report(tmp_path) == 1
    out = capsys.readouterr().out
    table = [line.split() for line in out.splitlines() if line.startswith("verify ")]
    assert len(table) == 12
    assert {row[1] for row in table if row[2] == "FAIL"} == {"entropic", "spectral(entropic)"}
    assert "10 read" in out


def test_report_unknown_section(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--section", "nope"]) == 2
    assert "unknown report section 'nope'" in capsys.readouterr().err


def test_module_entry_point_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "geomrelax", "verify", "box", *QUICK, "--json", "-"],
                        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0].startswith("verify box")
    assert ["fenchel_young_equality", "pass"] in [line.split()[:2] for line in lines]
    assert json.loads(ok.stdout[ok.stdout.index("{"):])["regularizer"] == "box"
    bad = subprocess.run([sys.executable, "-m", "geomrelax", "verify", "no_such_thing"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert bad.returncode == 2 and "no_such_thing" in bad.stderr and "Traceback" not in bad.stderr


def test_verify_expression(capsys):
    pytest.importorskip("geomrelax.symbolic")
    assert main(["verify", "1 - sqrt(1 - x**2)", "--domain", "-1", "1", *QUICK]) == 0
    assert main(["verify", "x**4", "--no-crosscheck"]) == 2
    err = capsys.readouterr().err
    assert "not strongly convex" in err and "Traceback" not in err


def test_allow_weak_accepts_a_convex_but_not_strongly_convex_expression(capsys):
    from geomrelax.app.cli import main

    assert main(["verify", "x**4", "--domain", "-1", "1", "--no-crosscheck", "--no-search"]) == 2
    assert "--allow-weak" in capsys.readouterr().err
    assert main(["verify", "x**4", "--domain", "-1", "1", "--no-crosscheck", "--no-search", "--allow-weak"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "skipped" in out  # mu = 0: the strong-convexity checks do not apply


def test_unknown_name_is_named_as_such(capsys):
    assert main(["verify", "entropik"]) == 2
    err = capsys.readouterr().err
    assert "unknown regularizer 'entropik'" in err and "entropic" in err


# ------------------------------------------------------------------------------------------------
# input handling: every bad input exits 2 with one line, and expressions may start with '-'
# ------------------------------------------------------------------------------------------------
def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"geomrelax {gr.__version__}"


def test_expression_starting_with_minus_is_an_expression(capsys):
    # '-log(1-x**2)' used to be taken for an option (argparse: unrecognized arguments)
    code = main(["verify", "-log(1-x**2)/2", *QUICK])
    out = capsys.readouterr().out
    assert out.startswith("verify -log(1 - x**2)/2")
    assert code in (0, 1)  # the checks ran; their verdict is verify's business, not the parser's


def test_options_still_recognised_beside_a_negative_expression(capsys, tmp_path):
    path = tmp_path / "r.json"
    main(["verify", "-x**3/3 + x**2", "--domain", "-inf", "0.5", "--json", str(path), *QUICK])
    data = json.loads(path.read_text())
    assert data["config"]["n_points"] == 8


@pytest.mark.parametrize("n", ["0", "-3", "10001", "1e9", "many"])
def test_n_points_is_bounded(capsys, n):
    assert main(["verify", "entropic", "--n-points", n]) == 2
    assert "--n-points" in capsys.readouterr().err


@pytest.mark.parametrize("expr", ["x**1e308", "floor(x)", "zoo*x", "Integral(x, x)", "sign(x)",
                                  "__import__('os').getcwd()", "x.__class__", "(lambda: 1)()"])
def test_unusable_expression_exits_2_with_one_line(capsys, expr):
    code = main(["verify", expr, *QUICK])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("geomrelax verify: error:"), err
    assert "Traceback" not in err


def test_route_option_reaches_from_expr(capsys, tmp_path):
    path = tmp_path / "r.json"
    assert main(["verify", "x**2/2 + x**4/4", "--route", "numeric", "--json", str(path), *QUICK]) == 0
    assert main(["verify", "entropic", "--route", "bogus"]) == 2
