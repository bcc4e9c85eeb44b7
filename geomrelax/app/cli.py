"""Command line: ``geomrelax verify | list | report | claims | sweep | plot | train`` (parsing and printing only).

Exit status: 0 success, 1 a check failed, 2 bad input (the message names the problem).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import import_module

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


N_POINTS_MAX = 10_000  # verify allocates n_points x (dimension) per check: beyond this it is memory, not rigour


def _n_points(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= v <= N_POINTS_MAX:
        raise argparse.ArgumentTypeError(f"{v} is out of range: give 1 to {N_POINTS_MAX} points")
    return v


def _timeout(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < v <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is out of range: give a number of seconds in (0, 3600]")
    return v


# name -> (help, module, function adding its arguments, function running it and returning the exit status)
_PLUGGED = {
    "report": ("the main job: every section (regularizers, claims, sweeps, figures) into DIR/index.html and "
               "index.md; results on disk are read back", "geomrelax.app.report", "add_report_arguments",
               "run_report_command"),
    "claims": ("every claim the toolkit knows, checked: holds / violated (with a counterexample) / inconclusive",
               "proofs_check.cli", "add_claims_arguments", "run_claims_command"),
    "sweep": ("convergence sweeps over (optimizer, tau, d, T, seed) with rate fits against the stated bounds",
              "synthetic.cli", "add_sweep_arguments", "run_sweep_command"),
    "plot": ("draw one figure from results on disk (PNG, PDF and the CSV drawn)", "figures.cli",
             "add_plot_arguments", "run_plot_command"),
    "train": ("train a small GPT-style language model with AdamW, Signum, Muon, SoftSignum and SoftMuon on equal "
              "budgets", "benchmarks.train_lm", "add_train_arguments", "run_train_command"),
}
COMMANDS = ("verify", "list", *_PLUGGED)


def _command_of(argv: list):
    return next((tok for tok in argv if not tok.startswith("-")), None)


def build_parser(command=None) -> argparse.ArgumentParser:
    """The parser; the arguments of a plugged command (report, claims, ...) are added only when ``command``
    names it, so that ``geomrelax list`` does not import torch or matplotlib."""
    from .. import __version__

    p = argparse.ArgumentParser(prog="geomrelax", description="Geometry relaxation of sign-based and LMO optimizers")
    p.add_argument("--version", action="version", version=f"geomrelax {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")

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
    v.add_argument("--n-points", type=_n_points, default=64,
                   help=f"random points per check (default 64, at most {N_POINTS_MAX})")
    v.add_argument("--no-crosscheck", action="store_true", help="skip the cvxpy cross-check")
    v.add_argument("--no-search", action="store_true", help="random and boundary points only, no adversarial search")
    v.add_argument("--allow-weak", action="store_true",
                   help="accept a convex but not strongly convex expression (mu = 0: a hard LMO, no relaxed one)")
    v.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE ('-' for stdout)")
    v.add_argument("--route", choices=("auto", "symbolic", "numeric"), default="auto",
                   help="how grad v* of an expression is computed: sympy closed form (symbolic), safeguarded "
                        "Newton (numeric), or symbolic with a numeric fallback (auto, the default)")
    v.add_argument("--timeout", type=_timeout, default=20.0,
                   help="seconds the symbolic derivation may take before it is stopped (default 20)")

    sub.add_parser("list", help="the built-in regularizers: formulas, domains, mu")
    for name, (help_text, module, adder, _) in _PLUGGED.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if command == name:  # the packages above the core are imported only for the command that needs them
            getattr(import_module(module), adder)(sp)
    return p


def _is_option(tok: str, options: set) -> bool:
    """True when argparse would rightly read ``tok`` as one of ``options`` (exact, a unique-enough long
    prefix, or ``--opt=value``)."""
    if tok in options or tok == "--":
        return True
    if tok.startswith("--"):
        name = tok.split("=", 1)[0]
        return any(o.startswith(name) for o in options if o.startswith("--"))
    return False


def _protect_negative(argv: list, parser: argparse.ArgumentParser) -> list:
    """Let values start with '-': an expression such as '-log(1 - x**2)', or '-inf' after --domain.

    argparse reads any token that starts with '-' as an option. A token that is not one of the
    subcommand's options is a value; a leading space keeps it one (float() and the formula parser
    ignore surrounding blanks).
    """
    out = list(argv)
    subparsers = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    cmd = next((i for i, tok in enumerate(out) if not tok.startswith("-")), None)
    if subparsers is None or cmd is None or out[cmd] not in subparsers.choices:
        return out
    options = set(subparsers.choices[out[cmd]]._option_string_actions)
    for j in range(cmd + 1, len(out)):
        tok = out[j]
        if tok == "--":
            break
        if tok.startswith("-") and len(tok) > 1 and not _is_option(tok, options):
            out[j] = " " + tok
    return out


def _cmd_verify(args) -> int:
    from ..verify import verify

    rep = verify(args.regularizer.strip(), tuple(args.domain) if args.domain else None, spectral=args.spectral,
                 seed=args.seed, n_points=args.n_points, crosscheck=not args.no_crosscheck,
                 search=not args.no_search, require_strong=not args.allow_weak, route=args.route,
                 timeout=args.timeout)
    print(rep.format())
    if args.json:
        text = json.dumps(rep.to_dict(), indent=1, allow_nan=False)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as fh:
                fh.write(text + "\n")
    return 0 if rep.passed else 1


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
    parser = build_parser(_command_of(argv))
    try:
        args = parser.parse_args(_protect_negative(argv, parser))
    except SystemExit as exc:  # argparse has printed its usage message
        return int(exc.code or 0)
    try:
        if args.command in _PLUGGED:
            return getattr(import_module(_PLUGGED[args.command][1]), _PLUGGED[args.command][3])(args)
        return {"verify": _cmd_verify, "list": _cmd_list}[args.command](args)
    except (GeomrelaxError, ValueError, OSError) as exc:
        print(f"geomrelax {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
