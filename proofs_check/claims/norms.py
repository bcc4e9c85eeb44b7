"""The norm zoo (geomrelax.norms): dual-norm identities, membership of the LMO, Hoelder, the Ky Fan dual.

For every named norm ||.|| with dual ||.||_* and LMO of the unit ball:

    identity     -<G, lmo(G)> = ||G||_*            the LMO attains the support function
    in-ball      ||lmo(G)|| <= 1                   the LMO lies in the ball (= 1 for G != 0)
    hoelder      <G, D> <= ||G||_* ||D||           every D: the dual formula is an upper bound (searched)
    kyfan-dual   max(sigma_1, ||G||_nuc / k) = max_j (sigma_1 + ... + sigma_j) / min(j, k)
                 (right: the vertices 1_j / min(j, k) of the Ky Fan k ball on the sorted cone, where KF_k is
                 linear; left: the closed form dual_norm('kyfan:k') uses), for every k = 1..r

identity and hoelder together say that the dual_norm formula is the dual norm (an upper bound over all D,
attained at lmo(G)). Inputs: vectors of 5 entries or 4 x 3 matrices, Gaussian with a random scale, plus edge
cases: condition numbers 1e4 .. 1e15, repeated singular values, rank deficiency, zero rows, tied
magnitudes.

Rounding allowance (no tuned tolerance): a sum of N rounded products is off by N eps sum |terms|, and a
backward-stable SVD perturbs G by about N eps ||G||; the factor 64 covers the unknown LAPACK constants:
    allowance = 64 N eps (sum |G o D| + ||G||_* ||D||)     (N = number of entries)
The margins call numpy's SVD (float64 only), so there is no high-precision route (hp_route=False).

left_polar (the one-sided route through the Gram matrix G G^T) is checked twice. With the allowance above
it is expected to fail on ill-conditioned G: the eigenvalues of G G^T carry an absolute error of about
N eps sigma_1^2, which moves the result's i-th singular value by about eps sigma_1^2 / sigma_i^2, i.e.
eps cond(G)^2. The claims with the suffix "-gram" use that derived allowance, 64 N eps cond(G)^2, on
inputs with cond(G) <= 1e6 (beyond about 1/sqrt(N eps) the route drops the small singular values).
"""

from __future__ import annotations

import numpy as np

from geomrelax.norms import dual_norm, lmo, norm_value, parse_norm

from ..claim import Claim

EPS = float(np.finfo(np.float64).eps)
VEC = 5
SHAPE = (4, 3)
# per claim: 61 claims in about 15 s (the whole claim set must stay well under two minutes)
BUDGET_S = 0.2
NORMS = ("l1", "linf", "l2", "frobenius", "spectral", "nuclear", "schatten:1.5", "schatten:3", "kyfan:2",
         "kyfan_dual:2", "row_l2", "col_l2", "rms", "left_polar", "ffanion:2,0.5", "sfanion:2,0.5", "fmuon:0.3",
         "smuon:0.7", "kyfan_fro:2,0.5", "kyfan_spectral:2,0.5")
SOURCE = {
    "spectral": "Muon / Scion (spectral-norm LMO)", "rms": "Scion (RMS-to-RMS operator norm)",
    "row_l2": "Scion; symmetry-compatible stack (row-norm update)", "col_l2": "symmetry-compatible stack",
    "left_polar": "symmetry-compatible stack (one-sided spectral update)", "schatten": "Freon (Schatten norms)",
    "kyfan": "Fanions (Ky Fan k-norms)", "kyfan_dual": "Fanions (duals of Ky Fan k-norms)",
    "ffanion": "Fanions: F-Fanions / F-Muon", "sfanion": "Fanions: S-Fanions / S-Muon",
    "kyfan_fro": "Fanions: the Ky Fan + Frobenius combination (dual of F-Fanions)",
    "kyfan_spectral": "Fanions: the Ky Fan + spectral combination (dual of S-Fanions)",
}


def _slug(norm) -> str:
    """The norm's name in a claim id: ':' and ',' become '-' (ids are also anchors and file keys)."""
    return norm.replace(":", "-").replace(",", "-")


def _shape(norm):
    return SHAPE if parse_norm(norm).matrix else (VEC,)


