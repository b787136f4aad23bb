"""Training samples: fill-in-the-middle (PSM and SPM), left-to-right and repository-level.

Every FIM sample is made by `codegen_lsp.prompts.fim`, the module the server builds
its prompts with, so a model is trained on exactly the text it will be asked.

Holes come in two shapes. "Cursor" holes start at a random column of a line and run
to the end of that line and sometimes a few more lines: what the server asks for
while someone types. "Span" holes cut between two random characters, the classic
FIM objective, which teaches the model to join a middle to any suffix.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

from codegen_lsp.prompts.fim import FimFormat

_IMPORT = re.compile(r"^\s*(?:from\s+(\.*[\w.]*)\s+import|import\s+([\w.]+))", re.M)
_DEFINITION = re.compile(r"^\s*(?:async\s+def|def|class)\s", re.M)


@dataclass(frozen=True)
class Mix:
    fim_rate: float = 0.5         # share of samples that are FIM rather than left-to-right
    spm_rate: float = 0.5         # share of FIM samples in SPM order (the rest PSM)
    cursor_rate: float = 0.5      # share of FIM holes that start at a cursor (the rest random spans)
    repo_rate: float = 0.2        # share of samples that show other files of the package first
    repo_context_share: float = 0.4  # at most this share of a repository-level sample is other files


def chunks(text: str, max_chars: int) -> list[str]:
    """Whole lines, at most `max_chars` per chunk (a longer line is a chunk of its own)."""
    out, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        if size + len(line) > max_chars and current:
            out.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        out.append("".join(current))
    return out


def split_hole(text: str, rng: random.Random, cursor_rate: float) -> tuple[str, str, str]:
    """(prefix, middle, suffix) of a hole in `text`."""
    if rng.random() < cursor_rate:
        return cursor_hole(text, rng)
    a, b = sorted(rng.randrange(len(text) + 1) for _ in range(2))
    return text[:a], text[a:b], text[b:]


def cursor_hole(text: str, rng: random.Random, extra_lines: int | None = None) -> tuple[str, str, str]:
    """The rest of a line from a random column, plus 0 to 8 following lines (0 half the time)."""
    lines = text.splitlines(keepends=True) or [""]
    i = rng.randrange(len(lines))
    body = lines[i].rstrip("\r\n")
    column = rng.randrange(len(body) + 1)
    if extra_lines is None:
        extra_lines = 0 if rng.random() < 0.5 else rng.randint(1, 8)
    end_line = min(len(lines), i + 1 + extra_lines)
    # The middle stops before the last line's newline, as an editor's completion does.
    start = sum(map(len, lines[:i])) + column
    last = lines[end_line - 1]
    end = sum(map(len, lines[:end_line])) - (len(last) - len(last.rstrip("\r\n")))
    return text[:start], text[start:end], text[end:]


def fim_text(fim: FimFormat, text: str, rng: random.Random, mix: Mix) -> str:
    prefix, middle, suffix = split_hole(text, rng, mix.cursor_rate)
    order = "spm" if rng.random() < mix.spm_rate else "psm"
    return fim.training_text(prefix, middle, suffix, order)


def file_sample(fim: FimFormat, text: str, rng: random.Random, mix: Mix) -> str:
    """One chunk of one file: FIM at `mix.fim_rate`, else left to right."""
    if rng.random() < mix.fim_rate:
        return fim_text(fim, text, rng, mix)
    return text + fim.end_of_text


def repo_sample(fim: FimFormat, repo: str, path: str, text: str, others: Sequence[tuple[str, str]],
                rng: random.Random, mix: Mix, max_chars: int) -> str:
    """A chunk of `path` after excerpts of other files of its package, in the repository format."""
    budget = int(max_chars * mix.repo_context_share)
    context: list[tuple[str, str]] = []
    for other_path, other_text in others:
        excerpt = excerpt_for_context(other_text, rng, budget)
        if not excerpt:
            continue
        context.append((other_path, excerpt))
        budget -= len(excerpt) + len(other_path) + 8
        if budget < 200:
            break
    room = max(400, max_chars - sum(len(p) + len(t) + 8 for p, t in context))
    target = rng.choice(chunks(text, room))
    if rng.random() < mix.fim_rate:
        prefix, middle, suffix = split_hole(target, rng, mix.cursor_rate)
        order = "spm" if rng.random() < mix.spm_rate else "psm"
        return fim.repo_training_text(repo, context, path, prefix, middle, suffix, order)
    header = fim.repo_header(None if context else repo, path)
    return fim.repo_context(repo, context) + header + target + fim.end_of_text


def excerpt_for_context(text: str, rng: random.Random, budget: int) -> str:
    """What a context builder shows of another file: its start, or its definition lines."""
    if budget <= 0:
        return ""
    if rng.random() < 0.5:
        return "".join(chunks(text, budget)[:1])[:budget]
    outline = [m.group(0) for m in re.finditer(r"^[ \t]*(?:async\s+def|def|class)\s[^\n]*\n", text, re.M)]
    kept, size = [], 0
    for line in outline:
        if size + len(line) > budget:
            break
        kept.append(line)
        size += len(line)
    return "".join(kept)


def related_files(path: str, text: str, siblings: Sequence[str]) -> list[str]:
    """Siblings that `text` imports first (by module name), then the others."""
    imported = set()
    for match in _IMPORT.finditer(text):
        module = (match.group(1) or match.group(2) or "").lstrip(".")
        if module:
            imported.add(module.split(".")[-1])
    def stem(p: str) -> str:
        name = p.rsplit("/", 1)[-1].removesuffix(".py")
        return p.rsplit("/", 2)[-2] if name == "__init__" and "/" in p else name
    ranked = sorted((s for s in siblings if s != path), key=lambda s: stem(s) not in imported)
    return ranked


def has_definitions(text: str) -> bool:
    return bool(_DEFINITION.search(text))
