"""What every engine spoken to over HTTP shares: llama.cpp's server, Ollama and OpenAI-compatible
servers (vLLM, TGI, `transformers serve`) differ in their routes and bodies, not in this.

- One client per event loop, made at first use: nothing touches the network at construction.
- Retries with backoff on 429, 5xx and refused connections (Retry-After honoured, capped).
- One warning when the engine goes down and one note when it is back; while it is down each
  request tries once, so a keystroke finds out at once whether it is back.
- The bearer token is read from its environment variable per request, never stored or logged.
- A stream is watched as a whole and cut the moment the request's StopFlag is set; closing the
  connection is what tells the engine to stop decoding.
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

import httpx

from .base import BackendError, BackendUnavailable, Generation, GenerationRequest, StopFlag

log = logging.getLogger(__name__)

CONNECT_SECONDS = 5.0         # an unreachable host must not hold a keystroke for the whole timeout
RETRY_DELAYS = (0.25, 0.5, 1.0)  # before the 2nd, 3rd and 4th try, unless the server says Retry-After
MAX_RETRY_AFTER = 5.0         # a longer Retry-After is not worth a keystroke's wait
STOP_POLL_SECONDS = 0.05      # how often a stream waiting for its next chunk looks at the StopFlag

Notify = Callable[[str, str], None]  # (level, message): the server shows warnings to the user
Events = Callable[[httpx.Response], AsyncIterator[dict]]  # a response's JSON events (SSE or NDJSON)


def log_notice(level: str, message: str) -> None:
    log.log(getattr(logging, level.upper(), logging.INFO), message)


class Retry(Exception):
    """A try failed in a way worth another one (429, 5xx, no connection)."""

    def __init__(self, reason: str, delay: float | None = None, unreachable: bool = False):
        super().__init__(reason)
        self.delay = delay
        self.unreachable = unreachable


class HttpEngine:
    """The transport half of a remote backend; subclasses say what to send and how to read it."""

    # What the user reads in messages: "the completion server at URL", "the llama.cpp server at URL".
    engine_name = "completion server"

    def __init__(self, url: str, *, api_key_env: str = "CODEGEN_LSP_API_KEY", ca_bundle: str | None = None,
                 timeout_seconds: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS):
        self.url = url.rstrip("/")
        self._notify: Notify = self._held
        self._held_notices: list[tuple[str, str]] = []
        self._told: set[str] = set()
        self.down_since: float | None = None  # set while the engine cannot be reached
        self.retries = 0  # tries repeated after a 429, a 5xx or a refused connection
        self._api_key_env = api_key_env
        self._ca_bundle = ca_bundle
        self._timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, CONNECT_SECONDS))
        self._transport = transport
        self._retry_delays = retry_delays
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @property
    def notify(self) -> Notify:
        return self._notify

    @notify.setter
    def notify(self, callback: Notify) -> None:
        """The server sets it once the backend is built; what was said while loading reaches it then."""
        self._notify = callback
        held, self._held_notices = self._held_notices, []
        for level, message in held:
            callback(level, message)

    def _held(self, level: str, message: str) -> None:
        log_notice(level, message)
        self._held_notices.append((level, message))

    def tell_once(self, level: str, message: str) -> None:
        """A notice about the engine's set-up (its context size, its FIM tokens): once, not per reconnect."""
        if message not in self._told:
            self._told.add(message)
            self.notify(level, message)

    @property
    def where(self) -> str:
        return f"the {self.engine_name} at {self.url}"

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

    async def open_stream(self, path: str, body: dict) -> httpx.Response:
        """The streaming response to POST `path`, after retries on 429, 5xx and refused connections."""
        delays = () if self.down_since is not None else self._retry_delays
        for attempt in range(len(delays) + 1):
            try:
                return await self._send(path, body)
            except Retry as failure:
                if attempt == len(delays):
                    self._give_up(failure)
                self.retries += 1
                delay = delays[attempt] if failure.delay is None else failure.delay
                log.info("%s; trying again in %.2fs", failure, delay)
                await asyncio.sleep(delay)  # cancelled with the request, should it be superseded
        raise AssertionError("unreachable")

    async def get_json(self, path: str):
        """GET `path` once (no retries: status displays and listings ask again later)."""
        try:
            response = await self.http().get(f"{self.url}{path}", headers=self.headers())
        except httpx.TransportError as exc:
            reason = f"{self.where} is not reachable: {describe(exc)}"
            self.went_down(reason)
            raise BackendUnavailable(reason) from exc
        self.reached()
        if response.status_code >= 400:
            raise BackendError(f"{self.where} answered {response.status_code} to {path}: {response.text[:200]}")
        return response.json()

    async def stream_generation(self, path: str, body: dict, request: GenerationRequest, stop: StopFlag,
                                stops: tuple[str, ...], events: Events, piece_of: Callable[[dict], str | None],
                                last: Callable[[dict, Generation], bool]) -> Generation:
        """One streamed generation from POST `path`: pieces are added until `last` says an event is the
        engine's final one (and fills in its counts), a stop sequence or the line's end completes the
        hole, or `stop` is set; then the stream is closed, which stops the engine decoding."""
        started = time.perf_counter()
        gen = Generation(text="", finish="cancelled", route=path)
        stops = tuple(s for s in stops if s)
        read = self._read_generation(path, body, request, gen, started, stops, events, piece_of, last)
        try:
            finished = await until_stopped(read, stop)
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendError(f"{self.where} broke off the answer: {exc}") from exc
        if not finished:
            gen.finish = "cancelled"
        gen.generate_seconds = time.perf_counter() - started
        return gen

    async def _read_generation(self, path: str, body: dict, request: GenerationRequest, gen: Generation,
                               started: float, stops: tuple[str, ...], events: Events,
                               piece_of: Callable[[dict], str | None], last: Callable[[dict, Generation], bool]) -> None:
        response = await self.open_stream(path, body)
        try:
            async for event in events(response):
                if event.get("error"):
                    raise BackendError(f"{self.where} failed: {event['error']}")
                piece = piece_of(event) or ""
                if piece:
                    gen.first_token_seconds = gen.first_token_seconds or time.perf_counter() - started
                    gen.new_tokens += 1
                    gen.text += piece
                if last(event, gen):
                    break
                ended = cut(gen.text, request.single_line, stops)
                if ended is not None:  # the hole is complete: closing the stream stops the engine
                    gen.text, gen.finish = ended, "stop"
                    break
            else:
                gen.finish = "stop"  # a stream that ended without its last event
        finally:
            await response.aclose()
        ended = cut(gen.text, request.single_line, stops)
        gen.text = gen.text if ended is None else ended

    async def _send(self, path: str, body: dict) -> httpx.Response:
        client = self.http()
        body = {key: value for key, value in body.items() if value is not None}
        request = client.build_request("POST", f"{self.url}{path}", json=body, headers=self.headers())
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise Retry(f"{self.where} is not reachable: {describe(exc)}", unreachable=True) from exc
        self.reached()
        if response.status_code < 400:
            return response
        detail = (await response.aread()).decode("utf-8", "replace")[:300]
        await response.aclose()
        reason = f"{self.where} answered {response.status_code}: {detail}"
        if response.status_code == 429 or response.status_code >= 500:
            raise Retry(reason, retry_after(response))
        raise BackendError(reason)  # a request it will never take (bad model name, bad token...)

    def _give_up(self, failure: Retry) -> None:
        if failure.unreachable:
            self.went_down(str(failure))
            raise BackendUnavailable(str(failure)) from failure.__cause__
        raise BackendError(str(failure)) from failure.__cause__

    def went_down(self, reason: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.notify("warning", f"codegen-lsp: {reason}; completions stay empty until it is back")

    def reached(self) -> None:
        if self.down_since is not None:
            self.down_since = None
            self.notify("info", f"{self.where} is back")

    def http(self) -> httpx.AsyncClient:
        """The client, made at first use in the running loop (not at construction: no network, no loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # trust_env: HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE are honoured, as other tools do.
            self._client = httpx.AsyncClient(timeout=self._timeout, verify=self.verify(), trust_env=True,
                                             transport=self._transport)
            self._client_loop = loop
        return self._client

    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self._ca_bundle) if self._ca_bundle else True

    def headers(self) -> dict[str, str]:
        # Read per request, never stored or logged: a rotated token is picked up without a restart.
        token = os.environ.get(self._api_key_env, "") if self._api_key_env else ""
        return {"Authorization": f"Bearer {token}"} if token else {}


async def sse_events(response: httpx.Response) -> AsyncIterator[dict]:
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
        payload = _json_line(data)
        if payload is not None:
            yield payload


async def ndjson_events(response: httpx.Response) -> AsyncIterator[dict]:
    """The JSON objects of a newline-delimited JSON stream (Ollama's), one per line."""
    async for line in response.aiter_lines():
        payload = _json_line(line.strip()) if line.strip() else None
        if payload is not None:
            yield payload


def _json_line(data: str) -> dict | None:
    try:
        payload = json.loads(data)
    except ValueError:
        log.warning("skipped a malformed line from the engine: %.200s", data)
        return None
    return payload if isinstance(payload, dict) else None


def cut(text: str, single_line: bool, stops: tuple[str, ...]) -> str | None:
    """`text` cut where the completion ends (a stop sequence; a line end, for a single line); None
    while it goes on. The server may have stopped there too, but it may include the stop text."""
    ends = [text.find(s) for s in stops if s and s in text]
    if single_line:
        body = len(text) - len(text.lstrip())  # leading blank lines are not yet the line
        newline = text.find("\n", body)
        if newline >= 0:
            ends.append(newline)
    return text[:min(ends)] if ends else None


async def until_stopped(work, stop: StopFlag) -> bool:
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


def retry_after(response: httpx.Response) -> float | None:
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


def describe(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