def _ill(rng, shape, cond):
    """A matrix (or vector) with singular values (magnitudes) log-spaced from 1 to 1/cond."""
    r = min(shape) if len(shape) == 2 else shape[0]
    s = np.logspace(0, -np.log10(cond), r)
    if len(shape) == 1:
        return rng.permutation(s) * rng.choice([-1.0, 1.0], size=r)
    u, _ = np.linalg.qr(rng.standard_normal((shape[0], r)))
    v, _ = np.linalg.qr(rng.standard_normal((shape[1], r)))
    return (u * s) @ v.T


def _edges_of(shape):
    def edges(rng):
        out = [_ill(rng, shape, c) for c in (1e4, 1e8, 1e12, 1e15)]
        g = rng.standard_normal(shape)
        if len(shape) == 2:
            u, _, vt = np.linalg.svd(g, full_matrices=False)
            out.append(u @ vt)                                  # all singular values equal
            out.append(np.outer(g[:, 0], g[0]))                 # rank one
            z = g.copy()
            z[1] = 0.0                                          # a zero row
            out.append(z)
        else:
            out.append(np.array([1.0, -1.0, 1.0, 0.0, -1.0]))  # tied magnitudes and a zero
            out.append(np.array([1e-300, -1.0, 1e300, 0.0, 3.0]))
        out.append(np.zeros(shape))
        return np.stack([o.ravel() for o in out])
    return edges


def _sample_of(shape):
    n = int(np.prod(shape))

    def sample(rng):
        return rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3)
    return sample


def _inner(G, D) -> float:
    return float(np.sum(G * D))


def _source(norm) -> str:
    return SOURCE.get(norm, SOURCE.get(parse_norm(norm).family, "textbook (dual norms, LMO of a norm ball)"))


def _cost(norm) -> float:
    return 6.0 if parse_norm(norm).family in ("ffanion", "kyfan_fro") else 1.0


GRAM_MAX_COND = 1e6


def _gram_factor(G) -> float:
    """cond(G)^2 for the Gram-route allowance; inf beyond GRAM_MAX_COND (the margin is then -inf)."""
    s = np.linalg.svd(G, compute_uv=False)
    if s[0] == 0:
        return 1.0
    return float((s[0] / s[-1]) ** 2) if s[-1] * GRAM_MAX_COND >= s[0] else np.inf


def _variant(norm, gram: bool):
    """(id suffix, expected, allowance factor z -> float, admissible z -> bool) of a claim."""
    if not gram:
        return "", ("violated" if norm == "left_polar" else "holds"), (lambda G: 1.0), (lambda G: True)
    return "-gram", "holds", _gram_factor, (lambda G: np.isfinite(_gram_factor(G)))


def _setup(norm, gram: bool):
    """(shape, entries, allowance factor, admissible) of a claim on the norm."""
    shape = _shape(norm)
    _, _, factor, admissible = _variant(norm, gram)
    return shape, int(np.prod(shape)), factor, admissible


def identity(norm, gram: bool = False) -> Claim:
    shape, n, factor, admissible = _setup(norm, gram)

    def parts(z):
        G = z.reshape(shape)
        D = lmo(norm, G)
        return G, D, float(dual_norm(norm, G))

    def margin(z):
        G, D, dual = parts(z)
        return abs(-_inner(G, D) - dual) if admissible(G) else -np.inf

    def allowance(z):
        G, D, dual = parts(z)
        return 64 * n * EPS * (float(np.sum(np.abs(G * D))) + dual) * factor(G)

    return _norm_claim("identity", norm, gram, f"-<G, lmo(G)> = ||G||_* for the {norm} norm", margin, allowance,
                       cost=_cost(norm))


def _norm_claim(kind, norm, gram, description, margin, allowance, **extra) -> Claim:
    """A claim on random G of the norm's shape with the edge cases (the pieces identity and in_ball share)."""
    shape = _shape(norm)
    suffix, expected, _, _ = _variant(norm, gram)
    assumptions = f"G of shape {shape}" + (
        f", cond(G) <= {GRAM_MAX_COND:g}, allowance x cond(G)^2 (Gram route)" if gram else "")
    return Claim(id=f"norms/{kind}/{_slug(norm)}{suffix}", source=_source(norm), description=description,
                 assumptions=assumptions, sample=_sample_of(shape), margin=margin, allowance=allowance,
                 hp_route=False, edges=_edges_of(shape), scales=True, budget_s=BUDGET_S, expected=expected,
                 tags=("norms", kind, norm), **extra)


