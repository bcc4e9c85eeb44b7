"""Update formulas of the element-wise optimizers, written once for two array backends.

Every function here takes numpy arrays or torch tensors (and Python floats for the
hyperparameters) and returns new arrays; nothing is modified in place. The numpy reference
(:mod:`geomrelax.reference`) calls them on float64 arrays, the torch optimizers
(:mod:`geomrelax.optim`) call them on tensors in their reference ("eager") path, and their fast
paths are checked against that path. Only +, -, *, / and the few element-wise functions of the
array adapters of :mod:`geomrelax.backend` are used, so both backends round the same way (tanh may
differ by an ulp between libms).

SoftSignum / Signum (one param group, step k = 1, 2, ...; g already sign-flipped for maximize):

    b_1 = g_1,   b_k = beta b_{k-1} + (1 - dampening) g_k          (skipped when beta = 0: u = g)
    u_k = g_k + beta b_k   (nesterov)   or   u_k = b_k
    theta <- (1 - lr wd) theta                                       (decoupled weight decay)
    lr_eff = lr / ||u||_2 (normalized) or lr ||u||_2 (sign_norm) or lr,  ||u||_2 over the group
    sign phase (k <= K_s):                theta <- theta - lr_eff sign(u_k)
    transition (j = k - K_s - 1 >= 0):    theta <- theta - lr_eff psi(tau_j u_k)

with psi = tanh or psi(x) = x / sqrt(1 + x^2), and tau_j the temperature schedule (held at its
last value for j >= K). With normalized and u = 0 everywhere the step is 0 (0/0 taken as 0).

S3 / SoftSignSGD (reconstructed from the abstract of arXiv 2507.06464; m_0 = r_0 = 0):

    m_t = beta m_{t-1} + (1 - beta) g_t,       r_t = beta r_{t-1} + (1 - beta) |g_t|^p
    n_t = beta m_t + (1 - beta) g_t,           b_t = (beta r_t + (1 - beta) |g_t|^p)^(1/p)
    theta <- (1 - lr wd) theta - lr n_t / (b_t + eps)          (eps = 0: 0/0 taken as 0)

Relaxed (any regularizer V, d_tau(m) = grad V*(-tau m)):

    m_1 = g_1,   m_k = beta m_{k-1} + (1 - dampening) g_k,   u = g + beta m (nesterov) or m
    theta <- (1 - lr wd) theta + lr d_tau(u)

SoftMuon / Muon (matrices; N-D parameters act as the (shape[0], -1) matrix; M_0 = 0):

    M_k = beta M_{k-1} + (1 - beta) g_k = lerp(M_{k-1}, g_k, 1 - beta)
    u_k = (1 - beta) g_k + beta M_k = lerp(g_k, M_k, beta)    (nesterov; u_k = M_k otherwise)
    D_k = NS5(u_k) (Muon phase) or the smoothed polar map u_k (u_k^T u_k + tau_j^-2 I)^{-1/2}
    theta <- (1 - lr wd) theta - lr sqrt(max(1, rows/cols)) D_k

lerp is torch's (two branches on the weight, bitwise torch.lerp on tensors), so the torch optimizer is
bitwise torch.optim.Muon in its Muon phase and the numpy reference uses the same formula.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import is_tensor, numpy_ops, torch_module, torch_ops

__all__ = [
    "NS5_COEFFICIENTS", "NS5_EPS", "PSI_KINDS", "psi", "fast_tanh", "sgd_momentum", "momentum_direction", "decay",
    "effective_lr", "sign_step", "soft_step", "softsignum_direction", "s3_moments", "s3_direction", "s3_step",
    "relaxed_step", "group_norm", "lerp", "as_matrix", "muon_momentum", "muon_input", "muon_scale",
    "muon_update", "newton_schulz5", "frobenius", "normuon_direction", "mimuon_direction", "sf_point",
    "sf_coefficient", "sf_average", "storm_estimator", "worker_signs",
]

PSI_KINDS = ("tanh", "algebraic")
NS5_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS5_EPS = 1e-7


_ADAPTERS: dict = {}


def _ops(x):
    """The array adapter of x's backend (:mod:`geomrelax.backend`). The formulas use only operations
    whose result keeps the operands' dtype, so one adapter per backend serves every dtype; it is
    looked up in a plain dict (not the backend's lru_cache) because the fused kernels trace these
    formulas under torch.compile."""
    key = "torch" if is_tensor(x) else "numpy"
    ops = _ADAPTERS.get(key)
    if ops is None:
        ops = _ADAPTERS[key] = torch_ops() if key == "torch" else numpy_ops()
    return ops


def _sign(x):
    """sign(x) for finite x. Not the adapter's NaN-keeping sign: on tensors that is where(isnan(x), x,
    sign(x)), 3.3x the time of the whole sign step (measured, 2M float32 entries, 1 thread), and the
    optimizers refuse non-finite gradients before any formula runs."""
    return x.sign() if is_tensor(x) else np.sign(x)


_TANH_SPLIT = 0.55
_EXP_CLAMP = 9.0  # tanh(9) = 1 - 3e-8 rounds to 1 in float32; exp(18) cannot overflow


def fast_tanh(x):
    """tanh(x) with one exp and one division, for float32 kernels (ATen's and inductor's tanh are
    several times slower than memory on CPU).

        |x| <  0.55:  x (135135 + 17325 x^2 + 378 x^4 + x^6) / (135135 + 62370 x^2 + 3150 x^4 + 28 x^6)
                      (the [7/6] Pade approximant from Lambert's continued fraction of tanh)
        |x| >= 0.55:  sign(x) (E - 1) / (E + 1),  E = exp(2 min(|x|, 9))   (result >= 0.5: no cancellation)

    Both branches share the division (numerator and denominator are selected first). Measured
    error in float32 against tanh in float64: at most 2.8 ulps (np.tanh in float32: 1.4 ulps). In
    float64 it is only as accurate as float32 -- use tanh there.
    """
    if not is_tensor(x):
        with np.errstate(over="ignore", invalid="ignore"):
            return _fast_tanh(x)
    return _fast_tanh(x)


def _fast_tanh(x):
    ops = _ops(x)
    a = ops.abs(x)
    s = a * a
    n_small = x * (((s + 378.0) * s + 17325.0) * s + 135135.0)
    d_small = ((28.0 * s + 3150.0) * s + 62370.0) * s + 135135.0
    big = ops.exp(2.0 * ops.where(a > _EXP_CLAMP, a * 0.0 + _EXP_CLAMP, a))
    small = a < _TANH_SPLIT
    return ops.where(small, n_small, _sign(x) * (big - 1.0)) / ops.where(small, d_small, big + 1.0)


def psi(x, kind: str = "tanh", fast: bool = False):
    """tanh(x) (``fast``: :func:`fast_tanh`), or x / sqrt(1 + x^2) written so that it does not
    overflow for |x| > 1e19 (float32)."""
    ops = _ops(x)
    if kind == "tanh":
        return fast_tanh(x) if fast else ops.tanh(x)
    if kind == "algebraic":
        big = ops.abs(x) > 1.0
        # for |x| > 1: x/sqrt(1+x^2) = sign(x)/sqrt(1 + (1/x)^2); x*x would overflow first
        safe = ops.where(big, x, ops.zeros_like(x) + 1.0)
        inv = 1.0 / safe
        return ops.where(big, _sign(x) / ops.sqrt(1.0 + inv * inv), x / ops.sqrt(1.0 + x * x))
    raise ValueError(f"psi must be one of {PSI_KINDS}, got {kind!r}")


def sgd_momentum(buf, g, momentum: float, dampening: float):
    """b_1 = g_1 (buf None), b_k = momentum b_{k-1} + (1 - dampening) g_k."""
    if buf is None:
        return _ops(g).copy(g)
    return momentum * buf + (1.0 - dampening) * g


def momentum_direction(g, buf, momentum, nesterov: bool):
    """u = g + momentum b (nesterov) or b (the caller passes buf None when there is no momentum: u = g)."""
    if buf is None:
        return g
    return g + momentum * buf if nesterov else buf


def softsignum_direction(g, buf, momentum: float, dampening: float, nesterov: bool):
    """(new buffer or None, direction u) for one tensor: the SGD-style momentum of torch / the official code."""
    if momentum == 0:
        return None, g
    b = sgd_momentum(buf, g, momentum, dampening)
    return b, momentum_direction(g, b, momentum, nesterov)


def decay(theta, lr: float, weight_decay: float):
    """theta (1 - lr wd): decoupled weight decay with the raw learning rate (as the official code)."""
    return theta * (1.0 - lr * weight_decay) if weight_decay != 0 else theta


def group_norm(us) -> float:
    """||u||_2 over a list of arrays/tensors (the norm of the norms), as a Python float."""
    if not us:
        return 0.0
    if is_tensor(us[0]):
        torch = torch_module()
        norms = torch.stack([torch.linalg.vector_norm(u) for u in us])
        return float(torch.linalg.vector_norm(norms))
    return float(np.linalg.norm([np.linalg.norm(np.ravel(u)) for u in us]))


def effective_lr(lr: float, unorm: float, normalized: bool, sign_norm: bool) -> float:
    """lr / ||u|| (normalized; 0 when ||u|| = 0, where every update direction is 0 too), lr ||u||, or lr."""
    if normalized:
        return lr / unorm if unorm > 0 else 0.0
    if sign_norm:
        return lr * unorm
    return lr


def sign_step(theta, u, lr_eff: float):
    """theta - lr_eff sign(u) (theta already decayed)."""
    return theta - lr_eff * _sign(u)


def soft_step(theta, u, lr_eff: float, tau: float, kind: str = "tanh", fast: bool = False):
    """theta - lr_eff psi(tau u) (theta already decayed)."""
    return theta - lr_eff * psi(tau * u, kind, fast)


def s3_moments(m, r, g, beta: float, p: float):
    """(m_t, r_t, |g|^p): the two EMAs of S3 with one shared coefficient beta (m, r None: m_0 = r_0 = 0)."""
    gp = _ops(g).abs(g) ** p
    if m is None:
        return (1.0 - beta) * g, (1.0 - beta) * gp, gp
    return beta * m + (1.0 - beta) * g, beta * r + (1.0 - beta) * gp, gp


def s3_direction(m, r, g, gp, beta: float, p: float, eps: float):
    """n_t / (b_t + eps) with n_t = beta m_t + (1-beta) g_t, b_t = (beta r_t + (1-beta)|g_t|^p)^(1/p).

    With eps = 0, entries with b_t = 0 give 0 (then n_t = 0 as well in exact arithmetic).
    """
    n = beta * m + (1.0 - beta) * g
    b = (beta * r + (1.0 - beta) * gp) ** (1.0 / p)
    den = b + eps
    if eps > 0:
        return n / den
    ops = _ops(n)
    zero = den == 0
    return ops.where(zero, ops.zeros_like(n), n / ops.where(zero, ops.zeros_like(den) + 1.0, den))


def s3_step(theta, m, r, g, lr: float, beta: float, p: float, eps: float, weight_decay: float):
    """(theta_new, m_t, r_t, direction) for one S3 step on one tensor."""
    m, r, gp = s3_moments(m, r, g, beta, p)
    d = s3_direction(m, r, g, gp, beta, p, eps)
    return decay(theta, lr, weight_decay) - lr * d, m, r, d


def relaxed_step(theta, d, lr: float, weight_decay: float):
    """(1 - lr wd) theta + lr d, with d = d_tau(u) = grad V*(-tau u) already computed."""
    return decay(theta, lr, weight_decay) + lr * d


# -- SoftMuon / Muon ------------------------------------------------------------------------------

def lerp(a, b, w: float):
    """a + w (b - a), rounded as torch.lerp: b - (b - a)(1 - w) when |w| >= 1/2 (exact at w = 1)."""
    if is_tensor(a):
        return a.lerp(b, w)
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1.0 - w)


def as_matrix(x):
    """The (rows, cols) = (shape[0], prod(shape[1:])) view of an N-D parameter (conv filters), ndim >= 2."""
    return x.reshape(x.shape[0], -1)


def muon_momentum(buf, g, beta: float):
    """M_k = lerp(M_{k-1}, g_k, 1 - beta) (M_0 = 0)."""
    return lerp(buf, g, 1.0 - beta)


def muon_input(g, buf, beta: float, nesterov: bool):
    """u_k = lerp(g_k, M_k, beta) (nesterov) or M_k: the matrix the map acts on."""
    return lerp(g, buf, beta) if nesterov else buf


def muon_scale(rows: int, cols: int) -> float:
    """sqrt(max(1, rows/cols)), the rectangular scale of Muon's step."""
    return math.sqrt(max(1.0, rows / cols))


def muon_update(theta, D, lr: float, weight_decay: float, scale: float):
    """(1 - lr wd) theta - lr scale D; on tensors as torch.optim.Muon: mul, then add with alpha (fused)."""
    if is_tensor(theta):
        return theta.mul(1 - lr * weight_decay).add_(D.reshape(theta.shape), alpha=-(lr * scale))
    return (1 - lr * weight_decay) * theta - (lr * scale) * D.reshape(theta.shape)


def _mm_add(C, A, B, beta: float, alpha: float):
    """beta C + alpha A @ B (torch: addmm / baddbmm, as torch.optim.Muon)."""
    if not is_tensor(C):
        return beta * C + alpha * (A @ B)
    torch = torch_module()
    return (torch.addmm if C.ndim == 2 else torch.baddbmm)(C, A, B, beta=beta, alpha=alpha)


def newton_schulz5(G, steps: int = 5, coefficients=NS5_COEFFICIENTS, eps: float = NS5_EPS):
    """Muon's quintic Newton-Schulz orthogonalisation in G's dtype: approximately U W^T.

    X <- G / max(||G||_F, eps) (transposed when rows > cols), then ``steps`` times A = X X^T,
    X <- a X + (b A + c A^2) X. On the singular values x = sigma / ||G||_F it applies
    x -> a x + b x^3 + c x^5 each step. G: a numpy matrix, or a tensor whose last two axes are the
    matrices (leading axes a batch). On a 2-D tensor the operations are torch.optim.Muon's (a full
    norm, fused addmm), so in the same dtype the result is bitwise theirs.
    """
    a, b, c = (float(v) for v in coefficients)
    X = G
    transposed = X.shape[-2] > X.shape[-1]
    if transposed:
        X = X.mT if is_tensor(X) else X.T
    if not is_tensor(X):
        X = X / max(float(np.linalg.norm(X)), eps)
    elif X.ndim == 2:
        # a full reduction, as torch.optim.Muon does (a per-axis one may round differently in bf16)
        X = X / X.norm().clamp(min=eps)
    else:
        batch = X.shape[:-2]
        X = X.reshape(-1, *X.shape[-2:])
        X = X / X.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)
    for _ in range(steps):
        A = X @ (X.mT if is_tensor(X) else X.T)
        X = _mm_add(X, _mm_add(A, A, A, b, c), X, a, 1.0)
    if is_tensor(X) and G.ndim > 2:
        X = X.reshape(*batch, *X.shape[-2:])
    if transposed:
        X = X.mT if is_tensor(X) else X.T
    return X


