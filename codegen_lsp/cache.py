"""Persistent completion cache on diskcache: what a model said for a prompt survives restarts.

The key covers everything that changes the answer (model, adapter, FIM format,
prompt, generation settings). A corrupt, locked or missing database is a miss,
never an error: the cache only ever saves work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import diskcache

log = logging.getLogger(__name__)

# diskcache raises sqlite3 errors for a corrupt or locked database, OSError for
# disk trouble, and Timeout when another process holds the lock too long.
_CACHE_ERRORS = (sqlite3.Error, OSError, diskcache.Timeout, UnicodeError)


@dataclass(frozen=True)
class CacheKey:
    model_id: str
    adapter_hash: str
    fim_format: str
    prompt: str
    generation: tuple[tuple[str, Any], ...]

    def digest(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8", errors="surrogatepass")).hexdigest()


class CompletionCache:
    def __init__(self, path: Path, size_limit_mb: int):
        self.path = path
        self._size_limit = size_limit_mb * 1024 * 1024
        self._db: diskcache.Cache | None = None
        self._open()

    def _open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            # A short timeout: a locked database must not stall a keystroke.
            self._db = diskcache.Cache(str(self.path), size_limit=self._size_limit, timeout=0.05,
                                       eviction_policy="least-recently-used")
        except _CACHE_ERRORS as exc:
            log.warning("completion cache unavailable at %s: %s", self.path, exc)
            self._db = None

    def get(self, key: CacheKey) -> str | None:
        if self._db is None:
            return None
        try:
            value = self._db.get(key.digest())
        except _CACHE_ERRORS as exc:
            log.warning("completion cache read failed, treated as a miss: %s", exc)
            return None
        return value if isinstance(value, str) else None

    def put(self, key: CacheKey, completion: str) -> None:
        if self._db is None:
            return
        try:
            self._db.set(key.digest(), completion)
        except _CACHE_ERRORS as exc:
            log.warning("completion cache write failed: %s", exc)

    @property
    def volume(self) -> int:
        """Bytes on disk, as diskcache counts them against the size limit."""
        try:
            return self._db.volume() if self._db is not None else 0
        except _CACHE_ERRORS:
            return 0

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except _CACHE_ERRORS:
                pass
            self._db = None
