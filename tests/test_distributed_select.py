"""The exact order statistics of geomrelax.optim.distributed in one process (no process group), and the
promise that plain tensors never reach torch.distributed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geomrelax.optim import SoftMuon, SoftSignum  # noqa: E402
from geomrelax.optim.distributed import GroupComm, exact_cauchy_fit, exact_median, group_comm  # noqa: E402
from geomrelax.robust_fit import cauchy_fit  # noqa: E402


def _data(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.standard_cauchy(n).astype(np.float32)
    x[: n // 10] = 0.0                                    # ties and both signed zeros
    x[n // 10: n // 5] = -0.0
    x[n // 5: n // 4] = rng.choice(x[n // 4:], n // 4 - n // 5)   # more ties
    if n >= 3:
        x[-3:] = [np.finfo(np.float32).max, -np.finfo(np.float32).max, np.finfo(np.float32).tiny]
    rng.shuffle(x)
    return torch.from_numpy(x)


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 300_001])
def test_select_is_every_order_statistic(n):
    x = _data(n, n).to(torch.float64)
    comm = GroupComm()
    srt = np.sort(x.numpy())
    for k in sorted({0, n // 3, (n - 1) // 2, n // 2, n - 1}):
        assert comm.select(x + 0.0, k) == srt[k]
    for lower in (False, True):
        assert exact_median(comm, x + 0.0, lower) == (float(srt[(n - 1) // 2]) if lower or n % 2
                                                      else float(np.median(srt)))


@pytest.mark.parametrize("median", ["mean", "lower"])
def test_exact_fit_equals_cauchy_fit_bitwise(median):
    x = _data(3, 400_000)       # above the size where cauchy_fit switches to its sampled windows
    parts = list(torch.split(x, [150_000, 1, 249_999]))
    assert exact_cauchy_fit(GroupComm(), parts, parts, median) == cauchy_fit(x, median=median)


def test_exact_fit_degenerate_data():
    comm = GroupComm()
    zeros = [torch.zeros(5), torch.zeros(3)]
    assert exact_cauchy_fit(comm, zeros, zeros) is None     # no data: the schedule waits
    mostly = [torch.tensor([2.0, 2.0, 2.0, 2.0, 5.0, -1.0])]   # MAD 0: median of the positive deviations
    assert exact_cauchy_fit(comm, mostly, mostly) == cauchy_fit(mostly[0])


def test_plain_tensors_never_call_torch_distributed(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.distributed was called")

    for fn in ("all_reduce", "gather", "scatter", "all_gather_object", "get_rank", "get_world_size"):
        monkeypatch.setattr(torch.distributed, fn, refuse)
    torch.manual_seed(0)
    w, b = torch.nn.Parameter(torch.randn(5, 7)), torch.nn.Parameter(torch.randn(3))
    assert group_comm([w, b]) is None
    opts = [SoftSignum([w, b], lr=0.1, momentum=0.9, sign_iters=1, transition_iters=2, normalized=True),
            SoftMuon([w], sign_iters=1, transition_iters=2)]
    for _ in range(4):
        w.grad, b.grad = torch.randn(5, 7), torch.randn(3)
        for opt in opts:
            opt.step()
    assert all(opt.param_groups[0]["schedule"] is not None for opt in opts)
