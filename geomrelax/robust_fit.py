"""Robust Cauchy fit of the temperature schedule: the exact median and MAD of a large array.

    mu = median(z),   s = median(|z - mu|)

``median="mean"`` (the default) is np.median's: the mean of the two middle values when the count is
even. ``median="lower"`` is torch.median's, used by the official SoftSignum / SoftMuon code: the lower
of the two middle values (the (n-1)//2-th smallest, 0-based). For an odd count both are the middle
value. The two differ by half the gap between the middle values (measured on the singular values of
Gaussian gradient matrices: 9e-4 to 1.1e-2 relative on the temperatures), so reproducing the
official schedule needs ``"lower"``.

This module is core: torch is imported only when a tensor is handed in.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import is_tensor, numpy_ops, torch_module, torch_ops
from .errors import GeomrelaxError, NonFiniteError

__all__ = ["MEDIANS", "ScheduleError", "cauchy_fit"]

MEDIANS = ("mean", "lower")


class ScheduleError(GeomrelaxError):
    """A temperature schedule (or its data fit) asked for with invalid settings or data."""


def _check_median(median) -> bool:
    """True for the lower median; refuses anything but MEDIANS."""
    if median not in MEDIANS:
        raise ScheduleError(f"median must be one of {list(MEDIANS)}, got {median!r}")
    return median == "lower"


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


def _nonfinite_message(n_bad, n, first) -> str:
    where = ", ".join(str(int(i)) for i in first[:5]) + (" ..." if n_bad > 5 else "")
    return (f"z has {n_bad} non-finite entr{'y' if n_bad == 1 else 'ies'} (NaN or inf) out of {n}, "
            f"at flat index {where}; the schedule needs finite data (refused before any state changes)")


class _Data:
    """Flat view of z and the few operations the fit needs, written once on the array adapter of
    z's backend (:mod:`geomrelax.backend`): numpy arrays, or torch tensors on any device, where the
    O(n) pass stays on the device and only the entries near the median and the MAD come to the host.

    ``ops`` works in the comparison type: float32 or float64 (float16 / bfloat16 after an exact upcast).
    """

    def __init__(self, x, ops):
        self.x, self.ops = x, ops
        self.n = int(x.shape[0])
        self.dtype = np.dtype(np.float64 if ops.eps == np.finfo(np.float64).eps else np.float32)
        self.chunk = _CHUNK if not is_tensor(x) or x.device.type == "cpu" else _CHUNK_DEVICE

    def all_finite(self) -> bool:
        return self.ops.all_finite(self.x)

    def raise_nonfinite(self):
        ops = self.ops
        bad = ops.nonzero(~ops.isfinite(self.x))
        raise NonFiniteError(_nonfinite_message(int(bad.shape[0]), self.n, ops.to_numpy(bad[:5]).tolist()))

    def float64(self):
        f64 = torch_ops(torch_module().float64) if is_tensor(self.x) else numpy_ops(np.float64)
        return f64.as_work(self.x)

    def sample(self, m, seed) -> np.ndarray:
        idx = self.ops.sample_indices(self.n, m, seed)
        if is_tensor(idx):
            idx = idx.to(self.x.device)
        return self.ops.to_numpy(self.ops.as_work(self.x[idx])).astype(np.float64)

    def window_pass(self, c, h_out, r_in, r_out):
        """One pass: #(x < c), #(x == c) or the x with |x - c| <= h_out, #(|x - c| < r_in) and the x
        with r_in <= |x - c| <= r_out (all tests on w = x - c in the comparison type)."""
        ops, dt = self.ops, self.dtype
        c, h_out, r_in, r_out = dt.type(c), dt.type(h_out), dt.type(r_in), dt.type(r_out)
        n_lt = n_eq = n_ge = 0
        mid, band = [], []
        for i in range(0, self.n, self.chunk):
            xc = ops.as_work(self.x[i:i + self.chunk])
            if not ops.all_finite(xc):
                self.raise_nonfinite()
            w = xc - c
            n_lt += ops.count_nonzero(w < 0)
            w = ops.abs(w)
            if h_out == 0:
                n_eq += ops.count_nonzero(w == 0)
            else:
                mid.append(ops.compress(w <= h_out, xc))
            if r_in > 0:
                inner_or_band = w >= r_in
                n_ge += ops.count_nonzero(inner_or_band)
                keep = inner_or_band & (w <= r_out)
            else:
                n_ge += int(xc.shape[0])
                keep = w <= r_out
            band.append(ops.compress(keep, xc))
        mid = ops.to_numpy(ops.concat(mid)) if mid else None
        return n_lt, n_eq, mid, self.n - n_ge, ops.to_numpy(ops.concat(band))

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
    """The fit's view of z (refusing empty and non-real data). A CPU tensor is read through a zero-copy
    numpy view (float16/bfloat16 through an exact float32 copy): on CPU the chunked pass in numpy
    measured 40-90x faster than the same pass in torch on a loaded 2-core machine. Tensors on other
    devices stay in torch."""
    if is_tensor(z):
        torch = torch_module()
        if z.is_complex() or z.dtype == torch.bool:
            raise ScheduleError(f"z must be a real tensor, got dtype {z.dtype}")
        t = z.detach().reshape(-1)
        if not t.is_floating_point():
            t = t.to(torch.float64)
        if t.device.type != "cpu" or torch_on_cpu:
            if t.numel() == 0:
                raise ScheduleError(f"z is empty (shape {tuple(z.shape)}): the schedule needs data")
            return _Data(t, torch_ops(t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32))
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.to(torch.float32)
        z = t.resolve_conj().resolve_neg().numpy()
    a = np.asarray(z)
    if a.dtype == object or a.dtype == bool or not (np.issubdtype(a.dtype, np.floating)
                                                    or np.issubdtype(a.dtype, np.integer)):
        raise ScheduleError(f"z must be a real numeric array, got dtype {a.dtype}")
    if a.size == 0:
        raise ScheduleError(f"z is empty (shape {a.shape}): the schedule needs data")
    if a.dtype not in (np.float32, np.float64):
        # float16 is exact in float32; integers go to float64
        a = a.astype(np.float32 if a.dtype == np.float16 else np.float64)
    return _Data(a.reshape(-1), numpy_ops(a.dtype))


def _select_pair(values: np.ndarray, i1: int, i2: int) -> float:
    """Mean of the i1-th and i2-th smallest of values (float64), as np.median averages (i1 = i2: that one)."""
    part = np.partition(values, [i1, i2] if i1 != i2 else i1)
    return float(part[i1]) if i1 == i2 else (float(part[i1]) + float(part[i2])) / 2


def _middle(n: int, lower: bool):
    """The 0-based ranks of the middle values: ((n-1)//2, n//2), or the lower one twice."""
    k1 = (n - 1) // 2
    return k1, (k1 if lower else n // 2)


def _direct_median(v, lower=False) -> float:
    """Exact median of a float64 numpy array or tensor (for even n: mean of the two middle values, or
    the lower one)."""
    n = v.numel() if hasattr(v, "numel") else v.size
    k1, k2 = _middle(n, lower)
    if hasattr(v, "kthvalue"):
        lo = float(v.kthvalue(k1 + 1).values)
        return lo if k1 == k2 else (lo + float(v.kthvalue(k2 + 1).values)) / 2
    return _select_pair(np.asarray(v), k1, k2)


def _direct_fit(data, lower=False):
    x64 = data.float64()
    mu = _direct_median(x64, lower)
    s = _direct_median((x64 - mu).abs() if hasattr(x64, "abs") else np.abs(x64 - mu), lower)
    return mu, s


def _window_fit(data, seed, delta=None, lower=False):
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

    k1, k2 = _middle(n, lower)
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


def _positive_deviation_median(data, mu, lower=False) -> float:
    x64 = data.float64()
    dev = (x64 - mu).abs() if hasattr(x64, "abs") else np.abs(x64 - mu)
    pos = dev[dev > 0]
    n_pos = pos.numel() if hasattr(pos, "numel") else pos.size
    return _direct_median(pos, lower) if n_pos else 0.0


def cauchy_fit(z, *, seed=0, median="mean"):
    """Robust Cauchy fit: mu = median(z), s = median(|z - mu|) (the MAD), as Python floats.

    Exact: equal to np.median on the float64 values of z (mean of the two middle values when n
    is even), then np.median(abs(z - mu)) in float64. ``median="lower"`` takes the lower middle value
    instead, in both medians (torch.median's choice, that of the official code). z is a numpy array (any shape, flattened) or
    a torch tensor on any device (the O(n) work runs in torch there; only the ~1% of entries near
    the median and near the MAD are copied to the host). ``seed`` seeds the random sample that
    places the selection windows: it changes the time taken, never the result.

    Refuses empty z and z with NaN/inf (NonFiniteError with their number and first positions).

    Degenerate data: when half or more of the entries equal the median, the MAD is 0. Then s is
    the median of the positive deviations |z_i - mu| > 0 (the scale of the entries that move), and
    s = 0 only when every entry equals mu (temperature_schedule handles that case).
    """
    lower = _check_median(median)
    data = _data(z)
    fit = None
    if data.n > _DIRECT_MAX:
        fit = _window_fit(data, seed, lower=lower)
    if fit is None:
        if not data.all_finite():
            data.raise_nonfinite()
        fit = _direct_fit(data, lower)
    mu, s = fit
    if s == 0.0:
        s = _positive_deviation_median(data, mu, lower)
    return float(mu), float(s)


