"""Ollama, natively: /api/generate for completions, /api/chat for the code actions, /api/tags and
/api/show for what it serves.

How a completion is asked:
- **raw**: with a local tokenizer of the served model (`codegen.model.tokenizer`), its FIM format
  is known here: our own FIM prompt goes with `raw: true` (no template), in either order, and
  prompts are budgeted exactly.
- **suffix**: without one, a model whose template takes a suffix (`/api/show` lists the
  `insert` capability: Qwen2.5-Coder, StarCoder2, CodeLlama...) gets `prompt` and `suffix`,
  and Ollama's template puts in the model's FIM tokens.
- **prefix**: a model without FIM continues the prefix alone (`raw: true`), with one warning.

Without a local tokenizer, prompts are budgeted by words and punctuation (Ollama has no
tokenize API). `num_ctx` is sent with every request, because Ollama's own default (2048 or
4096 tokens, by version) cuts longer prompts from the front without telling.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import httpx

from ..prompts.fim import NO_FIM, FimFormat, present_tokens
from .base import BackendError, Generation, GenerationRequest, StopFlag
from .http import HttpEngine, ndjson_events
from .llama_cpp import rough_starts
from .openai import local_tokenizer
from .priority import ForegroundGate

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 4096
# Ollama's template markers, as the prompt is shown in codegen.debug.lastRequests.
TEMPLATE = FimFormat(name="ollama-template", prefix="{{ .Prompt }}", suffix="{{ .Suffix }}", middle="",
                     end_of_text="")


class OllamaBackend(HttpEngine):
    engine_name = "Ollama server"
    supports_healing = False
    chats_natively = True  # the code actions go through /api/chat (actions/runner.py)

    def __init__(self, url: str, *, name: str, tokenizer: str | None = None, fim_format: str = "auto",
                 context_window: int = 0, **http_options):
        super().__init__(url, **http_options)
        self.name = name
        self.model_id = f"ollama:{self.url}:{name}"
        self.adapter_hash = ""
        self.gate = ForegroundGate()
        self.local_tokenizer = local_tokenizer(Path(tokenizer).expanduser()) if tokenizer else None
        self.fim: FimFormat = TEMPLATE
        self.route = "suffix"
        if self.local_tokenizer is not None:
            from .local import serving_format

            self.fim = serving_format(Path(tokenizer).expanduser(), self.local_tokenizer, fim_format)
            self.route = "prefix" if self.fim.prefix_only else "raw"
        self.special_tokens = tuple(present_tokens(self.fim, self.local_tokenizer)) if self.local_tokenizer else ()
        self._configured_window = context_window
        self.context_window = context_window or DEFAULT_CONTEXT_WINDOW
        self.listed: bool | None = None  # whether /api/tags lists the model; None until asked
        self._shown = False

    # -- the Backend protocol --------------------------------------------------------

    def token_starts(self, text: str) -> list[int]:
        if self.local_tokenizer is None:
            return rough_starts(text)
        encoded = self.local_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [start for start, _ in encoded["offset_mapping"]]

    def adapter_identity(self, folder: str) -> str:
        return ""  # an Ollama model carries its adapter in its Modelfile (ADAPTER); one name, one model

    async def generate(self, request: GenerationRequest, stop: StopFlag) -> Generation:
        await self._know_model()
        body = {"model": self.name, "stream": True, "options": self._options(request), **self._prompt(request)}
        with contextlib.nullcontext() if request.background else self.gate.foreground():
            return await self._stream("/api/generate", body, request, stop, lambda event: event.get("response"))

    async def chat(self, messages: list[dict], max_new_tokens: int, stop: tuple[str, ...] = (),
                   flag: StopFlag | None = None, adapter: str = "") -> Generation:
        """An answer from /api/chat: Ollama applies the model's chat template."""
        request = GenerationRequest("", max_new_tokens, stop=stop)
        body = {"model": self.name, "messages": messages, "stream": True, "options": self._options(request)}
        with self.gate.foreground():
            return await self._stream("/api/chat", body, request, flag or StopFlag(),
                                      lambda event: (event.get("message") or {}).get("content"))

    def engine_status(self) -> dict:
        return {"engine": "ollama", "url": self.url, "reachable": self.down_since is None and self.listed is not None,
                "servedModel": self.name, "listed": self.listed, "route": self.route}

    # -- what to ask -----------------------------------------------------------------

    def _prompt(self, request: GenerationRequest) -> dict:
        pieces = request.pieces
        if pieces is None or self.route == "raw":
            return {"prompt": request.prompt, "raw": True}
        if self.route == "prefix":
            return {"prompt": pieces.prefix, "raw": True}
        return {"prompt": pieces.prefix, "suffix": pieces.suffix}

    def _options(self, request: GenerationRequest) -> dict:
        stops = [s for s in (*request.stop, *self.fim.hole_end_tokens) if s]
        return {"num_predict": request.max_new_tokens, "temperature": request.temperature,
                "top_p": request.top_p, "num_ctx": self.context_window, **({"stop": stops} if stops else {})}

    async def _know_model(self) -> None:
        """Once reached: whether the model is pulled (/api/tags), its context size and whether its
        template fills in the middle (/api/show)."""
        if self._shown:
            return
        tags = await self.get_json("/api/tags")
        names = {entry.get("name") for entry in tags.get("models", [])} | {entry.get("model") for entry in
                                                                           tags.get("models", [])}
        self.listed = self.name in names or f"{self.name}:latest" in names
        if not self.listed:
            raise BackendError(f"{self.where} does not have the model {self.name!r} "
                               f"(it has {', '.join(sorted(n for n in names if n)) or 'none'}): "
                               f"run `ollama pull {self.name}`")
        shown = await self._post_json("/api/show", {"model": self.name})
        self._adopt(shown)
        self._shown = True

    def _adopt(self, shown: dict) -> None:
        info = shown.get("model_info") or {}
        trained = next((int(v) for k, v in info.items() if k.endswith(".context_length")), 0)
        if trained:
            self.context_window = min(self._configured_window or trained, trained)
        capabilities = shown.get("capabilities") or []
        if self.route == "suffix" and "insert" not in capabilities:
            self.route, self.fim = "prefix", NO_FIM
            self.tell_once("warning", f"codegen-lsp: the model {self.name} at {self.where} has no fill-in-the-middle "
                                      "template: completions continue the text before the cursor only, and the text "
                                      "after it is not seen. A code model (qwen2.5-coder, starcoder2) fills in the "
                                      "middle.")

    async def _post_json(self, path: str, body: dict) -> dict:
        response = await self.open_stream(path, body)
        try:
            return httpx.Response(200, content=await response.aread()).json()
        finally:
            await response.aclose()

    # -- one generation --------------------------------------------------------------

    async def _stream(self, path: str, body: dict, request: GenerationRequest, stop: StopFlag,
                      piece_of) -> Generation:
        stops = (*request.stop, *self.fim.hole_end_tokens, *self.special_tokens)
        return await self.stream_generation(path, body, request, stop, stops, ndjson_events, piece_of, _finished)


def _finished(event: dict, gen: Generation) -> bool:
    """Whether `event` is the last of an Ollama stream; if so, why it stopped and Ollama's counts."""
    if not event.get("done"):
        return False
    gen.finish = "length" if event.get("done_reason") == "length" else "stop"
    gen.prompt_tokens = int(event.get("prompt_eval_count") or 0)
    gen.new_tokens = int(event.get("eval_count") or gen.new_tokens)
    return True
