"""llama.cpp's own server (`llama-server`), natively: /completion, /infill, /tokenize, /props, /health.

No local tokenizer or model folder is needed. When the server is first reached (`probe`), it is
asked for its context size (/props), its chat template, and which FIM tokens its vocabulary has:
each known format's tokens (prompts/fim.py) are tokenized with /tokenize, and a format whose
tokens are all single ids is the model's. Prompts are budgeted with /tokenize too.

How a completion is asked, per model:
- **raw**: the FIM format is known here. Our own FIM prompt goes through /completion, in either
  order, with the workspace's real name and file paths: the very tokens `training/` trains on.
  SPM keeps the growing prefix last, so `cache_prompt` reuses nearly all of the previous KV.
- **infill**: the format is not known here but the GGUF has FIM tokens (or `fimRoute: infill`).
  /infill builds the prompt with the model's own tokens, with repository snippets in
  `input_extra`. It is PSM only, names the repository "myproject" and the file "filename", and
  cuts prefix and suffix to its batch size: second best, so never chosen over raw.
- **prefix**: no FIM tokens at all (an instruct model). /completion continues the prefix alone;
  one warning says the text after the cursor is not seen.

A superseded or cancelled request closes its stream, and llama-server stops decoding that slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import PurePath

import httpx

from ..prompts.fim import FORMATS, GGUF_ORDER_KEY, NO_FIM, FimFormat, resolve_format
from .base import BackendError, BackendUnavailable, Generation, GenerationRequest, PromptPieces, StopFlag
from .http import HttpEngine, describe, sse_events
from .priority import ForegroundGate

log = logging.getLogger(__name__)

PROBE_SECONDS = 3.0          # /props, /tokenize and /health answer in milliseconds when the server is up
PROBE_AGAIN_SECONDS = 1.0    # while the server is down, token budgeting asks again at most this often

# How /infill is shown in codegen.debug.lastRequests: the markers the server puts in.
INFILL = FimFormat(name="llama.cpp-infill", prefix="<FIM_PRE>", suffix="<FIM_SUF>", middle="<FIM_MID>",
                   end_of_text="<EOT>", file_separator="<FIM_SEP>", repo_name="<FIM_REP>")

# What budgets a prompt while the server cannot be asked: one piece per word, number, run of
# spaces or punctuation mark, about what a code tokenizer makes of code.
_ROUGH_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class ServerInfo:
    """What the server said of itself when it was first reached."""
    n_ctx: int
    model_path: str
    chat_template: str
    fim: FimFormat  # NO_FIM for a model without FIM tokens, INFILL when only the server knows them
    route: str      # "raw", "infill" or "prefix"


class RemoteChatTemplate:
    """The server's chat template in the shape the code actions use (`actions/chat.py`)."""

    def __init__(self, backend: LlamaCppBackend, template: str):
        self._backend = backend
        self.chat_template = template

    def apply_chat_template(self, conversation: list[dict], add_generation_prompt: bool = True,
                            tokenize: bool = False) -> str:
        return self._backend.post_sync("/apply-template", {"messages": conversation})["prompt"]


