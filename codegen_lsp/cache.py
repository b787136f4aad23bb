"""Persistent completion cache on diskcache: what a model said for a prompt survives restarts.

The key covers everything that changes the answer (model, adapter, FIM format,
prompt, generation settings). A corrupt, locked or missing database is a miss,
never an error: the cache only ever saves work. The user hears of a fault once
(faults.py); a corrupt database is set aside and a new one started, a locked one
is tried again now and then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import diskcache

from .faults import Faults

log = logging.getLogger(__name__)

# diskcache raises sqlite3 errors for a corrupt or locked database, OSError for
# disk trouble, and Timeout when another process holds the lock too long.
_CACHE_ERRORS = (sqlite3.Error, OSError, diskcache.Timeout, UnicodeError)
DATABASE = "cache.db"
OPEN_WAIT_SECONDS = 0.5   # opening waits this long for another process's write before calling it locked
REOPEN_SECONDS = 2.0      # a cache that could not open is tried again after this long, at the next request
WAL_SHARE = 0.1           # of the size limit, for SQLite's write-ahead log (at most its default 1000 pages)
PAGE_BYTES = 4096         # SQLite's default page size
LOCKED_IN_A_ROW = 3       # a write lock held by another process for a moment is normal: said after this many

_ADVICE = {
    "locked": "it is locked by another process; completions go on without it until it is free",
    "full": "the disk is full; completions go on without caching. Free some space or lower "
            "codegen.cache.sizeLimitMb",
    "corrupt": f"the database was corrupt: it was set aside as {DATABASE}.corrupt and a new one started",
    "error": "completions go on without it",
}


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
    """The cache folder's whole footprint stays within `size_limit_mb`: the write-ahead log gets
    its share (SQLite lets it grow to 4 MB by default, and keeps that file) and the entries the rest.
    diskcache evicts at each write once its database passes its limit (up to 10 entries a write)."""

    def __init__(self, path: Path, size_limit_mb: int, faults: Faults | None = None):
        self.path = path
        limit = size_limit_mb * 1024 * 1024
        self._wal_pages = max(16, min(1000, int(limit * WAL_SHARE) // PAGE_BYTES))
        self._size_limit = limit - 2 * self._wal_pages * PAGE_BYTES - 32 * 1024  # WAL with overshoot, shm index
        self.faults = faults or Faults()
        self._db: diskcache.Cache | None = None
        self._reopen_at = 0.0
        self._set_aside_once = False  # a new database corrupt as well is the disk's problem: not again
        self._closed = False
        self._open(OPEN_WAIT_SECONDS)

    def _open(self, wait: float, action: str = "open") -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._check(wait)
            # A short timeout: a locked database must not stall a keystroke.
            self._db = diskcache.Cache(str(self.path), size_limit=self._size_limit, timeout=0.05,
                                       eviction_policy="least-recently-used",
                                       sqlite_wal_autocheckpoint=self._wal_pages,
                                       sqlite_journal_size_limit=self._wal_pages * PAGE_BYTES)
        except _CACHE_ERRORS as exc:
            self._db = None
            self._reopen_at = time.monotonic() + REOPEN_SECONDS
            self._failed(action, exc)

    def _check(self, wait: float) -> None:
        """Raise what opening would run into, without waiting for it: diskcache retries a locked
        database for ever (the model load would hang on it)."""
        database = self.path / DATABASE
        if not database.exists():
            return
        connection = sqlite3.connect(database, timeout=wait, isolation_level=None)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # garbage: not a database
            connection.execute("BEGIN IMMEDIATE")  # another process writing: locked
            connection.execute("ROLLBACK")
        finally:
            connection.close()

    def _set_aside(self) -> None:
        self._set_aside_once = True
        self._close_db()
        (self.path / DATABASE).replace(self.path / f"{DATABASE}.corrupt")
        for suffix in ("-wal", "-shm"):
            (self.path / f"{DATABASE}{suffix}").unlink(missing_ok=True)

    def _usable(self) -> diskcache.Cache | None:
        if self._db is None and not self._closed and time.monotonic() >= self._reopen_at:
            self._open(0.0, "reopen")  # during a keystroke: no waiting
        return self._db

    def _failed(self, action: str, error: BaseException) -> None:
        reason = _reason(error)
        detail = str(error) or type(error).__name__
        if reason == "corrupt" and not self._set_aside_once:  # found at opening or while in use
            try:
                self._set_aside()
            except OSError as exc:
                reason, detail = "error", f"{detail}; setting it aside failed: {exc}"
            else:
                self.faults.report("cache/corrupt", f"codegen-lsp: the completion cache at {self.path} could "
                                                    f"not be used ({detail}): {_ADVICE['corrupt']}")
                self._open(0.0, "reopen")
                return
        after = LOCKED_IN_A_ROW if reason == "locked" and action != "open" else 1
        self.faults.report(f"cache/{reason}", f"codegen-lsp: the completion cache at {self.path} failed to {action} "
                                              f"({detail}): {_ADVICE[reason]}", after=after)

    def get(self, key: CacheKey) -> str | None:
        db = self._usable()
        if db is None:
            return None
        try:
            value = db.get(key.digest())
        except _CACHE_ERRORS as exc:
            self._failed("read", exc)
            return None
        return value if isinstance(value, str) else None

    def put(self, key: CacheKey, completion: str) -> None:
        db = self._usable()
        if db is None:
            return
        try:
            db.set(key.digest(), completion)
        except _CACHE_ERRORS as exc:
            self._failed("write", exc)
        else:
            self.faults.ok("cache")

    @property
    def volume(self) -> int:
        """Bytes of the database, as diskcache counts them against its limit."""
        try:
            return self._db.volume() if self._db is not None else 0
        except _CACHE_ERRORS:
            return 0

    def footprint(self) -> int:
        """Bytes of the whole folder on disk: database, write-ahead log, shared-memory index."""
        return sum(p.stat().st_size for p in self.path.glob(f"{DATABASE}*") if p.is_file()
                   and not p.name.endswith(".corrupt"))

    def close(self) -> None:
        self._closed = True
        self._close_db()

    def _close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except _CACHE_ERRORS:
                pass
            self._db = None


def _reason(error: BaseException) -> str:
    """What went wrong, in the words the user is told: locked, full, corrupt, or error."""
    text = str(error).lower()
    if isinstance(error, diskcache.Timeout) or "locked" in text or "busy" in text:
        return "locked"
    if "full" in text or getattr(error, "errno", None) == 28:  # ENOSPC
        return "full"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "corrupt"
    return "error"
