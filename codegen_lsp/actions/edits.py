"""Edits from model output: minimal, in the file's own style, and checked before they are applied.

Code actions (add a docstring, add type annotations, rewrite a selection, fix,
generate tests) turn a model's text into document edits. Plain data in, plain
data out: str offsets into the document's text, no LSP types.
- `doc_comment`, `docstring_edit`: documentation the language's way, where it belongs;
- `minimal_edits`: a replacement as the smallest edits, so unchanged lines keep
  their markers, folds and diagnostics in the editor;
- `reindent`: model output moved to the file's indentation, tabs or spaces;
- `check_edits`: an edit that makes the file parse worse is refused;
- `test_file_for`: where the project would keep a new test file.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import textwrap
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Sequence

from tree_sitter import Node, Parser

from ..context.languages import normalise, parser_for
from ..context.syntax_guard import errors

WRAP_COLUMN = 80          # doc comment lines are wrapped to end before this column
DOCSTRING_ONE_LINE = 88   # a Python docstring stays on one line up to here (black's line length)
TAB_WIDTH = 4             # a tab's width, when indentation is measured


@dataclass(frozen=True)
class TextEdit:
    start: int      # str offset in the document's text
    end: int
    new_text: str


def apply(text: str, edits: Sequence[TextEdit]) -> str:
    """`text` with `edits` applied (any order, offsets into `text`); ValueError if two overlap."""
    pieces, cursor = [], 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):  # stable: insertions at one offset keep their order
        if edit.start < cursor or edit.end < edit.start or edit.end > len(text):
            raise ValueError(f"edit {edit.start}..{edit.end} overlaps another or lies outside the text")
        pieces += [text[cursor:edit.start], edit.new_text]
        cursor = edit.end
    pieces.append(text[cursor:])
    return "".join(pieces)


# ---------------------------------------------------------------- documentation

@dataclass(frozen=True)
class CommentStyle:
    opener: str   # a line of its own before the text ("" for none)
    prefix: str   # before each line of text
    closer: str   # a line of its own after the text ("" for none)


_BLOCK = CommentStyle("/**", " * ", " */")
COMMENT_STYLES = {
    **dict.fromkeys(["javascript", "javascriptreact", "typescript", "typescriptreact", "java", "c", "cpp"], _BLOCK),
    "go": CommentStyle("", "// ", ""),
    "rust": CommentStyle("", "/// ", ""),
    "lua": CommentStyle("", "--- ", ""),
    **dict.fromkeys(["bash", "shellscript", "sh"], CommentStyle("", "# ", "")),
}


def doc_comment(language: str, doc: str, indent: str, name: str = "") -> str:
    """`doc` (plain text, paragraphs split by blank lines) as the language's doc comment, lines at `indent`."""
    language = normalise(language)
    if language == "python":
        return _python_docstring(doc, indent)
    style = COMMENT_STYLES.get(language)
    if style is None:
        raise ValueError(f"no doc comment convention for {language!r}")
    if style is _BLOCK:
        doc = doc.replace("*/", "*\\/")  # would close the comment early
    if language == "go":
        doc = _named(doc.strip(), name)
    lines = _wrapped(doc, WRAP_COLUMN - _width(indent) - len(style.prefix))
    body = [style.prefix + line if line else style.prefix.rstrip() for line in lines]
    framed = ([style.opener] if style.opener else []) + body + ([style.closer] if style.closer else [])
    return "".join(f"{indent}{line}\n" for line in framed)


def _python_docstring(doc: str, indent: str) -> str:
    # r""" keeps backslashes literal (PEP 257); runs of quotes are escaped so they cannot end it.
    quotes = 'r"""' if "\\" in doc else '"""'
    text = re.sub(r'"{3,}', lambda run: '\\"' * len(run.group()), doc.strip())
    one_line = f"{indent}{quotes}{text}\"\"\""
    # A closing quote or backslash right before the closing quotes would merge with them.
    if "\n" not in text and not text.endswith(('"', "\\")) and _width(one_line) <= DOCSTRING_ONE_LINE:
        return one_line + "\n"
    lines = _wrapped(quotes + text, WRAP_COLUMN - _width(indent)) + ['"""']
    return "".join(f"{indent}{line}\n" if line else "\n" for line in lines)


