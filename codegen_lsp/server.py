"""The language server: its state (configuration, documents, completion pipeline)
and how it reports to the user. Handlers live in `handlers/`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from . import __version__
from .adapters import folder_of, registered_adapter
from .backends.base import BackendError
from .backends.local import LocalBackend
from .backends.priority import ForegroundGate
from .completion import CompletionPipeline, RepoInputs
from .config import Config, default_cache_dir
from .context.index import WorkspaceIndex
from .context.workspace_files import Limits, WorkspaceFiles, is_private_name
from .documents import Document, DocumentStore
from .engine import build_pipeline
from .faults import Faults
from .generators.jobs import JobRunner
from .logs import RequestLog, RequestRecord, setup_file_log
from .lsp_convert import encoding_name, lsp_message_type
from .prompts.fim import NO_FIM, FimTokenError, prefix_only_warning

log = logging.getLogger(__name__)

_LEVEL_ORDER = ["error", "warning", "info", "debug"]
RECENT_DOCUMENTS = 10  # open documents searched for similar snippets


class CodegenProtocol(LanguageServerProtocol):
    """pygls' protocol without pygls' own copy of the open documents: `CodegenServer.documents`
    keeps them. pygls' copy edited every document a second time per keystroke and, for an edit past
    a line's end, rewrote the client's position in place (to the line's length minus one, on lines
    split like str.splitlines) before our handler saw it, so the server applied another edit.
    Without these builtins, didOpen/didChange/didClose go straight to handlers/documents.py."""

    lsp_text_document__did_open = None
    lsp_text_document__did_change = None
    lsp_text_document__did_close = None


class CodegenServer(LanguageServer):
    def __init__(self, model_override: str | None = None):
        super().__init__("codegen-lsp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=CodegenProtocol)
        self.model_override = model_override
        self.config = Config()
        self.documents = DocumentStore()
        self.requests = RequestLog(self.config.log.keep_requests, listener=self._report_request)
        # What fails (a completion, the cache, a workspace file) is shown once, then only logged.
        self.faults = Faults(show=self.tell_user, log_line=lambda level, message: self.log_line(message, level))
        self.pipeline: CompletionPipeline | None = None
        self.load_error: str | None = None
        self._loading: asyncio.Task | None = None
        self._log_file: Path | None = None
        self.workspace_files: WorkspaceFiles | None = None
        self.index: WorkspaceIndex | None = None
        self._indexing: asyncio.Task | None = None
        self._indexed_versions: dict[str, int] = {}  # open document -> the version the index holds
        self._warming: set[asyncio.Task] = set()
        self.folders: list[Path] = []  # workspace folders: each may have its own adapter
        self.adapters: dict[Path, str] = {}  # folder -> its prepared adapter folder
        self.training: asyncio.Task | None = None  # codegen.train's run, one at a time
        self.jobs = JobRunner(self._foreground_gate, self.config.generators.idle_release_seconds)
        self._no_completions = ForegroundGate()  # the gate while no completion model is loaded
        self._chat: tuple[str, object] | None = None  # (chatModel setting, its backend or None)
        self._told: set[str] = set()  # load notes shown already: a reload of the same model only logs them

    @property
    def encoding(self) -> str:
        return encoding_name(self.workspace.position_encoding)

    # -- configuration -------------------------------------------------------------

    def apply_config(self, config: Config, warnings: list[str]) -> None:
        """Take a new configuration; reload the model only when its settings changed."""
        model_changed = config.model != self.config.model or config.cache != self.config.cache
        self.config = config
        self.jobs.idle_seconds = config.generators.idle_release_seconds
        self.requests.resize(config.log.keep_requests)
        self._open_log_file()
        if warnings:
            self.tell_user("warning", "codegen-lsp: ignored invalid settings (defaults used): " + "; ".join(warnings))
        if self.pipeline is not None and not model_changed:
            self.pipeline.config = config.completion
            self.pipeline.model_config = config.model
        elif model_changed and (self.pipeline is not None or self._loading is not None):
            self.start_loading()  # (a load under way with the same model settings goes on)

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
            del old  # not referenced from here while the new model loads (and is frozen, engine.py)
        token = await self.begin_progress("codegen-lsp: loading the model")
        self.faults.reset("completion", "cache")  # a new model and cache: their faults are news again
        self.faults.loop = asyncio.get_running_loop()
        try:
            self.pipeline = await asyncio.to_thread(build_pipeline, self.config, self.requests, self.model_override,
                                                    self.faults)
            # Settings that changed while it loaded, without touching the model, apply too.
            self.pipeline.config, self.pipeline.model_config = self.config.completion, self.config.model
            self.pipeline.index = self.index
            if hasattr(self.pipeline.backend, "notify"):  # a remote server going down and coming back
                self.pipeline.backend.notify = self._backend_notice
            self.log_line(f"model {self.pipeline.backend.model_id} ready ({self.pipeline.backend.fim.name} FIM)")
            self._load_notes(self.pipeline.backend)
            for document in self.documents.recent():
                self.warm_tokens(document)
            await self.prepare_adapters()
        except (BackendError, FimTokenError, OSError) as exc:
            self.load_error = str(exc)
            self.tell_user("error", f"codegen-lsp: {exc}")
        except Exception as exc:  # a broken model folder must not take the server down
            log.exception("loading the model failed")
            self.load_error = f"{type(exc).__name__}: {exc}"
            self.tell_user("error", f"codegen-lsp: loading the model failed: {self.load_error}")
        finally:
            self.end_progress(token)

    def _load_notes(self, backend) -> None:
        """What the user should know about how the loaded model serves, each said once: a model
        without FIM tokens ("auto" fell back to continuing the prefix), and the backend's own notes
        (a GGUF file run in process)."""
        notes = [("info", note) for note in getattr(backend, "notes", ())]
        if backend.fim.prefix_only and self.config.model.fim_format == "auto":
            notes.insert(0, ("warning", prefix_only_warning(backend.model_id)))
        for level, note in notes:
            message = f"codegen-lsp: {note}"
            if message in self._told:
                self.log_line(message, level)
            else:
                self._told.add(message)
                self.tell_user(level, message)

    def _backend_notice(self, level: str, message: str) -> None:
        if level in ("warning", "error"):
            self.tell_user(level, message)
        else:
            self.log_line(message, level)

    def _foreground_gate(self) -> ForegroundGate:
        """What jobs yield to: the completion model's gate (it counts running completions)."""
        gate = getattr(self.pipeline.backend, "gate", None) if self.pipeline is not None else None
        return gate if gate is not None else self._no_completions

    @property
    def model_state(self) -> str:
        """"loading" (or not yet started), "ready" or "error", for status displays."""
        if self.pipeline is not None:
            return "ready"
        return "error" if self.load_error is not None else "loading"

    async def completion_pipeline(self) -> CompletionPipeline | None:
        """The pipeline, once the model is loaded; None when loading failed."""
        if self._loading is None:
            self.start_loading()
        if not self._loading.done():
            await asyncio.shield(self._loading)
        return self.pipeline

    def warm_tokens(self, document: Document) -> None:
        """Tokenise a just-opened document in the background: its first keystroke anywhere then
        costs the tokenizer one line, not a whole window (benchmarks/context_eval.py)."""
        if self.pipeline is None or self.is_private(document.uri):
            return
        task = asyncio.ensure_future(self.pipeline.warm(document.text))
        self._warming.add(task)
        task.add_done_callback(self._warmed)

    def _warmed(self, task: asyncio.Task) -> None:
        self._warming.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("tokenising a document ahead failed: %s", task.exception())

    def shutdown_model(self) -> None:
        self.jobs.close()
        for task in [*self._warming, self.training]:
            if task is not None:
                task.cancel()
        if self._indexing is not None:
            self._indexing.cancel()
        if self.index is not None:
            self.index.close()
        if self.pipeline is not None:
            self.pipeline.backend.close()
            if self.pipeline.cache is not None:
                self.pipeline.cache.close()

    async def chat_backend(self):
        """The instruct model for code actions (`codegen.actions.chatModel`), loaded at first use;
        None when none is configured or it cannot load (one warning; the actions use holes)."""
        path = self.config.actions.chat_model
        if not path:
            return None
        if self._chat is None or self._chat[0] != path:
            try:
                # FIM tokens do not matter here: an instruct model without them only chats.
                backend = await asyncio.to_thread(LocalBackend, Path(path).expanduser(), fim_format=NO_FIM.name,
                                                  device=self.config.model.device, dtype=self.config.model.dtype)
            except Exception as exc:  # a broken chat model folder: the actions fall back to holes
                backend = None
                self.tell_user("warning", f"codegen-lsp: the chat model is not used: {exc}")
            if self._chat is not None and self._chat[1] is not None:
                self._chat[1].close()
            self._chat = (path, backend)
        return self._chat[1]

    # -- workspace adapters ----------------------------------------------------------

    async def prepare_adapters(self) -> None:
        """Load each folder's registered adapter beside the base model; one warning for each that
        cannot serve, whose folder then gets the base model."""
        backend = self.pipeline.backend if self.pipeline is not None else None
        if backend is None or not hasattr(backend, "prepare_adapter"):
            return
        for folder in self.folders:
            choice = registered_adapter(folder)
            problem = choice.problem
            if choice.path is not None and not problem:
                try:
                    identity = await backend.prepare_adapter(str(choice.path))
                except (BackendError, OSError) as exc:  # unreadable weights are a problem too
                    problem = str(exc)
                else:
                    if self.adapters.get(folder) != str(choice.path):
                        self.log_line(f"adapter {choice.path} ({identity}) serves {folder}")
                    self.adapters[folder] = str(choice.path)
                    continue
            self.adapters.pop(folder, None)
            if problem:
                self.tell_user("warning", f"codegen-lsp: the adapter for {folder.name} is not used, completions "
                                          f"there come from the base model: {problem}")

    def folder_for(self, uri: str) -> Path | None:
        """The innermost workspace folder holding the document `uri`."""
        path = to_fs_path(uri)
        return folder_of(Path(path).resolve(), self.folders) if path else None

    def adapter_for(self, uri: str) -> str:
        if not self.adapters:
            return ""  # asked on every completion: no path resolution when no folder has an adapter
        path = to_fs_path(uri)
        folder = folder_of(Path(path).resolve(), list(self.adapters)) if path else None
        return self.adapters.get(folder, "") if folder is not None else ""

    # -- the workspace -------------------------------------------------------------

    def open_workspace(self, root: Path | None) -> None:
        if root is None or not root.is_dir():
            return
        limits = Limits(max_file_bytes=self.config.index.max_file_kb * 1000, max_files=self.config.index.max_files)
        self.workspace_files = WorkspaceFiles(root, limits)

    def start_indexing(self) -> None:
        if self.workspace_files is None or not self.config.index.enabled:
            return
        if self._indexing is not None and not self._indexing.done():
            self._indexing.cancel()
        self._indexing = asyncio.ensure_future(self._build_index(self.workspace_files))

    async def _build_index(self, files: WorkspaceFiles) -> None:
        if self.index is None or self.index.files is not files:
            old, self.index = self.index, WorkspaceIndex(files, default_cache_dir() / "index")
            if old is not None:
                old.close()
        index = self.index
        if self.pipeline is not None:
            self.pipeline.index = index  # what is indexed so far already serves
        token = await self.begin_progress("codegen-lsp: indexing the workspace", cancellable=True)
        loop = asyncio.get_running_loop()

        def progress(done: int, total: int) -> None:
            if token is not None and (done == total or done % 25 == 0):
                loop.call_soon_threadsafe(self.report_progress, token, f"{done}/{total} files", done / max(1, total))

        try:
            report = await asyncio.to_thread(index.build, progress, lambda: self.progress_cancelled(token))
        except Exception as exc:  # a failed index costs context, never the server
            log.exception("indexing the workspace failed")
            self.tell_user("warning", f"codegen-lsp: indexing the workspace failed: {exc}")
            return
        finally:
            self.end_progress(token)
        self.log_line(f"indexed {report.files} files of {files.root} ({report.parsed} parsed, "
                      f"{report.from_store} from the index store, {report.skipped} skipped)"
                      + (": cancelled, the index is partial" if report.cancelled else ""))
        if report.errors:
            self.faults.report("workspace/unreadable", f"codegen-lsp: {report.unreadable()}")

    def is_private(self, uri: str) -> bool:
        """A file that must never reach a prompt, the cache or a log (secrets, .codegenignore)."""
        path = to_fs_path(uri)
        if path is None:
            return False
        return self.workspace_files.is_private(path) if self.workspace_files else is_private_name(path)

    def repo_inputs(self, document: Document) -> RepoInputs:
        path = to_fs_path(document.uri) or document.uri
        files = self.workspace_files
        self._index_open_documents(document.uri)
        relative = files.relative(path) if files is not None else None
        recent = tuple(
            (self._display_path(doc.uri), doc.text) for doc in self.documents.recent()
            if doc.uri != document.uri and not self.is_private(doc.uri))[:RECENT_DOCUMENTS]
        tree = document.tree
        # A copy: later keystrokes edit the document's tree in place while this request runs.
        return RepoInputs(path=relative or Path(path).name, repo=files.root.name if files else "",
                          tree=tree.copy() if tree is not None else None, source=document.source, recent=recent)

    def _index_open_documents(self, current: str) -> None:
        """Unsaved edits of the other open documents into the index, once per version.

        Done when a completion asks, not on every keystroke: only then do other files' definitions
        matter, and a document typed into continuously is re-outlined once, not per key.
        """
        if self.index is None or self.workspace_files is None:
            return
        for doc in self.documents.recent():
            path = to_fs_path(doc.uri)
            if doc.uri == current or path is None or self._indexed_versions.get(doc.uri) == doc.version:
                continue
            self._indexed_versions[doc.uri] = doc.version
            fits = len(doc.text) <= self.workspace_files.limits.max_file_bytes
            if fits and self.workspace_files.is_indexed(path, on_disk=False):
                self.index.update_text(Path(path), doc.text, doc.tree)

    def forget_document_version(self, uri: str) -> bool:
        """Whether the index held a closed document's unsaved text."""
        return self._indexed_versions.pop(uri, None) is not None

    def _display_path(self, uri: str) -> str:
        path = to_fs_path(uri) or uri
        relative = self.workspace_files.relative(path) if self.workspace_files is not None else None
        return relative or Path(path).name

    # -- reporting -----------------------------------------------------------------

    def tell_user(self, level: str, message: str) -> None:
        log.log(getattr(logging, level.upper(), logging.INFO), message)
        self.window_show_message(types.ShowMessageParams(type=lsp_message_type(level), message=message))

    async def show_document(self, uri: str) -> bool | None:
        """Open `uri` in the editor; None when the client cannot show documents."""
        window = self.client_capabilities.window
        if window is None or window.show_document is None or not window.show_document.support:
            return None
        try:
            answer = await self.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True))
        except Exception as exc:  # the file is written either way
            log.warning("window/showDocument failed: %s", exc)
            return False
        return answer.success

    def log_line(self, message: str, level: str = "info") -> None:
        log.log(getattr(logging, level.upper(), logging.INFO), message)
        if _LEVEL_ORDER.index(level) <= _LEVEL_ORDER.index(self.config.log.level):
            self.window_log_message(types.LogMessageParams(type=lsp_message_type(level), message=message))

    def _report_request(self, record: RequestRecord) -> None:
        level = "error" if record.outcome == "error" else "debug" if record.outcome in ("skipped", "superseded") else "info"
        self.log_line(record.summary(), level)

    async def begin_progress(self, title: str, cancellable: bool = False) -> str | None:
        capabilities = self.client_capabilities.window
        if capabilities is None or not capabilities.work_done_progress:
            return None
        token = f"codegen-{id(self)}-{asyncio.get_running_loop().time()}"
        try:
            await self.work_done_progress.create_async(token)
        except Exception:  # the client refused: go on without progress
            return None
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title=title, cancellable=cancellable, percentage=0 if cancellable else None))
        return token

    def report_progress(self, token: str | None, message: str, fraction: float | None = None) -> None:
        if token is not None:
            self.work_done_progress.report(token, types.WorkDoneProgressReport(
                message=message, percentage=None if fraction is None else int(100 * fraction)))

    def progress_cancelled(self, token: str | None) -> bool:
        future = self.work_done_progress.tokens.get(token) if token is not None else None
        return future is not None and future.cancelled()

    def end_progress(self, token: str | None) -> None:
        if token is not None:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd())


def create_server(model_override: str | None = None) -> CodegenServer:
    from .handlers import actions, commands, completion, documents, generators, lifecycle, training

    server = CodegenServer(model_override)
    for module in (lifecycle, documents, completion, commands, training, actions, generators):
        module.register(server)
    return server
