"""The project report: sections of checks and experiments, computed once, kept on disk, shown as a page.

``run_report(out)`` walks the registered sections (``SECTIONS``, filled by :mod:`geomrelax.app.sections`).
A section lists items; an item is one unit of work with a JSON-able configuration, and its result goes
to the result store (:class:`geomrelax.store.ResultStore`)

    out/<section>/<item>-<hash of the configuration>.json      (+ a folder of the same name for its files)

as soon as it is computed, so an interrupted run resumes: an item whose record is there with the same
configuration is read back, not recomputed. After its items, a section presents them: it draws its
figures (out/figures/<name>.png/.pdf/.csv) and builds its tables. Finally the page is written as
out/index.html (open it in a browser, no server needed) and its Markdown twin out/index.md, with
out/summary.json for programs.

Failures stay local: an item that raises is shown as failed with its error (and recomputed next time),
a section whose items cannot even be listed (a package missing) is shown as "section failed: ...",
a figure that cannot be drawn is shown as "figure failed: ...", and every other section still appears.

Levels: ``quick`` (small grids, for the tests: about a minute), ``default`` (a few minutes) and
``full`` (paper-grade grids and seeds). An item's configuration holds the concrete grid, not the level
name, so levels share whatever items they have in common.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import GeomrelaxError
from ..regularizers import BUILTIN_NAMES, Regularizer, SeparableRegularizer, regularizer
from ..spectral import Spectral
from ..store import Record, ResultStore, atomic_write_text, jsonable
from ..validate import check_int
from .render import FigureView, ItemView, Page, SectionView, TableView, render_html, render_markdown

LEVELS = ("quick", "default", "full")
N_POINTS_MAX = 10_000


@dataclass(frozen=True)
class ReportOptions:
    """Options shared by every section. None means "the level's value"."""

    level: str = "default"
    seed: int = 0
    n_points: Optional[int] = None
    crosscheck: Optional[bool] = None
    search: Optional[bool] = None
    progress: bool = False  # long items may show their own progress bar (never part of a configuration)

    def __post_init__(self):
        if self.level not in LEVELS:
            raise GeomrelaxError(f"unknown report level {self.level!r}; levels are {', '.join(LEVELS)}")
        check_int("seed", self.seed, low=0, error=GeomrelaxError)
        if self.n_points is not None:
            check_int("n_points", self.n_points, low=1, high=N_POINTS_MAX, error=GeomrelaxError)

    def pick(self, quick, default, full):
        """The value for this level."""
        return {"quick": quick, "default": default, "full": full}[self.level]


@dataclass(frozen=True)
class Item:
    """One unit of report work. ``run()`` (or ``run(folder)`` when ``with_dir``) returns a JSON-able dict
    with 'passed' (bool) and 'summary' (one line); an item with files lists their names in 'files'."""

    section: str
    name: str
    config: dict
    run: Callable[..., dict]
    with_dir: bool = False


@dataclass(frozen=True)
class Section:
    """A part of the report. ``items(opts)`` lists its work; ``present(records, presenter)`` (optional)
    draws its figures and tables from the records of the items that succeeded."""

    name: str
    title: str
    items: Callable[[ReportOptions], list]
    blurb: str = ""
    present: Optional[Callable[[list, "Presenter"], None]] = None


@dataclass
class ItemOutcome:
    section: str
    name: str
    key: str
    path: str
    passed: bool
    summary: str
    seconds: float
    cached: bool
    error: Optional[str] = None


def package_fingerprint(name: str, exclude=()) -> str:
    """A hash of the Python source of package ``name`` (less the subpackages named in ``exclude``): results
    computed by other code are not reused.

    Raises ModuleNotFoundError when the package is not installed (a section then fails with that error).
    """
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"No module named {name!r}")
    root = Path(spec.origin).parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        if f.relative_to(root).parts[0] in exclude:
            continue
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _error_text(exc: BaseException) -> str:
    """One line naming the exception and where it came from (the innermost frame of the project)."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)), "")
    return f"{type(exc).__name__}: {exc}" + (f" (at {where})" if where else "")


