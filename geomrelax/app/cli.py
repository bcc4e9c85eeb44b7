"""Command line: ``geomrelax verify | report | list`` (argument parsing and printing only).

Exit status: 0 success, 1 a check failed, 2 bad input (the message names the problem).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import GeomrelaxError


def _domain_end(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"domain end {text.strip()!r} is not a number (use inf/-inf for none)") from None


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} is negative")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="geomrelax", description="Geometry relaxation of sign-based and LMO optimizers")
    sub = p.add_subparsers(dest="command", required=True, metavar="{verify,report,list}")

    v = sub.add_parser("verify", help="identity checks of a regularizer (built-in name or expression in x)",
                       description="Run the identity checks (Fenchel-Young, inverse gradients, biconjugate, "
                                   "strong convexity/smoothness, tau limits, cvxpy cross-check, Lewis) and print "
                                   "one line per check. Exit 1 when a check fails, 2 on bad input.")
    v.add_argument("regularizer", metavar="NAME_OR_EXPR",
                   help="a built-in name (geomrelax list) or an expression in x, e.g. 'x**2/2 + x**4'")
    v.add_argument("--domain", nargs=2, type=_domain_end, metavar=("A", "B"),
                   help="interval [A, B] of an expression (A <= 0 <= B; inf allowed)")
    v.add_argument("--spectral", action="store_true", help="check the spectral lift sum_i v(sigma_i(X))")
    v.add_argument("--seed", type=_nonneg_int, default=0)
    v.add_argument("--n-points", type=int, default=64, help="random points per check (default 64)")
    v.add_argument("--no-crosscheck", action="store_true", help="skip the cvxpy cross-check")
    v.add_argument("--no-search", action="store_true", help="random and boundary points only, no adversarial search")
    v.add_argument("--allow-weak", action="store_true",
                   help="accept a convex but not strongly convex expression (mu = 0: a hard LMO, no relaxed one)")
    v.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE ('-' for stdout)")

    r = sub.add_parser("report", help="run every report section, writing results incrementally",
                       description="Run verify over every built-in and spectral lift (and later sections), one "
                                   "JSON file per item under --out; items already there with the same "
                                   "configuration are read back. Exit 1 when an item fails.")
    r.add_argument("--out", default="results", help="output folder (default results/)")
    r.add_argument("--section", action="append", dest="sections", metavar="NAME",
                   help="run only this section (repeatable)")
    r.add_argument("--seed", type=_nonneg_int, default=0)
    r.add_argument("--n-points", type=int, default=64)
    r.add_argument("--no-crosscheck", action="store_true")
    r.add_argument("--no-search", action="store_true")
    r.add_argument("--force", action="store_true", help="recompute items already on disk")

    sub.add_parser("list", help="the built-in regularizers: formulas, domains, mu")
    return p


def _protect_negative(argv: list) -> list:
    """Let --domain take '-inf' or '-1e-3': argparse reads such a token as an option, not as a value.

    A leading space keeps it a value, and float() ignores the space.
    """
    out = list(argv)
    for i, tok in enumerate(out):
        if tok == "--domain":
            for j in (i + 1, i + 2):
                if j < len(out) and out[j].startswith("-") and out[j][1:2] not in ("-", ""):
                    out[j] = " " + out[j]
    return out


def _cmd_verify(args) -> int:
    from ..verify import verify

    rep = verify(args.regularizer, tuple(args.domain) if args.domain else None, spectral=args.spectral,
                 seed=args.seed, n_points=args.n_points, crosscheck=not args.no_crosscheck,
                 search=not args.no_search, require_strong=not args.allow_weak)
    print(rep.format())
    if args.json:
        text = json.dumps(rep.to_dict(), indent=1, allow_nan=False)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as fh:
                fh.write(text + "\n")
    return 0 if rep.passed else 1


def _cmd_report(args) -> int:
    from .report import run_report

    summary = run_report(args.out, sections=args.sections, seed=args.seed, n_points=args.n_points,
                         crosscheck=not args.no_crosscheck, search=not args.no_search, force=args.force,
                         progress=lambda line: print(line, flush=True))
    print(summary.format())
    return 0 if summary.passed else 1


def _cmd_list(args) -> int:
    from .report import builtin_table

    rows = builtin_table()
    w = max(len(r["name"]) for r in rows)
    print(f"{'name':<{w}}  {'mu':>4} {'norm':<4} {'hess0':>5} {'hard LMO':<8} {'domain':<12} formula")
    for r in rows:
        h = "-" if r["hess0"] is None else f"{r['hess0']:g}"
        print(f"{r['name']:<{w}}  {r['mu']:>4g} {r['norm']:<4} {h:>5} {'yes' if r['hard_lmo'] else 'no':<8} "
              f"{r['domain']:<12} {r['formula']}")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``geomrelax`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(_protect_negative(argv))
    except SystemExit as exc:  # argparse has printed its usage message
        return int(exc.code or 0)
    try:
        return {"verify": _cmd_verify, "report": _cmd_report, "list": _cmd_list}[args.command](args)
    except (GeomrelaxError, ValueError, OSError) as exc:
        print(f"geomrelax {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
