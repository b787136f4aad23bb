"""The completion pipeline, read top to bottom:
trigger -> context -> prompt -> cache -> backend -> postprocess.

Plain Python: the backend, cache and configuration are passed in, so every step
runs in unit tests without an editor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Literal

from tree_sitter import Tree

from .backends.base import (Backend, BackendError, BackendUnavailable, Generation,
                            GenerationRequest, PromptPieces, StopFlag)
from .cache import CacheKey, CompletionCache
from .config import CompletionConfig, ModelConfig
from .context.assemble import Assembly, Cursor, assemble, commented
from .context.index import WorkspaceIndex
from .context.languages import normalise
from .context.symbols import FactsCache, FileFacts
from .context.token_cache import PieceTokenCache
from .context.syntax_guard import guard
from .context.trigger import Mode, decide_mode
from .context.window import Window, fit_window
from .faults import Faults
from .device_memory import is_out_of_memory
from .logs import RequestLog, RequestRecord
from .postprocess import PostprocessInput, postprocess
from .privacy import redact, redact_window, secret_at
from .prompts.fim import neutralise, split_for_healing
from .typing_ahead import TypingAhead

log = logging.getLogger(__name__)

# Tokens the FIM markers themselves take, kept free in the window.
PROMPT_OVERHEAD_TOKENS = 8
# Context candidates whose token counts are remembered (oldest forgotten first).
TOKEN_COUNTS_KEPT = 4096
# An opened document's first this many characters are tokenised ahead (about 25k lines of code,
# within what the piece cache keeps); in a bigger one, places are tokenised as they are visited.
WARM_MAX_CHARS = 1_000_000


@dataclass(frozen=True)
class RepoInputs:
    """Where the document sits in the workspace, for repository context."""

    path: str                                   # relative to the workspace root
    repo: str                                   # the workspace's name
    tree: Tree | None = None                    # the document's current syntax tree
    source: bytes | None = None                 # the UTF-8 text it was parsed from
    recent: tuple[tuple[str, str], ...] = ()    # other open documents (path, text), most recent first


@dataclass(frozen=True)
class CompletionRequest:
    uri: str
    version: int
    text: str
    offset: int  # str index of the cursor in text
    language_id: str
    kind: Literal["inline", "list", "action"] = "inline"
    invoked: bool = False  # asked for explicitly, not while typing
    repo: RepoInputs | None = None
    line: int | None = None  # the cursor's line number, where the caller has it (else counted)
    adapter: str = ""  # the workspace's prepared LoRA adapter folder; "" for the backend's own


@dataclass(frozen=True)
class CompletionResult:
    text: str  # to insert at the cursor; "" when there is nothing to show
    record: RequestRecord


class CompletionPipeline:
    def __init__(self, backend: Backend, cache: CompletionCache | None, config: CompletionConfig,
                 model_config: ModelConfig, log: RequestLog, faults: Faults | None = None):
        self.backend = backend
        self.cache = cache
        self.config = config
        self.model_config = model_config
        self.log = log
        self.faults = faults or Faults()  # what failed, told to the user once
        self.typing_ahead = TypingAhead()
        self.index: WorkspaceIndex | None = None  # the server sets it once the workspace is indexed
        self._active: dict[str, StopFlag] = {}
        self._token_counts: dict[str, int] = {}
        self.token_starts = PieceTokenCache(backend.token_starts)  # the window's tokens, kept across keystrokes
        self._facts: dict[str, FactsCache] = {}  # uri -> its names and imports, kept across versions

    async def complete(self, request: CompletionRequest, stop: StopFlag) -> CompletionResult:
        """Run the pipeline for one request; superseding any older one for the same document."""
        record = RequestRecord(uri=request.uri, version=request.version, kind=request.kind)
        previous = self._active.get(request.uri)
        if previous is not None:
            previous.set("superseded")
        self._active[request.uri] = stop
        started = time.perf_counter()
        try:
            text = await self._run(request, stop, record)
        except asyncio.CancelledError:
            stop.set("cancelled")
            record.outcome = "cancelled"
            raise
        except Exception as exc:  # the request is answered empty, the server goes on
            record.outcome, record.error, text = "error", str(exc) or type(exc).__name__, ""
            self._report_failure(exc)
        else:
            if record.outcome == "model":
                self.faults.ok("completion")
        finally:
            if self._active.get(request.uri) is stop:
                del self._active[request.uri]
            record.time("total", time.perf_counter() - started)
            self.log.finish(record)
        return CompletionResult(text, record)

    def _report_failure(self, error: Exception) -> None:
        if isinstance(error, BackendUnavailable):  # the backend tells the user itself, once per outage
            self.faults.report("completion/backend-down", f"codegen-lsp: {error}", show=False)
        elif is_out_of_memory(error):
            self.faults.report("completion/out-of-memory", f"codegen-lsp: {error}", "error")
        else:
            if not isinstance(error, BackendError):  # not one the backend foresaw: keep the traceback
                log.error("completion failed", exc_info=error)
            self.faults.report("completion/failed", f"codegen-lsp: a completion failed and was left empty "
                                                    f"({type(error).__name__}: {error}); the next ones are tried "
                                                    f"as usual, and repeats only logged", "error")

    async def warm(self, text: str) -> None:
        """Tokenise an opened document's lines before its first keystroke, a slice per turn of the
        event loop, so that a completion waits for one slice at most."""
        if looks_binary(text, 0):
            return
        for _ in self.token_starts.warm(text[:WARM_MAX_CHARS]):
            await asyncio.sleep(0)

    def forget(self, uri: str) -> None:
        """Drop what is kept for a closed document."""
        self.typing_ahead.forget(uri)
        self._facts.pop(uri, None)
        flag = self._active.pop(uri, None)
        if flag is not None:
            flag.set("cancelled")

    async def _run(self, request: CompletionRequest, stop: StopFlag, record: RequestRecord) -> str:
        # trigger
        t0 = time.perf_counter()
        repo = request.repo
        mode = decide_mode(request.text, request.offset, request.language_id,
                           repo.tree if repo else None, repo.source if repo else None)
        if mode is Mode.NONE and request.invoked:
            mode = Mode.SINGLE_LINE
        record.mode = mode.value
        if mode is Mode.NONE or not self.config.enabled or looks_binary(request.text, request.offset):
            record.outcome = "skipped"
            return ""
        secret = secret_at(request.text, request.offset)
        if secret is not None:  # the prompt would hold part of it, or the model suggest one
            log.debug("completion skipped: the cursor is inside a secret (%s)", secret)
            record.outcome = "skipped"
            return ""
        prefix, suffix = request.text[: request.offset], request.text[request.offset:]
        if self.config.typing_ahead:
            ahead = self.typing_ahead.rest(request.uri, prefix, suffix)
            if ahead:
                record.outcome, record.completion = "typing-ahead", ahead
                return ahead

        record.time("trigger", time.perf_counter() - t0)
        if self.config.debounce_ms and not request.invoked:
            await asyncio.sleep(self.config.debounce_ms / 1000)
        if stop.is_set():
            record.outcome = stop.reason or "cancelled"
            return ""

        # context and prompt
        t0 = time.perf_counter()
        generation_request = self._prompt(request, prefix, suffix, mode, record)
        record.time("context", time.perf_counter() - t0)

        # cache, then backend
        record.adapter = self.backend.adapter_identity(request.adapter)
        key = CacheKey(self.backend.model_id, record.adapter, self.backend.fim.name,
                       generation_request.prompt, generation_request.cache_fields())
        raw = self.cache.get(key) if self.cache is not None else None
        if raw is not None:
            record.outcome = "cache"
        else:
            generation = await self._generate(generation_request, stop, record)
            if generation.finish == "cancelled":
                record.outcome = stop.reason or "cancelled"
                return ""
            raw, record.outcome = generation.text, "model"
            if self.cache is not None:
                self.cache.put(key, raw)

        # postprocess
        t1 = time.perf_counter()
        text = postprocess(PostprocessInput(
            raw=raw, prefix=prefix, suffix=suffix, multiline=mode is Mode.MULTI_LINE,
            special_tokens=self.backend.special_tokens, stop_sequences=tuple(self.config.stop)))
        if text and self.config.syntax_check and request.repo is not None and request.repo.tree is not None:
            checked = guard(normalise(request.language_id), request.repo.tree, request.text, request.offset,
                            text, mode is Mode.MULTI_LINE)
            text, record.syntax = checked.text, checked.note
        record.time("postprocess", time.perf_counter() - t1)
        record.completion = text
        self.typing_ahead.remember(request.uri, prefix, suffix, text)
        return text

    async def fill(self, request: CompletionRequest, max_new_tokens: int, stop: tuple[str, ...],
                   flag: StopFlag, background: bool = False) -> Generation:
        """The model's middle for a hole at `request.offset`, with the same repository context and
        prompt as a completion but no trigger, cache or postprocessing: how the code actions ask a
        base model (the hole is theirs: between a docstring's quotes, in place of a selection...)."""
        record = RequestRecord(uri=request.uri, version=request.version, kind=request.kind)
        record.mode = "fill"
        started = time.perf_counter()
        try:
            prefix, suffix = request.text[: request.offset], request.text[request.offset:]
            generation_request = self._prompt(request, prefix, suffix, Mode.MULTI_LINE, record, max_new_tokens)
            generation_request = dataclasses.replace(generation_request, stop=stop, session=None,
                                                     background=background)
            generation = await self._generate(generation_request, flag, record)
            record.outcome = "cancelled" if generation.finish == "cancelled" else "model"
            record.completion = generation.text
            return generation
        except asyncio.CancelledError:
            flag.set("cancelled")
            record.outcome = "cancelled"
            raise
        finally:
            record.time("total", time.perf_counter() - started)
            self.log.finish(record)

    def _prompt(self, request: CompletionRequest, prefix: str, suffix: str, mode: Mode,
                record: RequestRecord, max_new_tokens: int | None = None) -> GenerationRequest:
        multiline = mode is Mode.MULTI_LINE
        max_new = max_new_tokens or (self.config.max_new_tokens if multiline else self.config.single_line_max_tokens)
        window_budget = self.backend.context_window - max_new - PROMPT_OVERHEAD_TOKENS
        budget = max(0, min(self.config.prompt_tokens, window_budget))
        line = request.line if request.line is not None else prefix.count("\n")
        fim = self.backend.fim
        # A model without FIM tokens continues the prefix alone: the suffix is never sent, so the
        # whole budget goes to the prefix, and the model's own special tokens are the ones the
        # user's text may not spell (a literal <|endoftext|> in the file must not reach the model as one).
        fitted_suffix, share = ("", 0.0) if fim.prefix_only else (suffix, self.config.suffix_share)
        special = tuple(self.backend.special_tokens) if fim.prefix_only else fim.special_tokens
        window = fit_window(prefix, fitted_suffix, budget, share, self.token_starts, line)
        assembly = self.repo_context(request, window.prefix, budget, record)
        if assembly.tokens:  # refit the first window's text, not the whole file, to the budget left
            window = fit_window(window.prefix, window.suffix, budget - assembly.tokens, share, self.token_starts, line)
        window, assembly, record.redacted = _redacted(prefix, suffix, window, assembly)
        order = None if self.model_config.fim_order == "auto" else self.model_config.fim_order
        files = [(path, neutralise(text, special)) for path, text in assembly.files]
        prompt_prefix, heal = neutralise(assembly.prefix_header + window.prefix, special), ""
        if files and fim.file_separator is None:
            prompt_prefix = commented(files, normalise(request.language_id)) + prompt_prefix
        # A remote server cannot be made to start with the cut text (backends/openai.py).
        if self.config.token_healing and getattr(self.backend, "supports_healing", True):
            prompt_prefix, heal = split_for_healing(prompt_prefix, self.backend.token_starts)
        prompt_suffix = neutralise(window.suffix, special)
        separate_files = bool(files) and fim.file_separator is not None
        if separate_files:
            prompt = fim.repo_prompt(request.repo.repo, files, request.repo.path, prompt_prefix, prompt_suffix, order)
        else:
            prompt = fim.prompt(prompt_prefix, prompt_suffix, order)
        record.prompt, record.heal = prompt, heal
        pieces = PromptPieces(prompt_prefix, prompt_suffix, tuple(files) if separate_files else (),
                              request.repo.repo if request.repo else None,
                              request.repo.path if request.repo else None, order)
        return GenerationRequest(
            prompt=prompt, max_new_tokens=max_new, stop=tuple(self.config.stop), single_line=not multiline,
            temperature=self.config.temperature, top_p=self.config.top_p, session=request.uri, heal=heal,
            adapter=request.adapter, pieces=pieces)

    def repo_context(self, request: CompletionRequest, window_prefix: str, budget: int,
                      record: RequestRecord) -> Assembly:
        """Repository context within its share of `budget`; empty when off or outside a workspace.

        It must not repeat `window_prefix`: the widest window, which the final one never exceeds.
        """
        share = min(self.config.context_tokens, budget // 2)
        if request.repo is None or not self.config.repo_context or share <= 0:
            return Assembly()
        cursor = Cursor(request.repo.path, normalise(request.language_id), request.text, request.offset,
                        request.repo.tree, request.repo.source)
        assembly = assemble(cursor, self.index, self._file_facts(request, cursor), request.repo.recent,
                            window_prefix, share, self._count_tokens)
        record.context = [item.as_dict() for item in assembly.items]
        return assembly

    def _count_tokens(self, text: str) -> int:
        """Tokens in a context candidate; the same definitions come back keystroke after keystroke."""
        count = self._token_counts.get(text)
        if count is None:
            if len(self._token_counts) >= TOKEN_COUNTS_KEPT:
                del self._token_counts[next(iter(self._token_counts))]
            count = self._token_counts[text] = len(self.token_starts(text))  # its lines may be known already
        return count

    def _file_facts(self, request: CompletionRequest, cursor: Cursor) -> FileFacts:
        cache = self._facts.setdefault(request.uri, FactsCache())
        return cache.facts(cursor.tree, cursor.encoded(), request.version)

    async def _generate(self, request: GenerationRequest, stop: StopFlag, record: RequestRecord) -> Generation:
        self.log.backend_calls += 1
        task = asyncio.ensure_future(self.backend.generate(request, stop))
        try:
            generation = await asyncio.shield(task)
        except asyncio.CancelledError:
            # Stop decoding and wait the one token it takes, so the record tells the truth.
            stop.set("cancelled")
            _fill(record, await task)
            raise
        _fill(record, generation)
        return generation


def _redacted(prefix: str, suffix: str, window: Window, assembly: Assembly) -> tuple[Window, Assembly, int]:
    """The window and the repository context with secret values replaced (privacy.py): what the
    model, the cache key and the debug dump see. The document itself stays whole: the completion
    is fitted to its real text."""
    before, after, count = redact_window(prefix, suffix, len(window.prefix), len(window.suffix))
    header, found = redact(assembly.prefix_header)
    files = []
    for path, text in assembly.files:
        text, more = redact(text)
        files.append((path, text))
        found += more
    return (dataclasses.replace(window, prefix=before, suffix=after),
            dataclasses.replace(assembly, prefix_header=header, files=files), count + found)


def _fill(record: RequestRecord, generation: Generation) -> None:
    record.prompt_tokens = generation.prompt_tokens
    record.reused_tokens = generation.reused_tokens
    record.new_tokens = generation.new_tokens
    record.route = generation.route
    record.time("queue", generation.queue_seconds)
    record.time("first_token", generation.first_token_seconds)
    record.time("generate", generation.generate_seconds)


def looks_binary(text: str, offset: int) -> bool:
    """NUL characters near the cursor: a binary file opened as text, nothing to complete."""
    return "\x00" in text[max(0, offset - 4096): offset + 4096]
