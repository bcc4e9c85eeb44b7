"""Vector test problems with exactly known constants, evaluated on a batch of points at once.

Every problem acts on tensors of shape (..., *event_shape): the leading axes are the batch (tau
values x seeds in a sweep), so one call evaluates all runs. Each exposes what the bounds need:

    f_star      min f (exact where the construction allows it, otherwise documented)
    x0          the common starting point (event_shape), delta = f(x0) - f_star
    L2          smoothness in l2:      ||grad f(x) - grad f(y)||_2 <= L2 ||x - y||_2
    L_inf       l_inf -> l1 smoothness: ||grad f(x) - grad f(y)||_1 <= L_inf ||x - y||_inf
    L_coord     per-coordinate constants L_i of Bernstein et al. (2018):
                f(y) <= f(x) + <grad f(x), y - x> + sum_i L_i (y_i - x_i)^2 / 2
    dim         the number of coordinates d

The constants are upper bounds that hold everywhere (not local estimates), so a bound evaluated
on them is the bound the theorem states for this problem.
"""

from __future__ import annotations

import math

import numpy as np

from geomrelax.backend import torch_module
from geomrelax.errors import GeomrelaxError
from geomrelax.validate import check_choice, check_int, check_real

__all__ = ["Problem", "ProblemError", "Separable", "RobustRegression", "PHI_KINDS"]


class ProblemError(GeomrelaxError):
    """A test problem asked for with invalid settings (the message names the setting)."""


def _check_positive_int(name, value, low=1):
    return check_int(name, value, low=low, error=ProblemError)


def _check_positive(name, value):
    return check_real(name, value, low=0.0, low_open=True, error=ProblemError)


class Problem:
    """Base class: a smooth function on a batch of points with its constants.

    Subclasses set ``name``, ``event_shape``, the constants, and implement ``value`` and ``grad``
    for torch tensors of shape (..., *event_shape) (the tensors' dtype and device are kept).
    Finite sums and data distributions also implement ``minibatch_draw(rng, chunk, batch)`` (the
    randomness of ``chunk`` steps of one run, drawn with numpy), ``minibatch_grad(x, draw)`` and
    ``minibatch_sigma(x, batch)`` (per-coordinate standard deviation), used by the minibatch noise.
    """

    name = "problem"
    event_shape: tuple = ()
    f_star: float = 0.0
    L2: float = math.nan
    L_inf: float = math.nan
    L_coord: np.ndarray = None
    x0_np: np.ndarray = None
    matrix = False

    @property
    def dim(self) -> int:
        return int(np.prod(self.event_shape))

    @property
    def delta(self) -> float:
        torch = torch_module()
        x0 = torch.as_tensor(self.x0_np, dtype=torch.float64)
        return float(self.value(x0)) - self.f_star

    def x0(self, dtype=None, device=None):
        torch = torch_module()
        return torch.as_tensor(self.x0_np, dtype=dtype or torch.float32, device=device)

    def value(self, x):
        raise NotImplementedError

    def grad(self, x):
        raise NotImplementedError

    def minibatch_draw(self, rng, chunk: int, batch: int):
        raise ProblemError(f"problem {self.name!r} has no data to sample: minibatch noise is not defined for it")

    minibatch_grad = minibatch_sigma = minibatch_draw

    def tensors(self, like, *names):
        """The numpy attributes ``names`` as tensors of like's dtype and device (converted once, cached)."""
        cache = self.__dict__.setdefault("_tensor_cache", {})
        key = (like.dtype, like.device, names)
        if key not in cache:
            torch = torch_module()
            cache[key] = tuple(torch.as_tensor(getattr(self, n), dtype=like.dtype, device=like.device) for n in names)
        return cache[key]

    def constants(self) -> dict:
        """The scalar constants as a dict (for result files and bound evaluation)."""
        return {"f_star": self.f_star, "delta": self.delta, "L2": self.L2, "L_inf": self.L_inf,
                "L_coord_l1": float(np.sum(self.L_coord)), "dim": self.dim}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} d={self.dim}>"


