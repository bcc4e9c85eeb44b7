"""Noise models: the stochastic gradient g = grad f(x) + xi handed to the optimizers.

The randomness of one run (one seed) is drawn with numpy, ``chunk`` steps at a time, from a
generator that belongs to that seed alone, so a run's numbers do not depend on which other seeds
or temperatures share the batch (same seed, same numbers). The engine stacks the draws of the
seeds along a batch axis and applies them to all runs in one tensor operation.

Models (sigma_i is the per-coordinate scale; ``profile`` below fixes how it spreads):

    gaussian(sigma, phi)       xi_i = sigma_i z_i, z_i ~ N(0, 1)
    student_t(sigma, df, phi)  xi_i = sigma_i t_i sqrt((df-2)/df) for df > 2 (std sigma_i), else
                               sigma_i t_i (t-scale sigma_i; variance infinite, E|xi_i|^kappa finite
                               for kappa < df: heavy tails with a bounded kappa-th moment, kappa in (1, 2])
    minibatch(batch)           g = (1/batch) sum of the gradients of ``batch`` sampled terms
                               (finite sums and data distributions only)
    none                       g = grad f(x)

Noise density (Tao, Yu, Zhang): phi(sigma) = ||sigma||_1^2 / (d ||sigma||_2^2), in [1/d, 1]. The
profile sigma_i = sigma w_i, with w_i proportional to i^-p on a shuffled order and normalised to
||w||_2^2 = d (so d ||sigma||_2^2 = d^2 sigma^2, the SGD noise term, is the same for every phi), and
p solved by bisection so that phi(w) equals the requested phi exactly (phi = 1: uniform; phi = 1/d:
one noisy coordinate).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from scipy import special

from geomrelax.validate import check_int, check_real

from .problems import ProblemError

__all__ = ["Noise", "Gaussian", "StudentT", "Minibatch", "NoNoise", "make_noise", "density", "profile",
           "NOISE_KINDS", "stable_seed"]


def stable_seed(*parts) -> int:
    """A 63-bit integer from the text of ``parts`` (independent of Python's hash randomisation)."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def density(sigma) -> float:
    """phi(sigma) = ||sigma||_1^2 / (d ||sigma||_2^2)."""
    s = np.abs(np.ravel(np.asarray(sigma, dtype=np.float64)))
    return float(s.sum() ** 2 / (s.size * (s * s).sum()))


def profile(d: int, phi: float, seed: int = 0) -> np.ndarray:
    """Weights w >= 0 (length d) with ||w||_2^2 = d and density(w) = phi, phi in [1/d, 1]."""
    if not (1.0 / d - 1e-12 <= phi <= 1.0 + 1e-12):
        raise ProblemError(f"noise density phi must lie in [1/d, 1] = [{1.0 / d:.3g}, 1] for d = {d}, got {phi!r}")
    i = np.arange(1, d + 1, dtype=np.float64)

    def w_of(p):
        w = np.exp(-p * np.log(i))
        return w * math.sqrt(d) / np.linalg.norm(w)

    if phi >= 1.0 - 1e-12:
        w = np.ones(d)
    elif phi <= 1.0 / d + 1e-12:
        w = np.zeros(d)
        w[0] = math.sqrt(d)
    else:
        lo, hi = 0.0, 1.0
        while density(w_of(hi)) > phi:      # phi(p) decreases from 1 (p = 0) to 1/d (p -> inf)
            lo, hi = hi, 2.0 * hi
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if density(w_of(mid)) > phi else (lo, mid)
            if hi - lo < 1e-14 * max(1.0, hi):
                break
        w = w_of(0.5 * (lo + hi))
    return np.random.default_rng(seed).permutation(w)


class Noise:
    """Base class. ``draw(rng, chunk, problem)``: numpy randomness of ``chunk`` steps of one run;
    ``apply(problem, x, grad, draw)``: the stochastic gradient for draw of shape (S, ...) (seeds)."""

    kind = "none"
    spec: dict = {}

    def sigma(self, problem) -> np.ndarray:
        """Per-coordinate standard deviation sigma_i (event shape; inf where the variance is infinite)."""
        return np.zeros(problem.event_shape)

    def draw(self, rng, chunk, problem):
        return None

    def apply(self, problem, x, grad, draw):
        return grad

    def label(self) -> str:
        parts = [self.kind] + [f"{k}={v}" for k, v in sorted(self.spec.items())]
        return ":".join(parts)


class NoNoise(Noise):
    kind = "none"

    def __init__(self):
        self.spec = {}


class _Scaled(Noise):
    """Additive noise sigma_i * (a standard draw), with the density profile of the module docstring."""

    def __init__(self, sigma: float, phi: float = 1.0, profile_seed: int = 0):
        sigma = check_real("noise sigma", sigma, low=0.0, error=ProblemError)
        self.level, self.phi, self.profile_seed = sigma, float(phi), int(profile_seed)
        self._scale = {}

    def weights(self, problem) -> np.ndarray:
        return profile(problem.dim, self.phi, self.profile_seed).reshape(problem.event_shape)

    def sigma(self, problem):
        return self.level * self.weights(problem)

    def _scale_tensor(self, problem, like):
        key = (id(problem), like.dtype, like.device)
        if key not in self._scale:
            import torch

            self._scale[key] = torch.as_tensor(self.level * self.weights(problem) * self._unit, dtype=like.dtype,
                                               device=like.device)
        return self._scale[key]

    def apply(self, problem, x, grad, draw):
        import torch

        return torch.addcmul(grad, self._scale_tensor(problem, grad), draw.to(grad.dtype))


class Gaussian(_Scaled):
    kind = "gaussian"
    _unit = 1.0

    def __init__(self, sigma: float = 1.0, phi: float = 1.0, profile_seed: int = 0):
        super().__init__(sigma, phi, profile_seed)
        self.spec = {"sigma": self.level, "phi": self.phi}

    def draw(self, rng, chunk, problem):
        return rng.standard_normal((chunk, *problem.event_shape), dtype=np.float32)


class StudentT(_Scaled):
    """Student-t noise with ``df`` degrees of freedom (df > 1, so the mean exists and is 0)."""

    kind = "student_t"

    def __init__(self, sigma: float = 1.0, df: float = 3.0, phi: float = 1.0, profile_seed: int = 0):
        super().__init__(sigma, phi, profile_seed)
        # df > 1 for a mean; df = inf (the Gaussian) is refused: the unit scale sqrt((df - 2)/df) is NaN there
        df = check_real("student_t noise df (> 1 for a mean)", df, low=1.0, low_open=True, error=ProblemError)
        self.df = df
        self._unit = math.sqrt((df - 2.0) / df) if df > 2 else 1.0
        self.spec = {"sigma": self.level, "df": df, "phi": self.phi}

    def sigma(self, problem):
        if self.df <= 2:
            return np.where(self.weights(problem) > 0, np.inf, 0.0) * (self.level > 0)
        return super().sigma(problem)

    def moment(self, kappa: float) -> float:
        """E|xi_i / s_i|^kappa for the unit draw (finite iff kappa < df):
        df^(kappa/2) Gamma((kappa+1)/2) Gamma((df-kappa)/2) / (sqrt(pi) Gamma(df/2)), times unit^kappa."""
        if kappa >= self.df:
            return math.inf
        v = self.df
        lg = (0.5 * kappa * math.log(v) + special.gammaln((kappa + 1) / 2) + special.gammaln((v - kappa) / 2)
              - 0.5 * math.log(math.pi) - special.gammaln(v / 2))
        return math.exp(lg) * self._unit ** kappa

    def draw(self, rng, chunk, problem):
        return rng.standard_t(self.df, size=(chunk, *problem.event_shape)).astype(np.float32)


class Minibatch(Noise):
    kind = "minibatch"

    def __init__(self, batch: int = 1):
        self.batch = check_int("minibatch noise batch", batch, low=1, error=ProblemError)
        self.spec = {"batch": self.batch}

    def sigma(self, problem):
        return problem.minibatch_sigma(problem.x0_np, self.batch)

    def draw(self, rng, chunk, problem):
        return problem.minibatch_draw(rng, chunk, self.batch)

    def apply(self, problem, x, grad, draw):
        return problem.minibatch_grad(x, draw)


NOISE_KINDS = {"gaussian": Gaussian, "student_t": StudentT, "minibatch": Minibatch, "none": NoNoise}


def make_noise(kind: str = "gaussian", **options) -> Noise:
    """A noise model by name (see NOISE_KINDS) with its options; unknown names and options are refused."""
    if isinstance(kind, Noise):
        return kind
    cls = NOISE_KINDS.get(kind)
    if cls is None:
        raise ProblemError(f"unknown noise {kind!r}; choose from {sorted(NOISE_KINDS)}")
    try:
        return cls(**options)
    except TypeError as err:
        raise ProblemError(f"bad options for noise {kind!r}: {err}") from None
