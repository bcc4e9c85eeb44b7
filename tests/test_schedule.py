"""Tests of the quantile temperature schedule (geomrelax/schedule.py, docs/theory.md section 3)."""

import math
import subprocess
import sys
import warnings

import mpmath
import numpy as np
import pytest
import torch

import geomrelax.robust_fit as F
import geomrelax.schedule as S
from geomrelax.errors import GeomrelaxError, NonFiniteError
from geomrelax.schedule import (
    cauchy_fit,
    folded_cauchy_cdf,
    folded_cauchy_quantile,
    newton_quantile,
    psi_inverse,
    saturated_fraction,
    temperature_schedule,
)

ULP = 2.0 ** -52


def exact_fit(z):
    """The straightforward reference: np.median on the float64 values, then the MAD in float64."""
    z64 = np.asarray(z, dtype=np.float64).ravel()
    mu = np.median(z64)
    return float(mu), float(np.median(np.abs(z64 - mu)))


def cauchy(n, mu, s, seed, dtype=np.float64):
    return (mu + s * np.random.default_rng(seed).standard_cauchy(n)).astype(dtype)


def mp_quantile(p, mu, s, complement=False):
    """High-precision root of F(q) = p (40 digits), F(q) = (atan((q-mu)/s) + atan((q+mu)/s))/pi;
    with ``complement`` the argument is 1 - p."""
    with mpmath.workdps(40):
        p, mu, s = mpmath.mpf(p), mpmath.mpf(mu), mpmath.mpf(s)
        if complement:
            p = 1 - p
        f = lambda q: (mpmath.atan((q - mu) / s) + mpmath.atan((q + mu) / s)) / mpmath.pi - p
        lo, hi = mpmath.mpf(0), mpmath.mpf(1)
        while f(hi) < 0:
            hi *= 2
        for _ in range(240):        # bisection: 2^-240 of the bracket, far below float64 resolution
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return float((lo + hi) / 2)


# ---------------------------------------------------------------------------------------------
# psi, the folded Cauchy CDF and its quantile

def test_psi_inverse_values():
    for eps in (1e-1, 1e-4, 1e-8):
        y = 1.0 - eps   # at these eps 1 - eps is exact enough that math.atanh agrees to ~eps64/eps
        assert psi_inverse(eps, "tanh") == pytest.approx(math.atanh(y), rel=1e-15 / eps)
        assert psi_inverse(eps, "algebraic") == pytest.approx(y / math.sqrt(1 - y * y), rel=1e-15 / eps)
    # the numbers quoted in docs/theory.md section 3
    assert psi_inverse(1e-4, "tanh") == pytest.approx(4.952, abs=5e-4)
    assert psi_inverse(1e-4, "algebraic") == pytest.approx(70.71, abs=5e-3)
    assert math.tanh(psi_inverse(1e-4, "tanh")) == pytest.approx(1 - 1e-4, abs=1e-15)


@pytest.mark.parametrize("mu,s", [(0.0, 1.0), (0.3, 2.0), (-5.0, 0.5), (1e-3, 1e-3)])
def test_folded_cdf_matches_definition(mu, s):
    q = np.linspace(0, 20 * (s + abs(mu)), 101)
    fc = lambda t: 0.5 + np.arctan(t) / np.pi
    direct = fc((q - mu) / s) - fc((-q - mu) / s)
    # both are a few float64 roundings of numbers in [0, 1]
    np.testing.assert_allclose(folded_cauchy_cdf(q, mu, s), direct, rtol=0, atol=8 * ULP)
    np.testing.assert_allclose(folded_cauchy_cdf(q, mu, s, complement=True), 1 - direct, rtol=0, atol=8 * ULP)
    assert folded_cauchy_cdf(0.0, mu, s) == 0.0 and folded_cauchy_cdf(np.inf, mu, s) == 1.0


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 1.0, 3.0, 30.0, 1e3, 1e5])
def test_closed_form_quantile_against_high_precision(ratio):
    s = 0.7
    mu = ratio * s
    p = np.array([1e-9, 1e-3, 0.1, 0.37, 0.5])
    pc = np.array([0.2, 1e-3, 1e-7, 1e-12])         # upper half given by its exact complement
    q = np.concatenate([folded_cauchy_quantile(p, mu, s), folded_cauchy_quantile(1 - pc, mu, s, p_complement=pc)])
    ref = np.array([mp_quantile(x, mu, s) for x in p] + [mp_quantile(x, mu, s, complement=True) for x in pc])
    # hypot, tan and one division or subtraction: a few ulps
    np.testing.assert_allclose(q, ref, rtol=32 * ULP, atol=0)


