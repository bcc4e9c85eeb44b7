"""Quantile temperature schedule of SoftSignum / SoftMuon (theory.md section 3).

Computed once, at step K_s + 1, from data z (the entries of the momentum direction for
SoftSignum, the singular values of the raw gradients for SoftMuon):

    1. robust Cauchy fit        mu = median(z),  s = median(|z - mu|)
    2. folded Cauchy CDF of |z| F(q) = F_C((q - mu)/s) - F_C((-q - mu)/s),  F_C(t) = 1/2 + arctan(t)/pi
    3. quantiles                F(q_j) = p_j,  p_j = j/K,  j = 0 .. K-1
    4. temperatures             tau_j = clip(psi^{-1}(1 - eps) / q_j, 1, tmax)

Two departures from the official code, both checked in tests/test_schedule.py:

* F(q) = p has a closed form. tan(pi F(q)) = 2 q s / (s^2 + mu^2 - q^2), so q_j is the positive
  root of q^2 + 2 s cot(pi p) q - (s^2 + mu^2) = 0; no Newton iteration is needed (the official
  10 Newton steps are not converged when |mu| >> s; see newton_quantile).
* The fit is exact but needs no full sort or partition: see cauchy_fit.

This module is core: torch is imported only when a tensor is handed in.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import GeomrelaxError, NonFiniteError

__all__ = ["PSI_NAMES", "Schedule", "ScheduleError", "cauchy_fit", "folded_cauchy_cdf", "folded_cauchy_quantile",
           "newton_quantile", "psi_inverse", "saturated_fraction", "temperature_schedule"]

PSI_NAMES = ("tanh", "algebraic")
_PSI_ALIASES = {"tanh": "tanh", "entropic": "tanh", "algebraic": "algebraic"}


class ScheduleError(GeomrelaxError):
    """A temperature schedule asked for with invalid settings or data."""


# ---------------------------------------------------------------------------------------------
# argument checks

def _check_psi(psi) -> str:
    if not isinstance(psi, str) or psi.lower() not in _PSI_ALIASES:
        raise ScheduleError(f"psi must be one of {sorted(_PSI_ALIASES)}, got {psi!r}")
    return _PSI_ALIASES[psi.lower()]


def _check_eps(eps) -> float:
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise ScheduleError(f"eps must be a real number in (0, 1), got {eps!r}") from None
    if not (0.0 < e < 1.0):
        raise ScheduleError(f"eps must lie in the open interval (0, 1), got {eps!r}")
    return e


def _check_int(name, value, low) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ScheduleError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ScheduleError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def _check_tmax(tmax):
    if tmax is None:
        return None
    try:
        t = float(tmax)
    except (TypeError, ValueError):
        raise ScheduleError(f"tmax must be a real number >= 1 or None, got {tmax!r}") from None
    if math.isnan(t) or t < 1.0:
        raise ScheduleError(f"tmax must be >= 1 (or None for no upper clamp), got {tmax!r}")
    return None if math.isinf(t) else t


# ---------------------------------------------------------------------------------------------
# psi and the folded Cauchy law

def psi_inverse(y_complement: float, psi: str = "tanh") -> float:
    """psi^{-1}(1 - eps) for eps = ``y_complement``, written in eps to keep precision for tiny eps.

    tanh:       atanh(1 - eps)          = ln((2 - eps)/eps) / 2           (eps = 1e-4: 4.9517)
    algebraic:  y / sqrt(1 - y^2), y=1-eps = (1 - eps) / sqrt(eps (2 - eps))  (eps = 1e-4: 70.709)
    """
    eps = _check_eps(y_complement)
    psi = _check_psi(psi)
    if psi == "tanh":
        return 0.5 * math.log((2.0 - eps) / eps)
    return (1.0 - eps) / math.sqrt(eps * (2.0 - eps))


def folded_cauchy_cdf(q, mu: float, s: float, complement: bool = False):
    """F(q) = P(|Z| <= q) for Z ~ Cauchy(mu, s), or 1 - F(q) when ``complement``.

    With a = (q - mu)/s, b = (q + mu)/s, pi F = arctan a + arctan b lies in [0, pi) for q >= 0 and
    tan(arctan a + arctan b) = (a + b)/(1 - ab) = 2 q s / (s^2 + mu^2 - q^2), so

        F(q)     = atan2(2 q s, (r - q)(r + q)) / pi,   r^2 = s^2 + mu^2
        1 - F(q) = atan2(2 q s, (q - r)(q + r)) / pi

    one atan2 each, accurate in relative terms on both tails (no 1 - F cancellation).
    F(q) = 0 for q <= 0 and F(inf) = 1.
    """
    q = np.asarray(q, dtype=np.float64)
    r = np.hypot(s, mu)
    qf = np.where(np.isfinite(q), np.maximum(q, 0.0), 0.0)
    y = 2.0 * qf * s
    x = (r - qf) * (r + qf)
    f = np.arctan2(y, -x if complement else x) / math.pi
    at_inf = (q == np.inf)
    if complement:
        return np.where(at_inf, 0.0, np.where(q <= 0, 1.0, f))
    return np.where(at_inf, 1.0, np.where(q <= 0, 0.0, f))


def _cot_pi(p, pc):
    """cot(pi p) for p in (0, 1), from pc = 1 - p on the upper half so p near 1 keeps its precision."""
    low = p <= 0.5
    with np.errstate(divide="ignore"):
        c = 1.0 / np.tan(np.pi * np.where(low, p, pc))
    return np.where(low, c, -c)


def _check_p(p, p_complement):
    p = np.asarray(p, dtype=np.float64)
    if np.any(~(p >= 0) | ~(p <= 1)):
        raise ScheduleError(f"probabilities p must lie in [0, 1], got {p[~(p >= 0) | ~(p <= 1)].ravel()[:5]}")
    pc = (1.0 - p) if p_complement is None else np.asarray(p_complement, dtype=np.float64)
    return p, pc


def folded_cauchy_quantile(p, mu: float, s: float, newton_iters: int = 0, p_complement=None):
    """Solve F(q) = p for q >= 0 (F the folded Cauchy CDF above), in closed form.

    From tan(pi F) = 2 q s / (r^2 - q^2) with r^2 = s^2 + mu^2, F(q) = p is the quadratic
    q^2 + 2 s C q - r^2 = 0 with C = cot(pi p), whose non-negative root is

        q(p) = sqrt(s^2 C^2 + r^2) - s C         (0 < p < 1;  q(0) = 0, q(1) = inf)

    evaluated as r^2 / (s C + sqrt(s^2 C^2 + r^2)) when C > 0, to avoid cancellation. For mu = 0 it
    is s tan(pi p / 2); as p -> 1, q ~ 2 s / (pi (1 - p)). Its relative error is a few ulps, so
    |F(q) - p| is at the conditioning limit ~ ulp(q) F'(q). ``newton_iters`` polishing Newton steps
    may follow; each is kept only if it lowers |F(q) - p|, so they never move q away from the root.
    ``p_complement`` = 1 - p when known exactly (p = j/K: (K - j)/K) keeps p near 1 precise.
    s must be > 0.
    """
    p, pc = _check_p(p, p_complement)
    mu, s = float(mu), float(s)
    if not (s > 0 and math.isfinite(s) and math.isfinite(mu)):
        raise ScheduleError(f"folded Cauchy quantile needs finite mu and s > 0, got mu={mu!r}, s={s!r}")
    r = math.hypot(s, mu)
    inner = (p > 0) & (pc > 0)
    sc = s * _cot_pi(np.where(inner, p, 0.5), np.where(inner, pc, 0.5))
    h = np.hypot(sc, r)
    with np.errstate(divide="ignore", invalid="ignore"):    # np.where evaluates the unused branch too
        q = np.where(sc > 0, r * r / (sc + h), h - sc)
    q = np.where(inner, q, np.where(p > 0, np.inf, 0.0))
    for _ in range(int(newton_iters)):
        q = _newton_polish(q, p, pc, mu, s, inner)
    return q


def _residual(q, p, pc, mu, s):
    """F(q) - p, computed as (1 - p) - (1 - F(q)) on the upper half for relative precision."""
    upper = p > 0.5
    return np.where(upper, pc - folded_cauchy_cdf(q, mu, s, complement=True), folded_cauchy_cdf(q, mu, s) - p)


def _folded_pdf(q, mu, s):
    """F'(q) = (1/(pi s)) (1/(1 + a^2) + 1/(1 + b^2)), a = (q - mu)/s, b = (q + mu)/s."""
    a = (q - mu) / s
    b = (q + mu) / s
    return (1.0 / (1.0 + a * a) + 1.0 / (1.0 + b * b)) / (math.pi * s)


