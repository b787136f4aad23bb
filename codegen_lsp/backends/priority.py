"""Completions first: long background work (docs, captions, images) yields to them.

A completion is short and someone is waiting for it mid-keystroke; a job is long and nobody
minds it taking a little longer. So a job checks the gate between its steps (a decoded token,
a denoising step) and waits while any completion is generating. A completion therefore
waits for at most one job step, never for a whole job.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator


class ForegroundGate:
    def __init__(self) -> None:
        self._running = 0
        self._changed = threading.Condition()
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
                self._changed.notify_all()

    @property
    def busy(self) -> bool:
        return self._running > 0

    def wait_turn(self, stop: Callable[[], bool] | None = None, poll_seconds: float = 0.05) -> None:
        """Block a background step while completions run (or until `stop()` says to give up)."""
        with self._changed:
            if self._running:
                self.yields += 1
            while self._running and not (stop is not None and stop()):
                self._changed.wait(poll_seconds)
