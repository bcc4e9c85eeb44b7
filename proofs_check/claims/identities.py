"""The identities of every built-in regularizer and of its spectral lift, as claims.

For V on D with conjugate V* (geomrelax.regularizers, geomrelax.spectral):

    fenchel-young-inequality   V(x) + V*(y) - <x, y> >= 0                       x in D, y free
    fenchel-young-equality     V(x) + V*(y) - <x, y> = 0 and x in D at x = grad V*(y)
    inverse-gradient           grad V*(grad V(x)) = x                           x in int D   (mu > 0)
    inverse-gradient-of-conjugate   grad V(grad V*(y)) = y              where grad V*(y) in int D (mu > 0)
    biconjugate                sup_y <x, y> - V*(y) = V(x)                      x in D (separable V)
    strong-convexity           V(x2) >= V(x1) + <grad V(x1), x2 - x1> + mu/2 ||x2 - x1||^2    (mu > 0)
    conjugate-smoothness       V*(y2) <= V*(y1) + <grad V*(y1), y2 - y1> + ||y2 - y1||_*^2 / (2 mu)   (mu > 0)
    support-sandwich           0 <= support(m) - V*(tau m)/tau <= V(argmax_D <m, d>)/tau   (D bounded)

The last is the tau -> infinity limit of the relaxed LMO's value, with its rate. Inputs are flat
vectors: x is mapped onto D (clip; radial for the l2 ball; singular values for spectral lifts).
||.|| is the norm V.norm in which mu is stated, ||.||_* its dual. The Fenchel-Young, strong-convexity
and conjugate-smoothness residuals and allowances are geomrelax.verify's own (fenchel_young.fy_gap,
fy_equality, curvature.strong_convexity_margin, smoothness_margin): one evaluation of each identity.

Rounding allowances (derived, the same logic as geomrelax.verify, whose unit TOL = 64 eps is used):
a sum of terms t_i computed to a few ulps each is off by at most TOL * (1 + sum |t_i|); the
rounding of the input x itself (relative eps) moves V(x) by |V(x) - V((1 - TOL) x)|, which is
added (large near the boundary of D, where V is steep); a round trip through grad V and the
(1/mu)-Lipschitz grad V* is off by TOL ||grad V(x)|| / mu. The regularizer API casts to float64, so these claims are decided by their
allowance (hp_route False).
"""

from __future__ import annotations

import numpy as np

from geomrelax.regularizers import BUILTIN_NAMES, BallQuadratic, SeparableRegularizer, regularizer
from geomrelax.spectral import Spectral
from geomrelax.verify import TOL
from geomrelax.verify.curvature import smoothness_margin, strong_convexity_margin
from geomrelax.verify.fenchel_young import fy_equality, fy_gap
from geomrelax.verify.geometry import geometry, norm_spec

from ..claim import Claim

VECTOR_DIM = 3
MATRIX_SHAPE = (3, 2)
_BUDGET = 0.25
SOURCES = {
    "fenchel-young-inequality": "convex analysis: Fenchel-Young inequality (Rockafellar, Convex Analysis, Thm 23.5); "
                                "the framework of Softsign (arXiv 2605.31371)",
    "fenchel-young-equality": "convex analysis: equality case of Fenchel-Young (Rockafellar, Convex Analysis, Thm 23.5)",
    "inverse-gradient": "convex analysis: grad V* = (grad V)^-1 for Legendre V (Rockafellar, Convex Analysis, Thm 26.5)",
    "conjugate-smoothness": "duality of strong convexity and smoothness (Kakade, Shalev-Shwartz, Tewari 2009)",
    "support-sandwich": "tau -> infinity limit of the relaxed LMO value (Softsign, arXiv 2605.31371, framework)",
}
SPECTRAL_SOURCE = "; spectral lift by Lewis' theorem (Lewis 1995, unitarily invariant matrix functions)"


def _regularizers():
    out = [regularizer(n) for n in BUILTIN_NAMES]
    for n in BUILTIN_NAMES:
        try:
            out.append(Spectral(regularizer(n)))
        except Exception:  # noqa: BLE001 - a base without a spectral lift simply has none
            continue
    return out


def _slug(V) -> str:
    return V.name.replace("spectral(", "spectral-").replace(")", "")


