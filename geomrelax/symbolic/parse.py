"""Formula text -> sympy expression, as data: a whitelist walk over Python's syntax tree.

A formula is read with ``ast.parse(text, mode="eval")`` and the tree is translated node by node into
a sympy expression; nothing in the text is ever executed, imported or looked up in a namespace.
Accepted, and nothing else:

    numbers           integer and decimal literals (0.3 is read as 3/10, the decimal it prints as)
    the variable      x
    constants         pi, E
    operators         + - * / ** (and ^ as power), unary + -
    functions         f(a, ...) for f in FUNCTIONS below, positional arguments only
    Piecewise         Piecewise((expr, cond), ..., (expr, True)) with conditions built from
                      < <= > >= (chains allowed), &, |, ~, and, or, not, True, False

Everything else (attribute access, subscripts, strings, keywords, starred arguments, lambdas,
comprehensions, walrus, f-strings, any other name) is refused with an InvalidRegularizerError that
names the offending token. Sizes are bounded so that reading a formula takes microseconds whatever
the input: at most MAX_CHARS characters, MAX_NODES syntax nodes, nesting depth MAX_DEPTH, integer
literals of at most MAX_DIGITS digits, and a power b**e of numbers only when the result has at most
MAX_POWER_DIGITS decimal digits in magnitude (|e| log10|b| <= MAX_POWER_DIGITS), a power of an
expression in x only for |e| <= MAX_EXPONENT. Nothing is evaluated eagerly beyond those bounds.

Some functions are read as the equal elementary form, so that sympy can differentiate them:
log1p(u) = log(1 + u), softplus(u) = log(1 + exp(u)), logcosh(u) = log(cosh(u)), and cbrt(u) is
the real cube root sign(u) |u|^(1/3). sign, Heaviside, floor and ceiling are read, and the
validation refuses them where they make v jump.

Domain ends are read by :func:`parse_number`: numbers, inf, oo (either sign), pi, E and their
arithmetic (``"-inf"``, ``"1/2"``, ``"pi/4"``).
"""

from __future__ import annotations

import ast
import math
from typing import Callable

import mpmath
import sympy

from ..errors import DomainError, InvalidRegularizerError

__all__ = ["parse_formula", "parse_number", "X", "S", "FUNCTIONS", "CONSTANTS"]

X = sympy.Symbol("x", real=True)  # the formula's variable
S = sympy.Symbol("s", real=True)  # the conjugate's variable: grad v*(s), v*(s)

MAX_CHARS = 2000
MAX_NODES = 600
MAX_DEPTH = 60
MAX_DIGITS = 100
MAX_POWER_DIGITS = 1000
MAX_EXPONENT = 1000

CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
_INFINITIES = {"inf": sympy.oo, "oo": sympy.oo}


def _log(*args):
    if len(args) not in (1, 2):
        raise TypeError("log takes 1 argument (or 2: log(u, base))")
    return sympy.log(*args)


def _real_cbrt(u):
    return sympy.sign(u) * sympy.Abs(u) ** sympy.Rational(1, 3)


def _unary(f: Callable) -> Callable:
    def call(*args):
        if len(args) != 1:
            raise TypeError(f"takes 1 argument, got {len(args)}")
        return f(args[0])

    return call


def _many(f: Callable) -> Callable:
    def call(*args):
        if not args:
            raise TypeError("takes at least 1 argument")
        return f(*args)

    return call