def _newton_polish(q, p, pc, mu, s, active):
    res = _residual(q, p, pc, mu, s)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cand = q - res / _folded_pdf(q, mu, s)
        ok = active & np.isfinite(cand) & (cand >= 0)
        cand = np.where(ok, cand, q)
        better = np.abs(_residual(cand, p, pc, mu, s)) < np.abs(res)
    return np.where(ok & better, cand, q)


def newton_quantile(p, mu: float, s: float, iters: int = 10):
    """The official code's Newton iteration for F(q) = p (float64 here), kept to measure it.

    Start q0 = s F_C^{-1}((1 + p)/2) + |mu| = s tan(pi p/2) + |mu|, then ``iters`` steps
    q <- max(q - (F(q) - p)/F'(q), 0). Returns q.

    What it does (see tests/test_schedule.py): q0 >= the root always (sqrt(x + mu^2) <= sqrt(x) + |mu|
    in the closed form), and F is concave on [|mu|, inf), so in the tail the iteration decreases
    monotonically and converges. For small p and |mu| ~ s/10 .. s the first step overshoots below 0;
    the clamp at 0 saves it. For |mu|/s >~ 100 (a tight cluster away from 0, e.g. singular values)
    10 steps are not enough at the smallest p: on the grid p_j = j/1000 the relative error of q_1
    is 4e-3 at |mu|/s = 300 and 1e-2 at |mu|/s = 1000. The closed form has no such failure.
    """
    p = np.asarray(p, dtype=np.float64)
    q = s * np.tan(np.pi * p / 2.0) + abs(mu)
    for _ in range(iters):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = np.maximum(q - (folded_cauchy_cdf(q, mu, s) - p) / _folded_pdf(q, mu, s), 0.0)
    return q