class _Space:
    """Shapes and the maps from flat vectors onto D (or its interior) for one regularizer."""

    def __init__(self, V):
        self.V = V
        self.shape = MATRIX_SHAPE if V.event_ndim == 2 else (VECTOR_DIM,)
        self.k = int(np.prod(self.shape))
        self.axes = tuple(range(-V.event_ndim, 0))
        self.geo = geometry(V)  # verify's evaluation of the identities, shared

    def mat(self, z):
        return np.asarray(z, dtype=float).reshape((-1,) + self.shape)

    def onto(self, z, interior=False, V=None):
        """z (n, *shape) mapped onto D (interior: strictly inside)."""
        V = self.V if V is None else V
        if isinstance(V, Spectral):
            u, s, vt = np.linalg.svd(z, full_matrices=False)
            s = self.onto(s, interior, V.base)
            if interior and V.bounded:
                s = s * (1.0 - 1e-12)  # the SVD's own rounding must not put a singular value on the edge
            return (u * s[..., None, :]) @ vt
        if isinstance(V, SeparableRegularizer):
            lo, hi = V.domain.lo, V.domain.hi
            if interior:
                lo, hi = np.nextafter(lo, 0.0), np.nextafter(hi, 0.0)
            return np.clip(z, lo, hi)
        if isinstance(V, BallQuadratic):
            r = 1.0 - 2.0 ** -40 if interior else 1.0
            n = np.linalg.norm(z, axis=-1, keepdims=True)
            return z * (r / np.maximum(r, n))
        raise TypeError(f"no domain map for {V!r}")

    def inner(self, a, b):
        return np.sum(a * b, axis=self.axes)

    def sumabs(self, a):
        return np.sum(np.abs(a), axis=self.axes)

    def maxabs(self, a):
        return np.max(np.abs(a), axis=self.axes)

    def sq(self, a):
        return np.sum(a * a, axis=self.axes)

    def value(self, x):
        return np.asarray(self.V.value(x), dtype=float)

    def conj(self, y):
        return np.asarray(self.V.conj(y), dtype=float)

    def sens_value(self, x):
        d = np.abs(self.value(x) - self.value((1.0 - TOL) * x))
        return np.where(np.isfinite(d), d, 0.0)



def _draw_xy(sp: _Space):
    def sample(rng):
        x = rng.standard_normal(sp.k) * (1.5 if sp.V.bounded else 10.0)
        y = rng.standard_normal(sp.k) * 10.0 ** rng.uniform(-4, 4)
        return np.concatenate([x, y])
    return sample


def _draw_y(sp: _Space, n_blocks=1):
    def sample(rng):
        return np.concatenate([rng.standard_normal(sp.k) * 10.0 ** rng.uniform(-4, 4) for _ in range(n_blocks)])
    return sample


def _edges_y(sp: _Space, n_blocks=1):
    """y at 0, tiny, at the kinks of V* (|y| = 1 for the box-quadratic and ball), huge."""
    def edges(rng):
        rows = []
        for mag in (0.0, 1e-9, 1e-4, 1.0, 1.0 + 1e-9, 1.0 - 1e-9, 1e3, 1e7):
            for _ in range(2):
                rows.append(np.concatenate([rng.choice([-1.0, 1.0], sp.k) * mag for _ in range(n_blocks)]))
        return np.array(rows)
    return edges


def fenchel_young_inequality(V) -> Claim:
    sp = _Space(V)

    def margin(Z):
        return -fy_gap(sp.geo, sp.onto(sp.mat(Z[:, :sp.k])), sp.mat(Z[:, sp.k:]))[0]

    def allowance(Z):
        return fy_gap(sp.geo, sp.onto(sp.mat(Z[:, :sp.k])), sp.mat(Z[:, sp.k:]))[1]

    return Claim(id=f"identity/{_slug(V)}/fenchel-young-inequality", source=SOURCES["fenchel-young-inequality"]
                 + (SPECTRAL_SOURCE if V.event_ndim == 2 else ""),
                 description=f"V(x) + V*(y) >= <x, y> for {V.name}", assumptions="x in D (mapped onto D), y free",
                 sample=_draw_xy(sp), margin=margin, allowance=allowance, batched=True, hp_route=False,
                 budget_s=_BUDGET, cost=0.2, tags=("identity", V.name, "fenchel-young"))


