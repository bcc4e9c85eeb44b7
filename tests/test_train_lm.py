"""benchmarks.train_lm: the synthetic language and its loss floor, the runs, the table and the figure."""

import csv
import math
import warnings

import numpy as np
import pytest
import torch

from benchmarks import train_lm
from benchmarks.lm.experiment import run_experiment
from benchmarks.lm.optimizers import OPTIMIZERS, build_optimizers, transition_budget
from benchmarks.lm.source import MarkovCopySource, SourceError, rng_for
from benchmarks.lm.training import PRESETS, heldout, lr_multiplier, train_run
from geomrelax.errors import GeomrelaxError
from geomrelax.optim.softsignum import ScheduleCollapseWarning


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models here are tiny: a second torch thread adds nothing but spin-waiting on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def H(p):
    return -sum(x * math.log(x) for x in p if x > 0)


def sticky_source(L=3):
    """Tokens {0, 1}: the first is a fair coin, then each token repeats the last with probability 3/4.
    Contexts: 0 empty, 1 after token 0, 2 after token 1."""
    succ = np.array([[0, 1], [0, 1], [1, 0]])
    probs = np.array([[0.5, 0.5], [0.75, 0.25], [0.75, 0.25]])
    return MarkovCopySource(vocab=2, order=1, segment_len=L, successors=succ, probs=probs)


def test_floor_and_unigram_entropy_by_hand():
    src = sticky_source()
    # two documents of 2L+1 = 7 tokens; targets are tokens 1..13, at document positions 1,2,3,4,5,6,0,1,...,6.
    # Entropies: position 0 ln 2 (fair coin), 1 and 2 H(3/4), 3 (SEP) and 4..6 (the copy) 0. Doc 1 loses its
    # position 0 (never a target): total ln 2 + 4 H(3/4) over 13 targets.
    assert src.loss_floor(13) == pytest.approx((math.log(2) + 4 * H([0.75, 0.25])) / 13, rel=1e-12)
    # the chain is symmetric, so every segment token is uniform on {0, 1}; 2 of the 13 targets are SEP
    assert src.unigram_entropy(13) == pytest.approx(H([11 / 26, 11 / 26, 2 / 13]), rel=1e-12)
    # a single document cut after the SEP: targets at positions 1, 2, 3
    assert src.loss_floor(3) == pytest.approx(2 * H([0.75, 0.25]) / 3, rel=1e-12)


def test_samples_follow_the_tables_and_copy():
    src = sticky_source(L=5)
    x, logp = src.sample(4000, 21, rng_for(7, 1), with_logp=True)
    seg, sep, copy = x[:, :5], x[:, 5], x[:, 6:11]
    assert np.all(sep == src.sep) and np.array_equal(seg, copy)
    stay = (seg[:, 1:] == seg[:, :-1]).mean()
    n = seg[:, 1:].size
    # binomial: the frequency of repeats is 3/4 within 5 standard errors (draws within a row are not
    # independent of the row's start, but each repeat is a fresh Bernoulli(3/4) given the past)
    assert abs(stay - 0.75) < 5 * math.sqrt(0.75 * 0.25 / n)
    # log-probabilities handed back are those of the tables: ln 3/4 or ln 1/4 after the first token, 0 on SEP/copy
    lp = logp[:, :4]
    assert np.all(np.isclose(lp, math.log(0.75)) | np.isclose(lp, math.log(0.25)))
    assert np.all(logp[:, 4:10] == 0.0)


def test_random_source_floor_matches_monte_carlo():
    src = MarkovCopySource.random(vocab=12, order=2, segment_len=7, branching=4, seed=3)
    seq_len = 3 * src.doc_len - 1
    _, logp = src.sample(6000, seq_len, rng_for(3, 9), with_logp=True)
    per_seq = -logp.mean(1)  # independent sequences: the CLT bounds the error of their mean
    se = per_seq.std(ddof=1) / math.sqrt(len(per_seq))
    assert abs(per_seq.mean() - src.loss_floor(seq_len)) < 5 * se
    assert src.loss_floor(seq_len) < src.unigram_entropy(seq_len) < math.log(src.n_tokens)