FUNCTIONS = {
    "sqrt": _unary(sympy.sqrt), "exp": _unary(sympy.exp), "log": _log,
    "log1p": _unary(lambda u: sympy.log(1 + u)),
    "sin": _unary(sympy.sin), "cos": _unary(sympy.cos), "tan": _unary(sympy.tan),
    "sinh": _unary(sympy.sinh), "cosh": _unary(sympy.cosh), "tanh": _unary(sympy.tanh),
    "asin": _unary(sympy.asin), "acos": _unary(sympy.acos), "atan": _unary(sympy.atan),
    "asinh": _unary(sympy.asinh), "acosh": _unary(sympy.acosh), "atanh": _unary(sympy.atanh),
    "Abs": _unary(sympy.Abs), "abs": _unary(sympy.Abs),
    "Max": _many(sympy.Max), "max": _many(sympy.Max), "Min": _many(sympy.Min), "min": _many(sympy.Min),
    "cbrt": _unary(_real_cbrt),
    "softplus": _unary(lambda u: sympy.log(1 + sympy.exp(u))),
    "logcosh": _unary(lambda u: sympy.log(sympy.cosh(u))),
    # discontinuous: read here, refused by the validation where v jumps
    "sign": _unary(sympy.sign), "Heaviside": _unary(sympy.Heaviside),
    "floor": _unary(sympy.floor), "ceiling": _unary(sympy.ceiling),
}
_ALLOWED_TEXT = "x, pi, E and the functions " + ", ".join(sorted(FUNCTIONS)) + ", Piecewise"

_BINARY = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_COMPARE = {ast.Lt: sympy.Lt, ast.LtE: sympy.Le, ast.Gt: sympy.Gt, ast.GtE: sympy.Ge}
_OP_TEXT = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
            ast.BitAnd: "&", ast.BitOr: "|", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not",
            ast.In: "in", ast.NotIn: "not in", ast.Invert: "~", ast.Not: "not"}

# node kinds refused outright, with the words the message uses
_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.NamedExpr: "assignment expression ':='", ast.JoinedStr: "f-string", ast.FormattedValue: "f-string",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.Starred: "starred argument", ast.Dict: "dict", ast.Set: "set",
    ast.List: "list", ast.IfExp: "conditional expression 'if ... else'", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slice",
}


class _Refused(Exception):
    """One offending token; turned into the caller's error class with the formula attached."""


def _token(node: ast.AST, text: str) -> str:
    seg = ast.get_source_segment(text, node) or type(node).__name__
    return seg if len(seg) <= 60 else seg[:57] + "..."


def _digits(value: int) -> int:
    # a bound on the decimal digits without converting (str() of a huge int is itself slow)
    return max(1, math.ceil(value.bit_length() * math.log10(2)))


def _log10_abs(value) -> float:
    """log10 |value| for a sympy number (the larger of its real and imaginary parts), from bit
    lengths for rationals and from mpmath's unbounded exponent otherwise (no float overflow);
    nan where it is not a number sympy can evaluate."""
    if value.is_Rational:
        p, q = int(value.p), int(value.q)
        if p == 0:
            return -math.inf
        return (abs(p).bit_length() - abs(q).bit_length()) * math.log10(2)
    try:
        parts = value.evalf(15).as_real_imag()
        mags = [mpmath.log10(abs(mpmath.mpf(part._mpf_))) for part in parts
                if isinstance(part, sympy.Float) and part != 0]
    except (TypeError, ValueError, AttributeError, ArithmeticError):
        return math.nan
    if not mags:
        zero = all(part == 0 for part in parts)
        return -math.inf if zero else math.nan
    return float(max(mags))


