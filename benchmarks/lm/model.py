"""A small GPT-style decoder: token and position embeddings, pre-norm blocks, an untied output head.

    h_0 = E_tok[x] + E_pos[0..T-1]
    h <- h + W_o Attn(LN(h))          causal multi-head self-attention (scaled_dot_product_attention)
    h <- h + W_2 GELU(W_1 LN(h))      MLP, width 4 d
    logits = lm_head(LN(h))           untied: the output head is its own matrix

The head is untied so that the Muon-style split is the usual one: the embeddings and the head go to
AdamW, the block matrices (qkv, attention out, MLP in and out) to the matrix optimizer. Linear layers
have no bias. Initialisation (GPT-2): N(0, 0.02^2), the two residual output projections
N(0, 0.02^2 / (2 n_layers)), LayerNorm gain 1 and bias 0; all drawn from one torch.Generator seeded
by ``seed``, so the same seed gives the same initial weights whatever else has used the global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from geomrelax.errors import GeomrelaxError

__all__ = ["GPT", "ModelConfig"]


@dataclass(frozen=True)
class ModelConfig:
    n_tokens: int
    seq_len: int
    d_model: int
    n_layers: int
    n_heads: int

    def __post_init__(self):
        for name in ("n_tokens", "seq_len", "d_model", "n_layers", "n_heads"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise GeomrelaxError(f"model {name} must be a positive integer, got {v!r}")
        if self.d_model % self.n_heads:
            raise GeomrelaxError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")


class Block(nn.Module):
    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.mlp_in = nn.Linear(d, 4 * d, bias=False)
        self.mlp_out = nn.Linear(4 * d, d, bias=False)

    def forward(self, h):
        B, T, d = h.shape
        q, k, v = self.qkv(self.ln1(h)).split(d, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + self.attn_out(a.transpose(1, 2).reshape(B, T, d))
        return h + self.mlp_out(F.gelu(self.mlp_in(self.ln2(h))))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig, seed: int):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.n_tokens, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg.d_model, cfg.n_heads) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.n_tokens, bias=False)
        self.reset_parameters(seed)

    @torch.no_grad()
    def reset_parameters(self, seed: int):
        g = torch.Generator().manual_seed(int(seed))
        residual_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for name, p in self.named_parameters():
            if name.endswith(("ln1.weight", "ln2.weight", "ln_f.weight")):
                p.fill_(1.0)
            elif p.ndim < 2:
                p.zero_()
            else:
                std = residual_std if name.endswith(("attn_out.weight", "mlp_out.weight")) else 0.02
                # drawn on the CPU generator, then moved: the same numbers on every device
                p.copy_(torch.randn(p.shape, generator=g) * std)

    def forward(self, idx, targets=None):
        """Logits (B, T, n_tokens); with ``targets`` the mean cross-entropy (nats) instead."""
        T = idx.shape[1]
        if T > self.cfg.seq_len:
            raise GeomrelaxError(f"sequence of {T} tokens is longer than the model's seq_len={self.cfg.seq_len}")
        h = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for blk in self.blocks:
            h = blk(h)
        logits = self.lm_head(self.ln_f(h))
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
