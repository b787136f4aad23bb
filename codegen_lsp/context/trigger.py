"""Decide whether and how much to complete at the cursor: none, one line, or a block.

Tree-sitter tells strings and comments apart from code; plain text rules cover
every language, including those without a grammar.
"""

from __future__ import annotations

import enum
import re

from tree_sitter import Node, Tree

from .languages import parser_for
from .syntax import byte_offset

# Larger files are judged on text alone: parsing them on every keystroke costs more
# than the trigger can win.
MAX_PARSE_BYTES = 1_000_000

_CLOSERS = set(")]}\"'`;,:")
_WORD = re.compile(r"\w")
# Line endings after which the next thing written is a new block body.
_BLOCK_OPENERS = re.compile(r"(:|\{|\(|\[|=>|\bthen|\bdo|\belse|\brepeat|\bfunction\b[^()]*\([^()]*\))\s*$")
# Only the end of the line matters to the rules; a 10 MB line must not be scanned.
LINE_TAIL_CHARS = 400


class Mode(enum.Enum):
    NONE = "none"
    SINGLE_LINE = "single-line"
    MULTI_LINE = "multi-line"


def decide_mode(text: str, offset: int, language_id: str, tree: Tree | None = None,
                source: bytes | None = None) -> Mode:
    """How to complete at `offset` (a str index into `text`).

    `tree` and `source` are the document's current tree and its UTF-8 text where the caller
    keeps them (incrementally parsed); without them the text is parsed here.
    """
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = _line_end(text, offset)
    before = text[max(line_start, offset - LINE_TAIL_CHARS):offset]
    after = text[offset:min(line_end, offset + LINE_TAIL_CHARS)]

    if after[:1] and _WORD.match(after[0]):
        return Mode.NONE  # mid-word: the user is editing an identifier
    if any(ch not in _CLOSERS and not ch.isspace() for ch in after):
        return Mode.SINGLE_LINE  # code follows on this line: only its middle is open
    if _open_quote(before) or _in_string_or_comment(text, offset, language_id, tree, source):
        return Mode.SINGLE_LINE
    if not before.strip() or _BLOCK_OPENERS.search(before):
        return Mode.MULTI_LINE
    return Mode.SINGLE_LINE


def _open_quote(before: str) -> bool:
    """An unclosed quote on the line: a string being typed, which parsers see as an error."""
    line = re.sub(r"\\.", "", before)
    return any(line.count(q) % 2 == 1 for q in ("\"", "'", "`"))


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    end = len(text) if end < 0 else end
    return end - 1 if end > offset and text[end - 1] == "\r" else end


def _in_string_or_comment(text: str, offset: int, language_id: str, tree: Tree | None,
                          source: bytes | None) -> bool:
    if tree is None or source is None:
        parser = parser_for(language_id)
        if parser is None:
            return False
        source = text.encode("utf-8", errors="surrogatepass")
        if len(source) > MAX_PARSE_BYTES:
            return False
        tree = parser.parse(source)
    cursor = byte_offset(text, offset, source)
    # The node just left of the cursor: at the end of a line comment the cursor sits
    # on the comment's end boundary, which still belongs to the comment.
    node = tree.root_node.descendant_for_byte_range(max(cursor - 1, 0), cursor)
    return _inside_literal(node, cursor)


def _inside_literal(node: Node | None, cursor: int) -> bool:
    while node is not None:
        kind = node.type
        if "comment" in kind:
            return True
        if "string" in kind and node.start_byte < cursor < node.end_byte:
            return True
        node = node.parent
    return False