def test_source_rejects_bad_tables():
    with pytest.raises(SourceError, match="probability"):
        MarkovCopySource(2, 1, 3, np.array([[0, 1]] * 3), np.array([[0.5, 0.6]] * 3))
    with pytest.raises(SourceError, match="shape"):
        MarkovCopySource(2, 2, 3, np.array([[0, 1]] * 3), np.array([[0.5, 0.5]] * 3))
    with pytest.raises(SourceError, match="branching"):
        MarkovCopySource.random(4, 1, 3, branching=5, seed=0)


def test_budget_split_and_lr_multiplier():
    assert transition_budget(300, 0.1) == (270, 30)
    assert transition_budget(5, 0.1) == (4, 1)
    with pytest.raises(GeomrelaxError):
        transition_budget(1, 0.1)
    cfg = PRESETS["tiny"].replace(warmup_frac=0.1, lr_schedule="wsd", decay_frac=0.2)
    got = [lr_multiplier(k, 20, cfg) for k in (1, 2, 3, 16, 17, 20)]
    assert got == pytest.approx([0.5, 1.0, 1.0, 1.0, 4 / 5, 1 / 5])


def _tiny(**changes):
    return PRESETS["tiny"].replace(**{"steps": 8, "grid_steps": 4, "eval_every": 4, "val_seqs": 16, **changes})


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_same_seed_same_numbers(name):
    cfg = _tiny()
    src = cfg.source()
    val, _ = heldout(cfg, src, "val")
    with warnings.catch_warnings():
        # tmax=None: the transition must be a schedule, not a switch
        warnings.simplefilter("error", ScheduleCollapseWarning)
        a = train_run(cfg, src, name, 1e-2, cfg.steps, 5, val, aux_lr=1e-2)
        b = train_run(cfg, src, name, 1e-2, cfg.steps, 5, val, aux_lr=1e-2)
    c = train_run(cfg, src, name, 1e-2, cfg.steps, 6, val, aux_lr=1e-2)
    assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
    assert len(a.train_loss) == cfg.steps and not a.diverged
    assert a.train_loss != c.train_loss


def test_update_norm_of_sign_steps():
    """A sign step moves each entry with a non-zero momentum by exactly lr: ||step|| = lr sqrt(#non-zero).
    Only token-embedding rows of tokens not seen yet have zero momentum, which bounds #non-zero from below."""
    cfg = _tiny(warmup_frac=0.0)  # multiplier 1 at every step
    src = cfg.source()
    val, _ = heldout(cfg, src, "val")
    lr = 1e-2
    r = train_run(cfg, src, "signum", lr, cfg.steps, 0, val, record_update_norm=True)
    from benchmarks.lm.model import GPT

    model = GPT(cfg.model_config(), 0)
    n, n_emb = sum(p.numel() for p in model.parameters()), model.tok_emb.weight.numel()
    assert len(r.update_norm) == cfg.steps
    # float32 rounding of p - lr sign(u) with |p| <= ~1 and lr = 1e-2: ~1e-5 relative per entry
    for v in r.update_norm:
        assert lr * math.sqrt(n - n_emb) * (1 - 1e-4) <= v <= lr * math.sqrt(n) * (1 + 1e-4)
    assert train_run(cfg, src, "signum", lr, cfg.steps, 0, val).update_norm == []


def test_optimizers_cover_every_parameter_once():
    from benchmarks.lm.model import GPT

    model = GPT(_tiny().model_config(), 0)
    for name in OPTIMIZERS:
        opts = build_optimizers(name, model, 1e-3, 10, aux_lr=1e-3)
        ids = [id(p) for o in opts for g in o.param_groups for p in g["params"]]
        assert sorted(ids) == sorted(id(p) for p in model.parameters()), name
    with pytest.raises(GeomrelaxError, match="aux_lr"):
        build_optimizers("muon", model, 1e-3, 10)