class LlamaCppBackend(HttpEngine):
    engine_name = "llama.cpp server"
    supports_healing = False  # the server picks the first token; it cannot be made to spell out a cut one

    def __init__(self, url: str, *, fim_format: str = "auto", fim_order: str = "auto", fim_route: str = "auto",
                 max_predict_ms: int = 1000, context_window: int = 0, wanted_window: int = 0, **http_options):
        super().__init__(url, **http_options)
        self.model_id = f"llama.cpp:{self.url}"
        self.adapter_hash = ""
        self.gate = ForegroundGate()
        self.info: ServerInfo | None = None
        self.tokenizer: RemoteChatTemplate | None = None
        self._fim_format, self._fim_order, self._fim_route = fim_format, fim_order, fim_route
        self._max_predict_ms = max_predict_ms
        self._configured_window = context_window
        self._wanted_window = max(wanted_window, context_window)
        # Budgeting asks /tokenize from the event loop: an unreachable host gives up within a second.
        self._sync = httpx.Client(timeout=httpx.Timeout(PROBE_SECONDS, connect=1.0), verify=self.verify(),
                                  trust_env=True)
        self._probe_lock = threading.Lock()
        self._last_probe = float("-inf")
        # Until the server answers: a window that fits anything, and the route that needs no tokens.
        self.fim: FimFormat = INFILL
        self.context_window = context_window or 2048
        self.special_tokens: tuple[str, ...] = ()
        self._try_probe()  # at load, off the event loop: a server that is down is only a warning

    # -- the Backend protocol --------------------------------------------------------

    def token_starts(self, text: str) -> list[int]:
        if self.info is None and not self._try_probe():
            return rough_starts(text)
        if self.down_since is not None and time.monotonic() - self._last_probe < PROBE_AGAIN_SECONDS:
            return rough_starts(text)  # a keystroke must not wait on a server that was just found down
        try:
            pieces = self.post_sync("/tokenize", {"content": text, "with_pieces": True, "parse_special": False})
        except BackendUnavailable:
            self._last_probe = time.monotonic()
            return rough_starts(text)
        return char_starts(text, [entry["piece"] for entry in pieces["tokens"]])

    def adapter_identity(self, folder: str) -> str:
        return ""  # llama-server applies its own --lora adapters; workspace adapters are not routed here

    async def generate(self, request: GenerationRequest, stop: StopFlag) -> Generation:
        info = self.info or await asyncio.to_thread(self._probed_or_down)
        path, body = self._request_body(request, info)
        stops = (*request.stop, *self.fim.hole_end_tokens, *self.special_tokens)
        with contextlib.nullcontext() if request.background else self.gate.foreground():
            return await self.stream_generation(path, body, request, stop, stops, sse_events,
                                                lambda event: event.get("content"), _finished)

    def close(self) -> None:
        super().close()
        self._sync.close()

    def engine_status(self) -> dict:
        """For codegen.status: what is known without asking the server again."""
        info = self.info
        return {"engine": "llama.cpp", "url": self.url, "reachable": self.down_since is None and info is not None,
                "nCtx": info.n_ctx if info else None, "route": info.route if info else None,
                "servedModel": PurePath(info.model_path).name if info and info.model_path else None}

    def reached(self) -> None:
        if self.down_since is not None:
            self.info = None  # it may have been restarted with another model: ask again what it is
        super().reached()

    # -- what to ask -----------------------------------------------------------------

    def _request_body(self, request: GenerationRequest, info: ServerInfo) -> tuple[str, dict]:
        body = {"n_predict": request.max_new_tokens, "temperature": request.temperature, "top_p": request.top_p,
                "top_k": 0, "min_p": 0.0, "stop": self._stops(request.stop), "stream": True,
                "cache_prompt": True, "return_progress": False}
        if not request.single_line and request.pieces is not None and self._max_predict_ms:
            body["t_max_predict_ms"] = self._max_predict_ms
        pieces = request.pieces
        if pieces is None:  # a chat prompt, already in the model's template
            return "/completion", {**body, "prompt": request.prompt}
        if info.route == "infill":
            return "/infill", {**body, **infill_fields(pieces)}
        return "/completion", {**body, "prompt": self._raw_prompt(pieces, info.fim)}

    @staticmethod
    def _raw_prompt(pieces: PromptPieces, fim: FimFormat) -> str:
        if pieces.files and fim.file_separator is not None:
            return fim.repo_prompt(pieces.repo, list(pieces.files), pieces.path or "", pieces.prefix, pieces.suffix,
                                   pieces.order)
        return fim.prompt(pieces.prefix, pieces.suffix, pieces.order)

    def _stops(self, extra: tuple[str, ...]) -> list[str]:
        # The server ends at end-of-generation tokens by itself; the format's other hole-ending
        # markers are stop words too, and are cut here again should they come through as text.
        ends = self.fim.hole_end_tokens if self.fim not in (INFILL, NO_FIM) else ()
        return list(dict.fromkeys(s for s in (*extra, *ends) if s))

    # -- one generation --------------------------------------------------------------

    # -- what the server is ----------------------------------------------------------

    def _probed_or_down(self) -> ServerInfo:
        if not self._try_probe(force=True):
            raise BackendUnavailable(f"{self.where} is not reachable")
        return self.info

    def _try_probe(self, force: bool = False) -> bool:
        """Ask the server what it is, once it answers; False while it cannot be reached."""
        with self._probe_lock:
            if self.info is not None:
                return True
            if not force and time.monotonic() - self._last_probe < PROBE_AGAIN_SECONDS:
                return False
            self._last_probe = time.monotonic()
            try:
                self.info = self._probe()
            except BackendUnavailable as exc:
                self.went_down(str(exc))
                return False
        HttpEngine.reached(self)  # not ours: that would forget what the probe just learnt
        self._adopt(self.info)
        return True

    def _probe(self) -> ServerInfo:
        health = self._get_sync("/health")
        if health.get("status") != "ok":
            raise BackendUnavailable(f"{self.where} is not ready: {health}")
        props = self._get_sync("/props")
        n_ctx = int((props.get("default_generation_settings") or {}).get("n_ctx") or 0)
        fim = self._known_format()
        route = "raw" if fim is not None and self._fim_route != "infill" else None
        if route is None:
            route = "infill" if self._fim_route == "infill" or self._serves_infill() else "prefix"
            fim = INFILL if route == "infill" else NO_FIM
        if route == "infill" and self._fim_order == "spm":
            self.tell_once("warning", f"codegen-lsp: {self.where} fills in the middle through /infill, which is "
                                   "PSM only; codegen.model.fimOrder \"spm\" is not used")
        model_path = str(props.get("model_path") or "")
        if route == "raw" and self._fim_order == "auto":
            fim = replace(fim, default_order=gguf_declared_order(model_path) or fim.default_order)
        return ServerInfo(n_ctx=n_ctx, model_path=model_path,
                          chat_template=str(props.get("chat_template") or ""), fim=fim, route=route)

    def _adopt(self, info: ServerInfo) -> None:
        self.fim = info.fim
        self.special_tokens = tuple(t for t in info.fim.special_tokens if t) if info.fim is not INFILL else ()
        self.model_id = f"llama.cpp:{self.url}:{PurePath(info.model_path).name}"
        self.tokenizer = RemoteChatTemplate(self, info.chat_template) if info.chat_template else None
        window = info.n_ctx or self._configured_window or self.context_window
        self.context_window = min(self._configured_window or window, window)
        if info.n_ctx and self._wanted_window > info.n_ctx:
            self.tell_once("warning", f"codegen-lsp: {self.where} has a context of {info.n_ctx} tokens (n_ctx), smaller "
                                   f"than the {self._wanted_window} configured for prompt plus completion; prompts "
                                   f"are cut to fit. Start llama-server with --ctx-size {self._wanted_window} "
                                   "or more for the whole budget.")
        if info.route == "prefix":
            self.tell_once("warning", f"codegen-lsp: the model served by {self.where} has no fill-in-the-middle "
                                   "tokens: completions continue the text before the cursor only, and the text "
                                   "after it is not seen. A code model with FIM tokens (Qwen2.5-Coder, StarCoder2, "
                                   "the embedded model exported with `codegen-lsp export`) fills in the middle.")
        log.info("%s: n_ctx %d, FIM %s through %s", self.where, info.n_ctx, info.fim.name, info.route)

    def _known_format(self) -> FimFormat | None:
        """The registered format whose tokens are all single ids in the served vocabulary."""
        vocabulary = _RemoteVocabulary(self)
        names = [self._fim_format] if self._fim_format not in ("auto", NO_FIM.name) else list(FORMATS)
        for name in names:
            try:
                return resolve_format(name, vocabulary)
            except ValueError:
                continue
        return None

    def _serves_infill(self) -> bool:
        """Whether the GGUF names FIM tokens: /infill refuses at once (501) when it does not."""
        try:
            response = self._sync.post(f"{self.url}/infill", headers=self.headers(),
                                       json={"input_prefix": "", "input_suffix": "", "n_predict": 0})
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"{self.where} is not reachable: {describe(exc)}") from exc
        return response.status_code < 400

    def _get_sync(self, path: str) -> dict:
        try:
            response = self._sync.get(f"{self.url}{path}", headers=self.headers())
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"{self.where} is not reachable: {describe(exc)}") from exc
        if response.status_code == 503:
            raise BackendUnavailable(f"{self.where} is still loading its model")
        if response.status_code >= 400:
            raise BackendUnavailable(f"{self.where} answered {response.status_code} to {path}: "
                                     f"{response.text[:200]}")
        return response.json()

    def post_sync(self, path: str, body: dict) -> dict:
        try:
            response = self._sync.post(f"{self.url}{path}", json=body, headers=self.headers())
        except httpx.TransportError as exc:
            self.went_down(f"{self.where} is not reachable: {describe(exc)}")
            raise BackendUnavailable(f"{self.where} is not reachable: {describe(exc)}") from exc
        if response.status_code >= 400:
            raise BackendError(f"{self.where} answered {response.status_code} to {path}: {response.text[:200]}")
        return response.json()