PHI_KINDS = ("rational", "log")


def _phi(z, kind):
    """phi(z), phi'(z): rational z^2/(1+z^2) or log log(1+z^2); both have max |phi''| = phi''(0) = 2."""
    s = z * z
    if kind == "rational":
        q = 1.0 / (1.0 + s)
        return s * q, 2.0 * z * q * q
    return (1.0 + s).log(), 2.0 * z / (1.0 + s)


class Separable(Problem):
    """f(x) = sum_i a_i phi(x_i - c_i): separable, non-convex, curvature spread over orders of magnitude.

    phi(z) = z^2/(1+z^2) ("rational", bounded, non-convex for |z| > 1/sqrt 3) or log(1+z^2)
    ("log", non-convex for |z| > 1). Both have min phi = phi(0) = 0 and max |phi''| = phi''(0) = 2,
    so f* = 0 (at x = c) and, exactly,

        L_i = 2 a_i,   L2 = 2 max_i a_i,   L_inf = sum_i L_i = 2 sum_i a_i

    (the Hessian is diagonal; its l_inf -> l1 norm is the sum of |diagonal|). The curvatures a_i are
    log-spaced in [a_min, a_max] and shuffled, the centres |c_i| uniform in [offset, 1.5 offset] with
    random signs, x0 = 0, so every coordinate starts at |z| >= offset (default 2: in the non-convex
    region of both phi).
    """

    def __init__(self, d: int, *, a_min: float = 0.01, a_max: float = 10.0, offset: float = 2.0,
                 phi: str = "rational", seed: int = 0):
        d = _check_positive_int("d", d)
        a_min, a_max = _check_positive("a_min", a_min), _check_positive("a_max", a_max)
        if a_min > a_max:
            raise ProblemError(f"a_min must be <= a_max, got a_min={a_min}, a_max={a_max}")
        offset = _check_positive("offset", offset)
        check_choice("phi", phi, PHI_KINDS, error=ProblemError)
        rng = np.random.default_rng(seed)
        a = np.geomspace(a_min, a_max, d) if d > 1 else np.array([math.sqrt(a_min * a_max)])
        self.a = rng.permutation(a)
        # |c_i| uniform in [offset, 1.5 offset]: not on a lattice that sign steps from x0 = 0 could land on exactly
        self.c = offset * rng.uniform(1.0, 1.5, size=d) * rng.choice([-1.0, 1.0], size=d)
        self.phi = phi
        self.name = f"separable_{phi}"
        self.event_shape = (d,)
        self.x0_np = np.zeros(d)
        self.f_star = 0.0
        self.a2 = 2.0 * self.a
        self.L_coord = 2.0 * self.a
        self.L2 = float(self.L_coord.max())
        self.L_inf = float(self.L_coord.sum())

    def value(self, x):
        a, c = self.tensors(x, "a", "c")
        return (a * _phi(x - c, self.phi)[0]).sum(-1)

    def grad(self, x):
        a2, c = self.tensors(x, "a2", "c")
        z = x - c
        q = 1.0 / (1.0 + z * z)
        # a_i phi'(z): 2 a_i z / (1 + z^2)^2 (rational) or 2 a_i z / (1 + z^2) (log); a2 = 2 a
        return a2 * z * q * q if self.phi == "rational" else a2 * z * q


