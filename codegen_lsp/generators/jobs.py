"""The job runner: long generation (docs, diagrams, images) one job at a time, behind completions.

A job's work is a plain function run in a worker thread. It reports each step through
`JobContext.step`, which is also where it yields to completions (`ForegroundGate`) and
where a cancelled job stops. Models a job loads (an image pipeline) are kept between
jobs and released after `idle_seconds` unused, so a GPU is not held for nothing. A CUDA
out-of-memory error releases them at once and comes back as one clear `JobFailed`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..backends.base import StopFlag
from ..backends.priority import ForegroundGate
from ..device_memory import empty_device_cache, is_out_of_memory

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """The user cancelled the job; what it wrote so far is left as it was."""


class JobFailed(Exception):
    """The job could not run; the message is for the user."""


class Releasable(Protocol):
    def release(self) -> None: ...


class JobProgress(Protocol):
    """Where a job's progress shows: `$/progress` in the editor, a progress bar on the CLI."""

    def update(self, done: int, total: int, message: str) -> None: ...

    def cancelled(self) -> bool: ...


class NoProgress:
    def update(self, done: int, total: int, message: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


@dataclass
class JobContext:
    """What a job's work function sees, in its worker thread."""

    title: str
    progress: JobProgress
    gate: ForegroundGate
    in_thread: bool = True  # False for async work, on the event loop, which must never block
    steps: int = 0  # steps reported so far
    flag: StopFlag = field(default_factory=StopFlag)  # set on cancel: stops model calls mid-way

    def step(self, done: int, total: int, message: str = "") -> None:
        """Report progress; wait while completions run; stop here if the job was cancelled.
        (Async work yields inside its model calls instead: they are background generations.)"""
        self.steps += 1
        self.progress.update(done, total, message)
        if self.in_thread:
            self.gate.wait_turn(self.progress.cancelled)
        if self.progress.cancelled() or self.flag.is_set():
            self.flag.set("cancelled")
            raise JobCancelled(f"{self.title}: cancelled")

    def should_stop(self) -> bool:
        return self.progress.cancelled()


@dataclass
class _Kept:
    model: Releasable
    last_used: float = field(default_factory=time.monotonic)


class JobRunner:
    def __init__(self, gate: Callable[[], ForegroundGate], idle_seconds: float = 300.0) -> None:
        self._gate = gate  # asked per job: the completion backend (and its gate) can be reloaded
        self.idle_seconds = idle_seconds
        self._one_at_a_time = asyncio.Lock()
        self._kept: dict[str, _Kept] = {}
        self._reaper: asyncio.Task | None = None
        self.running: str | None = None  # the title of the job now running
        self.finished = 0

    async def run(self, title: str, work: Callable[[JobContext], Any], progress: JobProgress | None = None) -> Any:
        """Run `work(context)` once no other job runs (in a thread; async work on the loop); its
        result, or JobCancelled / JobFailed (out of memory, models released for the next job)."""
        async with self._one_at_a_time:
            is_async = asyncio.iscoroutinefunction(work)
            context = JobContext(title, progress or NoProgress(), self._gate(), in_thread=not is_async)
            watcher = asyncio.ensure_future(_watch_cancel(context))
            self.running = title
            try:
                return await (work(context) if is_async else asyncio.to_thread(work, context))
            except JobCancelled:
                raise
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                self.release_all()
                raise JobFailed(f"{title}: out of memory; the job's models were released. "
                                f"Try a smaller size or fewer steps, or run it on the CPU. ({exc})") from exc
            finally:
                watcher.cancel()
                self.running = None
                self.finished += 1
                self._schedule_release()

    def model(self, key: str, load: Callable[[], Releasable]) -> Releasable:
        """The model kept under `key`, loaded on first use (call from a job's work)."""
        kept = self._kept.get(key)
        if kept is None:
            kept = self._kept[key] = _Kept(load())
        kept.last_used = time.monotonic()
        return kept.model

    def loaded(self) -> list[str]:
        return sorted(self._kept)

    def release_idle(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        idle = [key for key, kept in self._kept.items() if now - kept.last_used >= self.idle_seconds]
        for key in idle:
            self._release(key)
        return idle

    def release_all(self) -> None:
        for key in list(self._kept):
            self._release(key)

    def _release(self, key: str) -> None:
        kept = self._kept.pop(key)
        try:
            kept.model.release()
        except Exception:  # releasing must never fail a job or the server
            log.exception("releasing %s failed", key)
        gc.collect()
        empty_device_cache()
        log.info("released %s", key)

    def _schedule_release(self) -> None:
        if self._kept and (self._reaper is None or self._reaper.done()):
            self._reaper = asyncio.ensure_future(self._release_when_idle())

    async def _release_when_idle(self) -> None:
        while self._kept:
            await asyncio.sleep(max(0.05, min(self.idle_seconds, 60.0)))
            if not self._one_at_a_time.locked():
                self.release_idle()

    def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        self.release_all()


async def _watch_cancel(context: JobContext) -> None:
    """Turn a cancelled progress into the job's stop flag, which model calls check every token."""
    while not context.flag.is_set():
        if context.progress.cancelled():
            context.flag.set("cancelled")
            return
        await asyncio.sleep(0.05)
