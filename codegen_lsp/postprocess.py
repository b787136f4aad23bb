"""Clean a raw fill-in-the-middle completion into the text an editor shows as ghost text at the cursor."""

from __future__ import annotations

import io
import itertools
import re
import string
from collections import Counter
from dataclasses import dataclass

__all__ = ["PostprocessInput", "postprocess"]

BRACKET_PAIRS = ("()", "[]", "{}")
QUOTES = "\"'`"
CLOSERS = ")]}" + QUOTES
DEFAULT_INDENT = "    "
# Any other step between indentation levels is alignment, not an indentation unit.
PLAUSIBLE_INDENT_WIDTHS = (2, 3, 4, 8)
# Indentation style is local and the prefix may be a whole large file.
INDENT_SAMPLE_LINES = 400
REPEATED_CHUNK = re.compile(r"(.{1,8}?)\1{7,}", re.DOTALL)


@dataclass(frozen=True)
class PostprocessInput:
    """A decoded completion for the hole at the cursor and the document text on either side of it."""

    raw: str
    prefix: str
    suffix: str
    multiline: bool
    special_tokens: tuple[str, ...] = ()
    stop_sequences: tuple[str, ...] = ()


def postprocess(inp: PostprocessInput) -> str:
    """Return the text to insert at the cursor, or "" when nothing worth showing remains."""
    cursor_line = inp.prefix[inp.prefix.rfind("\n") + 1 :]
    rest_of_line = inp.suffix[: _line_end(inp.suffix)]
    text = _cut_at_markers(inp.raw, inp.special_tokens, inp.stop_sequences)
    if not inp.multiline:
        text = _first_line(text)
    text = _reindent(text, cursor_line, _document_indent_unit(inp.prefix, inp.suffix))
    if inp.multiline:
        text = _cut_repetition(_cut_at_scope_end(text, cursor_line))
    body = text.rstrip()
    # Trailing whitespace is never shown, and left in place it would hide an overlap with the suffix.
    ended_line = "\n" in text[len(body) :]
    body = _trim_suffix_overlap(body, cursor_line, inp.suffix, rest_of_line)
    body = _drop_autoclosed_closers(body, cursor_line, rest_of_line)
    return _finish(body, ended_line, cursor_line, rest_of_line)


def _line_end(text: str) -> int:
    # Not split or partition: those copy the rest of a possibly very large suffix.
    end = text.find("\n")
    return len(text) if end < 0 else end


# Step 1: markers.


def _cut_at_first(text: str, markers: tuple[str, ...]) -> str:
    found = [at for marker in markers if marker and (at := text.find(marker)) >= 0]
    return text[: min(found)] if found else text


def _cut_at_markers(text: str, special_tokens: tuple[str, ...], stop_sequences: tuple[str, ...]) -> str:
    # A stop sequence found after a special token belongs to text that was never part of the hole.
    return _cut_at_first(_cut_at_first(text, special_tokens), stop_sequences)


# Step 2: single-line mode.


def _first_line(text: str) -> str:
    # A completion that opens with a line break has nothing for the cursor's own line.
    return text.partition("\n")[0].rstrip("\r")


# Step 3: indentation.


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _detect_indent_unit(lines: list[str]) -> str | None:
    """The indentation unit these lines use, or None when they give no clear evidence."""
    indents = [_indent_of(line) for line in lines if line.strip()]
    indented = [indent for indent in indents if indent]
    if indented and 2 * sum(indent.startswith("\t") for indent in indented) > len(indented):
        return "\t"
    widths = [None if "\t" in indent else len(indent) for indent in indents]
    steps = Counter(abs(a - b) for a, b in zip(widths, widths[1:]) if None not in (a, b) and a != b)
    if not steps:
        return None
    step = max(steps, key=lambda width: (steps[width], -width))
    return " " * step if step in PLAUSIBLE_INDENT_WIDTHS else None


def _document_indent_unit(prefix: str, suffix: str) -> str:
    before = prefix.rsplit("\n", INDENT_SAMPLE_LINES)
    after = suffix.split("\n", INDENT_SAMPLE_LINES)
    # A capped split leaves the whole unsplit remainder in its far element.
    before = before[1:] if len(before) > INDENT_SAMPLE_LINES else before
    after = after[:-1] if len(after) > INDENT_SAMPLE_LINES else after
    cursor_line = before[-1] + after[0]
    # An auto-indented but still empty cursor line is evidence too; keep it from counting as blank.
    lines = before[:-1] + [cursor_line if cursor_line.strip() else cursor_line + "_"] + after[1:]
    return _detect_indent_unit(lines) or DEFAULT_INDENT


def _convert_indent(line: str, own_unit: str, doc_unit: str) -> str:
    indent = _indent_of(line)
    body = line[len(indent) :]
    if own_unit == "\t":
        levels = len(indent) - len(indent.lstrip("\t"))
        return doc_unit * levels + indent[levels:] + body
    if "\t" in indent:
        return line
    levels, alignment = divmod(len(indent), len(own_unit))
    return doc_unit * levels + " " * alignment + body


def _reindent(text: str, cursor_line: str, doc_unit: str) -> str:
    """Rewrite lines 2..n from the completion's own indentation unit to the document's."""
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    own_unit = _detect_indent_unit([cursor_line + lines[0], *lines[1:]])
    if own_unit is None or own_unit == doc_unit:
        return text
    return "\n".join([lines[0]] + [_convert_indent(line, own_unit, doc_unit) for line in lines[1:]])


# Step 3b, multi-line: where the completion should have stopped.