# -- NorMuon, MiMuon, the schedule-free average, SSVR and the majority vote -------------------------
# (the optimizers of geomrelax.optim.normuon / mimuon / schedule_free / ssvr / majority)

def frobenius(x) -> float:
    """||x||_F as a Python float."""
    if is_tensor(x):
        return float(torch_module().linalg.vector_norm(x))
    return float(np.linalg.norm(np.ravel(x)))


def normuon_direction(O, r, beta2: float, eps: float, rms: float):
    """(D, r_new) of NorMuon for the orthogonalized (rows, cols) matrix O and the row moment r (rows, 1):

        r_new = beta2 r + (1 - beta2) mean_j O_ij^2          (r None: r_0 = 0)
        N = O / (sqrt(r_new) + eps)                           (each row to unit RMS)
        D = rms sqrt(rows cols) N / ||N||_F                   (update RMS = rms; N = 0 gives D = 0)
    """
    ops = _ops(O)
    row = (O * O).sum(-1, keepdims=True) / O.shape[-1] if not is_tensor(O) else (O * O).mean(-1, keepdim=True)
    r_new = (1.0 - beta2) * row if r is None else lerp(r, row, 1.0 - beta2)
    N = O / (ops.sqrt(r_new) + eps)
    n = frobenius(N)
    scale = rms * math.sqrt(O.shape[-2] * O.shape[-1]) / n if n > 0 else 0.0
    return scale * N, r_new


