"""Random inputs for the protocol fuzzer (tests/lsp_fuzz.py): the documents it edits, the text it
types and the positions and ranges it sends, drawn from one seeded random.Random.

Positions lean on the edges: line ends, past a line's end, past the last line, inside a code point.
Each draw also names the edge cases it hit (`features`), so a run can show what it covered.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from tests import lsp_fuzz_model as model
from tests.conftest import FIT_TEXT

# (language id, file name, first text). The Python file is what the test model was fitted to, so
# its completions are mostly non-empty and the checks of completion items have items to check.
DOCUMENTS = (
    ("python", "src/shapes.py", FIT_TEXT.read_text()),
    ("javascript", "web/app.js", "// Café 😋 app\nfunction add(a, b) {\n  return a + b;\n}\r\n"
                                 "const names = ['中文', 'é'];\r\nexport { add };\n"),
    ("go", "cmd/main.go", "package main\n\nimport \"fmt\"\n\n// Grüße 🎉\nfunc main() {\n\tfmt.Println(\"日本語\")\n}\n"),
    ("rust", "src/lib.rs", "/// Ünïcode 👩‍💻\npub fn add(a: i32, b: i32) -> i32 {\r\n    a + b\r\n}\r\n"),
    ("cobol", "legacy/prog.cob", "       IDENTIFICATION DIVISION.\r       PROGRAM-ID. HÉLLO.\r       PROCEDURE DIVISION.\r"),
)
# Files only on disk, for the workspace index.
WORKSPACE_FILES = {
    "src/geometry.py": "from shapes import Point\n\n\ndef origin():\n    return Point(0, 0)\n",
    "web/util.js": "export function twice(x) {\n  return 2 * x;\n}\n",
    "README.md": "# Fuzz workspace\n",
}
# Typed pieces and their weights: code, whitespace, every line end, multi-byte characters
# (astral emoji, a ZWJ sequence, CJK, accents precomposed and combining) and characters that
# str.splitlines (but not LSP) treats as line ends.
PIECES = (
    ("x", 6), ("value", 3), ("def f(a):", 1), ("return a + 1", 1), ("function g() {", 1), ("}", 1),
    ("fn main() {", 1), ("    ", 3), ("\t", 2), ("\n", 4), ("\r\n", 3), ("\r", 2), ("😋", 2), ("🎉", 1),
    ("👩‍💻", 1), ("中文", 2), ("日本語", 1), ("é", 2), ("ñ", 1), ("e\u0301", 1), ("\u2028", 1), ("\x85", 1),
    ("\x0c", 1), ("(", 2), (")", 2), (".", 2), (":", 1), ("'", 1), ('"', 1), ("# ", 1), ("// ", 1), (" ", 4),
)
DEFINITION = re.compile(r"\b(def|class|function|func|fn)\b")  # lines where code actions have a target
MAX_CHARS = 3000  # past this size, edits lean to deleting: documents stay small and checks cheap
HUGE = 2**31 - 1  # the largest uinteger: a position far past anything


@dataclass
class FuzzDocument:
    uri: str
    language: str
    text: str | None = None  # None while closed
    version: int = 0
    first_text: str = ""
    last_change: str = ""  # the text before the last edit and the edit, to show with a mismatch


def text_features(text: str) -> set[str]:
    """The edge cases a typed text holds, by name."""
    found = set()
    if any(ord(c) > 0xFFFF for c in text):
        found.add("astral (surrogate pair)")
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        found.add("CJK")
    if any(0xC0 <= ord(c) <= 0x17F or c == "\u0301" for c in text):
        found.add("accented")
    if "\r\n" in text:
        found.add("CRLF")
    if "\r" in text.replace("\r\n", ""):
        found.add("lone CR")
    if "\t" in text:
        found.add("tab")
    return found


def make_workspace(root: Path) -> None:
    """The fuzzed documents' first texts and a few more files, on disk for the workspace index."""
    files = {**{name: text for _, name, text in DOCUMENTS}, **WORKSPACE_FILES}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(text.encode())