# ---------------------------------------------------------------------------------------------
# robust Cauchy fit
#
# Exact median and MAD without sorting or partitioning all n entries (the only O(n) work of the
# schedule). A seeded random sample of m entries gives, by the DKW inequality
# (sup_t |F_m(t) - F(t)| <= delta = sqrt(ln(2/a) / (2m)) with probability >= 1 - a), a value
# window [A, B] that holds the median and a band of |z - c| that holds the MAD. One chunked pass
# over z counts the entries below/inside and copies out the few inside; the exact order statistics
# are then selected from those copies. Every window is *verified* from the exact counts, so the
# result is always exact: the sample only decides how fast it is, and on a failed check (a
# probability <= 2a = 2e-4 event for a random sample, whatever the data) the whole array is
# selected directly.

_DIRECT_MAX = 1 << 18       # up to this n, exact selection on the whole array is as fast
_SAMPLE_MIN, _SAMPLE_MAX = 1 << 14, 1 << 20
_FAIL_PROB = 1e-4           # a of the DKW window; affects speed only, never the result
_MARGIN = 2.0 ** -20        # relative guard band of the threshold tests (float32 rounding is 2^-24)
_MAX_BAND_FRACTION = 0.25   # if the windows would copy out more than this, select directly
_CHUNK = 1 << 18            # entries per chunk of the pass on CPU (1 MiB of float32: stays in cache)
_CHUNK_DEVICE = 1 << 26     # on an accelerator: few, large kernels


def _is_tensor(z) -> bool:
    return type(z).__module__.startswith("torch")


def _nonfinite_message(n_bad, n, first) -> str:
    where = ", ".join(str(int(i)) for i in first[:5]) + (" ..." if n_bad > 5 else "")
    return (f"z has {n_bad} non-finite entr{'y' if n_bad == 1 else 'ies'} (NaN or inf) out of {n}, "
            f"at flat index {where}; the schedule needs finite data (refused before any state changes)")


