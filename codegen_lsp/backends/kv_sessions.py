"""KV prefix reuse between requests: a document's next prompt mostly repeats its last one."""

from __future__ import annotations

from collections import OrderedDict

from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

# Documents whose last KV cache is kept; each costs layers x tokens x hidden x 2.
KV_SESSIONS = 4


class KVSessions:
    """The KV cache of each document's last prompt, so the next one reuses its common prefix."""

    def __init__(self, capacity: int = KV_SESSIONS):
        self._entries: OrderedDict[str, tuple[list[int], DynamicCache]] = OrderedDict()
        self._capacity = capacity

    def take(self, session: str | None, ids: list[int]) -> tuple[DynamicCache | None, int]:
        """The cache cropped to the longest prefix shared with `ids`, and that prefix's length.

        The entry is removed while in use, so two concurrent requests never share one.
        """
        entry = self._entries.pop(session, None) if session else None
        if entry is None:
            return None, 0
        cached_ids, cache = entry
        shared = reusable_prefix(cached_ids, ids)
        if shared <= 0 or not _croppable(cache):
            return None, 0
        cache.crop(shared - cache.get_seq_length())
        return cache, shared

    def put(self, session: str | None, ids: list[int], cache: DynamicCache) -> None:
        if not session:
            return
        self._entries[session] = (ids, cache)
        self._entries.move_to_end(session)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def reusable_prefix(held: list[int], ids: list[int]) -> int:
    """How many leading tokens of `ids` a cache holding `held` can serve: their common prefix,
    but never all of `ids` (the model must see at least one new token to give logits)."""
    n = min(len(held), len(ids))
    i = 0
    while i < n and held[i] == ids[i]:
        i += 1
    return max(0, min(i, len(ids) - 1))


def _croppable(cache: DynamicCache) -> bool:
    # Sliding-window and linear-attention layers forget or summarise the past; only
    # plain layers can be cut back to an earlier length.
    return all(type(layer) is DynamicLayer for layer in cache.layers)
