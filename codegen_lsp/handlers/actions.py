"""Code actions and commands that ask the model: explain, docstring, annotate, tests, rewrite, fix.

Listing actions (`textDocument/codeAction`) only looks at the syntax tree, so it is
instant; the model runs in `codeAction/resolve` or in the command, with `$/progress`
that can be cancelled. Edits come back versioned and checked (`actions/runner.py`);
explain's Markdown is written under the workspace's `.codegen/explain/` and shown.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.uris import to_fs_path

from ..actions.edits import TextEdit
from ..actions.runner import ACTIONS, TITLES, ActionCancelled, ActionRequest, ActionResult, ActionRunner, available
from ..actions.targets import target_at
from ..backends.base import StopFlag
from ..context.languages import normalise
from ..documents import Document
from ..generators.paths import OutputPathError, write_text
from ..lsp_convert import lsp_workspace_edit
from ..server import CodegenServer

KINDS = {"explain": "refactor.codegen.explain", "docstring": "refactor.rewrite.codegen.docstring",
         "annotate": "refactor.rewrite.codegen.annotate", "tests": "source.codegen.tests",
         "rewrite": "refactor.rewrite.codegen.rewrite", "fix": types.CodeActionKind.QuickFix}
COMMANDS = {action: f"codegen.{action}" for action in ACTIONS}
MAX_FIX_ACTIONS = 3  # one "Fix with AI" per diagnostic under the cursor, the first few


def code_action(ls: CodegenServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    document = ls.documents.get(uri)
    if document is None or ls.is_private(uri):
        return []
    start, end = (document.offset_at(p.line, p.character, ls.encoding) for p in (params.range.start, params.range.end))
    language = normalise(document.language_id)
    tree = document.tree
    target = target_at(language, tree, document.text, start, end) if tree is not None else None
    actions = []
    for action in ACTIONS:
        if action == "fix":
            for diagnostic in params.context.diagnostics[:MAX_FIX_ACTIONS]:
                actions.append(_action(document, "fix", params.range, f"Fix with AI: {diagnostic.message}",
                                       diagnostic.message, diagnostic.range))
        elif available(action, target, language, start != end, tree, document.text):
            actions.append(_action(document, action, params.range, TITLES[action]))
    return actions


def _action(document: Document, action: str, selection: types.Range, title: str, instruction: str = "",
            fix_range: types.Range | None = None) -> types.CodeAction:
    where = fix_range or selection
    data = {"uri": document.uri, "action": action, "instruction": instruction,
            "range": [where.start.line, where.start.character, where.end.line, where.end.character]}
    return types.CodeAction(title=title, kind=KINDS[action], data=data)


async def resolve_code_action(ls: CodegenServer, action: types.CodeAction) -> types.CodeAction:
    data = action.data or {}
    line, character, end_line, end_character = data["range"]
    if data["action"] in ("explain", "rewrite"):
        # Explain shows a document and rewrite asks the user what to do: both are commands.
        action.command = types.Command(title=action.title, command=COMMANDS[data["action"]],
                                       arguments=[data["uri"], _range_json(data["range"])])
        return action
    result, request = await run_action(ls, data["action"], data["uri"], (line, character),
                                        (end_line, end_character), data.get("instruction", ""))
    if result.error:
        data["error"] = result.error
        ls.tell_user("warning", f"codegen-lsp: {result.error}")
    else:
        action.edit = _workspace_edit(ls, request, result.edits, result.new_file)
    data["seconds"] = round(result.seconds, 2)
    action.data = data
    return action


async def action_request(ls: CodegenServer, action: str, uri: str, start: tuple[int, int], end: tuple[int, int],
                         instruction: str = "") -> tuple[ActionRequest | None, str]:
    """The request for `action` on the open document `uri` between two LSP positions, or why not.
    Its text is a snapshot: edits refer to it, whatever is typed meanwhile."""
    document = ls.documents.get(uri)
    if document is None:
        return None, f"{uri} is not open"
    if ls.is_private(uri):
        return None, "the file is private (secrets pattern or .codegenignore)"
    pipeline = await ls.completion_pipeline()
    if pipeline is None:
        return None, f"no model: {ls.load_error}"
    snapshot = Document(uri, document.language_id, document.version, document.text)
    repo = ls.repo_inputs(document)
    return ActionRequest(action, uri, repo.path, document.language_id, snapshot.text, snapshot.version,
                         snapshot.offset_at(*start, ls.encoding), snapshot.offset_at(*end, ls.encoding),
                         instruction, repo, _files_root(ls, uri)), ""


async def run_action(ls: CodegenServer, action: str, uri: str, start: tuple[int, int], end: tuple[int, int],
                     instruction: str = "") -> tuple[ActionResult, ActionRequest | None]:
    """Run `action` on the open document `uri` between two LSP positions, with cancellable progress."""
    request, error = await action_request(ls, action, uri, start, end, instruction)
    if request is None:
        return ActionResult(action, error=error), None
    token = await ls.begin_progress(f"codegen-lsp: {TITLES[action].rstrip('.')}", cancellable=True)
    flag = StopFlag()
    watcher = asyncio.ensure_future(_watch_cancel(ls, token, flag))
    try:
        result = await ActionRunner(ls.pipeline, ls.index, await ls.chat_backend()).run(request, flag)
    except ActionCancelled:
        result = ActionResult(action, error=f"{TITLES[action].rstrip('.')}: cancelled")
    finally:
        watcher.cancel()
        ls.end_progress(token)
    ls.log_line(f"{action}: {'error: ' + result.error if result.error else 'done'} in {result.seconds:.2f} s")
    return result, request


async def _watch_cancel(ls: CodegenServer, token: str | None, flag: StopFlag) -> None:
    while token is not None:
        if ls.progress_cancelled(token):
            flag.set("cancelled")
            return
        await asyncio.sleep(0.05)


def _files_root(ls: CodegenServer, uri: str) -> Path | None:
    """What an action's new files are relative to: the document's workspace folder, else its own."""
    path = to_fs_path(uri)
    return (ls.folder_for(uri) or Path(path).parent) if path else None


def _workspace_edit(ls: CodegenServer, request: ActionRequest, edits: list[TextEdit],
                    new_file: tuple[str, str] | None = None) -> types.WorkspaceEdit:
    """Edits of the request's snapshot (and a new file relative to its root), versioned for the editor."""
    document = Document(request.uri, request.language, request.version, request.text)
    created = None
    if new_file is not None and request.root is not None:
        path, content = new_file
        created = ((request.root / path).as_uri(), content)
    return lsp_workspace_edit(document, edits, ls.encoding, created)


