"""The protocol fuzzer's reference model (tests/lsp_fuzz.py): LSP positions and text edits
written from the specification, one character at a time, independent of codegen_lsp/documents.py
(tests/unit/test_documents.py checks the document store against it too); and the semantic checks
of the server's responses against it.

The rules, the same as the server's (codegen_lsp/documents.py):
- Only "\\n", "\\r\\n" and "\\r" end a line; "\\u2028", "\\x85", "\\x0c" and the like do not.
- A character past its line's end means that line's end, before its terminator; a line past
  the last line means the end of the document.
- A position inside a code point (between the two halves of a UTF-16 surrogate pair, or inside
  a multi-byte UTF-8 sequence) rounds down to the start of that code point, so no edit can split
  a character.
- A range whose end comes before its start covers the text between the two.
- The changes of one didChange apply in order, each to the text the previous one left.
"""

from __future__ import annotations

from lsprotocol import types

def width(char: str, encoding: str) -> int:
    """Code units of one code point in `encoding`."""
    point = ord(char)
    if encoding == "utf-32":
        return 1
    if encoding == "utf-16":
        return 2 if point > 0xFFFF else 1
    return 1 if point < 0x80 else 2 if point < 0x800 else 3 if point < 0x10000 else 4


def units(text: str, encoding: str) -> int:
    return sum(width(c, encoding) for c in text)


def lines(text: str) -> list[tuple[int, int]]:
    """(start, end before the terminator) of every line; there is always at least one."""
    out, start, i = [], 0, 0
    while i < len(text):
        if text[i] in "\r\n":
            out.append((start, i))
            i += 2 if text.startswith("\r\n", i) else 1
            start = i
        else:
            i += 1
    out.append((start, len(text)))
    return out


def offset(text: str, line: int, character: int, encoding: str) -> int:
    """Index into `text` of an LSP position, clamped and rounded down as the module docstring says."""
    spans = lines(text)
    line, character = max(0, line), max(0, character)  # negative: not LSP, but unit tests ask
    if line >= len(spans):
        return len(text)
    i, end = spans[line]
    used = 0
    while i < end and used + width(text[i], encoding) <= character:
        used += width(text[i], encoding)
        i += 1
    return i


def position(text: str, index: int, encoding: str) -> tuple[int, int]:
    """The LSP position of an index into `text` (an index inside a "\\r\\n" means its line's end)."""
    spans = lines(text)
    index = min(max(0, index), len(text))
    for number, (start, end) in enumerate(spans):
        next_start = spans[number + 1][0] if number + 1 < len(spans) else len(text) + 1
        if index < next_start:
            return number, units(text[start : min(index, end)], encoding)
    raise AssertionError("unreachable")


def clamp(text: str, line: int, character: int, encoding: str) -> tuple[int, int]:
    """Where the server puts a client's position: in the document, on a code point boundary."""
    return position(text, offset(text, line, character, encoding), encoding)


def apply(text: str, new_text: str, where: tuple[int, int, int, int] | None, encoding: str) -> str:
    """One content change: `where` (start line/char, end line/char) replaced; None replaces all."""
    if where is None:
        return new_text
    start = offset(text, where[0], where[1], encoding)
    end = offset(text, where[2], where[3], encoding)
    start, end = min(start, end), max(start, end)
    return text[:start] + new_text + text[end:]


def is_exact(text: str, pos: types.Position, encoding: str) -> bool:
    """Whether a position the server sent names a point of the document exactly: an existing
    line, at most its length, not inside a code point."""
    spans = lines(text)
    if pos.line >= len(spans):
        return False
    return clamp(text, pos.line, pos.character, encoding) == (pos.line, pos.character)


def range_problems(text: str, span: types.Range, encoding: str, what: str) -> list[str]:
    problems = [f"{what}: {p} {name} is not a position in the document (or splits a code point)"
                for name, p in (("start", span.start), ("end", span.end)) if not is_exact(text, p, encoding)]
    if (span.start.line, span.start.character) > (span.end.line, span.end.character):
        problems.append(f"{what}: start {span.start} after end {span.end}")
    return problems


