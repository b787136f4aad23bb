"""Run one code action: find its target, ask the model, turn the answer into checked edits.

Plain data in and out (no LSP types): the handlers convert. Every edit is re-parsed with
tree-sitter before it is returned; one that adds a syntax error is rejected with a
message and never proposed.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import unquote, urlparse
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.base import Backend, GenerationRequest, StopFlag
from ..completion import CompletionPipeline, CompletionRequest, RepoInputs
from ..context.index import WorkspaceIndex
from ..logs import RequestRecord
from ..privacy import redact, restore
from ..context.languages import normalise
from . import chat as chat_
from . import holes
from .edits import TextEdit, check_edits, docstring_edit, minimal_edits, reindent, test_file_for
from .explain import explain_markdown
from .slots import annotation_slots
from .targets import CodeTarget, code_facts, find_callers, target_at

ACTIONS = ("explain", "docstring", "annotate", "tests", "rewrite", "fix")
TITLES = {"explain": "Explain this code", "docstring": "Add docstring", "annotate": "Add type annotations",
          "tests": "Generate tests for this function", "rewrite": "Rewrite selection...", "fix": "Fix with AI"}
ANNOTATED_LANGUAGES = ("python", "typescript", "typescriptreact")
TESTED_LANGUAGES = ("python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust")
DEFAULT_REWRITE = "Rewrite this code to be simpler and clearer, keeping what it does."


@dataclass(frozen=True)
class ActionRequest:
    action: str               # one of ACTIONS
    uri: str
    path: str                 # workspace-relative, or the file name outside a workspace
    language: str
    text: str
    version: int
    start: int                # the selection (start == end: a cursor), str offsets
    end: int
    instruction: str = ""     # rewrite: what to do; fix: the diagnostic's message
    repo: RepoInputs | None = None
    root: Path | None = None  # the workspace folder, for new files


@dataclass
class ActionResult:
    action: str
    edits: list[TextEdit] = field(default_factory=list)  # in the request's document
    new_file: tuple[str, str] | None = None              # (workspace-relative path, content)
    markdown: str = ""                                   # explain's answer
    error: str = ""                                      # why nothing is proposed
    seconds: float = 0.0


def available(action: str, target: CodeTarget | None, language: str, has_selection: bool, tree=None,
              text: str = "") -> bool:
    """Whether to list the action here: cheap (the syntax tree only), no model involved."""
    if action in ("rewrite", "fix"):
        return has_selection or target is not None
    if target is None or target.kind == "selection" and action != "explain":
        return False
    if action == "docstring":
        return not target.docstring
    if action == "annotate":
        return (language in ANNOTATED_LANGUAGES and target.kind != "class"
                and bool(annotation_slots(language, tree, text, target)))
    if action == "tests":
        return language in TESTED_LANGUAGES and target.kind in ("function", "method")
    return True


def _chats(backend) -> bool:
    """Whether `backend` can answer a conversation: a chat template here, or an engine that applies its own."""
    return chat_.has_template(getattr(backend, "tokenizer", None)) or getattr(backend, "chats_natively", False)


class ActionRunner:
    """`chat`: an instruct model's backend (with a chat template), when one is configured or the
    completion model has a template; else every action is a hole the completion model fills."""

    def __init__(self, pipeline: CompletionPipeline, index: WorkspaceIndex | None, chat: Backend | None = None,
                 background: bool = False) -> None:
        self.pipeline = pipeline
        self.background = background  # a job's actions (docs) yield to completions
        self.index = index
        self.chat = chat if chat is not None and _chats(chat) else None
        if self.chat is None and _chats(pipeline.backend):
            self.chat = pipeline.backend

    async def run(self, request: ActionRequest, flag: StopFlag) -> ActionResult:
        started = time.perf_counter()
        language = normalise(request.language)
        tree = request.repo.tree if request.repo is not None else None
        target = target_at(language, tree, request.text, request.start, request.end) if tree is not None else None
        result = ActionResult(request.action)
        if not available(request.action, target, language, request.start != request.end, tree, request.text):
            result.error = f"{TITLES[request.action].rstrip('.')}: nothing to do here"
        else:
            method = getattr(self, f"_{request.action}")
            result = await method(request, language, target, flag)
        if result.edits and not result.error:
            checked = check_edits(language, request.text, result.edits)
            if not checked.ok:
                result.edits, result.error = [], checked.message
        result.seconds = time.perf_counter() - started
        return result

    async def ask(self, request: ActionRequest, hole: holes.Hole, flag: StopFlag, uri: str | None = None,
                   path: str | None = None, language: str | None = None) -> str:
        repo = request.repo
        if repo is not None and path is not None:  # a new file: the document itself is context
            repo = RepoInputs(path, repo.repo, None, None, ((request.path, request.text), *repo.recent))
        completion_request = CompletionRequest(uri=uri or request.uri, version=request.version, text=hole.text,
                                               offset=hole.offset, language_id=language or request.language,
                                               kind="action", invoked=True, repo=repo)
        generation = await self.pipeline.fill(completion_request, hole.max_new_tokens, hole.stop, flag,
                                              self.background)
        if generation.finish == "cancelled":
            raise ActionCancelled()
        text = generation.text
        for stop in hole.stop:
            text = text.split(stop, 1)[0]
        return text

    def _context(self, request: ActionRequest, code: str) -> list[tuple[str, str]]:
        """Other files' definitions and snippets for a chat prompt: the completions' own assembly."""
        if request.repo is None:
            return []
        completion_request = CompletionRequest(uri=request.uri, version=request.version, text=request.text,
                                               offset=request.start, language_id=request.language, kind="action",
                                               invoked=True, repo=request.repo)
        record = RequestRecord(uri=request.uri, version=request.version, kind="action")
        budget = 2 * self.pipeline.config.context_tokens
        return self.pipeline.repo_context(completion_request, code, budget, record).files

    async def ask_chat(self, request: ActionRequest, conversation: list[dict], max_new_tokens: int,
                        flag: StopFlag) -> str:
        record = RequestRecord(uri=request.uri, version=request.version, kind="action", mode="chat")
        conversation, record.redacted = redacted_conversation(conversation)
        templated = chat_.has_template(getattr(self.chat, "tokenizer", None))
        record.prompt = chat_.prompt(self.chat.tokenizer, conversation) if templated else json.dumps(conversation)
        started = time.perf_counter()
        try:
            if templated:
                request_ = GenerationRequest(record.prompt, max_new_tokens, background=self.background)
                generation = await self.chat.generate(request_, flag)
            else:  # the engine applies the template itself (Ollama's /api/chat)
                generation = await self.chat.chat(conversation, max_new_tokens, flag=flag)
        finally:
            record.time("total", time.perf_counter() - started)
        record.outcome, record.completion = generation.finish, generation.text
        record.prompt_tokens, record.new_tokens = generation.prompt_tokens, generation.new_tokens
        self.pipeline.log.finish(record)  # codegen.debug.lastRequests shows chat requests too
        if generation.finish == "cancelled":
            raise ActionCancelled()
        return generation.text

    async def _documentation(self, request: ActionRequest, language: str, target: CodeTarget, flag: StopFlag) -> str:
        if self.chat is not None:
            code = request.text[target.start:target.end]
            conversation = chat_.messages("docstring", language, code, kind=target.kind,
                                          context=self._context(request, code))
            return holes.clean_documentation(await self.ask_chat(request, conversation, holes.HOLE_TOKENS["docstring"], flag),
                                             language)
        hole = holes.docstring_hole(language, request.text, target.start, target.body_start, target.indent,
                                    target.body_indent, target.name)
        return holes.clean_documentation(await self.ask(request, hole, flag), language)

    async def _summary(self, request: ActionRequest, language: str, target: CodeTarget, flag: StopFlag) -> str:
        """Explain's generated part: a definition's documentation, or a comment on a selection."""
        if target.kind != "selection":
            return await self._documentation(request, language, target, flag)
        code = request.text[target.start:target.end]
        if self.chat is not None:
            conversation = chat_.messages("explain", language, code, context=self._context(request, code))
            return (await self.ask_chat(request, conversation, holes.HOLE_TOKENS["docstring"], flag)).strip()
        hole = holes.summary_hole(request.text, target.start, target.end, language)
        summary = holes.clean_documentation(await self.ask(request, hole, flag), language)
        return f"These lines {summary}" if summary else ""

    async def _docstring(self, request, language, target, flag) -> ActionResult:
        doc = await self._documentation(request, language, target, flag)
        if not doc:
            return ActionResult("docstring", error="Add docstring: the model wrote nothing")
        edit = docstring_edit(language, request.text, target.start, target.body_start, target.indent,
                              target.body_indent, doc, target.name)
        return ActionResult("docstring", edits=[edit])

    async def _explain(self, request, language, target, flag) -> ActionResult:
        summary = await self._summary(request, language, target, flag)
        facts = code_facts(language, request.repo.tree, request.text, target)
        line = request.text.count("\n", 0, target.start)
        callers = (find_callers(self.index, target.name, exclude=(request.path, line))
                   if self.index is not None and target.name else [])
        markdown = explain_markdown(target, facts, callers, summary, request.path, line,
                                    self.pipeline.backend.model_id)
        # Written to a file and maybe shown as a message: the code's own secrets (a default value,
        # a caller's argument) stay out of both.
        return ActionResult("explain", markdown=redact(markdown)[0])

    async def _annotate(self, request, language, target, flag) -> ActionResult:
        if self.chat is not None:  # an instruct model rewrites the function with its annotations
            return await self._rewrite(request, language, target, flag, action="annotate")
        edits = []
        for slot in annotation_slots(language, request.repo.tree, request.text, target):
            hole = (holes.return_hole if slot.kind == "return" else holes.annotation_hole)(
                request.text, slot.offset, language)
            answer = holes.type_expression(await self.ask(request, hole, flag), language)
            edit = TextEdit(slot.offset, slot.end, slot.before + answer + slot.after)
            if answer and check_edits(language, request.text, [edit]).ok:  # a type that does not parse is left out
                edits.append(edit)
        if not edits:
            return ActionResult("annotate", error="Add type annotations: no annotation to add")
        return ActionResult("annotate", edits=edits)

    async def _rewrite(self, request, language, target, flag, instruction: str | None = None,
                       action: str = "rewrite") -> ActionResult:
        start, end = _whole_lines(request.text, *((request.start, request.end) if request.start != request.end
                                                 else (target.start, target.end)))
        original = request.text[start:end]
        instruction = instruction or request.instruction or DEFAULT_REWRITE
        tokens = len(self.pipeline.backend.token_starts(original))
        if self.chat is not None:
            conversation = chat_.messages(action, language, original, instruction=instruction,
                                          context=self._context(request, original))
            answer = chat_.reply_code(await self.ask_chat(request, conversation, 2 * tokens + 64, flag))
        else:
            answer = await self.ask(request, holes.rewrite_hole(request.text, start, end, instruction, language,
                                                                 tokens), flag)
        if not answer.strip():
            return ActionResult(request.action, error=f"{TITLES[request.action].rstrip('.')}: the model wrote nothing")
        answer = restore(answer, original)  # the model saw placeholders; the code keeps its values
        indent = original[:len(original) - len(original.lstrip())].split("\n")[-1]
        replacement = reindent(answer.strip("\n"), indent).rstrip("\n") + "\n"
        return ActionResult(request.action, edits=minimal_edits(request.text, start, end, replacement))

    async def _fix(self, request, language, target, flag) -> ActionResult:
        message = request.instruction or "fix the error on this line"
        return await self._rewrite(request, language, target, flag, f"Fix: {message}")

    async def _tests(self, request, language, target, flag) -> ActionResult:
        root = request.root or Path(unquote(urlparse(request.uri).path)).parent  # outside any workspace folder
        test_path = test_file_for(root, request.path, language, target.name)
        start = holes.test_file_start(language, request.path, target.name, _package(root, request.path, language))
        if self.chat is not None:
            code = request.text[target.start:target.end]
            conversation = chat_.messages("tests", language, code, name=target.name, start=start,
                                          context=self._context(request, code))
            reply = chat_.reply_code(await self.ask_chat(request, conversation, 2 * holes.HOLE_TOKENS["tests"], flag))
            content = _longest_clean(language, "", reply, "\n")
        else:
            hole = holes.tests_hole(language, start)
            answer = await self.ask(request, hole, flag, uri=(root / test_path).as_uri(), path=test_path)
            content = _longest_clean(language, start, answer, holes.test_file_end(language))
        if content is None:
            return ActionResult("tests", error="Generate tests: the model wrote no test that parses")
        return ActionResult("tests", new_file=(test_path, content))


def redacted_conversation(conversation: list[dict]) -> tuple[list[dict], int]:
    """Chat messages with secret values replaced (privacy.py), and how many were."""
    out, count = [], 0
    for message in conversation:
        content, found = redact(message["content"])
        out.append({**message, "content": content})
        count += found
    return out, count


class ActionCancelled(Exception):
    """The action's generation was cancelled (request cancelled, progress cancelled, superseded)."""


