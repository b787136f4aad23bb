"""The interface every completion backend implements, in plain data.

A backend turns a prompt into text. It runs its work off the event loop and stops
at the next token once the request's StopFlag is set (superseded or cancelled).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..device_memory import OutOfMemory
from ..prompts.fim import FimFormat, Order

Finish = Literal["stop", "length", "cancelled"]


# One model load at a time in this process: transformers builds models under process-wide state
# (meta-device initialisation), and two loads in two threads (the completion model and a chat or
# image model) break each other ("Cannot copy out of meta tensor").
MODEL_LOAD_LOCK = threading.RLock()


class BackendError(RuntimeError):
    """The backend could not produce a completion; the message is for the user."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached (a remote server is down); it has told the user itself."""


class BackendOutOfMemory(BackendError, OutOfMemory):
    """The model ran out of memory mid-generation; what could be freed has been."""


class StopFlag:
    """Set by the server when a request is superseded or cancelled; read by decoders."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class PromptPieces:
    """A completion's prompt before FIM formatting, for engines that format it themselves
    (llama.cpp's /infill builds it with the model's own tokens; Ollama's templates take a suffix)."""
    prefix: str
    suffix: str
    files: tuple[tuple[str, str], ...] = ()  # repository context: (path, text) of other files
    repo: str | None = None                  # the workspace's name
    path: str | None = None                  # the document, relative to the workspace
    order: Order | None = None               # the configured FIM order; None: the format's own


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    single_line: bool = False
    temperature: float = 0.0
    top_p: float = 1.0
    # Requests with the same session (a document) may share their KV cache.
    session: str | None = None
    # Token healing: text cut from the end of the prompt's prefix because it ends inside a
    # token (half a word, trailing spaces). The completion must start with it again, the
    # way the model saw such text in training; it is not part of the returned text.
    heal: str = ""
    # A LoRA adapter folder the backend has prepared (`prepare_adapter`), for this request's
    # workspace; "" for the backend's own (the codegen.model.adapter setting, else none).
    adapter: str = ""
    # Background work (docs, captions): it yields to completions at every token and never
    # queues in front of them (backends/priority.py).
    background: bool = False
    # The same prompt in pieces, for engines that format FIM themselves; None for raw prompts
    # (chat, and anything not built by the completion pipeline).
    pieces: PromptPieces | None = None

    def cache_fields(self) -> tuple[tuple[str, object], ...]:
        """Everything besides the prompt that changes the answer."""
        return (("max_new_tokens", self.max_new_tokens), ("stop", self.stop),
                ("single_line", self.single_line), ("temperature", self.temperature),
                ("top_p", self.top_p), ("heal", self.heal))


@dataclass
class Generation:
    text: str
    finish: Finish
    prompt_tokens: int = 0
    new_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV came from the previous request
    queue_seconds: float = 0.0
    first_token_seconds: float = 0.0
    generate_seconds: float = 0.0
    route: str = ""  # the engine's route that answered (/completion, /infill, /api/generate...); "" in process
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    model_id: str
    adapter_hash: str
    fim: FimFormat
    context_window: int
    special_tokens: tuple[str, ...]

    def token_starts(self, text: str) -> list[int]:
        """Where each token of `text` starts (character offsets), for prompt budgeting."""
        ...

    def adapter_identity(self, folder: str) -> str:
        """The hash of the adapter a request names ("" for the backend's own), for cache keys."""
        ...

    async def generate(self, request: GenerationRequest, stop: StopFlag) -> Generation:
        """Generate a completion; returns early with finish="cancelled" once `stop` is set."""
        ...

    def close(self) -> None: ...