def in_ball(norm, gram: bool = False) -> Claim:
    shape, n, factor, admissible = _setup(norm, gram)

    def margin(z):
        G = z.reshape(shape)
        return float(norm_value(norm, lmo(norm, G))) - 1.0 if admissible(G) else -np.inf

    return _norm_claim("in-ball", norm, gram, f"||lmo(G)|| <= 1 for the {norm} norm", margin,
                       lambda z: 64 * n * EPS * factor(z.reshape(shape)), theoretical=1.0, bound="upper",
                       cost=2 * _cost(norm))


def hoelder(norm) -> Claim:
    shape = _shape(norm)
    n = int(np.prod(shape))

    def parts(z):
        G, D = z[:n].reshape(shape), z[n:].reshape(shape)
        return G, D, float(dual_norm(norm, G)) * float(norm_value(norm, D))

    def margin(z):
        G, D, bound = parts(z)
        return _inner(G, D) - bound

    def allowance(z):
        G, D, bound = parts(z)
        return 64 * n * EPS * (float(np.sum(np.abs(G * D))) + bound)

    def sample(rng):
        return np.concatenate([_sample_of(shape)(rng), _sample_of(shape)(rng)])

    def edges(rng):
        e = _edges_of(shape)(rng)
        # D = -lmo(G) makes the bound tight: the search starts on the equality set
        tight = np.stack([np.concatenate([g, -lmo(norm, g.reshape(shape)).ravel()]) for g in e])
        return np.concatenate([tight, np.concatenate([e, e[::-1]], axis=1)])

    return Claim(id=f"norms/hoelder/{_slug(norm)}", source=_source(norm),
                 description=f"<G, D> <= ||G||_* ||D|| for the {norm} norm (the dual formula bounds every D)",
                 assumptions=f"G, D of shape {shape}", sample=sample, margin=margin, allowance=allowance,
                 hp_route=False, edges=edges, scales=True, cost=2 * _cost(norm), budget_s=BUDGET_S,
                 tags=("norms", "hoelder", norm))


def kyfan_dual_formula() -> Claim:
    r = min(SHAPE)
    n = int(np.prod(SHAPE))

    def parts(z):
        k = int(np.clip(np.round(z[0]), 1, r))
        G = z[1:].reshape(SHAPE)
        s = np.linalg.svd(G, compute_uv=False)
        j = np.arange(1, r + 1)
        return float(dual_norm(f"kyfan:{k}", G)), float(np.max(np.cumsum(s) / np.minimum(j, k))), s

    def margin(z):
        closed, vertices, _ = parts(z)
        return abs(closed - vertices)

    def sample(rng):
        return np.concatenate([[rng.integers(1, r + 1)], _sample_of(SHAPE)(rng)])

    def edges(rng):
        e = _edges_of(SHAPE)(rng)
        return np.concatenate([np.concatenate([np.full((len(e), 1), k), e], axis=1) for k in range(1, r + 1)])

    return Claim(id="norms/kyfan-dual-formula", source="Fanions (Kravatskiy et al.): the dual of the Ky Fan k-norm",
                 description="||G||_KF-k* = max(sigma_1, ||G||_nuc / k) = max_j (sigma_1 + ... + sigma_j) / min(j, k)",
                 assumptions=f"G of shape {SHAPE}, k = 1..{r}", sample=sample, margin=margin,
                 allowance=lambda z: 64 * n * EPS * float(np.sum(parts(z)[2])), hp_route=False,
                 bounds=[[1.0, float(r)]] + [[-np.inf, np.inf]] * n, edges=edges, budget_s=BUDGET_S,
                 tags=("norms", "identity", "kyfan"))


def claims() -> list:
    out = [identity(nm) for nm in NORMS] + [in_ball(nm) for nm in NORMS] + [hoelder(nm) for nm in NORMS]
    out += [identity("left_polar", gram=True), in_ball("left_polar", gram=True)]
    return out + [kyfan_dual_formula()]
