"""``geomrelax plot NAME --out FILE``: redraw one figure from data on disk (wired by geomrelax.app.cli).

The data is ``--data CSV`` when given, else the CSV that ``geomrelax report --out DIR`` left beside the
figure, ``DIR/figures/NAME.csv`` (``--results DIR``, default results/). Nothing is recomputed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import FIGURES, FigureDataError, figure_function


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", choices=sorted(FIGURES),
                        help="the figure: " + ", ".join(sorted(FIGURES)))
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file FILE.png (FILE.html for the claims table); FILE.pdf and FILE.csv (the data "
                             "drawn) are written beside it")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="CSV", help="the tidy CSV to draw (the columns the figure documents)")
    src.add_argument("--results", metavar="DIR", default="results",
                     help="a folder written by `geomrelax report --out DIR`: draws DIR/figures/NAME.csv "
                          "(default results/)")


def run_plot_command(args) -> int:
    """Draw the figure; prints the files written. Missing or malformed data raises FigureDataError."""
    data = Path(args.data) if args.data else Path(args.results) / "figures" / f"{args.name}.csv"
    if not data.is_file():
        how = "" if args.data else (f"; run `geomrelax report --out {args.results}` first (it writes the data of "
                                    "every figure), or pass --data CSV")
        raise FigureDataError(f"no data for figure {args.name!r}: {data} does not exist{how}")
    files = figure_function(args.name)(data, args.out)
    print(f"{args.name}: {files.n_series} {'rows' if files.html else 'series'} drawn from {data}")
    for p in (files.png, files.pdf, files.html, files.csv):
        if p is not None:
            print(f"  {p}")
    return 0
