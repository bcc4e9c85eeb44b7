"""The report section on the claims of the theory (:mod:`proofs_check`): one item per claim, its verdict
(holds / violated with a counterexample / inconclusive) stored as soon as it is known, so an interrupted
report resumes claim by claim.

An item passes when its verdict is the one the claim expects (a planted false claim is expected to be
violated) or is inconclusive (the search could not decide; shown in amber, not counted as a failure);
a claim violated against expectation fails the item, and the report exits 1.
"""

from __future__ import annotations

import math

from .render import Link, TableView, anchor
from .report import Item, Section, package_fingerprint

CLAIMS_VERSION = 1
N_SHOWN = 6  # coordinates of a counterexample shown in the page's table (the CSV has them all)


def _budget(opts, claim) -> float:
    """Seconds of search per claim: a fixed sliver (quick), the claim's own budget, or four times it (full)."""
    return opts.pick(0.05, float(claim.budget_s), 4.0 * float(claim.budget_s))


def _claim_items(opts) -> list:
    import proofs_check

    versions = {"version": CLAIMS_VERSION, "proofs_check": package_fingerprint("proofs_check"),
                "synthetic": package_fingerprint("synthetic"), "core": package_fingerprint("geomrelax", exclude=("app",))}
    items = []
    for claim in proofs_check.all_claims():
        budget = _budget(opts, claim)

        def run(claim=claim, budget=budget):
            v = proofs_check.check(claim, seed=opts.seed, budget_s=budget)
            d = v.to_dict()
            ok = v.as_expected or v.status == "inconclusive"
            return {**d, "passed": bool(ok),
                    "summary": f"{v.status} (expected {v.expected}); worst margin {_num(d['worst_margin'])}"}

        items.append(Item("claims", claim.id, {"claim": claim.id, "seed": opts.seed, "budget_s": budget, **versions},
                          run))
    return items


def _num(v) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "" if v is None else str(v)
    return f"{x:.4g}" if math.isfinite(x) else str(x)


def _vector(v, limit=None) -> str:
    if v is None:
        return ""
    if not isinstance(v, list):
        return _num(v)
    flat = v if not v or not isinstance(v[0], list) else [x for row in v for x in row]
    shown = ", ".join(_num(x) for x in (flat[:limit] if limit else flat))
    more = f", ... ({len(flat)} values)" if limit and len(flat) > limit else ""
    return f"[{shown}{more}]"


def claim_anchors(ids) -> dict:
    """claim id -> a unique HTML id ('claim-' + the id's letters and digits; a numbered suffix on a clash)."""
    out, used = {}, set()
    for cid in ids:
        a = base = "claim-" + anchor(cid)
        k = 2
        while a in used:
            a, k = f"{base}-{k}", k + 1
        used.add(a)
        out[cid] = a
    return out


def _row(r: dict, limit=None) -> dict:
    return {"id": r["id"], "status": r["status"], "expected": r.get("expected", "holds"), "source": r.get("source", ""),
            "description": r.get("description", ""), "theoretical": _num(r.get("theoretical")),
            "measured": _num(r.get("measured")), "worst_margin": _num(r.get("worst_margin")),
            "counterexample": _vector(r.get("counterexample"), limit), "note": r.get("note", "")}


def _present_claims(records, p) -> None:
    from figures.claims import claims_table

    results = [rec.result for rec in records]
    anchors = claim_anchors(r["id"] for r in results)
    links, note_extra = [], ""
    try:
        files = claims_table([_row(r) for r in results], p.fig_dir / "claims")
        links = [("the table as a page", files.html.relative_to(p.out).as_posix()),
                 ("data (CSV)", files.csv.relative_to(p.out).as_posix())]
    except Exception as exc:  # noqa: BLE001 - the inline table below still shows every verdict
        note_extra = f" (the standalone table failed: {type(exc).__name__}: {exc})"
    by_status: dict = {}
    for r in results:
        by_status.setdefault(r["status"], []).append(Link(r["id"], "#" + anchors[r["id"]]))
    p.table(TableView("Verdicts at a glance", ["verdict", "claims"],
                      [[k, by_status[k]] for k in ("violated", "inconclusive", "holds") if k in by_status],
                      row_class=[{"violated": "fail", "inconclusive": "warn", "holds": "pass"}[k]
                                 for k in ("violated", "inconclusive", "holds") if k in by_status]))
    rows, cls = [], []
    for r in results:
        x = _row(r, N_SHOWN)
        rows.append([x["id"], f"{x['status']} (expected {x['expected']})", x["description"] or x["source"],
                     x["theoretical"], x["measured"], x["worst_margin"], x["counterexample"], x["note"]])
        cls.append("warn" if r["status"] == "inconclusive" else "pass" if r["status"] == r.get("expected", "holds")
                   else "fail")
    p.table(TableView("Every claim and its verdict",
                      ["claim", "verdict", "statement", "bound", "measured", "worst margin", "counterexample", "note"],
                      rows, row_ids=[anchors[r["id"]] for r in results], row_class=cls, links=links,
                      note="The worst margin is the largest value of (claimed side - other side) found by the search: "
                           "<= 0 where the claim holds. A violation is confirmed by re-evaluating the counterexample in "
                           "60-digit arithmetic (or against a derived rounding allowance). Some claims are planted "
                           "false on purpose (expected: violated), to show that the checker finds violations."
                           + note_extra))


SECTIONS = [
    Section("claims", "The claims of the theory and their verdicts", _claim_items,
            "Every identity, limit, lemma and stated bound of the theory, written as a claim 'margin(z) <= 0 for "
            "every admissible z' and checked by a search for a counterexample.", _present_claims),
]