class _NumpyData:
    """Flat numpy view of z and the few operations the fit needs."""

    def __init__(self, z):
        a = np.asarray(z)
        if a.dtype == object or a.dtype == bool or not (np.issubdtype(a.dtype, np.floating)
                                                        or np.issubdtype(a.dtype, np.integer)):
            raise ScheduleError(f"z must be a real numeric array, got dtype {a.dtype}")
        if a.size == 0:
            raise ScheduleError(f"z is empty (shape {a.shape}): the schedule needs data")
        if a.dtype not in (np.float32, np.float64):
            # float16 is exact in float32; integers go to float64
            a = a.astype(np.float32 if a.dtype == np.float16 else np.float64)
        self.x = a.reshape(-1)
        self.n = self.x.size
        self.dtype = self.x.dtype

    def all_finite(self) -> bool:
        # a finite sum proves every entry finite (NaN/inf propagate); only on overflow look closer
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(self.x)):
                return True
        return bool(np.isfinite(self.x).all())

    def raise_nonfinite(self):
        bad = np.flatnonzero(~np.isfinite(self.x))
        raise NonFiniteError(_nonfinite_message(bad.size, self.n, bad[:5]))

    def float64(self) -> np.ndarray:
        return self.x.astype(np.float64, copy=False)

    def sample(self, m, seed) -> np.ndarray:
        idx = np.random.default_rng(seed).integers(0, self.n, m)
        return self.x[idx].astype(np.float64)

    def window_pass(self, c, h_out, r_in, r_out):
        """One pass: #(x < c), #(x == c) or the x with |x - c| <= h_out, #(|x - c| < r_in) and the x
        with r_in <= |x - c| <= r_out (all tests on w = x - c in the data's float type)."""
        x, dt = self.x, self.dtype
        c, h_out, r_in, r_out = dt.type(c), dt.type(h_out), dt.type(r_in), dt.type(r_out)
        size = min(_CHUNK, self.n)
        w = np.empty(size, dt)
        m1 = np.empty(size, bool)
        m2 = np.empty(size, bool)
        n_lt = n_eq = n_ge = 0
        mid, band = [], []
        for i in range(0, self.n, size):
            xc = x[i:i + size]
            k = xc.size
            wk, b1, b2 = w[:k], m1[:k], m2[:k]
            with np.errstate(over="ignore", invalid="ignore"):
                if not np.isfinite(np.add.reduce(xc)) and not np.isfinite(xc).all():
                    self.raise_nonfinite()
                np.subtract(xc, c, out=wk)
            n_lt += np.count_nonzero(np.less(wk, 0, out=b1))
            np.abs(wk, out=wk)
            if h_out == 0:
                n_eq += np.count_nonzero(np.equal(wk, 0, out=b1))
            else:
                mid.append(np.compress(np.less_equal(wk, h_out, out=b1), xc))
            if r_in > 0:
                np.greater_equal(wk, r_in, out=b1)
                n_ge += np.count_nonzero(b1)
                np.logical_and(b1, np.less_equal(wk, r_out, out=b2), out=b1)
            else:
                n_ge += k
                np.less_equal(wk, r_out, out=b1)
            band.append(np.compress(b1, xc))   # np.compress: ~2x faster than x[mask] here
        mid = np.concatenate(mid) if mid else None
        return n_lt, n_eq, mid, self.n - n_ge, np.concatenate(band)

    def round_to_dtype(self, v, direction):
        return _round_float(v, self.dtype, direction)


class _TorchData:
    """Flat view of a torch tensor (any device); heavy reductions stay in torch on that device."""

    def __init__(self, z):
        import torch

        self.torch = torch
        if z.is_complex() or z.dtype == torch.bool:
            raise ScheduleError(f"z must be a real tensor, got dtype {z.dtype}")
        if z.numel() == 0:
            raise ScheduleError(f"z is empty (shape {tuple(z.shape)}): the schedule needs data")
        t = z.detach().reshape(-1)
        if not t.is_floating_point():
            t = t.to(torch.float64)
        self.x = t
        self.n = t.numel()
        # float16/bfloat16 are compared after an exact upcast to float32
        self.work = t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32
        self.dtype = np.dtype(np.float64 if self.work == torch.float64 else np.float32)
        self.chunk = _CHUNK if t.device.type == "cpu" else _CHUNK_DEVICE

    def all_finite(self) -> bool:
        torch = self.torch
        total = self.x.sum(dtype=self.work)
        if bool(torch.isfinite(total)):
            return True
        return bool(torch.isfinite(self.x).all())

    def raise_nonfinite(self):
        torch = self.torch
        bad = torch.nonzero(~torch.isfinite(self.x)).reshape(-1)
        raise NonFiniteError(_nonfinite_message(int(bad.numel()), self.n, bad[:5].tolist()))

    def float64(self):
        return self.x.to(self.torch.float64)

    def sample(self, m, seed) -> np.ndarray:
        torch = self.torch
        g = torch.Generator().manual_seed(int(seed))
        idx = torch.randint(0, self.n, (m,), generator=g).to(self.x.device)
        return self.x[idx].to(torch.float64).cpu().numpy()

    def window_pass(self, c, h_out, r_in, r_out):
        torch = self.torch
        x, work = self.x, self.work
        n_lt = n_eq = n_ge = 0
        mid, band = [], []
        for i in range(0, self.n, self.chunk):
            xc = x[i:i + self.chunk]
            if xc.dtype != work:
                xc = xc.to(work)
            if not bool(torch.isfinite(xc.sum())) and not bool(torch.isfinite(xc).all()):
                self.raise_nonfinite()
            w = xc - c
            n_lt += int(torch.count_nonzero(w < 0))
            w.abs_()
            if h_out == 0:
                n_eq += int(torch.count_nonzero(w == 0))
            else:
                mid.append(xc[w <= h_out])
            if r_in > 0:
                b1 = w >= r_in
                n_ge += int(torch.count_nonzero(b1))
                b1 &= w <= r_out
            else:
                n_ge += xc.numel()
                b1 = w <= r_out
            band.append(xc[b1])
        # the copied-out entries (about 5% of n) go to the host in the working float type
        mid = torch.cat(mid).cpu().numpy() if mid else None
        return n_lt, n_eq, mid, self.n - n_ge, torch.cat(band).cpu().numpy()

    def round_to_dtype(self, v, direction):
        return _round_float(v, self.dtype, direction)