class _RemoteVocabulary:
    """The tokenizer `prompts.fim.resolve_format` checks a named format's tokens with: the server's,
    asked per token. (Only named formats are resolved against it, so no whole vocabulary is needed.)"""

    def __init__(self, backend: LlamaCppBackend):
        self._backend = backend

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self._backend.post_sync("/tokenize", {"content": text, "parse_special": True})["tokens"]


def gguf_declared_order(model_path: str) -> str | None:
    """The FIM order a GGUF from `codegen-lsp export` declares (its model folder's fim.json), when the
    server's model file is on this machine; None otherwise (then codegen.model.fimOrder says)."""
    if not model_path.endswith(".gguf") or not os.path.isfile(model_path):
        return None
    from gguf import GGUFReader  # only for a local file; the reader maps it, reading the header alone

    try:
        field = GGUFReader(model_path).fields.get(GGUF_ORDER_KEY)
        order = field.contents() if field is not None else None
    except (OSError, ValueError) as exc:
        log.info("cannot read %s's metadata: %s", model_path, exc)
        return None
    return order if order in ("psm", "spm") else None


def rough_starts(text: str) -> list[int]:
    return [m.start() for m in _ROUGH_TOKENS.finditer(text)]


def infill_fields(pieces: PromptPieces) -> dict:
    """/infill's own fields: the server puts in the FIM tokens (and the file separators)."""
    extra = [{"filename": path, "text": text} for path, text in pieces.files]
    return {"input_prefix": pieces.prefix, "input_suffix": pieces.suffix, "input_extra": extra}