class Presenter:
    """What a section's ``present`` draws into: figures under out/figures, tables, and the section's view."""

    def __init__(self, view: SectionView, out: Path, opts: ReportOptions, store: ResultStore):
        self.view = view
        self.out = out
        self.fig_dir = out / "figures"
        self.opts = opts
        self.store = store

    def figure(self, name: str, title: str, caption: str, draw: Callable[[Path], object]) -> None:
        """Draw a figure by ``draw(out/figures/<name>)`` (a figures.* function returning FigureFiles);
        a failure becomes a figure shown as failed, with its error."""
        try:
            files = draw(self.fig_dir / name)
        except Exception as exc:  # noqa: BLE001 - one figure failing must not take the page down
            self.view.figures.append(FigureView(name, title, caption, error=_error_text(exc)))
            return
        rel = {k: Path(getattr(files, k)).relative_to(self.out).as_posix() for k in ("png", "pdf", "csv")}
        self.view.figures.append(FigureView(name, title, caption, **rel))

    def table(self, table: TableView) -> None:
        self.view.tables.append(table)


@dataclass
class ReportSummary:
    out: str
    outcomes: list = field(default_factory=list)
    sections: list = field(default_factory=list)  # SectionView
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes) and all(s.status == "ok" for s in self.sections)

    def to_dict(self) -> dict:
        return {"out": self.out, "passed": self.passed, "seconds": self.seconds,
                "index": {"html": "index.html", "markdown": "index.md"},
                "sections": [{"name": s.name, "title": s.title, "status": s.status, "error": s.error,
                              "figures": [f.__dict__ for f in s.figures]} for s in self.sections],
                "items": [o.__dict__ for o in self.outcomes]}

    def format(self) -> str:
        w = max([len(o.name) for o in self.outcomes] + [4])
        sw = max([len(o.section) for o in self.outcomes] + [7])
        lines = [f"{'section':<{sw}} {'item':<{w}} {'status':<6} {'time':>7}  summary"]
        for o in self.outcomes:
            status = "pass" if o.passed else "FAIL"
            t = "cached" if o.cached else f"{o.seconds:6.1f}s"
            lines.append(f"{o.section:<{sw}} {o.name:<{w}} {status:<6} {t:>7}  {o.error or o.summary}")
        for s in self.sections:
            if s.error is not None:
                lines.append(f"section {s.name} failed: {s.error}")
            lines += [f"figure {f.name} failed: {f.error}" for f in s.figures if f.error]
        n_fail = sum(not o.passed for o in self.outcomes)
        n_cached = sum(o.cached for o in self.outcomes)
        n_figs = sum(1 for s in self.sections for f in s.figures if not f.error)
        lines.append(f"{len(self.outcomes)} items, {n_fail} failed, {n_cached} read from {self.out} "
                     f"({self.seconds:.1f} s)")
        if self.sections:
            lines.append(f"{n_figs} figures; open {Path(self.out) / 'index.html'}")
        return "\n".join(lines)


SECTIONS: list = []


def register_section(section: Section) -> None:
    """Add a section to the report (later sections run after the earlier ones)."""
    if any(s.name == section.name for s in SECTIONS):
        raise GeomrelaxError(f"a report section named {section.name!r} already exists")
    SECTIONS.append(section)


def _sections() -> dict:
    from . import sections  # noqa: F401 - registers the built-in sections on first use

    return {s.name: s for s in SECTIONS}


# ------------------------------------------------------------------------------------------------
# the runner
# ------------------------------------------------------------------------------------------------
def _files_present(record_dir: Path) -> Callable[[dict], bool]:
    """A cached result that names files is usable only if they are all there."""
    def check(result: dict) -> bool:
        if not isinstance(result.get("passed"), bool):
            return False
        files = result.get("files", [])
        return isinstance(files, list) and all((record_dir / str(f)).is_file() for f in files)
    return check


