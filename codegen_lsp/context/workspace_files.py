"""Which workspace files the assistant may read: privacy rules, ignore files and size caps.

Two questions, asked of every path:
- private: secrets by name (`.env*`, keys, credentials) or listed in `.codegenignore`.
  A private file never enters a prompt, the cache or a log, even when it is open.
- indexed: not private, not ignored by a `.gitignore` (nested ones too), a language
  we parse, and not above the size cap. Only indexed files feed repository context.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from pathspec import GitIgnoreSpec

from .languages import language_of_path

# Secrets by file name, in gitignore syntax. Deliberately broad: a false positive
# costs a little context, a false negative leaks a key into a prompt.
DENY_PATTERNS = (
    ".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "*.crt", "*.cer", "*.der", "*.asc", "*.gpg", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    "secrets.*", "secret.*", "*.secret", "*.secrets", "credentials", "credentials.*", "*credentials*.json",
    ".netrc", ".pgpass", ".npmrc", ".pypirc", ".git-credentials", ".htpasswd", ".aws/", ".ssh/",
    ".gnupg/", "*.tfvars", "*.tfstate", "service-account*.json",
)
IGNORE_FILE = ".codegenignore"
# Never walked into: version control, dependencies, caches, our own data.
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", ".codegen", ".idea", ".vscode"}

_DENY = GitIgnoreSpec.from_lines(DENY_PATTERNS)


def is_private_name(path: Path | str) -> bool:
    """Secrets by name alone, for files outside any workspace."""
    return _DENY.match_file(Path(path).name)


def _spec(path: Path) -> GitIgnoreSpec | None:
    try:
        return GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return None


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 1_000_000   # larger files are generated, vendored or data, rarely worth parsing
    max_files: int = 20_000           # a workspace beyond this is indexed in part (the first in walk order)


class WorkspaceFiles:
    """The rules for one workspace folder."""

    def __init__(self, root: Path, limits: Limits = Limits()) -> None:
        self.root = root.resolve()
        self.limits = limits
        self._private = _spec(self.root / IGNORE_FILE)
        self._gitignores: dict[str, GitIgnoreSpec | None] = {}  # directory (relative, "" = root) -> spec

    def relative(self, path: Path | str) -> str | None:
        """`path` relative to the root, "/"-separated; None outside the workspace."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            return None

    def is_private(self, path: Path | str) -> bool:
        relative = self.relative(path)
        name = relative if relative is not None else Path(path).name
        if _DENY.match_file(name):
            return True
        return relative is not None and self._private is not None and self._private.match_file(relative)

    def is_ignored(self, relative: str, is_dir: bool = False) -> bool:
        """Ignored by a .gitignore in the path's directory or any directory above it."""
        target = relative + "/" if is_dir else relative
        parts = PurePosixPath(relative).parts
        for depth in range(len(parts)):
            directory = "/".join(parts[:depth])
            spec = self._gitignore(directory)
            if spec is not None and spec.match_file(target[len(directory) + 1 if directory else 0:]):
                return True
        return False

    def _gitignore(self, directory: str) -> GitIgnoreSpec | None:
        if directory not in self._gitignores:
            self._gitignores[directory] = _spec(self.root / directory / ".gitignore")
        return self._gitignores[directory]

    def is_indexed(self, path: Path | str, on_disk: bool = True) -> bool:
        """Whether `path` feeds repository context; `on_disk=False` for an open document's text,
        which may not be saved yet (its size is not the file's)."""
        relative = self.relative(path)
        if relative is None or language_of_path(relative) is None or self.is_private(path):
            return False
        if any(part in SKIP_DIRS for part in PurePosixPath(relative).parts[:-1]) or self.is_ignored(relative):
            return False
        if not on_disk:
            return True
        try:
            status = Path(path).stat()
        except OSError:
            return False
        # Regular files only: reading a FIFO named like a source file would block the indexer.
        return stat.S_ISREG(status.st_mode) and status.st_size <= self.limits.max_file_bytes

    def walk(self) -> Iterator[Path]:
        """Every indexed file, in a stable order, at most `max_files` of them."""
        count = 0
        for directory, dirs, files in os.walk(self.root):
            relative_dir = Path(directory).relative_to(self.root).as_posix()
            relative_dir = "" if relative_dir == "." else relative_dir
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not self._skip_dir(relative_dir, d))
            for name in sorted(files):
                path = Path(directory) / name
                if self.is_indexed(path):
                    yield path
                    count += 1
                    if count >= self.limits.max_files:
                        return

    def _skip_dir(self, parent: str, name: str) -> bool:
        relative = f"{parent}/{name}" if parent else name
        return (self.is_ignored(relative, is_dir=True) or _DENY.match_file(relative + "/")
                or (self._private is not None and self._private.match_file(relative + "/")))
