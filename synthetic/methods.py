"""The optimizers of :mod:`geomrelax.optim` (and SGD), stepped on a whole batch of runs at once.

A sweep keeps the iterates of all runs of a cell in one tensor x of shape (n_tau, S, *event):
temperatures x seeds x the problem's event shape. Each method below applies the same update
formulas as the torch optimizers (the element-wise ones through :mod:`geomrelax.updates`, the
spectral ones through :mod:`geomrelax.optim.spectral_maps` and the regularizers' grad V*), with
tau a tensor of shape (n_tau, 1, ..., 1) broadcast over the runs, so one call steps every run.
``tests/test_synthetic_methods.py`` checks each against its geomrelax.optim / torch.optim twin.

    sgd          b = beta b + (1 - damp) g (b_1 = g),  x <- x - lr u              (tau column: 0)
    signum       the same momentum, x <- x - lr sign(u)                          (tau: inf)
    softsignum   x <- x - lr psi(tau u), fixed tau per run (the transition map of SoftSignum);
                 with ``schedule=True``: sign_iters sign steps, then the quantile temperature
                 schedule of geomrelax.schedule fitted per run (tau column: NaN)
    s3           S3 / SoftSignSGD (geomrelax.updates.s3_step)                    (tau: NaN)
    relaxed      x <- x + lr grad V*(-tau u) for any regularizer V (a built-in name, or an object
                 such as geomrelax.from_expr(...)); a vector V sees a matrix parameter flattened
    muon         M = beta M + (1-beta) g, u = (1-beta) g + beta M (nesterov), x <- x - lr s NS5(u),
                 s = sqrt(max(1, rows/cols))                                       (tau: inf)
    softmuon     as muon with NS5 replaced by u (u^T u + tau^-2 I)^(-1/2) (exact, by SVD)
    normuon, mimuon, sf, ssvr, majority   the variants of the zoo (synthetic.variant_methods; their
                 options go in Method.options, e.g. {"name": "majority", "workers": 9, "byzantine": 0.1})

Step sizes per horizon T (``lr_power``, ``momentum_power``): lr = lr * T^-lr_power and, when
momentum_power is set, beta = 1 - T^-momentum_power. ``schedule="theory"`` picks what the theorems
prescribe: sign-type methods lr ~ T^-3/4 with beta = 1 - T^-1/2 (Signum, Jiang et al. 2025; the same
for SoftSignum, S3, Relaxed, Muon, SoftMuon), SGD lr ~ T^-1/2 with beta = 0.
The default momentum form is the EMA one (dampening = beta), so u estimates the gradient and tau
acts on the gradient's scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from geomrelax import updates as U
from geomrelax.errors import InvalidHyperparameterError
from geomrelax.lmo import check_tau
from geomrelax.regularizers import Regularizer, as_regularizer
from geomrelax.validate import check_choice, check_real

from . import variant_methods as VM

__all__ = ["Method", "METHOD_NAMES", "make_method", "TAU_METHODS"]

METHOD_NAMES = ("sgd", "signum", "softsignum", "s3", "relaxed", "muon", "softmuon") + VM.VARIANT_NAMES
TAU_METHODS = ("softsignum", "relaxed", "softmuon")
SPECTRAL = ("muon", "softmuon")


def _torch():
    import torch

    return torch


def _conj_torch(name):
    """V*(y) summed over the last axis, in torch, for the built-in separable regularizers (None otherwise)."""
    torch = _torch()

    def logcosh(y):
        # ln cosh y = |y| + log1p(exp(-2|y|)) - ln 2; for |y| > 20 the log1p term (< 5e-18) is dropped by
        # clamping, which keeps exp out of its denormal range (10x slower on CPUs, measured)
        a = y.abs()
        return a + torch.log1p(torch.exp(-2.0 * a.clamp(max=20.0))) - math.log(2.0)

    table = {
        "euclidean": lambda y: 0.5 * (y * y).sum(-1),
        "box": lambda y: y.abs().sum(-1),
        "box_quadratic": lambda y: torch.where(y.abs() <= 1, 0.5 * y * y, y.abs() - 0.5).sum(-1),
        "entropic": lambda y: logcosh(y).sum(-1),
        "algebraic": lambda y: (torch.sqrt(1.0 + y * y) - 1.0).sum(-1),
    }
    return table.get(name)


@dataclass
class Method:
    """One optimizer with its hyperparameters (see the module docstring).

    name: one of METHOD_NAMES. lr, momentum, dampening ('ema' = momentum), nesterov, weight_decay.
    lr_power / momentum_power: horizon rules; schedule='theory' fills them in per method.
    psi: 'tanh' or 'algebraic' (softsignum). regularizer: relaxed's V (a built-in name, "spectral:NAME"
    for the spectral lift of a built-in, or a Regularizer such as geomrelax.from_expr(...)).
    beta, p, eps: S3. sign_iters, eps_sched, tmax: softsignum with schedule=True (fraction of
    T in the sign phase: alpha_sign).
    """

    name: str
    lr: float = 0.01
    momentum: float = 0.9
    dampening: object = "ema"
    nesterov: object = None
    weight_decay: float = 0.0
    lr_power: float = 0.0
    momentum_power: float = None
    schedule: object = None
    psi: str = "tanh"
    regularizer: object = None
    p: float = 3.0
    eps: float = 1e-8
    alpha_sign: float = 0.9
    tmax: object = None
    label: str = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in METHOD_NAMES:
            raise InvalidHyperparameterError(f"unknown optimizer {self.name!r}; choose from {METHOD_NAMES}")
        if self.schedule not in (None, "theory", "softsign"):
            raise InvalidHyperparameterError(
                f"schedule must be None, 'theory' or 'softsign' (SoftSignum's temperature schedule), got {self.schedule!r}")
        if self.schedule == "softsign" and self.name != "softsignum":
            raise InvalidHyperparameterError("schedule='softsign' is the temperature schedule of softsignum only")
        if self.name in VM.VARIANT_NAMES:
            self.options = VM.check_options(self.name, self.options)
        if self.schedule == "theory":
            if self.name == "ssvr":     # SSVR's theorem: lr ~ T^-2/3 and a ~ T^-2/3, no momentum
                self.lr_power, self.momentum_power, self.momentum = 2.0 / 3.0, None, 0.0
                self.options["a_power"] = 2.0 / 3.0
            elif self.name == "sgd":
                self.lr_power, self.momentum_power, self.momentum = 0.5, None, 0.0
            else:
                self.lr_power, self.momentum_power = 0.75, 0.5
        for key in ("lr", "weight_decay", "lr_power"):
            check_real(f"{self.name}: {key}", getattr(self, key), low=0.0)
        check_real(f"{self.name}: momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        if self.nesterov is None:        # Muon and SoftMuon are Nesterov by default (as the official code)
            self.nesterov = self.name in SPECTRAL + VM.MATRIX_VARIANTS
        check_choice("psi", self.psi, U.PSI_KINDS)
        if self.name == "relaxed":
            if self.regularizer is None:
                raise InvalidHyperparameterError("relaxed needs a regularizer (a built-in name or a Regularizer)")
            reg = self.regularizer
            if isinstance(reg, str) and reg.startswith("spectral:"):
                from geomrelax.spectral import spectral

                reg = spectral(reg.split(":", 1)[1])
            self.V = as_regularizer(reg)
            if not isinstance(self.V, Regularizer) or not self.V.strongly_convex:
                raise InvalidHyperparameterError(f"relaxed needs a strongly convex regularizer, got {self.V!r}")
        elif self.name == "softsignum":
            self.V = as_regularizer("entropic" if self.psi == "tanh" else "algebraic")
        elif self.name == "softmuon":
            from geomrelax.spectral import spectral

            self.V = spectral("algebraic")
        else:
            self.V = None

    # ------------------------------------------------------------------ naming and horizon rules
    @property
    def uses_tau(self) -> bool:
        return self.name in TAU_METHODS and self.schedule != "softsign"

    def fixed_tau(self) -> float:
        """The tau column of a method without a temperature: inf (sign, Muon), 0 (SGD), NaN otherwise."""
        return {"sgd": 0.0, "signum": math.inf, "muon": math.inf}.get(self.name, math.nan)

    @property
    def uses_step_count(self) -> bool:
        """Whether a step depends on its index k: the temperature schedule, and schedule-free averaging
        (weights k^r). Such methods are never compiled with k frozen to a constant."""
        return self.schedule == "softsign" or self.name == "sf"

    def key(self) -> str:
        if self.label:
            return self.label
        if self.name == "relaxed":
            return f"relaxed[{self.V.name}]"
        if self.name == "softsignum" and self.psi != "tanh":
            return f"softsignum[{self.psi}]"
        if self.name in VM.VARIANT_NAMES:
            return VM.variant_key(self.name, self.options)
        return self.name

    def params(self) -> dict:
        out = {"lr": self.lr, "momentum": self.momentum, "lr_power": self.lr_power,
               "momentum_power": self.momentum_power if self.momentum_power is not None else ""}
        if self.schedule == "softsign":
            out.update(alpha_sign=self.alpha_sign, tmax=self.tmax if self.tmax is not None else "")
        return out

    def at_horizon(self, T: int):
        """(lr, beta, dampening) used for horizon T."""
        lr = self.lr * T ** (-self.lr_power)
        beta = 1.0 - T ** (-self.momentum_power) if self.momentum_power is not None else self.momentum
        if self.name in ("s3",) + SPECTRAL + VM.VARIANT_NAMES:
            return lr, beta, 0.0
        damp = beta if self.dampening == "ema" else float(self.dampening)
        return lr, beta, damp

    # ------------------------------------------------------------------ state and step
    def init(self, x, taus, T: int):
        """Per-cell state: the iterate-shaped buffers and the tau tensor (n_tau, 1, ..., 1)."""
        torch = _torch()
        lr, beta, damp = self.at_horizon(T)
        # "fast": tanh through geomrelax.updates.fast_tanh (within 3 ulps), set by the engine for compiled
        # float32 steps only, as SoftSignum's fused path does (eagerly its selects cost more than tanh)
        st = {"lr": lr, "beta": beta, "damp": damp, "buf": None, "r": None, "T": T, "fast": False}
        if self.uses_tau:
            for t in taus:
                check_tau(t, allow_inf=False)
            shape = (len(taus),) + (1,) * (x.dim() - 1)
            st["tau"] = torch.as_tensor(np.asarray(taus, dtype=np.float64), dtype=x.dtype, device=x.device).reshape(shape)
        if self.schedule == "softsign":
            st["K_s"] = int(round(self.alpha_sign * T))
            st["sched"] = None
        if self.name in SPECTRAL:
            rows, cols = x.shape[-2], x.shape[-1]
            st["scale"] = math.sqrt(max(1.0, rows / cols))
        if self.name in VM.VARIANT_NAMES:
            VM.init(self, st, x)
        return st

    def _momentum(self, st, g):
        if self.name in SPECTRAL:
            return VM.spectral_momentum(st, g, self.nesterov)
        b, u = U.softsignum_direction(g, st["buf"], st["beta"], st["damp"], self.nesterov)
        st["buf"] = b
        return u

    def step(self, st, x, g, k: int):
        """(new x, momentum direction u) after step k (1-based) with stochastic gradient g."""
        lr, wd = st["lr"], self.weight_decay
        if self.name in VM.VARIANT_NAMES:
            return VM.step(self, st, x, g, k)
        if self.name == "s3":
            x, st["buf"], st["r"], _ = U.s3_step(x, st["buf"], st["r"], g, lr, st["beta"], self.p, self.eps, wd)
            return x, st["buf"]
        u = self._momentum(st, g)
        theta = U.decay(x, lr, wd)
        if self.name == "sgd":
            return theta - lr * u, u
        if self.name == "signum":
            return U.sign_step(theta, u, lr), u
        if self.name == "softsignum":
            if self.schedule == "softsign":
                return self._scheduled(st, theta, u, lr, k), u
            return U.soft_step(theta, u, lr, st["tau"], self.psi, st["fast"]), u
        if self.name == "relaxed":
            return U.relaxed_step(x, self._relaxed_direction(st["tau"], u), lr, wd), u
        if self.name == "muon":
            from geomrelax.optim.spectral_maps import newton_schulz5

            return theta - lr * st["scale"] * newton_schulz5(u, dtype=self.options.get("ns_dtype")), u
        # softmuon: S_tau(u) = U diag(sigma / sqrt(sigma^2 + tau^-2)) W^T = grad F*(tau u), F = spectral algebraic
        return theta - lr * st["scale"] * self.V.torch_grad_conj(st["tau"] * u), u

    def _relaxed_direction(self, tau, u):
        V = self.V
        if V.event_ndim == 1 and u.dim() > 3:      # a matrix parameter seen as one flat vector
            return V.torch_grad_conj((-tau * u).flatten(-2)).reshape(u.shape)
        try:
            return V.torch_grad_conj(-tau * u)
        except NotImplementedError:
            torch = _torch()
            y = (-tau * u).detach().cpu().double().numpy()
            with np.errstate(over="ignore"):
                d = np.asarray(V.grad_conj(y), dtype=np.float64)
            return torch.from_numpy(d).to(dtype=u.dtype, device=u.device)

    def _scheduled(self, st, theta, u, lr, k):
        """SoftSignum: sign steps for k <= K_s, then psi(tau_j u) with tau_j fitted per run at k = K_s + 1."""
        if k <= st["K_s"]:
            return U.sign_step(theta, u, lr)
        if st["sched"] is None:
            st["sched"] = self._fit_schedules(u, st["T"] - st["K_s"])
        j = min(k - st["K_s"] - 1, st["sched"].shape[-1] - 1)
        return U.soft_step(theta, u, lr, st["sched"][..., j].reshape(u.shape[:-1] + (1,)), self.psi, st["fast"])

    def _fit_schedules(self, u, K):
        """The temperature schedule of each run, fitted once on that run's u (a loop over runs, once per cell)."""
        from geomrelax.schedule import temperature_schedule

        torch = _torch()
        flat = u.reshape(-1, u.shape[-1]).detach().cpu().double().numpy()
        taus = [temperature_schedule(row, K, eps=1e-4, tmax=self.tmax, psi=self.psi).taus for row in flat]
        return torch.as_tensor(np.stack(taus), dtype=u.dtype, device=u.device).reshape(u.shape[:-1] + (K,))

    # ------------------------------------------------------------------ stationarity in V*
    def vstar_fn(self):
        """(1/tau) V*(-tau G) summed over coordinates, as a torch function of (G, tau), or None.

        For tau -> inf this tends to the support function (||G||_1 for the box, ||G||_* nuclear for the
        spectral box); it is the stationarity measure of the Softsign descent bound (times 1/tau).
        """
        if not self.uses_tau:
            return None
        if self.name == "softmuon":
            torch = _torch()

            def spectral_alg(G, tau):
                s = torch.linalg.svdvals(G)
                return ((torch.sqrt(1.0 + (tau.squeeze(-1) * s) ** 2) - 1.0).sum(-1)) / tau.reshape(tau.shape[:-2])
            return spectral_alg
        conj = _conj_torch(self.V.name)
        if conj is None:
            return None

        def fn(G, tau):
            if G.dim() > 3:
                G = G.flatten(-2)
                tau = tau.squeeze(-1)
            return conj(-tau * G) / tau.squeeze(-1)
        return fn


def make_method(spec) -> Method:
    """A Method from a Method, a name, or a dict {'name': ..., options} (unknown options refused)."""
    if isinstance(spec, Method):
        return spec
    if isinstance(spec, str):
        return Method(spec)
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None) or spec.pop("optimizer", None)
        if name is None:
            raise InvalidHyperparameterError(f"an optimizer spec needs a 'name', got {spec!r}")
        known = set(Method.__dataclass_fields__)
        extra = {k: spec.pop(k) for k in list(spec) if k not in known}
        if extra and name not in ("muon",) + VM.VARIANT_NAMES:
            raise InvalidHyperparameterError(f"unknown option(s) {sorted(extra)} for optimizer {name!r}")
        return Method(name, **spec, options=extra)
    raise InvalidHyperparameterError(f"an optimizer is a name, a dict or a Method, got {type(spec).__name__}")
