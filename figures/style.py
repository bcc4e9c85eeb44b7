"""What every figure shares: the Agg backend, the Okabe-Ito palette, tidy CSV in and out, PNG + PDF out.

A figure function reads a tidy CSV (one observation per row, one variable per column), draws it,
and writes three files side by side:

    <out>.png   for the web page (150 dpi)
    <out>.pdf   vector, for a paper
    <out>.csv   the rows it drew, in the same columns it read: passing this file back to the same
                figure function redraws the same figure

Matplotlib is imported here and only here (``figures`` is the one package that needs it); the Agg
backend is selected before pyplot is loaded, so no display is ever needed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from geomrelax.errors import GeomrelaxError
from geomrelax.store import write_csv as write_rows  # the one CSV writer (atomic, 17 digits)

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies; black last, so that
# limits and references drawn in black stay apart from the series.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
REFERENCE = "#000000"
DPI = 150


class FigureDataError(GeomrelaxError):
    """The data handed to a figure cannot be drawn (missing file or column, a non-number, no rows)."""


@dataclass(frozen=True)
class FigureFiles:
    """The files a figure wrote, and how many series it drew (lines or bars with a legend entry; the rows of
    a table). A table writes ``html`` and ``csv`` and no ``png``/``pdf``."""

    png: Optional[Path]
    pdf: Optional[Path]
    csv: Path
    n_series: int
    html: Optional[Path] = None


def pyplot():
    """matplotlib.pyplot on the Agg backend, with the house style."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
        "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
        "axes.spines.top": False, "axes.spines.right": False,
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "legend.frameon": False, "lines.linewidth": 1.6, "savefig.bbox": "tight",
        "pdf.fonttype": 42,  # TrueType in the PDF: text stays text
    })
    return plt


# one colour per optimizer in every figure, so that a reader can follow a method from figure to figure
OPTIMIZER_COLOURS = {"signum": OKABE_ITO[0], "softsignum": OKABE_ITO[1], "sgd": OKABE_ITO[2], "s3": OKABE_ITO[3],
                     "relaxed": OKABE_ITO[4], "muon": OKABE_ITO[5], "softmuon": OKABE_ITO[6]}


def color(i: int) -> str:
    """The i-th palette colour (cycling)."""
    return OKABE_ITO[i % len(OKABE_ITO)]


def optimizer_color(name: str, i: int) -> str:
    """The optimizer's own colour (OPTIMIZER_COLOURS), else the i-th palette colour."""
    return OPTIMIZER_COLOURS.get(name.split(":")[0], color(i))


# -- tidy CSV ------------------------------------------------------------------------------------------
def _number(text: str, column: str, where: str) -> float:
    t = text.strip().lower()
    if t in ("inf", "+inf", "infinity"):
        return math.inf
    if t in ("-inf", "-infinity"):
        return -math.inf
    if t in ("nan", ""):
        return math.nan
    try:
        return float(t)
    except ValueError:
        raise FigureDataError(f"{where}: column {column!r} holds {text!r}, not a number") from None


def read_rows(source, numeric: Sequence[str], text: Sequence[str] = ()) -> list:
    """Rows of a tidy CSV file as dicts; ``numeric`` columns become floats, ``text`` columns stay strings.

    ``source`` may also be a list of dicts (already-read rows), checked the same way. Raises
    FigureDataError naming the file and the missing column or bad value.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        where = str(path)
        try:
            with open(path, newline="") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise FigureDataError(f"cannot read figure data {where}: {exc.strerror or exc}") from None
    else:
        where = "figure data"
        rows = [dict(r) for r in source]
    if not rows:
        raise FigureDataError(f"{where}: no rows to draw")
    missing = [c for c in (*numeric, *text) if c not in rows[0]]
    if missing:
        raise FigureDataError(f"{where}: missing column(s) {', '.join(missing)}; it has {', '.join(rows[0])}")
    out = []
    for r in rows:
        row = {c: str(r[c]) for c in text}
        row.update({c: r[c] if isinstance(r[c], (int, float)) else _number(str(r[c]), c, where) for c in numeric})
        out.append(row)
    return out


def groups(rows: list, *keys: str) -> dict:
    """Rows grouped by the values of ``keys`` (a tuple key, or the value itself for one key), in first-seen order."""
    out: dict = {}
    for r in rows:
        k = r[keys[0]] if len(keys) == 1 else tuple(r[k] for k in keys)
        out.setdefault(k, []).append(r)
    return out


def out_paths(out) -> tuple:
    """(png, pdf, csv) paths for ``out`` given with or without a suffix (.png / .pdf / .csv / none)."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".pdf", ".csv"):
        out = out.with_suffix("")
    return out.with_suffix(".png"), out.with_suffix(".pdf"), out.with_suffix(".csv")


def save(fig, out, rows: list, columns: Sequence[str], n_series: int) -> FigureFiles:
    """Write the figure as PNG and PDF and its rows as CSV beside them; closes the figure."""
    plt = pyplot()
    png, pdf, csv_path = out_paths(out)
    png.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(png, dpi=DPI)
        fig.savefig(pdf)
    finally:
        plt.close(fig)
    write_rows(csv_path, rows, columns)
    return FigureFiles(png, pdf, csv_path, int(n_series))


def finite(values) -> list:
    """The finite values of an iterable of floats."""
    return [v for v in values if isinstance(v, float) and math.isfinite(v) or isinstance(v, int)]
