"""The real structure of a repository, read from its syntax trees: modules and their imports,
classes with bases and members, functions and the calls between them.

Only what the code states is kept. A name is resolved through the module's own definitions
and its imports (following re-exports such as a package's `from .models import Item`);
anything else (a call on an object of unknown type, a name from outside the repository)
is dropped rather than guessed, so a diagram drawn from this never shows an edge the
code does not have. Python only for now: other languages raise `UnsupportedLanguage`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Iterable

from tree_sitter import Node as TSNode

from ..context.languages import language_of_path, parser_for
from ..context.symbols import header, one_line
from ..context.workspace_files import WorkspaceFiles

SUPPORTED_LANGUAGES = ("python",)
MAX_DOC_CHARS = 400
_DEFINITIONS = ("function_definition", "class_definition")


class UnsupportedLanguage(ValueError):
    """Diagrams of this language are not drawn (rather than drawn wrong)."""


# --- the graph a diagram is drawn from ------------------------------------------------------

@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: str                       # module | class | function | method | external
    members: tuple[str, ...] = ()   # a class's attributes (`name`) and methods (`name(args)`)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str                       # imports | inherits | calls


@dataclass(frozen=True)
class Graph:
    title: str
    kind: str                       # modules | classes | calls
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    focus: str = ""                 # the function a call graph is drawn around
    notes: tuple[str, ...] = ()     # what was left out, for the user

    def node_ids(self) -> set[str]:
        return {node.id for node in self.nodes}


# --- what one file states -------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    level: int                      # leading dots of a relative import, 0 for absolute
    module: str                     # dotted, "" for `from . import x`
    names: tuple[str, ...] | None   # `from m import a, b`; None for `import m`
    alias: str = ""                 # `import m as alias`, `from m import a as alias`

    def original(self, name: str) -> str | None:
        """The name in the imported module that a `from` import binds to `name`, if any."""
        if self.names is None or self.names == ("*",):
            return None
        if self.alias:
            return self.names[0] if self.alias == name else None
        return name if name in self.names else None


@dataclass
class Function:
    qualname: str                   # module.function or module.Class.method
    module: str
    owner: str                      # the class's qualname for a method, else ""
    signature: str                  # short: name(a, b), without self
    header: str                     # the def line as written
    doc: str
    line: int                       # 0-based first and last line of the definition
    end_line: int
    calls: list[tuple[str, ...]] = field(default_factory=list)  # dotted callees as written
    locals: set[str] = field(default_factory=set)                # names that shadow module names


@dataclass
class Class:
    qualname: str
    module: str
    bases: list[tuple[str, ...]]    # dotted, as written
    header: str
    doc: str
    attributes: list[str] = field(default_factory=list)
    methods: dict[str, str] = field(default_factory=dict)       # name -> Function.qualname


@dataclass
class Module:
    name: str
    path: str                       # relative to the root
    is_package: bool
    doc: str
    imports: list[Import] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)         # top-level def name -> qualname


def module_name(relative: str, root: Path) -> str:
    """`shop/io/export.py` -> `shop.io.export`, `shop/__init__.py` -> `shop`; a `src/` layout's
    `src/` (a folder that is not itself a package) is not part of the name."""
    parts = list(PurePosixPath(relative).with_suffix("").parts)
    if len(parts) > 1 and parts[0] == "src" and not (root / "src" / "__init__.py").exists():
        parts = parts[1:]
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _text(node: TSNode | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def _unwrap(node: TSNode) -> TSNode:
    """A decorated definition's definition."""
    return node.child_by_field_name("definition") or node if node.type == "decorated_definition" else node


def _docstring(body: TSNode | None) -> str:
    first = body.named_children[0] if body is not None and body.named_children else None
    if first is None or first.type != "expression_statement" or first.named_children[0].type != "string":
        return ""
    content = [c for c in first.named_children[0].named_children if c.type == "string_content"]
    return one_line(_text(content[0]), MAX_DOC_CHARS) if content else ""


def _dotted(node: TSNode) -> tuple[str, ...] | None:
    """`a.b.c` -> ("a", "b", "c"); `super().m` -> ("super()", "m"); anything else None."""
    if node.type == "identifier":
        return (_text(node),)
    if node.type == "attribute":
        head = _dotted(node.child_by_field_name("object"))
        return head + (_text(node.child_by_field_name("attribute")),) if head else None
    if node.type == "call" and _text(node.child_by_field_name("function")) == "super":
        return ("super()",)
    return None


def _walk(node: TSNode, stop_at: tuple[str, ...] = _DEFINITIONS):
    """Every node below `node`, not entering nested definitions (their code is their own)."""
    for child in node.named_children:
        yield child
        if child.type not in stop_at:
            yield from _walk(child, stop_at)