@pytest.mark.parametrize("size", list(PRESETS))
def test_every_preset_runs_the_same_code_at_a_tiny_size(size):
    """The GPU presets are never run here; shrunk, they take the same path (source, model, both soft optimizers)."""
    cfg = PRESETS[size]
    assert cfg.d_model % cfg.n_heads == 0 and cfg.grid_steps <= cfg.steps
    small = cfg.replace(vocab=8, branching=min(cfg.branching, 8), segment_len=3, docs_per_seq=2, d_model=16,
                        n_layers=1, n_heads=2, batch=2, steps=4, grid_steps=2, eval_every=2, val_seqs=4)
    src = small.source()
    val, _ = heldout(small, src, "val")
    for name in ("softsignum", "softmuon"):
        r = train_run(small, src, name, 1e-3, small.steps, 0, val, aux_lr=1e-3)
        assert len(r.train_loss) == 4 and all(math.isfinite(v) for v in r.val_loss)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("train_lm")
    rc = train_lm.main(["--quick", "--out", str(out)])
    return out, rc


def test_quick_run_writes_table_and_figure(quick):
    out, rc = quick
    assert rc == 0
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["optimizer"] for r in rows] == list(OPTIMIZERS)
    cfg = PRESETS["tiny"]
    src = cfg.source()
    unigram, floor = src.unigram_entropy(cfg.seq_len), src.loss_floor(cfg.seq_len)
    for r in rows:
        assert int(r["seeds"]) == 2 and float(r["ms_per_step"]) > 0
        # no model beats the Bayes floor; the tolerance is the validation set's own sampling error (its
        # Bayes loss differs from the exact floor by ~0.02 on 64 sequences of the tiny preset)
        assert float(r["final_val_min"]) > floor - 0.05
    adamw = next(r for r in rows if r["optimizer"] == "adamw")
    assert float(adamw["final_val_max"]) < unigram  # it learned to use the context
    import matplotlib.image

    img = matplotlib.image.imread(out / "loss_curves.png")
    assert img.shape[0] > 200 and img.shape[1] > 600
    ink = (img[..., :3].mean(-1) < 0.9).mean()  # share of pixels that are not (near) white
    assert ink > 0.02
    assert "| adamw |" in (out / "results.md").read_text()


def test_quick_run_same_start_and_reuse(quick, capsys):
    out, _ = quick
    cfg = PRESETS["tiny"]
    res = run_experiment(cfg, out, grids=train_lm.QUICK_GRIDS, log=print)
    assert "(stored)" in capsys.readouterr().out  # nothing recomputed
    # every optimizer of a seed starts from the same weights: the same initial validation loss, bitwise
    start = {s.name: s.runs[0]["val_loss"][0] for s in res.summaries}
    assert len(set(start.values())) == 1
    curves = list(csv.DictReader(open(out / "curves.csv")))
    assert {r["optimizer"] for r in curves} == set(OPTIMIZERS)


@pytest.mark.parametrize("argv, message", [
    (["--heads", "3"], "does not divide"),
    (["--steps", "1"], "no room for a sign phase"),  # refused before any run starts
    (["--device", "cuda:0"] if not torch.cuda.is_available() else ["--device", "nonsense"], "device"),
])
def test_bad_input_exits_2(argv, message, tmp_path, capsys):
    assert train_lm.main(["--quick", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_bad_lr_grid_is_refused_by_the_parser(tmp_path):
    for bad in ("adamw=abc", "nope=1e-3", "adamw=-1", "adamw=1e-3,inf"):
        with pytest.raises(SystemExit) as exc:
            train_lm.main(["--quick", "--out", str(tmp_path), "--lr-grid", bad])
        assert exc.value.code == 2


def test_arguments_work_on_a_subcommand_parser():
    """The CLI mounts add_train_arguments on `geomrelax train`; overrides land in the config."""
    import argparse

    top = argparse.ArgumentParser(prog="geomrelax")
    sub = top.add_subparsers(dest="command", required=True)
    train_lm.add_train_arguments(sub.add_parser("train"))
    args = top.parse_args(["train", "--size", "medium", "--steps", "90", "--heads", "4", "--lr-grid", "muon=0.02,0.04",
                           "--lr-schedule", "wsd"])
    cfg = train_lm.config_from_args(args)
    base = PRESETS["medium"]
    assert (cfg.steps, cfg.n_heads, cfg.lr_schedule) == (90, 4, "wsd")
    assert cfg.grid_steps == 90 * base.grid_steps // base.steps  # the grid keeps its share of the budget
    assert cfg.d_model == base.d_model and args.lr_grid == [("muon", (0.02, 0.04))]
