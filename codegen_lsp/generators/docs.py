"""Docs text: docstrings for a file's undocumented definitions, or a Markdown overview of a module.

Both ask the model through the code actions' runner (the same holes, chat prompts and
repository context as "Add docstring"), marked as background work so completions overtake
them. What can be read off the code (the public API, what a module imports and what
imports it) is written from the syntax tree; the model writes only the prose.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from ..actions import holes
from ..actions import chat as chat_
from ..actions.edits import TextEdit, check_edits
from ..actions.runner import ActionRequest, ActionRunner, available
from ..actions.targets import target_at
from ..backends.base import StopFlag
from ..context.index import redacted
from ..context.languages import normalise
from ..context.symbols import Outline, Symbol, outline
from ..privacy import redact

Step = Callable[[int, int, str], None]  # (done, total, message): progress, and the place to stop
DOCUMENTED_KINDS = ("function", "method", "class")
SUMMARY_TOKENS = 120


@dataclass
class DocstringsResult:
    edits: list[TextEdit] = field(default_factory=list)  # in the request's text, checked together
    written: list[str] = field(default_factory=list)     # names that got a docstring
    skipped: list[str] = field(default_factory=list)     # "name: why"


def undocumented(language: str, tree, text: str) -> list[tuple[str, int]]:
    """(name, offset) of each definition the docstring action applies to, in source order."""
    language = normalise(language)
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    found = []
    for symbol in outline(language, tree, text.encode("utf-8", "surrogatepass")).symbols:
        if symbol.kind not in DOCUMENTED_KINDS or symbol.doc or symbol.line >= len(lines):
            continue
        offset = _name_offset(lines[symbol.line], symbol) + starts[symbol.line]
        target = target_at(language, tree, text, offset, offset)
        if target is not None and target.name and available("docstring", target, language, False, tree, text):
            found.append((symbol.name, offset))
    return list(dict.fromkeys(found))  # a name matched twice (decorated) counts once


def _name_offset(line: str, symbol: Symbol) -> int:
    """Where the symbol's own name is on its first line (its bare name: methods are `Class.name`)."""
    bare = symbol.name.rsplit(".", 1)[-1]
    at = line.find(bare)
    return at if at >= 0 else len(line) - len(line.lstrip())


async def write_docstrings(runner: ActionRunner, request: ActionRequest, flag: StopFlag,
                           step: Step | None = None) -> DocstringsResult:
    """Docstrings for every undocumented definition of `request`'s document, as one set of edits."""
    tree = request.repo.tree if request.repo is not None else None
    todo = undocumented(request.language, tree, request.text) if tree is not None else []
    result = DocstringsResult()
    for done, (name, offset) in enumerate(todo):
        if step is not None:
            step(done, len(todo), name)
        answer = await runner.run(dataclasses.replace(request, action="docstring", start=offset, end=offset), flag)
        if answer.error:
            result.skipped.append(f"{name}: {answer.error}")
            continue
        result.edits.extend(answer.edits)
        result.written.append(name)
    if step is not None:
        step(len(todo), len(todo), "checking")
    check = check_edits(request.language, request.text, result.edits)
    if not check.ok:  # each was checked alone; together they must hold too
        result.skipped += [f"{name}: {check.message}" for name in result.written]
        result.edits, result.written = [], []
    return result


# --- module overview --------------------------------------------------------------------------

@dataclass(frozen=True)
class Relations:
    imports: Sequence[str] = ()      # modules of the repository this one imports
    imported_by: Sequence[str] = ()  # modules of the repository that import this one


async def module_summary(runner: ActionRunner, request: ActionRequest, flag: StopFlag) -> str:
    """What the module is for, in a few sentences, by the model: a module docstring's hole (base
    models) or a question (chat models)."""
    language = normalise(request.language)
    if runner.chat is not None:
        conversation = chat_.messages("docstring", language, request.text, kind="module")
        reply = await runner.ask_chat(request, conversation, SUMMARY_TOKENS, flag)
        return holes.clean_documentation(reply, language)
    if language != "python":
        return ""  # other languages' module comments are too varied for one hole
    hole = holes.insert(request.text, 0, '"""', '"""\n', SUMMARY_TOKENS, ('"""',))
    return first_paragraph(holes.clean_documentation(await runner.ask(request, hole, flag), language))


def first_paragraph(text: str, limit: int = 600) -> str:
    """The summary's first paragraph, without comment marks: small models go on repeating themselves."""
    lines = []
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if not line:
            if lines:
                break
            continue
        lines.append(line)
    paragraph = " ".join(lines)
    return paragraph if len(paragraph) <= limit else paragraph[:limit].rsplit(" ", 1)[0] + "…"


def public_api(file_outline: Outline) -> list[Symbol]:
    """Top-level definitions and the methods of top-level classes, without `_private` names."""
    out = []
    for symbol in file_outline.symbols:
        parts = symbol.name.split(".")
        if any(part.startswith("_") and not part.startswith("__") for part in parts):
            continue
        if symbol.kind in ("function", "class", "constant", "type", "interface") and not symbol.container \
                or symbol.kind == "method" and len(parts) == 2:
            out.append(symbol)
    return out


def relations_of(root: Path, relative: str) -> Relations:
    """What the module at `relative` imports from the repository and what imports it (Python)."""
    from .structure import extract, module_name

    structure = extract(root)
    name = module_name(relative, root)
    module = structure.modules.get(name)
    if module is None:
        return Relations()
    users = [other.name for other in structure.modules.values()
             if other.name != name and name in structure.imported_modules(other)[0]]
    return Relations(sorted(structure.imported_modules(module)[0]), sorted(users))


def overview_file(docs_folder: str, relative: str) -> str:
    """Where a module's overview goes: `docs/api/shop/models.md` for `shop/models.py`."""
    return str(PurePosixPath(docs_folder) / "api" / PurePosixPath(relative).with_suffix(".md"))


def overview_for(root: Path, request: ActionRequest, summary: str, model_id: str) -> str:
    from .structure import module_name

    language = normalise(request.language)
    tree = request.repo.tree if request.repo is not None else None
    file_outline = redacted(outline(language, tree, request.text.encode("utf-8", "surrogatepass")))
    relations = relations_of(root, request.path) if language == "python" else Relations()
    name = module_name(request.path, root) if language == "python" else request.path
    # The public API lists constants with their values, the summary is the model's: keys stay out.
    return redact(overview_markdown(name, request.path, file_outline, summary, relations, model_id))[0]


def overview_markdown(module: str, path: str, file_outline: Outline, summary: str, relations: Relations,
                      model_id: str = "") -> str:
    lines = [f"# `{module}`", "", f"Source: `{path}`", ""]
    if summary:
        lines += [summary, ""]
    api = public_api(file_outline)
    if api:
        lines += ["## Public API", ""]
        for symbol in api:
            indent = "  " if symbol.kind == "method" else ""
            doc = f": {symbol.doc}" if symbol.doc else ""
            lines.append(f"{indent}- `{symbol.signature}`{doc}")
        lines.append("")
    if relations.imports or relations.imported_by:
        lines += ["## How it relates to the rest", ""]
        if relations.imports:
            lines.append("Uses: " + ", ".join(f"`{m}`" for m in relations.imports) + ".")
        if relations.imported_by:
            lines.append("Used by: " + ", ".join(f"`{m}`" for m in relations.imported_by) + ".")
        lines.append("")
    written_by = f" The summary was written by `{model_id}`." if summary and model_id else ""
    lines.append(f"_The API and relations above are read from the code by codegen-lsp.{written_by}_")
    return "\n".join(lines) + "\n"


