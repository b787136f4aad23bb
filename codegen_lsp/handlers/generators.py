"""Side generators as commands: codegen.generateDocs, codegen.diagram, codegen.generateImage.

Each runs as one job of the server's job runner (one at a time, behind completions), with
cancellable `$/progress`; a failure comes back as {"error"} and a warning, and the server
goes on. Files land under the workspace's docs folder (`codegen.generators.docsFolder`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pygls.uris import to_fs_path

from ..actions.chat import has_template
from ..actions.runner import ActionCancelled, ActionRunner
from ..actions.targets import target_at
from ..context.languages import normalise
from ..generators import tasks
from ..generators.jobs import JobCancelled, JobFailed
from ..generators.paths import OutputPathError
from ..server import CodegenServer
from .actions import action_request, apply_edit

GENERATE_DOCS = "codegen.generateDocs"
DIAGRAM = "codegen.diagram"
GENERATE_IMAGE = "codegen.generateImage"


class LspJobProgress:
    """A job's steps as `$/progress` reports; called from the job's thread."""

    def __init__(self, ls: CodegenServer, token: str | None) -> None:
        self.ls, self.token = ls, token
        self.loop = asyncio.get_running_loop()

    def update(self, done: int, total: int, message: str) -> None:
        fraction = done / total if total else None
        self.loop.call_soon_threadsafe(self.ls.report_progress, self.token, f"{message} ({done}/{total})", fraction)

    def cancelled(self) -> bool:
        return self.ls.progress_cancelled(self.token)


async def run_job(ls: CodegenServer, title: str, work) -> dict:
    """Run `work` as a job with progress; its result, or {"error"} with the user told why."""
    token = await ls.begin_progress(f"codegen-lsp: {title}", cancellable=True)
    try:
        return await ls.jobs.run(title, work, LspJobProgress(ls, token))
    except (JobCancelled, ActionCancelled):
        return {"error": f"{title}: cancelled"}
    except (JobFailed, OutputPathError, ValueError, OSError) as exc:
        message = str(exc)
    except Exception as exc:  # a generator's bug must not take the server down
        ls.log_line(f"{title} failed: {type(exc).__name__}: {exc}", "error")
        message = f"{title} failed: {type(exc).__name__}: {exc}"
    finally:
        ls.end_progress(token)
    ls.tell_user("warning", f"codegen-lsp: {message}")
    return {"error": message}


def _workspace_root(ls: CodegenServer, uri: str | None) -> Path | None:
    if uri:
        folder = ls.folder_for(uri)
        if folder is not None:
            return folder
    return ls.folders[0] if ls.folders else None


def _options(args: tuple, index: int) -> dict:
    return args[index] if len(args) > index and isinstance(args[index], dict) else {}


# --- codegen.generateImage ---------------------------------------------------------------------

async def generate_image(ls: CodegenServer, *args) -> dict:
    """Arguments: the prompt, optional {width, height, steps, seed, name, overwrite}."""
    root = _workspace_root(ls, None)
    if root is None:
        return {"error": f"{GENERATE_IMAGE} needs a workspace folder for its docs folder"}
    try:
        job = tasks.ImageJob.from_options(args[0] if args else None, _options(args, 1), ls.config.generators)
        work = tasks.image_work(job, ls.jobs, ls.config.generators, root)
    except (ValueError, OutputPathError) as exc:
        ls.tell_user("warning", f"codegen-lsp: {exc}")
        return {"error": str(exc)}
    result = await run_job(ls, "Generate image", work)
    if "png" in result:
        result["uri"] = Path(result["png"]).as_uri()
    return result


# --- codegen.generateDocs ----------------------------------------------------------------------

async def generate_docs(ls: CodegenServer, *args) -> dict:
    """Arguments: the document URI, optional {"kind": "docstrings" (default) | "overview", "overwrite"}."""
    uri = args[0] if args and isinstance(args[0], str) else None
    options = _options(args, 1)
    kind = options.get("kind", "docstrings")
    if uri is None or kind not in ("docstrings", "overview"):
        return {"error": f"{GENERATE_DOCS}: expected [documentUri, {{kind: docstrings|overview}}]"}
    request, error = await action_request(ls, "docstring", uri, (0, 0), (0, 0))
    if error:
        ls.tell_user("warning", f"codegen-lsp: {error}")
        return {"error": error}
    runner = ActionRunner(ls.pipeline, ls.index, await ls.chat_backend(), background=True)
    if kind == "docstrings":
        return await _docstrings(ls, runner, request)
    return await _overview(ls, runner, request, bool(options.get("overwrite", False)))


async def _docstrings(ls: CodegenServer, runner: ActionRunner, request) -> dict:
    result = await run_job(ls, "Write docstrings", tasks.docstrings_work(runner, request))
    if isinstance(result, dict):
        return result
    out = {"written": result.written, "skipped": result.skipped}
    if not result.edits:
        return {**out, "applied": False, "reason": "nothing to write"}
    return {**out, **await apply_edit(ls, request, result.edits, "Write docstrings")}


async def _overview(ls: CodegenServer, runner: ActionRunner, request, overwrite: bool) -> dict:
    root = _workspace_root(ls, request.uri)
    if root is None:  # outputs stay inside the workspace: without one there is nowhere to write
        ls.tell_user("warning", f"codegen-lsp: {GENERATE_DOCS}: an overview needs a workspace folder to write into")
        return {"error": f"{GENERATE_DOCS}: an overview needs a workspace folder to write into"}
    work = tasks.overview_work(runner, request, root, ls.config.generators.docs_folder, overwrite)
    result = await run_job(ls, "Write module overview", work)
    if isinstance(result, dict):
        return result
    markdown, written = result
    result = {"markdown": markdown, "path": str(written), "uri": written.as_uri()}
    await ls.show_document(result["uri"])
    return result


# --- codegen.diagram ---------------------------------------------------------------------------

async def diagram(ls: CodegenServer, *args) -> dict:
    """Arguments: the document URI, optional position, optional {"kind": "modules" | "classes" |
    "calls", "depth", "name", "overwrite"}. Default: the call graph around the function at the
    position, else the module graph."""
    uri = args[0] if args and isinstance(args[0], str) else None
    position = args[1] if len(args) > 1 and isinstance(args[1], dict) and "line" in args[1] else None
    options = _options(args, 2) or (_options(args, 1) if position is None else {})
    root = _workspace_root(ls, uri)
    if root is None:
        return {"error": f"{DIAGRAM} needs a workspace folder"}
    try:
        job = _diagram_job(ls, root, uri, position, options)
        chat = await ls.chat_backend() if ls.config.generators.captions else None
        caption = tasks.chat_captioner(chat, ls.requests) if chat is not None and has_template(chat.tokenizer) else None
        work = tasks.diagram_work(job, root, ls.config.generators.docs_folder, caption)
    except (ValueError, OutputPathError) as exc:
        ls.tell_user("warning", f"codegen-lsp: {exc}")
        return {"error": str(exc)}
    result = await run_job(ls, f"Diagram ({job.kind})", work)
    if result.get("markdown"):
        result["uri"] = Path(result["markdown"]).as_uri()
        await ls.show_document(result["uri"])
    if result.get("warning"):
        ls.tell_user("warning", f"codegen-lsp: diagram written as Mermaid only: {result['warning']}")
    return result


def _diagram_job(ls: CodegenServer, root: Path, uri: str | None, position: dict | None,
                 options: dict) -> tasks.DiagramJob:
    path = Path(to_fs_path(uri)) if uri else None
    relative = str(path.resolve().relative_to(root)) if path is not None and path.resolve().is_relative_to(root) else None
    where = (int(position["line"]), int(position.get("character", 0))) if position else None
    kind = options.get("kind")
    if kind is None:
        kind = "calls" if where is not None and relative and _in_function(ls, uri, where) else "modules"
    return tasks.DiagramJob(kind, relative, options.get("function", where), int(options.get("depth", 1)),
                            options.get("name"), bool(options.get("overwrite", False)))


def _in_function(ls: CodegenServer, uri: str, where: tuple[int, int]) -> bool:
    document = ls.documents.get(uri)
    if document is None or document.tree is None:
        return False
    offset = document.offset_at(*where, ls.encoding)
    target = target_at(normalise(document.language_id), document.tree, document.text, offset, offset)
    return target is not None and target.kind in ("function", "method")


def register(ls: CodegenServer) -> None:
    ls.command(DIAGRAM)(diagram)
    ls.command(GENERATE_IMAGE)(generate_image)
    ls.command(GENERATE_DOCS)(generate_docs)
