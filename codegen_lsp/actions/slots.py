"""Where a function's missing type annotations go (Python and TypeScript).

Each slot is a place the model fills with a type: after an unannotated parameter's name,
after the parameter list for the return type. Parameters that already have a type, and
Python's `self`/`cls` and `*args`/`**kwargs`, get none.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node, Tree

from ..context.syntax import byte_offset
from .targets import CodeTarget

_FUNCTIONS = {"function_definition", "function_declaration", "method_definition", "arrow_function",
              "function_expression", "generator_function_declaration"}


@dataclass(frozen=True)
class Slot:
    kind: str     # "parameter" | "return"
    offset: int   # str offset where the type goes
    end: int      # the edit replaces text[offset:end] (Python's `x=1` becomes `x: int = 1`)
    before: str   # written before the model's type
    after: str    # and after it


def annotation_slots(language: str, tree: Tree | None, text: str, target: CodeTarget) -> list[Slot]:
    if tree is None or language not in ("python", "typescript", "typescriptreact"):
        return []
    source = text.encode("utf-8", "surrogatepass")
    function = _function_node(tree, byte_offset(text, target.body_start, source))
    if function is None:
        return []
    to_str = _offsets(source)
    parameters = function.child_by_field_name("parameters")
    slots = []
    if parameters is not None:
        find = _python_slots if language == "python" else _typescript_slots
        slots += find(parameters, source, to_str, method=target.kind == "method")
        if function.child_by_field_name("return_type") is None:
            before = " -> " if language == "python" else ": "
            at = to_str(parameters.end_byte)
            slots.append(Slot("return", at, at, before, ""))
    return slots


def _function_node(tree: Tree, byte: int) -> Node | None:
    node = tree.root_node.descendant_for_byte_range(byte, byte)
    while node is not None and node.type not in _FUNCTIONS:
        node = node.parent
    return node


def _offsets(source: bytes):
    ascii_only = source.isascii()
    return (lambda byte: byte) if ascii_only else (lambda byte: len(source[:byte].decode("utf-8", "replace")))


def _python_slots(parameters: Node, source: bytes, to_str, method: bool) -> list[Slot]:
    slots = []
    for index, parameter in enumerate(parameters.named_children):
        name = source[parameter.start_byte:parameter.end_byte].decode("utf-8", "replace")
        if parameter.type == "identifier":
            if method and index == 0 and name in ("self", "cls"):
                continue
            at = to_str(parameter.end_byte)
            slots.append(Slot("parameter", at, at, ": ", ""))
        elif parameter.type == "default_parameter":
            key, value = parameter.child_by_field_name("name"), parameter.child_by_field_name("value")
            if key is not None and key.type == "identifier" and value is not None:
                slots.append(Slot("parameter", to_str(key.end_byte), to_str(value.start_byte), ": ", " = "))
    return slots


def _typescript_slots(parameters: Node, source: bytes, to_str, method: bool) -> list[Slot]:
    slots = []
    for parameter in parameters.named_children:
        if parameter.type not in ("required_parameter", "optional_parameter"):
            continue
        if parameter.child_by_field_name("type") is not None:
            continue
        pattern = parameter.child_by_field_name("pattern")
        if pattern is None or pattern.type != "identifier":
            continue
        end = pattern.end_byte
        mark = pattern.next_sibling
        if mark is not None and mark.type == "?":
            end = mark.end_byte
        at = to_str(end)
        slots.append(Slot("parameter", at, at, ": ", ""))
    return slots
