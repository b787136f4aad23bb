"""Recognising functions, methods and classes in a tree-sitter tree, for the code actions.

`definition_of` tells whether a node is a definition and, if it is, its kind, name,
full extent (decorators, attributes and `export` included) and body. Tree-sitter
counts UTF-8 bytes while the editor's text is a str: `Text` converts between them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from ..context.languages import GRAMMARS, normalise

# A selection is taken as one definition when that much of each lies in the other.
MOSTLY = 0.8

# Nodes that define a function under a name of their own (C and C++: of their declarator).
_NAMED_FUNCTIONS = {"function_definition", "function_declaration", "generator_function_declaration",
                    "method_definition", "method_declaration", "constructor_declaration", "function_item"}
# Anonymous functions, named by the variable or class field that holds them (Lua's is a function_definition).
_HELD_FUNCTIONS = {"arrow_function", "function_expression", "function", "generator_function", "function_definition"}
_CLASSES = {"class_definition", "class_declaration", "abstract_class_declaration", "interface_declaration",
            "enum_declaration", "record_declaration", "impl_item", "trait_item", "struct_item", "enum_item",
            "class_specifier", "struct_specifier", "type_spec"}
# Nodes that a function inside makes a method (`impl` blocks, Go's receiver aside).
_METHOD_TYPES = {"method_definition", "method_declaration", "constructor_declaration"}
_FIELD_HOLDERS = {"public_field_definition", "field_definition"}
# Wrappers that belong to the definition they hold; decorators and attributes that may precede it.
_WRAPPERS = {"decorated_definition", "export_statement"}
_PRELUDES = {"decorator", "attribute_item"}
# What wrappers and declarations hold (by field, or their first child of a kind), down to a definition:
# `export const f = () => {}`, a class field `onClick = () => {}`, Lua's `local f = function() end`.
_HOLDS = {"decorated_definition": "definition", "export_statement": "declaration", "variable_declarator": "value",
          "public_field_definition": "value", "field_definition": "value"}
_FIRST_OF = {"lexical_declaration": ("variable_declarator",),
             "variable_declaration": ("variable_declarator", "assignment_statement"),
             "assignment_statement": ("expression_list",), "expression_list": None}
_NAME_TYPES = {"identifier", "type_identifier", "field_identifier", "property_identifier", "word", "constant"}


class Text:
    """A document as str and as the UTF-8 its tree was parsed from, with offset conversions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.source = text.encode("utf-8", "surrogatepass")
        self._ascii = len(self.source) == len(text)

    def to_byte(self, index: int) -> int:
        return index if self._ascii else len(self.text[:index].encode("utf-8", "surrogatepass"))

    def to_str(self, byte: int) -> int:
        return byte if self._ascii else len(self.source[:byte].decode("utf-8", "surrogatepass"))

    def of(self, node: Node) -> str:
        return self.source[node.start_byte:node.end_byte].decode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Definition:
    """One function, method or class in the tree (bytes throughout)."""

    node: Node          # the function or class node itself
    kind: str
    name: str
    head: Node          # where its header starts: `const f = ...`, not `export`
    first: Node         # the outermost node it starts with: a decorator, `export`, the head itself
    start: int          # decorators, attributes and `export` included
    end: int
    body: Node | None

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def is_function(self) -> bool:
        return self.kind in ("function", "method")


def supported(language: str) -> bool:
    return normalise(language) in GRAMMARS


# --- recognising definitions ------------------------------------------------------------------

def definition_of(node: Node, doc: Text) -> Definition | None:
    """The definition `node` is, if it is the node of one; None for anything else."""
    if node.type in _HELD_FUNCTIONS and (node.type not in _NAMED_FUNCTIONS or _own_name(node) is None):
        return _held_function(node, doc)
    if node.type in _NAMED_FUNCTIONS:
        name = _own_name(node)
        if name is None:
            return None
        kind = "method" if _is_method(node, name) else "function"
        return _definition(node, kind, doc.of(_last_part(name)), node, node.child_by_field_name("body"))
    if node.type in _CLASSES:
        return _class(node, doc)
    return None


def _own_name(node: Node) -> Node | None:
    name = node.child_by_field_name("name")
    declarator = node.child_by_field_name("declarator")
    while name is None and declarator is not None:  # C and C++: `int *area(void)` -> area
        if declarator.type in _NAME_TYPES or declarator.type in ("qualified_identifier", "destructor_name",
                                                                  "operator_name"):
            name = declarator
        declarator = declarator.child_by_field_name("declarator")
    return name