def test_closed_form_reduces_to_tan_for_mu_zero():
    # p <= 1/2 only: there tan(pi p/2) is well conditioned (near p = 1 np.tan itself loses digits)
    p = np.linspace(0, 0.5, 101)
    np.testing.assert_allclose(folded_cauchy_quantile(p, 0.0, 2.5), 2.5 * np.tan(np.pi * p / 2), rtol=8 * ULP, atol=0)


def test_official_newton_start_is_an_upper_bound_and_overshoots_below_zero():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 2000)
    ratio = 10 ** rng.uniform(-6, 6, 2000)
    q_exact = np.array([folded_cauchy_quantile(a, b, 1.0) for a, b in zip(p, ratio)]).ravel()
    q0 = np.tan(np.pi * p / 2) + ratio
    # sqrt(x + mu^2) <= sqrt(x) + |mu|: the start is never below the root (up to rounding)
    assert np.all(q0 >= q_exact * (1 - 4 * ULP))
    # small p, |mu| ~ s/2: the first plain Newton step lands below 0 (the official clamp rescues it)
    p1, mu1 = 0.00483, 0.449
    q = np.tan(np.pi * p1 / 2) + mu1
    step1 = q - (folded_cauchy_cdf(q, mu1, 1.0) - p1) / S._folded_pdf(q, mu1, 1.0)
    assert step1 < 0
    assert newton_quantile(p1, mu1, 1.0, 10) == pytest.approx(folded_cauchy_quantile(p1, mu1, 1.0), rel=1e-12)


def test_official_newton_is_not_converged_after_10_steps_when_mu_dominates():
    K = 1000
    j = np.arange(1, K)
    for ratio, worst in [(1.0, 1e-12), (30.0, 1e-12)]:
        rel = np.abs(newton_quantile(j / K, ratio, 1.0, 10) / folded_cauchy_quantile(j / K, ratio, 1.0,
                                                                                    p_complement=(K - j) / K) - 1)
        assert rel.max() < worst, (ratio, rel.max())
    # |mu|/s = 1000 (a tight cluster of positive values, e.g. singular values): q_1 is 1% off
    q_newton = newton_quantile(1 / K, 1000.0, 1.0, 10)
    q_true = mp_quantile(1 / K, 1000.0, 1.0)
    assert abs(q_newton / q_true - 1) > 1e-3
    assert abs(folded_cauchy_quantile(1 / K, 1000.0, 1.0) / q_true - 1) < 32 * ULP


@pytest.mark.parametrize("ratio", [0.0, 0.2, 2.0, 1e3])
@pytest.mark.parametrize("K", [10, 1000, 100000])
def test_schedule_residual_is_at_the_conditioning_limit(ratio, K):
    mu, s = ratio * 1e-3, 1e-3
    sched = temperature_schedule(None, K, fit=(mu, s), tmax=None)
    q = sched.quantiles
    j = np.arange(K)
    res = np.abs(S._residual(q, j / K, (K - j) / K, mu, s))
    # q carries a few ulps of relative error, F moves by F'(q) dq, plus the rounding of F itself
    bound = 32 * ULP * (1 + q * S._folded_pdf(q, mu, s))
    assert np.all(res <= bound)
    assert sched.residual == res.max()


# ---------------------------------------------------------------------------------------------
# the robust fit: exact, fast path and direct path alike

