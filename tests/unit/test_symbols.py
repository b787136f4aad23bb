"""File outlines from real tree-sitter grammars, one sample file per language."""

from pathlib import Path

import pytest

from codegen_lsp.context.languages import GRAMMARS, language_of_path, outline_query, parser_for
from codegen_lsp.context.symbols import outline

SAMPLES = Path(__file__).parent.parent / "data" / "outline"

# file -> {(kind, container, name): (signature, doc)}, the whole outline; imports separately.
EXPECTED = {
    "sample.py": {("constant", "", "MAX_SIZE"): ("MAX_SIZE = 10", ""),
                  ("class", "", "Cache"): ("class Cache(OD)", "An LRU cache."),
                  ("method", "Cache", "get"): ("def get(self, key: str, default=None) -> object",
                                               "Return the value for key."),
                  ("function", "", "fetch"): ("async def fetch(url, timeout=5)", "")},
    "sample.js": {("constant", "", "LIMIT"): ("const LIMIT = 5;", ""),
                  ("function", "", "add"): ("function add(a, b)", "Add two numbers."),
                  ("function", "", "mul"): ("const mul = (a, b) =>", "Multiplies."),
                  ("class", "", "Shape"): ("class Shape", ""),
                  ("method", "Shape", "area"): ("area()", "")},
    "sample.ts": {("type", "", "Point"): ("interface Point", ""), ("type", "", "Id"): ("type Id = string;", ""),
                  ("type", "", "Color"): ("enum Color", ""), ("class", "", "Circle"): ("class Circle", "A circle."),
                  ("method", "Circle", "radius"): ("radius(): number", ""),
                  ("function", "", "make"): ("function make(id: Id): Point", "")},
    "sample.go": {("constant", "", "Pi"): ("Pi = 3.14", ""),
                  ("type", "", "Circle"): ("Circle struct{ R float64 }", "Circle is round."),
                  ("method", "Circle", "Area"): ("func (c *Circle) Area() float64", "Area returns the area."),
                  ("function", "", "New"): ("func New(r float64) *Circle", "")},
    "sample.rs": {("constant", "", "MAX"): ("pub const MAX: u32 = 10;", ""),
                  ("type", "", "Point"): ("pub struct Point", "A point in space."),
                  ("type", "", "Shape"): ("pub trait Shape", ""),
                  ("method", "Shape", "area"): ("fn area(&self) -> f64;", ""),
                  ("method", "Point", "new"): ("pub fn new(x: i32) -> Self", "Makes a point."),
                  ("function", "", "helper"): ("fn helper()", "")},
    "Sample.java": {("class", "", "Sample"): ("public class Sample", "Shapes."),
                    ("constant", "Sample", "MAX"): ("static final int MAX = 3;", ""),
                    ("method", "Sample", "Sample"): ("public Sample()", "Builds it."),
                    ("method", "Sample", "area"): ("public int area(int w, int h)", ""),
                    ("type", "", "Shape"): ("interface Shape", ""),
                    ("method", "Shape", "area"): ("double area();", "")},
    "sample.c": {("constant", "", "MAX"): ("#define MAX 10", ""), ("type", "", "point"): ("struct point", ""),
                 ("type", "", "point_t"): ("typedef struct point point_t;", ""),
                 ("function", "", "add"): ("int add(int a, int b)", "Adds two ints."),
                 ("function", "", "name"): ("char *name(void);", "")},
    "sample.cpp": {("class", "", "Circle"): ("class Circle", ""),
                   ("method", "Circle", "area"): ("double Circle::area() const", ""),
                   ("function", "", "twice"): ("int twice(int x)", "")},
    "sample.lua": {("function", "", "add"): ("local function add(a, b)", "Adds."),
                   ("function", "M", "sub"): ("function M.sub(a, b)", ""),
                   ("method", "M", "area"): ("function M:area()", "")},
    "sample.sh": {("function", "", "greet"): ("greet()", "Greets.")},
}
IMPORTS = {"sample.py": ("import os", "from collections import OrderedDict as OD"),
           "sample.js": ('import { readFile } from "fs";',), "sample.ts": ('import { Thing } from "./thing";',),
           "sample.go": ('import "math"',), "sample.rs": ("use std::fmt;",),
           "Sample.java": ("import java.util.List;",), "sample.c": ("#include <stdio.h>",),
           "sample.cpp": ("#include <vector>",), "sample.lua": ('require("json")',),
           "sample.sh": ("source ./lib.sh",)}