class _Progress:
    """A tqdm bar on stderr over all items (when ``bar``), and/or one line per item to ``line``."""

    def __init__(self, total: int, bar: bool, line: Optional[Callable[[str], None]]):
        self.line = line
        self.bar = None
        if bar:
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm missing: fall back to lines on stderr
                self.line = self.line or (lambda s: print(s, file=sys.stderr, flush=True))
            else:
                self.bar = tqdm(total=total, file=sys.stderr, unit="item", dynamic_ncols=True)

    def start(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description(text[:60])

    def done(self, text: str) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if self.line is not None:
            self.line(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_report(out="results", *, sections=None, level: str = "default", quick: bool = False, full: bool = False,
               seed: int = 0, n_points: Optional[int] = None, crosscheck: Optional[bool] = None,
               search: Optional[bool] = None, force: bool = False, progress=None) -> ReportSummary:
    """Run (or read back) every item of the chosen sections, draw the figures, write the page.

    ``sections``: names to run (default all). ``quick``/``full``: shorthands for ``level``.
    ``n_points``, ``crosscheck``, ``search``: the verify section's settings (default: the level's).
    ``force``: recompute items already on disk. ``progress``: a callable (one line per finished item),
    True (a tqdm bar on stderr) or None.
    """
    if quick and full:
        raise GeomrelaxError("choose one of quick and full")
    level = "quick" if quick else "full" if full else level
    opts = ReportOptions(level=level, seed=seed, n_points=n_points, crosscheck=crosscheck, search=search,
                         progress=progress is True)
    known = _sections()
    chosen = list(known) if sections is None else list(dict.fromkeys(sections))
    for name in chosen:
        if name not in known:
            raise GeomrelaxError(f"unknown report section {name!r}; sections are {', '.join(known)}")
    out_dir = Path(out)
    store = ResultStore(out_dir)
    t0 = time.perf_counter()
    summary = ReportSummary(str(out_dir))

    plan = []  # (section, view, items or None)
    for name in chosen:
        sec = known[name]
        view = SectionView(sec.name, sec.title, sec.blurb)
        try:
            items = list(sec.items(opts))
        except Exception as exc:  # noqa: BLE001 - e.g. a package the section needs is not available
            view.error = _error_text(exc)
            items = []
        plan.append((sec, view, items))
    bar = _Progress(sum(len(it) for _, _, it in plan), bar=progress is True,
                    line=progress if callable(progress) else None)
    i, total = 0, sum(len(it) for _, _, it in plan)
    try:
        for sec, view, items in plan:
            records = []
            for item in items:
                i += 1
                bar.start(f"{item.section} {item.name}")
                o, rec = _run_item(store, item, force)
                summary.outcomes.append(o)
                view.items.append(ItemView(o.name, o.passed, o.summary, o.seconds, o.cached,
                                           Path(o.path).relative_to(out_dir).as_posix() if o.path else "",
                                           o.error))
                if rec is not None:
                    records.append(rec)
                bar.done(f"[{i}/{total}] {item.section} {item.name}: {'pass' if o.passed else 'FAIL'}"
                         + (" (cached)" if o.cached else f" ({o.seconds:.1f} s)"))
            if sec.present is not None and view.error is None and records:
                try:
                    sec.present(records, Presenter(view, out_dir, opts, store))
                except Exception as exc:  # noqa: BLE001 - a broken presentation is shown, not fatal
                    view.error = "presenting the results failed: " + _error_text(exc)
            summary.sections.append(view)
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - t0
        _write_page(out_dir, summary, opts)
    return summary


def _run_item(store: ResultStore, item: Item, force: bool):
    path = store.path(item.section, item.name, item.config)
    try:
        rec: Record = store.fetch(item.section, item.name, item.config, item.run, force=force,
                                  check=_files_present(path.with_suffix("")), with_dir=item.with_dir)
    except Exception as exc:  # noqa: BLE001 - one failing item is reported; nothing is stored for it
        return ItemOutcome(item.section, item.name, store.key(item.section, item.name, item.config), "",
                           False, "", 0.0, False, error=_error_text(exc)), None
    res = rec.result
    return ItemOutcome(item.section, item.name, rec.key, str(rec.path), bool(res.get("passed")),
                       str(res.get("summary", "")), rec.seconds, rec.cached), rec


def _write_page(out_dir: Path, summary: ReportSummary, opts: ReportOptions) -> None:
    n_fail = sum(not o.passed for o in summary.outcomes)
    sub = (f"Level {opts.level}, seed {opts.seed}: {len(summary.outcomes)} items ({n_fail} failed, "
           f"{sum(o.cached for o in summary.outcomes)} read back from the result store), "
           f"{summary.seconds:.1f} s. Generated by `geomrelax report`; rerunning it reads back what is stored.")
    page = Page("geomrelax report: geometry relaxation of sign-based and LMO optimizers", sub,
                summary.sections, links=[("Markdown version", "index.md"), ("summary.json", "summary.json")])
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "index.html", render_html(page))
    atomic_write_text(out_dir / "index.md", render_markdown(page))
    atomic_write_text(out_dir / "summary.json", json.dumps(jsonable(summary.to_dict()), indent=1, allow_nan=False))


# ------------------------------------------------------------------------------------------------
# the command line (wired by geomrelax.app.cli)
# ------------------------------------------------------------------------------------------------
def _arg_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"{v} is out of range: give {low} to {high}")
        return v
    return parse


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``geomrelax report``."""
    parser.add_argument("--out", default="results",
                        help="output folder: index.html, index.md, figures/ and one folder per section (default results/)")
    lv = parser.add_mutually_exclusive_group()
    lv.add_argument("--quick", action="store_true", help="small grids, about a minute (what the tests run)")
    lv.add_argument("--full", action="store_true", help="paper-grade grids and seeds (up to half an hour)")
    parser.add_argument("--seed", type=_arg_int(0, 2**32 - 1), default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--section", action="append", dest="sections", metavar="NAME",
                        help="run only this section (repeatable); default all")
    parser.add_argument("--n-points", type=_arg_int(1, N_POINTS_MAX), default=None,
                        help="verify: random points per check (default: 8 quick, 64, 256 full)")
    parser.add_argument("--no-crosscheck", action="store_true", help="verify: skip the cvxpy cross-check")
    parser.add_argument("--no-search", action="store_true", help="verify: no adversarial search")
    parser.add_argument("--force", action="store_true", help="recompute items already on disk")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run_report_command(args) -> int:
    """``geomrelax report``: exit 0 when every item, section and figure succeeded, 1 otherwise."""
    summary = run_report(args.out, sections=args.sections, quick=args.quick, full=args.full, seed=args.seed,
                         n_points=args.n_points, crosscheck=False if args.no_crosscheck else None,
                         search=False if args.no_search else None, force=args.force,
                         progress=not args.no_progress)
    print(summary.format())
    return 0 if summary.passed else 1


# ------------------------------------------------------------------------------------------------
# the catalogue (geomrelax list)
# ------------------------------------------------------------------------------------------------
def describe(V: Regularizer) -> dict:
    """Name, formula of v (or V), domain, mu (and its norm), hess0 and whether a hard LMO exists."""
    doc = (type(V).__doc__ or "").strip().splitlines()
    formula = getattr(V, "formula", None)
    if isinstance(V, SeparableRegularizer):
        domain = f"[{V.domain.lo:g}, {V.domain.hi:g}]"
        formula = f"sum_i v(x_i), v = {formula}" if formula else "separable"
    elif isinstance(V, Spectral):
        domain = f"sigma(X) in the domain of {V.base.name}"
        formula = f"sum_i v(sigma_i(X)), v = {formula}" if formula else f"{V.base.name} of sigma(X)"
    else:
        formula = formula or (doc[0] if doc else V.name)
        domain = "see formula"
    return {"name": V.name, "formula": formula, "domain": domain, "mu": V.mu, "norm": V.norm,
            "hess0": V.hess0, "hard_lmo": bool(V.bounded), "spectral_lift": bool(V.absolutely_symmetric)}


def builtin_table() -> list:
    """describe() of every built-in regularizer."""
    return [describe(regularizer(name)) for name in BUILTIN_NAMES]
