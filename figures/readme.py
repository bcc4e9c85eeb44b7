"""Redraw the README's figures from a report folder into docs/figures/.

    geomrelax report --out results          # the default level (a few minutes; read back when run again)
    python -m figures.readme results         # -> docs/figures/soft_maps.png, docs/figures/tau_convergence.png

Each figure is redrawn from the CSV the report left beside it (nothing is recomputed); only the PNG is
kept (the PDF and CSV stay in the report folder).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from . import FigureDataError, figure_function

README_FIGURES = ("soft_maps", "tau_convergence")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "figures"


def readme_figures(results, docs=DOCS) -> list:
    """Redraw README_FIGURES from ``results``/figures/NAME.csv; returns the PNG paths written under ``docs``."""
    results, docs = Path(results), Path(docs)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in README_FIGURES:
            data = results / "figures" / f"{name}.csv"
            if not data.is_file():
                raise FigureDataError(f"{data} does not exist: run `geomrelax report --out {results}` first")
            files = figure_function(name)(data, Path(tmp) / name)
            docs.mkdir(parents=True, exist_ok=True)
            written.append(Path(shutil.copyfile(files.png, docs / f"{name}.png")))
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m figures.readme", description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="?", default="results", help="a folder written by geomrelax report (default results/)")
    p.add_argument("--docs", default=str(DOCS), help="where the PNGs go (default docs/figures/)")
    args = p.parse_args(argv)
    try:
        for path in readme_figures(args.results, args.docs):
            print(path)
    except FigureDataError as exc:
        print(f"figures.readme: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
