"""Decoding with a fixed-size KV cache, for GPU latency at batch 1.

A `transformers.StaticCache` keeps its keys and values in tensors allocated once, at fixed
addresses, so the one-token decode step can be compiled with CUDA graphs
(`torch.compile(mode="reduce-overhead")`): the step is then replayed as one graph rather than
launched kernel by kernel, which is most of a small model's decode time on a GPU. The prefill,
whose length changes with every prompt, always runs eagerly. On a CPU nothing is compiled; the
static cache is used as it is, which is what the tests check against the dynamic path.

The cache also carries the KV prefix of the last prompt from one request to the next, as
`KVSessions` does for the dynamic path: the cache's write position is moved back to the end
of the prefix the new prompt shares with the ids it holds, and only the rest is fed. Entries
past that position are stale, but they are never seen: each token attends only to positions
up to its own (the causal mask), and those are all rewritten before they are read.
"""

from __future__ import annotations

import torch
from transformers import StaticCache
from transformers.cache_utils import StaticLayer

from .kv_sessions import reusable_prefix

# A longer cache costs memory (layers x tokens x hidden x 2) and attention time at every step:
# the static cache attends over its whole length, masked, not only over the filled part.
MAX_CACHE_LEN = 4096


class StaticDecoder:
    """One batch-1 static KV cache for a model, and the token ids it holds (for one session)."""

    def __init__(self, model, context_window: int, device: torch.device):
        self.model = model
        self.device = device
        self.max_cache_len = min(context_window, MAX_CACHE_LEN)
        self.cache = StaticCache(config=model.config, max_cache_len=self.max_cache_len)
        self._session: str | None = None
        self._ids: list[int] = []  # the tokens whose keys and values the cache holds, in order
        self._forward = self._run
        self._compiled = device.type == "cuda"
        if self._compiled:
            # CUDA graphs: the graph is recorded for one input shape (one token), so dynamic=False;
            # fullgraph=False leaves the few Python-side parts of the model outside the graph.
            self._forward = torch.compile(self._run, mode="reduce-overhead", fullgraph=False, dynamic=False)
            self._warm_up()

    @torch.inference_mode()  # as requests run: a graph compiled outside it would be compiled again
    def _warm_up(self) -> None:
        """Compile and record the step now, not during the first completion (it takes seconds)."""
        self.begin(None, [0, 0])
        self.prefill([0, 0])
        for _ in range(3):  # cudagraph trees run a step eagerly, then record, then replay
            self.step(0)
        self.begin(None, [])

    @staticmethod
    def supports(model) -> bool:
        """Whether every layer of the model's static cache can be cut back to an earlier length
        (sliding-window and linear-attention layers cannot)."""
        probe = StaticCache(config=model.config, max_cache_len=8)
        return all(type(layer) is StaticLayer for layer in probe.layers)

    def fits(self, prompt_tokens: int, max_new_tokens: int) -> bool:
        return prompt_tokens + max_new_tokens <= self.max_cache_len

    def begin(self, session: str | None, ids: list[int]) -> int:
        """Make the cache hold the longest prefix of `ids` it already has for `session`
        (never all of `ids`: the model must see at least one new token); returns its length."""
        shared = reusable_prefix(self._ids, ids) if session and session == self._session else 0
        self._session = session
        self._ids = self._ids[:shared]
        for layer in self.cache.layers:
            layer.cumulative_length.fill_(shared)  # in place: the compiled step reads this tensor
        return shared

    def feed(self, tokens: list[int]) -> torch.Tensor:
        """The logits after `tokens`, which follow the ones the cache holds."""
        return self.step(tokens[0]) if len(tokens) == 1 else self.prefill(tokens)

    def prefill(self, tokens: list[int]) -> torch.Tensor:
        """Several tokens at once, eagerly (their count changes with every prompt)."""
        return self._advance(tokens, self._run)

    def step(self, token: int) -> torch.Tensor:
        """One token: the CUDA-graph replay on a GPU."""
        if not self.cache.layers[0].is_initialized:  # the tensors are allocated outside the graph
            return self._advance([token], self._run)
        if self._compiled:
            torch.compiler.cudagraph_mark_step_begin()
        return self._advance([token], self._forward)

    def _advance(self, tokens: list[int], forward) -> torch.Tensor:
        try:
            logits = forward(torch.tensor([tokens], device=self.device))
        except BaseException:
            self._session, self._ids = None, []  # the cache may be half written
            raise
        self._ids.extend(tokens)
        # A CUDA graph's output is overwritten by its next replay: keep a copy of our own.
        return logits.clone() if self._compiled else logits

    def _run(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Positions come from the cache's own length (a tensor at a fixed address), so a graph
        # recorded once serves every position.
        out = self.model(input_ids=input_ids, cache=self.cache, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1]