def _last_part(name: Node) -> Node:
    """`area` of C++ `Circle::area`, Lua `M.area` and `M:area`."""
    for field in ("name", "field", "method"):
        part = name.child_by_field_name(field) if name.type not in _NAME_TYPES else None
        if part is not None:
            return _last_part(part)
    return name


def _is_method(node: Node, name: Node) -> bool:
    if node.type in _METHOD_TYPES or name.type in ("qualified_identifier", "method_index_expression"):
        return True
    parent = node.parent
    while parent is not None:  # the nearest enclosing definition decides: a class, or a function
        if parent.type in _CLASSES:
            return True
        if parent.type in _NAMED_FUNCTIONS or parent.type in _HELD_FUNCTIONS:
            return False
        parent = parent.parent
    return False


def _held_function(node: Node, doc: Text) -> Definition | None:
    """`const area = (r) => ...`, a class field `onClick = () => {}`, Lua's `local f = function() end`."""
    holder = node.parent
    if holder is None:
        return None
    if holder.type == "variable_declarator" and holder.child_by_field_name("value") == node:
        name, head = holder.child_by_field_name("name"), holder
        declaration = holder.parent  # `const f = () => {}` unless it declares more than f
        if declaration is not None and sum(c.type == holder.type for c in declaration.named_children) == 1:
            head = declaration
        kind = "function"
    elif holder.type in _FIELD_HOLDERS:
        name = holder.child_by_field_name("name") or holder.child_by_field_name("property")
        head, kind = holder, "method"
    elif holder.type == "expression_list" and holder.parent.type == "assignment_statement":  # Lua
        variables = next((c for c in holder.parent.named_children if c.type == "variable_list"), None)
        name = variables.child_by_field_name("name") if variables is not None else None
        head = holder.parent
        if head.parent is not None and head.parent.type == "variable_declaration":
            head = head.parent
        kind = "function"
    else:
        return None
    name = _last_part(name) if name is not None else None
    if name is None or name.type not in _NAME_TYPES:  # `const { a, b } = ...` names no function
        return None
    return _definition(node, kind, doc.of(name), head, node.child_by_field_name("body"))


def _class(node: Node, doc: Text) -> Definition | None:
    if node.type == "type_spec":  # Go: only structs and interfaces are class-like
        body = node.child_by_field_name("type")
        if body is None or body.type not in ("struct_type", "interface_type"):
            return None
        parent = node.parent
        single = parent is not None and parent.type == "type_declaration" and len(parent.named_children) == 1
        head = parent if single else node
    else:
        body, head = node.child_by_field_name("body"), node
    name = node.child_by_field_name("name") or node.child_by_field_name("type")  # Rust's `impl Shape for Circle<T>`
    if body is None or name is None:
        return None
    return _definition(node, "class", doc.of(name).split("<")[0].strip(), head, body)


def _definition(node: Node, kind: str, name: str, head: Node, body: Node | None) -> Definition:
    outer = head
    while outer.parent is not None and outer.parent.type in _WRAPPERS:
        outer = outer.parent
    first = outer
    while first.prev_named_sibling is not None and first.prev_named_sibling.type in _PRELUDES:
        first = first.prev_named_sibling
    return Definition(node, kind, name, head, first, first.start_byte, outer.end_byte, body)


def definitions_around(root: Node, lo: int, hi: int, doc: Text) -> list[Definition]:
    """Definitions that contain [lo, hi), and those inside it large enough to be most of it."""
    found: dict[int, Definition] = {}

    def consider(node: Node) -> None:
        for candidate in (node, _held(node)):
            definition = definition_of(candidate, doc) if candidate is not None else None
            if definition is not None:
                found.setdefault(candidate.id, definition)

    spanning = root.descendant_for_byte_range(lo, hi) or root
    node: Node | None = spanning
    while node is not None:
        consider(node)
        node = node.parent
    if hi > lo:
        stack, needed = [spanning], MOSTLY * (hi - lo)
        while stack:
            for child in stack.pop().named_children:
                if min(hi, child.end_byte) - max(lo, child.start_byte) >= needed:
                    consider(child)
                    stack.append(child)
    return list(found.values())


def _held(node: Node) -> Node | None:
    """The definition node that a decorator, attribute, `export` or declaration stands for.

    A cursor on `@cache` or a selection of `export const f = () => ...` means the function,
    which the tree holds below them, not above.
    """
    while node.type in _PRELUDES and node.next_named_sibling is not None:
        node = node.next_named_sibling
    while node is not None:
        if node.type in _HOLDS:
            node = node.child_by_field_name(_HOLDS[node.type])
        elif node.type in _FIRST_OF:
            kinds = _FIRST_OF[node.type]
            node = next((c for c in node.named_children if kinds is None or c.type in kinds), None)
        else:
            return node
    return None