def _named(doc: str, name: str) -> str:
    """Go's convention: the comment starts with the name it documents ("Returns x" -> "Add returns x")."""
    if not name or not doc or re.match(rf"{re.escape(name)}\b", doc):
        return doc
    first = doc[0].lower() if doc[1:2].islower() else doc[0]  # keep acronyms such as "HTTP"
    return f"{name} {first}{doc[1:]}"


def _wrapped(doc: str, width: int) -> list[str]:
    """The doc's lines, long ones wrapped at `width`, one blank line between paragraphs and none around."""
    width = max(width, 20)
    lines: list[str] = []
    for line in doc.strip().splitlines():
        line = line.rstrip()
        if not line:
            if lines and lines[-1]:
                lines.append("")
            continue
        lead = line[: len(line) - len(line.lstrip())]  # a list item's indentation stays on its wrapped lines
        lines += textwrap.wrap(line.strip(), width, initial_indent=lead, subsequent_indent=lead,
                               break_long_words=False, break_on_hyphens=False)
    return lines


def docstring_edit(language: str, text: str, definition_start: int, body_start: int, indent: str,
                   body_indent: str, doc: str, name: str = "", existing_doc: bool = False) -> TextEdit:
    """One edit adding `doc` to a definition: Python's as the body's first statement, others' above it.

    With `existing_doc`, the documentation already there (a docstring, or doc comment lines
    right above the definition) is replaced instead; if none is found, `doc` is inserted.
    """
    language = normalise(language)
    if language == "python":
        return _python_docstring_edit(text, body_start, body_indent, doc, existing_doc)
    comment = doc_comment(language, doc, indent, name)
    at = _line_start(text, definition_start)
    old_start = _comment_above(text, at, COMMENT_STYLES[language]) if existing_doc else at
    return TextEdit(old_start, at, comment)


def _python_docstring_edit(text: str, body_start: int, body_indent: str, doc: str, existing_doc: bool) -> TextEdit:
    docstring = doc_comment("python", doc, body_indent)
    at = _line_start(text, body_start)
    if text[at:body_start].strip():
        # `def f(): return 1`: the body moves to its own line, below the docstring.
        colon = text.rindex(":", 0, body_start)
        return TextEdit(colon + 1, body_start, "\n" + docstring + body_indent)
    old = _PYTHON_STRING.match(text, body_start) if existing_doc else None
    if old and not text[old.end():_line_end(text, old.end())].strip():
        return TextEdit(at, min(_line_end(text, old.end()) + 1, len(text)), docstring)
    return TextEdit(at, at, docstring)


_PYTHON_STRING = re.compile(r"""[rRuU]{0,2}(?P<q>\"\"\"|'''|"|')(?:\\.|(?!(?P=q))[^\\])*(?P=q)""", re.S)


def _comment_above(text: str, line_start: int, style: CommentStyle) -> int:
    """Where the doc comment right above `line_start` begins (`line_start` when there is none)."""
    return _block_comment_above(text, line_start) if style is _BLOCK else _line_comments_above(text, line_start, style)


def _block_comment_above(text: str, line_start: int) -> int:
    start = line_start
    while start > 0:
        above = _line_start(text, start - 1)
        line = text[above:start - 1].strip()
        if start == line_start and not line.endswith("*/"):
            return line_start
        if "/*" in line:
            return above if line.startswith("/**") else line_start  # a plain /* comment */ is not documentation
        start = above
    return line_start


def _line_comments_above(text: str, line_start: int, style: CommentStyle) -> int:
    marker, start = style.prefix.strip(), line_start
    while start > 0:
        above = _line_start(text, start - 1)
        line = text[above:start - 1].strip()
        if not line.startswith(marker) or line.startswith("#!"):
            break
        start = above
    return start


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end


def _width(line: str) -> int:
    return len(line.expandtabs(TAB_WIDTH))


# ---------------------------------------------------------------- minimal edits

