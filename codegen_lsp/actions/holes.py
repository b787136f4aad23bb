"""How each code action asks a base model: the document with a hole where the answer goes.

A FIM code model was never taught to follow instructions, but it has read millions of
docstrings, annotated signatures and test files. So each action becomes a hole it can
fill: between a docstring's quotes, after a parameter's colon, in place of a selection
with the instruction written as a comment above it, or at the end of a new test file
whose first lines are ours. The completion pipeline then adds repository context and
fits the window as it does for completions (`CompletionPipeline.fill`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from ..context.assemble import comment_prefix

HOLE_TOKENS = {"docstring": 96, "annotation": 16, "return": 16, "rewrite": 384, "tests": 256}


@dataclass(frozen=True)
class Hole:
    text: str                 # the document as the model sees it, the hole included
    offset: int               # where the answer goes
    max_new_tokens: int
    stop: tuple[str, ...]     # the answer ends at the first of these


def line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def insert(text: str, offset: int, before: str, after: str, max_new_tokens: int, stop: tuple[str, ...]) -> Hole:
    """A hole at `offset` with `before` and `after` written around it."""
    return Hole(text[:offset] + before + after + text[offset:], offset + len(before), max_new_tokens, stop)


def docstring_hole(language: str, text: str, definition_start: int, body_start: int, indent: str,
                   body_indent: str, name: str) -> Hole:
    """The documentation hole of a definition, the way its language writes documentation."""
    tokens = HOLE_TOKENS["docstring"]
    if language == "python":
        at = line_start(text, body_start)
        return insert(text, at, f'{body_indent}"""', '"""\n', tokens, ('"""',))
    at = line_start(text, definition_start)
    if language in ("go", "rust", "lua", "bash"):
        marker = {"go": f"// {name} ", "rust": "/// ", "lua": "--- ", "bash": "# "}[language]
        return insert(text, at, indent + marker, "\n", tokens, ("\n\n",))
    return insert(text, at, f"{indent}/**\n{indent} * ", f"\n{indent} */\n", tokens, ("*/",))


def clean_documentation(raw: str, language: str) -> str:
    """Model output inside a doc comment, without its markers: plain text for `doc_comment`."""
    lines = []
    for line in raw.strip().split("\n"):
        stripped = line.strip()
        for marker in ("///", "---", "//", "/**", "*/", "*", "#", '"""'):
            if stripped.startswith(marker) and (language != "python" or marker == '"""'):
                stripped = stripped[len(marker):].strip()
                break
        lines.append(stripped)
    text = "\n".join(lines).strip().replace('"""', "")
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    return "\n\n".join(paragraphs)


def summary_hole(text: str, start: int, end: int, language: str) -> Hole:
    """A comment after a selection, begun for the model: a base model's summary of those lines."""
    last_line = text[line_start(text, max(start, end - 1)):end]
    indent = last_line[:len(last_line) - len(last_line.lstrip())]
    mark = comment_prefix(language)
    lead = "" if end == 0 or text[end - 1] == "\n" else "\n"
    return insert(text, end, f"{lead}{indent}{mark} In short, the lines above ", "\n", HOLE_TOKENS["docstring"], ("\n",))


def annotation_hole(text: str, after_name: int, language: str) -> Hole:
    """A parameter's type: `name: <hole>` (Python and TypeScript write it the same way)."""
    return insert(text, after_name, ": ", "", HOLE_TOKENS["annotation"], ("\n",))


def return_hole(text: str, after_parameters: int, language: str) -> Hole:
    arrow = " -> " if language == "python" else ": "
    return insert(text, after_parameters, arrow, "", HOLE_TOKENS["return"], ("\n",))


_OPENING, _CLOSING = "([{<", ")]}>"


def type_expression(answer: str, language: str) -> str:
    """The type at the start of the model's answer: up to the first `,` `)` `=` `:` `{` outside
    brackets (the separators a generic type like `dict[str, int]` keeps inside). "" when its
    brackets do not balance."""
    depth = 0
    for i, char in enumerate(answer):
        if char in _OPENING and (char != "<" or language != "python"):
            depth += 1
        elif char in _CLOSING and (char != ">" or language != "python"):
            if depth == 0:
                return answer[:i].strip()
            depth -= 1
        elif depth == 0 and (char in ",=:{" or answer.startswith("=>", i)):
            return answer[:i].strip()
    return answer.strip() if depth == 0 else ""


def rewrite_hole(text: str, start: int, end: int, instruction: str, language: str, selection_tokens: int) -> Hole:
    """The selection (whole lines) taken out, the instruction as a comment where it was."""
    first_line = text[start:text.find("\n", start) if "\n" in text[start:] else len(text)]
    indent = first_line[:len(first_line) - len(first_line.lstrip())]
    comment = "".join(f"{indent}{comment_prefix(language)} {line}\n" for line in instruction.strip().split("\n"))
    budget = min(HOLE_TOKENS["rewrite"], 2 * selection_tokens + 32)
    hole_text = text[:start] + comment + text[end:]
    return Hole(hole_text, start + len(comment), budget, ())


def test_module(relative_path: str) -> str:
    """`pkg/shapes.py` -> `pkg.shapes`; a leading `src/` is a layout folder, not a package."""
    parts = list(PurePosixPath(relative_path).with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_file_start(language: str, relative_path: str, name: str, package: str = "") -> str:
    """The first lines of a new test file, ours: the model writes the first test's body."""
    stem = PurePosixPath(relative_path).stem
    if language == "python":
        return f"from {test_module(relative_path)} import {name}\n\n\ndef test_{name}():\n    "
    if language in ("javascript", "javascriptreact", "typescript", "typescriptreact"):
        return f'import {{ {name} }} from "./{stem}";\n\ntest("{name}", () => {{\n  '
    if language == "go":
        return f'package {package or "main"}\n\nimport "testing"\n\nfunc Test{name[:1].upper() + name[1:]}(t *testing.T) {{\n\t'
    if language == "rust":
        crate = package.replace("-", "_") or "crate"
        return f"use {crate}::*;\n\n#[test]\nfn {name}_works() {{\n    "
    return ""


def test_file_end(language: str) -> str:
    """What closes the test the model was writing (the model stops at its end)."""
    if language in ("javascript", "javascriptreact", "typescript", "typescriptreact"):
        return "\n});\n"
    if language in ("go", "rust"):
        return "\n}\n"
    return "\n"


def tests_hole(language: str, start: str) -> Hole:
    stop = {"python": ("\ndef ", "\nclass ", "\n\n\n"), "go": ("\n}",), "rust": ("\n}",)}.get(language, ("\n});",))
    return Hole(start, len(start), HOLE_TOKENS["tests"], stop)
