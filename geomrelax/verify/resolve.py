"""What verify checks: a Regularizer or a built-in name (geomrelax.regularizers.as_regularizer, the one
resolver) or a formula in x (geomrelax.from_expr, which parses it as data).
"""

from __future__ import annotations

from ..errors import InvalidRegularizerError
from ..regularizers import BUILTIN_NAMES, Regularizer, as_regularizer
from ..spectral import Spectral


def resolve(V, domain=None, spectral: bool = False, require_strong: bool = True, route: str = "auto",
            timeout: float = 20.0) -> Regularizer:
    """The Regularizer that ``verify`` checks: a Regularizer or a built-in name (as_regularizer), or an
    expression in x (from_expr, with ``domain``, ``route`` and ``timeout``); ``spectral=True`` lifts it to
    matrices."""
    if isinstance(V, str) and V not in BUILTIN_NAMES:
        R = _from_formula(V, domain, require_strong, route, timeout)
    else:
        if domain is not None:
            raise InvalidRegularizerError(
                f"domain={tuple(domain)!r} only applies to an expression, not to {V!r}; a built-in or a "
                "Regularizer has its own domain")
        R = as_regularizer(V)
    if spectral and not isinstance(R, Spectral):
        R = Spectral(R)
    return R


def _from_formula(text: str, domain, require_strong: bool, route: str, timeout: float) -> Regularizer:
    if not text.strip():
        raise InvalidRegularizerError("empty regularizer name or expression")
    if text.strip().isidentifier() and text.strip() != "x":
        raise InvalidRegularizerError(
            f"unknown regularizer {text!r}: not a built-in ({', '.join(BUILTIN_NAMES)}) and not an expression in x")
    try:
        from ..symbolic import from_expr
    except ImportError as exc:
        raise InvalidRegularizerError(
            f"{text!r} is not a built-in ({', '.join(BUILTIN_NAMES)}) and expressions need "
            f"geomrelax.symbolic, which is not available ({exc})") from None
    kw = {"require_strong": require_strong, "route": route, "timeout": timeout}
    return from_expr(text, domain=tuple(domain), **kw) if domain is not None else from_expr(text, **kw)