# --- reading a file -------------------------------------------------------------------------

def _imports(root: TSNode) -> list[Import]:
    found = []
    for node in _walk(root, stop_at=()):  # imports anywhere count: inside functions, try, TYPE_CHECKING
        if node.type == "import_statement":
            for name in node.children_by_field_name("name"):
                target = name.child_by_field_name("name") if name.type == "aliased_import" else name
                found.append(Import(0, _text(target), None, _text(name.child_by_field_name("alias"))))
        elif node.type == "import_from_statement":
            source = node.child_by_field_name("module_name")
            if source is None or not source.named_children and source.type == "relative_import":
                continue  # code still being typed: `from import x`
            level = len(_text(source.named_children[0])) if source.type == "relative_import" else 0
            dotted = source.child(source.child_count - 1) if source.type == "relative_import" else source
            module = _text(dotted) if dotted.type == "dotted_name" else ""
            plain = tuple(_text(n) for n in node.children_by_field_name("name") if n.type != "aliased_import")
            if plain or any(c.type == "wildcard_import" for c in node.children):
                found.append(Import(level, module, plain or ("*",)))
            # `from m import a as b` binds b, not a: one import per alias
            found.extend(Import(level, module, (_text(a.child_by_field_name("name")),),
                                _text(a.child_by_field_name("alias")))
                         for a in node.children_by_field_name("name") if a.type == "aliased_import")
    return found


def _parameters(function: TSNode) -> list[str]:
    names = []
    parameters = function.child_by_field_name("parameters")
    for param in parameters.named_children if parameters is not None else ():
        name = param.child_by_field_name("name") or next(
            (c for c in param.named_children if c.type == "identifier"), param)
        prefix = {"list_splat_pattern": "*", "dictionary_splat_pattern": "**"}.get(param.type, "")
        if name.type == "identifier":
            names.append(prefix + _text(name))
    return names


def _is_static(function: TSNode) -> bool:
    parent = function.parent
    return parent is not None and parent.type == "decorated_definition" and any(
        _text(d).strip() == "@staticmethod" for d in parent.children if d.type == "decorator")


def _function(node: TSNode, source: bytes, module: str, owner: str) -> Function:
    name = _text(node.child_by_field_name("name"))
    params = _parameters(node)
    shown = params[1:] if owner and params and not _is_static(node) else params
    body = node.child_by_field_name("body")
    found = Function(f"{owner or module}.{name}", module, owner, f"{name}({', '.join(shown)})",
                     header(node, source), _docstring(body), node.start_point.row, node.end_point.row,
                     locals={p.lstrip("*") for p in params})
    for child in _walk(body) if body is not None else ():  # no body: a parse error
        if child.type == "call":
            dotted = _dotted(child.child_by_field_name("function"))
            if dotted and dotted not in found.calls:
                found.calls.append(dotted)
        elif child.type in ("assignment", "augmented_assignment", "for_statement", "for_in_clause",
                            "as_pattern_target", "named_expression"):
            target = child.child_by_field_name("left") or child.child_by_field_name("name") or child
            found.locals.update(_text(n) for n in [target, *target.named_children] if n.type == "identifier")
        elif child.type in _DEFINITIONS:  # a nested def binds its name
            found.locals.add(_text(child.child_by_field_name("name")))
    return found


def _attributes(body: TSNode, init: TSNode | None) -> list[str]:
    """Class-level assignments (dataclass fields too) and `self.x = ...` in `__init__`."""
    names = []
    for statement in body.named_children:
        node = statement.named_children[0] if statement.type == "expression_statement" else None
        if node is not None and node.type == "assignment" and node.child_by_field_name("left").type == "identifier":
            names.append(_text(node.child_by_field_name("left")))
    for node in _walk(init.child_by_field_name("body")) if init is not None else ():
        left = node.child_by_field_name("left") if node.type == "assignment" else None
        if left is not None and left.type == "attribute" and _dotted(left) and _dotted(left)[0] == "self":
            names.append(_text(left.child_by_field_name("attribute")))
    return list(dict.fromkeys(names))


