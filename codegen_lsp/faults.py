"""Faults reach the user once: the first occurrence of each kind is shown, repeats go to the log,
and the first success after a fault logs that it recovered.

A kind is "area/reason" ("completion/out-of-memory", "cache/full"); a success in an area clears
that area's faults. Plain Python: the server passes in how to show a message and how to log one,
so the same reporter logs only in the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Callable

log = logging.getLogger(__name__)

Report = Callable[[str, str], None]  # (level, message)


def _log(level: str, message: str) -> None:
    log.log(getattr(logging, level.upper(), logging.INFO), message)


class Faults:
    def __init__(self, show: Report = _log, log_line: Report = _log):
        self.show = show
        self.log_line = log_line
        # Reports from worker threads (the cache opens while the model loads) are handed to this
        # loop: protocol messages are written from its thread only. The server sets it.
        self.loop: asyncio.AbstractEventLoop | None = None
        self.counts: Counter[str] = Counter()  # occurrences of each kind since the server started
        self._shown: set[str] = set()
        self._streak: dict[str, int] = {}  # kinds failing now -> occurrences since their area last worked

    def report(self, kind: str, message: str, level: str = "warning", *, show: bool = True, after: int = 1) -> None:
        """One occurrence of `kind`. Shown the first time it has happened `after` times in a row
        (a lock held for a moment by another process is not worth a message); logged otherwise.
        `show=False`: someone else has told the user already (a backend that went down)."""
        if self.loop is not None and not self._on_loop():
            try:
                self.loop.call_soon_threadsafe(lambda: self.report(kind, message, level, show=show, after=after))
            except RuntimeError:  # the loop is closed: the server is going away, the log file takes it
                _log(level, message)
            return
        self.counts[kind] += 1
        streak = self._streak[kind] = self._streak.get(kind, 0) + 1
        if show and streak >= after and kind not in self._shown:
            self._shown.add(kind)
            self.show(level, message)
        else:
            self.log_line(level, f"{message} [{kind}, {self.counts[kind]} times so far]")

    def ok(self, area: str) -> None:
        """Something in `area` worked: its faults are over."""
        if not self._streak:
            return  # the usual case, once per completion
        for kind in [k for k in self._streak if k.split("/", 1)[0] == area]:
            del self._streak[kind]
            self.log_line("info", f"codegen-lsp: recovered from {kind} (after {self.counts[kind]} occurrences)")

    def forget(self, kind: str) -> None:
        """Show `kind` again at its next occurrence (the model was reloaded, a server came back)."""
        self._shown.discard(kind)

    def reset(self, *areas: str) -> None:
        """Forget the faults of `areas` (all without any): after a reload they are news again."""
        def kept(kind: str) -> bool:
            return bool(areas) and kind.split("/", 1)[0] not in areas

        self._shown = {kind for kind in self._shown if kept(kind)}
        self._streak = {kind: n for kind, n in self._streak.items() if kept(kind)}

    def failing(self) -> list[str]:
        return sorted(self._streak)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False
