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

import asyncio
import contextlib
import email.utils
import json
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..prompts.fim import FimFormat, present_tokens
from .base import BackendError, BackendUnavailable, Generation, GenerationRequest, StopFlag
from .priority import ForegroundGate

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 4096
CONNECT_SECONDS = 5.0         # an unreachable host must not hold a keystroke for the whole timeout
RETRY_DELAYS = (0.25, 0.5, 1.0)  # before the 2nd, 3rd and 4th try, unless the server says Retry-After
MAX_RETRY_AFTER = 5.0         # a longer Retry-After is not worth a keystroke's wait
STOP_POLL_SECONDS = 0.05      # how often a stream waiting for its next chunk looks at the StopFlag
ADAPTER_MANIFEST = "codegen_adapter.json"

Notify = Callable[[str, str], None]  # (level, message): the server shows warnings to the user


def _log_notice(level: str, message: str) -> None:
    log.log(getattr(logging, level.upper(), logging.INFO), message)


def served_adapter_name(folder: str | Path) -> str:
    """The name the server serves a workspace adapter under: the manifest's `served_name`,
    else the adapter folder's name (what `--lora-modules NAME=PATH` would usually use)."""
    folder = Path(folder)
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        named = json.loads((folder / ADAPTER_MANIFEST).read_text(encoding="utf-8")).get("served_name")
        if isinstance(named, str) and named:
            return named
    return folder.name


class _Retry(Exception):
    """A try failed in a way worth another one (429, 5xx, no connection)."""

    def __init__(self, reason: str, delay: float | None = None, unreachable: bool = False):
        super().__init__(reason)
        self.delay = delay
        self.unreachable = unreachable


@dataclass
class _Stream:
    """What a response stream produced so far; filled by `_read`, kept when it is cut short."""
    text: str = ""
    finish: str = "cancelled"
    pieces: int = 0
    first_piece_at: float = 0.0
    usage: dict | None = None


