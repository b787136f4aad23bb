"""Docs diagrams: exactly the nodes and edges the fixture repository's code has, as Mermaid and DOT.

The expected sets below are written by hand from tests/data/diagram_repo, not from the
code's output: a missing edge and an invented one both fail.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codegen_lsp.generators.diagram import (GraphvizMissing, OutputExists, OutputPathError, call_diagram,
                                            caption_prompts, class_diagram, clean_caption, mermaid_ids,
                                            module_diagram, render, to_dot, to_mermaid, write_diagram)
from codegen_lsp.generators.structure import UnsupportedLanguage, extract

REPO = Path(__file__).resolve().parents[1] / "data" / "diagram_repo"
REQUIRE_DOT = os.environ.get("CODEGEN_REQUIRE_GRAPHVIZ") == "1"


def edges(graph):
    return {(e.source, e.target) for e in graph.edges}


def ids(graph):
    return {n.id for n in graph.nodes}


@pytest.fixture(scope="module")
def graphs():
    return {"modules": module_diagram(REPO), "classes": class_diagram(REPO),
            "calls": call_diagram(REPO, "shop/pricing.py", "total")}


def needs_dot():
    if shutil.which("dot") is None:
        if REQUIRE_DOT:
            pytest.fail("CODEGEN_REQUIRE_GRAPHVIZ=1 but Graphviz's `dot` is not on PATH")
        pytest.skip("Graphviz's `dot` is not installed")


# --- the three diagrams: exact nodes and edges ------------------------------------------------

def test_module_graph(graphs):
    graph = graphs["modules"]
    assert ids(graph) == {"app", "shop", "shop.io", "shop.io.export", "shop.models", "shop.pricing", "shop.util"}
    assert edges(graph) == {
        ("app", "shop"), ("app", "shop.io.export"),                      # from shop import Item (a re-export)
        ("shop", "shop.models"),                                         # from .models import Item
        ("shop.pricing", "shop.util"), ("shop.pricing", "shop.models"),  # from . import util; from .models
        ("shop.io.export", "shop.util"),                                 # import shop.util
        ("shop.io.export", "shop.models"),                               # from shop.models import Error
        ("shop.io.export", "shop.pricing"),                              # from ..pricing import total
    }
    assert {e.kind for e in graph.edges} == {"imports"}
    assert graph.notes == ("external imports left out: json (2), math (1), numpy (1)",)


def test_module_graph_with_external_imports():
    graph = module_diagram(REPO, include_external=True)
    external = {(a, b) for a, b in edges(graph) if b.startswith("external:")}
    assert external == {("shop.models", "external:json"), ("shop.util", "external:math"),
                        ("shop.io.export", "external:json"), ("shop.io.export", "external:numpy")}
    assert {n.id for n in graph.nodes if n.kind == "external"} == {"external:json", "external:math", "external:numpy"}


def test_class_diagram(graphs):
    graph = graphs["classes"]
    assert ids(graph) == {"shop.models.Base", "shop.models.Item", "shop.models.Error", "shop.pricing.DiscountedItem",
                          "shop.io.export.CsvExporter", "shop.io.export.JsonExporter", "app.SpecialItem",
                          "external:ValueError", "external:json.JSONEncoder"}
    assert edges(graph) == {
        ("shop.models.Item", "shop.models.Base"),
        ("shop.models.Error", "external:ValueError"),
        ("shop.pricing.DiscountedItem", "shop.models.Item"),          # across modules, relative import
        ("shop.io.export.JsonExporter", "shop.io.export.CsvExporter"),
        ("shop.io.export.JsonExporter", "external:json.JSONEncoder"),  # an attribute base, named as imported
        ("app.SpecialItem", "shop.models.Item"),                       # through the package's re-export
    }
    nodes = {n.id: n for n in graph.nodes}
    assert nodes["shop.models.Item"].members == ("currency", "name", "price", "__init__(name, price)", "to_dict()")
    assert nodes["shop.io.export.CsvExporter"].members == (
        "path", "__init__(path)", "export(items)", "row(item)", "_check(items)")
    assert nodes["shop.models.Item"].label == "Item"
    assert {n.id for n in graph.nodes if n.kind == "external"} == {"external:ValueError", "external:json.JSONEncoder"}


def test_class_diagram_of_one_module_keeps_its_bases():
    graph = class_diagram(REPO, modules=["shop.pricing"])
    assert ids(graph) == {"shop.pricing.DiscountedItem", "shop.models.Item"}
    assert edges(graph) == {("shop.pricing.DiscountedItem", "shop.models.Item")}


def test_every_call_edge_in_the_repository():
    assert extract(REPO).calls() == {
        ("shop.models.Base.to_json", "shop.models.Base.to_dict"),                 # self.to_dict()
        ("shop.util.apply_rate", "shop.util.round_money"),
        ("shop.pricing.total", "shop.util.round_money"),                          # util.round_money via `from . import util`
        ("shop.pricing.total", "shop.pricing.price_of"),
        ("shop.pricing.DiscountedItem.__init__", "shop.models.Item.__init__"),    # super().__init__
        ("shop.pricing.DiscountedItem.to_dict", "shop.models.Item.to_dict"),      # super().to_dict
        ("shop.pricing.DiscountedItem.discounted", "shop.util.apply_rate"),
        ("shop.pricing.DiscountedItem.describe", "shop.models.Base.to_json"),     # self.to_json, inherited
        ("shop.io.export.CsvExporter.export", "shop.io.export.CsvExporter._check"),
        ("shop.io.export.CsvExporter.export", "shop.io.export.CsvExporter.row"),
        ("shop.io.export.CsvExporter.export", "shop.pricing.total"),
        ("shop.io.export.CsvExporter.export", "shop.util.round_money"),           # shop.util.round_money
        ("shop.io.export.main", "shop.io.export.CsvExporter.__init__"),           # CsvExporter(...)
        ("app.run", "shop.io.export.main"),
        ("app.run", "shop.models.Item.__init__"),                                 # SpecialItem(...) inherits it
        # left out: json.dumps, math.floor, np.asarray (external); exporter.export, item.to_dict
        # (objects of unknown type); Error(...) (no __init__ in the repository)
    }


def test_call_graph_around_a_function(graphs):
    graph = graphs["calls"]
    assert graph.focus == "shop.pricing.total"
    assert ids(graph) == {"shop.pricing.total", "shop.pricing.price_of", "shop.util.round_money",
                          "shop.io.export.CsvExporter.export"}
    assert edges(graph) == {("shop.io.export.CsvExporter.export", "shop.pricing.total"),
                            ("shop.pricing.total", "shop.pricing.price_of"),
                            ("shop.pricing.total", "shop.util.round_money"),
                            ("shop.io.export.CsvExporter.export", "shop.util.round_money")}  # between shown nodes


def test_call_graph_by_position_and_depth():
    lines = (REPO / "shop/io/export.py").read_text().splitlines()
    line = next(i for i, text in enumerate(lines) if "self._check(items)" in text)
    graph = call_diagram(REPO, REPO / "shop/io/export.py", (line, 8), depth=2)
    assert graph.focus == "shop.io.export.CsvExporter.export"
    assert ids(graph) == {"shop.io.export.CsvExporter.export", "shop.io.export.CsvExporter._check",
                          "shop.io.export.CsvExporter.row", "shop.pricing.total", "shop.util.round_money",
                          "shop.pricing.price_of"}
    assert ids(call_diagram(REPO, "shop/util.py", "round_money", depth=0)) == {"shop.util.round_money"}
    assert ids(call_diagram(REPO, "shop/io/export.py", "JsonExporter.row")) == {"shop.io.export.JsonExporter.row"}


def test_call_graph_refuses_an_ambiguous_or_unknown_name():
    with pytest.raises(ValueError, match="2 functions"):
        call_diagram(REPO, "shop/io/export.py", "row")
    with pytest.raises(ValueError, match="no function named 'nothing'"):
        call_diagram(REPO, "shop/io/export.py", "nothing")


def test_imports_aliases_shadowing_and_src_layout(tmp_path):
    package = tmp_path / "src" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "b.py").write_text("def f():\n    pass\n")
    (package / "a.py").write_text(
        "from .b import f as g\nimport pkg.b as bb\n\n"
        "def uses_alias():\n    g()\n    bb.f()\n\n"
        "def not_imported():\n    f()\n\n"
        "def shadowed(g):\n    g()\n\n"
        "def local():\n    bb = object()\n    bb.f()\n")
    assert ids(module_diagram(tmp_path)) == {"pkg", "pkg.a", "pkg.b"}
    assert edges(module_diagram(tmp_path)) == {("pkg.a", "pkg.b")}
    assert extract(tmp_path).calls() == {("pkg.a.uses_alias", "pkg.b.f")}


# --- Mermaid and DOT ----------------------------------------------------------------------------

_NODE = re.compile(r'^    (\w+)(\["[^"\n]*"\]|\(\["[^"\n]*"\]\))$')
_EDGE = re.compile(r"^    (\w+) (-->|-\.->) (\w+)$")


def test_mermaid_flowcharts_have_every_node_and_edge(graphs):
    for kind, header in (("modules", "graph LR"), ("calls", "flowchart LR")):
        graph = graphs[kind]
        text, names = to_mermaid(graph), mermaid_ids(graph)
        lines = text.splitlines()
        assert lines[0] == header
        declared = {m.group(1) for line in lines if (m := _NODE.match(line))}
        drawn = {(m.group(1), m.group(3)) for line in lines if (m := _EDGE.match(line))}
        assert declared == set(names.values())
        assert drawn == {(names[a], names[b]) for a, b in edges(graph)}
        other = [line for line in lines[1:] if not (_NODE.match(line) or _EDGE.match(line))]
        assert other == ([] if kind == "modules" else
                         ["    classDef focus stroke-width:3px", "    class shop_pricing_total focus"])
        for node in graph.nodes:
            assert f'{names[node.id]}["{node.label}"]' in text


def test_mermaid_class_diagram(graphs):
    graph = graphs["classes"]
    text, names = to_mermaid(graph), mermaid_ids(graph)
    assert text.startswith("classDiagram\n")
    assert 'class shop_models_Item["Item"]' in text
    assert "shop_models_Item : +__init__(name, price)" in text
    assert "shop_io_export_CsvExporter : -_check(items)" in text
    assert "<<external>> external_json_JSONEncoder" in text
    inherits = set(re.findall(r"^    (\w+) <\|-- (\w+)$", text, flags=re.M))
    assert inherits == {(names[base], names[child]) for child, base in edges(graph)}
    assert len(set(names.values())) == len(graph.nodes)


def test_mermaid_ids_are_safe_and_unique():
    from codegen_lsp.generators.structure import Graph, Node
    graph = Graph("t", "modules", (Node("a-b", "a-b", "module"), Node("a.b", 'say "hi" <now> #1', "module"),
                                   Node("end", "end", "module")), ())
    names = mermaid_ids(graph)
    assert names == {"a-b": "a_b", "a.b": "a_b_2", "end": "n_end"}
    assert 'a_b_2["say #quot;hi#quot; #lt;now#gt; #35;1"]' in to_mermaid(graph)


def test_dot_has_the_same_nodes_and_edges(graphs):
    for graph in graphs.values():
        text = to_dot(graph)
        assert set(re.findall(r'^    "([^"]+)" \[label=', text, flags=re.M)) == ids(graph)
        assert set(re.findall(r'^    "([^"]+)" -> "([^"]+)"', text, flags=re.M)) == edges(graph)


def test_dot_is_accepted_by_graphviz(graphs):
    needs_dot()
    for graph in graphs.values():
        done = subprocess.run(["dot", "-Tcanon"], input=to_dot(graph, {graph.nodes[0].id: "a <b> & c"}).encode(),
                              capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()


# --- captions -----------------------------------------------------------------------------------

def test_captions_attach_only_to_existing_nodes(graphs):
    graph = graphs["calls"]
    captions = {"shop.pricing.total": "Adds up prices.\nAnd a second line", "invented.node": "Nope"}
    text, dot = to_mermaid(graph, captions), to_dot(graph, captions)
    assert "Adds up prices." in text and "second line" not in text and "Nope" not in text
    assert "Adds up prices." in dot and "Nope" not in dot and "invented" not in dot
    assert edges(graph) == {tuple(re.findall(r'"([^"]+)"', line)) for line in dot.splitlines() if "->" in line}
    notes = to_mermaid(graphs["classes"], {"shop.models.Item": "A thing for sale"})
    assert 'note for shop_models_Item "A thing for sale"' in notes


def test_clean_caption():
    assert clean_caption('\n  - "Rounds money down."\nmore') == "Rounds money down."
    assert clean_caption("tab\there\x00") == "tab here"
    long = clean_caption("word " * 50)
    assert len(long) == 80 and long.endswith("…") and "\n" not in long


def test_caption_prompts(graphs):
    prompts = caption_prompts(graphs["calls"], REPO)
    assert set(prompts) == ids(graphs["calls"])
    assert prompts["shop.pricing.total"] == "def total(items)\nThe sum of the items' prices."
    classes = caption_prompts(graphs["classes"], REPO)
    assert "external:ValueError" not in classes
    assert classes["shop.models.Item"].startswith("class Item(Base)\nOne thing for sale.")
    assert "Money helpers." in caption_prompts(graphs["modules"], REPO)["shop.util"]


# --- writing files ------------------------------------------------------------------------------

def test_write_renders_svg_and_png(graphs, tmp_path):
    needs_dot()
    result = write_diagram(graphs["classes"], tmp_path, "classes")
    assert result["warning"] is None
    assert result["mermaid"].read_text().startswith("classDiagram")
    assert "```mermaid\nclassDiagram" in result["markdown"].read_text()
    assert b"<svg" in result["svg"].read_bytes()
    assert result["png"].read_bytes().startswith(b"\x89PNG")


def test_missing_graphviz_still_writes_mermaid(graphs, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizMissing, match="apt install graphviz"):
        render(to_dot(graphs["modules"]), tmp_path / "m")
    result = write_diagram(graphs["modules"], tmp_path, "modules")
    assert result["mermaid"] == (tmp_path / "modules.mmd").resolve() and result["mermaid"].is_file()
    assert result["svg"] is None and result["png"] is None
    for hint in ("apt install graphviz", "brew install graphviz", "winget install graphviz"):
        assert hint in result["warning"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modules.md", "modules.mmd"]


def test_no_overwrite_unless_asked(graphs, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    (tmp_path / "calls.mmd").write_text("mine")
    with pytest.raises(OutputExists, match="calls.mmd"):
        write_diagram(graphs["calls"], tmp_path, "calls")
    assert (tmp_path / "calls.mmd").read_text() == "mine" and not (tmp_path / "calls.md").exists()
    assert isinstance(OutputExists("x"), FileExistsError)
    write_diagram(graphs["calls"], tmp_path, "calls", overwrite=True)
    assert (tmp_path / "calls.mmd").read_text().startswith("flowchart LR")


def test_output_paths_stay_inside(graphs, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "link").symlink_to(outside, target_is_directory=True)
    for name in ("../x", "link/x", str(outside / "x")):
        with pytest.raises(OutputPathError):
            write_diagram(graphs["modules"], out, name)
    assert list(outside.iterdir()) == [] and not (tmp_path / "x.mmd").exists()
    write_diagram(graphs["modules"], out, "docs/modules")
    assert (out / "docs" / "modules.mmd").is_file()


# --- other languages: a clear refusal, never a wrong diagram -----------------------------------

def test_unsupported_languages_are_named(tmp_path):
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    with pytest.raises(UnsupportedLanguage, match="only go files"):
        module_diagram(tmp_path)
    with pytest.raises(UnsupportedLanguage, match="main.go is go"):
        class_diagram(tmp_path, files=["main.go"])
    (tmp_path / "lib.rs").write_text("fn f() {}\n")
    with pytest.raises(UnsupportedLanguage, match="lib.rs is rust"):
        call_diagram(tmp_path, "lib.rs", "f")
    (tmp_path / "tool.py").write_text("import os\n")
    graph = module_diagram(tmp_path)
    assert ids(graph) == {"tool"}
    assert "left out 1 go file(s)" in " ".join(graph.notes) and "rust" in " ".join(graph.notes)
