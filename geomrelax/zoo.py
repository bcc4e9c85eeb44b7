"""The zoo of the seed papers as regularizers and spectral maps.

    norm_ball(norm)        the indicator of the unit ball of a named norm (geomrelax.norms), mu = 0: its
                           relaxed LMO is the hard one at every tau, lmo(norm, m), and it carries its own
                           cvxpy form, so geomrelax.cross_check(norm_ball(norm), m, inf) checks the LMO
                           (NormBall.project: the exact projection onto the ball, where one is known)
    schatten_power(p)      the spectral lift of v(x) = |x|^p / p, p > 1: V*(Y) = sum sigma_i^q / q and
                           grad V*(Y) = U diag(sigma^(q-1)) W^T, q - 1 = 1/(p - 1)
    freon(e)               the spectral map G -> U diag(sigma^e) W^T (Freon, Schatten exponents): e = 1 SGD,
                           e = 0 Muon's polar factor, e in (0, 1] is grad V* of schatten_power(1 + 1/e) (the
                           convex regime), e < 0 the quasi-norm regime: no convex potential (flagged)
    kaon(seed)             the spectral map G -> U diag(r) W^T with r drawn at random (seeded) on each call

Note on the direction of the Freon interpolation: the map of |x|^p/p is sigma^(1/(p-1)); p = 2 is SGD,
p -> inf gives sigma^0 = Muon, p -> 1 gives sigma^inf, which after normalisation keeps only sigma_1 (the
nuclear-ball LMO, rank one), not Muon. In the dual exponent q = p/(p-1) the map is sigma^(q-1): q = 2 SGD,
q -> 1 Muon, q < 1 the quasi-norm regime (e = q - 1 < 0).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .backend import is_tensor
from .cvxpy_forms import CvxpyTerm, cvxpy_module
from .errors import InvalidHyperparameterError
from .norms import NormSpec, dual_norm, lmo, norm_value, parse_norm
from .norms.fanions import _capped_projection
from .norms.spectra import _l2, _positive, _rebuild
from .regularizers import Interval, Regularizer, SeparableRegularizer, _as_float
from .spectral import Spectral
from .validate import check_int, check_real

__all__ = ["ConvexityWarning", "NormBall", "SpectralMap", "freon", "kaon", "norm_ball", "schatten_power"]

# A ball with an exact projection (NormBall.project) is written for cvxpy with radius 1: the cross-check
# projects the solver's point (outside by its primal residual, about 1e-9 at Clarabel's defaults) onto the
# ball, so its objective U is a true upper bound of f*, within the solver's gap of it. The balls without
# one keep radius 1 - _SHRINK, so that the unprojected point lies inside; a closed form of those worse than
# the optimum by up to _SHRINK ||m||_* (plus the gap) is then not caught.
_SHRINK = 1e-6
# a computed norm of a point on the sphere is 1 within a few ulps per entry
_ULPS = 16


class ConvexityWarning(UserWarning):
    """A map outside the convex regime: it is no gradient of a convex conjugate (no LMO geometry)."""


class NormBall(Regularizer):
    """V = indicator of {||d|| <= 1} for a named norm: V* = the dual norm, grad V*(y) = lmo(-y).

    mu = 0 (only convex), so the relaxed LMO is the hard LMO at every tau: argmin_{||d|| <= 1} <m, d> +
    0/tau = lmo(m). ``event_ndim`` is 1 for vector norms, 2 for matrix norms.
    """

    mu = 0.0
    hess0 = None
    bounded = True

    def __init__(self, norm):
        self.spec: NormSpec = parse_norm(norm)
        self.name = f"ball({self.spec.text})"
        self.event_ndim = 2 if self.spec.matrix else 1
        self.norm = "fro" if self.spec.matrix else "l2"
        # the spectral lift of a vector ball is the ball of a unitarily invariant norm: only the
        # permutation and sign invariant vector norms qualify
        self.absolutely_symmetric = not self.spec.matrix

    def _slack(self, x) -> float:
        # the rounding of x's own dtype: a float32 LMO's norm is 1 within a few eps32, far above eps64
        n = x.shape[-1] * (x.shape[-2] if self.event_ndim == 2 else 1)
        return _ULPS * float(np.finfo(x.dtype).eps) * n

    def value(self, x):
        x = _as_float(x)
        return np.where(norm_value(self.spec, x) <= 1.0 + self._slack(x), 0.0, np.inf)

    def conj(self, y):
        return dual_norm(self.spec, _as_float(y))

    def support(self, m):
        return dual_norm(self.spec, _as_float(m))

    def grad_conj(self, y):
        return lmo(self.spec, -_as_float(y))

    def lmo(self, m):
        return lmo(self.spec, _as_float(m))

    def relaxed_lmo(self, m, tau: float):
        """The hard LMO at every tau (V = 0 on the ball): lmo(norm, m); numpy only."""
        if is_tensor(m):
            raise NotImplementedError(f"{self.name}: numpy only (no torch route)")
        return self.lmo(m)

    def contains(self, x, tol: float = 0.0):
        x = _as_float(x)
        return norm_value(self.spec, x) <= 1.0 + max(tol, self._slack(x))

    def sample_domain(self, rng, shape, margin: float = 0.0):
        x = rng.standard_normal(tuple(shape))
        n = norm_value(self.spec, x)
        n = n[..., None, None] if self.event_ndim == 2 else n[..., None]
        r = rng.uniform(0.0, 1.0 - margin, size=n.shape)
        return x / np.where(n > 0, n, 1.0) * r

    def cvxpy_term(self, d) -> CvxpyTerm:
        return self.cvxpy_domain(d)

    def project(self, d):
        """The Euclidean projection onto the ball for the norms with a closed form or an exact finite
        algorithm (_projector); None for the others."""
        d = _as_float(d)
        proj = _projector(self.spec, d.shape)
        return None if proj is None else proj(d).astype(d.dtype, copy=False)

    def cvxpy_domain(self, d) -> CvxpyTerm:
        exact = _projector(self.spec, d.shape) is not None
        cons, what = _ball_constraints(self.spec, d, 1.0 if exact else 1.0 - _SHRINK)
        radius = "1" if exact else f"1 - {_SHRINK:g}"
        return CvxpyTerm(cvxpy_module().Constant(0.0), cons, f"{what} (radius {radius})", zero=True)


def _project_l1(x):
    """The projection onto {||x||_1 <= 1} over the last axis (Duchi et al. 2008): x itself inside, else
    sign(x) max(|x| - theta, 0) with theta = (u_1 + ... + u_rho - 1) / rho, u = |x| sorted descending and
    rho the largest j with u_j > (u_1 + ... + u_j - 1) / j (j = 1 always qualifies)."""
    a = np.abs(x)
    u = -np.sort(-a, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    j = np.arange(1, x.shape[-1] + 1)
    rho = np.max(np.where(u * j > css, j, 1), axis=-1, keepdims=True)
    theta = np.take_along_axis(css, rho - 1, axis=-1) / rho
    return np.where(np.sum(a, axis=-1, keepdims=True) <= 1.0, x, np.sign(x) * np.maximum(a - theta, 0.0))


def _projector(spec: NormSpec, shape):
    """d -> the projection onto the unit ball of ``spec`` for events of ``shape``, or None.

    linf: clip to [-1, 1];  l1: _project_l1;  l2, frobenius (schatten:2), row_l2, col_l2: d / max(1, ||d||)
    over the norm's axes (a product of l2 balls for rows / columns). Unitarily invariant balls act on sigma
    (Spectral.project: valid as each map keeps a sorted sigma >= 0 sorted and >= 0): spectral, left_polar,
    schatten:inf, kyfan:1 clip sigma at 1, rms at sqrt(rows/cols); nuclear, schatten:1, kyfan:k >= r project
    sigma onto the l1 ball; kyfan_dual:k onto {0 <= c <= 1, sum c <= k} (_capped_projection, exact).
    """
    fam, p, k = spec.family, spec.p, spec.k
    if fam == "linf":
        return lambda d: np.clip(d, -1.0, 1.0)
    if fam == "l1":
        return _project_l1
    axes = {"l2": -1, "row_l2": -1, "col_l2": -2, "frobenius": (-2, -1)}.get(fam)
    if fam == "schatten" and p == 2.0:
        axes = (-2, -1)
    if axes is not None:
        return lambda d: d / np.maximum(_l2(d, axes), 1.0)
    on_sigma = _sigma_projector(spec, shape)
    if on_sigma is None:
        return None

    def project(d):
        u, s, vt = np.linalg.svd(d, full_matrices=False)
        return _rebuild(u, on_sigma(s), vt)

    return project


def _sigma_projector(spec: NormSpec, shape):
    r = min(shape[-2:]) if len(shape) >= 2 else 0
    fam, p, k = spec.family, spec.p, spec.k
    if fam in ("spectral", "left_polar", "rms") or (fam == "schatten" and math.isinf(p)) or (fam == "kyfan" and k == 1):
        top = math.sqrt(shape[-2] / shape[-1]) if fam == "rms" else 1.0
        return lambda s: np.minimum(s, top)
    if fam == "nuclear" or (fam == "schatten" and p == 1.0) or (fam == "kyfan" and k >= r):
        return _project_l1
    if fam == "kyfan_dual":
        return lambda s: _capped_projection(s, np.ones(s.shape[:-1]), float(min(k, r)))
    return None


def _dilation(D):
    cp = cvxpy_module()
    rows, cols = D.shape
    return cp.bmat([[np.zeros((rows, rows)), D], [D.T, np.zeros((cols, cols))]])


def _kyfan_atom(D, k: int):
    """sigma_1 + ... + sigma_k of D: the k largest eigenvalues of [[0, D], [D^T, 0]] (eigenvalues +-sigma_i
    and zeros), so for k <= r = min(rows, cols) their sum is KF_k(D)."""
    cp = cvxpy_module()
    r = min(D.shape)
    if k >= r:
        return cp.normNuc(D)
    return cp.lambda_sum_largest(_dilation(D), k)


def _ball_constraints(spec: NormSpec, d, rho: float):
    """(constraints, description) of ||d|| <= rho, exact DCP forms."""
    cp = cvxpy_module()
    fam = spec.family
    if fam in ("l1", "linf", "l2"):
        order = {"l1": 1, "linf": "inf", "l2": 2}[fam]
        return [cp.norm(d, order) <= rho], f"||d||_{fam[1:]} <= rho"
    rows, cols = d.shape
    r = min(rows, cols)
    if fam == "frobenius" or (fam == "schatten" and spec.p == 2.0):
        return [cp.norm(d, "fro") <= rho], "||D||_F <= rho"
    if fam in ("spectral", "left_polar") or (fam == "schatten" and math.isinf(spec.p)):
        return [cp.sigma_max(d) <= rho], "sigma_max(D) <= rho"
    if fam == "rms":
        return [math.sqrt(cols / rows) * cp.sigma_max(d) <= rho], "sqrt(cols/rows) sigma_max(D) <= rho"
    if fam == "nuclear" or (fam == "schatten" and spec.p == 1.0):
        return [cp.normNuc(d) <= rho], "||D||_nuc <= rho"
    if fam == "row_l2":
        return [cp.norm(d, 2, axis=1) <= rho], "||D_i,:||_2 <= rho for every row"
    if fam == "col_l2":
        return [cp.norm(d, 2, axis=0) <= rho], "||D_:,j||_2 <= rho for every column"
    if fam == "kyfan":
        return [_kyfan_atom(d, spec.k) <= rho], f"KF_{spec.k}(D) <= rho (lambda_sum_largest of the dilation)"
    if fam == "kyfan_dual":
        k = min(spec.k, r)
        return [cp.sigma_max(d) <= rho, cp.normNuc(d) <= k * rho], f"sigma_max(D) <= rho, ||D||_nuc <= {k} rho"
    if fam == "schatten":
        # ||sigma(D)||_p <= rho iff some x with sigma(D) weakly majorized by x has ||x||_p <= rho: the p-norm
        # is monotone and Schur-convex (Ky Fan), and x = sigma(D) attains it; the majorization is the r Ky
        # Fan constraints KF_k(D) <= x_1 + ... + x_k, x sorted
        x = cp.Variable(r)
        cons = [x >= 0, cp.pnorm(x, spec.p) <= rho, cp.sigma_max(d) <= x[0]]
        if r > 1:
            cons.append(x[:-1] >= x[1:])
        cons += [_kyfan_atom(d, k) <= cp.sum(x[:k]) for k in range(2, r + 1)]
        return cons, f"||sigma(D)||_{spec.p:g} <= rho by Ky Fan majorization ({r} LMIs)"
    if fam in ("kyfan_fro", "kyfan_spectral"):
        q = cp.norm(d, "fro") if fam == "kyfan_fro" else cp.sigma_max(d)
        return ([spec.alpha * _kyfan_atom(d, spec.k) + (1.0 - spec.alpha) * q <= rho],
                f"alpha KF_{spec.k}(D) + (1 - alpha) {'||D||_F' if fam == 'kyfan_fro' else 'sigma_max(D)'} <= rho")
    # Fanions: the ball of (alpha KF_k + (1 - alpha) Q)* is alpha B(KF_k*) + (1 - alpha) B(Q*) (norms.py)
    k = min(spec.k or r, r)
    A, B = cp.Variable(d.shape), cp.Variable(d.shape)
    cons = [d == spec.alpha * A + (1.0 - spec.alpha) * B, cp.sigma_max(A) <= rho, cp.normNuc(A) <= k * rho]
    cons.append(cp.norm(B, "fro") <= rho if fam == "ffanion" else cp.normNuc(B) <= rho)
    q = "||B||_F" if fam == "ffanion" else "||B||_nuc"
    return cons, f"D = alpha A + (1 - alpha) B, sigma_max(A) <= rho, ||A||_nuc <= {k} rho, {q} <= rho"


def norm_ball(norm) -> NormBall:
    """The indicator of the unit ball of a named norm (geomrelax.norms.NORM_NAMES) as a regularizer."""
    return NormBall(norm)


# ------------------------------------------------------------------------------------------------
# Schatten powers (Freon) and random spectra (Kaon)
# ------------------------------------------------------------------------------------------------
def schatten_power(p) -> Spectral:
    """The spectral lift of v(x) = |x|^p / p (p > 1): V(X) = sum sigma_i^p / p = ||X||_Sp^p / p.

    v*(s) = |s|^q / q with q = p / (p - 1) and (v*)'(s) = sign(s) |s|^(q-1), q - 1 = 1/(p - 1), so
    grad V*(Y) = U diag(sigma^(1/(p-1))) W^T and the relaxed LMO is -tau^(q-1) U diag(sigma(M)^(q-1)) W^T.
    p = 2 is SGD (the identity map). mu = 1 at p = 2 only (|x|^p/p is not strongly convex on R otherwise:
    its curvature (p - 1)|x|^(p-2) tends to 0 at 0 or at infinity), so cross-checks compare objectives.
    """
    p = check_real("p", p, low=1.0, low_open=True)
    q = p / (p - 1.0)

    def grad_conj(s):
        return np.sign(s) * np.abs(s) ** (q - 1.0)

    def cvxpy_fn(x):
        cp = cvxpy_module()
        return cp.power(cp.abs(x), p) / p

    base = SeparableRegularizer(
        name=f"power:{p:g}", v=lambda x: np.abs(x) ** p / p, dv=lambda x: np.sign(x) * np.abs(x) ** (p - 1.0),
        d2v=lambda x: (p - 1.0) * np.abs(x) ** (p - 2.0), conj_fn=lambda s: np.abs(s) ** q / q,
        grad_conj_fn=grad_conj, domain=Interval(-math.inf, math.inf), mu=1.0 if p == 2.0 else 0.0,
        hess0=1.0 if p == 2.0 else None, torch_grad_conj_fn=lambda s: s.sign() * s.abs() ** (q - 1.0),
        formula=None, cvxpy_fn=cvxpy_fn)
    return Spectral(base)


class SpectralMap:
    """G -> U diag(phi(sigma)) W^T with G = U diag(sigma) W^T (thin SVD, batched over leading axes).

    Directions whose singular value is at or below the rank threshold (max(rows, cols) eps sigma_1) get 0,
    and a zero matrix maps to 0. ``convex`` says whether the map is grad V* of a convex spectral V (or the
    LMO of a convex ball); ``note`` says why or why not.
    """

    def __init__(self, name: str, phi, convex: bool, note: str):
        self.name, self._phi, self.convex, self.note = name, phi, convex, note

    def __call__(self, G):
        G = _as_float(G)
        if G.ndim < 2 or 0 in G.shape[-2:]:
            raise InvalidHyperparameterError(f"{self.name} acts on matrices (the last two axes), got shape {G.shape}")
        if not np.all(np.isfinite(G)):
            raise InvalidHyperparameterError(f"{self.name}: G has a non-finite entry")
        u, s, vt = np.linalg.svd(G, full_matrices=False)
        pos = _positive(s, G)
        w = np.where(pos, self._phi(np.where(pos, s, 1.0)), 0.0)
        return _rebuild(u, w, vt)

    def __repr__(self) -> str:
        return f"<SpectralMap {self.name} convex={self.convex}>"


def freon(e) -> SpectralMap:
    """Freon's map G -> U diag(sigma^e) W^T (Schatten exponents; e = q - 1 in the dual exponent q).

    e = 1: SGD (G itself);  e in (0, 1]: grad V* of schatten_power(1 + 1/e) (convex);  e = 0: the polar factor
    U W^T (Muon, the spectral-ball LMO up to sign);  e < 0 (q < 1, the quasi-norm regime): sigma^e grows as
    sigma falls, so the map is not monotone and is no gradient of a convex function: it runs, with
    ``convex = False`` and a ConvexityWarning.
    """
    e = check_real("the Freon exponent e", e)
    if e < 0:
        warnings.warn(f"freon(e={e:g}): the quasi-norm regime (q = {e + 1:g} < 1); sigma -> sigma^{e:g} is "
                      "decreasing, so it is no gradient of a convex function: convexity does not hold",
                      ConvexityWarning, stacklevel=2)
        return SpectralMap(f"freon:{e:g}", lambda s: s ** e, False,
                           "quasi-norm regime (q < 1): not the gradient of any convex potential")
    if e == 0:
        return SpectralMap("freon:0", np.ones_like, True, "the polar factor: -lmo of the spectral-norm ball")
    return SpectralMap(f"freon:{e:g}", lambda s: s ** e, True,
                       f"grad V* of schatten_power({1 + 1 / e:g}), a convex spectral function")


def kaon(seed, low: float = 0.0, high: float = 1.0) -> SpectralMap:
    """Kaon: G -> U diag(r) W^T with r_i drawn uniformly from [low, high] afresh on every call, from a
    generator seeded by ``seed`` (the sequence of outputs is reproducible). The draws ignore sigma (only
    its rank is kept), so the map has no geometry: ``convex = False``."""
    seed = check_int("kaon's seed", seed)
    low = check_real("kaon's low", low, low=0.0)
    high = check_real("kaon's high", high, low=low, low_open=True)
    rng = np.random.default_rng(seed)
    return SpectralMap(f"kaon:{seed}", lambda s: rng.uniform(low, high, size=s.shape), False,
                       "random spectrum: no potential, the singular values are replaced by draws")

