"""Fill-in-the-middle holes cut along the syntax tree.

A random span rarely looks like what an editor asks for. A hole on a syntax node
does: the statements after a line the user just finished, the body of a function
whose signature is typed, an expression after `=`, the arguments after `(`. Such
holes teach a fine-tuned model to complete whole units of the user's code and to
stop where the unit ends.

Four kinds of middle, chosen at random by `KIND_WEIGHTS`:

- "lines": one to three consecutive statements that have their lines to
  themselves. The indentation of the first line stays in the prefix and the last
  line's line break in the suffix, as when a completion is asked on an
  auto-indented empty line.
- "block": the statements of a body (function, method, class, if, for, while),
  from the first to the last; braces stay outside, as when an editor has closed
  the `{` the user typed.
- "expression": an expression node (a call, an operator, a literal, a lambda...).
- "arguments": the text between the parentheses of a call.

Nodes are parsed with the grammars of `codegen_lsp.context.languages`, the ones
the server parses with. Spans that contain a syntax error, that are a character
or two, or that run past `MAX_LINES` lines or `MAX_BYTES` bytes are not used.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Literal

from tree_sitter import Node

from codegen_lsp.context.languages import parser_for

Kind = Literal["lines", "block", "expression", "arguments"]

# Statements are what a multi-line completion mostly writes; arguments and
# expressions are the common single-line ones.
KIND_WEIGHTS: dict[Kind, float] = {"lines": 0.4, "expression": 0.25, "arguments": 0.2, "block": 0.15}

MIN_CHARS = 3       # non-blank characters: "x" or "()" teaches nothing a cursor hole doesn't
MAX_LINES = 40
MAX_BYTES = 2048
MAX_RUN = 3         # statements in one "lines" middle

# Bodies whose statements make a "block" middle, across the supported grammars.
BODIES = frozenset({
    "block",                    # Python, Go, Rust, Java, Lua
    "statement_block",          # JavaScript, TypeScript
    "class_body",               # JavaScript, TypeScript, Java
    "declaration_list",         # Rust impl/trait/mod, C++ namespace
    "compound_statement",       # C, C++, Bash
    "field_declaration_list",   # C, C++ struct bodies
    "constructor_body",         # Java
    "interface_body",           # Java
    "do_group",                 # Bash loops
})
# A list of statements wrapped in a body node (Go's block holds one).
STATEMENT_LISTS = frozenset({"statement_list"})
# What opens and closes a body; a "block" middle stays inside them.
DELIMITERS = frozenset({"{", "}", "do", "done"})
# What ends a member of some bodies (a field of a Rust struct, a TypeScript interface
# member) as a token of its own: a "lines" middle takes it along.
SEPARATORS = frozenset({";", ","})

ARGUMENT_LISTS = frozenset({"argument_list", "arguments"})

# Expression node types are named alike in most grammars; the others are listed.
EXPRESSION_SUFFIXES = ("_expression", "_operator", "_comprehension", "_literal")
EXPRESSIONS = frozenset({
    "call", "attribute", "subscript", "list", "dictionary", "set", "tuple", "string", "concatenated_string",
    "lambda", "await",                                                # Python
    "arrow_function", "object", "array", "template_string", "number", "jsx_element",  # JavaScript, TypeScript
    "function_call",                                                  # Lua
    "method_invocation", "field_access",                              # Java
    "macro_invocation",                                               # Rust
})


@dataclass(frozen=True)
class NodeSpan:
    """A hole's middle: text[start:end] (character offsets), and what kind of node it is."""
    kind: Kind
    start: int
    end: int


def node_hole(text: str, language: str, rng: random.Random) -> tuple[str, str, str] | None:
    """(prefix, middle, suffix) with a syntax node as the middle, or None.

    None when the language has no grammar or the text no node of a useful size;
    the caller then cuts a hole of another shape.
    """
    span = pick_span(text, language, rng)
    if span is None:
        return None
    return text[:span.start], text[span.start:span.end], text[span.end:]


