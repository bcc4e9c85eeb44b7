"""figures: each figure function draws tidy data into PNG + PDF + CSV, and redraws from its own CSV."""

import argparse
import csv
import math

import numpy as np
import pytest

import geomrelax as gr
from figures import FIGURES, FigureDataError, figure_function
from figures.cli import add_plot_arguments, run_plot_command
from figures.maps import IDENTITY_LIMIT, SIGN_LIMIT, soft_maps
from figures.schedule import temperature_schedule as schedule_figure
from figures.spectral import spectral_map_errors
from figures.style import OKABE_ITO


def png_colours(path) -> set:
    import matplotlib.image as mpimg

    a = mpimg.imread(str(path))[..., :3]
    return {tuple(c) for c in np.round(a * 255).astype(int).reshape(-1, 3)}


def rgb(hex_colour: str) -> tuple:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def read_csv(path) -> list:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def assert_drawn(files, n_colours: int):
    """The PNG is a real picture holding the first n palette colours (a line's core pixels are exactly its
    colour: lines are >= 1.1 pt = 2.3 px wide at 150 dpi), the PDF is a PDF, the CSV has rows."""
    cols = png_colours(files.png)
    assert len(cols) > 20  # antialiased text and lines: a blank or single-colour image has a handful
    for c in OKABE_ITO[:n_colours]:
        assert rgb(c) in cols, f"palette colour {c} missing from {files.png}"
    assert files.pdf.read_bytes()[:5] == b"%PDF-"
    assert len(read_csv(files.csv)) > 0


def map_rows():
    rows = []
    s = np.linspace(-2, 2, 41)
    for name in ("entropic", "box_quadratic"):
        V = gr.regularizer(name)
        for tau in (0.5, 5.0):
            d = V.grad_conj((tau * s)[:, None])[:, 0]
            rows += [{"regularizer": name, "curve": f"tau={tau:g}", "tau": tau, "s": a, "d": b} for a, b in zip(s, d)]
        rows += [{"regularizer": name, "curve": SIGN_LIMIT, "tau": math.inf, "s": a, "d": float(np.sign(a))} for a in s]
        rows += [{"regularizer": name, "curve": IDENTITY_LIMIT, "tau": 0.5, "s": a, "d": 0.5 * a} for a in s]
    return rows


def test_soft_maps_draws_and_redraws_from_its_csv(tmp_path):
    files = soft_maps(map_rows(), tmp_path / "maps")
    assert files.png == tmp_path / "maps.png" and files.n_series == 4  # 2 taus + 2 limits
    assert_drawn(files, 2)
    rows = read_csv(files.csv)
    assert {r["regularizer"] for r in rows} == {"entropic", "box_quadratic"} and len(rows) == 8 * 41
    again = soft_maps(files.csv, tmp_path / "again.png")
    assert read_csv(again.csv) == rows  # the CSV beside a figure is enough to redraw it, unchanged
    assert float(rows[0]["tau"]) == 0.5 and any(r["tau"] == "inf" for r in rows)


