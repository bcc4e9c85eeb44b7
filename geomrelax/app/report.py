"""The project report: sections of checks and experiments, computed once and kept on disk.

``run_report(out)`` walks the registered sections (``SECTIONS``); each section lists items, an item
is one unit of work with a JSON-able configuration. Its result goes to

    out/<section>/<item>-<hash of the configuration>.json

as soon as it is computed, so an interrupted run resumes: an item whose file exists with the same
configuration is read back, not recomputed. A later issue adds a section (optimizer benchmarks,
claims, figures) by appending a ``Section`` to ``SECTIONS`` (or calling ``register_section``); an
item's ``run`` returns a dict with at least ``passed`` (bool) and ``summary`` (one line).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import GeomrelaxError
from ..regularizers import BUILTIN_NAMES, Regularizer, SeparableRegularizer, regularizer
from ..spectral import Spectral
from ..verify import VERIFY_VERSION, config_key, fingerprint, resolve, verify


@dataclass(frozen=True)
class ReportOptions:
    """Options shared by every section (they enter each item's configuration, hence its cache key)."""

    seed: int = 0
    n_points: int = 64
    crosscheck: bool = True
    search: bool = True


@dataclass(frozen=True)
class Item:
    """One unit of report work: ``run()`` returns a JSON-able dict with 'passed' and 'summary'."""

    section: str
    name: str
    config: dict
    run: Callable[[], dict]

    @property
    def key(self) -> str:
        return config_key({"section": self.section, "name": self.name, **self.config})

    @property
    def filename(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name).strip("_") or "item"
        return f"{slug}-{self.key}.json"


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    items: Callable[[ReportOptions], list]


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


@dataclass
class ReportSummary:
    out: str
    outcomes: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def to_dict(self) -> dict:
        return {"out": self.out, "passed": self.passed, "seconds": self.seconds,
                "items": [o.__dict__ for o in self.outcomes]}

    def format(self) -> str:
        w = max([len(o.name) for o in self.outcomes] + [4])
        lines = [f"{'section':<10} {'item':<{w}} {'status':<6} {'time':>7}  summary"]
        for o in self.outcomes:
            status = "pass" if o.passed else "FAIL"
            t = "cached" if o.cached else f"{o.seconds:6.1f}s"
            lines.append(f"{o.section:<10} {o.name:<{w}} {status:<6} {t:>7}  {o.summary}")
        n_fail = sum(not o.passed for o in self.outcomes)
        n_cached = sum(o.cached for o in self.outcomes)
        lines.append(f"{len(self.outcomes)} items, {n_fail} failed, {n_cached} read from {self.out} "
                     f"({self.seconds:.1f} s)")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------------
def _crosscheck_available() -> bool:
    return importlib.util.find_spec("geomrelax.crosscheck") is not None


def _verify_items(opts: ReportOptions) -> list:
    """verify() on every built-in and on every spectral lift that Lewis' theorem allows."""
    # the cvxpy cross-check landing later must invalidate items computed without it
    cc = opts.crosscheck and _crosscheck_available()
    items = []
    for spectral in (False, True):
        for name in BUILTIN_NAMES:
            if spectral and not regularizer(name).absolutely_symmetric:
                continue
            V = resolve(name, spectral=spectral)
            config = {"regularizer": name, "spectral": spectral, "seed": opts.seed, "n_points": opts.n_points,
                      "crosscheck": cc, "search": opts.search, "verify_version": VERIFY_VERSION,
                      "fingerprint": fingerprint(V)}

            def run(name=name, spectral=spectral):
                rep = verify(name, spectral=spectral, seed=opts.seed, n_points=opts.n_points, crosscheck=cc,
                             search=opts.search)
                c = rep.counts()
                failed = ", ".join(r.name for r in rep.failures)
                summary = f"{c['pass']} pass, {c['fail']} fail, {c['skipped']} skipped" + (
                    f" (failed: {failed})" if failed else "")
                return {**rep.to_dict(), "summary": summary}

            items.append(Item("verify", f"spectral({name})" if spectral else name, config, run))
    return items


SECTIONS: list = [
    Section("verify", "Identity checks (theory note section 5) of the built-ins and their spectral lifts",
            _verify_items),
]


def register_section(section: Section) -> None:
    """Add a section to the report (later sections run after the earlier ones)."""
    if any(s.name == section.name for s in SECTIONS):
        raise GeomrelaxError(f"a report section named {section.name!r} already exists")
    SECTIONS.append(section)


# ------------------------------------------------------------------------------------------------
# the runner
# ------------------------------------------------------------------------------------------------
def _read(path: Path, key: str) -> Optional[dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or half-written: recompute
    return data if data.get("key") == key and "result" in data else None


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False))
    os.replace(tmp, path)  # atomic: an interrupted run never leaves a truncated result behind


def run_report(out="results", *, sections=None, seed: int = 0, n_points: int = 64, crosscheck: bool = True,
               search: bool = True, force: bool = False, progress: Optional[Callable[[str], None]] = None
               ) -> ReportSummary:
    """Run (or read back) every item of the chosen sections; results go to ``out`` one file per item.

    ``sections``: names to run (default all). ``force``: recompute items already on disk.
    ``progress``: called with one line per finished item.
    """
    known = {s.name: s for s in SECTIONS}
    chosen = list(known) if sections is None else list(sections)
    for name in chosen:
        if name not in known:
            raise GeomrelaxError(f"unknown report section {name!r}; sections are {', '.join(known)}")
    opts = ReportOptions(seed=seed, n_points=n_points, crosscheck=crosscheck, search=search)
    out_dir = Path(out)
    t0 = time.perf_counter()
    summary = ReportSummary(str(out_dir))
    items = [it for name in chosen for it in known[name].items(opts)]
    for i, item in enumerate(items, 1):
        path = out_dir / item.section / item.filename
        data = None if force else _read(path, item.key)
        cached = data is not None
        t = time.perf_counter()
        if data is None:
            result = item.run()
            data = {"section": item.section, "name": item.name, "key": item.key, "config": item.config,
                    "seconds": time.perf_counter() - t, "result": result}
            _write(path, data)
        res = data["result"]
        o = ItemOutcome(item.section, item.name, item.key, str(path), bool(res.get("passed")),
                        str(res.get("summary", "")), float(data.get("seconds", 0.0)), cached)
        summary.outcomes.append(o)
        if progress is not None:
            progress(f"[{i}/{len(items)}] {item.section} {item.name}: {'pass' if o.passed else 'FAIL'}"
                     + (" (cached)" if cached else f" ({o.seconds:.1f} s)"))
    summary.seconds = time.perf_counter() - t0
    _write(out_dir / "summary.json", summary.to_dict())
    return summary


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