def fenchel_young_equality(V) -> Claim:
    sp = _Space(V)

    def margin(Z):
        return fy_equality(sp.geo, sp.mat(Z))[0]  # grad V*(y) outside D (beyond rounding) is a violation

    def allowance(Z):
        return fy_equality(sp.geo, sp.mat(Z))[1]

    return Claim(id=f"identity/{_slug(V)}/fenchel-young-equality", source=SOURCES["fenchel-young-equality"]
                 + (SPECTRAL_SOURCE if V.event_ndim == 2 else ""),
                 description=f"V(x) + V*(y) = <x, y> with x = grad V*(y) in D, for {V.name}", assumptions="y free",
                 sample=_draw_y(sp), edges=_edges_y(sp), margin=margin, allowance=allowance, batched=True,
                 hp_route=False, budget_s=_BUDGET, cost=0.2, tags=("identity", V.name, "fenchel-young"))


def inverse_gradient(V) -> Claim:
    sp = _Space(V)

    def parts(Z):
        x = sp.onto(sp.mat(Z), interior=True)
        s = np.asarray(V.grad(x), dtype=float)
        return x, s, np.asarray(V.grad_conj(s), dtype=float)

    def margin(Z):
        x, _, back = parts(Z)
        return sp.maxabs(back - x)

    def allowance(Z):
        # grad V(x) carries an absolute error of about TOL ||grad V(x)|| (per entry for separable V;
        # through the singular vectors for spectral ones), and grad V* is (1/mu)-Lipschitz
        x, s, _ = parts(Z)
        return TOL * (1 + sp.maxabs(x) + np.sqrt(sp.sq(s)) / V.mu)

    def sample(rng):
        return rng.standard_normal(sp.k) * (0.6 if V.bounded else 10.0 ** rng.uniform(-3, 3))

    def edges(rng):
        # close to the boundary of D, where grad V is steep (1 - 1e-2 .. 1 - 1e-15 of the radius)
        d = 10.0 ** -rng.uniform(2, 15, size=(32, 1))
        return rng.choice([-1.0, 1.0], size=(32, sp.k)) * (1 - d) if V.bounded else rng.standard_normal((32, sp.k)) * 1e6

    return Claim(id=f"identity/{_slug(V)}/inverse-gradient", source=SOURCES["inverse-gradient"]
                 + (SPECTRAL_SOURCE if V.event_ndim == 2 else ""),
                 description=f"grad V*(grad V(x)) = x on the interior of D, for {V.name}",
                 assumptions="V strictly convex, differentiable on int D", sample=sample, edges=edges, margin=margin,
                 allowance=allowance, batched=True, hp_route=False, budget_s=_BUDGET, cost=0.2,
                 tags=("identity", V.name, "inverse-gradient"))


def conjugate_smoothness(V) -> Claim:
    sp = _Space(V)
    mu, ball = V.mu, norm_spec(V.norm, V.event_ndim)

    def margin(Z):
        return smoothness_margin(sp.geo, ball, sp.mat(Z[:, :sp.k]), sp.mat(Z[:, sp.k:]))[0]

    def allowance(Z):
        return smoothness_margin(sp.geo, ball, sp.mat(Z[:, :sp.k]), sp.mat(Z[:, sp.k:]))[1]

    return Claim(id=f"identity/{_slug(V)}/conjugate-smoothness", source=SOURCES["conjugate-smoothness"]
                 + (SPECTRAL_SOURCE if V.event_ndim == 2 else ""),
                 description=f"V* is 1/mu-smooth (mu = {mu:g}, norm {V.norm}) for {V.name}",
                 assumptions=f"V is {mu:g}-strongly convex w.r.t. {V.norm}", sample=_draw_y(sp, 2),
                 edges=_edges_y(sp, 2), margin=margin, allowance=allowance, batched=True, hp_route=False,
                 budget_s=_BUDGET, cost=0.2, tags=("identity", V.name, "smoothness"))


def _lipschitz_grad(V, x):
    """An upper bound of the Lipschitz constant of grad V near x: max v''(x_i) (separable), max v''(sigma_i)
    (spectral lift of a separable v: the divided differences of an even convex v' are bounded by max v''), 1 (ball)."""
    if isinstance(V, Spectral):
        return _lipschitz_grad(V.base, np.linalg.svd(x, compute_uv=False))
    if isinstance(V, SeparableRegularizer):
        with np.errstate(all="ignore"):
            return np.max(np.abs(V.d2v(x)), axis=-1)
    return np.ones(x.shape[:-1])