def _round_float(v: float, dtype, direction: int) -> float:
    """v rounded to the float type ``dtype``, downwards (direction < 0) or upwards (> 0)."""
    f = dtype.type(v)
    if direction > 0 and float(f) < v:
        f = np.nextafter(f, dtype.type(np.inf))
    elif direction < 0 and float(f) > v:
        f = np.nextafter(f, dtype.type(-np.inf))
    return float(f)


def _data(z, torch_on_cpu=False):
    """The fit's view of z. A CPU tensor is read through a zero-copy numpy view (float16/bfloat16
    through an exact float32 copy): on CPU the chunked pass in numpy measured 40-90x faster than the
    same pass in torch on a loaded 2-core machine. Tensors on other devices stay in torch."""
    if not _is_tensor(z):
        return _NumpyData(z)
    if z.device.type != "cpu" or torch_on_cpu:
        return _TorchData(z)
    import torch

    if z.is_complex() or z.dtype == torch.bool:
        raise ScheduleError(f"z must be a real tensor, got dtype {z.dtype}")
    t = z.detach()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.to(torch.float32)
    elif not t.is_floating_point():
        t = t.to(torch.float64)
    return _NumpyData(t.resolve_conj().resolve_neg().reshape(-1).numpy())


def _select_pair(values: np.ndarray, i1: int, i2: int) -> float:
    """Mean of the i1-th and i2-th smallest of values (float64), as np.median averages."""
    part = np.partition(values, [i1, i2] if i1 != i2 else i1)
    return float(part[i1]) if i1 == i2 else (float(part[i1]) + float(part[i2])) / 2


def _direct_median(v) -> float:
    """Exact median of a float64 numpy array or tensor (mean of the two middle values for even n)."""
    n = v.numel() if hasattr(v, "numel") else v.size
    k1, k2 = (n - 1) // 2, n // 2
    if hasattr(v, "kthvalue"):
        lo = float(v.kthvalue(k1 + 1).values)
        return lo if k1 == k2 else (lo + float(v.kthvalue(k2 + 1).values)) / 2
    return _select_pair(np.asarray(v), k1, k2)


def _direct_fit(data):
    x64 = data.float64()
    mu = _direct_median(x64)
    s = _direct_median((x64 - mu).abs() if hasattr(x64, "abs") else np.abs(x64 - mu))
    return mu, s


