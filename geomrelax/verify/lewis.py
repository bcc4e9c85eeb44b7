"""Spectral lifts (Lewis): grad F* by the SVD formula against central differences of F*, and the SVD-free
smoothed polar factor of the spectral algebraic regularizer.
"""

from __future__ import annotations

import math

import numpy as np

from ..regularizers import SeparableRegularizer
from ..spectral import smoothed_polar
from .geometry import MATRIX_SHAPE, TOL, ULPS, _rand_m
from .results import CheckResult, _skip
from .runner import _ratio


def _check_lewis_fd(geo, rng, n):
    name = "lewis_grad_fd"
    V = geo.V
    mu = V.mu
    shapes = [MATRIX_SHAPE, MATRIX_SHAPE[::-1]]
    R2 = geo.radius2() if V.bounded else math.inf
    worst, total = None, 0
    for shape in shapes:
        for _ in range(max(2, n // 16)):
            y = geo.rand_y(rng, 1, shape)[0]
            f0 = float(geo.conj(y[None])[0])
            G = geo.grad_conj(y[None])[0]
            ny = float(np.linalg.norm(y))
            gbound = min(R2, ny / mu) if mu > 0 else R2  # ||grad F*(Y)|| <= sup_D ||X|| and <= ||Y||/mu
            # F* through an SVD: backward error ~eps ||Y|| moves F* by <= ||grad F*|| eps ||Y||
            dF = TOL * (1 + abs(f0) + gbound * ny)
            if mu > 0:
                h = math.sqrt(2 * dF * mu)  # minimises L h/2 + dF/h with L = 1/mu
            else:
                h = 1e-5 * max(ny, 1.0)

            def cd(step):
                D = np.zeros_like(y)
                for k in range(y.size):
                    E = np.zeros_like(y)
                    E.flat[k] = step
                    D.flat[k] = (float(geo.conj((y + E)[None])[0]) - float(geo.conj((y - E)[None])[0])) / (2 * step)
                return D

            D = cd(h)
            if mu > 0:
                # F* is (1/mu)-smooth: |central difference - derivative| <= h/(2 mu); rounding dF/h
                allow = h / (2 * mu) + dF / h
                how = "bound h/(2 mu) + rounding/h"
            else:
                # no smoothness constant: truncation estimated by Richardson, |D(h) - D(2h)|/3, with 4x slack
                allow = 4 * float(np.max(np.abs(D - cd(2 * h)))) / 3 + dF / h
                how = "Richardson estimate (mu = 0) + rounding/h"
            r = float(np.max(np.abs(D - G)))
            total += 1
            q = r / allow if allow > 0 else (0 if r == 0 else np.inf)
            if worst is None or q > worst[0]:
                worst = (q, r, allow, {"Y": y, "h": h, "grad_svd": G, "grad_fd": D}, how)
    q, r, a, point, how = worst
    return CheckResult(name, "fail" if q > 1 else "pass", max(r, 0.0), a, point if q > 1 else None,
                       f"grad F* (SVD formula) vs central differences of F*(Y) = f*(sigma(Y)); tolerance: {how}",
                       n_points=total)


def _is_algebraic(base) -> bool:
    """Whether base is (numerically) v(x) = 1 - sqrt(1 - x^2) on [-1, 1]: the map of smoothed_polar."""
    if not isinstance(base, SeparableRegularizer) or (base.domain.lo, base.domain.hi) != (-1.0, 1.0):
        return False
    x = np.linspace(-1, 1, 101)
    with np.errstate(all="ignore"):
        v = np.asarray(base.elementwise(x), float)
    return bool(np.all(np.abs(v - x * x / (1 + np.sqrt(1 - x * x))) <= TOL))


def _check_lewis_polar(geo, rng, n):
    name = "lewis_smoothed_polar"
    if not _is_algebraic(geo.base):
        return _skip(name, "smoothed_polar is grad F* of the algebraic (circle) regularizer only")
    worst, total = None, 0
    for shape in (MATRIX_SHAPE, MATRIX_SHAPE[::-1], (4, 4)):
        M = _rand_m(geo, rng, max(4, n // 8)) if shape == MATRIX_SHAPE else rng.standard_normal((4,) + shape)
        for tau in (0.1, 1.0, 10.0, 100.0):
            G = geo.grad_conj(tau * M)
            P = smoothed_polar(M, tau, method="eigh")
            r = geo.fro(G - P)
            # eigh of M^T M: error eps||M||^2 in the eigenvalues, amplified by the derivative tau^3/2 of
            # (lambda + tau^-2)^(-1/2), times ||M||: (tau ||M||)^3 eps
            s = np.linalg.svd(M, compute_uv=False).max(-1)
            a = TOL * (1 + (tau * s) ** 3)
            q = _ratio(r, a)
            total += len(q)
            i = int(np.argmax(q))
            if worst is None or q[i] > worst[0]:
                worst = (q[i], float(r[i]), float(a[i]), {"M": M[i], "tau": tau})
    q, r, a, point = worst
    return CheckResult(name, "fail" if q > 1 else "pass", max(r, 0.0), a, point if q > 1 else None,
                       "grad F*(tau M) vs M (M^T M + tau^-2 I)^(-1/2) (eigh), tau 0.1..100; "
                       f"{ULPS} eps (1 + (tau||M||)^3)",
                       n_points=total)