def strong_convexity(V) -> Claim:
    sp = _Space(V)
    mu, ball = V.mu, norm_spec(V.norm, V.event_ndim)

    def points(Z):
        return sp.onto(sp.mat(Z[:, :sp.k]), interior=True), sp.onto(sp.mat(Z[:, sp.k:]))

    def margin(Z):
        return strong_convexity_margin(sp.geo, ball, *points(Z))[0]

    def allowance(Z):
        return strong_convexity_margin(sp.geo, ball, *points(Z))[1]

    return Claim(id=f"identity/{_slug(V)}/strong-convexity", source=SOURCES["conjugate-smoothness"]
                 + (SPECTRAL_SOURCE if V.event_ndim == 2 else ""),
                 description=f"V(x2) >= V(x1) + <grad V(x1), x2 - x1> + mu/2 ||x2 - x1||^2 (mu = {mu:g}) for {V.name}",
                 assumptions="x1 in int D, x2 in D", sample=_draw_xy(sp) if not V.bounded else
                 (lambda rng: rng.standard_normal(2 * sp.k) * 1.5), margin=margin, allowance=allowance, batched=True,
                 hp_route=False, budget_s=_BUDGET, cost=0.2, tags=("identity", V.name, "strong-convexity"))


DEPTH = 1e-6  # grad V(grad V*(y)) = y is checked where grad V*(y) is at least this deep inside D


def _depth(V, x):
    """Relative depth of x inside D: 1 at 0, 0 on the boundary, inf when D has no boundary there."""
    if isinstance(V, Spectral):
        return _depth(V.base, np.linalg.svd(x, compute_uv=False))
    if isinstance(V, SeparableRegularizer):
        lo, hi = V.domain.lo, V.domain.hi
        scale = max(abs(lo), abs(hi))
        with np.errstate(all="ignore"):
            d = np.minimum((hi - x) / scale, (x - lo) / scale)
        return np.min(np.where(np.isfinite(d), d, np.inf), axis=-1)
    if isinstance(V, BallQuadratic):
        return 1.0 - np.linalg.norm(x, axis=-1)
    raise TypeError(f"no depth for {V!r}")


def inverse_gradient_of_conjugate(V) -> Claim:
    sp = _Space(V)

    def parts(Z):
        y = sp.mat(Z)
        x = np.asarray(V.grad_conj(y), dtype=float)
        back = np.asarray(V.grad(x), dtype=float)
        return y, x, back

    def margin(Z):
        y, x, back = parts(Z)
        err = sp.maxabs(back - y)
        # only where grad V*(y) is DEPTH inside D: nearer the boundary grad V is steeper than float
        # can resolve (the rounding of x alone moves grad V(x) by more than y itself for tanh at |y| > 18)
        return np.where(_depth(V, x) >= DEPTH, err, -np.inf)

    def allowance(Z):
        # x = grad V*(y) carries an error ~ TOL ||x||; grad V moves it by at most its Lipschitz constant
        # near x times that
        y, x, _ = parts(Z)
        return TOL * (1 + sp.maxabs(y) + _lipschitz_grad(V, x) * np.sqrt(sp.sq(x)))

    return Claim(id=f"identity/{_slug(V)}/inverse-gradient-of-conjugate", source=SOURCES["inverse-gradient"]
                 + (SPECTRAL_SOURCE if V.event_ndim == 2 else ""),
                 description=f"grad V(grad V*(y)) = y where grad V*(y) is in int D, for {V.name}",
                 assumptions=f"V strictly convex and differentiable on int D; grad V*(y) at relative depth >= {DEPTH:g} inside D", sample=_draw_y(sp), edges=_edges_y(sp),
                 margin=margin, allowance=allowance, batched=True, hp_route=False, budget_s=_BUDGET, cost=0.2,
                 tags=("identity", V.name, "inverse-gradient"))


Y_BIG = 1e8  # the sup over y is taken on [-Y_BIG, Y_BIG] per coordinate: rounding ~ eps Y_BIG


