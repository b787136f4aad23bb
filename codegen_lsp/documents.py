"""The server's own store of open text documents, with LSP line and position rules.

Only "\\n", "\\r\\n" and "\\r" end a line (unlike str.splitlines), and no position raises.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Literal

from tree_sitter import Tree

from .context.syntax import EditSpan, SyntaxTree

Encoding = Literal["utf-8", "utf-16", "utf-32"]
Range = tuple[int, int, int, int]

# "\r\n" comes first so that the pair is matched as one terminator.
_EOL = re.compile(r"\r\n|\r|\n")
# Most code units one code point takes, per encoding.
_MAX_UNITS = {"utf-8": 4, "utf-16": 2, "utf-32": 1}


def _units(s: str, encoding: Encoding) -> int:
    """Length of `s` in code units of `encoding`."""
    # Encoding runs in C, so counting stays linear even on a 10 MB line;
    # "surrogatepass" keeps lone surrogates (possible via JSON escapes) from raising.
    if encoding == "utf-16":
        return len(s.encode("utf-16-le", "surrogatepass")) // 2
    if encoding == "utf-8":
        return len(s.encode("utf-8", "surrogatepass"))
    return len(s)


def _chars_within(s: str, limit: int, encoding: Encoding) -> int:
    """How many leading code points of `s` fit in `limit` code units."""
    count = min(len(s), limit)  # each code point takes at least one unit
    used = _units(s[:count], encoding)
    # Drop code points from the end in chunks that can't remove more than the
    # excess, so the loop never skips past the answer yet costs O(dropped) in all.
    while used > limit:
        step = max(1, (used - limit) // _MAX_UNITS[encoding])
        used -= _units(s[count - step : count], encoding)
        count -= step
    return count


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _EOL.finditer(text)]


class Document:
    """One open document: its text, a cache of where its lines start, and its syntax tree."""

    def __init__(self, uri: str, language_id: str, version: int, text: str) -> None:
        self.uri = uri
        self.language_id = language_id
        self.version = version
        self.text = text
        self._starts: list[int] | None = None
        self.syntax = SyntaxTree.for_language(language_id)  # parsed when first asked for

    @property
    def tree(self) -> Tree | None:
        """The up-to-date syntax tree; None for a language without a grammar or a huge file."""
        return self.syntax.current(self.text) if self.syntax is not None else None

    @property
    def source(self) -> bytes | None:
        """The UTF-8 text the current tree was parsed from; None where there is no tree."""
        return self.syntax.source if self.tree is not None else None

    @property
    def line_count(self) -> int:
        return len(self._get_starts())

    def line_text(self, line: int) -> str:
        """The text of `line` without its terminator; "" for lines that don't exist."""
        if not 0 <= line < self.line_count:
            return ""
        return self.text[self._get_starts()[line] : self._content_end(line)]

    def offset_at(self, line: int, character: int, encoding: Encoding) -> int:
        """Index into `text` of an LSP position, clamped into the document."""
        starts = self._get_starts()
        line, character = max(0, line), max(0, character)
        if line >= len(starts):
            return len(self.text)
        start = starts[line]
        # Slice no further than `character` code points: no line is walked past the cursor.
        end = min(self._content_end(line), start + character)
        return start + _chars_within(self.text[start:end], character, encoding)

    def position_at(self, offset: int, encoding: Encoding) -> tuple[int, int]:
        """The LSP position of an index into `text`, clamped into the document."""
        offset = min(max(0, offset), len(self.text))
        line = bisect_right(self._get_starts(), offset) - 1
        # An offset inside a line terminator (e.g. between "\r" and "\n") means its line's end.
        offset = min(offset, self._content_end(line))
        return line, _units(self.text[self._get_starts()[line] : offset], encoding)

    def apply_change(self, text: str, range: Range | None, encoding: Encoding) -> None:
        """Replace `range` (start line/char, end line/char) with `text`; None replaces everything."""
        if range is None:
            self.text, self._starts = text, None
            if self.syntax is not None:
                self.syntax.replace_all()
            return
        start = self.offset_at(range[0], range[1], encoding)
        end = self.offset_at(range[2], range[3], encoding)
        start, end = min(start, end), max(start, end)
        if self.syntax is not None:
            self.syntax.edit(EditSpan.of(self.text, start, end, text))
        self.text = self.text[:start] + text + self.text[end:]
        if self._starts is not None:
            self._starts = self._shifted_starts(self._starts, start, end, len(text))

    def _shifted_starts(self, starts: list[int], start: int, end: int, inserted: int) -> list[int]:
        """Line starts after [start, end) of the old text was replaced by `inserted` chars."""
        new_end = start + inserted
        # Old starts before `start` and after `end` keep their meaning: the chars on both
        # sides of them are untouched. Only [start, new_end] is rescanned, from one char
        # earlier so that a "\r" just before the edit can pair with an inserted "\n".
        lo = max(start - 1, 0)
        middle = (m.end() for m in _EOL.finditer(self.text, lo, new_end + 1))
        delta = new_end - end
        return (
            starts[: bisect_left(starts, max(start, 1))]
            + [p for p in middle if max(start, 1) <= p <= new_end]
            + [s + delta for s in starts[bisect_right(starts, end) :]]
        )

    def _get_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = _line_starts(self.text)
        return self._starts

    def _content_end(self, line: int) -> int:
        """Index where `line`'s text ends, before its terminator."""
        starts = self._get_starts()
        if line + 1 >= len(starts):
            return len(self.text)
        end = starts[line + 1] - 1  # the terminator's last char
        if self.text[end] == "\n" and end > starts[line] and self.text[end - 1] == "\r":
            end -= 1
        return end


class DocumentStore:
    """The open documents, by URI."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        doc = Document(uri, language_id, version, text)
        self._docs[uri] = doc
        return doc

    def change(
        self, uri: str, version: int, changes: list[tuple[str, Range | None]], encoding: Encoding
    ) -> Document | None:
        """Apply `changes` in order; None if `uri` isn't open."""
        doc = self._docs.get(uri)
        if doc is None:
            return None
        for text, range in changes:
            doc.apply_change(text, range, encoding)
        doc.version = version
        self._docs[uri] = self._docs.pop(uri)  # most recently changed last
        return doc

    def recent(self) -> list[Document]:
        """Open documents, the most recently opened or changed first."""
        return list(reversed(self._docs.values()))

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def __len__(self) -> int:
        return len(self._docs)
