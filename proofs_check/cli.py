"""The ``geomrelax claims`` command: check the shipped claims and print a table or JSON.

    geomrelax claims                         every claim, a table (exit 1 if any is violated)
    geomrelax claims --tag identity --id '*entropic*'
    geomrelax claims --json                  a list of verdict objects (id, source, status, worst_margin,
                                             counterexample, theoretical, measured, ...)
    geomrelax claims --list                  the claims with source and assumptions, not checked
    geomrelax claims --report-only           exit 0 even when a claim is violated

Filters (--id, --tag, --source) repeat; each value is a substring, or a glob when it has * ? [.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from .claim import ClaimError
from .registry import all_claims, check_all, select


def add_claims_arguments(parser) -> None:
    """Add the options of ``geomrelax claims`` to an argparse parser."""
    parser.add_argument("--id", dest="ids", action="append", metavar="PATTERN",
                        help="keep claims whose id contains PATTERN (or matches it as a glob); repeatable")
    parser.add_argument("--tag", dest="tags", action="append", metavar="PATTERN",
                        help="keep claims with a tag matching PATTERN; repeatable")
    parser.add_argument("--source", dest="sources", action="append", metavar="PATTERN",
                        help="keep claims whose source matches PATTERN; repeatable")
    parser.add_argument("--seed", type=int, default=0, help="seed of every search (default 0)")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="time budget per claim (default: each claim's own, 0.25 to 1 s)")
    parser.add_argument("--json", action="store_true", help="print the verdicts as a JSON list")
    parser.add_argument("--list", action="store_true", help="list the claims (source, assumptions) without checking")
    parser.add_argument("--verbose", "-v", action="store_true", help="also print assumptions and notes")
    parser.add_argument("--report-only", action="store_true",
                        help="exit 0 even when a claim is violated (the default exit code is 1 then)")


def _short(x, n=6) -> str:
    if x is None:
        return "-"
    a = np.asarray(x, dtype=float).ravel()
    body = ", ".join(f"{v:.6g}" for v in a[:n])
    return f"[{body}{', ...' if a.size > n else ''}]"


def _num(x) -> str:
    return "-" if x is None else f"{x:.3g}"


def _table(verdicts, verbose: bool) -> str:
    w = max([len(v.id) for v in verdicts] + [5])
    head = f"{'claim':<{w}}  {'verdict':<12} {'worst margin':>12}  {'theory':>9} {'measured':>10} {'evals':>6} {'s':>5}  source"
    lines = [head, "-" * len(head)]
    for v in verdicts:
        mark = "" if v.status == v.expected else " !"
        status = v.status + ("*" if v.status == "violated" and v.expected == "violated" else "")
        lines.append(f"{v.id:<{w}}  {status:<12} {v.worst_margin:>12.3e}  {_num(v.theoretical):>9} "
                     f"{_num(v.measured):>10} {v.evaluations:>6} {v.seconds:>5.2f}  {v.source[:70]}{mark}")
        if v.status == "violated":
            lines.append(f"{'':<{w}}    counterexample {_short(v.counterexample)} ({v.confirmed_by})")
        if v.status == "inconclusive" or verbose:
            lines.append(f"{'':<{w}}    {v.note}")
        if verbose and v.assumptions:
            lines.append(f"{'':<{w}}    assumes: {v.assumptions}")
    counts = {s: sum(v.status == s for v in verdicts) for s in ("holds", "violated", "inconclusive")}
    unexpected = [v.id for v in verdicts if v.status != v.expected]
    lines.append(f"{len(verdicts)} claims: {counts['holds']} hold, {counts['violated']} violated "
                 f"({sum(v.status == 'violated' and v.expected == 'violated' for v in verdicts)} of them expected, "
                 f"marked *), {counts['inconclusive']} inconclusive; {sum(v.seconds for v in verdicts):.1f} s")
    if unexpected:
        lines.append("not as expected (marked !): " + ", ".join(unexpected))
    return "\n".join(lines)


def run_claims_command(args) -> int:
    """Run ``geomrelax claims`` with parsed ``args``; returns the exit code (1 on a violation
    unless --report-only, 2 on bad options or when no claim matches the filters)."""
    try:
        claims = select(all_claims(), args.ids, args.tags, args.sources)
        if not claims:
            print("geomrelax claims: no claim matches the filters "
                  f"(--id {args.ids}, --tag {args.tags}, --source {args.sources})", file=sys.stderr)
            return 2
        if args.list:
            for c in claims:
                print(f"{c.id}\n    source: {c.source}\n    claim: {c.description}"
                      + (f"\n    assumes: {c.assumptions}" if c.assumptions else "")
                      + f"\n    tags: {', '.join(c.tags)}; expected: {c.expected}")
            return 0
        verdicts = check_all(claims, seed=args.seed, budget_s=args.budget)
    except ClaimError as exc:
        print(f"geomrelax claims: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts], indent=1))
    else:
        print(_table(verdicts, args.verbose))
    violated = any(v.status == "violated" for v in verdicts)
    return 1 if violated and not args.report_only else 0
