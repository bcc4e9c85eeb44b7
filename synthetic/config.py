"""Sweep grids written by users in TOML (read with tomllib; values are data, never evaluated).

    [grid]                      # every key optional; defaults in parentheses
    dims = [100]                # dimensions d (matrix problems: rows)
    horizons = [100, 1000]      # horizons T
    taus = [1.0, 10.0]          # temperatures of the tau-methods (softsignum, relaxed, softmuon)
    seeds = 8                   # a count (seeds 0..n-1) or a list of seeds
    n_checkpoints = 12
    dtype = "float32"           # or "float64"
    device = "cpu"              # or "cuda"

    [[problems]]                # one table per problem: kind + options
    kind = "separable"
    phi = "log"

    [[noises]]
    kind = "gaussian"
    sigma = 0.1
    phi = 0.5

    [[optimizers]]              # name + options (synthetic.methods.Method)
    name = "relaxed"
    regularizer = "algebraic"   # a built-in name, or:
    # regularizer_expr = "x**2/2 + x**4/4"   with   regularizer_domain = [-1.0, 1.0]
    # (parsed by geomrelax.from_expr as a formula, never executed)
    lr = 1.0
    schedule = "theory"
"""

from __future__ import annotations

from geomrelax.errors import GeomrelaxError
from geomrelax.validate import check_choice, check_int, check_real

__all__ = ["ConfigError", "load_config", "parse_config", "QUICK"]

GRID_KEYS = {"dims", "horizons", "taus", "seeds", "n_checkpoints", "dtype", "device"}
TOP_KEYS = {"grid", "problems", "noises", "optimizers"}

# the built-in quick grid: a T-fit and a d-fit of Signum, SoftSignum (4 taus) and SGD on the separable
# problem with Gaussian noise, in well under two minutes on two cores
QUICK = {
    "problems": [{"kind": "separable"}],
    "noises": [{"kind": "gaussian", "sigma": 0.1}],
    "optimizers": [{"name": "signum", "lr": 1.0, "schedule": "theory"},
                   {"name": "softsignum", "lr": 1.0, "schedule": "theory"},
                   {"name": "sgd", "lr": 0.5, "schedule": "theory"}],
    "dims": [30, 100, 300], "horizons": [100, 300, 1000, 3000], "taus": [0.1, 1.0, 10.0, 100.0],
    "seeds": list(range(4)), "n_checkpoints": 12, "dtype": "float32", "device": "cpu",
}


class ConfigError(GeomrelaxError):
    """A sweep configuration that cannot be used (the message names the key)."""


def _int_list(name, v):
    v = v if isinstance(v, list) else [v]
    if not v:
        raise ConfigError(f"grid.{name} must be a positive integer or a non-empty list of them, got {v!r}")
    return [check_int(f"grid.{name}", x, low=1, error=ConfigError) for x in v]


def _tables(name, v):
    if not isinstance(v, list) or not v or not all(isinstance(t, dict) for t in v):
        raise ConfigError(f"[[{name}]] must be one or more tables, got {v!r}")
    return [dict(t) for t in v]


def _optimizer(t):
    expr = t.pop("regularizer_expr", None)
    domain = t.pop("regularizer_domain", None)
    if expr is not None:
        if "regularizer" in t:
            raise ConfigError("give regularizer or regularizer_expr, not both")
        if not isinstance(expr, str):
            raise ConfigError(f"regularizer_expr must be a string (a formula in x), got {expr!r}")
        import geomrelax

        kwargs = {}
        if domain is not None:
            if not (isinstance(domain, list) and len(domain) == 2):
                raise ConfigError(f"regularizer_domain must be [lo, hi], got {domain!r}")
            kwargs["domain"] = tuple(float(x) for x in domain)
        t["regularizer"] = geomrelax.from_expr(expr, **kwargs)
    elif domain is not None:
        raise ConfigError("regularizer_domain needs regularizer_expr")
    if "name" not in t:
        raise ConfigError(f"every [[optimizers]] table needs a name, got {t!r}")
    return t


def parse_config(data: dict) -> dict:
    """The keyword arguments of synthetic.sweep from a parsed TOML document."""
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {sorted(unknown)}; expected {sorted(TOP_KEYS)}")
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise ConfigError("[grid] must be a table")
    bad = set(grid) - GRID_KEYS
    if bad:
        raise ConfigError(f"unknown key(s) in [grid]: {sorted(bad)}; expected {sorted(GRID_KEYS)}")
    out = {"dims": _int_list("dims", grid.get("dims", [100])),
           "horizons": _int_list("horizons", grid.get("horizons", [100, 1000]))}
    taus = grid.get("taus", [1.0, 10.0])
    taus = taus if isinstance(taus, list) else [taus]
    if not taus:
        raise ConfigError("grid.taus must be numbers > 0, got []")
    # tau = inf is the hard LMO (lmo.check_tau accepts it)
    out["taus"] = [check_real("grid.taus", t, low=0.0, low_open=True, allow_inf=True, error=ConfigError) for t in taus]
    seeds = grid.get("seeds", 8)
    if isinstance(seeds, list) and seeds:
        seeds = [check_int("grid.seeds", s, low=0, error=ConfigError) for s in seeds]
    elif isinstance(seeds, list):
        raise ConfigError("grid.seeds must be a count or a list of integers >= 0, got []")
    else:
        seeds = list(range(check_int("grid.seeds (a count)", seeds, low=1, error=ConfigError)))
    out["seeds"] = seeds
    out["n_checkpoints"] = _int_list("n_checkpoints", grid.get("n_checkpoints", 12))[0]
    dtype = check_choice("grid.dtype", grid.get("dtype", "float32"), ("float32", "float64"), error=ConfigError)
    device = check_choice("grid.device", grid.get("device", "cpu"), ("cpu", "cuda"), error=ConfigError)
    out.update(dtype=dtype, device=device)
    out["problems"] = _tables("problems", data.get("problems", [{"kind": "separable"}]))
    out["noises"] = _tables("noises", data.get("noises", [{"kind": "gaussian", "sigma": 0.1}]))
    out["optimizers"] = [_optimizer(t) for t in _tables("optimizers", data.get("optimizers", [{"name": "signum"}]))]
    return out


def load_config(path: str) -> dict:
    """Read a TOML sweep file (see the module docstring) into synthetic.sweep's keyword arguments."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: the same parser as the tomli package
        import tomli as tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path!r} is not valid TOML: {err}") from None
    return parse_config(data)