def _cut_at_scope_end(text: str, cursor_line: str) -> str:
    """Stop before the first later line that dedents past the cursor's line: it belongs to an
    enclosing scope, which the suffix already holds (a closing brace) or the user did not ask for."""
    base = len(_indent_of(cursor_line).expandtabs(8))
    if not base:
        return text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() and len(_indent_of(lines[i]).expandtabs(8)) < base:
            return "\n".join(lines[:i])
    return text


def _cut_repetition(text: str) -> str:
    """Stop before a line that repeats the line above it: the onset of a decoding loop."""
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() and lines[i] == lines[i - 1]:
            return "\n".join(lines[:i])
    return text


# Steps 4 and 5: text the document already has after the cursor.


def _closer_surplus(completion: str, cursor_line: str, rest_of_line: str) -> dict[str, int]:
    """Per closer, how many more the completion closes than the cursor line leaves open."""
    around = cursor_line + rest_of_line
    surplus = {}
    for opener, closer in BRACKET_PAIRS:
        left_open = max(0, around.count(opener) - around.count(closer))
        surplus[closer] = completion.count(closer) - completion.count(opener) - left_open
    for quote in QUOTES:
        surplus[quote] = (around.count(quote) + completion.count(quote)) % 2
    return surplus


def _can_remove(removed: str, surplus: dict[str, int]) -> bool:
    """Whether removing this text from the completion only takes away closers it has too many of."""
    brackets_ok = all(removed.count(c) - removed.count(o) <= max(0, surplus[c]) for o, c in BRACKET_PAIRS)
    return brackets_ok and all(removed.count(q) % 2 <= surplus[q] for q in QUOTES)


def _upcoming_lines(cursor_line: str, suffix: str, count: int) -> list[str]:
    """The first `count` non-blank whole lines after the cursor, right-stripped."""
    lines = io.StringIO(suffix)
    first = next(lines, "")
    # The cursor line is a whole line only when nothing but indentation precedes the cursor.
    first = cursor_line + first if not cursor_line.strip() else ""
    lines = (line.rstrip() for line in itertools.chain([first], lines))
    return list(itertools.islice(filter(None, lines), count))


def _trim_overlapping_lines(text: str, cursor_line: str, suffix: str, rest_of_line: str) -> str:
    lines = text.split("\n")
    own = [i for i in range(1, len(lines)) if lines[i].strip()]
    ahead = _upcoming_lines(cursor_line, suffix, len(own))
    surplus = _closer_surplus(text, cursor_line, rest_of_line)
    for count in range(min(len(own), len(ahead)), 0, -1):
        start = own[-count]
        if lines[start].rstrip() != ahead[0]:
            continue
        same = [lines[i].rstrip() for i in own[-count:]] == ahead[:count]
        if same and _can_remove("\n".join(lines[start:]), surplus):
            return "\n".join(lines[:start]) + "\n"
    return text


def _trim_overlapping_text(text: str, cursor_line: str, suffix: str, rest_of_line: str) -> str:
    surplus = _closer_surplus(text, cursor_line, rest_of_line)
    for size in range(min(len(text), len(suffix)), 1, -1):
        if suffix[size - 1] != text[-1] or not text.endswith(overlap := suffix[:size]):
            continue
        # Overlaps of only closers and whitespace are left to the closer step, which weighs brackets.
        if overlap.strip(CLOSERS + string.whitespace) and _can_remove(overlap, surplus):
            return text[:-size]
    return text


def _trim_suffix_overlap(text: str, cursor_line: str, suffix: str, rest_of_line: str) -> str:
    """Drop the end of the completion where it repeats what follows the cursor."""
    text = _trim_overlapping_lines(text, cursor_line, suffix, rest_of_line)
    return _trim_overlapping_text(text, cursor_line, suffix, rest_of_line)


def _autoclosed_cut(body: str, cursor_line: str, rest_of_line: str) -> int:
    closers_ahead = len(rest_of_line) - len(rest_of_line.lstrip(CLOSERS))
    surplus = _closer_surplus(body, cursor_line, rest_of_line)
    for size in range(closers_ahead, 0, -1):
        if body.endswith(rest_of_line[:size]) and _can_remove(rest_of_line[:size], surplus):
            return size
    return 0


def _drop_autoclosed_closers(text: str, cursor_line: str, rest_of_line: str) -> str:
    """Drop trailing closers the editor already put after the cursor, unless the completion needs them."""
    body = text.rstrip()
    # Repeat until nothing is cut so running the step on its own output changes nothing.
    while size := _autoclosed_cut(body, cursor_line, rest_of_line):
        body = body[:-size]
    return body + text[len(text.rstrip()) :]


# Step 6: junk.


def _is_repetitive(text: str) -> bool:
    lines = [line.rstrip() for line in text.split("\n") if line.strip()]
    if 2 * (len(lines) - len(set(lines))) > len(lines):
        return True
    runs = (len(match.group(0)) for match in REPEATED_CHUNK.finditer(text) if match.group(1).strip())
    return 10 * max(runs, default=0) > 6 * len(text)


def _finish(text: str, ended_line: bool, cursor_line: str, rest_of_line: str) -> str:
    """Strip trailing whitespace; return "" for blank or degenerate output."""
    body = text.rstrip()
    if not body.strip() or _is_repetitive(body):
        return ""
    ended_line = ended_line or "\n" in text[len(body) :]
    # Code after a cursor in the indentation must stay on its own line if the completion ended one.
    if ended_line and not cursor_line.strip() and rest_of_line.strip():
        return body + "\n" + cursor_line
    return body
