"""Docs diagrams from the code's real structure: module dependencies, classes, calls around a function.

Every node and edge comes from `structure.extract`; a model may add a one-line caption per
node (`caption_prompts` gives it the source to read, `clean_caption` tames its answer), and
captions for ids that are not in the graph are ignored, so a model cannot add nodes or edges.
Diagrams are written as Mermaid (for Markdown docs) and, when Graphviz's `dot` is
installed, rendered to SVG and PNG from the equivalent DOT text.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections import Counter, deque
from pathlib import Path
from typing import Iterable, Sequence

from ..context.languages import language_of_path
from ..context.workspace_files import WorkspaceFiles
from ..privacy import redact
# write_diagram raises OutputPathError for a name leading outside out_dir: callers catch it from here.
from .paths import OutputPathError, safe_output_path, write_text  # noqa: F401
from .structure import (SUPPORTED_LANGUAGES, Edge, Graph, Node, Structure, extract, language_error)

MAX_CAPTION_CHARS = 80
MAX_PROMPT_CHARS = 600
RENDER_TIMEOUT_S = 60
INSTALL_HINT = ("Graphviz's `dot` is needed to render diagrams to SVG and PNG, and it is not on PATH. "
                "Install it: Debian/Ubuntu `sudo apt install graphviz`, Fedora `sudo dnf install graphviz`, "
                "macOS `brew install graphviz`, Windows `winget install graphviz`. "
                "The Mermaid file is written either way.")


class GraphvizMissing(RuntimeError):
    """`dot` is not installed; the message says how to install it."""

    def __init__(self, message: str = INSTALL_HINT) -> None:
        super().__init__(message)


class RenderFailed(RuntimeError):
    """`dot` ran and failed (its stderr is in the message)."""


class OutputExists(FileExistsError):
    """A diagram file is already there and `overwrite` was not asked for."""


# --- the three diagrams ---------------------------------------------------------------------

def module_diagram(root: Path, files: Iterable[Path | str] | None = None,
                   include_external: bool = False) -> Graph:
    """Repository modules and which imports which; external imports are counted in the notes
    (or drawn as `external` nodes with `include_external`)."""
    structure = extract(root, files)
    nodes = {name: Node(name, name, "module") for name in structure.modules}
    edges: set[Edge] = set()
    external: Counter = Counter()
    for module in structure.modules.values():
        targets, outside = structure.imported_modules(module)
        edges.update(Edge(module.name, target, "imports") for target in targets)
        external.update(outside)
        for name in outside if include_external else ():
            nodes.setdefault(f"external:{name}", Node(f"external:{name}", name, "external"))
            edges.add(Edge(module.name, f"external:{name}", "imports"))
    notes = _skipped_notes(structure)
    if external and not include_external:
        notes.append("external imports left out: " + ", ".join(f"{n} ({c})" for n, c in sorted(external.items())))
    return _graph(f"Modules of {structure.root.name}", "modules", nodes.values(), edges, notes=notes)


def class_diagram(root: Path, files: Iterable[Path | str] | None = None,
                  modules: Sequence[str] | None = None) -> Graph:
    """Classes with their attributes and methods, and inheritance. `modules` keeps the classes
    of those modules (or packages) and their direct bases; bases outside the repository are
    `external` nodes named as the code imports them (`json.JSONEncoder`)."""
    structure = extract(root, files)
    shown = [c for c in structure.classes.values() if modules is None or
             any(c.module == m or c.module.startswith(m + ".") for m in modules)]
    nodes: dict[str, Node] = {}
    edges: set[Edge] = set()
    for cls in shown:
        for base, is_external in structure.bases(cls):
            if is_external:
                base = f"external:{base}"
                nodes[base] = Node(base, base.removeprefix("external:"), "external")
            elif base not in nodes:
                nodes[base] = _class_node(structure, structure.classes[base])
            edges.add(Edge(cls.qualname, base, "inherits"))
        nodes[cls.qualname] = _class_node(structure, cls)
    return _graph(f"Classes of {structure.root.name}", "classes", _short_labels(structure, nodes), edges,
                  notes=_skipped_notes(structure))


def _class_node(structure: Structure, cls) -> Node:
    methods = [structure.functions[q].signature for q in cls.methods.values()]
    return Node(cls.qualname, cls.qualname, "class", tuple(cls.attributes) + tuple(methods))


def call_diagram(root: Path, file: Path | str, function: str | tuple[int, int], depth: int = 1,
                 files: Iterable[Path | str] | None = None) -> Graph:
    """`function` (a name, `Class.method`, or a 0-based (line, column) inside it) in `file`, the
    functions that call it and those it calls, `depth` steps each way, with every call between
    them. Only calls the code makes certain are drawn (see `Structure.callee`)."""
    if depth < 0:
        raise ValueError("depth must be 0 or more")
    relative = WorkspaceFiles(Path(root)).relative(Path(root) / file)  # `file`: absolute, or under root
    if relative is None:
        raise ValueError(f"{file} is not inside {root}")
    if language_of_path(relative) not in SUPPORTED_LANGUAGES:
        raise language_error(relative, language_of_path(relative))
    structure = extract(root, files)
    focus = _find_function(structure, relative, function)
    calls = structure.calls()
    reached = _reach(focus, calls, depth) | _reach(focus, {(b, a) for a, b in calls}, depth)
    nodes = {q: Node(q, q, "method" if structure.functions[q].owner else "function") for q in reached}
    edges = {Edge(a, b, "calls") for a, b in calls if a in reached and b in reached}
    return _graph(f"Calls around {focus}", "calls", _short_labels(structure, nodes), edges, focus=focus)


def _find_function(structure: Structure, relative: str, wanted: str | tuple[int, int]) -> str:
    module = next((m for m in structure.modules.values() if m.path == relative), None)
    if module is None:
        raise ValueError(f"{relative} is not a module of the repository (ignored, or not found)")
    own = [f for f in structure.functions.values() if f.module == module.name]
    if isinstance(wanted, tuple):
        line = wanted[0]
        inside = [f for f in own if f.line <= line <= f.end_line]
        if not inside:
            raise ValueError(f"no function at line {line + 1} of {relative}")
        return min(inside, key=lambda f: f.end_line - f.line).qualname
    found = [f.qualname for f in own if f.qualname == f"{module.name}.{wanted}" or f.qualname.endswith("." + wanted)]
    if len(found) != 1:
        problem = "no function" if not found else f"{len(found)} functions ({', '.join(sorted(found))})"
        raise ValueError(f"{problem} named {wanted!r} in {relative}")
    return found[0]


def _reach(start: str, pairs: set[tuple[str, str]], depth: int) -> set[str]:
    following: dict[str, set[str]] = {}
    for a, b in pairs:
        following.setdefault(a, set()).add(b)
    seen, queue = {start}, deque([(start, 0)])
    while queue:
        name, steps = queue.popleft()
        for nxt in following.get(name, ()) if steps < depth else ():
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, steps + 1))
    return seen


def _short_labels(structure: Structure, nodes: dict[str, Node]) -> list[Node]:
    """Labels without the module (`CsvExporter.export`), unless two nodes would look alike."""
    def short(node: Node) -> str:
        owner = structure.classes.get(node.id) or structure.functions.get(node.id)
        return node.id[len(owner.module) + 1:] if owner is not None else node.label
    counts = Counter(short(n) for n in nodes.values())
    return [Node(n.id, short(n) if counts[short(n)] == 1 else n.id, n.kind, n.members) for n in nodes.values()]


def _skipped_notes(structure: Structure) -> list[str]:
    return [f"left out {count} {language} file(s): diagrams support {', '.join(SUPPORTED_LANGUAGES)} only"
            for language, count in sorted(structure.skipped.items())]


def _graph(title: str, kind: str, nodes: Iterable[Node], edges: Iterable[Edge], focus: str = "",
           notes: Sequence[str] = ()) -> Graph:
    return Graph(title, kind, tuple(sorted(nodes, key=lambda n: n.id)),
                 tuple(sorted(edges, key=lambda e: (e.source, e.target, e.kind))), focus, tuple(notes))


# --- captions: a model's words under a node, never a node of its own -------------------------

def clean_caption(text: str) -> str:
    """One line of plain text, at most MAX_CAPTION_CHARS: the first non-empty line of what the
    model said, without list markers, quotes or control characters."""
    line = next((ln for ln in str(text).splitlines() if ln.strip()), "")
    line = "".join(ch if ch.isprintable() else " " for ch in line)
    line = " ".join(line.split()).lstrip("-*#>• ").strip()
    if len(line) > 1 and line[0] == line[-1] and line[0] in "\"'`":  # the model quoted its answer
        line = line[1:-1].strip()
    return line if len(line) <= MAX_CAPTION_CHARS else line[: MAX_CAPTION_CHARS - 1].rstrip() + "…"


def _captions(graph: Graph, captions: dict[str, str] | None) -> dict[str, str]:
    ids = graph.node_ids()
    cleaned = {key: clean_caption(text) for key, text in (captions or {}).items() if key in ids}
    return {key: text for key, text in cleaned.items() if text}


def caption_prompts(graph: Graph, root: Path, files: Iterable[Path | str] | None = None) -> dict[str, str]:
    """Per node, the source a model reads to caption it: the signature and docstring (a module's
    docstring and top-level names). External nodes have no source here and get no prompt."""
    structure = extract(root, files)
    prompts = {}
    for node in graph.nodes:
        if node.id in structure.modules:
            module = structure.modules[node.id]
            text = f"# module {module.name} ({module.path})\n{module.doc}\ndefines: {', '.join(module.names)}"
        elif node.id in structure.classes or node.id in structure.functions:
            found = structure.classes.get(node.id) or structure.functions[node.id]
            text = f"{found.header}\n{found.doc}".strip()
        else:
            continue
        prompts[node.id] = redact(text)[0][:MAX_PROMPT_CHARS]  # a default value may be a key
    return prompts


# --- Mermaid ----------------------------------------------------------------------------------

_MERMAID_RESERVED = {"end", "graph", "flowchart", "subgraph", "class", "classdef", "click", "style", "linkstyle",
                     "direction", "default", "note", "namespace", "call", "href", "callback"}


def mermaid_ids(graph: Graph) -> dict[str, str]:
    """Node id -> a Mermaid-safe identifier (letters, digits, `_`), unique in the graph."""
    taken: set[str] = set()
    ids = {}
    for node in graph.nodes:
        base = re.sub(r"\W", "_", node.id, flags=re.ASCII).strip("_") or "node"
        if base.lower() in _MERMAID_RESERVED or base[0].isdigit():
            base = "n_" + base
        candidate, count = base, 1
        while candidate in taken:
            count += 1
            candidate = f"{base}_{count}"
        taken.add(candidate)
        ids[node.id] = candidate
    return ids


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label or note: its entity codes for what would end or break it."""
    return (text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("{", "#123;").replace("}", "#125;"))