def _window_fit(data, seed, delta=None):
    """Exact (mu, s) by the sampled windows, or None when a window check fails (caller goes direct)."""
    n = data.n
    m = int(min(max(_SAMPLE_MIN, 64 * math.isqrt(n)), _SAMPLE_MAX, n))
    sample = data.sample(m, seed)
    if delta is None:
        delta = math.sqrt(math.log(2.0 / _FAIL_PROB) / (2.0 * m))
    g = int(math.ceil(delta * m)) + 1
    lo_rank, hi_rank = max(0, m // 2 - g), min(m - 1, (m + 1) // 2 + g)
    part = np.partition(sample, [0, lo_rank, hi_rank, m - 1])
    if not (np.isfinite(part[0]) and np.isfinite(part[-1])):
        data.raise_nonfinite()
    a, b = float(part[lo_rank]), float(part[hi_rank])
    c = min(max(data.round_to_dtype((a + b) / 2, 0), a), b)     # a, b are data values, so c is in [a, b]
    h = max(b - c, c - a)
    dev = np.abs(sample - c)
    dpart = np.partition(dev, [lo_rank, hi_rank])
    # |x - mu| and |x - c| differ by <= h when mu is in [a, b], so the MAD lies in [t_lo - h, t_hi + h]
    # and the band of |x - c| to copy out is [t_lo - 2h, t_hi + 2h]
    r_lo = float(dpart[lo_rank]) - 2 * h
    r_hi = float(dpart[hi_rank]) + 2 * h
    if r_lo <= h * 2.0 ** -25:
        r_lo = 0.0          # no inner region worth the name: copy out everything up to r_hi
    # share of z the pass would copy out (the median window is only counted when h = 0)
    est = ((np.count_nonzero(dev <= h) if h > 0 else 0) + np.count_nonzero((dev >= r_lo) & (dev <= r_hi))) / m
    if est > _MAX_BAND_FRACTION:
        return None
    h_out = data.round_to_dtype(h * (1 + _MARGIN), +1) if h > 0 else 0.0
    r_in = data.round_to_dtype(r_lo * (1 - _MARGIN), -1) if r_lo > 0 else 0.0
    r_out = data.round_to_dtype(r_hi * (1 + _MARGIN), +1)
    n_lt_c, n_eq_c, mid, n_inner, band = data.window_pass(c, h_out, r_in, r_out)

    k1, k2 = (n - 1) // 2, n // 2
    # median: every x in [a, b] was copied out (or counted, when a = b = c); a, b, c are exact in
    # the data's float type, so these comparisons are exact
    if h == 0:
        if not (n_lt_c <= k1 and k2 < n_lt_c + n_eq_c):
            return None
        mu = c
    else:
        inside = mid[(mid >= a) & (mid <= b)]
        n_lt_a = n_lt_c - int(np.count_nonzero((mid >= a) & (mid < c)))
        if not (n_lt_a <= k1 and k2 < n_lt_a + inside.size):
            return None
        mu = _select_pair(inside, k1 - n_lt_a, k2 - n_lt_a)
    # MAD. The tests on w = fl(x - c) (relative error <= 2^-24) with r_in <= r_lo (1 - 2^-20) and
    # r_out >= r_hi (1 + 2^-20) certify: an inner x has |x - c| < r_lo (1 - 2^-21), and every x with
    # |x - c| <= r_hi (1 + 2^-21) is inner or copied out. With d = |mu - c|, every inner x thus has
    # |x - mu| < r_eff and every x with |x - mu| <= r_top is inner or copied out; the 2^-50 terms
    # cover the float64 rounding of |x - mu| and d.
    d = abs(mu - c)
    r_eff = (r_lo * (1 - 2.0 ** -21) + d) * (1 + 2.0 ** -50) if r_lo > 0 else 0.0
    r_top = (r_hi * (1 + 2.0 ** -21) - d) * (1 - 2.0 ** -50)
    if r_top < r_eff:
        return None
    dev_band = np.abs(band.astype(np.float64) - mu)     # the same float64 values np.median would see
    n_lt_r = n_inner + int(np.count_nonzero(dev_band < r_eff))
    inside = dev_band[(dev_band >= r_eff) & (dev_band <= r_top)]
    if not (n_lt_r <= k1 and k2 < n_lt_r + inside.size):
        return None
    return mu, _select_pair(inside, k1 - n_lt_r, k2 - n_lt_r)


def _positive_deviation_median(data, mu) -> float:
    x64 = data.float64()
    dev = (x64 - mu).abs() if hasattr(x64, "abs") else np.abs(x64 - mu)
    pos = dev[dev > 0]
    n_pos = pos.numel() if hasattr(pos, "numel") else pos.size
    return _direct_median(pos) if n_pos else 0.0


def cauchy_fit(z, *, seed=0):
    """Robust Cauchy fit: mu = median(z), s = median(|z - mu|) (the MAD), as Python floats.

    Exact: equal to np.median on the float64 values of z (mean of the two middle values when n
    is even), then np.median(abs(z - mu)) in float64. z is a numpy array (any shape, flattened) or
    a torch tensor on any device (the O(n) work runs in torch there; only the ~1% of entries near
    the median and near the MAD are copied to the host). ``seed`` seeds the random sample that
    places the selection windows: it changes the time taken, never the result.

    Refuses empty z and z with NaN/inf (NonFiniteError with their number and first positions).

    Degenerate data: when half or more of the entries equal the median, the MAD is 0. Then s is
    the median of the positive deviations |z_i - mu| > 0 (the scale of the entries that move), and
    s = 0 only when every entry equals mu (temperature_schedule handles that case).
    """
    data = _data(z)
    fit = None
    if data.n > _DIRECT_MAX:
        fit = _window_fit(data, seed)
    if fit is None:
        if not data.all_finite():
            data.raise_nonfinite()
        fit = _direct_fit(data)
    mu, s = fit
    if s == 0.0:
        s = _positive_deviation_median(data, mu)
    return float(mu), float(s)


# ---------------------------------------------------------------------------------------------
# the schedule

@dataclass(frozen=True, eq=False)
class Schedule:
    """Temperatures tau_j (j = 0 .. K-1) of the transition phase and how they were obtained.

    taus        float64 array of length K, non-increasing, in [1, tmax]
    quantiles   q_j, the folded Cauchy quantiles with F(q_j) = p_j = j/K (q_0 = 0)
    mu, s       the Cauchy fit
    psi, eps    the saturation map and level: tau_j = psi^{-1}(1 - eps)/q_j before clamping
    tmax        the upper clamp (None: no clamp; tau_0 is then the value at p = 1/(2K))
    residual    max_j |F(q_j) - p_j|
    """

    taus: np.ndarray
    quantiles: np.ndarray
    mu: float
    s: float
    psi: str
    eps: float
    tmax: float | None
    residual: float

    @property
    def K(self) -> int:
        return int(self.taus.shape[0])

    def __len__(self) -> int:
        return self.K

    @property
    def n_distinct(self) -> int:
        """Number of distinct temperatures."""
        return int(np.unique(self.taus).size)

    @property
    def clamped_low_fraction(self) -> float:
        """Fraction of the K temperatures clamped at 1."""
        return float(np.mean(self.taus == 1.0))

    @property
    def clamped_high_fraction(self) -> float:
        """Fraction of the K temperatures clamped at tmax (0 when tmax is None)."""
        if self.tmax is None:
            return 0.0
        return float(np.mean(self.taus == self.tmax))

    @property
    def clamped_fraction(self) -> float:
        """Fraction of the K temperatures at either clamp (1 or tmax)."""
        at_clamp = self.taus == 1.0
        if self.tmax is not None:
            at_clamp |= self.taus == self.tmax
        return float(np.mean(at_clamp))

    def tau(self, j) -> float:
        """Temperature at transition step j; every j >= K holds the last one, tau_{K-1}."""
        if isinstance(j, bool) or not isinstance(j, (int, np.integer)):
            raise ScheduleError(f"transition step j must be an integer >= 0, got {j!r}")
        if j < 0:
            raise ScheduleError(f"transition step j must be >= 0, got {j}")
        return float(self.taus[min(int(j), self.K - 1)])


def temperature_schedule(z, K, *, eps=1e-4, newton_iters=10, tmax=20.0, psi="tanh", fit=None) -> Schedule:
    """Quantile temperature schedule tau_0 >= ... >= tau_{K-1} from data z.

    tau_j = clip(psi^{-1}(1 - eps) / q_j, 1, tmax) with F(q_j) = p_j = j/K, F the folded Cauchy CDF
    of the fit (mu, s) = cauchy_fit(z), or of ``fit`` = (mu, s) when given (z is then only checked
    for emptiness and NaN/inf, and may be None). Meaning: under the Cauchy model a fraction 1 - p_j
    of the |z| exceed q_j, and exactly those coordinates have |psi(tau_j z)| >= 1 - eps (saturated,
    sign-like) at transition step j.

    q_j is the closed form of folded_cauchy_quantile followed by ``newton_iters`` guarded
    polishing steps (N_q of the official code, whose plain Newton from q0 = s tan(pi p/2) + |mu|
    is not converged after 10 steps when |mu| >> s; see newton_quantile).

    psi: "tanh" (SoftSignum; "entropic" is an alias) or "algebraic" (x/sqrt(1+x^2), SoftMuon).
    tmax=None (or inf): no upper clamp. Then tau_0, where q_0 = 0, is psi^{-1}(1 - eps)/q(1/(2K)):
    the quantile at half a grid step, finite, about 2 tau_1, saturating all but 1/(2K) of the
    model's mass (the natural end of the grid, where the clamp would otherwise be arbitrary).

    Degenerate data (s = 0 after cauchy_fit's fallback, i.e. every entry equals mu): the law is a
    point mass at |mu|, and q_j = |mu| for j >= 1 (the s -> 0 limit of the closed form). If also
    mu = 0 (all-zero data, no scale at all) every tau_j is tmax, with a warning; with tmax=None that
    case is refused (ScheduleError), since no temperature is implied.

    Warns (UserWarning) when K >= 3 and the schedule has <= 2 distinct values: the transition is
    then a switch, not a smooth passage (pitfall 4 of the official code, tmax=20 with momenta ~1e-3).

    Refuses (ScheduleError, NonFiniteError for NaN/inf in z): K < 1, eps outside (0, 1), tmax < 1,
    newton_iters < 1, unknown psi, empty z, a malformed fit.
    """
    K = _check_int("K", K, 1)
    eps = _check_eps(eps)
    newton_iters = _check_int("newton_iters", newton_iters, 1)
    tmax = _check_tmax(tmax)
    psi = _check_psi(psi)
    if fit is None:
        if z is None:
            raise ScheduleError("z is None and no fit was given: the schedule needs data or a fit (mu, s)")
        mu, s = cauchy_fit(z)
    else:
        mu, s = _check_fit(fit)
        if z is not None:
            _check_data(z)
    c = psi_inverse(eps, psi)
    j = np.arange(K, dtype=np.float64)
    p, pc = j / K, (K - j) / K
    if s > 0:
        q = folded_cauchy_quantile(p, mu, s, newton_iters=newton_iters, p_complement=pc)
        residual = float(np.max(np.abs(_residual(q, p, pc, mu, s))))
        q_half = float(folded_cauchy_quantile(0.5 / K, mu, s, newton_iters=newton_iters))
    else:
        q = np.where(j > 0, abs(mu), 0.0)
        residual = 0.0
        q_half = abs(mu)
    if tmax is not None:
        cap = tmax
    elif q_half > 0:
        cap = max(c / q_half, 1.0)
    else:
        raise ScheduleError("temperature_schedule: every entry of z is 0, so the data give no scale and "
                            "tmax=None gives no temperature; pass a finite tmax (every tau is then tmax)")
    with np.errstate(divide="ignore"):
        taus = np.clip(c / q, 1.0, cap)          # c / 0 = inf -> cap at j = 0
    # q_j increases with j in exact arithmetic; the running minimum only irons out ulp-level wiggles
    taus = np.minimum.accumulate(taus)
    taus.setflags(write=False)
    q.setflags(write=False)
    sched = Schedule(taus=taus, quantiles=q, mu=float(mu), s=float(s), psi=psi, eps=eps, tmax=tmax,
                     residual=residual)
    if s == 0 and mu == 0:
        warnings.warn(f"temperature_schedule: every entry of z is 0, so the data give no scale; every "
                      f"temperature is tmax={tmax:g}", UserWarning, stacklevel=2)
    elif K >= 3 and sched.n_distinct <= 2:
        if s == 0:
            why = f"every entry of z equals mu={mu:.3g} (s = 0)."
        elif sched.clamped_low_fraction > sched.clamped_high_fraction:
            why = (f"the data are large (s={s:.3g}, mu={mu:.3g}): psi^-1(1-eps)/q_j < 1, so the update "
                   "saturates already at tau = 1 and the lower clamp holds.")
        else:
            why = (f"the data are small (s={s:.3g}, mu={mu:.3g}): psi^-1(1-eps)/q_j > tmax; use tmax=None "
                   "or a larger tmax.")
        warnings.warn(
            f"temperature_schedule: the K={K} temperatures collapsed to {sched.n_distinct} distinct value(s) "
            f"({taus[0]:.4g} ... {taus[-1]:.4g}; {sched.clamped_high_fraction:.1%} clamped at tmax={tmax}, "
            f"{sched.clamped_low_fraction:.1%} at 1): the transition is a switch, not smooth, because " + why,
            UserWarning, stacklevel=2)
    return sched


def _check_fit(fit):
    try:
        mu, s = fit
        mu, s = float(mu), float(s)
    except (TypeError, ValueError):
        raise ScheduleError(f"fit must be a pair (mu, s) of real numbers, got {fit!r}") from None
    if not (math.isfinite(mu) and math.isfinite(s)) or s < 0:
        raise ScheduleError(f"fit must be finite with s >= 0, got (mu, s) = ({mu!r}, {s!r})")
    return mu, s


def _check_data(z):
    data = _data(z)
    if not data.all_finite():
        data.raise_nonfinite()
    return data


def saturated_fraction(z, tau, eps=1e-4, psi="tanh"):
    """Fraction of entries with |psi(tau z)| >= 1 - eps (saturated, sign-like).

    psi is odd and increasing, so this is the fraction with |z| >= psi^{-1}(1 - eps)/tau; the
    threshold form is used (exact, no rounding of psi near 1). ``tau`` may be an array: the result
    then has its shape (one sort of |z|).
    """
    c = psi_inverse(eps, psi)
    tau_arr = np.asarray(tau, dtype=np.float64)
    if tau_arr.size == 0 or np.any(~np.isfinite(tau_arr)) or np.any(tau_arr <= 0):
        raise ScheduleError(f"tau must be finite and > 0, got {tau!r}")
    data = _check_data(z)
    thr = c / tau_arr
    if isinstance(data, _TorchData):
        torch = data.torch
        a = data.x.abs().to(torch.float64)
        if thr.ndim == 0:
            return int(torch.count_nonzero(a >= float(thr))) / data.n
        t_thr = torch.as_tensor(thr.reshape(-1), dtype=torch.float64, device=a.device)
        below = torch.searchsorted(torch.sort(a).values, t_thr, right=False).cpu().numpy()
    else:
        a = np.abs(data.float64())
        if thr.ndim == 0:
            return np.count_nonzero(a >= thr) / data.n
        below = np.searchsorted(np.sort(a), thr.reshape(-1), side="left")
    return (1.0 - below / data.n).reshape(tau_arr.shape)
