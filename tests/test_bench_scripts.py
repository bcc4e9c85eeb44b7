"""The benchmark scripts run end to end at tiny sizes on CPU (the GPU script included), so that a session
with a GPU can run them as they are; the numbers themselves are not checked here (timings are noise)."""

import json
import math

import pytest
import torch

from benchmarks import bench_cuda, bench_official, bench_optim


def test_bench_cuda_runs_on_cpu(tmp_path, capsys):
    out = tmp_path / "cuda.json"
    bench_cuda.main(["--device", "cpu", "--numel", "40000", "--tensors", "3", "--shapes", "24x24", "32x16",
                     "--rounds", "1", "--json", str(out), "--no-fused"])
    data = json.loads(out.read_text())
    cases = {r["case"] for r in data["elementwise"]}
    assert {"AdamW fused", "SoftSignum sign, default", "SoftSignum transition, default"} <= cases
    assert all(r["ms"] > 0 and r["bandwidth_GBs"] > 0 for r in data["elementwise"])
    maps = [r for r in data["matrices"] if r["case"].startswith("map:")]
    # per shape: NS5, and three taus x (bf16 and float16 with float16 products, bf16 with bf16 products)
    assert len(maps) == 2 * 10 and all(math.isfinite(r["error"]) for r in maps)
    assert all(r["error"] <= 1e-2 for r in maps if "smoothed polar" in r["case"] and "bf16 products" not in r["case"])
    assert "Table 2" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_bench_cuda_says_when_there_is_no_gpu():
    with pytest.raises(SystemExit, match="no CUDA device"):
        bench_cuda.main(["--device", "cuda"])


def test_bench_official_runs_without_the_official_code(capsys):
    bench_official.main(["--numel", "30000", "--tensors", "3", "--rounds", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert "ours, default" in out and "ours, foreach=False (chunked)" in out and "official" not in out.split("AdamW:")[1]


def test_bench_official_cold_caches(capsys):
    bench_official.main(["--numel", "30000", "--tensors", "3", "--rounds", "1", "--threads", "1", "--cold"])
    out = capsys.readouterr().out
    assert "caches evicted before each step" in out and "ours, default" in out


def test_evict_caches_writes_what_it_says():
    evict = bench_optim.evict_caches(1 << 20)
    assert evict().numel() == (1 << 20) // 4


def test_bench_official_refuses_a_missing_file(tmp_path):
    with pytest.raises(SystemExit, match="no file"):
        bench_official.main(["--official", str(tmp_path / "nope.py")])
