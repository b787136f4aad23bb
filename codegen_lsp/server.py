"""The language server: its state (configuration, documents, completion pipeline)
and how it reports to the user. Handlers live in `handlers/`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .backends.base import BackendError
from .completion import CompletionPipeline
from .config import Config, default_cache_dir
from .documents import DocumentStore
from .engine import build_pipeline
from .logs import RequestLog, RequestRecord, setup_file_log
from .lsp_convert import encoding_name, lsp_message_type
from .prompts.fim import FimTokenError

log = logging.getLogger(__name__)

_LEVEL_ORDER = ["error", "warning", "info", "debug"]


class CodegenServer(LanguageServer):
    def __init__(self, model_override: str | None = None):
        super().__init__("codegen-lsp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.model_override = model_override
        self.config = Config()
        self.documents = DocumentStore()
        self.requests = RequestLog(self.config.log.keep_requests, listener=self._report_request)
        self.pipeline: CompletionPipeline | None = None
        self.load_error: str | None = None
        self._loading: asyncio.Task | None = None
        self._log_file: Path | None = None

    @property
    def encoding(self) -> str:
        return encoding_name(self.workspace.position_encoding)

    # -- configuration -------------------------------------------------------------

    def apply_config(self, config: Config, warnings: list[str]) -> None:
        """Take a new configuration; reload the model only when its settings changed."""
        model_changed = config.model != self.config.model or config.cache != self.config.cache
        self.config = config
        self.requests.resize(config.log.keep_requests)
        self._open_log_file()
        if warnings:
            self.tell_user("warning", "codegen-lsp: ignored invalid settings (defaults used): " + "; ".join(warnings))
        if self.pipeline is not None and not model_changed:
            self.pipeline.config = config.completion
            self.pipeline.model_config = config.model
        elif self.pipeline is not None or self._loading is not None:
            self.start_loading()

    def _open_log_file(self) -> None:
        path = Path(self.config.log.file).expanduser() if self.config.log.file else default_cache_dir() / "server.log"
        if path != self._log_file:
            self._log_file = setup_file_log(path, self.config.log.level)

    # -- the model -----------------------------------------------------------------

    def start_loading(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        self._loading = asyncio.ensure_future(self._load())

    async def _load(self) -> None:
        old, self.pipeline, self.load_error = self.pipeline, None, None
        if old is not None:
            old.backend.close()
        token = await self._begin_progress("codegen-lsp: loading the model")
        try:
            self.pipeline = await asyncio.to_thread(build_pipeline, self.config, self.requests, self.model_override)
            self.log_line(f"model {self.pipeline.backend.model_id} ready ({self.pipeline.backend.fim.name} FIM)")
        except (BackendError, FimTokenError, OSError) as exc:
            self.load_error = str(exc)
            self.tell_user("error", f"codegen-lsp: {exc}")
        except Exception as exc:  # a broken model folder must not take the server down
            log.exception("loading the model failed")
            self.load_error = f"{type(exc).__name__}: {exc}"
            self.tell_user("error", f"codegen-lsp: loading the model failed: {self.load_error}")
        finally:
            self._end_progress(token)

    async def completion_pipeline(self) -> CompletionPipeline | None:
        """The pipeline, once the model is loaded; None when loading failed."""
        if self._loading is None:
            self.start_loading()
        if not self._loading.done():
            await asyncio.shield(self._loading)
        return self.pipeline

    def shutdown_model(self) -> None:
        if self.pipeline is not None:
            self.pipeline.backend.close()
            if self.pipeline.cache is not None:
                self.pipeline.cache.close()

    # -- reporting -----------------------------------------------------------------

    def tell_user(self, level: str, message: str) -> None:
        log.log(getattr(logging, level.upper(), logging.INFO), message)
        self.window_show_message(types.ShowMessageParams(type=lsp_message_type(level), message=message))

    def log_line(self, message: str, level: str = "info") -> None:
        log.log(getattr(logging, level.upper(), logging.INFO), message)
        if _LEVEL_ORDER.index(level) <= _LEVEL_ORDER.index(self.config.log.level):
            self.window_log_message(types.LogMessageParams(type=lsp_message_type(level), message=message))

    def _report_request(self, record: RequestRecord) -> None:
        level = "error" if record.outcome == "error" else "debug" if record.outcome in ("skipped", "superseded") else "info"
        self.log_line(record.summary(), level)

    async def _begin_progress(self, title: str) -> str | None:
        capabilities = self.client_capabilities.window
        if capabilities is None or not capabilities.work_done_progress:
            return None
        token = f"codegen-load-{id(self)}-{asyncio.get_running_loop().time()}"
        try:
            await self.work_done_progress.create_async(token)
        except Exception:  # the client refused: go on without progress
            return None
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False))
        return token

    def _end_progress(self, token: str | None) -> None:
        if token is not None:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd())


def create_server(model_override: str | None = None) -> CodegenServer:
    from .handlers import commands, completion, documents, lifecycle

    server = CodegenServer(model_override)
    for module in (lifecycle, documents, completion, commands):
        module.register(server)
    return server