class Inputs:
    """Texts, positions and changes for one session, in its negotiated encoding's code units."""

    def __init__(self, rng: random.Random, encoding: str) -> None:
        self.rng, self.encoding = rng, encoding
        self._pieces = [p for p, _ in PIECES]
        self._weights = [w for _, w in PIECES]

    def typed(self, most: int = 6) -> str:
        return "".join(self.rng.choices(self._pieces, self._weights, k=self.rng.randint(0, most)))

    def full_text(self, doc: FuzzDocument) -> str:
        """A whole new text: the first one, a slice of the current one, typing, or nothing."""
        kind = self.rng.random()
        if kind < 0.4:
            return doc.first_text
        if kind < 0.7 and doc.text:
            a, b = sorted(self.rng.randrange(len(doc.text) + 1) for _ in range(2))
            return doc.text[a:b] + self.typed()
        return "" if kind < 0.8 else self.typed(20)

    def position(self, text: str, features: set[str]) -> tuple[int, int]:
        """A (line, character) in the document's code units, leaning on the edges."""
        spans = model.lines(text)
        pick = self.rng.random()
        if pick < 0.03:
            features.add("past the last line")
            return len(spans) + self.rng.randrange(3), self.rng.randrange(20)
        if pick < 0.04:
            features.add("huge position")
            return self.rng.choice([(HUGE, HUGE), (0, HUGE), (HUGE, 0)])
        line = self.rng.randrange(len(spans))
        start, end = spans[line]
        content = text[start:end]
        length = model.units(content, self.encoding)
        wide = [i for i, c in enumerate(content) if model.width(c, self.encoding) > 1]
        pick = self.rng.random()
        if pick < 0.12:
            features.add("past the line's end")
            return line, length + 1 + self.rng.randrange(8)
        if pick < 0.27 and wide:
            i = self.rng.choice(wide)
            features.add("inside a code point")
            inside = self.rng.randrange(1, model.width(content[i], self.encoding))
            return line, model.units(content[:i], self.encoding) + inside
        if pick < 0.35:
            return line, length
        return line, model.units(content[: self.rng.randrange(len(content) + 1)], self.encoding)

    def in_definition(self, text: str, features: set[str]) -> tuple[int, int]:
        """A cursor on a line that starts a definition, where code actions are listed; any position
        when there is none."""
        spans = model.lines(text)
        starts = [n for n, (s, e) in enumerate(spans) if DEFINITION.search(text, s, e)]
        if not starts:
            return self.position(text, features)
        line = self.rng.choice(starts)
        s, e = spans[line]
        return line, model.units(text[s : s + self.rng.randrange(e - s + 1)], self.encoding)

    def range(self, text: str, features: set[str]) -> tuple[int, int, int, int]:
        start = self.position(text, features)
        pick = self.rng.random()
        if pick < 0.3:
            end = start
        elif pick < 0.9:  # forwards on the same line or a few lines down
            spans = model.lines(text)
            line = min(start[0] + (0 if pick < 0.6 else self.rng.randrange(4)), len(spans) - 1)
            s, e = spans[line]
            end = max(start, (line, model.units(text[s : s + self.rng.randrange(e - s + 1)], self.encoding)))
        else:
            end = self.position(text, features)
            if end < start:
                features.add("reversed range")
        return (*start, *end)

    def change(self, text: str, features: set[str]) -> tuple[str, tuple[int, int, int, int] | None]:
        """One content change of `text`: mostly a range, sometimes the whole text."""
        if self.rng.random() < 0.05:
            features.add("full text in a multi-change")
            return self.typed(10), None
        if len(text) > MAX_CHARS:
            features.add("big deletion")
            return "", (0, 0, self.rng.randrange(len(model.lines(text))), HUGE)
        where = self.range(text, features)
        new_text = self.typed()
        start = model.offset(text, where[0], where[1], self.encoding)
        end = model.offset(text, where[2], where[3], self.encoding)
        features.add("insertion" if start == end else "deletion" if not new_text else "replacement")
        features.update(text_features(new_text))
        return new_text, where


# -- requests and changes as lsprotocol types ------------------------------------------------

def negotiated_encoding(kind: types.PositionEncodingKind | str | None) -> str:
    """The negotiated position encoding; UTF-16 when the server names none (the LSP default)."""
    return str(getattr(kind, "value", kind) or "utf-16")


def lsp_range(line: int, character: int, end_line: int, end_character: int) -> types.Range:
    return types.Range(start=types.Position(line=line, character=character),
                       end=types.Position(line=end_line, character=end_character))


def content_change(text: str, where: tuple[int, int, int, int] | None) -> types.TextDocumentContentChangeEvent:
    if where is None:
        return types.TextDocumentContentChangeWholeDocument(text=text)
    return types.TextDocumentContentChangePartial(range=lsp_range(*where), text=text)


def code_action_params(uri: str, line: int, char: int, end_line: int, end_char: int,
                       diagnostics: list[types.Diagnostic]) -> types.CodeActionParams:
    return types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri=uri),
                                  range=lsp_range(line, char, end_line, end_char),
                                  context=types.CodeActionContext(diagnostics=diagnostics))


def completion_params(uri: str, kind: str, line: int, character: int):
    document, position = types.TextDocumentIdentifier(uri=uri), types.Position(line=line, character=character)
    if kind == "completion":
        return types.TEXT_DOCUMENT_COMPLETION, types.CompletionParams(
            text_document=document, position=position,
            context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked))
    trigger = types.InlineCompletionTriggerKind.Automatic if kind == "inline automatic" \
        else types.InlineCompletionTriggerKind.Invoked
    return types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionParams(
        text_document=document, position=position, context=types.InlineCompletionContext(trigger_kind=trigger))