def _mermaid_member(member: str) -> str:
    # Members are not quoted in a class diagram: keep to characters Mermaid reads as plain text.
    visibility = "-" if member.startswith("_") and not member.startswith("__") else "+"
    return visibility + re.sub(r"[^\w(), *.=]", "", member)


def to_mermaid(graph: Graph, captions: dict[str, str] | None = None) -> str:
    ids, notes = mermaid_ids(graph), _captions(graph, captions)
    if graph.kind == "classes":
        return _mermaid_classes(graph, ids, notes)
    lines = ["graph LR" if graph.kind == "modules" else "flowchart LR"]
    for node in graph.nodes:
        label = _mermaid_text(node.label) + (f"<br/><small>{_mermaid_text(notes[node.id])}</small>"
                                             if node.id in notes else "")
        shape = ('(["', '"])') if node.kind == "external" else ('["', '"]')
        lines.append(f"    {ids[node.id]}{shape[0]}{label}{shape[1]}")
    external = {node.id for node in graph.nodes if node.kind == "external"}
    lines += [f"    {ids[e.source]} {'-.->' if e.target in external else '-->'} {ids[e.target]}" for e in graph.edges]
    if graph.focus:
        lines += ["    classDef focus stroke-width:3px", f"    class {ids[graph.focus]} focus"]
    return "\n".join(lines) + "\n"


