"""OpenAI-compatible HTTP backend: a completion server elsewhere (vLLM, llama.cpp's server,
`transformers serve`) speaking `/v1/completions` and `/v1/chat/completions`.

The prompt is built here exactly as for the local model: FIM goes through the raw prompt in the
model family's format, so the server needs no FIM support of its own. A local tokenizer (the
served model's, or one close to it) budgets the prompt and tells the FIM format.

Nothing touches the network until the first generation: the client is made then.
Workspace adapters are served by name (vLLM multi-LoRA: `--enable-lora --lora-modules
NAME=PATH`): the name is `served_name` in the adapter folder's `codegen_adapter.json`, else
the adapter folder's name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..prompts.fim import FimFormat, present_tokens
from .base import BackendError, Generation, GenerationRequest, StopFlag
from .http import HttpEngine, cut, sse_events, until_stopped
from .priority import ForegroundGate

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 4096
ADAPTER_MANIFEST = "codegen_adapter.json"
# Token counts in the last event of a stream: vLLM sends them only when asked.
USAGE = {"include_usage": True}


def served_adapter_name(folder: str | Path) -> str:
    """The name the server serves a workspace adapter under: the manifest's `served_name`,
    else the adapter folder's name (what `--lora-modules NAME=PATH` would usually use)."""
    folder = Path(folder)
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        named = json.loads((folder / ADAPTER_MANIFEST).read_text(encoding="utf-8")).get("served_name")
        if isinstance(named, str) and named:
            return named
    return folder.name


@dataclass
class _Stream:
    """What a response stream produced so far; filled by `_read`, kept when it is cut short."""
    text: str = ""
    finish: str = "cancelled"
    pieces: int = 0
    first_piece_at: float = 0.0
    usage: dict | None = None


