"""A file's outline from its syntax tree: definitions with signatures and doc lines, and imports.

Plain data out (`Outline`), so the workspace index can store it and the context
assembly can rank it without touching tree-sitter.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node, QueryCursor, Tree

from .languages import outline_query

KINDS = ("function", "method", "class", "type", "constant")
MAX_SIGNATURE_CHARS = 240
MAX_CONSTANT_CHARS = 120

# Node types whose name becomes the container of definitions inside them.
_CONTAINERS = {
    "class_definition", "class_declaration", "abstract_class_declaration", "interface_declaration",
    "class_specifier", "struct_specifier", "impl_item", "trait_item", "record_declaration",
    "enum_declaration",
}
_COMMENTS = {"comment", "line_comment", "block_comment"}
# A definition nested in one of these is local to it, not a member of an outer class.
_FUNCTIONS = {
    "function_definition", "function_declaration", "function_item", "method_definition",
    "method_declaration", "arrow_function", "function_expression", "constructor_declaration",
}
# Wrappers that carry a definition's doc comment (`export class`, Go's `type (...)`, decorators).
_WRAPPERS = {"export_statement", "decorated_definition", "type_declaration", "const_declaration",
             "template_declaration", "lexical_declaration"}


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str        # one of KINDS
    signature: str   # the definition's header on one line, without its body
    doc: str         # first line of its docstring or doc comment, "" if none
    line: int        # 0-based first and last line
    end_line: int
    container: str   # enclosing class or type, "" at the top level


@dataclass(frozen=True)
class Outline:
    symbols: tuple[Symbol, ...]
    imports: tuple[str, ...]  # each import statement on one line


def one_line(text: str, limit: int = MAX_SIGNATURE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(source: bytes, start: int, end: int) -> str:
    return source[start:end].decode("utf-8", "replace")


def header(node: Node, source: bytes) -> str:
    """A definition's text up to its body: `def f(a, b) -> int`, `impl Foo for Bar`."""
    body = node.child_by_field_name("body")
    if body is None:
        for child in node.named_children:  # an arrow function held by a variable
            if child.type == "variable_declarator":
                value = child.child_by_field_name("value")
                body = value.child_by_field_name("body") if value is not None else None
    # The header ends where the body, its opening ":" or "{", or a parse error begins.
    stops = [c.start_byte for c in node.children if c.type in (":", "{", "ERROR") and c.start_byte > node.start_byte]
    if body is not None and body.start_byte > node.start_byte:
        stops.append(body.start_byte)
    if stops:
        end = min(stops)
    else:  # no body (a declaration, or code still being typed): its first line
        newline = source.find(b"\n", node.start_byte, node.end_byte)
        end = newline if newline >= 0 else node.end_byte
    return one_line(_text(source, node.start_byte, end)).rstrip(" :{=").rstrip()


def _container(node: Node, source: bytes) -> str:
    parent = node.parent
    while parent is not None and parent.type not in _FUNCTIONS:
        if parent.type in _CONTAINERS:
            name = parent.child_by_field_name("name") or parent.child_by_field_name("type")
            return _text(source, name.start_byte, name.end_byte) if name is not None else ""
        parent = parent.parent
    receiver = node.child_by_field_name("receiver") if node.type == "method_declaration" else None
    if receiver is not None:
        return one_line(_text(source, receiver.start_byte, receiver.end_byte)).strip("()").split()[-1].lstrip("*")
    return ""


def _python_docstring(node: Node, source: bytes) -> str:
    body = node.child_by_field_name("body")
    first = body.named_children[0] if body is not None and body.named_children else None
    if first is None or first.type != "expression_statement" or not first.named_children:
        return ""
    string = first.named_children[0]
    content = next((c for c in string.named_children if c.type == "string_content"), None)
    if string.type != "string" or content is None:
        return ""
    text = _text(source, content.start_byte, content.end_byte)
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _doc_comment(node: Node, source: bytes) -> str:
    """The comment right above a definition (JSDoc, `///`, Go doc comments, `--`, `#`)."""
    while node.prev_named_sibling is None and node.parent is not None and node.parent.type in _WRAPPERS:
        node = node.parent
    if node.parent is not None and node.parent.type in _WRAPPERS and node.parent.type != "type_declaration":
        node = node.parent
    comment = node.prev_named_sibling
    lines: list[str] = []
    row = node.start_point.row
    while comment is not None and comment.type in _COMMENTS and comment.end_point.row >= row - 1:
        lines.insert(0, _text(source, comment.start_byte, comment.end_byte))
        row = comment.start_point.row
        comment = comment.prev_named_sibling
    for raw in "\n".join(lines).splitlines():
        line = raw.strip().lstrip("/*-#!").strip().rstrip("*/").strip()
        if line and not line.startswith("@"):
            return line
    return ""


def _qualified(name: str, container: str, capture: str) -> tuple[str, str, str]:
    """(name, container, kind) with `Circle::area` and Lua's `M.sub` / `M:area` split."""
    for separator in ("::", ":", "."):
        if separator in name and capture == "function":
            owner, _, name = name.rpartition(separator)
            return name, owner, "function" if separator == "." else "method"
    return name, container, "method" if capture == "function" and container else capture


def _is_constant(name: str, language_id: str) -> bool:
    # Python has no `const`: only module-level UPPER_CASE names count as constants.
    return language_id != "python" or (name.isupper() and not name.startswith("__"))


