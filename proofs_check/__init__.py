"""proofs_check: the identities, lemmas and stated bounds of the theory as claim objects.

A claim is "margin(z) <= 0 for every admissible input z". ``check`` hunts for a violation (random
inputs, edge cases, then a local search from the worst points), re-evaluates any candidate in 30-
and 60-digit arithmetic (or against the claim's derived rounding allowance) and returns a Verdict:
holds (with the effort and the worst margin), violated (with a counterexample that re-evaluates as
a violation) or inconclusive (with the reason). Bounds carry their theoretical value beside the
measured one, in the style of PEPit.

    from proofs_check import Claim, check
    c = Claim(id="lncosh-quadratic", source="textbook",
              sample=lambda rng: rng.normal(0, 5, size=1),
              margin=lambda z: np.log(np.cosh(z[0])) - z[0]**2 / 2)
    v = check(c, seed=0, budget_s=10)      # v.status, v.worst_margin, v.counterexample

``reevaluate(claim, v.counterexample)`` evaluates a counterexample again (float64, allowance,
60 digits). ``all_claims()`` lists the shipped claims, ``check_all(...)`` checks them (with filters), and
``geomrelax claims`` is the command line (proofs_check.cli). It depends on the core
(:mod:`geomrelax`) and on :mod:`synthetic` for the rate claims; the core never imports it.
"""

from .checker import check, reevaluate
from .claim import Claim, ClaimError, Verdict
from .registry import all_claims, check_all, select

__all__ = ["Claim", "ClaimError", "Verdict", "all_claims", "check", "check_all", "reevaluate", "select"]
