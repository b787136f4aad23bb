"""Tree-sitter grammars by LSP language id, from the per-language wheels (offline).

An unknown language id or a grammar that fails to load gives None: callers fall
back to plain text, never to an error.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from tree_sitter import Language, Parser

# language id -> (module, function returning the grammar pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "lua": ("tree_sitter_lua", "language"),
    "shellscript": ("tree_sitter_bash", "language"),
    "bash": ("tree_sitter_bash", "language"),
    "sh": ("tree_sitter_bash", "language"),
}

# Neovim's filetypes and other editors' ids that name the same languages.
ALIASES = {"py": "python", "js": "javascript", "ts": "typescript", "tsx": "typescriptreact",
           "jsx": "javascriptreact", "rs": "rust", "c++": "cpp", "zsh": "bash"}


def normalise(language_id: str) -> str:
    language_id = language_id.lower()
    return ALIASES.get(language_id, language_id)


@lru_cache(maxsize=None)
def grammar(language_id: str) -> Language | None:
    spec = GRAMMARS.get(normalise(language_id))
    if spec is None:
        return None
    try:
        module = importlib.import_module(spec[0])
        return Language(getattr(module, spec[1])())
    except (ImportError, AttributeError, ValueError):
        return None


def parser_for(language_id: str) -> Parser | None:
    lang = grammar(language_id)
    return Parser(lang) if lang is not None else None