def minimal_edits(text: str, start: int, end: int, replacement: str) -> list[TextEdit]:
    """Replacing text[start:end] by `replacement`, as the smallest edits: unchanged lines are left out."""
    old = text[start:end]
    head, tail = _common_lines(old, replacement)
    old_middle, new_middle = old[head:len(old) - tail], replacement[head:len(replacement) - tail]
    old_lines, new_lines = old_middle.splitlines(keepends=True), new_middle.splitlines(keepends=True)
    line_offsets = list(itertools.accumulate(map(len, old_lines), initial=0))
    base = start + head
    edits = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for (i, i_end), (j, j_end) in _hunks(i1, i2, j1, j2):
            old_part = old_middle[line_offsets[i]:line_offsets[i_end]]
            edits.append(_trimmed(base + line_offsets[i], old_part, "".join(new_lines[j:j_end])))
    return edits


def _hunks(i1: int, i2: int, j1: int, j2: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Old and new line ranges to edit: line by line when as many lines were rewritten, else one block."""
    if i2 - i1 == j2 - j1:
        return [((i, i + 1), (j, j + 1)) for i, j in zip(range(i1, i2), range(j1, j2))]
    return [((i1, i2), (j1, j2))]


def _common_lines(a: str, b: str) -> tuple[int, int]:
    """The common prefix and suffix cut to whole lines, so the lines between still line up for the diff."""
    head, tail = _common_ends(a, b)
    head = a.rfind("\n", 0, head) + 1
    suffix = a[len(a) - tail:]
    return head, len(suffix) - suffix.find("\n") - 1 if "\n" in suffix else 0


def _trimmed(at: int, old: str, new: str) -> TextEdit:
    """Replacing `old` (at offset `at`) by `new`, less the characters both begin and end with."""
    head, tail = _common_ends(old, new)
    return TextEdit(at + head, at + len(old) - tail, new[head:len(new) - tail])


def _common_ends(a: str, b: str) -> tuple[int, int]:
    """Lengths of the common prefix and of the common suffix of what remains after it."""
    head = len(os.path.commonprefix([a, b]))
    tail = len(os.path.commonprefix([a[head:][::-1], b[head:][::-1]]))
    return head, tail


def reindent(code: str, indent: str) -> str:
    """Model output at `indent`: its common indentation removed, nesting kept in the file's tabs or spaces."""
    lines = code.split("\n")
    depths = [_width(_leading(line)) for line in lines if line.strip()]
    if not depths:
        return "\n".join("" for _ in lines)
    base = min(depths)
    # The model's indentation step: its smallest nesting (4 spaces, 2 spaces, a tab...).
    step = min((depth - base for depth in depths if depth > base), default=TAB_WIDTH)
    uses_tabs = "\t" in indent

    def moved(line: str) -> str:
        if not line.strip():
            return ""
        depth = _width(_leading(line)) - base
        nesting = "\t" * (depth // step) + " " * (depth % step) if uses_tabs else " " * depth
        return indent + nesting + line.lstrip(" \t")

    return "\n".join(moved(line) for line in lines)


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


# ---------------------------------------------------------------- syntax check

@dataclass(frozen=True)
class EditCheck:
    ok: bool
    message: str   # "" when ok, else why the edit is refused


@lru_cache(maxsize=None)
def _parser(language: str) -> Parser | None:
    return parser_for(language)


def check_edits(language: str, text: str, edits: Sequence[TextEdit]) -> EditCheck:
    """Refuses edits after which the text has more syntax errors than before (ok without a grammar)."""
    parser = _parser(normalise(language))
    if parser is None:
        return EditCheck(True, "")
    before = parser.parse(text.encode("utf-8", "surrogatepass")).root_node
    after = parser.parse(apply(text, edits).encode("utf-8", "surrogatepass")).root_node
    added = errors(after) - errors(before)
    if added <= 0:
        return EditCheck(True, "")
    line = _first_new_error_row(before, after, text, edits) + 1
    noun = "syntax error" if added == 1 else "syntax errors"
    return EditCheck(False, f"the edit would add {added} {noun} at line {line}: not applied")


def _error_spans(node: Node) -> Iterator[tuple[int, int]]:
    """(first row, last row) of the error and missing nodes `errors` counts, in document order."""
    if not node.has_error and not node.is_missing:
        return
    if node.is_error or node.is_missing:
        yield node.start_point.row, node.end_point.row
    for child in node.children:
        yield from _error_spans(child)


def _first_new_error_row(before: Node, after: Node, text: str, edits: Sequence[TextEdit]) -> int:
    """Where the first error that is not an old one (moved by the lines the edits add) points to."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    deltas = [e.new_text.count("\n") - text.count("\n", e.start, e.end) for e in ordered]
    old_end_rows = [text.count("\n", 0, e.end) for e in ordered]
    old = Counter(row + sum(d for end_row, d in zip(old_end_rows, deltas) if end_row < row)
                  for row, _ in _error_spans(before))
    # Rows where each edit starts, once the edits are applied.
    edit_rows = [text.count("\n", 0, e.start) + sum(deltas[:i]) for i, e in enumerate(ordered)]
    for first, last in _error_spans(after):
        if old[first] > 0:
            old[first] -= 1
            continue
        # Error recovery often wraps a whole region, from far above, in one ERROR node: the
        # edit inside it says better where the problem is.
        return next((row for row in edit_rows if first < row <= last), first)
    return after.end_point.row


# ---------------------------------------------------------------- test files

Convention = Callable[[Path, PurePosixPath, str], tuple[PurePosixPath, str, str]]  # -> folder, stem, tail


def test_file_for(root: Path, relative_path: str, language: str, name: str) -> str:
    """Workspace-relative path of a NEW test file for `name` in `relative_path`, by the project's convention."""
    root, source = Path(root), PurePosixPath(relative_path)
    convention = _CONVENTIONS.get(normalise(language), _elsewhere)
    folder, stem, tail = convention(root, source, name)
    # Never overwrite: test_x.py, then test_x_2.py, test_x_3.py...
    candidates = (folder / f"{stem}{'' if n == 1 else f'_{n}'}{tail}" for n in itertools.count(1))
    return next(path for path in candidates if not (root / path).exists()).as_posix()


test_file_for.__test__ = False  # not a pytest test, whatever module imports it


def _python(root: Path, source: PurePosixPath, name: str):
    module = source.parent.name if source.stem == "__init__" else source.stem
    tests = _nearest_tests_folder(root, source.parent)
    if tests is None and _tests_beside(root / source.parent):
        return source.parent, f"test_{module}", ".py"
    return tests or PurePosixPath("tests"), f"test_{module}", ".py"


def _nearest_tests_folder(root: Path, folder: PurePosixPath) -> PurePosixPath | None:
    for above in [folder, *folder.parents]:
        for tests in ("tests", "test"):
            if (root / above / tests).is_dir():
                return above / tests
    return None


def _tests_beside(folder: Path) -> bool:
    return any(folder.glob("test_*.py")) or any(folder.glob("*_test.py"))


def _ecmascript(root: Path, source: PurePosixPath, name: str):
    beside = source.parent / "__tests__"
    folder = beside if (root / beside).is_dir() else source.parent
    return folder, source.stem, f".test{source.suffix}"


def _go(root: Path, source: PurePosixPath, name: str):
    return source.parent, source.stem, "_test.go"


def _rust(root: Path, source: PurePosixPath, name: str):
    # Integration tests live in the crate's tests/ folder, beside its Cargo.toml.
    crate = next((f for f in [source.parent, *source.parent.parents] if (root / f / "Cargo.toml").is_file()),
                 PurePosixPath("."))
    stem = source.parent.name if source.stem == "mod" else source.stem
    suffix = re.sub(r"\W+", "_", name).strip("_").lower()
    return crate / "tests", (f"{stem}_{suffix}" if suffix else stem), ".rs"


def _java(root: Path, source: PurePosixPath, name: str):
    parts = source.parent.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == ("src", "main", "java"):  # Maven/Gradle: the test mirrors the package
            return PurePosixPath(*parts[:i], "src", "test", "java", *parts[i + 3:]), f"{source.stem}Test", ".java"
    return source.parent, f"{source.stem}Test", ".java"


def _elsewhere(root: Path, source: PurePosixPath, name: str):
    """Languages without one convention (C, C++, Lua, Bash): the nearest tests folder, else tests/."""
    folder = _nearest_tests_folder(root, source.parent) or PurePosixPath("tests")
    return folder, f"test_{source.stem}", source.suffix


_CONVENTIONS: dict[str, Convention] = {
    "python": _python, "go": _go, "rust": _rust, "java": _java,
    **dict.fromkeys(["javascript", "javascriptreact", "typescript", "typescriptreact"], _ecmascript),
}
