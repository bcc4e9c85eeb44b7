"""split_params: which parameters go to the matrix optimizer and which to the element-wise one."""

import pytest
import torch
from torch import nn

from geomrelax.errors import GeomrelaxError
from geomrelax.optim.split import split_params


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 2, batch_first=True)
        self.up = nn.Linear(d, 2 * d)
        self.down = nn.Linear(2 * d, d)

    def forward(self, x):
        h = self.norm(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.down(torch.relu(self.up(x)))


class TinyLM(nn.Module):
    def __init__(self, vocab=23, d=8, tie=False):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.conv = nn.Conv1d(d, d, 3, padding=1)
        self.blocks = nn.ModuleList([Block(d), Block(d)])
        self.final_norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        if tie:
            self.lm_head.weight = self.embed.weight

    def forward(self, idx):
        x = self.embed(idx)
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        return self.lm_head(self.final_norm(x))


MATRICES = {"conv.weight"} | {
    f"blocks.{i}.{n}" for i in range(2) for n in ("attn.in_proj_weight", "attn.out_proj.weight", "up.weight", "down.weight")
}


def test_split_of_a_small_language_model():
    torch.manual_seed(0)
    model = TinyLM()
    s = split_params(model)
    assert set(s.matrix_names) == MATRICES
    everything = [n for n, _ in model.named_parameters()]
    assert sorted(s.matrix_names + s.other_names) == sorted(everything)  # each parameter exactly once
    assert s.reasons["embed.weight"] == "embedding"
    assert s.reasons["lm_head.weight"] == "output head"
    assert s.reasons["blocks.0.up.bias"].startswith("ndim 1")
    assert s.reasons["conv.weight"] == "hidden matrix of shape (8, 8, 3)"
    # the lists hold the model's own tensors, in model order
    params = dict(model.named_parameters())
    assert all(p is params[n] for p, n in zip(s.matrix, s.matrix_names))
    assert s.matrix_names == [n for n in everything if n in MATRICES]


def test_tied_embedding_and_head_is_listed_once_as_embedding():
    s = split_params(TinyLM(tie=True))
    assert s.other_names.count("embed.weight") == 1 and "lm_head.weight" not in s.other_names + s.matrix_names
    assert set(s.matrix_names) == MATRICES


def test_last_linear_is_the_head_when_no_head_is_named_and_head_rule_can_be_switched_off():
    mlp = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 3))
    s = split_params(mlp)
    assert s.matrix_names == ["0.weight", "2.weight"]
    assert s.reasons["4.weight"] == "output head"
    s = split_params(mlp, head_names=None)
    assert s.matrix_names == ["0.weight", "2.weight", "4.weight"]
    # a custom head name wins over the last-Linear rule
    s = split_params(mlp, head_names=("0",))
    assert s.matrix_names == ["2.weight", "4.weight"] and s.reasons["0.weight"] == "output head"


def test_overrides_by_pattern_and_predicate_first_match_wins():
    model = TinyLM()
    s = split_params(model, overrides={"blocks.*.attn.*": "other", "lm_head.weight": "matrix"})
    assert "blocks.0.attn.in_proj_weight" in s.other_names and "lm_head.weight" in s.matrix_names
    assert s.reasons["blocks.1.attn.out_proj.weight"] == "override 'blocks.*.attn.*'"
    s = split_params(model, overrides=[(lambda n, p: p.ndim == 3, "other"), ("conv.weight", "matrix")])
    assert "conv.weight" in s.other_names  # the predicate came first


def test_frozen_parameters_are_left_out():
    model = TinyLM()
    model.conv.weight.requires_grad_(False)
    s = split_params(model)
    assert s.frozen == ["conv.weight"] and "conv.weight" not in s.matrix_names + s.other_names


def test_param_groups_and_build_give_working_optimizers():
    torch.manual_seed(1)
    model = TinyLM()
    s = split_params(model)
    groups = s.param_groups({"lr": 0.02}, {"lr": 3e-4})
    assert [g["use_muon"] for g in groups] == [True, False] and groups[0]["lr"] == 0.02
    assert len(groups[0]["params"]) == len(MATRICES)
    mat, oth = s.build({"lr": 0.02}, {"lr": 1e-3})
    idx = torch.randint(0, 23, (2, 5))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model(idx).square().mean().backward()
    mat.step()
    oth.step()
    for n, p in model.named_parameters():
        assert not torch.equal(p, before[n]), n  # every parameter was stepped by one of the two


def test_build_with_softsignum_for_the_rest():
    from geomrelax.optim.softmuon import Muon
    from geomrelax.optim.softsignum import SoftSignum

    torch.manual_seed(2)
    model = TinyLM()
    mat, oth = split_params(model, "muon", "softsignum").build({"lr": 0.02}, {"lr": 1e-3})
    assert isinstance(mat, Muon) and isinstance(oth, SoftSignum)
    model(torch.randint(0, 23, (2, 5))).square().mean().backward()
    bias = model.blocks[0].up.bias.detach().clone()
    mat.step()
    oth.step()
    # Signum without momentum moves every entry of a bias with a nonzero gradient by exactly lr
    moved = (model.blocks[0].up.bias - bias).abs()
    nonzero = model.blocks[0].up.bias.grad != 0
    # float32: theta - 1e-3 and the difference back each round by half an ulp of |theta| < 1 (6e-8)
    assert bias.abs().max() < 1
    torch.testing.assert_close(moved[nonzero], torch.full_like(moved[nonzero], 1e-3), rtol=0, atol=1.2e-7)


def test_bad_arguments_are_refused_by_name():
    model = TinyLM()
    with pytest.raises(GeomrelaxError, match="'blocks.0.up.bias' of shape \\(16,\\) cannot go to softmuon"):
        split_params(model, overrides={"blocks.0.up.bias": "matrix"})
    with pytest.raises(GeomrelaxError, match="'nope.*'"):
        split_params(model, overrides={"nope.*": "other"})
    assert split_params(model, overrides={"nope.*": "other"}, strict=False).matrix_names
    with pytest.raises(GeomrelaxError, match="'sgd'"):
        split_params(model, other="sgd")
    with pytest.raises(GeomrelaxError, match="'lion'"):
        split_params(model, matrix_optimizer="lion")
    with pytest.raises(GeomrelaxError, match="'both'"):
        split_params(model, overrides={"conv.*": "both"})
    with pytest.raises(GeomrelaxError, match="Module"):
        split_params([torch.zeros(2, 2)])