def outline(language_id: str, tree: Tree | None, source: bytes) -> Outline:
    """Every definition and import of the file, in source order; empty for unknown languages."""
    query = outline_query(language_id)
    if query is None or tree is None:
        return Outline((), ())
    symbols: list[Symbol] = []
    imports: list[str] = []
    seen: set[tuple[int, int]] = set()
    for _pattern, captures in QueryCursor(query).matches(tree.root_node):
        if "import" in captures:
            node = captures["import"][0]
            imports.append(one_line(_text(source, node.start_byte, node.end_byte)))
            continue
        capture = next((k for k in KINDS if k in captures), None)
        if capture is None or "name" not in captures:
            continue
        node, name_node = captures[capture][0], captures["name"][0]
        if (node.start_byte, name_node.start_byte) in seen:
            continue  # e.g. a C++ method matched both as a definition and a declaration
        seen.add((node.start_byte, name_node.start_byte))
        name = _text(source, name_node.start_byte, name_node.end_byte)
        if capture == "constant" and not _is_constant(name, language_id):
            continue
        name, container, kind = _qualified(name, _container(node, source), capture)
        signature = (one_line(_text(source, node.start_byte, node.end_byte), MAX_CONSTANT_CHARS)
                     if capture == "constant" else header(node, source))
        doc = _python_docstring(node, source) if language_id == "python" else _doc_comment(node, source)
        symbols.append(Symbol(name, kind, signature, doc,
                              node.start_point.row, node.end_point.row, container))
    symbols.sort(key=lambda s: (s.line, s.end_line))
    return Outline(tuple(symbols), tuple(dict.fromkeys(imports)))


# --- a cheap summary of the file being edited, for every keystroke --------------------------

_IMPORT_TYPES = {"import_statement", "import_from_statement", "import_declaration", "use_declaration",
                 "preproc_include", "using_declaration"}
# Nodes whose children are looked at too: class bodies, export and decorator wrappers, Go groups.
# Function bodies are not: what they define is local to them.
_DESCEND = _WRAPPERS | {
    "class_body", "declaration_list", "field_declaration_list", "interface_body", "enum_body",
    "const_declaration", "var_declaration", "expression_statement", "assignment", "template_declaration",
    "namespace_definition", "preproc_ifdef", "preproc_if", "variable_declarator"}


@dataclass(frozen=True)
class FileFacts:
    names: frozenset[str]     # names the file defines at its top and class levels
    imports: tuple[str, ...]  # its import statements, one line each


def _declared_name(node: Node, source: bytes) -> str | None:
    name = node.child_by_field_name("name") or node.child_by_field_name("left")
    declarator = node.child_by_field_name("declarator")
    while name is None and declarator is not None:  # C and C++: int *f(void) -> f
        if declarator.type in ("identifier", "field_identifier", "type_identifier"):
            name = declarator
        declarator = declarator.child_by_field_name("declarator")
    if name is None or name.type not in ("identifier", "type_identifier", "field_identifier", "property_identifier",
                                         "constant", "word"):
        return None
    return _text(source, name.start_byte, name.end_byte)


def file_facts(tree: Tree | None, source: bytes, depth: int = 4) -> FileFacts:
    """Defined names and imports from the top levels of the tree only (what functions define
    inside is left out): the file's own vocabulary for context assembly."""
    return FactsCache(depth).facts(tree, source)


class FactsCache:
    """`file_facts` for successive versions of one document, recomputed only where the edit was.

    Facts are kept per top-level node, keyed by the node's text: a keystroke in a 10k-line
    file walks the one function it changed, not every top-level node. (Node ids would be
    cheaper keys, but an incremental parse of Python re-creates most top-level nodes.)
    """

    def __init__(self, depth: int = 4) -> None:
        self.depth = depth
        self._by_text: dict[bytes, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._version: object = None
        self._facts = FileFacts(frozenset(), ())
        self.walked = 0  # top-level nodes walked by the last call: tests and benchmarks read it

    def facts(self, tree: Tree | None, source: bytes, version: object = None) -> FileFacts:
        """The facts of `tree`, parsed from `source` (UTF-8); `version` skips the walk when unchanged."""
        if version is not None and version == self._version:
            return self._facts
        names: set[str] = set()
        imports: list[str] = []
        by_text: dict[bytes, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.walked = 0
        for node in tree.root_node.named_children if tree is not None else ():
            key = source[node.start_byte:node.end_byte]
            found = self._by_text.get(key)
            if found is None:
                found = _subtree_facts(node, source, self.depth)
                self.walked += 1
            by_text[key] = found
            names.update(found[0])
            imports.extend(found[1])
        self._by_text, self._version = by_text, version
        self._facts = FileFacts(frozenset(names), tuple(dict.fromkeys(imports)))
        return self._facts


def _subtree_facts(top: Node, source: bytes, depth: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names, imports) of one top-level node, looking `depth` levels down from the file."""
    names: list[str] = []
    imports: list[str] = []
    level = [top]
    for _ in range(depth):
        following = []
        for node in level:
            if node.type in _IMPORT_TYPES:
                imports.append(one_line(_text(source, node.start_byte, node.end_byte)))
                continue
            name = _declared_name(node, source)
            if name:
                names.append(name)
            if node.type in _DESCEND:
                following.extend(node.named_children)
            elif node.type in _CONTAINERS:  # a class: its body's members
                following.extend((node.child_by_field_name("body") or node).named_children)
        level = following
    return tuple(names), tuple(imports)
