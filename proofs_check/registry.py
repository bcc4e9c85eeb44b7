"""The registry of shipped claims and the batch runner ``check_all``.

Filters (``ids``, ``tags``, ``sources``) are lists of patterns: a pattern with a glob character
(* ? [) must match the whole field (fnmatch, case-insensitive); otherwise it is a case-insensitive
substring. A claim is kept when it matches at least one pattern of every filter that is given
(for tags: at least one of its tags matches).
"""

from __future__ import annotations

import fnmatch
from importlib import import_module

from .checker import check
from .claim import Claim, ClaimError

# one module per family of claims; each has claims() -> list[Claim]
FAMILIES = ("identities", "limits", "sandwich", "updates", "descent", "newton_schulz", "schedule", "rates",
            "norms", "variants")


def all_claims() -> list:
    """Every shipped claim, in a stable order (ids are unique)."""
    out = []
    for fam in FAMILIES:
        out += import_module(f"proofs_check.claims.{fam}").claims()
    ids = [c.id for c in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ClaimError(f"duplicate claim ids: {dup}")
    return out


def _patterns(p, what):
    if p is None:
        return None
    if isinstance(p, str):
        p = [p]
    p = list(p)
    if not all(isinstance(x, str) and x for x in p):
        raise ClaimError(f"{what} filter must be non-empty strings, got {p!r}")
    return p


def _match(text: str, pattern: str) -> bool:
    t, q = text.lower(), pattern.lower()
    if any(ch in q for ch in "*?["):
        return fnmatch.fnmatchcase(t, q)
    return q in t


def select(claims, ids=None, tags=None, sources=None) -> list:
    """The claims that pass every given filter (see the module doc)."""
    ids, tags, sources = _patterns(ids, "id"), _patterns(tags, "tag"), _patterns(sources, "source")
    out = []
    for c in claims:
        if ids and not any(_match(c.id, p) for p in ids):
            continue
        if tags and not any(_match(t, p) for t in c.tags for p in tags):
            continue
        if sources and not any(_match(c.source, p) for p in sources):
            continue
        out.append(c)
    return out


def check_all(claims=None, seed: int = 0, budget_s=None, ids=None, tags=None, sources=None,
              progress=None) -> list:
    """Verdicts of the given claims (default: all_claims()) after the filters, in order.

    ``budget_s`` (seconds per claim) overrides each claim's own budget; ``progress`` is called
    with each Verdict as it is ready.
    """
    claims = all_claims() if claims is None else list(claims)
    for c in claims:
        if not isinstance(c, Claim):
            raise ClaimError(f"check_all needs Claim objects, got {type(c).__name__}")
    verdicts = []
    for c in select(claims, ids, tags, sources):
        v = check(c, seed=seed, budget_s=budget_s)
        verdicts.append(v)
        if progress is not None:
            progress(v)
    return verdicts
