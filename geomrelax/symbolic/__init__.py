"""User-defined regularizers from a formula: validation, and v*, grad v* by sympy or numerically.

``from_expr("1 - sqrt(1 - x**2)", domain=(-1, 1))`` turns a formula v(x) into a separable regularizer
V(x) = sum_i v(x_i) on the box [lo, hi]^d (an ExprRegularizer). The way there, one module each:

    parse.py        the formula text -> a sympy expression, by a whitelist walk over Python's syntax
                    tree: numbers, x, pi, E, + - * / ** ^, and named functions (sqrt, exp, log, Abs,
                    Max, ..., Piecewise); nothing in the text is executed, and sizes are bounded so that
                    reading any text takes microseconds. Domain ends given as text go the same way.
    validate.py     v real, finite, continuous (no jumps), v(0) = 0, convex, 0 the minimiser, and
                    mu = inf v'' (> 0 unless require_strong=False): each failure a clear error.
    pieces.py       the domain cut at the kinks of v (Abs, sign, Max, Min, Heaviside, Piecewise).
    derive.py       the symbolic route: v'(x) = s solved piece by piece, each branch verified at 120
                    digits, grad v* and v* assembled as Piecewise expressions.
    stabilize.py    float-safe equal forms of the closed forms, checked against 120-digit values.
    worker.py       time limits: the derivation runs in a worker process killed at its deadline
                    (then the numeric route is used, with the note "symbolic route stopped after T s");
                    soft limits for the validation's short sympy calls.
    lambdify.py     sympy expressions as numpy and torch functions.
    values.py       exact, high-precision and float values of sympy expressions.
    regularizer.py  ExprRegularizer and from_expr, which ties the above together and cross-checks a
                    closed form against the numeric route (geomrelax.numeric) before using it.

Names with a leading underscore are shared between these modules and are not part of the API.
mpmath's precision is global state: do not call from_expr from several threads at once.
"""

from .lambdify import lambdify_numpy, lambdify_torch, logcosh, softplus
from .parse import S, X, parse_formula, parse_number
from .regularizer import ROUTES, ExprRegularizer, from_expr

__all__ = ["ExprRegularizer", "from_expr", "X", "S", "lambdify_numpy", "lambdify_torch", "parse_formula",
           "parse_number", "softplus", "logcosh", "ROUTES"]
