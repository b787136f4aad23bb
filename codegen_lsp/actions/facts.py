"""What the code itself says about a target, and who calls it across the workspace.

`code_facts` reads a definition's parameters, declared return type, the errors it
raises and the functions it calls straight from the syntax tree, so "Explain" and
"Generate tests" can state them as facts rather than ask the model. `find_callers`
scans the indexed files of the same language family for calls by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Iterator

from tree_sitter import Node, Query, QueryCursor, Tree

from ..context.languages import grammar, language_of_path, normalise, parser_for
from ..context.symbols import one_line
from .definitions import Definition, Text, definition_of, definitions_around

if TYPE_CHECKING:
    from ..context.index import WorkspaceIndex
    from .targets import CodeTarget

MAX_CALLER_FILE_BYTES = 1_000_000

# Call nodes and the field holding what they call, across the grammars.
_CALLS = {"call": "function", "call_expression": "function", "method_invocation": "name", "function_call": "name",
          "new_expression": "constructor", "object_creation_expression": "type", "command": "name"}
# Member and path expressions, and the field holding the called name: `self.area` -> area.
_MEMBERS = {"attribute": "attribute", "member_expression": "property", "selector_expression": "field",
            "field_expression": "field", "scoped_identifier": "name", "qualified_identifier": "name",
            "dot_index_expression": "field", "method_index_expression": "method", "generic_function": "function",
            "template_function": "name", "command_name": None}
_NAMES = {"identifier", "property_identifier", "field_identifier", "type_identifier", "word"}
_THROWS = {"raise_statement", "throw_statement", "throw_expression"}
_PANICS = {"panic", "unreachable", "todo", "unimplemented"}
# Calls that are how a language raises: Go returns errors it makes, Lua calls error().
_ERROR_CALLS = {"go": {"errors.New": "error", "fmt.Errorf": "error", "panic": "panic"}, "lua": {"error": "error"}}
# Parameters that are not arguments: `self`, separators, comments.
_NOT_ARGUMENTS = {"self_parameter", "keyword_separator", "positional_separator", "receiver_parameter", "comment",
                  "line_comment", "block_comment"}
# Rust's enum variants look like calls and are none.
_NOT_CALLS = {"rust": {"Ok", "Err", "Some"}}
_FAMILIES = {"javascriptreact": "javascript", "typescript": "javascript", "typescriptreact": "javascript",
             "cpp": "c", "shellscript": "bash", "sh": "bash"}


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str     # "" when none
    default: str        # "" when none


@dataclass(frozen=True)
class CodeFacts:
    signature: str
    parameters: tuple[Parameter, ...]   # without `self`, `cls` or a receiver
    returns: str                        # the declared return type ("" when none)
    raises: tuple[str, ...]             # errors raised or thrown, in order ("panic", "error" for Rust, Go, Lua)
    callees: tuple[str, ...]            # names of the functions and methods called, in order


@dataclass(frozen=True)
class Caller:
    path: str       # workspace-relative
    line: int       # 0-based
    text: str       # the line, stripped
    function: str   # the enclosing function's name ("" at top level)


# --- facts ------------------------------------------------------------------------------------

def code_facts(language: str, tree: Tree | None, text: str, target: CodeTarget) -> CodeFacts:
    """The facts of `target` (from `target_at` on the same text); a selection has only raises and callees."""
    language = normalise(language)
    nothing = CodeFacts(target.header, (), "", (), ())
    if tree is None:
        return nothing
    doc = Text(text)
    lo, hi = doc.to_byte(target.start), doc.to_byte(target.end)
    if target.kind == "selection":
        raises, callees = _raises_and_callees(language, _nodes_within(tree.root_node, lo, hi), doc)
        return CodeFacts(target.header, (), "", raises, callees)
    definition = next((d for d in definitions_around(tree.root_node, lo, hi, doc)
                       if (d.start, d.end) == (lo, hi) and d.name == target.name), None)
    if definition is None:
        return nothing
    # A function's facts are its own, not those of functions it defines; a class's are its methods'.
    nodes = _body_nodes(definition.body or definition.node, doc, skip_definitions=definition.is_function)
    raises, callees = _raises_and_callees(language, nodes, doc)
    if not definition.is_function:
        return CodeFacts(target.header, (), "", raises, callees)
    return CodeFacts(target.header, _parameters(definition, doc), _returns(definition, doc), raises, callees)


def _body_nodes(top: Node, doc: Text, skip_definitions: bool) -> Iterator[Node]:
    """Every node under `top`, in source order; not inside nested definitions when asked."""
    stack = list(reversed(top.children))
    while stack:
        node = stack.pop()
        if skip_definitions and definition_of(node, doc) is not None:
            continue
        yield node
        stack.extend(reversed(node.children))


def _nodes_within(root: Node, lo: int, hi: int) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        if lo <= node.start_byte and node.end_byte <= hi:
            yield node
        stack.extend(c for c in reversed(node.children) if c.end_byte > lo and c.start_byte < hi)


def _raises_and_callees(language: str, nodes: Iterator[Node], doc: Text) -> tuple[tuple[str, ...], tuple[str, ...]]:
    raises: dict[str, None] = {}
    callees: dict[str, None] = {}
    raising_calls: set[int] = set()  # `raise ValueError(...)` raises ValueError; it is no callee
    for node in nodes:
        raised = _raised(language, node, doc)
        if raised is not None:
            raises[raised[0]] = None
            raising_calls.add(raised[1].id)
        name = callee(node)
        if name is not None and node.id not in raising_calls and doc.of(name) not in _NOT_CALLS.get(language, ()):
            callees[doc.of(name)] = None
    return tuple(raises), tuple(callees)


def _raised(language: str, node: Node, doc: Text) -> tuple[str, Node] | None:
    """(the error type, the node that makes it) when `node` raises, throws or panics."""
    if node.type in _THROWS:
        thrown = node.named_children[0] if node.named_children else None
        made = thrown.child_by_field_name(_CALLS[thrown.type]) if thrown is not None and thrown.type in _CALLS else None
        if made is not None:
            return one_line(doc.of(made)), thrown
        if thrown is not None and node.type == "raise_statement" and thrown.type in ("identifier", "attribute"):
            return doc.of(thrown), thrown  # `raise ValueError`; `throw err` names a value, not a type
        return None
    if node.type == "macro_invocation":
        macro = node.child_by_field_name("macro")
        return ("panic", node) if macro is not None and doc.of(macro) in _PANICS else None
    function = node.child_by_field_name(_CALLS[node.type]) if node.type in _CALLS else None
    if function is not None and doc.of(function) in _ERROR_CALLS.get(language, {}):
        return _ERROR_CALLS[language][doc.of(function)], node
    return None


def callee(call: Node) -> Node | None:
    """The name node a call calls: `area` in `area(r)`, `self.area(r)`, `Circle::area(r)`; None if no call."""
    node = call.child_by_field_name(_CALLS[call.type]) if call.type in _CALLS else None
    while node is not None and node.type not in _NAMES:
        if node.type not in _MEMBERS:
            return None
        field = _MEMBERS[node.type]
        node = node.child_by_field_name(field) if field else node.named_child(0)
    return node


def _parameters(definition: Definition, doc: Text) -> tuple[Parameter, ...]:
    node = definition.node
    declarator = _function_declarator(node)
    holder = node.child_by_field_name("parameters") or (declarator.child_by_field_name("parameters")
                                                          if declarator is not None else None)
    if holder is None:  # `x => x * 2`
        single = node.child_by_field_name("parameter")
        return (Parameter(doc.of(single), "", ""),) if single is not None else ()
    found = [p for child in holder.named_children for p in _parameter(child, doc)]
    if found and found[0].name in ("self", "cls", "this"):
        found = found[1:]
    return tuple(found)


def _function_declarator(node: Node) -> Node | None:
    """C and C++: the `f(int a)` inside `int *f(int a)`."""
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator")
    return declarator


def _parameter(node: Node, doc: Text) -> list[Parameter]:
    """The parameters one node of a parameter list declares (Go's `a, b int` declares two)."""
    def text(field: str) -> str:
        child = node.child_by_field_name(field)
        return one_line(doc.of(child)).lstrip(":").strip() if child is not None else ""

    kind = node.type
    if kind in _NOT_ARGUMENTS:
        return []
    if kind == "typed_parameter":  # Python `a: int`, `*args: int`
        return [Parameter(doc.of(node.named_children[0]), text("type"), "")]
    if kind in ("default_parameter", "typed_default_parameter"):
        return [Parameter(text("name"), text("type"), text("value"))]
    if kind == "assignment_pattern":  # JavaScript `a = 1`
        return [Parameter(text("left"), "", text("right"))]
    if kind in ("required_parameter", "optional_parameter"):  # TypeScript
        mark = "?" if kind == "optional_parameter" else ""
        return [Parameter(text("pattern") + mark, text("type"), text("value"))]
    if kind in ("parameter_declaration", "optional_parameter_declaration") and node.child_by_field_name("name") is None:
        return _c_parameter(node, doc)
    if kind in ("parameter_declaration", "variadic_parameter_declaration"):  # Go
        variadic = "..." if kind == "variadic_parameter_declaration" else ""
        return [Parameter(doc.of(name), variadic + text("type"), "") for name in node.children_by_field_name("name")]
    if kind in ("parameter", "formal_parameter"):  # Rust, Java
        return [Parameter(text("pattern") or text("name"), text("type"), "")]
    if kind == "spread_parameter":  # Java `String... rest`
        name = next((c for c in node.named_children if c.type == "variable_declarator"), None)
        return [Parameter(doc.of(name.child_by_field_name("name") or name) if name else "",
                          one_line(doc.of(node.named_children[0])) + "...", "")]
    return [Parameter(one_line(doc.of(node)), "", "")]  # a plain name, `*args`, `...rest`, a pattern


def _c_parameter(node: Node, doc: Text) -> list[Parameter]:
    """`const char *name = "x"`: the name, the rest of the declaration as its type, the default."""
    declarator = node.child_by_field_name("declarator")
    name = declarator
    while name is not None and name.child_by_field_name("declarator") is not None:
        name = name.child_by_field_name("declarator")
    default = node.child_by_field_name("default_value")
    if name is None:  # `int f(void)`, or an unnamed parameter
        kind = one_line(doc.of(node))
        return [] if kind == "void" else [Parameter("", kind, "")]
    source = doc.source
    annotation = source[node.start_byte:name.start_byte] + source[name.end_byte:declarator.end_byte]
    return [Parameter(doc.of(name), one_line(annotation.decode("utf-8", "surrogatepass")).strip(),
                      one_line(doc.of(default)) if default is not None else "")]


def _returns(definition: Definition, doc: Text) -> str:
    node = definition.node
    for field in ("return_type", "result"):  # Python, TypeScript, Rust; Go
        declared = node.child_by_field_name(field)
        if declared is not None:
            return one_line(doc.of(declared)).lstrip(":").strip()
    declared = node.child_by_field_name("type")  # Java, C, C++
    if declared is None:
        return ""
    pointers, declarator = "", node.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        pointers += {"pointer_declarator": "*", "reference_declarator": "&"}.get(declarator.type, "")
        declarator = declarator.child_by_field_name("declarator") or (
            declarator.named_children[0] if declarator.named_children else None)
    return one_line(doc.of(declared)) + (" " + pointers if pointers else "")


# --- callers ----------------------------------------------------------------------------------

def family(language: str) -> str:
    """Languages that call each other's code: JavaScript and TypeScript, C and C++."""
    language = normalise(language)
    return _FAMILIES.get(language, language)


def find_callers(index: WorkspaceIndex, name: str, limit: int = 20, exclude: tuple[str, int] | None = None,
                 language: str | None = None) -> list[Caller]:
    """Call sites of `name` in the indexed files, in path order, at most `limit`.

    Only files of `language`'s family are read (by default the family of `exclude`'s path,
    the definition's own (path, line), whose call on that line is left out).
    """
    language = language or (language_of_path(exclude[0]) if exclude is not None else None)
    wanted = family(language) if language else None
    needle = name.encode("utf-8", "surrogatepass")
    callers: list[Caller] = []
    for path in index.paths() if name else ():
        entry = index.get(path)
        if entry is None or wanted is not None and family(entry.language) != wanted:
            continue
        data = _read(index.files.root / path)
        if data is None or needle not in data:  # most files never mention the name: no parse
            continue
        for caller in _calls_in(entry.language, path, data, name):
            if exclude is None or (caller.path, caller.line) != tuple(exclude):
                callers.append(caller)
            if len(callers) >= limit:
                return callers
    return callers


def _read(path) -> bytes | None:
    try:
        if path.stat().st_size > MAX_CALLER_FILE_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


@lru_cache(maxsize=None)
def _call_query(language: str) -> Query | None:
    """One query for every kind of call node the grammar has."""
    lang = grammar(language)
    kinds = [k for k in _CALLS if lang is not None and lang.id_for_node_kind(k, True)]
    return Query(lang, "[" + " ".join(f"({k})" for k in kinds) + "] @call") if kinds else None


def _calls_in(language: str, path: str, data: bytes, name: str) -> Iterator[Caller]:
    parser, query = parser_for(language), _call_query(language)
    if parser is None or query is None:
        return
    doc = Text(data.decode("utf-8", "replace"))
    tree = parser.parse(doc.source)
    calls = QueryCursor(query).captures(tree.root_node).get("call", [])
    for call in sorted(calls, key=lambda n: n.start_byte):
        called = callee(call)
        if called is None or doc.of(called) != name:
            continue
        line_start = doc.source.rfind(b"\n", 0, called.start_byte) + 1
        line_end = doc.source.find(b"\n", called.start_byte)
        line = doc.source[line_start:line_end if line_end >= 0 else len(doc.source)]
        yield Caller(path, called.start_point.row, line.decode("utf-8", "replace").strip(),
                     _enclosing_function(call, doc))


def _enclosing_function(node: Node, doc: Text) -> str:
    parent = node.parent
    while parent is not None:
        definition = definition_of(parent, doc)
        if definition is not None and definition.is_function:
            return definition.name
        parent = parent.parent
    return ""
