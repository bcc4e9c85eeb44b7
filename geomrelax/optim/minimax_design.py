"""Greedy minimax odd-polynomial designs for the minimax smoothed polar map (geomrelax.optim.spectral_maps).

A design is a list of odd polynomials p_k(x) = x R_k(x^2), R_k(g) = sum_j c_kj g^j, whose composition
phi = p_{K-1} o ... o p_0 stays within E of 1 on [floor, 1]. Step k is the minimax odd polynomial of
its degree (3, 5, 7 or 9) approximating 1 on [lo_k, (1 + safety)] (Remez exchange, as in the Polar
Express construction of Amsel et al. 2025); every step but the last is divided by 1 + E_k, so that
its image ends at 1 and lo_{k+1} = (1 - E_k) / (1 + E_k). The safety margin covers rounding that
pushes a singular value a little above 1 between steps: without it the steep early steps send
x = 1.05 to infinity within a few steps (measured), which a half-precision iteration reaches.

The coefficients c_kj are the tuples the maps evaluate: (a, b, c) for a quintic, as Muon's NS5.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import GeomrelaxError
from ..updates import NS5_COEFFICIENTS as MUON_QUINTIC

# The classical quintic Newton-Schulz (order-3 convergence at 1) for intervals too close to [1, 1]
# for the Remez solve; the greedy design hands it over only once E is far below float32 resolution.
_NEWTON_QUINTIC = (15 / 8, -10 / 8, 3 / 8)
DEGREES = (3, 5, 7, 9)


def remez_odd(lo: float, degree: int = 5):
    """Minimax odd polynomial of ``degree`` approximating 1 on [lo, 1]: (coefficients of R in g = x^2, E).

    Equioscillation at lo, the d = (degree - 1) / 2 interior critical points and 1; the critical points
    are the roots in (lo, 1) of p'(x), a polynomial of degree d in x^2, so each exchange is exact.
    """
    if degree not in DEGREES:
        raise GeomrelaxError(f"degree must be one of {DEGREES}, got {degree!r}")
    d = (degree - 1) // 2
    n = d + 2
    sign = (-1.0) ** (np.arange(n) + 1)
    x = lo + (1 - lo) * (1 - np.cos(np.pi * np.arange(n) / (n - 1))) / 2  # Chebyshev extrema on [lo, 1]
    powers = 2 * np.arange(d + 1) + 1
    for _ in range(200):
        sol = np.linalg.solve(np.stack([x ** p for p in powers] + [-sign], 1), np.ones(n))
        c, E = sol[:-1], sol[-1]
        y = np.roots((powers * c)[::-1])
        y = np.sort(np.real(y[np.isreal(y) & (np.real(y) > lo * lo) & (np.real(y) < 1.0)]))
        if y.size != d:
            raise GeomrelaxError(f"minimax design failed on [{lo}, 1]: p' has {y.size} critical points, not {d}")
        x_new = np.concatenate([[lo], np.sqrt(y), [1.0]])
        done = np.allclose(x_new, x, rtol=1e-13, atol=0.0)
        x = x_new
        if done:
            break
    else:
        raise GeomrelaxError(f"minimax design on [{lo}, 1] did not converge")
    if not (np.all(np.diff(x) > 0) and 0 < E < 1):
        raise GeomrelaxError(f"minimax design on [{lo}, 1] is degenerate (points {x}, error {E})")
    return tuple(float(v) for v in c), float(E)


@functools.lru_cache(maxsize=128)
def _design(floor: float, degrees: tuple, safety: float, lead: int):
    coeffs = [MUON_QUINTIC] * lead
    lo, top, E = floor, 1.0, 1.0
    if lead:
        # the image of [floor, 1 + safety] under the leading NS5 steps (not monotone: a dense grid)
        y = gain(np.geomspace(floor, 1.0 + safety, 20001), coeffs)
        lo, top = float(y.min()) * (1 - 1e-6), float(y.max()) * (1 + 1e-6)
    for k, degree in enumerate(degrees[lead:]):
        s = top * (1.0 + safety) if k == 0 else 1.0 + safety
        try:
            if 1.0 - lo / s < 1e-6:
                raise GeomrelaxError("interval too close to [1, 1] for the Remez solve")
            c, E = remez_odd(lo / s, degree)
            c = tuple(cj / s ** (2 * j + 1) for j, cj in enumerate(c))  # p(x) = q(x / s)
        except GeomrelaxError:  # near 1 the exchange stalls (seen at lo = 0.998): Newton's quintic is then ample
            c = _NEWTON_QUINTIC
            E = max(1.0 - float(gain(lo, [c])), float(gain(s, [c])) - 1.0)
        if k < len(degrees) - lead - 1:
            c = tuple(cj / (1 + E) for cj in c)
            lo = (1 - E) / (1 + E)
        coeffs.append(c)
    return tuple(coeffs), E


def design(floor: float, degrees, safety: float = 0.0, lead: int = 0):
    """The greedy design for [floor, 1]: (coefficients per step, E) with |phi - 1| <= E on [floor, 1].

    ``degrees``: an int K (K quintics) or a sequence of odd degrees in DEGREES. ``lead``: the first
    ``lead`` steps are Muon's NS5 quintic (3.4445, -4.7750, 2.0315) instead of greedy ones, and the
    greedy steps start from their image of [floor, 1 + safety]. Cached.

    Why lead: in half precision the rounding of X X^T (2^-9 relative) enters each step multiplied by
    about |b| + 2|c|, 25 for a greedy first step from floor 2e-2 against 8.8 for NS5's, and it acts as
    an input perturbation that later steps do not undo (they correct singular values, not directions):
    two NS5 steps first cut the worst bfloat16 error from 0.11 to 0.04 (300 random 4..48 inputs).
    """
    floor = float(floor)
    if not (0.0 < floor < 1.0):
        raise GeomrelaxError(f"floor must lie in (0, 1), got {floor!r}")
    if isinstance(degrees, (int, np.integer)) and not isinstance(degrees, bool):
        if degrees < 1:
            raise GeomrelaxError(f"steps must be an integer >= 1, got {degrees!r}")
        degrees = (5,) * int(degrees)
    degrees = tuple(int(d) for d in degrees)
    if not degrees or any(d not in DEGREES for d in degrees):
        raise GeomrelaxError(f"degrees must be a non-empty sequence of {DEGREES}, got {degrees!r}")
    if not (0.0 <= safety < 1.0):
        raise GeomrelaxError(f"safety must lie in [0, 1), got {safety!r}")
    if not (0 <= lead < len(degrees)) or any(d != 5 for d in degrees[:lead]):
        raise GeomrelaxError(f"lead must be in [0, {len(degrees)}) and cover quintic steps, got {lead!r}")
    return _design(floor, degrees, float(safety), int(lead))


def gain(x, coeffs):
    """phi(x): the composition of the odd polynomials x -> x R_k(x^2), in float64."""
    x = np.asarray(x, dtype=np.float64)
    for c in coeffs:
        g = x * x
        r = np.zeros_like(g)
        for cj in reversed(c):
            r = r * g + cj
        x = x * r
    return x


_FLOOR_GRID = 2.0 ** 0.25  # lower ends above the floor are snapped down to this grid, so designs are cached


def plan(floor: float, degrees, xmin: float = 0.0, safety: float = 0.0, max_quintics: int | None = None,
         error: float = 0.0, lead: int = 0):
    """The coefficients to use when every x = sqrt(g) is >= xmin.

    The shift alone gives g >= tau^-2 / c, so for small tau the spectrum starts far above ``floor``:
    then the fewest quintics designed on [lo, 1] whose error is at most max(E(floor, degrees), error)
    are used (lo = xmin snapped down to floor * 2^(k/4), k >= 0), if there are at most ``max_quintics``
    of them (default: one fewer than the design's steps, so the plan never costs more). Otherwise the
    design. ``error``: a target above E where the design overshoots what the dtype resolves.
    """
    coeffs, E = design(floor, degrees, safety, lead)
    E = max(E, error)
    if max_quintics is None:
        max_quintics = len(coeffs) - 1
    if not xmin >= floor * _FLOOR_GRID:
        return coeffs
    lo = min(floor * _FLOOR_GRID ** math.floor(math.log(xmin / floor, _FLOOR_GRID)), 0.5)
    for s in range(1, max_quintics + 1):
        c, e = design(lo, s, safety, min(lead, s - 1))
        if e <= E:
            return c
    return coeffs
