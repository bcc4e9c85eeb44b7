"""The report page as a person sees it: files, links, a real headless browser, failures shown in place.

The browser is Debian's chromium, driven through the DevTools protocol over a pipe
(--remote-debugging-pipe: fd 3 in, fd 4 out, NUL-separated JSON), so no Python package is needed.
Without chromium the browser test installs it (apt-get, as root, when CI or GEOMRELAX_INSTALL_BROWSER is
set) or skips, saying why.
"""

import argparse
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from geomrelax.app import report as report_mod
from geomrelax.app.report import Item, Section, add_report_arguments, run_report, run_report_command

FAST_SECTIONS = ["regularizers", "spectral_maps", "verify"]


@pytest.fixture(scope="module")
def frozen_code():
    """Source fingerprints computed once for the module: the tests rerun a report "with the code unchanged",
    even while files of the working tree change under them (a changed source rightly invalidates results)."""
    import functools

    from geomrelax.app import claims, experiments, measurements

    frozen = functools.lru_cache(maxsize=None)(report_mod.package_fingerprint)
    mp = pytest.MonkeyPatch()
    for module in (claims, experiments, measurements):
        mp.setattr(module, "package_fingerprint", frozen)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def page(tmp_path_factory, frozen_code):
    out = tmp_path_factory.mktemp("report")
    summary = run_report(out, quick=True, sections=FAST_SECTIONS)
    return out, summary


# -- files and links ------------------------------------------------------------------------------
class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.imgs, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a["src"])
        for k in ("href", "src"):
            if k in a:
                self.refs.append(a[k])


def parse(html_text):
    p = Links()
    p.feed(html_text)
    return p


def test_page_links_every_figure_and_every_link_resolves(page):
    out, summary = page
    assert summary.passed, summary.format()
    html_text = (out / "index.html").read_text()
    md = (out / "index.md").read_text()
    links = parse(html_text)
    figures = [f for s in summary.sections for f in s.figures]
    assert {f.name for f in figures} == {"soft_maps", "spectral_map_errors"}
    for f in figures:
        assert f"figures/{f.name}.png" in links.imgs
        assert f"](figures/{f.name}.png)" in md and f"(figures/{f.name}.csv)" in md
        assert f"fig-{f.name.replace('_', '-')}" in links.ids
    for ref in links.refs:
        if ref.startswith("#"):
            assert ref[1:] in links.ids, f"dangling anchor {ref}"
        else:
            assert not re.match(r"^[a-z]+:", ref) and not ref.startswith("/"), f"not a relative link: {ref}"
            assert (out / ref).is_file(), f"link to a missing file: {ref}"
    for s in FAST_SECTIONS:
        assert f'id="{s.replace("_", "-")}"' in html_text
    assert "Identity checks per regularizer" in md and "| spectral(entropic) |" in md


