"""One sweep cell: a problem, a noise model, a method and a horizon T, run for all (tau, seed) at once.

The iterates of the cell live in one tensor x of shape (n_tau, S, *event). Each step computes the
exact gradient G = grad f(x) of every run (one batched call), records the stationarity of every run,
adds the noise drawn for that step (per seed, shared by all temperatures: common random numbers, so
differences between temperatures are not noise), and steps all runs with the method. The only
Python loops are over steps and, once per ``chunk`` steps, over seeds to draw their noise.

Measures of run r at iterate theta_k (k = 0 .. T):

    grad_l1 = ||G||_1, grad_l2 = ||G||_2, grad_nuc = ||G||_* (matrices: sum of singular values)
    min_l1, min_l2 (min_nuc)   min over theta_0 .. theta_{k-1} (the E min_t of the theorems)
    avg_l1, avg_l2             (1/k) sum over theta_0 .. theta_{k-1}
    avg_vstar                  (1/k) sum_j (1/tau) V*(-tau G_j) for the method's regularizer
                               (tau-methods with a torch conjugate; NaN otherwise)
    avg_merr                   (1/k) sum_j ||G_j - u_j||_2^2, u_j the momentum direction used at step j
    f_gap                      f(theta_k) - f*

recorded at the checkpoints (log-spaced steps, always including 0 and T).
"""

from __future__ import annotations

import math

import numpy as np

from geomrelax.validate import check_choice, check_int

from .noise import stable_seed

__all__ = ["checkpoints", "run_cell", "MEASURES", "DTYPES"]

MEASURES = ("f_gap", "grad_l1", "grad_l2", "grad_nuc", "min_l1", "min_l2", "min_nuc", "avg_l1", "avg_l2",
            "avg_vstar", "avg_merr")
DTYPES = ("float32", "float64")
# auto-compile threshold in element-steps: measured on the separable problem (1 thread, loaded machine),
# eager steps cost ~100 ns per element and fused ones ~25 ns, after a compilation of ~20 s; from 5e8
# element-steps on (80 runs x d = 1000 x 1e4 steps) compiling saves more than it costs
COMPILE_WORK = 5e8


def checkpoints(T: int, n: int = 12) -> list:
    """0, T and about n - 2 log-spaced steps between (distinct integers, increasing)."""
    pts = {0, T}
    if T > 1 and n > 2:
        pts.update(int(round(v)) for v in np.geomspace(1, T, n - 1))
    return sorted(pts)


def _nuclear(G):
    import torch

    return torch.linalg.svdvals(G.double()).sum(-1).to(G.dtype)


