"""Completions first: long background work (docs, captions, images) yields to them.

A completion is short and someone is waiting for it mid-keystroke; a job is long and nobody
minds it taking a little longer. So a job checks the gate between its steps (a decoded token,
a denoising step) and waits while any completion is generating, and for a moment after the
last one: completions come in bursts while someone types, and a job step started between two
keystrokes would share the processor with the next completion. A completion therefore waits
for at most one job step, the one already running when a burst begins, never for a whole job.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator

QUIET_SECONDS = 0.3  # background work resumes after this long without a completion


class ForegroundGate:
    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self._running = 0
        self._changed = threading.Condition()
        self._last_end = float("-inf")
        self.quiet_seconds = quiet_seconds
        self.yields = 0  # times background work waited: tests and benchmarks read it

    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        """Held while a completion generates."""
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._last_end = time.monotonic()
                self._changed.notify_all()

    @property
    def busy(self) -> bool:
        return self._running > 0

    def _quiet_in(self) -> float:
        """Seconds until background work may go on (0: now)."""
        if self._running:
            return self.quiet_seconds
        return max(0.0, self._last_end + self.quiet_seconds - time.monotonic())

    def wait_turn(self, stop: Callable[[], bool] | None = None, poll_seconds: float = 0.05) -> None:
        """Block a background step while completions run and shortly after (or until `stop()`)."""
        with self._changed:
            if self._quiet_in():
                self.yields += 1
            while (wait := self._quiet_in()) and not (stop is not None and stop()):
                self._changed.wait(min(wait, poll_seconds))
