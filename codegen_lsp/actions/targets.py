"""What a code action works on: the definition at the cursor, or the lines of a selection.

"Explain", "Add docstring", "Generate tests" and the like act on one function, method
or class. `target_at` finds it in the document's syntax tree and describes it as plain
data (`CodeTarget`): where it starts and ends, its header, where its body begins, how
its body is indented and what docstring it already has. Offsets are str indices into
the document's text. What the code says about the target (`code_facts`) and who calls
it (`find_callers`) live in `facts` and are re-exported here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Iterable

from tree_sitter import Node, Tree

from ..context.languages import normalise
from ..context.symbols import header as outline_header
from ..context.symbols import one_line
from .definitions import MOSTLY, Definition, Text, definitions_around, supported

_COMMENTS = {"comment", "line_comment", "block_comment"}
# Where only some comments document (`/** */`, Rust's `///`), which; elsewhere any comment right above does.
_DOC_MARKERS = {"rust": ("///", "/**"), "java": ("/**",), "javascript": ("/**",), "javascriptreact": ("/**",),
                "typescript": ("/**",), "typescriptreact": ("/**",)}
# Comment markers, longest first, stripped from each line of a doc comment.
_MARKERS = ("/**", "/*!", "/*", "///", "//!", "//", "---", "--", "#", "*")


@dataclass(frozen=True)
class CodeTarget:
    kind: str           # "function" | "method" | "class" | "selection"
    name: str           # the definition's name; "" for a selection outside any definition
    language: str       # normalised language id
    start: int          # str offset where the definition starts (decorators, attributes, `export` included)
    end: int            # str offset where it ends; a selection: whole lines, the last one's line break included
    header: str         # the signature, up to the body, on one line (a selection: its definition's, or "")
    body_start: int     # str offset of the body's first statement (Python) or just after its opening `{`
    indent: str         # indentation of the first line
    body_indent: str    # indentation of the body's statements (guessed when the body shares the header's line)
    docstring: str      # the existing docstring or doc comment, markers stripped ("" when none)


# --- choosing the target ----------------------------------------------------------------------

def target_at(language: str, tree: Tree | None, text: str, start: int, end: int) -> CodeTarget | None:
    """The definition at a cursor (`start == end`), or the one a selection is mostly, or its lines.

    None for a cursor outside every definition, and for a language without a grammar.
    """
    language = normalise(language)
    if tree is None or not supported(language):
        return None
    doc = Text(text)
    start, end = sorted((max(0, min(start, len(text))), max(0, min(end, len(text)))))
    lo, hi = _trimmed(text, start, end)
    if lo >= hi:
        return _cursor_target(language, tree, doc, start)
    return _selection_target(language, tree, doc, start, end, lo, hi)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cursor_target(language: str, tree: Tree, doc: Text, cursor: int) -> CodeTarget | None:
    text = doc.text
    line_start = _line_start(text, cursor)
    indent = _leading_space(text, line_start)
    if cursor - line_start <= len(indent):  # in the indentation: the line's code is meant
        cursor = line_start + len(indent)
    found: dict[int, Definition] = {}
    for probe in {cursor, max(cursor - 1, 0)}:  # just after a closing `}` counts too
        byte = doc.to_byte(probe)
        for definition in definitions_around(tree.root_node, byte, byte, doc):
            found.setdefault(definition.node.id, definition)
    byte = doc.to_byte(cursor)
    containing = [d for d in found.values() if d.start <= byte <= d.end]
    best = _smallest(d for d in containing if d.is_function) or _smallest(containing)
    return _describe(language, best, doc) if best is not None else None


def _smallest(definitions: Iterable[Definition]) -> Definition | None:
    """The innermost of nested definitions."""
    return min(definitions, key=lambda d: d.size, default=None)


def _selection_target(language: str, tree: Tree, doc: Text, start: int, end: int, lo: int, hi: int) -> CodeTarget:
    lo_byte, hi_byte = doc.to_byte(lo), doc.to_byte(hi)
    around = definitions_around(tree.root_node, lo_byte, hi_byte, doc)

    def share(d: Definition) -> float:  # how much of the definition and of the selection overlap
        overlap = min(hi_byte, d.end) - max(lo_byte, d.start)
        return min(overlap / max(d.size, 1), overlap / (hi_byte - lo_byte))

    best = max(around, key=share, default=None)
    if best is not None and share(best) > MOSTLY:
        return _describe(language, best, doc)
    enclosing = _smallest(d for d in around if d.start <= lo_byte and hi_byte <= d.end)
    text = doc.text
    first, last = _line_start(text, start), _line_end(text, end)
    indent = _leading_space(text, first)
    return CodeTarget("selection", enclosing.name if enclosing else "", language, first, last,
                      _header(enclosing, doc) if enclosing else "", first, indent, indent, "")


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """Just past the line break of the line `index` is on; `index` itself when it starts a line."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _leading_space(text: str, line_start: int) -> str:
    newline = text.find("\n", line_start)
    line = text[line_start:newline if newline >= 0 else len(text)]
    return line[: len(line) - len(line.lstrip(" \t"))]


