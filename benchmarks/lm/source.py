"""A synthetic language with a computable loss floor: order-k Markov segments, each followed by its copy.

A document is ``x_1 .. x_L  SEP  x_1 .. x_L``: a segment of L tokens drawn from an order-k Markov
chain over a vocabulary of V tokens, the separator token SEP (id V), then the segment again. The
chain starts in the empty context (all k previous tokens "absent"), so every document is drawn
afresh and documents are independent. A training sequence is documents laid end to end, cut to
``seq_len + 1`` tokens (inputs are the first seq_len, targets the last seq_len).

The chain (``MarkovCopySource.random``): each context s (the last k tokens, absent ones included)
has b successors, drawn without replacement with probabilities proportional to a Zipf law
1/(rank)^zipf over a fixed random ranking of the vocabulary (frequent tokens are frequent
everywhere), and transition probabilities p_j proportional to 1/j^a_s, j = 1..b, with a per-context
exponent a_s drawn uniformly from [a_min, a_max] (some contexts nearly deterministic, some flat).

The loss floor. Let P_i be the distribution of the context before segment position i (i = 0..L-1),
propagated exactly from the empty context. The conditional entropy of x_{i+1} given all earlier
tokens of its document is h_i = sum_s P_i(s) H(p(. | s)) (the chain is Markov in s); the separator
and the copied half are determined by the past, entropy 0. Documents being independent, the
Bayes-optimal predictor that sees the whole earlier part of the sequence has expected loss

    floor = (1/seq_len) sum_{t=1..seq_len} h(t mod (2L+1))

in nats per token, with h(pos) = h_pos for pos < L and 0 otherwise; no model trained on these
sequences can have a lower expected cross-entropy. The unigram entropy is the entropy of the
average distribution of the target tokens (the loss of the best predictor that ignores the context).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geomrelax.errors import GeomrelaxError

__all__ = ["MarkovCopySource", "SourceError", "rng_for"]

# spawn keys of the independent random streams (numpy SeedSequence): every draw is a function of a seed and a key
STREAM_SOURCE, STREAM_TRAIN, STREAM_VAL, STREAM_TUNE = 0, 1, 2, 3


class SourceError(GeomrelaxError):
    """A source with invalid sizes or tables."""


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """The numpy generator of stream ``key`` of ``seed`` (independent of every other key)."""
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(int(k) for k in key)))


def _entropy(p, axis=-1):
    """Shannon entropy in nats along ``axis`` (0 log 0 = 0)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=axis)


