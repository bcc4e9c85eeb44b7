"""The claims table: every claim of :mod:`proofs_check` with its verdict, the bound beside the measured value,
the worst margin found and, for a violated claim, the counterexample.
"""

from __future__ import annotations

import html

from .style import FigureFiles, groups, out_paths, read_rows, write_rows

COLUMNS = ("id", "status", "expected", "source", "description", "theoretical", "measured", "worst_margin",
           "counterexample", "note")
_COLOUR = {"holds": "#d7f0e7", "violated": "#f8d3c1", "inconclusive": "#fbe7b8"}

def claims_table(data, out):
    """A standalone HTML page with one table row per claim (coloured by verdict), and its CSV beside it.

    data: tidy CSV (or rows) with columns id, status ('holds' | 'violated' | 'inconclusive'), expected,
    source, description, theoretical, measured, worst_margin (numbers as text; empty when none),
    counterexample (the input as text), note. Writes out.html and out.csv; returns FigureFiles with html.
    """
    rows = read_rows(data, numeric=(), text=COLUMNS)
    _, _, csv_path = out_paths(out)
    page = csv_path.with_suffix(".html")
    counts = {k: len(v) for k, v in groups(rows, "status").items()}
    e = lambda x: html.escape(str(x), quote=True)  # noqa: E731
    body = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Claims and verdicts</title>",
            "<style>body{font-family:system-ui,sans-serif;margin:1em}table{border-collapse:collapse;font-size:.85em}"
            "th,td{border:1px solid #ccc;padding:.2em .4em;vertical-align:top;text-align:left}th{background:#eee}"
            "td.ce{font-family:monospace;max-width:28em;overflow-wrap:anywhere}</style></head><body>",
            "<h1>Claims and verdicts</h1>",
            "<p>" + ", ".join(f"{n} {e(k)}" for k, n in counts.items()) + f" ({len(rows)} claims)</p>",
            "<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "</tr></thead><tbody>"]
    for r in rows:
        style = f" style='background:{_COLOUR.get(r['status'], '#fff')}'"
        cells = "".join(f"<td class='ce'>{e(r[c])}</td>" if c == "counterexample" else f"<td>{e(r[c])}</td>"
                        for c in COLUMNS)
        body.append(f"<tr id='{e(r['id'])}'{style}>{cells}</tr>")
    body.append("</tbody></table></body></html>")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(body) + "\n")
    write_rows(csv_path, rows, COLUMNS)

    return FigureFiles(None, None, csv_path, len(rows), html=page)
