"""A token n-gram language model with interpolated Kneser-Ney smoothing: the baseline.

Counts live in sorted numpy arrays of packed n-gram keys, so tens of millions of
tokens count in seconds and a probability is a few binary searches. It scores the
same tokens as the neural model (same tokenizer), so their per-token losses compare
directly, and it completes a line greedily by the most probable next token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DISCOUNT = 0.75


@dataclass
class _Order:
    keys: np.ndarray          # sorted packed n-grams (context + word)
    counts: np.ndarray        # raw counts at the top order, continuation counts below
    contexts: np.ndarray      # sorted packed contexts
    context_totals: np.ndarray  # sum of counts over the words following each context
    context_types: np.ndarray   # number of distinct words following each context


class KneserNey:
    def __init__(self, tokens: np.ndarray, vocab_size: int, order: int = 4):
        self.order, self.vocab_size = order, vocab_size
        self.bits = int(np.ceil(np.log2(vocab_size + 1)))
        if self.bits * order > 63:
            raise ValueError(f"order {order} with a vocabulary of {vocab_size} does not fit 63-bit keys")
        tokens = np.asarray(tokens, dtype=np.int64)
        self.orders: dict[int, _Order] = {}
        upper = None
        for n in range(order, 0, -1):
            if n == order:
                keys, counts = np.unique(self._pack(tokens, n), return_counts=True)
            else:
                # Continuation count: how many distinct words precede this n-gram.
                keys, counts = np.unique(upper & self._mask(n), return_counts=True)
            upper = keys
            contexts, starts = np.unique(keys >> self.bits, return_index=True)
            totals = np.add.reduceat(counts, starts) if len(keys) else counts
            types = np.diff(np.append(starts, len(keys)))
            self.orders[n] = _Order(keys, counts, contexts, totals, types)

    def _mask(self, n: int) -> np.int64:
        return np.int64((1 << (self.bits * n)) - 1)

    def _pack(self, tokens: np.ndarray, n: int) -> np.ndarray:
        length = len(tokens) - n + 1
        key = np.zeros(max(0, length), dtype=np.int64)
        for k in range(n):
            key = (key << self.bits) | tokens[k:k + length]
        return key

    @staticmethod
    def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
        at = np.searchsorted(sorted_keys, queries)
        at_clipped = np.minimum(at, len(sorted_keys) - 1)
        found = (at < len(sorted_keys)) & (sorted_keys[at_clipped] == queries)
        return np.where(found, values[at_clipped], 0)

    def probabilities(self, histories: np.ndarray, words: np.ndarray) -> np.ndarray:
        """P(word | history) for rows of histories (order-1 previous tokens each)."""
        histories = np.asarray(histories, dtype=np.int64).reshape(len(words), -1)
        words = np.asarray(words, dtype=np.int64)
        lowest = self.orders[1]
        p = (self._lookup(lowest.keys, lowest.counts, words) + 1.0) / (lowest.counts.sum() + self.vocab_size)
        for n in range(2, self.order + 1):
            level = self.orders[n]
            context = np.zeros(len(words), dtype=np.int64)
            for k in range(n - 1):
                context = (context << self.bits) | histories[:, histories.shape[1] - (n - 1) + k]
            total = self._lookup(level.contexts, level.context_totals, context).astype(np.float64)
            types = self._lookup(level.contexts, level.context_types, context)
            count = self._lookup(level.keys, level.counts, (context << self.bits) | words)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            mixed = (np.maximum(count - DISCOUNT, 0) + DISCOUNT * types * p) / safe
            p = np.where(seen, mixed, p)
        return p

    def loss(self, tokens: np.ndarray) -> float:
        """Mean negative log-likelihood (nats) of tokens[order-1:] given their histories."""
        tokens = np.asarray(tokens, dtype=np.int64)
        h = self.order - 1
        histories = np.lib.stride_tricks.sliding_window_view(tokens[:-1], h)
        return float(-np.log(self.probabilities(histories, tokens[h:])).mean())

    def next_token(self, history: list[int]) -> int:
        """The most probable next token after `history`."""
        h = self.order - 1
        padded = ([0] * h + list(history))[-h:]
        candidates = np.arange(self.vocab_size, dtype=np.int64)
        histories = np.tile(np.array(padded, dtype=np.int64), (self.vocab_size, 1))
        return int(np.argmax(self.probabilities(histories, candidates)))