def test_schedule_figure(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.standard_cauchy(2000) * 1e-3
    K = 50
    sched = gr.temperature_schedule(z, K, tmax=None)
    from geomrelax.schedule import saturated_fraction

    sat = saturated_fraction(z, sched.taus)
    rows = [{"j": j, "tau": sched.taus[j], "tau_official": min(sched.taus[j], 20.0), "saturated_at_fit": sat[j],
             "saturated_live": sat[j], "cauchy_model": 1 - j / K} for j in range(K)]
    files = schedule_figure(rows, tmp_path / "sched.png")
    assert_drawn(files, 3)
    assert [float(r["j"]) for r in read_csv(files.csv)] == list(range(K))


def test_spectral_figure_with_nan_and_a_method_without_steps(tmp_path):
    rows = [{"panel": "spectrum", "method": m, "tau": 100.0, "x": x, "error": e * x}
            for m, e in (("minimax", 1e-4), ("official", 0.5)) for x in np.logspace(-3, 0, 20)]
    rows += [{"panel": "steps", "method": "official", "tau": 100.0, "x": k, "error": 1 / k if k < 5 else math.nan}
             for k in (1, 2, 5, 10)]
    rows += [{"panel": "steps", "method": "exact", "tau": 100.0, "x": math.nan, "error": 1e-6}]
    files = spectral_map_errors(rows, tmp_path / "spec")
    assert files.n_series == 4
    assert_drawn(files, 3)


@pytest.mark.parametrize("rows, message", [
    ([{"panel": "spectrum", "method": "m", "tau": 1.0, "x": 1.0}], "missing column"),
    ([{"panel": "spectrum", "method": "m", "tau": 1.0, "x": "one", "error": 1.0}], "not a number"),
    ([], "no rows"),
])
def test_bad_data_is_refused_with_its_reason(tmp_path, rows, message):
    with pytest.raises(FigureDataError, match=message):
        spectral_map_errors(rows, tmp_path / "x")


def test_missing_file(tmp_path):
    with pytest.raises(FigureDataError, match="cannot read figure data"):
        soft_maps(tmp_path / "nope.csv", tmp_path / "x")


def test_registry_names_real_functions():
    for name in FIGURES:
        assert callable(figure_function(name))
    with pytest.raises(FigureDataError, match="unknown figure 'nope'"):
        figure_function("nope")


def plot_args(*argv):
    p = argparse.ArgumentParser()
    add_plot_arguments(p)
    return p.parse_args(argv)


def test_plot_command_redraws_from_a_report_folder(tmp_path, capsys):
    files = soft_maps(map_rows(), tmp_path / "report" / "figures" / "soft_maps")
    assert run_plot_command(plot_args("soft_maps", "--out", str(tmp_path / "mine.png"),
                                      "--results", str(tmp_path / "report"))) == 0
    assert (tmp_path / "mine.pdf").is_file() and read_csv(tmp_path / "mine.csv") == read_csv(files.csv)
    assert "4 series" in capsys.readouterr().out
    assert run_plot_command(plot_args("soft_maps", "--out", str(tmp_path / "m2"), "--data", str(files.csv))) == 0
    with pytest.raises(FigureDataError, match="run `geomrelax report --out"):
        run_plot_command(plot_args("soft_maps", "--out", str(tmp_path / "x"), "--results", str(tmp_path / "none")))
    with pytest.raises(SystemExit):
        plot_args("nope", "--out", "x")


def test_import_geomrelax_does_not_load_matplotlib():
    import subprocess
    import sys

    code = "import sys, geomrelax, geomrelax.store, figures; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def power_rows(xname, optimizers, xs, slope, seeds=3, **extra):
    """value = x^slope(optimizer) times a seed factor within +-5%: the data a sweep would give on an exact power law."""
    rng = np.random.default_rng(1)
    return [{"optimizer": o, xname: float(x), "seed": s, "value": float(x) ** slope[o] * rng.uniform(0.95, 1.05),
             "measure": "min_l1", **extra.get(o, {})} for o in optimizers for x in xs for s in range(seeds)]


def test_rate_fits_and_dimension(tmp_path):
    from figures.convergence import dimension_scaling
    from figures.rates import rate_fits
    from figures.style import OPTIMIZER_COLOURS

    slope = {"signum": -0.5, "sgd": -0.25, "s3": -0.75}
    fits = {o: {"exponent": slope[o], "lo": slope[o] - 0.05, "hi": slope[o] + 0.05, "claimed": -0.25,
                "verdict": "consistent" if o == "sgd" else "faster"} for o in slope}
    files = rate_fits(power_rows("T", list(slope), [100, 1000, 10000], slope, **fits), tmp_path / "rates")
    assert files.n_series == 3
    cols = png_colours(files.png)
    assert all(rgb(OPTIMIZER_COLOURS[o]) in cols for o in slope)
    assert {r["optimizer"] for r in read_csv(files.csv)} == set(slope)

    dslope = {"signum": 1.0, "softsignum": 0.5}
    dfits = {o: {"exponent": v, "lo": v - 0.1, "hi": v + 0.1, "claimed": math.nan if o == "softsignum" else 1.0}
             for o, v in dslope.items()}
    files = dimension_scaling(power_rows("d", list(dslope), [10, 100, 1000], dslope, **dfits), tmp_path / "dim")
    assert files.n_series == 2
    assert all(rgb(OPTIMIZER_COLOURS[o]) in png_colours(files.png) for o in dslope)


def test_tau_convergence(tmp_path):
    from figures.convergence import tau_convergence

    rows = []
    for o, taus in (("softsignum", [0.1, 1.0, 10.0]), ("signum", [math.inf]), ("sgd", [0.0])):
        for tau in taus:
            for seed in range(2):
                rows += [{"optimizer": o, "tau": tau, "seed": seed, "step": t, "value": 10.0 / (1 + t) ** 0.3,
                          "measure": "min_l1"} for t in (0, 10, 100, 1000)]
    files = tau_convergence(rows, tmp_path / "tau")
    assert files.n_series == 5  # three temperatures and the two limits
    assert len(read_csv(files.csv)) == len(rows)
    assert len(png_colours(files.png)) > 20


def test_noise_density_gain(tmp_path):
    from figures.rates import noise_density_gain

    rows = [{"phi": p, "d": 100, "T": 300, "gain_min": p ** -0.2, "gain_avg": p ** -0.1, "gain_pred_bounds": p ** -0.25,
             "gain_pred_noise": p ** -0.25} for p in (0.01, 0.1, 1.0)]
    files = noise_density_gain(rows, tmp_path / "gain")
    assert_drawn(files, 2)


def test_claims_table_escapes_and_redraws(tmp_path):
    from figures.claims import claims_table

    rows = [{"id": "a/holds", "status": "holds", "expected": "holds", "source": "paper", "description": "x <= 1",
             "theoretical": "1", "measured": "0.5", "worst_margin": "-0.5", "counterexample": "", "note": ""},
            {"id": "b/<script>", "status": "violated", "expected": "holds", "source": "reconstruction",
             "description": "<b>bold</b> claim", "theoretical": "", "measured": "", "worst_margin": "0.1",
             "counterexample": "[1, 2]", "note": "confirmed at 60 digits"}]
    files = claims_table(rows, tmp_path / "claims")
    assert files.png is None and files.n_series == 2
    page = files.html.read_text()
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<script>" not in page and "1 holds, 1 violated" in page
    assert read_csv(claims_table(files.csv, tmp_path / "again").csv) == read_csv(files.csv)


def test_readme_figures_are_redrawn_from_a_report_folder(tmp_path, capsys):
    from figures.readme import README_FIGURES, main

    results = tmp_path / "results"
    soft_maps(map_rows(), results / "figures" / "soft_maps")
    assert main([str(results), "--docs", str(tmp_path / "docs")]) == 2  # tau_convergence is missing: said so
    assert "tau_convergence.csv does not exist" in capsys.readouterr().err
    from figures.convergence import tau_convergence

    rows = [{"optimizer": o, "tau": t, "seed": 0, "step": s, "value": 1.0 / (1 + s), "measure": "min_l1"}
            for o, t in (("softsignum", 1.0), ("signum", math.inf), ("sgd", 0.0)) for s in (0, 10, 100)]
    tau_convergence(rows, results / "figures" / "tau_convergence")
    assert main([str(results), "--docs", str(tmp_path / "docs")]) == 0
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == sorted(f"{n}.png" for n in README_FIGURES)
