"""The workspace index: every indexed file's outline, and where each name is defined.

Outlines are persisted in diskcache under the file's content hash, so a restart
(or a branch switch back) re-reads files but does not re-parse unchanged ones.
Building runs off the event loop; readers see a consistent view at any time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import pickle
import sqlite3
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import diskcache

from ..privacy import redact
from .languages import OUTLINE_QUERIES, language_of_path, parser_for
from .symbols import Outline, Symbol, outline
from .workspace_files import WorkspaceFiles

log = logging.getLogger(__name__)

# Changes when the queries (or this format) change, so stale outlines are never read back.
# outline-2: signatures, docs and imports are stored redacted (privacy.py).
OUTLINE_VERSION = hashlib.blake2b(repr(sorted(OUTLINE_QUERIES.items())).encode() + b"outline-2",
                                  digest_size=6).hexdigest()
_STORE_ERRORS = (sqlite3.Error, OSError, diskcache.Timeout)


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def looks_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def redacted(found: Outline) -> Outline:
    """The outline with secret values replaced: a constant's signature holds its value
    (`API_KEY = "sk-..."`), and outlines reach prompts and the store on disk."""
    lines = [text for s in found.symbols for text in (s.signature, s.doc)] + list(found.imports)
    joined, count = redact("\n".join(lines))  # one pass per file, not two per symbol: indexing stays fast
    out = joined.split("\n") if count else lines
    if len(out) != len(lines):  # a match across two lines: each on its own then
        out = [redact(line)[0] for line in lines]
    out = [_cut_literal(line) for line in out]
    if out == lines:
        return found
    symbols = tuple(dataclasses.replace(symbol, signature=out[2 * i], doc=out[2 * i + 1])
                    for i, symbol in enumerate(found.symbols))
    return Outline(symbols, tuple(out[2 * len(found.symbols):]))


def _cut_literal(text: str) -> str:
    """A line cut short (symbols.one_line) without the literal reaching the cut: it may be the
    head of a secret, too short for the rules to recognise."""
    if not text.endswith("…"):
        return text
    last_quote = max(text.rfind(q) for q in "\"'`")
    return text[:last_quote + 1] + "…" if last_quote >= 0 else text


@dataclass(frozen=True)
class IndexedFile:
    path: str       # relative to the workspace root, "/"-separated
    language: str
    digest: str
    outline: Outline


@dataclass
class BuildReport:
    files: int = 0
    parsed: int = 0        # outlines computed now
    from_store: int = 0    # outlines read back from the persistent store
    skipped: int = 0       # unreadable or binary
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)

    def unreadable(self) -> str:
        """The files that could not be read, in a line for the user."""
        named = ", ".join(self.errors[:3]) + (f" and {len(self.errors) - 3} more" if len(self.errors) > 3 else "")
        return f"{len(self.errors)} workspace file(s) could not be read and are left out of repository context: {named}"


class WorkspaceIndex:
    def __init__(self, files: WorkspaceFiles, store_dir: Path | None = None) -> None:
        self.files = files
        self._entries: dict[str, IndexedFile] = {}
        self._by_name: dict[str, list[tuple[str, Symbol]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._store = self._open_store(store_dir)

    @staticmethod
    def _open_store(store_dir: Path | None) -> diskcache.Cache | None:
        if store_dir is None:
            return None
        try:
            return diskcache.Cache(str(store_dir), size_limit=256 * 2**20)
        except _STORE_ERRORS as exc:  # the index still works, it just re-parses after a restart
            log.warning("workspace index store at %s unusable (%s): outlines are kept in memory only", store_dir, exc)
            return None

    # --- building ---------------------------------------------------------------------

    def build(self, progress: Callable[[int, int], None] | None = None,
              cancelled: Callable[[], bool] = lambda: False) -> BuildReport:
        """Index every file `WorkspaceFiles.walk` yields; drops entries for files that are gone."""
        report = BuildReport()
        paths = list(self.files.walk())
        seen: set[str] = set()
        for done, path in enumerate(paths, start=1):
            if cancelled():
                report.cancelled = True
                return report
            entry = self._index_path(path, report)
            if entry is not None:
                seen.add(entry.path)
            if progress is not None:
                progress(done, len(paths))
        for gone in set(self._entries) - seen:
            self.remove(gone)
        report.files = len(seen)
        return report

    def _index_path(self, path: Path, report: BuildReport) -> IndexedFile | None:
        relative = self.files.relative(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # deleted since the walk found it: gone, not unreadable
            report.skipped += 1
            return None
        except OSError as exc:
            report.skipped += 1
            report.errors.append(f"{relative}: {exc.strerror or exc}")
            return None
        if relative is None or looks_binary(data):
            report.skipped += 1
            return None
        return self._put(relative, data, report)

    def _put(self, relative: str, data: bytes, report: BuildReport | None = None, tree=None) -> IndexedFile | None:
        language = language_of_path(relative)
        if language is None:
            return None
        digest = content_digest(data)
        current = self._entries.get(relative)
        if current is not None and current.digest == digest:
            return current
        key = f"outline:{OUTLINE_VERSION}:{language}:{digest}"
        found = self._store_get(key)
        if found is None:
            parser = parser_for(language)
            found = redacted(outline(language, tree if tree is not None else parser.parse(data), data))
            self._store_set(key, found)
            if report is not None:
                report.parsed += 1
        elif report is not None:
            report.from_store += 1
        entry = IndexedFile(relative, language, digest, found)
        self._replace(relative, entry)
        return entry

    # --- updates ----------------------------------------------------------------------

    def update_file(self, path: Path) -> IndexedFile | None:
        """Re-read one file from disk (saved, created or changed outside the editor)."""
        relative = self.files.relative(path)
        if relative is None:
            return None
        if not path.is_file() or not self.files.is_indexed(path):
            self.remove(relative)
            return None
        return self._index_path(path, BuildReport())

    def update_text(self, path: Path, text: str, tree=None) -> IndexedFile | None:
        """An open document's current text (and tree, when the document has one)."""
        relative = self.files.relative(path)
        if relative is None or self.files.is_private(path):
            return None
        return self._put(relative, text.encode("utf-8", "surrogatepass"), tree=tree)

    def remove(self, relative: str) -> None:
        self._replace(relative, None)

    def _replace(self, relative: str, entry: IndexedFile | None) -> None:
        with self._lock:
            old = self._entries.pop(relative, None)
            if old is not None:
                for symbol in old.outline.symbols:
                    places = self._by_name.get(symbol.name, [])
                    places[:] = [p for p in places if p[0] != relative]
                    if not places:
                        self._by_name.pop(symbol.name, None)
            if entry is not None:
                self._entries[relative] = entry
                for symbol in entry.outline.symbols:
                    self._by_name[symbol.name].append((relative, symbol))

    # --- queries ----------------------------------------------------------------------

    def definitions(self, name: str) -> list[tuple[str, Symbol]]:
        """(path, symbol) for every definition of `name`, in path order."""
        with self._lock:
            return sorted(self._by_name.get(name, ()), key=lambda p: (p[0], p[1].line))

    def get(self, relative: str) -> IndexedFile | None:
        with self._lock:
            return self._entries.get(relative)

    def paths(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # --- the persistent store: a failure is a miss, never an error --------------------

    def _store_get(self, key: str) -> Outline | None:
        if self._store is None:
            return None
        try:
            value = self._store.get(key)
        except _STORE_ERRORS + (pickle.UnpicklingError, AttributeError, EOFError, ValueError, ImportError) as exc:
            log.warning("workspace index store read failed: %s", exc)
            return None
        return value if isinstance(value, Outline) else None

    def _store_set(self, key: str, value: Outline) -> None:
        if self._store is None:
            return
        try:
            self._store.set(key, value)
        except _STORE_ERRORS as exc:
            log.warning("workspace index store write failed: %s", exc)