class RobustRegression(Problem):
    """f(x) = (1/n) sum_j log(1 + (a_j^T x - b_j)^2): non-separable, non-convex (Cauchy loss).

    a_j ~ N(0, I/d) rows of A (n x d), b = A x_true with x_true ~ N(0, I) scaled to ||x_true||_2 = sqrt(d),
    x0 = 0. Since every term is >= 0 and vanishes at x_true, f* = 0 exactly (``outliers`` > 0 replaces
    that fraction of b by large values; f* is then the value at the best point L-BFGS finds from
    x_true, documented as such by ``f_star_exact = False``). With psi(r) = log(1 + r^2), |psi''| <= 2:

        L2 = 2 ||A||_2^2 / n,   L_inf = (2/n) sum_j ||a_j||_1^2,   L_i = (2/n) sum_j A_ji^2

    (Hessian (1/n) sum_j psi''(r_j) a_j a_j^T; its l_inf -> l1 norm is at most (2/n) sum_j ||a_j||_1^2,
    and the per-coordinate constants come from the diagonal majorant (2/n) sum_j diag(a_j a_j^T) --
    a valid L_i only for separable steps, as Bernstein et al. use it; stated here, not proved).
    """

    def __init__(self, d: int, n: int = None, *, outliers: float = 0.0, seed: int = 0):
        d = _check_positive_int("d", d)
        n = 4 * d if n is None else _check_positive_int("n", n)
        outliers = check_real("outliers", outliers, low=0.0, high=1.0, high_open=True, error=ProblemError)
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((n, d)) / math.sqrt(d)
        xt = rng.standard_normal(d)
        xt *= math.sqrt(d) / np.linalg.norm(xt)
        b = A @ xt
        k = int(round(outliers * n))
        if k:
            b[rng.choice(n, k, replace=False)] += 10.0 * rng.standard_cauchy(k)
        self.A, self.b, self.x_true, self.n = A, b, xt, n
        self.name = "robust_regression"
        self.event_shape = (d,)
        self.x0_np = np.zeros(d)
        self.L2 = 2.0 * float(np.linalg.norm(A, 2)) ** 2 / n
        self.L_inf = 2.0 * float((np.abs(A).sum(1) ** 2).sum()) / n
        self.L_coord = 2.0 * (A * A).sum(0) / n
        self.f_star_exact = k == 0
        self.f_star = 0.0 if k == 0 else self._minimize(xt)

    def _minimize(self, start):
        from scipy.optimize import minimize

        A, b, n = self.A, self.b, self.n

        def fg(x):
            r = A @ x - b
            return float(np.log1p(r * r).sum() / n), A.T @ (2 * r / (1 + r * r)) / n

        return float(minimize(fg, start, jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "maxiter": 5000}).fun)

    def _consts(self, x):
        return self.tensors(x, "A", "b")

    def value(self, x):
        A, b = self._consts(x)
        r = x @ A.T - b
        return (r * r).log1p().mean(-1)

    def grad(self, x):
        A, b = self._consts(x)
        r = x @ A.T - b
        return (2.0 * r / (1.0 + r * r)) @ A / self.n

    def minibatch_draw(self, rng: np.random.Generator, chunk: int, batch: int) -> np.ndarray:
        """Row indices for ``chunk`` steps of one run: shape (chunk, batch), uniform with replacement."""
        return rng.integers(0, self.n, size=(chunk, batch))

    def minibatch_grad(self, x, draw):
        """(1/batch) sum_{j in draw} grad of term j, for x of shape (..., S, d) and draw (S, batch)."""
        A, b = self._consts(x)
        Ab, bb = A[draw], b[draw]                                       # (S, batch, d), (S, batch)
        r = (x.unsqueeze(-2) * Ab).sum(-1) - bb                         # (..., S, batch)
        w = 2.0 * r / (1.0 + r * r)
        return (w.unsqueeze(-1) * Ab).mean(-2)

    def minibatch_sigma(self, x, batch: int) -> np.ndarray:
        """Per-coordinate standard deviation of the minibatch gradient at x (numpy, exact over all n rows)."""
        r = self.A @ np.asarray(x, dtype=np.float64) - self.b
        G = (2.0 * r / (1.0 + r * r))[:, None] * self.A
        return G.std(0) / math.sqrt(batch)