def _mermaid_classes(graph: Graph, ids: dict[str, str], notes: dict[str, str]) -> str:
    lines = ["classDiagram"]
    for node in graph.nodes:
        lines.append(f'    class {ids[node.id]}["{_mermaid_text(node.label)}"]')
        lines += [f"    {ids[node.id]} : {_mermaid_member(m)}" for m in node.members]
        if node.kind == "external":
            lines.append(f"    <<external>> {ids[node.id]}")
    lines += [f"    {ids[e.target]} <|-- {ids[e.source]}" for e in graph.edges]
    lines += [f'    note for {ids[key]} "{_mermaid_text(text)}"' for key, text in sorted(notes.items())]
    return "\n".join(lines) + "\n"


def to_markdown(graph: Graph, mermaid: str) -> str:
    extra = "".join(f"\n> {note}\n" for note in graph.notes)
    return f"# {graph.title}\n\n```mermaid\n{mermaid}```\n{extra}"


# --- Graphviz ---------------------------------------------------------------------------------

def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(node: Node, caption: str | None) -> str:
    """An HTML-like label: a class as a table of name, attributes and methods; others a name
    with the caption in small italics below it."""
    name = html.escape(node.label)
    below = f'<BR/><FONT POINT-SIZE="9"><I>{html.escape(caption)}</I></FONT>' if caption else ""
    if node.kind != "class":
        return f"<{name}{below}>"
    attributes = [m for m in node.members if "(" not in m]
    methods = [m for m in node.members if "(" in m]
    rows = [f"<TR><TD><B>{name}</B>{below}</TD></TR>"]
    for group in (attributes, methods):
        cell = "".join(f'{html.escape(m)}<BR ALIGN="LEFT"/>' for m in group) or " "
        rows.append(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{cell}</TD></TR>')
    return f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">{"".join(rows)}</TABLE>>'


def to_dot(graph: Graph, captions: dict[str, str] | None = None) -> str:
    notes = _captions(graph, captions)
    lines = [f"digraph {_dot_id(graph.title)} {{",
             f'    graph [rankdir={"BT" if graph.kind == "classes" else "LR"}, fontname="Helvetica"];',
             '    node [shape=box, fontname="Helvetica", fontsize=11];',
             '    edge [fontname="Helvetica"];']
    for node in graph.nodes:
        style = {"class": ", shape=plain", "external": ", style=dashed"}.get(node.kind, "")
        if node.id == graph.focus:
            style += ', style="filled,bold", fillcolor="#fff3c4"'
        lines.append(f"    {_dot_id(node.id)} [label={_dot_label(node, notes.get(node.id))}{style}];")
    for edge in graph.edges:
        style = " [arrowhead=empty]" if edge.kind == "inherits" else ""
        lines.append(f"    {_dot_id(edge.source)} -> {_dot_id(edge.target)}{style};")
    return "\n".join(lines + ["}"]) + "\n"


def render(dot_text: str, out_base: Path) -> list[Path]:
    """`out_base`.svg and .png from DOT text; `GraphvizMissing` when `dot` is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing()
    written = []
    for fmt in ("svg", "png"):
        target = out_base.with_name(f"{out_base.name}.{fmt}")
        try:
            done = subprocess.run([dot, f"-T{fmt}", "-o", str(target)], input=dot_text.encode("utf-8"),
                                  capture_output=True, timeout=RENDER_TIMEOUT_S, check=False)
        except FileNotFoundError as exc:  # removed since `which` found it
            raise GraphvizMissing() from exc
        except subprocess.TimeoutExpired as exc:
            raise RenderFailed(f"dot took more than {RENDER_TIMEOUT_S}s to render {target.name}") from exc
        if done.returncode != 0:
            raise RenderFailed(f"dot failed on {target.name}: {done.stderr.decode('utf-8', 'replace').strip()}")
        written.append(target)
    return written


# --- writing files ----------------------------------------------------------------------------

def write_diagram(graph: Graph, out_dir: Path, name: str, captions: dict[str, str] | None = None,
                  overwrite: bool = False) -> dict:
    """Write `<name>.mmd` and `<name>.md` (a ```mermaid block), then `<name>.svg` and `.png` when
    Graphviz is installed. Returns the paths (None for what was not written), a `warning` when
    `dot` is missing, and the graph's notes. Existing files are kept unless `overwrite`;
    a name leading outside `out_dir` raises `OutputPathError` (from `paths`)."""
    # Checked all at once, before anything is written: no half-replaced set of files.
    paths = {ext: safe_output_path(out_dir, f"{name}.{ext}", overwrite=True) for ext in ("mmd", "md", "svg", "png")}
    existing = [path for path in paths.values() if path.exists() or path.is_symlink()]
    if existing and not overwrite:
        raise OutputExists(f"{existing[0]} already exists; pass overwrite=True to replace it")
    mermaid = to_mermaid(graph, captions)
    write_text(out_dir, f"{name}.mmd", mermaid, overwrite=True)
    write_text(out_dir, f"{name}.md", to_markdown(graph, mermaid), overwrite=True)
    result = {"mermaid": paths["mmd"], "markdown": paths["md"], "svg": None, "png": None,
              "warning": None, "notes": list(graph.notes)}
    try:
        svg, png = render(to_dot(graph, captions), paths["mmd"].with_suffix(""))
        result.update(svg=svg, png=png)
    except GraphvizMissing as exc:
        result["warning"] = str(exc)
    return result