class _Reader:
    """Collects one file's modules, classes and functions into a `Structure`."""

    def __init__(self, structure: "Structure", module: Module, source: bytes) -> None:
        self.structure, self.module, self.source = structure, module, source

    def block(self, body: TSNode, owner: Class | None) -> None:
        for statement in body.named_children:
            node = _unwrap(statement)
            if node.type == "class_definition":
                self.add_class(node, owner)
            elif node.type == "function_definition":
                function = _function(node, self.source, self.module.name, owner.qualname if owner else "")
                self.structure.functions[function.qualname] = function
                name = _text(node.child_by_field_name("name"))
                if owner is not None:
                    owner.methods[name] = function.qualname
                else:
                    self.module.names[name] = function.qualname

    def add_class(self, node: TSNode, outer: Class | None) -> None:
        name = _text(node.child_by_field_name("name"))
        superclasses = node.child_by_field_name("superclasses")
        bases = [d for arg in (superclasses.named_children if superclasses else ())  # keywords left out
                 if arg.type in ("identifier", "attribute") and (d := _dotted(arg))]
        body = node.child_by_field_name("body")
        if body is None:  # a parse error: `class A(:`
            return
        found = Class(f"{outer.qualname if outer else self.module.name}.{name}", self.module.name,
                      bases, header(node, self.source), _docstring(body))
        init = next((_unwrap(s) for s in body.named_children if _unwrap(s).type == "function_definition"
                     and _text(_unwrap(s).child_by_field_name("name")) == "__init__"), None)
        found.attributes = _attributes(body, init)
        self.structure.classes[found.qualname] = found
        if outer is None:
            self.module.names[name] = found.qualname
        self.block(body, found)


def language_error(path: str, language: str | None) -> UnsupportedLanguage:
    shown = language or f"'{PurePosixPath(path).suffix or path}' files"
    return UnsupportedLanguage(f"diagrams are drawn for {', '.join(SUPPORTED_LANGUAGES)} code only; "
                               f"{path} is {shown}, which is not supported yet")


def extract(root: Path, files: Iterable[Path | str] | None = None) -> "Structure":
    """The structure of the repository at `root`: every indexed file (as the workspace index
    walks them, .gitignore honoured), or just `files`. A listed file in an unsupported
    language raises `UnsupportedLanguage`; a walked one is skipped and counted in `skipped`."""
    workspace = WorkspaceFiles(Path(root))
    structure = Structure(workspace.root)
    paths = workspace.walk() if files is None else (workspace.root / Path(f) for f in files)
    for path in paths:
        relative = workspace.relative(path)
        if relative is None:
            raise ValueError(f"{path} is outside the repository {workspace.root}")
        if workspace.is_private(path):  # its docstrings would reach a caption prompt
            raise ValueError(f"{relative} is private (a secret's name or .codegenignore): not drawn")
        language = language_of_path(relative)
        if language not in SUPPORTED_LANGUAGES:
            if files is not None:
                raise language_error(relative, language)
            structure.skipped[language or "unknown"] += 1
            continue
        source = path.read_bytes()
        tree = parser_for(language).parse(source)
        name = module_name(relative, workspace.root)
        module = Module(name, relative, PurePosixPath(relative).stem == "__init__", _docstring(tree.root_node),
                        _imports(tree.root_node))
        structure.modules[name] = module
        _Reader(structure, module, source).block(tree.root_node, None)
    if not structure.modules and structure.skipped:
        languages = ", ".join(sorted(structure.skipped))
        raise UnsupportedLanguage(f"diagrams are drawn for {', '.join(SUPPORTED_LANGUAGES)} code only; "
                                  f"{workspace.root.name} has only {languages} files")
    return structure


# --- resolving names across the repository --------------------------------------------------

# What a dotted name resolves to: ("module" | "class" | "function", qualified name).
Target = tuple[str, str]