async def apply_edit(ls: CodegenServer, request: ActionRequest, edits: list[TextEdit], label: str,
                     new_file: tuple[str, str] | None = None) -> dict:
    """Send the edits for the editor to apply; the result says whether it did, and holds the edit."""
    edit = _workspace_edit(ls, request, edits, new_file)
    return {"edit": get_converter().unstructure(edit), **await _apply(ls, edit, label)}


def _range_json(values: list[int]) -> dict:
    return {"start": {"line": values[0], "character": values[1]}, "end": {"line": values[2], "character": values[3]}}


def _positions(args: tuple) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """(uri, start, end) from a command's arguments: uri, then a range or a position."""
    if not args or not isinstance(args[0], str):
        raise ValueError("expected the document URI as the first argument")
    where = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    start = where.get("start", where) or {"line": 0, "character": 0}
    end = where.get("end", start)
    return args[0], (int(start.get("line", 0)), int(start.get("character", 0))), \
        (int(end.get("line", 0)), int(end.get("character", 0)))


def _command(action: str):
    async def run(ls: CodegenServer, *args) -> dict:
        try:
            uri, start, end = _positions(args)
        except (ValueError, TypeError, AttributeError) as exc:
            return {"error": f"{COMMANDS[action]}: {exc}"}
        instruction = args[2] if len(args) > 2 and isinstance(args[2], str) else ""
        result, request = await run_action(ls, action, uri, start, end, instruction)
        seconds = round(result.seconds, 2)
        if result.error:
            ls.tell_user("warning", f"codegen-lsp: {result.error}")
            return {"error": result.error, "seconds": seconds}
        if action == "explain":
            return {**await _show_explanation(ls, request, result), "seconds": seconds}
        return {"seconds": seconds, **await apply_edit(ls, request, result.edits, TITLES[action], result.new_file)}
    return run


async def _apply(ls: CodegenServer, edit: types.WorkspaceEdit, label: str) -> dict:
    """Ask the editor to apply `edit`; a client that cannot gets it back in the command's result."""
    workspace = ls.client_capabilities.workspace
    if workspace is None or not workspace.apply_edit:
        return {"applied": False, "reason": "the client does not apply edits (workspace/applyEdit)"}
    try:
        answer = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=label))
    except Exception as exc:  # a client that claimed the capability but failed: the edit is in the result
        return {"applied": False, "reason": f"workspace/applyEdit failed: {exc}"}
    return {"applied": answer.applied, "reason": answer.failure_reason}


async def _show_explanation(ls: CodegenServer, request: ActionRequest, result: ActionResult) -> dict:
    """Write the Markdown under .codegen/explain/ and show it (a message where documents cannot be shown)."""
    root = ls.folder_for(request.uri)
    out: dict = {"markdown": result.markdown}
    target = None
    if root is not None:
        title = re.sub(r"[^\w.-]+", "-", result.markdown.split("\n", 1)[0].lstrip("# ").split(" (")[0]).strip("-")
        try:  # .codegen/ may be a link out of the workspace: nothing is written there
            target = write_text(root, Path(".codegen") / "explain" / f"{title or 'selection'}.md", result.markdown,
                                overwrite=True)
        except OutputPathError as exc:
            out["warning"] = f"the explanation was not written: {exc}"
            ls.tell_user("warning", f"codegen-lsp: {out['warning']}")
    if target is not None:
        out["uri"] = target.as_uri()
        out["shown"] = await ls.show_document(out["uri"])
        if out["shown"] is not None:
            return out
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=result.markdown))
    out["shown"] = False
    return out


def register(ls: CodegenServer) -> None:
    options = types.CodeActionOptions(code_action_kinds=list(dict.fromkeys(KINDS.values())), resolve_provider=True)
    ls.feature(types.TEXT_DOCUMENT_CODE_ACTION, options)(code_action)
    ls.feature(types.CODE_ACTION_RESOLVE)(resolve_code_action)
    for action, name in COMMANDS.items():
        ls.command(name)(_command(action))