class _Reader:
    """The whitelist walk: one instance per text; ``names`` is what a plain Name may be."""

    def __init__(self, text: str, names: dict, allowed: str, piecewise: bool):
        self.text = text
        self.names = names
        self.allowed = allowed
        self.piecewise_ok = piecewise

    def refuse(self, node, what: str):
        raise _Refused(f"{what} {_token(node, self.text)!r} is not allowed (allowed: {self.allowed})")

    # -- expressions ----------------------------------------------------------------------------------
    def expr(self, node):
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            raise _Refused(f"name {node.id!r} is not allowed (allowed: {self.allowed})")
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.expr(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand)
            self.refuse(node, f"operator {_OP_TEXT.get(type(node.op), type(node.op).__name__)!r} in")
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            raise _Refused(f"the formula is not an expression: the comparison {_token(node, self.text)!r} is "
                           "only allowed as a Piecewise condition")
        if isinstance(node, ast.Tuple):
            self.refuse(node, "tuple")
        self.refuse(node, _REFUSED.get(type(node), type(node).__name__))

    def constant(self, node):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            kind = {str: "string", bytes: "bytes", complex: "complex number", bool: "boolean"}.get(type(v), "constant")
            self.refuse(node, kind)
        if isinstance(v, int):
            if _digits(v) > MAX_DIGITS:
                raise _Refused(f"integer literal with {_digits(v)} digits is too long (at most {MAX_DIGITS})")
            return sympy.Integer(v)
        if not math.isfinite(v):
            raise _Refused(f"number {_token(node, self.text)!r} is not finite in float64")
        # the decimal the float prints as (0.3 -> 3/10): exact, and the same float when converted back
        return sympy.Integer(int(v)) if v.is_integer() else sympy.Rational(repr(v))

    def binop(self, node):
        op = type(node.op)
        if op is ast.Pow:
            return self.power(node, self.expr(node.left), self.expr(node.right))
        if op not in _BINARY:
            self.refuse(node, f"operator {_OP_TEXT.get(op, op.__name__)!r} in")
        return self.bounded(node, self.build(node, _BINARY[op], self.expr(node.left), self.expr(node.right)))

    def power(self, node, base, exp):
        if exp.is_number:
            if not exp.is_finite:
                raise _Refused(f"exponent in {_token(node, self.text)!r} is not finite")
            size = abs(_log10_abs(exp))
            if base.is_number:
                # b**e has about |e| log10|b| digits (or leading zeros): refuse what cannot be written
                # down, before sympy tries (9**9**9 would take minutes and gigabytes)
                lb = _log10_abs(base)
                mag = (10.0 ** min(size, 300.0) if math.isfinite(size) else math.inf) * abs(lb) \
                    if lb not in (0.0, -math.inf) and not math.isnan(lb) else 0.0
                if mag > MAX_POWER_DIGITS:
                    raise _Refused(f"the power {_token(node, self.text)!r} is too large: a number of about "
                                   f"{mag:.3g} digits (at most {MAX_POWER_DIGITS})")
            elif size > math.log10(MAX_EXPONENT):
                raise _Refused(f"the exponent in {_token(node, self.text)!r} is too large (|exponent| <= "
                               f"{MAX_EXPONENT} for a power of an expression in x)")
        return self.bounded(node, self.build(node, sympy.Pow, base, exp))

    def call(self, node):
        if not isinstance(node.func, ast.Name):
            what = "attribute access" if isinstance(node.func, ast.Attribute) else "call of"
            self.refuse(node.func, what)
        name = node.func.id
        if node.keywords:
            kw = node.keywords[0]
            raise _Refused(f"keyword argument {(kw.arg or '**') + '='!r} in {name}(...) is not allowed "
                           "(positional arguments only)")
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.refuse(a, "starred argument")
        if name == "Piecewise" and self.piecewise_ok:
            return self.piecewise(node)
        if name not in FUNCTIONS:
            raise _Refused(f"unknown function {name!r} is not allowed (allowed: {self.allowed})")
        args = [self.expr(a) for a in node.args]
        return self.bounded(node, self.build(node, FUNCTIONS[name], *args))

    def build(self, node, fn, *args):
        """fn(*args), with sympy's refusals (wrong argument count, Max of a complex number, a
        comparison of non-real numbers) turned into one naming the token."""
        try:
            return fn(*args)
        except (TypeError, ValueError, ArithmeticError) as err:
            raise _Refused(f"{_token(node, self.text)!r} cannot be formed: {err}") from None

    def bounded(self, node, value):
        """``value`` if it depends on x or is a number of at most MAX_POWER_DIGITS decimal digits in
        magnitude (either way: 1e-1000 is as hard to print as 1e1000). Checked at every node, bottom
        up, so each evaluation here is of a number built from bounded parts: exp(-exp(10**10)) is
        refused at exp(10**10), before anything tries to evaluate the outer exp."""
        if value.free_symbols or not value.is_number:
            return value
        mag = _log10_abs(value)
        if math.isfinite(mag) and abs(mag) > MAX_POWER_DIGITS:
            raise _Refused(f"the number {_token(node, self.text)!r} is too large or too small: about "
                           f"10^{mag:.3g} (at most {MAX_POWER_DIGITS} digits either way)")
        return value

    def piecewise(self, node):
        pairs = []
        for a in node.args:
            if not (isinstance(a, ast.Tuple) and len(a.elts) == 2):
                raise _Refused(f"Piecewise takes (expression, condition) pairs, got {_token(a, self.text)!r}")
            pairs.append((self.expr(a.elts[0]), self.cond(a.elts[1])))
        if not pairs:
            raise _Refused("Piecewise needs at least one (expression, condition) pair")
        return self.build(node, sympy.Piecewise, *pairs)

    # -- conditions (only inside Piecewise) ------------------------------------------------------------------
    def cond(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return sympy.true if node.value else sympy.false
        if isinstance(node, ast.Compare):
            terms = [self.expr(node.left)] + [self.expr(c) for c in node.comparators]
            rels = []
            for op, a, b in zip(node.ops, terms[:-1], terms[1:]):
                if type(op) not in _COMPARE:
                    self.refuse(node, f"comparison {_OP_TEXT.get(type(op), type(op).__name__)!r} in")
                rels.append(self.build(node, _COMPARE[type(op)], a, b))
            return sympy.And(*rels) if len(rels) > 1 else rels[0]
        if isinstance(node, ast.BoolOp):
            parts = [self.cond(v) for v in node.values]
            return sympy.And(*parts) if isinstance(node.op, ast.And) else sympy.Or(*parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            a, b = self.cond(node.left), self.cond(node.right)
            return sympy.And(a, b) if isinstance(node.op, ast.BitAnd) else sympy.Or(a, b)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert)):
            return sympy.Not(self.cond(node.operand))
        raise _Refused(f"{_token(node, self.text)!r} is not a condition (use <, <=, >, >=, &, |, True)")


