"""`geomrelax report --quick` end to end: every section, every figure checked for content, every claim linked,
the page loaded in a real browser, and a second run read back from the store.

Slow (about a minute of CPU; up to two on a loaded machine): run with `pytest -m slow`.
"""

import csv
import json
import time
from html.parser import HTMLParser

import pytest

from figures.style import FigureFiles, OPTIMIZER_COLOURS
from geomrelax.app.report import run_report
from tests.test_figures import assert_drawn, png_colours, rgb
from tests.test_report_page import chromium_or_skip, frozen_code, load_in_browser  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow

ALL_SECTIONS = ["regularizers", "claims", "rates", "tau", "dimension", "noise_density", "schedule", "spectral_maps",
                "verify"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory, frozen_code):
    out = tmp_path_factory.mktemp("quick")
    t0 = time.perf_counter()
    summary = run_report(out, quick=True)
    return out, summary, time.perf_counter() - t0


def rows_of(out, name):
    with open(out / "figures" / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def figure_files(out, name, n):
    base = out / "figures" / name
    return FigureFiles(base.with_suffix(".png"), base.with_suffix(".pdf"), base.with_suffix(".csv"), n)


def test_every_section_and_figure(quick):
    out, summary, seconds = quick
    print(f"quick report: {seconds:.1f} s")
    assert summary.passed, summary.format()
    assert [s.name for s in summary.sections] == ALL_SECTIONS
    assert all(s.status == "ok" for s in summary.sections)
    figures = {f.name for s in summary.sections for f in s.figures}
    assert figures == {"soft_maps", "rate_fits", "tau_convergence", "dimension", "noise_density",
                       "temperature_schedule", "spectral_map_errors"}
    html_text = (out / "index.html").read_text()
    md = (out / "index.md").read_text()
    for name in figures:
        assert f'src="figures/{name}.png"' in html_text and f"](figures/{name}.png)" in md
        assert (out / "figures" / f"{name}.pdf").stat().st_size > 1000


def test_series_in_the_data_beside_each_figure(quick):
    out, summary, _ = quick
    four = {"signum", "softsignum", "sgd", "s3"}
    rates = rows_of(out, "rate_fits")
    assert {r["optimizer"] for r in rates} == four and {float(r["T"]) for r in rates} == {100, 300, 1000}
    assert all(float(r["claimed"]) == -0.25 for r in rates)  # every method's claim is T^(-1/4) here
    tau = rows_of(out, "tau_convergence")
    soft_taus = {float(r["tau"]) for r in tau if r["optimizer"] == "softsignum"}
    assert len(soft_taus) == 5 and {r["optimizer"] for r in tau} == {"signum", "softsignum", "sgd"}
    dim = rows_of(out, "dimension")
    assert {r["optimizer"] for r in dim} == four and {float(r["d"]) for r in dim} == {10, 100, 1000}
    assert len(rows_of(out, "noise_density")) == 3
    sched = rows_of(out, "temperature_schedule")
    assert len(sched) == 100
    taus = [float(r["tau"]) for r in sched]
    assert all(a >= b for a, b in zip(taus, taus[1:]))  # the schedule is non-increasing
    spec = rows_of(out, "spectral_map_errors")
    assert {r["method"] for r in spec if r["panel"] == "spectrum"} == {"exact SVD (float32)", "official (bf16)",
                                                                      "minimax (float32)"}
    # content: the optimizers' own colours are in the pictures that draw them
    for name in ("rate_fits", "dimension"):
        cols = png_colours(out / "figures" / f"{name}.png")
        assert all(rgb(OPTIMIZER_COLOURS[o]) in cols for o in four), name
    for name, n in (("soft_maps", 3), ("noise_density", 2), ("temperature_schedule", 3), ("spectral_map_errors", 3)):
        assert_drawn(figure_files(out, name, n), n)


class Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])


def test_every_claim_is_listed_anchored_and_linked(quick):
    import proofs_check

    out, summary, _ = quick
    ids = [c.id for c in proofs_check.all_claims()]
    claims = next(s for s in summary.sections if s.name == "claims")
    assert [it.name for it in claims.items] == ids
    table = next(t for t in claims.tables if t.title == "Every claim and its verdict")
    assert len(table.row_ids) == len(set(table.row_ids)) == len(ids)
    p = Anchors()
    p.feed((out / "index.html").read_text())
    assert set(table.row_ids) <= p.ids
    assert {h[1:] for h in p.hrefs if h.startswith("#claim-")} == set(table.row_ids)
    md = (out / "index.md").read_text()
    assert all(f"(#{a})" in md for a in table.row_ids)
    with open(out / "figures" / "claims.csv", newline="") as fh:
        assert [r["id"] for r in csv.DictReader(fh)] == ids
    assert "figures/claims.html" in p.hrefs


def test_quick_page_in_a_real_browser(quick, tmp_path):
    chromium = chromium_or_skip()
    out, summary, _ = quick
    seen = load_in_browser(chromium, out / "index.html", tmp_path / "profile")
    assert len(seen["images"]) == 7
    assert all(img["complete"] and img["w"] > 0 for img in seen["images"]), seen["images"]
    assert seen["errors"] == []


def test_second_run_reads_everything_back(quick):
    out, first, _ = quick
    again = run_report(out, quick=True)
    assert all(o.cached for o in again.outcomes) and len(again.outcomes) == len(first.outcomes)
    assert json.loads((out / "summary.json").read_text())["passed"] is True