@dataclass(frozen=True)
class MarkovCopySource:
    """The source of the module docstring, given by its tables.

    ``successors[s, j]``, ``probs[s, j]``: the j-th possible next token in context s and its
    probability (rows sum to 1; a zero probability is allowed). Contexts are numbered
    s = sum_{i=1..k} (t_i + 1) (V+1)^(i-1), t_1 the latest token and t_i = -1 when absent,
    so s = 0 is the empty context. ``segment_len`` = L.
    """

    vocab: int
    order: int
    segment_len: int
    successors: np.ndarray
    probs: np.ndarray

    def __post_init__(self):
        V, k, L = self.vocab, self.order, self.segment_len
        for name, v, lo in (("vocab", V, 2), ("order", k, 1), ("segment_len", L, 1)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise SourceError(f"{name} must be an integer >= {lo}, got {v!r}")
        n_ctx = (V + 1) ** k
        succ, probs = np.asarray(self.successors), np.asarray(self.probs, dtype=np.float64)
        if succ.ndim != 2 or succ.shape[0] != n_ctx or probs.shape != succ.shape:
            raise SourceError(f"successors and probs must both have shape ({n_ctx}, b) for vocab={V}, order={k}; "
                              f"got {succ.shape} and {probs.shape}")
        if succ.min() < 0 or succ.max() >= V:
            raise SourceError(f"successors must be token ids in [0, {V}), got range [{succ.min()}, {succ.max()}]")
        if not np.all(np.isfinite(probs)) or probs.min() < 0 or not np.allclose(probs.sum(1), 1.0, atol=1e-9):
            raise SourceError("every row of probs must be a probability vector (finite, >= 0, summing to 1)")
        object.__setattr__(self, "successors", succ.astype(np.int64))
        object.__setattr__(self, "probs", probs)

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def random(cls, vocab: int, order: int, segment_len: int, branching: int, seed: int, *, zipf: float = 1.0,
               a_min: float = 0.5, a_max: float = 2.0, chunk: int = 4096) -> "MarkovCopySource":
        """A random chain (module docstring) drawn from stream STREAM_SOURCE of ``seed``."""
        if not isinstance(branching, int) or not 1 <= branching <= vocab:
            raise SourceError(f"branching must be an integer in [1, vocab={vocab}], got {branching!r}")
        if not (0 <= a_min <= a_max):
            raise SourceError(f"need 0 <= a_min <= a_max, got a_min={a_min!r}, a_max={a_max!r}")
        rng = rng_for(seed, STREAM_SOURCE)
        n_ctx = (vocab + 1) ** order
        ranking = rng.permutation(vocab)
        log_w = np.empty(vocab)
        log_w[ranking] = -zipf * np.log(np.arange(1, vocab + 1))
        succ = np.empty((n_ctx, branching), dtype=np.int64)
        # b draws without replacement proportional to w = the b largest of log w + Gumbel noise
        for lo in range(0, n_ctx, chunk):
            keys = log_w + rng.gumbel(size=(min(chunk, n_ctx - lo), vocab))
            top = np.argpartition(-keys, branching - 1, axis=1)[:, :branching]
            order_in_row = np.argsort(-np.take_along_axis(keys, top, 1), axis=1)
            succ[lo:lo + len(top)] = np.take_along_axis(top, order_in_row, 1)
        a = rng.uniform(a_min, a_max, size=(n_ctx, 1))
        w = np.arange(1, branching + 1, dtype=np.float64)[None, :] ** -a
        return cls(vocab, order, segment_len, succ, w / w.sum(1, keepdims=True))

    # -- derived quantities ---------------------------------------------------------------------------
    @property
    def sep(self) -> int:
        """The separator token id."""
        return self.vocab

    @property
    def n_tokens(self) -> int:
        """Size of the token alphabet the model sees (V tokens and SEP)."""
        return self.vocab + 1

    @property
    def doc_len(self) -> int:
        return 2 * self.segment_len + 1

    def _next_context(self, ctx, tok):
        """The context after emitting ``tok`` in context ``ctx`` (the oldest token drops out)."""
        base = self.vocab + 1
        return (ctx * base + tok + 1) % base ** self.order

    def segment_profile(self):
        """(h, marginals): h[i] the conditional entropy of segment token i given the earlier ones (nats),
        marginals[i] its distribution over the V tokens; i = 0..L-1, exact forward propagation."""
        n_ctx = self.successors.shape[0]
        nxt = self._next_context(np.arange(n_ctx)[:, None], self.successors)
        row_h = _entropy(self.probs)
        dist = np.zeros(n_ctx)
        dist[0] = 1.0
        h, marg = np.empty(self.segment_len), np.empty((self.segment_len, self.vocab))
        for i in range(self.segment_len):
            h[i] = dist @ row_h
            flow = dist[:, None] * self.probs
            marg[i] = np.bincount(self.successors.ravel(), weights=flow.ravel(), minlength=self.vocab)
            dist = np.bincount(nxt.ravel(), weights=flow.ravel(), minlength=n_ctx)
        return h, marg

    def _doc_positions(self, seq_len):
        """Position within its document of each target token t = 1..seq_len."""
        return np.arange(1, seq_len + 1) % self.doc_len

    def loss_floor(self, seq_len: int) -> float:
        """Expected loss (nats/token) of the Bayes-optimal predictor on targets 1..seq_len (module docstring)."""
        h, _ = self.segment_profile()
        pos = self._doc_positions(seq_len)
        per_pos = np.where(pos < self.segment_len, h[np.minimum(pos, self.segment_len - 1)], 0.0)
        return float(per_pos.mean())

    def unigram_entropy(self, seq_len: int) -> float:
        """Entropy (nats) of the average distribution of the target tokens 1..seq_len over the V+1 ids."""
        _, marg = self.segment_profile()
        L = self.segment_len
        doc = np.zeros((self.doc_len, self.n_tokens))
        doc[:L, :self.vocab] = marg
        doc[L, self.sep] = 1.0
        doc[L + 1:, :self.vocab] = marg
        return float(_entropy(doc[self._doc_positions(seq_len)].mean(0)))

    # -- sampling -------------------------------------------------------------------------------------
    def sample_segments(self, n: int, rng: np.random.Generator):
        """(tokens, logp): n independent segments (n, L) and the log-probability of each token under the chain."""
        cum = np.cumsum(self.probs, axis=1)
        ctx = np.zeros(n, dtype=np.int64)
        toks = np.empty((n, self.segment_len), dtype=np.int64)
        logp = np.empty((n, self.segment_len))
        last = self.probs.shape[1] - 1
        for i in range(self.segment_len):
            u = rng.random(n)
            j = np.minimum((u[:, None] >= cum[ctx]).sum(1), last)
            toks[:, i] = self.successors[ctx, j]
            logp[:, i] = np.log(self.probs[ctx, j])
            ctx = self._next_context(ctx, toks[:, i])
        return toks, logp

    def sample(self, batch: int, seq_len: int, rng: np.random.Generator, *, with_logp: bool = False):
        """(batch, seq_len + 1) token ids: documents end to end, the first starting at position 0.

        With ``with_logp`` also the (batch, seq_len) log-probabilities of the targets under the
        Bayes-optimal predictor (0 for SEP and copies): -mean of it estimates :meth:`loss_floor`.
        """
        if batch < 1 or seq_len < 1:
            raise SourceError(f"batch and seq_len must be >= 1, got {batch} and {seq_len}")
        n_docs = -(-(seq_len + 1) // self.doc_len)
        seg, lp = self.sample_segments(batch * n_docs, rng)
        L = self.segment_len
        sep = np.full((batch * n_docs, 1), self.sep, dtype=np.int64)
        docs = np.concatenate([seg, sep, seg], axis=1).reshape(batch, n_docs * self.doc_len)
        if not with_logp:
            return docs[:, :seq_len + 1]
        zeros = np.zeros((batch * n_docs, L + 1))
        logp = np.concatenate([lp, zeros], axis=1).reshape(batch, n_docs * self.doc_len)
        return docs[:, :seq_len + 1], logp[:, 1:seq_len + 1]

    def describe(self) -> str:
        return (f"order-{self.order} Markov segments of {self.segment_len} tokens over {self.vocab} tokens "
                f"(branching {self.successors.shape[1]}), each followed by SEP and its copy")