class OpenAIBackend(HttpEngine):
    # The server picks the first token; it cannot be made to spell out a cut token again.
    supports_healing = False
    # A workspace adapter is asked for by the name the server serves it under (adapter_identity).
    adapters_by_name = True

    def __init__(self, url: str, *, name: str | None = None, tokenizer: str | Path, fim_format: str = "auto",
                 context_window: int = 0, api_key_env: str = "CODEGEN_LSP_API_KEY", ca_bundle: str | None = None,
                 **http_options):
        from .local import serving_format

        super().__init__(url, api_key_env=api_key_env, ca_bundle=ca_bundle, **http_options)
        self.name = name
        folder = Path(tokenizer).expanduser()
        self.tokenizer = local_tokenizer(folder)
        self.fim: FimFormat = serving_format(folder, self.tokenizer, fim_format)
        self.model_id = f"openai:{self.url}:{name or ''}"
        self.adapter_hash = ""
        self.context_window = context_window or _window_of(folder) or DEFAULT_CONTEXT_WINDOW
        self.special_tokens = tuple(present_tokens(self.fim, self.tokenizer))
        self._end_texts = tuple(dict.fromkeys(t for t in (*self.fim.hole_end_tokens, *self.special_tokens) if t))
        self.gate = ForegroundGate()
        self._served: dict[str, str] = {}  # adapter folder -> its served name

    # -- the Backend protocol --------------------------------------------------------

    def token_starts(self, text: str) -> list[int]:
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [start for start, _ in encoded["offset_mapping"]]

    def adapter_identity(self, folder: str) -> str:
        """The served name of a workspace's adapter ("" for the base model): part of the cache key."""
        return self._served.get(folder) or (served_adapter_name(folder) if folder else "")

    async def prepare_adapter(self, folder: str) -> str:
        """The name `folder`'s adapter is served under. BackendError when the server lists its
        models without it (vLLM answers 404 for a name it does not serve): the folder then gets
        the base model, with one warning. A server that cannot be asked yet is trusted to serve it."""
        name = served_adapter_name(folder)
        listed = None
        with contextlib.suppress(BackendError, httpx.HTTPError, ValueError):
            listed = await self.served_models()
        if listed is not None and name not in listed:
            raise BackendError(f"{self.where} does not list the adapter {name!r} (it serves "
                               f"{', '.join(listed) or 'nothing'}); start it with --lora-modules {name}={folder}")
        self._served[folder] = name
        return name

    async def served_models(self) -> list[str]:
        """The model ids `GET /models` lists."""
        response = await self.http().get(f"{self.url}/models", headers=self.headers())
        response.raise_for_status()
        return [entry.get("id", "") for entry in response.json().get("data", [])]

    async def generate(self, request: GenerationRequest, stop: StopFlag) -> Generation:
        body = {"model": self._model_for(request.adapter), "prompt": request.prompt,
                "max_tokens": request.max_new_tokens, "temperature": request.temperature,
                "top_p": request.top_p, "stop": self._stops(request.stop), "stream": True,
                "stream_options": USAGE}
        with contextlib.nullcontext() if request.background else self.gate.foreground():
            return await self._generate("/completions", body, stop, request.single_line, request.stop,
                                        lambda choice: choice.get("text"))

    async def chat(self, messages: list[dict], max_new_tokens: int, stop: tuple[str, ...] = (),
                   flag: StopFlag | None = None, adapter: str = "") -> Generation:
        """An answer from `/chat/completions`: the server applies the model's chat template."""
        body = {"model": self._model_for(adapter), "messages": messages, "max_tokens": max_new_tokens,
                "temperature": 0.0, "stream": True, "stream_options": USAGE}
        if stop:
            body["stop"] = list(stop)
        with self.gate.foreground():
            return await self._generate("/chat/completions", body, flag or StopFlag(), False, stop,
                                        _chat_piece)

    # -- one generation --------------------------------------------------------------

    async def _generate(self, path: str, body: dict, stop: StopFlag, single_line: bool, stops: tuple[str, ...],
                        piece_of: Callable[[dict], str | None]) -> Generation:
        started = time.perf_counter()
        stream = _Stream()
        try:
            # Watched as a whole: a server that stalls before its first byte is cut off too.
            finished = await until_stopped(self._exchange(path, body, stream, single_line, stops, piece_of,
                                                           started), stop)
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendError(f"{self.where} broke off the answer: {exc}") from exc
        gen = Generation(text=stream.text, finish=stream.finish if finished else "cancelled",
                         new_tokens=stream.pieces, first_token_seconds=stream.first_piece_at)
        if stream.usage:
            gen.prompt_tokens = stream.usage.get("prompt_tokens") or 0
            gen.new_tokens = stream.usage.get("completion_tokens") or gen.new_tokens
        gen.generate_seconds = time.perf_counter() - started
        return gen

    async def _exchange(self, path: str, body: dict, stream: _Stream, single_line: bool, stops: tuple[str, ...],
                        piece_of: Callable[[dict], str | None], started: float) -> None:
        response = await self.open_stream(path, body)
        try:
            await self._read(response, stream, single_line, stops, piece_of, started)
        finally:
            await response.aclose()  # the server sees the connection go and stops generating too

    async def _read(self, response: httpx.Response, stream: _Stream, single_line: bool, stops: tuple[str, ...],
                    piece_of: Callable[[dict], str | None], started: float) -> None:
        async for event in sse_events(response):
            if "error" in event and not event.get("choices"):
                raise BackendError(f"{self.where} failed: {event['error']}")
            stream.usage = event.get("usage") or stream.usage
            for choice in event.get("choices") or ():
                piece = piece_of(choice) or ""
                if piece:
                    if not stream.pieces:
                        stream.first_piece_at = time.perf_counter() - started
                    stream.pieces += 1
                    stream.text += piece
                if choice.get("finish_reason"):
                    stream.finish = "length" if choice["finish_reason"] == "length" else "stop"
            ended = cut(stream.text, single_line, stops + self._end_texts)
            if ended is not None:  # the hole is complete: no need to wait for the server to notice
                stream.text, stream.finish = ended, "stop"
                return
        if stream.finish == "cancelled":  # the stream ended without a finish_reason
            stream.finish = "stop"

    def _model_for(self, adapter: str) -> str | None:
        return self.adapter_identity(adapter) if adapter else self.name

    def _stops(self, extra: tuple[str, ...]) -> list[str]:
        # Only the tokens that end a hole, not every FIM marker: the fewer the better (OpenAI itself
        # takes 4), and `transformers serve` 5.24 stops at once on some special-token stop strings
        # (<|cg_fim_suffix|>). The markers are still cut client-side when they come through as text.
        return list(dict.fromkeys(s for s in (*extra, *self.fim.hole_end_tokens) if s))


def local_tokenizer(folder: Path):
    """The served model's tokenizer from a local folder (codegen.model.tokenizer); BackendError if it
    does not load."""
    from transformers import AutoTokenizer  # no torch needed for a tokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise BackendError(f"cannot load the tokenizer at {folder} (codegen.model.tokenizer): {exc}") from exc


def _chat_piece(choice: dict) -> str | None:
    # Streamed answers come in deltas; a server that ignored "stream" sends the whole message.
    return (choice.get("delta") or choice.get("message") or {}).get("content")


def _window_of(folder: Path) -> int:
    """The context window the tokenizer folder's config.json declares, 0 when it has none."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return int(config.get("max_position_embeddings") or 0)
    return 0
