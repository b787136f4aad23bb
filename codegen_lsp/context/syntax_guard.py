"""Syntax-aware output: a completion keeps to the block it opened and adds no syntax error.

The document's own tree is copied, edited with the completion and re-parsed
incrementally, so each check costs about as much as one keystroke's parse.
- Block end (multi-line): a completion whose first statement opens a block stops
  where that statement ends; one that does not stops where the enclosing block ends.
- Errors: if the completion adds error or missing nodes the document did not have,
  it is cut back to the longest clean prefix (line ends, then token ends), or dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Node, Parser, Tree

from .languages import parser_for
from .syntax import EditSpan, byte_offset

MAX_CUTS = 12  # clean-prefix candidates tried, longest first
_CHUNK_END = re.compile(r"\w+|[^\w\s]")
_BLOCKS = {"block", "statement_block", "compound_statement", "declaration_list", "class_body",
           "field_declaration_list", "interface_body", "enum_body", "module", "program", "source_file",
           "translation_unit", "chunk", "function_body", "switch_body", "do_group"}


@dataclass(frozen=True)
class Guarded:
    text: str
    note: str  # what was changed and why, "" when nothing was


@lru_cache(maxsize=None)
def _parser(language: str) -> Parser | None:
    return parser_for(language)


def errors(node: Node) -> int:
    """Error and missing nodes under `node`; subtrees without errors are not visited."""
    if not node.has_error and not node.is_missing:
        return 0
    return int(node.is_error or node.is_missing) + sum(errors(child) for child in node.children)


def errors_inside(node: Node, start: int, end: int) -> int:
    """Errors made of inserted text alone: error nodes within [start, end), missing nodes before `end`."""
    if (not node.has_error and not node.is_missing) or node.end_byte < start or node.start_byte > end:
        return 0
    if node.is_missing:
        return int(start <= node.start_byte < end)
    own = int(node.is_error and start <= node.start_byte and node.end_byte <= end)
    return own + sum(errors_inside(child, start, end) for child in node.children)


def _error_score(parser: Parser, tree: Tree, text: str, offset: int, insert: str) -> tuple[int, int]:
    """(errors in the document with `insert`, errors made of the inserted text alone)."""
    after = _with_insert(parser, tree, text, offset, insert)
    start = byte_offset(text, offset)
    end = start + len(insert.encode("utf-8", "surrogatepass"))
    return errors(after.root_node), errors_inside(after.root_node, start, end)


def _with_insert(parser: Parser, tree: Tree, text: str, offset: int, insert: str) -> Tree:
    edited = tree.copy()
    span = EditSpan.of(text, offset, offset, insert)
    edited.edit(span.start_byte, span.old_end_byte, span.new_end_byte,
                span.start_point, span.old_end_point, span.new_end_point)
    source = (text[:offset] + insert + text[offset:]).encode("utf-8", "surrogatepass")
    return parser.parse(source, edited)


def _cuts(completion: str, multiline: bool) -> list[int]:
    """Candidate lengths of a clean prefix, longest first."""
    if multiline and "\n" in completion:
        ends = [m.start() for m in re.finditer("\n", completion)]
    else:
        ends = [m.end() for m in _CHUNK_END.finditer(completion)][:-1]
    ends = sorted(set(ends), reverse=True)
    if len(ends) > MAX_CUTS:
        step = len(ends) / MAX_CUTS
        ends = [ends[int(i * step)] for i in range(MAX_CUTS)]
    return [e for e in ends if completion[:e].strip()]


def _block_end(tree: Tree, source: bytes, start_byte: int, end_byte: int) -> int | None:
    """Byte where the inserted text should stop: the end of the statement it opens, or of its block."""
    anchor = start_byte + (len(source[start_byte:end_byte]) - len(source[start_byte:end_byte].lstrip()))
    node = tree.root_node.descendant_for_byte_range(anchor, anchor)
    while node is not None and node.parent is not None and node.parent.type not in _BLOCKS:
        node = node.parent
    if node is None or node.parent is None or node.has_error:
        return None
    opens_block = node.end_point.row > node.start_point.row and any(child.type in _BLOCKS for child in node.children)
    if opens_block and node.start_byte >= start_byte:
        return node.end_byte
    return node.parent.end_byte if node.parent.type not in ("module", "program", "source_file",
                                                            "translation_unit", "chunk") else None


def guard(language: str, tree: Tree | None, text: str, offset: int, completion: str, multiline: bool) -> Guarded:
    """`completion` kept to its block and to clean syntax, given the document's current `tree`."""
    parser = _parser(language)
    if parser is None or tree is None or not completion.strip():
        return Guarded(completion, "")
    before = errors(tree.root_node)
    after_tree = _with_insert(parser, tree, text, offset, completion)
    note = ""
    if multiline and "\n" in completion.strip():
        start = byte_offset(text, offset)
        end = start + len(completion.encode("utf-8", "surrogatepass"))
        source = (text[:offset] + completion + text[offset:]).encode("utf-8", "surrogatepass")
        stop = _block_end(after_tree, source, start, end)
        if stop is not None and start < stop < end:
            kept = source[start:stop].decode("utf-8", "replace")
            if kept.strip() and kept != completion:
                completion, note = kept.rstrip(" \t"), "stopped at the end of its block"
    total, inside = _error_score(parser, tree, text, offset, completion)
    if total == 0:
        return Guarded(completion, note)
    # Among the completion and its shorter clean points, the fewest errors wins, then the longest.
    best, best_errors = completion, total
    for cut in _cuts(completion, multiline):
        candidate = completion[:cut].rstrip(" \t")
        errors_then, _ = _error_score(parser, tree, text, offset, candidate)
        if errors_then < best_errors:
            best, best_errors = candidate, errors_then
    if best is not completion and best_errors <= before:
        return Guarded(best, "cut back to the last point without a new syntax error")
    if total <= before and inside == 0:
        return Guarded(completion, note)  # as broken as the document was, no worse
    return Guarded("", "dropped: it adds a syntax error")
