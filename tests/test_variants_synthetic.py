"""The zoo's variants as synthetic methods: each batched step equals its torch optimizer (float64),
the options are checked, and the names work in a sweep grid."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import synthetic  # noqa: E402
from geomrelax import reference as R  # noqa: E402
from geomrelax.errors import InvalidHyperparameterError  # noqa: E402
from geomrelax.optim import SSVR, MiMuon, NorMuon, ScheduleFree  # noqa: E402
from synthetic.methods import make_method  # noqa: E402
from synthetic.sweep import make_problem  # noqa: E402


def _batched_run(method, problem, steps, T=100):
    """x of shape (1, 1, *event) stepped with exact gradients; the trajectory of x[0, 0]."""
    x = problem.x0(dtype=torch.float64).reshape(1, 1, *problem.event_shape).clone()
    st = method.init(x, [float("nan")], T)
    out = []
    for k in range(1, steps + 1):
        x, _ = method.step(st, x, problem.grad(x), k)
        out.append(x[0, 0].clone())
    return out


def _torch_run(opt_cls, problem, steps, closure_steps=False, **kw):
    p = torch.nn.Parameter(problem.x0(dtype=torch.float64).clone())
    opt = opt_cls([p], **kw)
    out = []
    for _ in range(steps):
        def closure():
            p.grad = problem.grad(p.detach().reshape(1, 1, *p.shape))[0, 0].clone()
        if closure_steps:
            opt.step(closure)
        else:
            closure()
            opt.step()
        out.append(p.detach().clone())
    return out


# float64 throughout; the batched NS5 runs the same products in another batch layout: ~1e-15 per step
TOL = 1e-10


@pytest.mark.parametrize("name,cls,kw", [
    ("normuon", NorMuon, {"beta2": 0.9}), ("mimuon", MiMuon, {"alpha": 0.3})])
def test_matrix_variants_equal_the_torch_optimizers(name, cls, kw):
    P = make_problem("matrix_least_squares", 6)
    m = make_method({"name": name, "lr": 0.05, "momentum": 0.9, "ns_dtype": torch.float64, **kw})
    a = _batched_run(m, P, 10)
    b = _torch_run(cls, P, 10, lr=0.05, momentum=0.9, ns_dtype=torch.float64, **kw)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("lmo", ["sign", "muon"])
def test_schedule_free_equals_the_torch_wrapper(lmo):
    P = make_problem("matrix_least_squares", 5)
    m = make_method({"name": "sf", "lr": 0.05, "lmo": lmo, "sf_beta": 0.7})
    a = _batched_run(m, P, 10)
    b = _torch_run(ScheduleFree, P, 10, lr=0.05, lmo=lmo, beta=0.7)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, rtol=TOL, atol=TOL)


def test_ssvr_equals_the_torch_optimizer_with_the_same_sample():
    # without noise the sample is the exact gradient: both sides compute g(x_(k-1)) exactly;
    # the batched one as g - grad f(x_k) + grad f(x_(k-1)), which rounds (hence a tolerance, float64)
    P = synthetic.Separable(12)
    m = make_method({"name": "ssvr", "lr": 0.05, "a": 0.3, "problem": "separable"})
    a = _batched_run(m, P, 15)
    b = _torch_run(SSVR, P, 15, closure_steps=True, lr=0.05, a=0.3)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, rtol=0, atol=1e-12)


def test_majority_equals_the_reference_vote():
    P = synthetic.Separable(10)
    m = make_method({"name": "majority", "lr": 0.05, "workers": 5, "byzantine": 0.4, "heterogeneity": 2.0})
    x = P.x0(dtype=torch.float64).reshape(1, 1, 10).clone()
    st = m.init(x, [float("nan")], 50)
    H = st["H"][:, 0, 0].numpy()
    assert np.allclose(H.sum(0), 0, atol=1e-12) and st["n_byz"] == 2
    theta = x[0, 0].numpy().copy()
    for k in range(1, 8):
        g = P.grad(x)
        x, _ = m.step(st, x, g, k)
        workers = [[g[0, 0].numpy() + h] for h in H]
        (theta,) = R.majority_step([theta], workers, lr=0.05, byzantine=2)
        assert np.array_equal(x[0, 0].numpy(), theta)


def test_variant_options_are_checked():
    with pytest.raises(InvalidHyperparameterError, match="unknown option"):
        make_method({"name": "majority", "worker": 3})
    with pytest.raises(InvalidHyperparameterError, match="byzantine"):
        make_method({"name": "majority", "byzantine": 1.5})
    with pytest.raises(InvalidHyperparameterError, match="problem"):
        make_method({"name": "ssvr"})
    with pytest.raises(InvalidHyperparameterError, match="sf_tau"):
        make_method({"name": "sf", "lmo": "softsign"})
    with pytest.raises(InvalidHyperparameterError, match="not the cell's problem"):
        synthetic.run_cell(synthetic.Separable(5), synthetic.NoNoise(),
                           make_method({"name": "ssvr", "problem": "matrix_least_squares"}), 3)


def test_variant_keys_name_their_options_and_theory_schedule_of_ssvr():
    assert make_method({"name": "majority", "workers": 9, "byzantine": 0.1}).key() == \
        "majority[byzantine=0.1,workers=9]"
    m = make_method({"name": "ssvr", "problem": "separable", "schedule": "theory", "lr": 1.0, "a": 1.0})
    lr, beta, _ = m.at_horizon(1000)
    assert abs(lr - 1000 ** (-2 / 3)) < 1e-15 and beta == 0.0
    st = m.init(synthetic.Separable(4).x0(dtype=torch.float64).reshape(1, 1, 4), [float("nan")], 1000)
    assert abs(st["a"] - 1000 ** (-2 / 3)) < 1e-15


def test_variants_run_in_a_sweep_grid(tmp_path):
    from synthetic.config import parse_config
    from synthetic.sweep import sweep

    kw = parse_config({"grid": {"dims": [8], "horizons": [20], "seeds": 2, "n_checkpoints": 2},
                       "problems": [{"kind": "separable"}], "noises": [{"kind": "gaussian", "sigma": 0.5}],
                       "optimizers": [{"name": "majority", "workers": 3, "lr": 0.05},
                                      {"name": "ssvr", "problem": "separable", "lr": 0.05},
                                      {"name": "sf", "lr": 0.05}]})
    res = sweep(**kw, out=str(tmp_path), progress=False)
    names = {r["optimizer"] for r in res.runs}
    assert names == {"majority[workers=3]", "ssvr", "sf"}
    for r in res.runs:
        if r["step"] == 20:
            assert r["f_gap"] < next(q["f_gap"] for q in res.runs if q["step"] == 0 and q["cell"] == r["cell"])


def test_schedule_free_is_not_compiled_with_a_frozen_step_count():
    # sf's averaging weight depends on k: a compiled cell used to run it with k = 2 at every step
    sf = make_method({"name": "sf", "lmo": "sign", "lr": 0.05})
    assert sf.uses_step_count and not make_method({"name": "signum", "lr": 0.05}).uses_step_count
    cells = [synthetic.run_cell(synthetic.Separable(5), synthetic.NoNoise(), sf, 20, compile=c) for c in (False, True)]
    assert [r["f_gap"] for r in cells[0]] == [r["f_gap"] for r in cells[1]]