def outline_of(name: str):
    language = language_of_path(name)
    source = (SAMPLES / name).read_bytes()
    return outline(language, parser_for(language).parse(source), source)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outline_of_each_language(name):
    result = outline_of(name)
    got = {(s.kind, s.container, s.name): (s.signature, s.doc) for s in result.symbols}
    for key, value in EXPECTED[name].items():
        assert got.get(key) == value, key
    extra = set(got) - set(EXPECTED[name])
    assert not extra, extra
    assert result.imports == IMPORTS[name]
    assert [s.line for s in result.symbols] == sorted(s.line for s in result.symbols)


def test_every_grammar_has_an_outline_query():
    for language_id in GRAMMARS:
        assert outline_query(language_id) is not None, language_id


def test_unknown_language_and_missing_tree_give_an_empty_outline():
    assert outline("cobol", None, b"IDENTIFICATION DIVISION.").symbols == ()
    assert outline("python", None, b"def f(): pass").symbols == ()


def test_broken_code_still_gives_the_definitions_it_can():
    source = b"def ok(a):\n    return a\n\ndef broken(:\n    pass\n"
    result = outline("python", parser_for("python").parse(source), source)
    assert [s.name for s in result.symbols][:1] == ["ok"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_facts_agree_with_the_outline_on_top_level_names(name):
    from codegen_lsp.context.symbols import file_facts

    language = language_of_path(name)
    source = (SAMPLES / name).read_bytes()
    tree = parser_for(language).parse(source)
    facts = file_facts(tree, source)
    top_level = {s.name for s in outline(language, tree, source).symbols if not s.container}
    missed = top_level - facts.names
    assert not missed or name == "sample.lua", missed  # Lua's `function M.sub` names a field of M
    if name not in ("sample.lua", "sample.sh"):  # require() and source are calls, not import nodes
        assert facts.imports == IMPORTS[name]


def test_file_facts_skip_what_functions_define_inside():
    from codegen_lsp.context.symbols import file_facts

    source = b"def outer():\n    def inner():\n        pass\n    local = 1\n\nclass K:\n    def m(self):\n        pass\n"
    facts = file_facts(parser_for("python").parse(source), source)
    assert facts.names == {"outer", "K", "m"}


@pytest.mark.parametrize("seed", range(4))
def test_kept_facts_match_a_fresh_computation_after_random_edits(seed):
    import random

    from codegen_lsp.context.symbols import FactsCache, file_facts
    from codegen_lsp.documents import DocumentStore
    from tests.conftest import FIT_TEXT
    from tests.unit.test_syntax import random_change

    rng = random.Random(seed)
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, FIT_TEXT.read_text())
    cache = FactsCache()
    for version in range(2, 40):
        store.change(doc.uri, version, [random_change(doc, rng)], "utf-16")
        source = doc.text.encode("utf-8", "surrogatepass")
        assert cache.facts(doc.tree.copy(), doc.source, version) == file_facts(parser_for("python").parse(source), source)


def test_a_keystroke_inside_a_function_walks_only_that_function():
    from codegen_lsp.context.symbols import FactsCache
    from codegen_lsp.documents import DocumentStore

    text = "import os\n\n" + "".join(f"def f{i}(a):\n    return a + {i}\n\n\n" for i in range(200))
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, text)
    cache = FactsCache()
    first = cache.facts(doc.tree, doc.source, 1)
    assert cache.walked == 201 and {"f0", "f199"} <= first.names and first.imports == ("import os",)
    line = text.split("\n").index("    return a + 100")
    store.change(doc.uri, 2, [("x", (line, 14, line, 14))], "utf-16")
    assert cache.facts(doc.tree, doc.source, 2) == first
    assert cache.walked == 1
    store.change(doc.uri, 3, [("g", (line - 1, 4, line - 1, 8))], "utf-16")  # def f100 -> def g
    facts = cache.facts(doc.tree, doc.source, 3)
    assert "g" in facts.names and "f100" not in facts.names and cache.walked == 1