def _sup_concave(h, n, iters=160):
    """max over y in [-Y_BIG, Y_BIG] of the concave h (vectorised over n problems): ternary search on
    t = asinh(y) (so that tiny and huge y are resolved alike; h stays unimodal in t)."""
    lo, hi = np.full(n, -np.arcsinh(Y_BIG)), np.full(n, np.arcsinh(Y_BIG))
    for _ in range(iters):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        left = h(np.sinh(a)) < h(np.sinh(b))
        lo, hi = np.where(left, a, lo), np.where(left, hi, b)
    y = np.sinh(0.5 * (lo + hi))
    return y, h(y)


def biconjugate(V) -> Claim:
    """V**(x) = V(x) for a separable V: the sup over y separates into one concave 1-D sup per coordinate."""
    sp = _Space(V)

    def parts(Z):
        x = sp.onto(Z)
        xs = x.ravel()
        with np.errstate(all="ignore"):
            y, best = _sup_concave(lambda y: xs * y - V.conj_elementwise(y), xs.size)
        return x, y.reshape(x.shape), best.reshape(x.shape).sum(-1)

    def margin(Z):
        x, _, vv = parts(Z)
        return np.abs(vv - sp.value(x))

    def allowance(Z):
        x, y, vv = parts(Z)
        return TOL * (1 + np.abs(vv) + sp.sumabs(x * y) + np.sum(np.abs(V.conj_elementwise(y)), -1)) + sp.sens_value(x)

    return Claim(id=f"identity/{_slug(V)}/biconjugate", source="convex analysis: V** = V for closed convex V "
                 "(Fenchel-Moreau; Rockafellar, Convex Analysis, Thm 12.2)",
                 description=f"sup_y <x, y> - V*(y) = V(x) on D, for {V.name} (sup per coordinate, |y| <= 1e8)",
                 assumptions="x in D (mapped onto D); the sup is taken over |y_i| <= 1e8 (rounding eps 1e8 at the edge of D)",
                 sample=lambda rng: rng.standard_normal(sp.k) * (1.5 if V.bounded else 10.0), margin=margin,
                 allowance=allowance, batched=True, hp_route=False, budget_s=_BUDGET, cost=5.0,
                 tags=("identity", V.name, "biconjugate"))


def support_sandwich(V) -> Claim:
    sp = _Space(V)

    def parts(Z):
        tau = 10.0 ** Z[:, 0]
        m = sp.mat(Z[:, 1:])
        t = tau.reshape((-1,) + (1,) * len(sp.shape))
        val = sp.conj(t * m) / tau
        sup = np.asarray(V.support(m), dtype=float)
        top = sp.value(np.asarray(V.lmo(-m), dtype=float)) / tau
        return tau, val, sup, top

    def margin(Z):
        _, val, sup, top = parts(Z)
        return np.maximum(val - sup, sup - val - top)

    def allowance(Z):
        _, val, sup, top = parts(Z)
        return TOL * (1 + np.abs(val) + np.abs(sup) + np.abs(top))

    def sample(rng):
        return np.concatenate([[rng.uniform(-3, 6)], rng.standard_normal(sp.k) * 10.0 ** rng.uniform(-3, 3)])

    return Claim(id=f"identity/{_slug(V)}/support-sandwich", source=SOURCES["support-sandwich"]
                 + (SPECTRAL_SOURCE if V.event_ndim == 2 else ""),
                 description=f"0 <= support(m) - V*(tau m)/tau <= V(argmax_D <m, d>)/tau for {V.name}",
                 assumptions="D bounded, V >= 0 = V(0); tau = 10^z0 in [1e-3, 1e6]", sample=sample,
                 bounds=[[-3.0, 6.0]] + [[-np.inf, np.inf]] * sp.k, margin=margin, allowance=allowance,
                 batched=True, hp_route=False, budget_s=_BUDGET, cost=0.2, tags=("identity", V.name, "limit"))


def claims() -> list:
    out = []
    for V in _regularizers():
        out += [fenchel_young_inequality(V), fenchel_young_equality(V)]
        if isinstance(V, SeparableRegularizer):
            out.append(biconjugate(V))
        if V.mu > 0:
            out += [inverse_gradient(V), inverse_gradient_of_conjugate(V), strong_convexity(V), conjugate_smoothness(V)]
        if V.bounded:
            out.append(support_sandwich(V))
    return out