@dataclass
class Structure:
    root: Path
    modules: dict[str, Module] = field(default_factory=dict)
    classes: dict[str, Class] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)     # language -> files left out
    _mro: dict[str, list[Class]] = field(default_factory=dict, repr=False)

    @cached_property
    def _packages(self) -> set[str]:
        """Modules and every dotted prefix of one (namespace packages have no `__init__.py`).
        Read once extraction is done."""
        return {".".join(m.split(".")[:end]) for m in self.modules for end in range(1, m.count(".") + 2)}

    def _is_package(self, name: str) -> bool:
        return name in self._packages

    def _absolute(self, module: Module, spec: Import) -> str | None:
        """The dotted module an import names, relative ones made absolute; None above the root."""
        if spec.level == 0:
            return spec.module
        parts = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
        if spec.level - 1 > len(parts) or (spec.level - 1 == len(parts) and not spec.module):
            return None
        base = parts[: len(parts) - (spec.level - 1)]
        return ".".join(base + ([spec.module] if spec.module else []))

    def imported_modules(self, module: Module) -> tuple[set[str], Counter]:
        """(repository modules `module` imports, external top-level names and how often)."""
        found: set[str] = set()
        external: Counter = Counter()
        for spec in module.imports:
            target = self._absolute(module, spec)
            if target is None:
                continue
            candidates = [f"{target}.{n}" for n in spec.names or () if n != "*"]
            hits = [c for c in candidates if c in self.modules]
            if len(hits) < len(candidates) or not candidates:  # some names are not modules: they're in target
                hits += self._existing_prefix(target)
            if not hits and spec.level == 0:
                external[target.split(".")[0]] += 1
            found.update(h for h in hits if h != module.name)
        return found, external

    def _existing_prefix(self, dotted: str) -> list[str]:
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in self.modules:
                return [".".join(parts[:end])]
        return []

    # A name in a module: its own definitions, then what it imports under that name.
    def lookup(self, module_name: str, name: str, seen: frozenset = frozenset()) -> Target | None:
        if (module_name, name) in seen:
            return None  # a cycle of re-exports
        seen = seen | {(module_name, name)}
        module = self.modules.get(module_name)
        if module is not None and name in module.names:
            qualname = module.names[name]
            return ("class" if qualname in self.classes else "function", qualname)
        if module is not None:
            for spec in reversed(module.imports):  # the last import of a name wins
                found = self._from_import(module, spec, name, seen)
                if found is not None:
                    return found
        if self._is_package(f"{module_name}.{name}"):
            return ("module", f"{module_name}.{name}")
        return None

    def _from_import(self, module: Module, spec: Import, name: str, seen: frozenset) -> Target | None:
        target = self._absolute(module, spec)
        if target is None:
            return None
        if spec.names is None:  # import a.b.c binds a; import a.b.c as x binds x to a.b.c
            bound = spec.alias or target.split(".")[0]
            module_bound = target if spec.alias else bound
            return ("module", module_bound) if bound == name and self._is_package(module_bound) else None
        if spec.names == ("*",):
            return self.lookup(target, name, seen) if target in self.modules else None
        original = spec.original(name)
        return self.lookup(target, original, seen) if original is not None else None

    def member(self, target: Target, name: str) -> Target | None:
        kind, qualname = target
        if kind == "module":
            return self.lookup(qualname, name)
        if kind == "class":
            for cls in self.mro(qualname):
                if name in cls.methods:
                    return ("function", cls.methods[name])
                if f"{cls.qualname}.{name}" in self.classes:
                    return ("class", f"{cls.qualname}.{name}")
        return None

    def resolve(self, module_name: str, dotted: tuple[str, ...]) -> Target | None:
        target = self.lookup(module_name, dotted[0])
        for name in dotted[1:]:
            target = self.member(target, name) if target is not None else None
        return target

    def bases(self, cls: Class) -> list[tuple[str, bool]]:
        """(id, is_external) per base: a repository class's qualname, else the dotted name as
        imported (`json.JSONEncoder`) or as written (`ValueError`)."""
        found = []
        for dotted in cls.bases:
            target = self.resolve(cls.module, dotted)
            if target is not None and target[0] == "class":
                found.append((target[1], False))
            else:
                found.append((self._external_name(cls.module, dotted), True))
        return found

    def _external_name(self, module_name: str, dotted: tuple[str, ...]) -> str:
        module = self.modules[module_name]
        for spec in module.imports:
            if spec.names is None and (spec.alias or spec.module.split(".")[0]) == dotted[0]:
                return ".".join((spec.module if spec.alias else dotted[0],) + dotted[1:])
            if spec.names and spec.level == 0 and spec.original(dotted[0]) is not None:
                return ".".join((spec.module, spec.original(dotted[0])) + dotted[1:])
        return ".".join(dotted)

    def mro(self, qualname: str) -> list[Class]:
        """The class and its repository bases, depth first, each once (close to Python's MRO
        for the single-inheritance chains diagrams mostly show)."""
        if qualname in self._mro:
            return self._mro[qualname]
        order: dict[str, Class] = {}
        pending = [qualname]
        while pending:
            cls = self.classes.get(pending.pop(0))
            if cls is None or cls.qualname in order:
                continue
            order[cls.qualname] = cls
            pending[:0] = [base for base, external in self.bases(cls) if not external]
        self._mro[qualname] = list(order.values())
        return self._mro[qualname]

    def callee(self, function: Function, dotted: tuple[str, ...]) -> str | None:
        """The repository function a call runs, or None when that is not certain from the code."""
        head = dotted[0]
        if function.owner and head in ("self", "cls", "super()") and len(dotted) == 2:
            chain = self.mro(function.owner)
            for cls in chain[1:] if head == "super()" else chain:
                if dotted[1] in cls.methods:
                    return cls.methods[dotted[1]]
            return None
        if head in function.locals or head == "super()":
            return None  # a local, a parameter: its type is unknown
        target = self.resolve(function.module, dotted)
        if target is not None and target[0] == "class":  # instantiation runs __init__
            target = self.member(target, "__init__")
        return target[1] if target is not None and target[0] == "function" else None

    def calls(self) -> set[tuple[str, str]]:
        """Every (caller, callee) pair between repository functions and methods."""
        return {(f.qualname, callee) for f in self.functions.values()
                for dotted in f.calls if (callee := self.callee(f, dotted)) is not None}
