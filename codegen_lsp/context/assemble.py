"""Repository context for the cursor, ranked, de-duplicated and fitted into a token budget.

Candidates, best first:
1. signatures of names used near the cursor, resolved through the file's imports
   to their defining files in the workspace index;
2. snippets of recently opened files that look like the code at the cursor
   (Jaccard similarity of identifier sets);
3. the file's own imports and the headers of the scopes around the cursor, when
   the prefix window has cut them off.

Chosen items are emitted in a stable order (by path and line, not by score), so
the prompt's beginning stays the same while the user types and the backend's
KV cache for it can be reused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from tree_sitter import Tree

from .index import WorkspaceIndex
from .languages import language_of_path
from .symbols import FileFacts, Symbol, header
from .syntax import byte_offset

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Lines around the cursor whose names count as "used near the cursor".
NEAR_LINES_BEFORE, NEAR_LINES_AFTER = 30, 5
SNIPPET_LINES, SNIPPET_STRIDE = 16, 8
MIN_SNIPPET_SIMILARITY = 0.25
FILE_HEADER_TOKENS = 3  # a file separator and a newline around each other file's path
MAX_DEFINITIONS_PER_NAME = 3  # a name defined in more files than this is too ambiguous to guess
_SCOPES = {"function_definition", "class_definition", "function_declaration", "class_declaration",
           "method_definition", "method_declaration", "function_item", "impl_item", "trait_item",
           "class_specifier", "struct_specifier", "namespace_definition", "interface_declaration",
           "abstract_class_declaration", "arrow_function", "constructor_declaration", "mod_item"}
_LINE_COMMENT = {"python": "#", "bash": "#", "lua": "--"}

CountTokens = Callable[[str], int]


@dataclass
class Cursor:
    path: str            # relative to the workspace root
    language: str
    text: str
    offset: int
    tree: Tree | None = None
    source: bytes | None = None  # text as UTF-8, where the caller has it already

    def encoded(self) -> bytes:
        if self.source is None:
            self.source = self.text.encode("utf-8", "surrogatepass")
        return self.source



def last_lines(text: str, end: int, count: int) -> list[str]:
    """The `count` lines up to text[end], without splitting everything before them."""
    start = end
    for _ in range(count):
        start = text.rfind("\n", 0, start)
        if start < 0:
            break
    return text[start + 1:end].split("\n")


def first_lines(text: str, start: int, count: int) -> list[str]:
    end = start
    for _ in range(count):
        end = text.find("\n", end) + 1
        if end <= 0:
            end = len(text)
            break
    return text[start:end].split("\n")[:count]


@dataclass
class ContextItem:
    path: str
    kind: str        # "definition" | "snippet" | "imports" | "scope"
    text: str
    reason: str
    score: float
    line: int = 0
    tokens: int = 0
    included: bool = False
    dropped: str = ""  # why a candidate was left out

    def as_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "reason": self.reason, "score": round(self.score, 3),
                "tokens": self.tokens, "included": self.included, "dropped": self.dropped}


@dataclass
class Assembly:
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, text) of other files, stable order
    prefix_header: str = ""   # the file's own imports and scope headers, cut off by the window
    items: list[ContextItem] = field(default_factory=list)      # every candidate, chosen or not
    tokens: int = 0


# Languages that call into each other's definitions; any other pair never shares context.
_FAMILIES = ({"javascript", "javascriptreact", "typescript", "typescriptreact"}, {"c", "cpp"})


def same_family(a: str | None, b: str) -> bool:
    return a == b or any(a in family and b in family for family in _FAMILIES)


def identifiers(text: str) -> set[str]:
    return set(_IDENTIFIER.findall(text))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def comment_prefix(language: str) -> str:
    return _LINE_COMMENT.get(language, "//")


def render_symbol(symbol: Symbol, language: str) -> str:
    """A definition as code without its body: the model reads it like a stub file."""
    lines = [f"{comment_prefix(language)} {symbol.doc}"] if symbol.doc else []
    signature = symbol.signature
    if symbol.kind in ("constant", "type") and not signature.rstrip().endswith(("{", ")")):
        lines.append(signature)
    elif language == "python":
        lines.append(f"{signature}: ...")
    elif language == "lua":
        lines.append(f"{signature} ... end")
    elif signature.endswith(";"):
        lines.append(signature)
    else:
        lines.append(signature + " { ... }")
    indent = "    " if symbol.container and language == "python" else ""
    return "".join(f"{indent}{line}\n" for line in lines)


def _near_names(cursor: Cursor) -> dict[str, int]:
    """Names around the cursor and their distance to it in lines."""
    before = last_lines(cursor.text, cursor.offset, NEAR_LINES_BEFORE)
    after = first_lines(cursor.text, cursor.offset, NEAR_LINES_AFTER)
    distance: dict[str, int] = {}
    for i, line in enumerate(reversed(before)):
        for name in _IDENTIFIER.findall(line):
            distance.setdefault(name, i)
    for i, line in enumerate(after):
        for name in _IDENTIFIER.findall(line):
            distance.setdefault(name, i + 1)
    return distance


def _module_hint(path: str) -> tuple[str, str]:
    """`pkg/shapes.py` -> ("pkg.shapes", "shapes"): how imports tend to name a file."""
    stem = path.rsplit(".", 1)[0]
    stem = stem[: -len("/__init__")] if stem.endswith("/__init__") else stem
    return stem.replace("/", "."), stem.rsplit("/", 1)[-1]


def definition_candidates(cursor: Cursor, index: WorkspaceIndex, own: FileFacts) -> list[ContextItem]:
    imports = "\n".join(own.imports)
    imported_names = identifiers(imports)
    local = own.names
    items: list[ContextItem] = []
    for name, distance in _near_names(cursor).items():
        if name in local or len(name) < 2:
            continue
        places = [(p, s) for p, s in index.definitions(name)
                  if p != cursor.path and same_family(language_of_path(p), cursor.language)]
        if not places or len(places) > MAX_DEFINITIONS_PER_NAME:
            continue
        for path, symbol in places:
            dotted, stem = _module_hint(path)
            through_import = name in imported_names or dotted in imports or stem in imported_names
            score = (2.0 if through_import else 1.0) / (1 + distance / 4) / len(places)
            reason = f"`{name}` used {distance} line(s) from the cursor" + (", imported" if through_import else "")
            items.append(ContextItem(path, "definition", render_symbol(symbol, cursor.language), reason,
                                     score, symbol.line))
    return items


def snippet_candidates(cursor: Cursor, recent: Sequence[tuple[str, str]]) -> list[ContextItem]:
    """Windows of recent files most like the lines before the cursor."""
    query = identifiers("\n".join(last_lines(cursor.text, cursor.offset, SNIPPET_LINES)))
    items: list[ContextItem] = []
    for path, text in recent:
        if path == cursor.path:
            continue
        lines = text.split("\n")
        best: tuple[float, int] = (0.0, 0)
        for start in range(0, max(1, len(lines) - SNIPPET_LINES + SNIPPET_STRIDE), SNIPPET_STRIDE):
            similarity = jaccard(query, identifiers("\n".join(lines[start:start + SNIPPET_LINES])))
            best = max(best, (similarity, -start))
        similarity, start = best[0], -best[1]
        if similarity >= MIN_SNIPPET_SIMILARITY:
            snippet = "\n".join(lines[start:start + SNIPPET_LINES]).strip("\n") + "\n"
            items.append(ContextItem(path, "snippet", snippet, f"similar to the code before the cursor "
                                     f"(Jaccard {similarity:.2f})", 0.8 * similarity, start))
    return items


def own_file_candidates(cursor: Cursor, own: FileFacts, window_prefix: str) -> list[ContextItem]:
    """The file's imports and enclosing scope headers, when the window no longer shows them."""
    items: list[ContextItem] = []
    missing = [line for line in own.imports if line not in window_prefix]
    if missing:
        items.append(ContextItem(cursor.path, "imports", "\n".join(missing) + "\n", "the file's imports, "
                                 "cut off by the window", 3.0, -1))
    if cursor.tree is not None:
        source = cursor.encoded()
        # Anchor on the last token before the cursor: on a fresh indented line the cursor itself
        # sits in whitespace that belongs to no block yet.
        last = cursor.offset
        while last > 0 and cursor.text[last - 1].isspace():
            last -= 1
        anchor = byte_offset(cursor.text, last, source)
        line = cursor.text[cursor.text.rfind("\n", 0, cursor.offset) + 1:cursor.offset]
        indent = len(line) if not line.strip() else 1 << 30  # a dedent leaves the scopes it passes
        node = cursor.tree.root_node.descendant_for_byte_range(max(0, anchor - 1), max(0, anchor - 1))
        headers = []
        while node is not None:
            if node.type in _SCOPES and (cursor.language != "python" or node.start_point.column < indent):
                line_start = source.rfind(b"\n", 0, node.start_byte) + 1
                margin = source[line_start:node.start_byte].decode("utf-8", "replace")
                text = margin + header(node, source) + (":" if cursor.language == "python" else "")
                if text.strip() and text.strip() not in window_prefix:
                    headers.insert(0, text)
            node = node.parent
        if headers:
            items.append(ContextItem(cursor.path, "scope", "\n".join(headers) + "\n",
                                     "headers of the scopes around the cursor, cut off by the window", 2.5, -1))
    return items