def inline_problems(text: str, result, cursor: tuple[int, int], encoding: str) -> list[str]:
    """An inline completion answer: items with string insert texts at the (clamped) cursor."""
    if not isinstance(result, types.InlineCompletionList):
        return [f"inline completion: {type(result).__name__} is not an InlineCompletionList"]
    problems = []
    for item in result.items:
        if not isinstance(item.insert_text, str):
            problems.append(f"inline completion: insert text {item.insert_text!r} is not a string")
        if item.range is not None:
            problems += range_problems(text, item.range, encoding, "inline completion range")
            if (item.range.start.line, item.range.start.character) != cursor:
                problems.append(f"inline completion: range {item.range} does not start at the cursor {cursor}")
    return problems


def completion_problems(text: str, result, cursor: tuple[int, int], encoding: str) -> list[str]:
    """A completion list: each text edit on one line, ending at the cursor, replacing a prefix of its new text."""
    if not isinstance(result, types.CompletionList):
        return [f"completion: {type(result).__name__} is not a CompletionList"]
    problems = []
    for item in result.items:
        edit = item.text_edit
        if not isinstance(edit, types.TextEdit):
            problems.append(f"completion: text edit {edit!r} is not a TextEdit")
            continue
        found = range_problems(text, edit.range, encoding, "completion edit")
        if not found and (edit.range.start.line != edit.range.end.line
                          or (edit.range.end.line, edit.range.end.character) != cursor):
            found.append(f"completion: edit range {edit.range} is not on the cursor's line ending at {cursor}")
        replaced = text_in(text, edit.range, encoding)
        if not found and not edit.new_text.startswith(replaced):
            found.append(f"completion: new text {edit.new_text!r} does not continue the word {replaced!r}")
        problems += found
    return problems


def code_action_problems(text: str, result, kinds: set[str], uri: str) -> list[str]:
    """Listed code actions: titled, of an advertised kind, no edit yet (the model runs in resolve)."""
    if not isinstance(result, (list, tuple)):  # lsprotocol's converter makes arrays tuples
        return [f"code action: {type(result).__name__} is not a list"]
    problems = []
    for action in result:
        if not isinstance(action, types.CodeAction):
            problems.append(f"code action: {type(action).__name__} is not a CodeAction")
        elif not action.title or action.kind not in kinds or action.edit is not None:
            problems.append(f"code action: {action.title!r} kind {action.kind} edit {action.edit}")
        elif not isinstance(action.data, dict) or action.data.get("uri") != uri:
            problems.append(f"code action: data {action.data!r} does not name {uri}")
    return problems


def edit_problems(text: str, version: int, uri: str, edit: types.WorkspaceEdit | None, encoding: str) -> list[str]:
    """A resolved action's edit of the document: versioned as the model's, ranges in the text,
    not overlapping, so that it applies cleanly. New files (CreateFile and its edit) pass."""
    if edit is None:
        return []
    problems, spans = [], []
    for change in edit.document_changes or []:
        if not isinstance(change, types.TextDocumentEdit) or change.text_document.uri != uri:
            continue
        if change.text_document.version != version:
            problems.append(f"action edit: version {change.text_document.version}, the document's is {version}")
        for item in change.edits:
            problems += range_problems(text, item.range, encoding, "action edit")
            spans.append((offset(text, item.range.start.line, item.range.start.character, encoding),
                          offset(text, item.range.end.line, item.range.end.character, encoding)))
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        problems.append(f"action edit: overlapping edits {spans}")
    return problems


def text_in(text: str, span: types.Range, encoding: str) -> str:
    start = offset(text, span.start.line, span.start.character, encoding)
    return text[start : offset(text, span.end.line, span.end.character, encoding)]


def difference(expected: str, got: str) -> str:
    """Where two texts first differ, with a little of each around it."""
    at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    around = slice(max(0, at - 10), at + 10)
    return (f"{len(expected)} chars expected, {len(got)} got; first difference at {at}: "
            f"expected {expected[around]!a}, got {got[around]!a}")
