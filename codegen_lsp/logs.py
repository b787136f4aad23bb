"""What happened to each completion request: a record per request, kept for
`codegen.debug.lastRequests`, and the server's log file.
"""

from __future__ import annotations

import itertools
import logging
import logging.handlers
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

# Outcomes a request can end with; "model", "cache" and "typing-ahead" name the source.
OUTCOMES = ("model", "cache", "typing-ahead", "skipped", "superseded", "cancelled", "error")

_ids = itertools.count(1)


@dataclass
class RequestRecord:
    uri: str
    version: int
    kind: str  # "inline", "list", "action" or "job"
    id: int = field(default_factory=lambda: next(_ids))
    mode: str = ""
    outcome: str = ""
    prompt_tokens: int = 0
    reused_tokens: int = 0
    new_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    prompt: str = ""
    heal: str = ""  # text cut from the prompt that the completion had to start with
    completion: str = ""
    error: str = ""
    syntax: str = ""  # what the syntax check changed in the completion, and why
    adapter: str = ""  # the hash of the LoRA adapter that answered ("" for none)
    route: str = ""  # the engine's route that answered (/infill, /completion, ...); "" in process
    redacted: int = 0  # secret values replaced in the prompt (privacy.py): counted, never shown
    # Repository context candidates: path, kind, why, score, tokens, included or why dropped.
    context: list[dict] = field(default_factory=list)

    def time(self, stage: str, seconds: float) -> None:
        self.timings_ms[stage] = round(seconds * 1000, 2)

    def summary(self) -> str:
        timings = " ".join(f"{k}={v:.1f}ms" for k, v in self.timings_ms.items())
        text = (f"request {self.id} {self.kind} v{self.version} {self.mode} -> {self.outcome}"
                f" prompt={self.prompt_tokens}t reused={self.reused_tokens}t new={self.new_tokens}t {timings}")
        text += f" redacted={self.redacted}" if self.redacted else ""
        return f"{text} error={self.error}" if self.error else text

    def as_dict(self, with_prompt: bool = True) -> dict:
        data = asdict(self)
        if not with_prompt:
            data.pop("prompt")
        return data


class RequestLog:
    """The last N request records, newest last; `listener` sees each finished one."""

    def __init__(self, keep: int, listener: Callable[[RequestRecord], None] | None = None):
        self._records: deque[RequestRecord] = deque(maxlen=keep)
        self.listener = listener
        self.backend_calls = 0

    def resize(self, keep: int) -> None:
        self._records = deque(self._records, maxlen=keep)

    def finish(self, record: RequestRecord) -> None:
        self._records.append(record)
        if self.listener is not None:
            self.listener(record)

    def last(self, n: int | None = None) -> list[RequestRecord]:
        records = list(self._records)
        return records if n is None else records[-n:] if n > 0 else []


def setup_file_log(path: Path, level: str = "info") -> Path | None:
    """Send this process's logging to a rotating file; None when the file can't be opened."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=2, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # pygls logs every message at INFO, document text included: keep that out of the file.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    return path