def run_cell(problem, noise, method, T: int, taus=(math.nan,), seeds=(0,), *, n_checkpoints: int = 12,
             device: str = "cpu", dtype: str = "float32", chunk: int = 64, noise_key=None, progress=None,
             compile=None):
    """Run the cell and return a list of row dicts (one per tau, seed and checkpoint).

    ``noise_key`` names the noise stream (default: problem name, d and noise label), so that runs of
    different methods and horizons with the same seed see the same noise (common random numbers).
    ``progress``: a callable called with the number of steps done since its last call.
    ``compile``: fuse the step (gradient, measures, noise, update) into one torch.compile'd kernel
    (measured 4-6x faster per step on the separable problem, loaded CPU cores); it costs a compilation
    of tens of seconds on a CPU once per cell. None (auto): compile when T x runs x d >= COMPILE_WORK.
    """
    import torch

    check_choice("dtype", dtype, DTYPES, error=ValueError)
    # a whole float (1e4 from a grid file) is that integer; 2.5 is refused, not truncated
    T = check_int("the horizon T", int(T) if isinstance(T, float) and T.is_integer() else T, low=1, error=ValueError)
    tdtype = getattr(torch, dtype)
    taus = list(taus) if method.uses_tau else [method.fixed_tau()]
    seeds = [check_int("a seed", s, low=0, error=ValueError) for s in seeds]
    n_tau, S = len(taus), len(seeds)
    x = problem.x0(dtype=tdtype, device=device).expand(n_tau, S, *problem.event_shape).clone()
    st = method.init(x, taus, T)
    vstar = method.vstar_fn()
    key = noise_key or stable_seed(problem.name, problem.dim, noise.label())
    rngs = [np.random.default_rng(np.random.SeedSequence([s, key % (2**63)])) for s in seeds]
    marks = set(checkpoints(T, n_checkpoints))
    matrix = problem.matrix
    sums = {k: torch.zeros(n_tau, S, dtype=torch.float64, device=device) for k in ("l1", "l2", "vstar", "merr")}
    mins = {k: torch.full((n_tau, S), math.inf, dtype=torch.float64, device=device) for k in ("l1", "l2", "nuc")}
    rows = []
    ev = tuple(range(2, x.dim()))

    def record(step, G):
        f = problem.value(x).double() - problem.f_star
        vnorm = torch.linalg.vector_norm
        cur = {"f_gap": f, "grad_l1": vnorm(G.double(), 1, dim=ev), "grad_l2": vnorm(G.double(), 2, dim=ev),
               "grad_nuc": _nuclear(G).double() if matrix else None}
        k = max(step, 1)
        avg_vs = sums["vstar"] / k if vstar is not None else None
        out = {"f_gap": cur["f_gap"], "grad_l1": cur["grad_l1"], "grad_l2": cur["grad_l2"], "grad_nuc": cur["grad_nuc"],
               "min_l1": mins["l1"] if step else cur["grad_l1"], "min_l2": mins["l2"] if step else cur["grad_l2"],
               "min_nuc": (mins["nuc"] if step else cur["grad_nuc"]) if matrix else None,
               "avg_l1": sums["l1"] / k if step else cur["grad_l1"], "avg_l2": sums["l2"] / k if step else cur["grad_l2"],
               "avg_vstar": avg_vs if step else None, "avg_merr": sums["merr"] / k if step else None}
        host = {m: (v.cpu().numpy() if v is not None else None) for m, v in out.items()}
        for i, tau in enumerate(taus):
            for j, seed in enumerate(seeds):
                row = {"tau": float(tau), "seed": seed, "step": step}
                for m in MEASURES:
                    row[m] = float(host[m][i, j]) if host[m] is not None else math.nan
                rows.append(row)

    vnorm = torch.linalg.vector_norm

    def body(x, draw, st, k):
        """One step of every run: (new x, G, ||G||_1, ||G||_2, V* term, ||G - u||_2^2), all before the step."""
        G = problem.grad(x)
        # reductions in the run's dtype (a float64 dtype= argument would copy G first); torch sums by
        # cascades, so float32 norms of 1e4 terms are good to ~1e-6 relative, far below seed noise
        l1 = vnorm(G, 1, dim=ev).double()
        l2 = vnorm(G, 2, dim=ev).double()
        v = vstar(G, st["tau"]).double() if vstar is not None else None
        g = noise.apply(problem, x, G, draw)
        x, u = method.step(st, x, g, k)
        return x, G, l1, l2, v, vnorm(G - u, 2, dim=ev).double().square()

    if compile is None:
        compile = T * n_tau * S * problem.dim >= COMPILE_WORK
    fast = None
    if compile and not method.uses_step_count:
        st["fast"] = x.dtype == torch.float32
        # one fused kernel per cell (inductor); the step count k is not used by these methods, so it is
        # passed as a constant and does not cause recompilation
        compiled = torch.compile(body, dynamic=False)
        fast = lambda x, draw, st, k: compiled(x, draw, st, 2)     # noqa: E731
    draws = None
    done = 0
    for k in range(1, T + 1):
        t = (k - 1) % chunk
        if t == 0:
            c = min(chunk, T - k + 1)
            raw = [noise.draw(rng, c, problem) for rng in rngs]
            draws = None if raw[0] is None else torch.as_tensor(np.stack(raw, axis=1), device=device)
        if k == 1:
            record(0, problem.grad(x))
        fn = body if (fast is None or k == 1) else fast     # step 1 creates the buffers eagerly
        x, G, l1, l2, v, e = fn(x, draws[t] if draws is not None else None, st, k)
        sums["l1"] += l1
        sums["l2"] += l2
        torch.minimum(mins["l1"], l1, out=mins["l1"])
        torch.minimum(mins["l2"], l2, out=mins["l2"])
        if matrix:
            torch.minimum(mins["nuc"], _nuclear(G).double(), out=mins["nuc"])
        if v is not None:
            sums["vstar"] += v
        sums["merr"] += e
        if k in marks:
            record(k, problem.grad(x))
        if progress is not None and (k % 256 == 0 or k == T):
            progress(k - done)
            done = k
    return rows