def assemble(cursor: Cursor, index: WorkspaceIndex | None, own: FileFacts, recent: Sequence[tuple[str, str]],
             window_prefix: str, budget: int, count_tokens: CountTokens) -> Assembly:
    """Choose candidates by score until `budget` tokens are used; emit them in a stable order."""
    candidates = own_file_candidates(cursor, own, window_prefix)
    if index is not None:
        candidates += definition_candidates(cursor, index, own)
    candidates += snippet_candidates(cursor, recent)
    candidates.sort(key=lambda c: -c.score)
    assembly = Assembly(items=candidates)
    seen: set[str] = set()
    headed: set[str] = set()  # other files already paying for their path header
    for item in candidates:
        key = item.text.strip()
        if key in seen:
            item.dropped = "duplicate"
            continue
        seen.add(key)
        if item.kind in ("definition", "snippet") and key in window_prefix:
            item.dropped = "already in the prefix window"
            continue
        new_file = item.kind in ("definition", "snippet") and item.path not in headed
        item.tokens = count_tokens(item.text) + (count_tokens(item.path) + FILE_HEADER_TOKENS if new_file else 0)
        if assembly.tokens + item.tokens > budget:
            item.dropped = "over the token budget"
            continue
        if new_file:
            headed.add(item.path)
        item.included = True
        assembly.tokens += item.tokens
    chosen = sorted((c for c in candidates if c.included), key=lambda c: (c.kind in ("imports", "scope"), c.path, c.line))
    by_path: dict[str, list[str]] = {}
    for item in chosen:
        if item.kind in ("imports", "scope"):
            assembly.prefix_header += item.text if item.kind == "imports" else "\n" + item.text
        else:
            by_path.setdefault(item.path, []).append(item.text)
    assembly.files = [(path, "\n".join(texts)) for path, texts in by_path.items()]
    return assembly


def commented(files: Sequence[tuple[str, str]], language: str) -> str:
    """Other files for a model with no repository format: comment lines, as Copilot-style prompts do."""
    mark = comment_prefix(language)
    out = []
    for path, text in files:
        out.append(f"{mark} Path: {path}\n")
        out.extend(f"{mark} {line}\n" if line else f"{mark}\n" for line in text.rstrip("\n").split("\n"))
    return "".join(out)