def pick_span(text: str, language: str, rng: random.Random) -> NodeSpan | None:
    """A random node span of `text`: first the kind (by `KIND_WEIGHTS`), then a span of that kind."""
    parser = parser_for(language) if language else None
    if parser is None:
        return None
    source = text.encode("utf-8")
    found = candidates(parser.parse(source).root_node, source)
    kinds = [kind for kind in KIND_WEIGHTS if found[kind]]
    if not kinds:
        return None
    kind = rng.choices(kinds, weights=[KIND_WEIGHTS[k] for k in kinds])[0]
    start, end = rng.choice(found[kind])
    return NodeSpan(kind, _char_offset(source, start), _char_offset(source, end))


def candidates(root: Node, source: bytes) -> dict[Kind, list[tuple[int, int]]]:
    """Every usable span of each kind, as byte offsets, in tree order."""
    found: dict[Kind, list[tuple[int, int]]] = {kind: [] for kind in KIND_WEIGHTS}

    def add(kind: Kind, span: tuple[int, int] | None) -> None:
        if span is not None and _fits(source, *span):
            found[kind].append(span)

    for node in _walk(root):
        if node.type in BODIES:
            add("block", _statements_span(node))
        if node.type in BODIES or node.type in STATEMENT_LISTS or node.id == root.id:
            for run in _statement_runs(node, source):
                add("lines", run)
        if node.type in ARGUMENT_LISTS or (node.type == "token_tree" and node.parent.type == "macro_invocation"):
            add("arguments", _inside_parentheses(node))
        if _is_expression(node):
            add("expression", (node.start_byte, node.end_byte))
    return found


def _walk(root: Node) -> Iterator[Node]:
    """Named nodes, depth first in source order, leaving out ERROR nodes and all they hold."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            continue  # nothing under an ERROR node is a reliable unit
        yield node
        stack.extend(reversed(node.named_children))


def _is_expression(node: Node) -> bool:
    return not node.has_error and (node.type in EXPRESSIONS or node.type.endswith(EXPRESSION_SUFFIXES))


def _is_comment(node: Node) -> bool:
    return node.type.endswith("comment")


def _statements_span(body: Node) -> tuple[int, int] | None:
    """From the first statement's start to the last one's end (or its separator): braces stay outside."""
    inner = [child for child in body.children if child.type not in DELIMITERS]
    if len(inner) == 1 and inner[0].type in STATEMENT_LISTS:
        inner = inner[0].children  # Go: the list itself runs on to the line break before "}"
    if not inner or not inner[0].is_named or body.has_error:
        return None
    return inner[0].start_byte, inner[-1].end_byte


def _statement_runs(container: Node, source: bytes) -> Iterator[tuple[int, int]]:
    """Runs of 1 to MAX_RUN consecutive statements that start and end their lines."""
    statements = container.named_children
    for i, first in enumerate(statements):
        if _is_comment(first) or not _starts_its_line(source, first.start_byte):
            continue
        for last in statements[i:i + MAX_RUN]:
            if last.has_error or last.is_error:
                break  # a run stops at the first broken statement
            end = _end_with_separator(last)
            if not _is_comment(last) and _ends_its_line(source, end):
                yield first.start_byte, end


def _end_with_separator(statement: Node) -> int:
    after = statement.next_sibling
    if after is not None and not after.is_named and after.type in SEPARATORS:
        return after.end_byte
    return statement.end_byte


def _inside_parentheses(arguments: Node) -> tuple[int, int] | None:
    """The text between "(" and ")"; None for other brackets or a broken list."""
    children = arguments.children
    if arguments.has_error or len(children) < 3 or children[0].type != "(" or children[-1].type != ")":
        return None
    return children[0].end_byte, children[-1].start_byte


def _starts_its_line(source: bytes, offset: int) -> bool:
    line_start = source.rfind(b"\n", 0, offset) + 1
    return not source[line_start:offset].strip()


def _ends_its_line(source: bytes, offset: int) -> bool:
    line_end = source.find(b"\n", offset)
    return not source[offset:line_end if line_end >= 0 else len(source)].strip()


def _fits(source: bytes, start: int, end: int) -> bool:
    span = source[start:end]
    return len(span.strip()) >= MIN_CHARS and len(span) <= MAX_BYTES and span.count(b"\n") < MAX_LINES


def _char_offset(source: bytes, byte_offset: int) -> int:
    # Tree-sitter counts UTF-8 bytes; Python strings count characters.
    return len(source[:byte_offset].decode("utf-8"))