def _tree(text: str, what: str) -> ast.AST:
    """The syntax tree of ``text`` after the size checks (length, node count, depth)."""
    if len(text) > MAX_CHARS:
        raise _Refused(f"the {what} has {len(text)} characters (at most {MAX_CHARS})")
    if "\x00" in text:
        raise _Refused(f"the {what} contains a NUL character")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise _Refused(f"cannot parse the {what}: {err.msg}") from None
    except (RecursionError, MemoryError):  # pathological nesting the parser itself refuses
        raise _Refused(f"cannot parse the {what}: it is nested too deeply") from None
    except ValueError as err:  # e.g. an integer literal beyond Python's conversion limit
        raise _Refused(f"cannot parse the {what}: {err}") from None
    # depth and size without recursion (the limit must hold before anything recursive runs)
    stack, count = [(tree.body, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise _Refused(f"the {what} is too large (more than {MAX_NODES} syntax nodes)")
        if depth > MAX_DEPTH:
            raise _Refused(f"the {what} is nested too deeply (more than {MAX_DEPTH} levels)")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


def _first_offence(tree: ast.AST, text: str, allowed: str):
    """Refuse, before translating, the most telling offence anywhere in the tree, in this order: a
    dunder name (``__import__('os').system(...)`` is refused for ``__import__``, not for ``.system``);
    the leftmost construct that is never allowed (attribute, subscript, lambda, keyword, ...); an
    unknown function (``exec('...')`` for ``exec``); a string, bytes or complex literal."""
    dunder = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id.startswith("_")]
    if dunder:
        raise _Refused(f"name {dunder[0].id!r} is not allowed (allowed: {allowed})")

    def leftmost(nodes):
        return min(nodes, key=lambda b: (getattr(b[0], "lineno", 0), getattr(b[0], "col_offset", 0)))

    constructs = [(n, _REFUSED[type(n)]) for n in ast.walk(tree) if type(n) in _REFUSED]
    constructs += [(n, "keyword argument") for n in ast.walk(tree) if isinstance(n, ast.keyword)]
    if constructs:
        node, what = leftmost(constructs)
        raise _Refused(f"{what} {_token(node, text)!r} is not allowed (allowed: {allowed})")
    unknown = [(n.func, "") for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
               and n.func.id not in FUNCTIONS and n.func.id != "Piecewise"]
    if unknown:
        raise _Refused(f"unknown function {leftmost(unknown)[0].id!r} is not allowed (allowed: {allowed})")
    kinds = {str: "string", bytes: "bytes", complex: "complex number"}
    literals = [(n, kinds[type(n.value)]) for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and type(n.value) in kinds]
    if literals:
        node, what = leftmost(literals)
        raise _Refused(f"{what} {_token(node, text)!r} is not allowed (allowed: {allowed})")


def parse_formula(text: str) -> sympy.Expr:
    """The sympy expression of a formula in x (see the module docstring for what is accepted).

    Raises InvalidRegularizerError naming the offending token for anything outside the whitelist, and
    for empty, unparsable or oversized text. Never executes the text.
    """
    if not isinstance(text, str):
        raise InvalidRegularizerError(f"formula must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise InvalidRegularizerError("empty formula: give v as an expression in x, e.g. 'x**2/2'")
    names = {"x": X, **CONSTANTS}
    try:
        stripped = stripped.replace("^", "**")  # '^' is a power with the precedence of '**'
        tree = _tree(stripped, "formula")
        _first_offence(tree, stripped, _ALLOWED_TEXT)
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        others = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in names
                         and id(n) not in called})
        if others:
            raise _Refused(f"name {others[0]!r} is not allowed: the formula has symbols other than x: "
                           f"{', '.join(others)}; v must be a function of x alone (substitute numbers for the "
                           f"parameters; allowed: {_ALLOWED_TEXT})")
        e = _Reader(stripped, names, _ALLOWED_TEXT, piecewise=True).expr(tree.body)
    except _Refused as why:
        raise InvalidRegularizerError(f"formula {_shown(stripped)}: {why}") from None
    if not isinstance(e, sympy.Expr):
        raise InvalidRegularizerError(f"formula {_shown(stripped)} is not an expression (got {type(e).__name__})")
    return e


def _shown(text: str) -> str:
    return repr(text if len(text) <= 120 else text[:117] + "...")


_NUMBER_NAMES = {**CONSTANTS, **_INFINITIES}
_NUMBER_ALLOWED = "numbers, inf, oo, pi, E, + - * / ** and the functions " + ", ".join(sorted(FUNCTIONS))


def parse_number(text: str):
    """A domain end given as text, as an exact sympy number or +-oo: numbers, ``inf``/``oo`` (either sign),
    ``pi``, ``E``, and their arithmetic (``"-inf"``, ``"1/2"``, ``"pi/4"``). Raises DomainError naming
    the offending token; never executes the text."""
    stripped = text.strip()
    if not stripped:
        raise DomainError("domain end '' is empty: give a number such as -1, 0.5, inf")
    try:
        stripped = stripped.replace("^", "**")
        tree = _tree(stripped, "domain end")
        _first_offence(tree, stripped, _NUMBER_ALLOWED)
        v = _Reader(stripped, _NUMBER_NAMES, _NUMBER_ALLOWED, piecewise=False).expr(tree.body)
    except _Refused as why:
        raise DomainError(f"domain end {text!r} is not a real number: {why}") from None
    return v
