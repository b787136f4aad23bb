"""Tree-sitter trees of open documents, edited with every change and re-parsed incrementally.

The document store works in str indices; tree-sitter works in UTF-8 bytes and
(row, byte column) points. `EditSpan` converts one replacement, and `SyntaxTree`
applies a batch of them (one `didChange`) before a single incremental re-parse.
A language without a grammar, or a file above the size cap, has no tree: callers
fall back to plain text.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Parser, Point, Tree

from .languages import parser_for

# Above this a document is not parsed at all: a full parse of a multi-megabyte
# generated file costs more than its context is worth.
MAX_PARSE_BYTES = 2_000_000


def _point_at(text: str, index: int) -> Point:
    """tree-sitter's point for a str index: rows end at "\\n", columns count UTF-8 bytes."""
    row = text.count("\n", 0, index)
    line_start = text.rfind("\n", 0, index) + 1
    return Point(row, len(text[line_start:index].encode("utf-8", "surrogatepass")))


def byte_offset(text: str, index: int, source: bytes | None = None) -> int:
    """The UTF-8 offset of a str index; free when `source`, the text as UTF-8, shows it is ASCII."""
    if source is not None and len(source) == len(text):
        return index
    return len(text[:index].encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class EditSpan:
    """One replacement in tree-sitter's coordinates."""

    start_byte: int
    old_end_byte: int
    new_end_byte: int
    start_point: Point
    old_end_point: Point
    new_end_point: Point

    @classmethod
    def of(cls, before: str, start: int, end: int, inserted: str) -> "EditSpan":
        """The edit that replaced before[start:end] with `inserted`."""
        start_byte = byte_offset(before, start)
        start_point = _point_at(before, start)
        old_end_byte = start_byte + len(before[start:end].encode("utf-8", "surrogatepass"))
        new_end_byte = start_byte + len(inserted.encode("utf-8", "surrogatepass"))
        rows = inserted.count("\n")
        tail = inserted[inserted.rfind("\n") + 1:].encode("utf-8", "surrogatepass")
        column = len(tail) if rows else start_point.column + len(tail)
        return cls(start_byte, old_end_byte, new_end_byte, start_point, _point_at(before, end),
                   Point(start_point.row + rows, column))


class SyntaxTree:
    """The parse tree of one document, kept in step with its text.

    Every change is applied to the old tree as it arrives (`edit`); the re-parse
    waits until someone asks for the tree (`current`), so a burst of keystrokes
    costs one incremental parse, not one per key.
    """

    def __init__(self, parser: Parser) -> None:
        self._parser = parser
        self._tree: Tree | None = None
        self._stale = True
        self.source = b""  # the UTF-8 text of the current tree, shared with the context step
        self.parses = 0  # how many parses ran (full or incremental): tests and benchmarks read it

    @classmethod
    def for_language(cls, language_id: str) -> "SyntaxTree | None":
        parser = parser_for(language_id)
        return cls(parser) if parser is not None else None

    def edit(self, span: EditSpan) -> None:
        if self._tree is not None:
            self._tree.edit(span.start_byte, span.old_end_byte, span.new_end_byte,
                            span.start_point, span.old_end_point, span.new_end_point)
        self._stale = True

    def replace_all(self) -> None:
        """The whole text was replaced: the next parse starts from scratch."""
        self._tree, self._stale = None, True

    def current(self, text: str) -> Tree | None:
        """The tree of `text` (the document's text after every recorded edit); None above the cap."""
        if not self._stale:
            return self._tree
        source = text.encode("utf-8", "surrogatepass")
        self.source = source
        if len(source) > MAX_PARSE_BYTES:
            self._tree = None
        else:
            self._tree = self._parser.parse(source, self._tree) if self._tree is not None else self._parser.parse(source)
            self.parses += 1
        self._stale = False
        return self._tree
