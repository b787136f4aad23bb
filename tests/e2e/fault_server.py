"""The real server with faults injected at its boundaries, for tests/e2e/test_faults.py and
test_resources.py. Production code is not touched: this wrapper patches the boundaries, then
runs `codegen_lsp.cli.main(["serve", ...])`.

    python -m tests.e2e.fault_server --plan PLAN.json [--] [PYTHON -m codegen_lsp] serve --model M

PLAN.json is read again whenever the test rewrites it (`FaultPlan.set`), so a fault can be
switched on and off while the server runs:
- "decode": "runtime" | "oom": the model's forward step raises a RuntimeError, or torch's CUDA
  out-of-memory error, as a real decode would (after the KV cache was taken).
- "cache_set": "disk-full": diskcache's `Cache.set` raises SQLite's "database or disk is full".
- "ballast": PATH: a file filled until its filesystem has no space left (a real full disk, on a
  small tmpfs the test mounts); removed when the key goes.
- "vanish": [NAME, ...]: files deleted just as the workspace walk reaches them.

The wrapper writes PLAN.json.stats.json: generations decoding now, their peak, how many started
(counted at `LocalBackend._decode`, the real decode boundary) and the faults it injected.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import sys
import threading
from pathlib import Path

OOM_TEXT = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which "
            "1.06 GiB is free. Of the allocated memory 75.01 GiB is allocated by PyTorch.")


class FaultPlan:
    """The test's side: write the plan, read the stats, and the command that starts the server."""

    def __init__(self, path: Path):
        self.path = path
        self.stats_path = path.with_name(path.name + ".stats.json")
        self.set()

    def set(self, **faults) -> None:
        """Replace the plan (no arguments: no faults). Atomic: the server never reads half of it."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({k: v for k, v in faults.items() if v is not None}))
        temporary.replace(self.path)

    def stats(self) -> dict:
        try:
            return json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {"decoding": 0, "peak": 0, "decodes": 0, "injected": {}}

    def launcher(self, *before: str) -> tuple[str, ...]:
        """For `lsp_server(launcher=...)`: `before` (e.g. an unshare command), then this wrapper."""
        return (*before, sys.executable, "-m", "tests.e2e.fault_server", "--plan", str(self.path), "--")


# -- the server's side --------------------------------------------------------------------

class _Injector:
    def __init__(self, plan_path: Path):
        self.path = plan_path
        self.stats_path = plan_path.with_name(plan_path.name + ".stats.json")
        self._seen: tuple | None = None
        self.plan: dict = {}
        self._plan_lock = threading.Lock()  # decode threads and the event loop ask at once
        self._lock = threading.Lock()
        self.stats = {"decoding": 0, "peak": 0, "decodes": 0, "injected": {}}
        self._ballast: Path | None = None

    def current(self) -> dict:
        """The plan, read again when the file changed (a new inode: the test replaces it)."""
        with self._plan_lock:
            try:
                status = self.path.stat()
                seen = (status.st_ino, status.st_mtime_ns, status.st_size)
                if seen != self._seen:
                    self._seen, self.plan = seen, json.loads(self.path.read_text())
                    self._sync_ballast(self.plan.get("ballast"))
            except (OSError, ValueError):
                pass
            return self.plan

    def injected(self, kind: str) -> None:
        with self._lock:
            self.stats["injected"][kind] = self.stats["injected"].get(kind, 0) + 1
            self._write_stats()

    def decoding(self, change: int) -> None:
        with self._lock:
            self.stats["decoding"] += change
            if change > 0:
                self.stats["decodes"] += 1
                self.stats["peak"] = max(self.stats["peak"], self.stats["decoding"])
            self._write_stats()

    def _write_stats(self) -> None:
        temporary = self.stats_path.with_name(self.stats_path.name + ".tmp")
        temporary.write_text(json.dumps(self.stats))
        temporary.replace(self.stats_path)

    def _sync_ballast(self, wanted: str | None) -> None:
        if self._ballast is not None and str(self._ballast) != wanted:
            self._ballast.unlink(missing_ok=True)
            self._ballast = None
        if wanted and self._ballast is None:
            self._ballast = Path(wanted)
            descriptor = os.open(self._ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                while True:
                    os.write(descriptor, b"\0" * 65536)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            finally:
                os.close(descriptor)
            self.injected("ballast")


def _patch(injector: _Injector) -> None:
    import diskcache
    import torch

    from codegen_lsp.backends.local import LocalBackend
    from codegen_lsp.context.workspace_files import WorkspaceFiles

    def failing_forward(forward):
        def step(*args, **kwargs):
            fault = injector.current().get("decode")
            if fault == "oom":
                injector.injected("oom")
                raise torch.OutOfMemoryError(OOM_TEXT)
            if fault == "runtime":
                injector.injected("runtime")
                raise RuntimeError("injected by tests/e2e/fault_server.py: the decode step failed")
            return forward(*args, **kwargs)
        return step

    original_init = LocalBackend.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.model.forward = failing_forward(self.model.forward)  # under peft too: it calls this module

    original_decode = LocalBackend._decode

    def decode(self, *args, **kwargs):
        injector.decoding(+1)
        try:
            return original_decode(self, *args, **kwargs)
        finally:
            injector.decoding(-1)

    original_get, original_set = diskcache.Cache.get, diskcache.Cache.set

    def cache_get(self, *args, **kwargs):
        injector.current()  # a plan that fills the disk applies before the request's first look
        return original_get(self, *args, **kwargs)

    def cache_set(self, *args, **kwargs):
        if injector.current().get("cache_set") == "disk-full":
            injector.injected("disk-full")
            raise sqlite3.OperationalError("database or disk is full")
        return original_set(self, *args, **kwargs)

    original_walk = WorkspaceFiles.walk

    def walk(self):
        for path in original_walk(self):
            if path.name in injector.current().get("vanish", ()):
                path.unlink(missing_ok=True)
                injector.injected("vanish")
            yield path

    LocalBackend.__init__, LocalBackend._decode = init, decode
    diskcache.Cache.get, diskcache.Cache.set = cache_get, cache_set
    WorkspaceFiles.walk = walk


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--plan":
        print(__doc__, file=sys.stderr)
        return 2
    injector = _Injector(Path(argv[1]))
    rest = argv[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if len(rest) >= 3 and rest[1:3] == ["-m", "codegen_lsp"]:  # what lsp_server appends: PYTHON -m codegen_lsp
        rest = rest[3:]
    injector.current()
    _patch(injector)
    from codegen_lsp.cli import main as cli_main

    return cli_main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