@pytest.mark.parametrize("n", [1, 2, 7, 1000, 1001])
def test_fit_small_is_exact(n):
    z = cauchy(n, 0.1, 0.01, seed=n)
    assert cauchy_fit(z) == exact_fit(z)


@pytest.mark.parametrize("n", [F._DIRECT_MAX + 1001, F._DIRECT_MAX + 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_window_path_is_exact(n, dtype):
    z = cauchy(n, 2e-4, 1e-3, seed=11, dtype=dtype)
    data = F._data(z)
    assert F._window_fit(data, seed=0) == exact_fit(z)    # bit-identical, not approximately
    assert cauchy_fit(z, seed=5) == exact_fit(z)


def test_fit_window_path_on_awkward_data():
    n = F._DIRECT_MAX + 5000
    rng = np.random.default_rng(7)
    cases = {
        "ties": np.round(rng.normal(size=n), 1),                            # many exact repeats
        "sparse": np.where(rng.random(n) < 0.3, 0.0, rng.standard_cauchy(n)),  # median may sit on 0
        "sorted": np.sort(rng.standard_cauchy(n)).astype(np.float32),       # order is irrelevant
        "shifted": (1e4 + rng.standard_cauchy(n)).astype(np.float32),       # |mu| >> s in float32
        "bimodal": np.concatenate([rng.normal(-5, 1, n // 2), rng.normal(5, 1, n - n // 2)]),
        "ints": rng.integers(-50, 50, n),
    }
    for name, z in cases.items():
        assert cauchy_fit(z, seed=1) == exact_fit(z), name
        fast = F._window_fit(F._data(z), seed=1)
        if name == "bimodal":
            # the median sits in a gap: the windows would copy out > 25% of z, so it goes direct
            assert fast is None
        else:
            assert fast == exact_fit(z), name


def test_fit_with_huge_finite_values():
    """A float32 sum that overflows is not mistaken for a NaN/inf entry."""
    for n in (1000, F._DIRECT_MAX + 1000):
        z = cauchy(n, 0.0, 1.0, seed=6, dtype=np.float32)
        z[:40] = 3e38
        with np.errstate(over="ignore"):
            assert not np.isfinite(np.add.reduce(z[:F._CHUNK]))
        assert cauchy_fit(z) == exact_fit(z)


def test_fit_survives_failed_windows(monkeypatch):
    """With windows far too narrow the verification fails and the direct selection takes over."""
    z = cauchy(F._DIRECT_MAX + 3000, 0.0, 1.0, seed=2, dtype=np.float32)
    calls = []
    direct = F._direct_fit
    monkeypatch.setattr(F, "_direct_fit", lambda data, lower=False: calls.append(1) or direct(data, lower))
    monkeypatch.setattr(F, "_FAIL_PROB", 1.0)   # delta = sqrt(ln 2 / 2m): a ~1 sigma window, fails often
    results = {cauchy_fit(z, seed=seed) for seed in range(12)}
    assert results == {exact_fit(z)}
    assert calls, "no window check failed: the fallback was not exercised"


def test_misplaced_windows_are_detected():
    """A sample that misplaces a window (here: deviations beyond 0.1 halved, so the MAD band sits
    near s/2; or everything shifted, so the median window misses) must be caught by the exact counts."""
    z = cauchy(F._DIRECT_MAX + 1000, 0.0, 1.0, seed=12)
    for warp in (lambda x: np.where(np.abs(x) > 0.1, 0.5 * x, x), lambda x: x + 0.5):
        data = F._data(z)
        honest = data.sample
        data.sample = lambda m, seed: warp(honest(m, seed))
        assert F._window_fit(data, seed=0) is None
    assert F._window_fit(F._data(z), seed=0) == exact_fit(z)


def test_fit_zero_width_window_is_refused_or_exact():
    z = cauchy(F._DIRECT_MAX + 1, 0.0, 1.0, seed=4)
    res = F._window_fit(F._data(z), seed=0, delta=0.0)
    assert res is None or res == exact_fit(z)


def test_torch_pass_is_exact(monkeypatch):
    """The torch pass (used for tensors off the CPU) gives the same exact fit; run here on CPU."""
    monkeypatch.setattr(F, "_CHUNK_DEVICE", 1 << 14)   # several chunks
    n = F._DIRECT_MAX + 777
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        t = torch.from_numpy(cauchy(n, 1e-3, 1e-2, seed=9)).to(dtype)
        ref = exact_fit(t.to(torch.float64).numpy())
        assert F._window_fit(F._data(t, torch_on_cpu=True), seed=3) == ref


@pytest.mark.parametrize("n", [5000, F._DIRECT_MAX + 10])
def test_numpy_and_torch_inputs_agree(n):
    z = cauchy(n, -0.02, 0.3, seed=n)
    t = torch.from_numpy(z.copy())
    assert cauchy_fit(t) == cauchy_fit(z) == exact_fit(z)
    a, b = temperature_schedule(z, 300), temperature_schedule(t, 300)
    np.testing.assert_array_equal(a.taus, b.taus)
    # non-contiguous, requires_grad and half-precision tensors
    t2 = torch.from_numpy(np.stack([z, z])).T.requires_grad_(True)
    assert cauchy_fit(t2) == exact_fit(np.stack([z, z]).T)
    h = torch.from_numpy(z).to(torch.bfloat16)
    assert cauchy_fit(h) == exact_fit(h.to(torch.float64).numpy())


def test_import_does_not_pull_torch():
    code = "import sys, geomrelax.schedule; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# the schedule

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tmax", [20.0, 1.0, 1e4, None])
@pytest.mark.parametrize("psi", ["tanh", "algebraic"])
def test_taus_non_increasing_and_in_range(seed, tmax, psi):
    rng = np.random.default_rng(seed)
    z = rng.standard_cauchy(2000) * 10 ** rng.uniform(-4, 1) + rng.normal() * 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # collapse warnings are tested separately
        sched = temperature_schedule(z, 500, tmax=tmax, psi=psi)
    taus = sched.taus
    assert taus.shape == (500,) and taus.dtype == np.float64
    assert np.all(np.diff(taus) <= 0)
    assert np.all(taus >= 1.0) and np.all(np.isfinite(taus))
    if tmax is not None:
        assert np.all(taus <= tmax) and taus[0] == tmax
    assert sched.n_distinct == np.unique(taus).size
    assert sched.clamped_fraction == pytest.approx(np.mean((taus == 1) | (taus == (tmax or np.inf))))


def test_tau_beyond_K_holds_the_last_value():
    sched = temperature_schedule(cauchy(1000, 0.0, 1.0, seed=1), 50)
    assert sched.tau(0) == sched.taus[0]
    assert sched.tau(49) == sched.taus[-1]
    for j in (50, 51, 10 ** 9, np.int64(77)):
        assert sched.tau(j) == sched.taus[-1]
    with pytest.raises(GeomrelaxError, match="-1"):
        sched.tau(-1)
    with pytest.raises(GeomrelaxError, match="1.5"):
        sched.tau(1.5)


def test_tmax_none_gives_a_finite_first_temperature():
    K = 1000
    sched = temperature_schedule(None, K, fit=(0.0, 1e-3), tmax=None)
    c = psi_inverse(1e-4, "tanh")
    assert sched.taus[0] == pytest.approx(c / (1e-3 * math.tan(math.pi / (4 * K))), rel=1e-13)
    # mu = 0: tau_0 / tau_1 = tan(pi/2K) / tan(pi/4K), just above 2
    assert 2.0 < sched.taus[0] / sched.taus[1] < 2.0 + 1e-5
    assert sched.clamped_high_fraction == 0.0 and sched.n_distinct == K
    assert temperature_schedule(None, K, fit=(0.0, 1e-3), tmax=math.inf).taus[0] == sched.taus[0]


def _meaning_tolerance(n, alpha, s, residual):
    """Bound on |saturated fraction at tau_j - (1 - p_j)| for n iid Cauchy(mu, s) entries, valid with
    probability >= 1 - alpha (for a random seed; the seed below is fixed).

    DKW: sup_t |G_n(t) - G(t)| <= e = sqrt(ln(2/alpha)/(2n)). Then the sample median has
    |G(mu_hat) - 1/2| <= e + 1/n, so |mu_hat - mu| <= dmu = s tan(pi (e + 1/n)). The MAD solves
    H_n(s_hat) = 1/2 +- 1/n with |H_n(t) - (2/pi) atan(t/s)| <= 2e + 2 dmu/(pi s), so s_hat lies
    within s tan(pi/4 +- pi eta/2), eta = 2e + 1/n + 2 dmu/(pi s). |dF/dmu|, |dF/ds| <= 1/(pi s'),
    so the fitted folded CDF is within (dmu + ds)/(pi s_min) of the true one; the empirical
    fraction of |z| below q is within 2e of the true F(q).
    """
    e = math.sqrt(math.log(2 / alpha) / (2 * n))
    dmu = s * math.tan(math.pi * (e + 1 / n))
    eta = 2 * e + 1 / n + 2 * dmu / (math.pi * s)
    s_lo, s_hi = s * math.tan(math.pi / 4 - math.pi * eta / 2), s * math.tan(math.pi / 4 + math.pi * eta / 2)
    ds = max(s - s_lo, s_hi - s)
    return 2 * e + (dmu + ds) / (math.pi * s_lo) + residual + 1 / n


@pytest.mark.parametrize("psi,mu", [("tanh", 0.0), ("tanh", 3e-3), ("algebraic", -2e-3)])
def test_saturated_fraction_follows_the_grid(psi, mu):
    n, s, K = F._DIRECT_MAX + 4000, 1e-2, 50       # above _DIRECT_MAX: the window path is exercised
    z = cauchy(n, mu, s, seed=21, dtype=np.float64)
    sched = temperature_schedule(z, K, tmax=None, psi=psi)
    p = np.arange(K) / K
    free = (sched.taus > 1.0)                       # unclamped temperatures (j = 0 is the half-step cap)
    free[0] = False
    assert free.sum() > K // 2
    frac = saturated_fraction(z, sched.taus, eps=1e-4, psi=psi)
    tol = _meaning_tolerance(n, 1e-3, s, sched.residual)
    err = np.abs(frac - (1 - p))[free]
    assert err.max() <= tol, (err.max(), tol)
    # at tau_0 (tmax=None) all but about 1/(2K) of the mass saturates
    assert abs(frac[0] - (1 - 0.5 / K)) <= tol


def test_saturated_fraction_matches_psi_directly():
    z = cauchy(20000, 0.0, 1.0, seed=5)
    for psi, f in (("tanh", np.tanh), ("algebraic", lambda x: x / np.sqrt(1 + x * x))):
        for tau in (0.5, 3.0, 40.0):
            direct = np.count_nonzero(np.abs(f(tau * z)) >= 1 - 1e-4)
            # only an entry within ~1e-12 (relative) of the threshold could flip by rounding
            assert abs(saturated_fraction(z, tau, 1e-4, psi) * z.size - direct) <= 2
    t = torch.from_numpy(z)
    taus = np.array([[0.5, 3.0], [40.0, 7.0]])
    np.testing.assert_array_equal(saturated_fraction(t, taus), saturated_fraction(z, taus))
    assert saturated_fraction(t, 3.0) == saturated_fraction(z, 3.0)
    with pytest.raises(GeomrelaxError, match="tau"):
        saturated_fraction(z, 0.0)


def test_collapse_warning_reproduces_pitfall_4():
    # momenta around 1e-3 with a MAD of 5e-4: q_j < psi^-1(1 - eps)/20 except at the last step
    z = cauchy(100000, 0.0, 5e-4, seed=8)
    with pytest.warns(UserWarning, match="collapsed to [12] distinct"):
        sched = temperature_schedule(z, 1000, tmax=20.0, psi="tanh")
    assert sched.n_distinct <= 2 and sched.clamped_high_fraction > 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        free = temperature_schedule(z, 1000, tmax=None)
    assert free.n_distinct == 1000


def test_degenerate_data():
    n = 1001
    rng = np.random.default_rng(0)
    # 60% exact zeros: the MAD is 0, s falls back to the median of the non-zero |z - mu|
    z = np.where(rng.random(n) < 0.6, 0.0, 1e-3 * rng.normal(size=n))
    mu, s = cauchy_fit(z)
    assert mu == 0.0 and s == np.median(np.abs(z[z != 0]))
    assert np.all(np.diff(temperature_schedule(z, 100, tmax=None).taus) < 0)    # a real, unclamped schedule
    # all equal and non-zero: point mass at |mu|, q_j = |mu|
    with pytest.warns(UserWarning, match="equals mu"):
        sched = temperature_schedule(np.full(n, -0.5), 10)
    assert sched.s == 0 and np.all(sched.quantiles[1:] == 0.5)
    assert np.all(sched.taus[1:] == psi_inverse(1e-4) / 0.5) and sched.taus[0] == 20.0
    # all zero: no scale; every tau is tmax, and tmax=None is refused
    with pytest.warns(UserWarning, match="every entry of z is 0"):
        sched = temperature_schedule(np.zeros(n), 10, tmax=7.0)
    assert np.all(sched.taus == 7.0)
    with pytest.raises(GeomrelaxError, match="no scale"):
        temperature_schedule(np.zeros(n), 10, tmax=None)


@pytest.mark.parametrize("kwargs,match", [
    (dict(K=0), "K must be an integer >= 1, got 0"),
    (dict(K=2.5), "K must be an integer"),
    (dict(eps=0.0), r"eps must lie in \(0, 1\), got 0.0"),
    (dict(eps=1.0), "got 1.0"),
    (dict(eps=float("nan")), "eps must be a real number, got NaN"),
    (dict(eps="0.5"), "eps must be a real number, got '0.5'"),  # float() used to read strings
    (dict(tmax=0.5), r"tmax must lie in \[1, inf\), got 0.5"),
    (dict(tmax=float("nan")), "tmax.*NaN"),
    (dict(newton_iters=0), "newton_iters must be an integer >= 1, got 0"),
    (dict(psi="sigmoid"), "psi must be one of.*'sigmoid'"),
    (dict(fit=(0.0, -1.0)), r"fit must be finite with s >= 0.*-1.0"),
    (dict(fit=(0.0,)), "fit must be a pair"),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = dict(K=10)
    args.update(kwargs)
    K = args.pop("K")
    with pytest.raises(GeomrelaxError, match=match):
        temperature_schedule(cauchy(100, 0, 1, seed=0), K, **args)


def test_bad_data_is_refused():
    with pytest.raises(GeomrelaxError, match="empty"):
        temperature_schedule(np.array([]), 10)
    with pytest.raises(GeomrelaxError, match="empty"):
        temperature_schedule(torch.zeros(0, 3), 10)
    with pytest.raises(GeomrelaxError, match="dtype"):
        cauchy_fit(np.array([1 + 2j]))
    for n in (100, F._DIRECT_MAX + 100):           # direct path and window path
        z = cauchy(n, 0, 1, seed=1)
        z[[3, n - 2]] = [np.nan, np.inf]
        before = z.copy()
        with pytest.raises(NonFiniteError, match=rf"2 non-finite entries .* out of {n}, at flat index 3, {n - 2}"):
            temperature_schedule(z, 10)
        np.testing.assert_array_equal(z, before)      # nothing was touched
        with pytest.raises(NonFiniteError, match="2 non-finite"):
            cauchy_fit(torch.from_numpy(z))
        tdata = F._data(torch.from_numpy(z), torch_on_cpu=True)    # the torch pass (off-CPU tensors)
        assert not tdata.all_finite()
        with pytest.raises(NonFiniteError, match=rf"2 non-finite entries .* at flat index 3, {n - 2}"):
            tdata.raise_nonfinite()
        if n > F._DIRECT_MAX:
            with pytest.raises(NonFiniteError, match="2 non-finite"):
                F._window_fit(tdata, seed=0)
            # with the sample kept off the bad entries, the chunk check of the pass must catch them
            for data in (F._data(z), tdata):
                data.sample = lambda m, seed, x=z: np.random.default_rng(seed).permutation(x[4:n - 2])[:m]
                with pytest.raises(NonFiniteError, match="2 non-finite"):
                    F._window_fit(data, seed=0)
    with pytest.raises(NonFiniteError, match="1 non-finite entry"):
        temperature_schedule(np.array([1.0, np.nan, 2.0]), 5, fit=(0.0, 1.0))


def test_fit_argument_skips_the_fit():
    z = cauchy(500, 0.0, 1.0, seed=3)
    a = temperature_schedule(z, 100)
    b = temperature_schedule(None, 100, fit=(a.mu, a.s))
    np.testing.assert_array_equal(a.taus, b.taus)
    assert (b.mu, b.s) == cauchy_fit(z)
    c = temperature_schedule(z, 100, fit=(0.0, 0.5))
    assert c.s == 0.5 and c.mu == 0.0


def test_schedule_arrays_are_read_only():
    sched = temperature_schedule(cauchy(100, 0, 1, seed=0), 10)
    with pytest.raises(ValueError):
        sched.taus[0] = 3.0


# -- the official median (torch.median: the lower middle value) ---------------------------------------------
def official_fit(z):
    """The official code's fit: torch.median (the lower of the two middle values) for mu and for the MAD."""
    t = torch.as_tensor(np.asarray(z, dtype=np.float64)).reshape(-1)
    mu = torch.median(t)
    return float(mu), float(torch.median((t - mu).abs()))


@pytest.mark.parametrize("n", [1000, 1001, F._DIRECT_MAX + 1000, F._DIRECT_MAX + 1001])  # direct and windowed
def test_lower_median_is_torch_median_and_mean_is_np_median(n):
    z = cauchy(n, 0.7, 1.3, seed=n)
    lower = cauchy_fit(z, median="lower")
    assert lower == official_fit(z)             # the same order statistics: exact
    assert cauchy_fit(z) == exact_fit(z)
    assert (cauchy_fit(z) == lower) == (n % 2 == 1)  # odd counts: one middle value, both rules agree
    K = 50
    official = temperature_schedule(None, K, tmax=None, fit=official_fit(z)).taus
    np.testing.assert_array_equal(temperature_schedule(z, K, tmax=None, median="lower").taus, official)


def test_lower_median_on_tensors_and_float32():
    z = cauchy(F._DIRECT_MAX + 2000, -0.2, 0.5, seed=7, dtype=np.float32)
    assert cauchy_fit(torch.from_numpy(z), median="lower") == cauchy_fit(z, median="lower") == official_fit(z)


def test_unknown_median_is_refused():
    with pytest.raises(S.ScheduleError, match="median must be one of"):
        cauchy_fit(np.arange(4.0), median="upper")


def test_fit_transition_waits_for_nonzero_data():
    assert S.fit_transition(np.zeros(5), 4, eps=1e-4, newton_iters=10, tmax=None, psi="tanh") is None
    assert S.fit_transition(torch.zeros(3, 2), 4, eps=1e-4, newton_iters=10, tmax=20.0, psi="tanh") is None
    z = cauchy(100, 0.0, 1.0, seed=3)
    taus = S.fit_transition(z, 4, eps=1e-4, newton_iters=10, tmax=None, psi="tanh")
    assert taus == tuple(temperature_schedule(z, 4, tmax=None).taus)
    assert [S.tau_at(taus, k, 2) for k in (2, 3, 6, 9)] == [None, taus[0], taus[3], taus[3]]