def mimuon_direction(O, u, alpha: float):
    """alpha O + (1 - alpha) sqrt(min(rows, cols)) u / ||u||_F: the Muon direction O = NS5(u) mixed
    with the momentum matrix u rescaled to the Frobenius norm of an orthogonal factor (both terms
    have ||.||_F = sqrt(min(rows, cols)) up to NS5's error; u = 0 gives 0)."""
    n = frobenius(u)
    k = (1.0 - alpha) * math.sqrt(min(u.shape[-2], u.shape[-1])) / n if n > 0 else 0.0
    return alpha * O + k * u


def sf_point(z, x, beta: float):
    """y = (1 - beta) z + beta x: where the schedule-free method evaluates the gradient."""
    return (1.0 - beta) * z + beta * x


_SF_PREFIX: dict = {}  # power -> [w_1, w_1 + w_2, ...], added in order (the same floats as sum())


def sf_coefficient(t: int, power: float = 0.0) -> float:
    """c_{t+1} = w_{t+1} / (w_1 + ... + w_{t+1}) with w_i = i^power (power 0: 1 / (t + 1)).

    The partial sums are kept per power, so a run of T steps costs O(T), not O(T^2)."""
    if power == 0:
        return 1.0 / float(t + 1)
    sums = _SF_PREFIX.setdefault(float(power), [])
    while len(sums) < t + 1:
        sums.append((sums[-1] if sums else 0.0) + float(len(sums) + 1) ** power)
    return float(t + 1) ** power / sums[t]


def sf_average(x, z, c: float):
    """x_new = (1 - c) x + c z (c = c_{t+1} = w_{t+1} / sum_{i <= t+1} w_i)."""
    return (1.0 - c) * x + c * z


def storm_estimator(v, g, g_prev, a: float):
    """v_t = g(x_t; xi_t) + (1 - a) (v_{t-1} - g(x_{t-1}; xi_t))   (v None: v_1 = g_1)."""
    if v is None:
        return _ops(g).copy(g)
    return g + (1.0 - a) * (v - g_prev)


def worker_signs(grads, byzantine: int):
    """sum_m s_m sign(g_m): s_m = -1 for the first ``byzantine`` workers (they send the negation of
    their true sign), +1 for the others; ``grads`` a list of arrays of one shape."""
    total = None
    for m, g in enumerate(grads):
        s = _sign(g)
        s = -s if m < byzantine else s
        total = s if total is None else total + s
    return total
