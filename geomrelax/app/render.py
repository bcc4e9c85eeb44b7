"""The report page: a model (Page -> SectionView -> figures, tables, items) and its two renderings.

``render_html(page)`` gives one self-contained HTML file (inline style, no script, no server needed)
whose images and data files are linked by paths relative to it; ``render_markdown(page)`` gives its
Markdown twin with the same links. Every piece of text from results is escaped: a result can hold
any string (an error message, a counterexample) and is shown as text, never as markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Optional

STATUS_TEXT = {"ok": "ok", "failed": "section failed", "partial": "some items failed"}


@dataclass
class FigureView:
    """A figure on the page: ``png``/``pdf``/``csv`` are paths relative to the page; ``error`` when drawing failed."""

    name: str
    title: str
    caption: str = ""
    png: Optional[str] = None
    pdf: Optional[str] = None
    csv: Optional[str] = None
    error: Optional[str] = None


@dataclass(frozen=True)
class Link:
    """A link in a table cell: ``href`` is relative to the page or an anchor '#id'. A cell may also hold a
    list of links (shown separated by commas)."""

    text: str
    href: str


@dataclass
class TableView:
    """A table: ``row_ids`` (optional) become HTML anchors; ``row_class`` (optional) one of pass/fail/warn per
    row; ``links`` (text, href) pairs shown under the title (e.g. the table's data files)."""

    title: str
    columns: list
    rows: list
    note: str = ""
    row_ids: Optional[list] = None
    row_class: Optional[list] = None
    links: list = field(default_factory=list)


@dataclass
class ItemView:
    name: str
    passed: bool
    summary: str
    seconds: float
    cached: bool
    path: str = ""
    error: Optional[str] = None


@dataclass
class SectionView:
    name: str
    title: str
    blurb: str = ""
    error: Optional[str] = None
    figures: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    items: list = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        if any(not it.passed for it in self.items) or any(f.error for f in self.figures):
            return "partial"
        return "ok"


@dataclass
class Page:
    title: str
    subtitle: str
    sections: list = field(default_factory=list)
    links: list = field(default_factory=list)  # (text, relative href) shown under the title


def anchor(text: str) -> str:
    """An HTML id from any text (letters, digits, '-')."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


# -- HTML -------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.sub{color:#555} nav ol{columns:2} figure{margin:1.2em 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.92em;color:#444} table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;vertical-align:top;text-align:left} th{background:#f4f4f4}
tr.pass td:first-child{border-left:4px solid #009E73} tr.fail td:first-child{border-left:4px solid #D55E00}
tr.warn td:first-child{border-left:4px solid #E69F00}
.badge{display:inline-block;padding:0 .5em;border-radius:.6em;font-size:.8em;margin-left:.5em;vertical-align:middle}
.ok{background:#d7f0e7} .failed{background:#f8d3c1} .partial{background:#fbe7b8}
.error{background:#fdf0ea;border-left:4px solid #D55E00;padding:.5em;white-space:pre-wrap;font-family:monospace;
font-size:.85em} details{margin:.6em 0} code{font-size:.9em}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _html_cell(c) -> str:
    if isinstance(c, Link):
        return f'<a href="{_e(c.href)}">{_e(c.text)}</a>'
    if isinstance(c, (list, tuple)):
        return ", ".join(_html_cell(x) for x in c)
    return _e(c)


def _html_table(t: TableView) -> list:
    out = [f"<h3>{_e(t.title)}</h3>"] if t.title else []
    if t.note:
        out.append(f"<p>{_e(t.note)}</p>")
    if t.links:
        out.append("<p>" + " · ".join(_html_cell(Link(a, h)) for a, h in t.links) + "</p>")
    out.append("<table><thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in t.columns) + "</tr></thead><tbody>")
    for i, row in enumerate(t.rows):
        attrs = ""
        if t.row_ids:
            attrs += f' id="{_e(t.row_ids[i])}"'
        if t.row_class:
            attrs += f' class="{_e(t.row_class[i])}"'
        out.append(f"<tr{attrs}>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return out


def _html_figure(f: FigureView) -> list:
    if f.error is not None:
        return [f'<figure id="fig-{_e(anchor(f.name))}"><h3>{_e(f.title)}</h3>',
                f'<div class="error">figure failed: {_e(f.error)}</div></figure>']
    files = " · ".join(f'<a href="{_e(href)}">{kind}</a>' for kind, href in (("PNG", f.png), ("PDF", f.pdf),
                                                                             ("data (CSV)", f.csv)) if href)
    return [f'<figure id="fig-{_e(anchor(f.name))}"><h3>{_e(f.title)}</h3>',
            f'<a href="{_e(f.png)}"><img src="{_e(f.png)}" alt="{_e(f.title)}"></a>',
            f"<figcaption>{_e(f.caption)} <span class=\"files\">[{files}]</span></figcaption></figure>"]


def render_html(page: Page) -> str:
    """The page as one HTML document (UTF-8)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_e(page.title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{_e(page.title)}</h1>", f'<p class="sub">{_e(page.subtitle)}</p>']
    if page.links:
        out.append("<p>" + " · ".join(f'<a href="{_e(h)}">{_e(t)}</a>' for t, h in page.links) + "</p>")
    out.append("<nav><h2>Contents</h2><ol>")
    for s in page.sections:
        out.append(f'<li><a href="#{_e(anchor(s.name))}">{_e(s.title)}</a>'
                   f'<span class="badge {s.status}">{_e(STATUS_TEXT[s.status])}</span></li>')
    out.append("</ol></nav>")
    for s in page.sections:
        out.append(f'<section id="{_e(anchor(s.name))}"><h2>{_e(s.title)}'
                   f'<span class="badge {s.status}">{_e(STATUS_TEXT[s.status])}</span></h2>')
        if s.blurb:
            out.append(f"<p>{_e(s.blurb)}</p>")
        if s.error is not None:
            out.append(f'<div class="error">section failed: {_e(s.error)}</div>')
        for f in s.figures:
            out.extend(_html_figure(f))
        for t in s.tables:
            out.extend(_html_table(t))
        if s.items:
            n_fail = sum(not it.passed for it in s.items)
            out.append(f"<details><summary>{len(s.items)} computed items, {n_fail} failed "
                       f"({sum(it.cached for it in s.items)} read back from the result store)</summary>")
            rows = [[it.name, "pass" if it.passed else "FAIL", "cached" if it.cached else f"{it.seconds:.1f} s",
                     it.error or it.summary] for it in s.items]
            out.extend(_html_table(TableView("", ["item", "status", "time", "summary"], rows,
                                             row_class=["pass" if it.passed else "fail" for it in s.items])))
            out.append("</details>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# -- Markdown ---------------------------------------------------------------------------------------
def _md(x) -> str:
    """Text safe inside a Markdown table cell or paragraph (pipes, newlines, markup characters escaped)."""
    s = str(x).replace("\\", "\\\\").replace("\r", " ").replace("\n", " ")
    for ch in "|*_`[]<>#":
        s = s.replace(ch, "\\" + ch)
    return s


def _md_cell(c) -> str:
    if isinstance(c, Link):
        return f"[{_md(c.text)}]({c.href})"
    if isinstance(c, (list, tuple)):
        return ", ".join(_md_cell(x) for x in c)
    return _md(c)


def _md_table(t: TableView) -> list:
    out = [f"### {_md(t.title)}", ""] if t.title else []
    if t.note:
        out += [_md(t.note), ""]
    if t.links:
        out += [" · ".join(_md_cell(Link(a, h)) for a, h in t.links), ""]
    out.append("| " + " | ".join(_md(c) for c in t.columns) + " |")
    out.append("|" + "---|" * len(t.columns))
    for i, row in enumerate(t.rows):
        # an anchor per row, so that '#id' links work in the Markdown twin too
        anchor_tag = f'<a id="{t.row_ids[i]}"></a>' if t.row_ids else ""
        out.append("| " + anchor_tag + " | ".join(_md_cell(c) for c in row) + " |")
    out.append("")
    return out


def render_markdown(page: Page) -> str:
    """The Markdown twin of render_html (same sections, figures, tables and links)."""
    out = [f"# {_md(page.title)}", "", _md(page.subtitle), ""]
    if page.links:
        out += [" · ".join(f"[{_md(t)}]({h})" for t, h in page.links), ""]
    for i, s in enumerate(page.sections, 1):
        out.append(f"{i}. [{_md(s.title)}](#{anchor(s.title)}) ({STATUS_TEXT[s.status]})")
    out.append("")
    for s in page.sections:
        out += [f"## {_md(s.title)}", ""]
        if s.blurb:
            out += [_md(s.blurb), ""]
        if s.error is not None:
            out += [f"**section failed:** `{s.error.replace('`', chr(39))}`", ""]
        for f in s.figures:
            out += [f"### {_md(f.title)}", ""]
            if f.error is not None:
                out += [f"**figure failed:** `{f.error.replace('`', chr(39))}`", ""]
                continue
            links = ", ".join(f"[{k}]({h})" for k, h in (("PDF", f.pdf), ("data (CSV)", f.csv)) if h)
            out += [f"![{_md(f.title)}]({f.png})", "", f"{_md(f.caption)} ({links})", ""]
        for t in s.tables:
            out += _md_table(t)
        if s.items:
            n_fail = sum(not it.passed for it in s.items)
            out += [f"{len(s.items)} computed items, {n_fail} failed, "
                    f"{sum(it.cached for it in s.items)} read back from the result store.", ""]
            if n_fail:
                out += _md_table(TableView("", ["failed item", "error"],
                                           [[it.name, it.error or it.summary] for it in s.items if not it.passed]))
    return "\n".join(out) + "\n"