class OpenAIBackend:
    # The server picks the first token; it cannot be made to spell out a cut token again.
    supports_healing = False
    # A workspace adapter is asked for by the name the server serves it under (adapter_identity).
    adapters_by_name = True

    def __init__(self, url: str, *, name: str | None = None, tokenizer: str | Path, fim_format: str = "auto",
                 context_window: int = 0, api_key_env: str = "CODEGEN_LSP_API_KEY", ca_bundle: str | None = None,
                 timeout_seconds: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS):
        from transformers import AutoTokenizer  # no torch needed for a tokenizer

        from .local import serving_format

        self.url = url.rstrip("/")
        self.name = name
        folder = Path(tokenizer).expanduser()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(f"cannot load the tokenizer at {folder} (codegen.model.tokenizer): {exc}") from exc
        self.fim: FimFormat = serving_format(folder, self.tokenizer, fim_format)
        self.model_id = f"openai:{self.url}:{name or ''}"
        self.adapter_hash = ""
        self.context_window = context_window or _window_of(folder) or DEFAULT_CONTEXT_WINDOW
        self.special_tokens = tuple(present_tokens(self.fim, self.tokenizer))
        self._end_texts = tuple(dict.fromkeys(t for t in (*self.fim.hole_end_tokens, *self.special_tokens) if t))
        self.gate = ForegroundGate()
        self.notify: Notify = _log_notice  # the server replaces it to reach the user
        self.down_since: float | None = None  # set while the server cannot be reached
        self.retries = 0  # tries repeated after a 429, a 5xx or a refused connection
        self._api_key_env = api_key_env
        self._ca_bundle = ca_bundle
        self._timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, CONNECT_SECONDS))
        self._transport = transport
        self._retry_delays = retry_delays
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
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
            raise BackendError(f"the completion server at {self.url} does not list the adapter {name!r} (it serves "
                               f"{', '.join(listed) or 'nothing'}); start it with --lora-modules {name}={folder}")
        self._served[folder] = name
        return name

    async def served_models(self) -> list[str]:
        """The model ids `GET /models` lists."""
        response = await self._http().get(f"{self.url}/models", headers=self._headers())
        response.raise_for_status()
        return [entry.get("id", "") for entry in response.json().get("data", [])]

    async def generate(self, request: GenerationRequest, stop: StopFlag) -> Generation:
        body = {"model": self._model_for(request.adapter), "prompt": request.prompt,
                "max_tokens": request.max_new_tokens, "temperature": request.temperature,
                "top_p": request.top_p, "stop": self._stops(request.stop), "stream": True}
        with contextlib.nullcontext() if request.background else self.gate.foreground():
            return await self._generate("/completions", body, stop, request.single_line, request.stop,
                                        lambda choice: choice.get("text"))

    async def chat(self, messages: list[dict], max_new_tokens: int, stop: tuple[str, ...] = (),
                   flag: StopFlag | None = None, adapter: str = "") -> Generation:
        """An answer from `/chat/completions`: the server applies the model's chat template."""
        body = {"model": self._model_for(adapter), "messages": messages, "max_tokens": max_new_tokens,
                "temperature": 0.0, "stream": True}
        if stop:
            body["stop"] = list(stop)
        with self.gate.foreground():
            return await self._generate("/chat/completions", body, flag or StopFlag(), False, stop,
                                        _chat_piece)

    def close(self) -> None:
        """Close the HTTP client, from the event loop's thread or any other."""
        client, loop, self._client = self._client, self._client_loop, None
        if client is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is loop:
            running.create_task(client.aclose())
        elif loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        # else: its loop is gone and its connections with it; nothing is left to close.

    # -- one generation --------------------------------------------------------------

    async def _generate(self, path: str, body: dict, stop: StopFlag, single_line: bool, stops: tuple[str, ...],
                        piece_of: Callable[[dict], str | None]) -> Generation:
        started = time.perf_counter()
        stream = _Stream()
        try:
            # Watched as a whole: a server that stalls before its first byte is cut off too.
            finished = await _until_stopped(self._exchange(path, body, stream, single_line, stops, piece_of,
                                                           started), stop)
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendError(f"the completion server at {self.url} broke off the answer: {exc}") from exc
        gen = Generation(text=stream.text, finish=stream.finish if finished else "cancelled",
                         new_tokens=stream.pieces, first_token_seconds=stream.first_piece_at)
        if stream.usage:
            gen.prompt_tokens = stream.usage.get("prompt_tokens") or 0
            gen.new_tokens = stream.usage.get("completion_tokens") or gen.new_tokens
        gen.generate_seconds = time.perf_counter() - started
        return gen

    async def _exchange(self, path: str, body: dict, stream: _Stream, single_line: bool, stops: tuple[str, ...],
                        piece_of: Callable[[dict], str | None], started: float) -> None:
        response = await self._open(path, body)
        try:
            await self._read(response, stream, single_line, stops, piece_of, started)
        finally:
            await response.aclose()  # the server sees the connection go and stops generating too

    async def _read(self, response: httpx.Response, stream: _Stream, single_line: bool, stops: tuple[str, ...],
                    piece_of: Callable[[dict], str | None], started: float) -> None:
        async for event in _sse_events(response):
            if "error" in event and not event.get("choices"):
                raise BackendError(f"the completion server at {self.url} failed: {event['error']}")
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
            cut = _cut(stream.text, single_line, stops + self._end_texts)
            if cut is not None:  # the hole is complete: no need to wait for the server to notice
                stream.text, stream.finish = cut, "stop"
                return
        if stream.finish == "cancelled":  # the stream ended without a finish_reason
            stream.finish = "stop"

    # -- HTTP ------------------------------------------------------------------------

    async def _open(self, path: str, body: dict) -> httpx.Response:
        """The streaming response, after retries on 429, 5xx and refused connections."""
        # While the server is down, one try per request: each keystroke then finds out quickly
        # whether it is back, instead of waiting out the backoff every time.
        delays = () if self.down_since is not None else self._retry_delays
        for attempt in range(len(delays) + 1):
            try:
                response = await self._send(path, body)
            except _Retry as failure:
                if attempt == len(delays):
                    self._give_up(failure)
                self.retries += 1
                delay = delays[attempt] if failure.delay is None else failure.delay
                log.info("%s; trying again in %.2fs", failure, delay)
                await asyncio.sleep(delay)  # cancelled with the request, should it be superseded
            else:
                return response
        raise AssertionError("unreachable")

    async def _send(self, path: str, body: dict) -> httpx.Response:
        client = self._http()
        body = {key: value for key, value in body.items() if value is not None}  # no name: the server's model
        request = client.build_request("POST", f"{self.url}{path}", json=body, headers=self._headers())
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _Retry(f"the completion server at {self.url} is not reachable: {_describe(exc)}",
                         unreachable=True) from exc
        self._reached()
        if response.status_code < 400:
            return response
        detail = (await response.aread()).decode("utf-8", "replace")[:300]
        await response.aclose()
        reason = f"the completion server at {self.url} answered {response.status_code}: {detail}"
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retry(reason, _retry_after(response))
        raise BackendError(reason)  # a request it will never take (bad model name, bad token...)

    def _give_up(self, failure: _Retry) -> None:
        if failure.unreachable:
            if self.down_since is None:
                self.down_since = time.monotonic()
                self.notify("warning", f"codegen-lsp: {failure}; completions stay empty until it is back")
            raise BackendUnavailable(str(failure)) from failure.__cause__
        raise BackendError(str(failure)) from failure.__cause__

    def _reached(self) -> None:
        if self.down_since is not None:
            self.down_since = None
            self.notify("info", f"the completion server at {self.url} is back")

    def _http(self) -> httpx.AsyncClient:
        """The client, made at first use in the running loop (not at construction: no network, no loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=self._ca_bundle) if self._ca_bundle else True
            # trust_env: HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE are honoured, as other tools do.
            self._client = httpx.AsyncClient(timeout=self._timeout, verify=verify, trust_env=True,
                                             transport=self._transport)
            self._client_loop = loop
        return self._client

    def _headers(self) -> dict[str, str]:
        # Read per request, never stored or logged: a rotated token is picked up without a restart.
        token = os.environ.get(self._api_key_env, "") if self._api_key_env else ""
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _model_for(self, adapter: str) -> str | None:
        return self.adapter_identity(adapter) if adapter else self.name

    def _stops(self, extra: tuple[str, ...]) -> list[str]:
        # Only the tokens that end a hole, not every FIM marker: the fewer the better (OpenAI itself
        # takes 4), and `transformers serve` 5.24 stops at once on some special-token stop strings
        # (<|cg_fim_suffix|>). The markers are still cut client-side when they come through as text.
        return list(dict.fromkeys(s for s in (*extra, *self.fim.hole_end_tokens) if s))


async def _sse_events(response: httpx.Response) -> AsyncIterator[dict]:
    """The JSON payloads of a server-sent event stream, until `[DONE]`; a non-JSON line is skipped."""
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        yield json.loads(await response.aread())  # a server that ignored "stream": one JSON answer
        return
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, ": keep-alive" comments, event names
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            return
        try:
            payload = json.loads(data)
        except ValueError:
            log.warning("skipped a malformed line from the completion server: %.200s", data)
            continue
        if isinstance(payload, dict):
            yield payload


def _chat_piece(choice: dict) -> str | None:
    # Streamed answers come in deltas; a server that ignored "stream" sends the whole message.
    return (choice.get("delta") or choice.get("message") or {}).get("content")


def _cut(text: str, single_line: bool, stops: tuple[str, ...]) -> str | None:
    """`text` cut where the completion ends (a stop sequence; a line end, for a single line); None
    while it goes on. The server may have stopped there too, but it may include the stop text."""
    ends = [text.find(s) for s in stops if s and s in text]
    if single_line:
        body = len(text) - len(text.lstrip())  # leading blank lines are not yet the line
        newline = text.find("\n", body)
        if newline >= 0:
            ends.append(newline)
    return text[:min(ends)] if ends else None


async def _until_stopped(work, stop: StopFlag) -> bool:
    """Run `work` until it ends (True) or `stop` is set (False), whichever is first: a stalled
    stream is cut at once, not at its next chunk."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            if stop.is_set():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return False
            await asyncio.wait({task}, timeout=STOP_POLL_SECONDS)
        task.result()
        return True
    except asyncio.CancelledError:
        task.cancel()
        raise


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), capped; None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _describe(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _window_of(folder: Path) -> int:
    """The context window the tokenizer folder's config.json declares, 0 when it has none."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return int(config.get("max_position_embeddings") or 0)
    return 0