def test_figure_data_beside_each_figure(page):
    out, _ = page
    import csv

    with open(out / "figures" / "soft_maps.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    import geomrelax as gr

    assert {r["regularizer"] for r in rows} == set(gr.BUILTIN_NAMES)
    # quick level: 3 temperatures per regularizer, a sign limit for the 5 bounded domains, an identity limit
    # for the 5 with finite v''(0)
    curves = {(r["regularizer"], r["curve"]) for r in rows}
    assert len(curves) == 3 * 6 + 5 + 5
    from tests.test_figures import assert_drawn  # noqa: E402 - the same content check as the figure tests
    from figures.style import FigureFiles

    for name, n in (("soft_maps", 3), ("spectral_map_errors", 3)):
        base = out / "figures" / name
        assert_drawn(FigureFiles(base.with_suffix(".png"), base.with_suffix(".pdf"), base.with_suffix(".csv"), n), n)


def test_rerun_reads_everything_back(page):
    out, first = page
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")}
    again = run_report(out, quick=True, sections=FAST_SECTIONS)
    assert all(o.cached for o in again.outcomes) and len(again.outcomes) == len(first.outcomes)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")} == stamps


def test_wrong_shape_cache_file_is_recomputed(tmp_path):
    first = run_report(tmp_path, quick=True, sections=["regularizers"])
    rec = Path(first.outcomes[0].path)
    rec.write_text(json.dumps({"section": "regularizers", "key": "x", "result": [1, 2]}))
    again = run_report(tmp_path, quick=True, sections=["regularizers"])
    assert again.passed and not again.outcomes[0].cached
    # a record whose files vanished is not usable either
    (rec.with_suffix("") / "maps.csv").unlink()
    third = run_report(tmp_path, quick=True, sections=["regularizers"])
    assert third.passed and not third.outcomes[0].cached and (rec.with_suffix("") / "maps.csv").is_file()


@pytest.fixture
def broken_sections(monkeypatch):
    def missing(opts):
        raise ModuleNotFoundError("No module named 'synthetic'")

    def item_fails(opts):
        def run():
            raise ValueError("the <b>measurement</b> diverged")
        return [Item("broken_item", "diverges", {"n": 1}, run)]

    def draw_fails(records, p):
        p.figure("nothing", "A figure whose data is bad", "", lambda out: (_ for _ in ()).throw(OSError("disk full")))

    report_mod._sections()  # the built-ins first
    monkeypatch.setattr(report_mod, "SECTIONS", [*report_mod.SECTIONS,
                                                 Section("needs_synthetic", "Needs synthetic", missing),
                                                 Section("broken_item", "An item fails", item_fails),
                                                 Section("broken_figure", "A figure fails",
                                                         lambda o: [Item("broken_figure", "ok", {}, lambda: {
                                                             "passed": True, "summary": "fine"})], present=draw_fails)])


def test_failures_are_shown_in_place_and_the_rest_still_appears(tmp_path, broken_sections):
    summary = run_report(tmp_path, quick=True,
                         sections=["needs_synthetic", "broken_item", "broken_figure", "regularizers"])
    assert not summary.passed
    html_text = (tmp_path / "index.html").read_text()
    md = (tmp_path / "index.md").read_text()
    assert "section failed: ModuleNotFoundError: No module named &#x27;synthetic&#x27;" in html_text
    assert "section failed:** `ModuleNotFoundError: No module named 'synthetic'" in md
    # the error text is shown as text, never as markup
    assert "the &lt;b&gt;measurement&lt;/b&gt; diverged" in html_text and "<b>measurement" not in html_text
    assert "figure failed: OSError: disk full" in html_text
    assert 'src="figures/soft_maps.png"' in html_text  # the healthy section is all there
    # the failed item was not stored: it runs again next time
    assert not list((tmp_path / "broken_item").glob("*.json")) if (tmp_path / "broken_item").exists() else True
    status = {s["name"]: s["status"] for s in json.loads((tmp_path / "summary.json").read_text())["sections"]}
    assert status == {"needs_synthetic": "failed", "broken_item": "partial", "broken_figure": "partial",
                      "regularizers": "ok"}


def parse_report_args(*argv):
    p = argparse.ArgumentParser()
    add_report_arguments(p)
    return p.parse_args(argv)


def test_report_command(tmp_path, capsys, broken_sections):
    args = parse_report_args("--out", str(tmp_path), "--quick", "--section", "regularizers", "--no-progress")
    assert run_report_command(args) == 0
    out = capsys.readouterr().out
    assert "1 items, 0 failed, 0 read" in out and "index.html" in out
    args = parse_report_args("--out", str(tmp_path), "--quick", "--section", "broken_item", "--no-progress")
    assert run_report_command(args) == 1
    with pytest.raises(SystemExit):
        parse_report_args("--quick", "--full")
    with pytest.raises(SystemExit):
        parse_report_args("--n-points", "0")
    from geomrelax.errors import GeomrelaxError

    with pytest.raises(GeomrelaxError, match="unknown report section 'nope'"):
        run_report(tmp_path, sections=["nope"])


# -- the browser ----------------------------------------------------------------------------------
def chromium_or_skip() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    allowed = os.environ.get("CI") or os.environ.get("GEOMRELAX_INSTALL_BROWSER")
    if not (allowed and os.geteuid() == 0 and shutil.which("apt-get")):
        pytest.skip("chromium is not installed (apt-get install -y chromium); set GEOMRELAX_INSTALL_BROWSER=1 "
                    "to let the test install it when running as root with apt")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # bounded so that a slow mirror costs the run minutes, not the CI budget; a timeout is a skip with the reason
    try:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=240)
        r = subprocess.run(["apt-get", "install", "-y", "chromium"], env=env,
                           capture_output=True, text=True, timeout=420)
    except subprocess.TimeoutExpired as exc:
        pytest.skip(f"installing chromium did not finish: {exc}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"apt-get install chromium failed: {r.stderr.strip()[-300:]}")
    return found


class DevTools:
    """A minimal DevTools-protocol client over --remote-debugging-pipe."""

    def __init__(self, chromium: str, profile: Path):
        to_child, self._w = os.pipe()
        self._r, from_child = os.pipe()
        # lift our ends above 4 so that the child's dup2 onto 3 and 4 cannot clobber them
        hi = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_child, from_child)]
        os.close(to_child)
        os.close(from_child)

        def child_fds():
            os.dup2(hi[0], 3)
            os.dup2(hi[1], 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4) if all(_open(fd) for fd in (3, 4)) else (), preexec_fn=child_fds)
        for fd in hi:
            os.close(fd)
        self._buf, self._id, self.events = b"", 0, []

    def send(self, method, params=None, session=None, timeout=60.0):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self.read(timeout)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]

    def read(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        m = json.loads(raw)
        if "method" in m:
            self.events.append(m)
        return m

    def wait_event(self, name, timeout=60.0):
        for e in self.events:
            if e["method"] == name:
                return e
        while True:
            m = self.read(timeout)
            if m.get("method") == name:
                return m

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - it may already be gone; it is killed below anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


def _open(fd) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def load_in_browser(chromium, index: Path, profile: Path) -> dict:
    """Open index in a headless chromium; return its images and every console error, exception or log error."""
    dt = DevTools(chromium, profile)
    try:
        target = dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = dt.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            dt.send(f"{domain}.enable", session=session)
        dt.send("Page.navigate", {"url": index.resolve().as_uri()}, session=session)
        dt.wait_event("Page.loadEventFired")
        js = ("JSON.stringify(Array.from(document.images).map(i => ({src: i.getAttribute('src'), "
              "complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})))")
        res = dt.send("Runtime.evaluate", {"expression": js, "returnByValue": True}, session=session)
        images = json.loads(res["result"]["value"])
        title = dt.send("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                        session=session)["result"]["value"]
    finally:
        dt.close()
    errors = []
    for e in dt.events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(("console", [a.get("value") for a in p.get("args", [])]))
        elif e["method"] == "Runtime.exceptionThrown":
            errors.append(("exception", p.get("exceptionDetails", {}).get("text")))
        elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append(("log", p["entry"].get("text"), p["entry"].get("url")))
    return {"images": images, "errors": errors, "title": title}


def test_page_in_a_real_browser(page, tmp_path):
    chromium = chromium_or_skip()
    out, summary = page
    seen = load_in_browser(chromium, out / "index.html", tmp_path / "profile")
    assert seen["title"].startswith("geomrelax report")
    n_figures = sum(1 for s in summary.sections for f in s.figures if not f.error)
    assert len(seen["images"]) == n_figures >= 2
    for img in seen["images"]:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
    assert seen["errors"] == []


def test_browser_check_sees_a_broken_image(tmp_path):
    """The browser check can fail: a page whose image is missing is caught (naturalWidth 0, a log error)."""
    chromium = chromium_or_skip()
    (tmp_path / "index.html").write_text('<!DOCTYPE html><html><head><title>t</title></head><body>'
                                         '<img src="figures/missing.png" alt="x"></body></html>')
    seen = load_in_browser(chromium, tmp_path / "index.html", tmp_path / "profile")
    assert seen["images"] == [{"src": "figures/missing.png", "complete": True, "w": 0, "h": 0}]
    assert any(e[0] == "log" for e in seen["errors"])


def test_an_interrupted_report_resumes(tmp_path, monkeypatch):
    calls = []

    def items(opts):
        def make(i):
            def run():
                calls.append(i)
                if i == 2 and calls.count(2) == 1:
                    raise KeyboardInterrupt  # the user presses Ctrl-C during the third item
                return {"passed": True, "summary": f"item {i}"}
            return run
        return [Item("steps", f"step{i}", {"i": i}, make(i)) for i in range(4)]

    report_mod._sections()
    monkeypatch.setattr(report_mod, "SECTIONS", [*report_mod.SECTIONS, Section("steps", "Steps", items)])
    with pytest.raises(KeyboardInterrupt):
        run_report(tmp_path, sections=["steps"])
    assert calls == [0, 1, 2] and (tmp_path / "index.html").is_file()  # the page of what was done is written
    again = run_report(tmp_path, sections=["steps"])
    assert calls == [0, 1, 2, 2, 3]
    assert [o.cached for o in again.outcomes] == [True, True, False, False] and again.passed