def _whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    start = holes.line_start(text, start)
    if end > start and text[end - 1] != "\n":
        newline = text.find("\n", end)
        end = len(text) if newline < 0 else newline + 1
    return start, end


def _longest_clean(language: str, start: str, answer: str, end: str) -> str | None:
    """The test file with as many of the model's lines as keep it free of syntax errors."""
    lines = answer.rstrip().split("\n")
    for keep in range(len(lines), 0, -1):
        body = "\n".join(lines[:keep]).rstrip()
        if not body.strip():
            continue
        content = start + body + end
        if check_edits(language, "", [TextEdit(0, 0, content)]).ok:
            return content
    return None


def _package(root: Path, relative_path: str, language: str) -> str:
    """Go: the package clause of the file under test; Rust: the crate's name from Cargo.toml."""
    if language == "go":
        try:
            match = re.search(r"^package\s+(\w+)", (root / relative_path).read_text(errors="replace"), re.M)
        except OSError:
            match = None
        return match.group(1) if match else "main"
    if language == "rust":
        for folder in [(root / relative_path).parent, *(root / relative_path).parents]:
            manifest = folder / "Cargo.toml"
            if manifest.is_file():
                match = re.search(r'^name\s*=\s*"([^"]+)"', manifest.read_text(errors="replace"), re.M)
                return match.group(1) if match else ""
            if folder == root:
                break
    return ""