# --- describing a definition ------------------------------------------------------------------

def _describe(language: str, definition: Definition, doc: Text) -> CodeTarget:
    text = doc.text
    start = doc.to_str(definition.start)
    indent = _leading_space(text, _line_start(text, start))
    body_start = doc.to_str(_body_start(definition))
    docstring = _python_docstring(definition, doc) if language == "python" else _doc_comment(language, definition, doc)
    return CodeTarget(definition.kind, definition.name, language, start, doc.to_str(definition.end),
                      _header(definition, doc), body_start, indent, _body_indent(definition, doc, indent),
                      docstring)


def _header(definition: Definition, doc: Text) -> str:
    """`def area(self) -> float`, `const f = (a) =>`, `type Circle struct`: the text before the body."""
    node, body = definition.node, definition.body
    if body is None:  # `function M.sub(a) end`: up to its parameters
        end = (node.child_by_field_name("parameters") or node).end_byte
    elif definition.head.id == node.id and node.type != "type_spec":
        return outline_header(node, doc.source)
    else:
        end = (_brace(body) or body).start_byte
    return one_line(doc.source[definition.head.start_byte:end].decode("utf-8", "surrogatepass")).rstrip(" {")


def _brace(body: Node) -> Node | None:
    """The `{` that opens a body (Go's struct keeps it in its field list)."""
    if body.type == "struct_type" and body.named_children:
        body = body.named_children[-1]
    return next((c for c in body.children if c.type == "{"), None)


def _body_start(definition: Definition) -> int:
    body = definition.body
    if body is None:  # a Lua function with an empty body, a Java abstract method
        parameters = definition.node.child_by_field_name("parameters")
        return (parameters or definition.node).end_byte
    brace = _brace(body)
    return brace.end_byte if brace is not None else body.start_byte


def _body_indent(definition: Definition, doc: Text, indent: str) -> str:
    """The first statement's indentation when it starts a line; else `indent` plus one level."""
    body, text = definition.body, doc.text
    after = _body_start(definition)
    first = next((c for c in body.named_children if c.start_byte >= after), None) if body is not None else None
    if first is not None:
        start = doc.to_str(first.start_byte)
        line_start = _line_start(text, start)
        if not text[line_start:start].strip():
            return text[line_start:start]
    return indent + indent_unit(text)


def indent_unit(text: str) -> str:
    """One level of the file's indentation: a tab, or 2 or 4 spaces."""
    tabs = spaces = 0
    narrowest = 8
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("*"):  # blank, or the middle of a block comment
            continue
        if line.startswith("\t"):
            tabs += 1
        elif line.startswith(" "):
            spaces += 1
            narrowest = min(narrowest, len(line) - len(stripped))
    if tabs > spaces:
        return "\t"
    return "  " if narrowest == 2 else "    "


def _python_docstring(definition: Definition, doc: Text) -> str:
    body = definition.body
    first = body.named_children[0] if body is not None and body.named_children else None
    string = first.named_children[0] if first is not None and first.type == "expression_statement" else None
    if string is None or string.type != "string" or len(string.children) < 2:
        return ""
    opening, closing = string.children[0], string.children[-1]
    raw = doc.source[opening.end_byte:closing.start_byte].decode("utf-8", "surrogatepass")
    return inspect.cleandoc(raw.replace("\r\n", "\n"))


def _doc_comment(language: str, definition: Definition, doc: Text) -> str:
    """The doc comments right above the definition (JSDoc, `///`, Go's `//`, Lua's `--`), markers stripped."""
    node = definition.first
    comments: list[str] = []
    row = node.start_point.row
    comment = node.prev_named_sibling
    while comment is not None and comment.type in _COMMENTS and comment.end_point.row >= row - 1:
        line_start = doc.source.rfind(b"\n", 0, comment.start_byte) + 1
        text = doc.of(comment)
        if doc.source[line_start:comment.start_byte].strip() or text.startswith("#!"):
            break  # a comment after code on its line, or a shebang
        if text.startswith(_DOC_MARKERS.get(language, "")):  # `// eslint-disable-line` documents nothing
            comments.insert(0, text)
        row, comment = comment.start_point.row, comment.prev_named_sibling
    lines = [_unmarked(line) for text in comments for line in text.splitlines()]
    return "\n".join(lines).strip("\n")


def _unmarked(line: str) -> str:
    line = line.strip()
    if line.endswith("*/"):
        line = line[:-2].rstrip()
    for marker in _MARKERS:
        if line.startswith(marker):
            line = line[len(marker):]
            break
    return line[1:] if line.startswith(" ") else line


# Imported last: `facts` builds on `CodeTarget`.
from .facts import Caller, CodeFacts, Parameter, code_facts, find_callers  # noqa: E402

__all__ = ["CodeTarget", "target_at", "Parameter", "CodeFacts", "code_facts", "Caller", "find_callers"]