def char_starts(text: str, pieces: list) -> list[int]:
    """Character offsets in `text` where each token starts, from /tokenize's pieces (a string, or
    a list of bytes for a piece that is not whole UTF-8)."""
    encoded = text.encode("utf-8")
    char_of_byte = [i for i, ch in enumerate(text) for _ in range(len(ch.encode("utf-8")))]
    starts, at = [], 0
    for piece in pieces:
        raw = piece.encode("utf-8") if isinstance(piece, str) else bytes(piece)
        if at == 0 and not encoded.startswith(raw) and raw.startswith(b" "):
            raw = raw[1:]  # a sentencepiece vocabulary adds a space before the first word
        if at < len(encoded):
            starts.append(char_of_byte[at])
        at += len(raw)
    return sorted(set(starts))


def _finished(event: dict, gen: Generation) -> bool:
    """Whether `event` is the last of a /completion stream; if so, why it stopped and the server's counts."""
    if not event.get("stop"):
        return False
    gen.finish = "length" if event.get("stop_type") == "limit" else "stop"
    timings = event.get("timings") or {}
    gen.reused_tokens = int(timings.get("cache_n") or 0)  # prompt tokens whose KV the slot kept (cache_prompt)
    gen.prompt_tokens = gen.reused_tokens + int(timings.get("prompt_n") or event.get("tokens_evaluated") or 0)
    gen.new_tokens = int(timings.get("predicted_n") or gen.new_tokens)
    gen.extra = {"timings": timings}
    return True
