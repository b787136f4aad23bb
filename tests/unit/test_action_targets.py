"""Code action targets, facts and callers from real tree-sitter grammars and a real workspace index."""

from dataclasses import dataclass

import pytest

from codegen_lsp.actions.targets import Caller, Parameter, code_facts, find_callers, target_at
from codegen_lsp.context.index import WorkspaceIndex
from codegen_lsp.context.languages import parser_for
from codegen_lsp.context.workspace_files import WorkspaceFiles

PY = '''import os


class Shape:
    """A shape."""

    @property
    def area(self, scale: float = 1.0) -> float:
        """Area of the shape.

        Scaled by scale.
        """
        if scale < 0:
            raise ValueError("negative scale")
        return self.width() * helper(scale)

    def name(self): return "shape"


def helper(x, *args, key: str = "k", **kw):
    return os.path.join(x, key)
'''

TS = '''import { readFile } from "fs";

/** A circle. */
export class Circle {
  /**
   * The area, scaled.
   */
  area(scale: number = 1, label?: string): number {
    if (scale < 0) {
      throw new RangeError("negative scale");
    }
    return Math.PI * this.radius() * helper(scale);
  }
}

export const helper = (x: number): number => {
  return Math.abs(x);
};

function noop() {}
'''

GO = ('package shapes\n\nimport "errors"\n\n// Circle is round.\ntype Circle struct {\n\tR float64\n}\n\n'
      '// Area returns the area, scaled.\n'
      'func (c *Circle) Area(scale float64, label string) (float64, error) {\n'
      '\tif scale < 0 {\n\t\treturn 0, errors.New("negative scale")\n\t}\n'
      '\treturn c.radius() * helper(scale), nil\n}\n\n'
      'func helper(a, b int, rest ...string) int {\n\treturn max(a, b)\n}\n')

RS = '''use std::fmt;

pub struct Circle {
    r: f64,
}

impl Circle {
    /// The area, scaled.
    #[inline]
    pub fn area(&self, scale: f64, label: &str) -> Result<f64, String> {
        if scale < 0.0 {
            panic!("negative scale");
        }
        Ok(self.radius() * helper(scale))
    }
}

fn helper(x: f64) -> f64 {
    x.abs()
}
'''


@dataclass(frozen=True)
class Case:
    text: str
    in_method: str              # a cursor here is inside the method
    method: str
    header: str
    starts_with: str            # the method's text begins so (decorators, attributes included)
    body_begins: str            # text at body_start
    indent: tuple[str, str]     # indent, body_indent
    docstring: str
    in_function: str
    function: str
    function_from: str          # where the free function starts
    outside: str
    partial: tuple[str, str]    # a selection inside the method across two lines
    parameters: tuple[Parameter, ...]
    returns: str
    raises: tuple[str, ...]
    callees: tuple[str, ...]
    in_class: str
    class_name: str


CASES = {
    "python": Case(PY, "raise ValueError", "area", "def area(self, scale: float = 1.0) -> float", "@property\n",
                   '"""Area of the shape.', ("    ", "        "), "Area of the shape.\n\nScaled by scale.",
                   "os.path", "helper", "def helper", "import os", ("scale < 0", "ValueError"),
                   (Parameter("scale", "float", "1.0"),), "float", ("ValueError",), ("width", "helper"),
                   '"""A shape."""', "Shape"),
    "typescript": Case(TS, "throw new", "area", "area(scale: number = 1, label?: string): number", "area(",
                       "\n    if (scale < 0)", ("  ", "    "), "The area, scaled.", "Math.abs", "helper",
                       "export const helper", 'import {', ("scale < 0", "RangeError"),
                       (Parameter("scale", "number", "1"), Parameter("label?", "string", "")), "number",
                       ("RangeError",), ("radius", "helper"), "Circle {", "Circle"),
    "go": Case(GO, "errors.New", "Area", "func (c *Circle) Area(scale float64, label string) (float64, error)",
               "func (c *Circle)", "\n\tif scale < 0", ("", "\t"), "Area returns the area, scaled.", "max(a, b)",
               "helper", "func helper", "import", ("scale < 0", "errors.New"),
               (Parameter("scale", "float64", ""), Parameter("label", "string", "")), "(float64, error)",
               ("error",), ("radius", "helper"), "R float64", "Circle"),
    "rust": Case(RS, "panic!", "area", "pub fn area(&self, scale: f64, label: &str) -> Result<f64, String>",
                 "#[inline]\n    pub fn area", "\n        if scale", ("    ", "        "), "The area, scaled.",
                 "x.abs()", "helper", "fn helper", "use std", ("scale < 0.0", "panic!"),
                 (Parameter("scale", "f64", ""), Parameter("label", "&str", "")), "Result<f64, String>",
                 ("panic",), ("radius", "helper"), "r: f64", "Circle"),
}
LANGUAGES = sorted(CASES)


def parse(language: str, text: str):
    return parser_for(language).parse(text.encode("utf-8"))


def at(language: str, text: str, marker: str, end_marker: str | None = None):
    start = text.index(marker)
    end = text.index(end_marker, start) + len(end_marker) if end_marker else start
    return target_at(language, parse(language, text), text, start, end)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_cursor_in_a_method_picks_the_method_with_its_header_body_and_docstring(language):
    case = CASES[language]
    target = at(language, case.text, case.in_method)
    assert (target.kind, target.name, target.language) == ("method", case.method, language)
    assert target.header == case.header
    assert case.text[target.start:].startswith(case.starts_with)
    assert case.text[:target.end].endswith("helper(scale)" if language == "python" else "}")
    assert case.text[target.body_start:].startswith(case.body_begins)
    assert (target.indent, target.body_indent) == case.indent
    assert target.docstring == case.docstring


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_cursor_in_a_free_function_picks_it_and_outside_everything_gives_none(language):
    case = CASES[language]
    target = at(language, case.text, case.in_function)
    assert (target.kind, target.name) == ("function", case.function)
    assert at(language, case.text, case.outside) is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_cursor_in_a_class_but_no_method_picks_the_class(language):
    case = CASES[language]
    target = at(language, case.text, case.in_class)
    assert (target.kind, target.name) == ("class", case.class_name)


@pytest.mark.parametrize("language", LANGUAGES)
def test_selecting_a_whole_function_gives_that_function(language):
    case = CASES[language]
    tree = parse(language, case.text)
    start = case.text.index(case.function_from)
    end = at(language, case.text, case.in_function).end
    for selection in ((start, end), (start, end + 1), (start + 3, end)):  # exactly, with its newline, mostly
        target = target_at(language, tree, case.text, *selection)
        assert (target.kind, target.name, target.start, target.end) == ("function", case.function, start, end)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_partial_selection_is_its_whole_lines_named_by_the_enclosing_method(language):
    case = CASES[language]
    target = at(language, case.text, *case.partial)
    first = case.text.rindex("\n", 0, case.text.index(case.partial[0])) + 1
    last = case.text.index("\n", case.text.index(case.partial[1])) + 1
    assert (target.kind, target.name, target.start, target.end) == ("selection", case.method, first, last)
    assert target.header == case.header and target.docstring == ""
    assert target.body_start == first and target.indent == target.body_indent == case.indent[1]


@pytest.mark.parametrize("language", LANGUAGES)
def test_facts_of_a_method(language):
    case = CASES[language]
    tree = parse(language, case.text)
    target = at(language, case.text, case.in_method)
    facts = code_facts(language, tree, case.text, target)
    assert facts.signature == case.header
    assert facts.parameters == case.parameters
    assert (facts.returns, facts.raises, facts.callees) == (case.returns, case.raises, case.callees)


def test_facts_of_a_free_function_and_of_a_selection():
    target = at("python", PY, "os.path")
    facts = code_facts("python", parse("python", PY), PY, target)
    assert facts.parameters == (Parameter("x", "", ""), Parameter("*args", "", ""), Parameter("key", "str", '"k"'),
                                Parameter("**kw", "", ""))
    assert (facts.returns, facts.raises, facts.callees) == ("", (), ("join",))
    selection = at("python", PY, "if scale", "ValueError")
    facts = code_facts("python", parse("python", PY), PY, selection)
    assert (facts.parameters, facts.raises, facts.callees) == ((), ("ValueError",), ())
    go = code_facts("go", parse("go", GO), GO, at("go", GO, "max(a"))
    assert go.parameters == (Parameter("a", "int", ""), Parameter("b", "int", ""), Parameter("rest", "...string", ""))
    assert (go.returns, go.callees) == ("int", ("max",))


def test_decorators_arrow_functions_and_bodies_on_the_header_line():
    on_decorator = at("python", PY, "@property")
    assert (on_decorator.kind, on_decorator.name) == ("method", "area")
    one_liner = at("python", PY, '"shape"')
    assert (one_liner.name, one_liner.body_indent) == ("name", "        ")  # guessed: indent + 4 spaces
    assert PY[one_liner.body_start:].startswith('return "shape"')
    arrow = at("typescript", TS, "Math.abs")
    assert arrow.header == "const helper = (x: number): number =>"
    assert TS[arrow.start:].startswith("export const helper")
    noop = at("typescript", TS, "noop")
    assert (noop.body_indent, TS[noop.body_start:]) == ("  ", "}\n")  # the file indents by 2
    struct = at("go", GO, "R float64")
    assert (struct.header, struct.docstring, struct.body_indent) == ("type Circle struct", "Circle is round.", "\t")
    impl = at("rust", RS, "impl Circle")
    assert (impl.kind, impl.name, impl.header) == ("class", "Circle", "impl Circle")


def test_the_innermost_function_wins_and_a_cursor_in_indentation_means_its_line():
    text = "def outer():\n    def inner(a):\n        return a\n    return inner\n"
    assert at("python", text, "return a").name == "inner"
    assert at("python", text, "return inner").name == "outer"
    cursor = text.index("def inner") - 2
    assert target_at("python", parse("python", text), text, cursor, cursor).name == "inner"


def test_offsets_are_str_offsets_after_non_ascii_text():
    text = '"""Café ☕ — naïve ünïcode, 𝒳."""\n\n\ndef helper(x: str) -> str:\n    return x.upper()\n'
    target = at("python", text, "upper")
    assert text[target.start:target.end] == "def helper(x: str) -> str:\n    return x.upper()"
    assert text[target.body_start:].startswith("return")
    facts = code_facts("python", parse("python", text), text, target)
    assert (facts.parameters, facts.returns, facts.callees) == ((Parameter("x", "str", ""),), "str", ("upper",))
    selection = at("python", text, "return", "upper")
    assert text[selection.start:selection.end] == "    return x.upper()\n"


def test_crlf_line_endings():
    text = PY.replace("\n", "\r\n")
    target = at("python", text, "raise ValueError")
    assert target.header == CASES["python"].header
    assert target.docstring == "Area of the shape.\n\nScaled by scale."
    assert (target.indent, target.body_indent) == ("    ", "        ")
    selection = at("python", text, "scale < 0", "ValueError")
    assert text[selection.start:selection.end] == ('        if scale < 0:\r\n'
                                                   '            raise ValueError("negative scale")\r\n')
    go = GO.replace("\n", "\r\n")
    assert at("go", go, "errors.New").docstring == "Area returns the area, scaled."


def test_an_unknown_language_or_no_tree_gives_none():
    assert target_at("plaintext", parse("python", PY), PY, 60, 60) is None
    assert target_at("python", None, PY, 60, 60) is None


@pytest.mark.parametrize("language, text, marker, expected", [
    ("javascript", "/** Adds. */\nfunction add(a, b = 2) {\n  return sum(a, b);\n}\n", "sum",
     ("function", "add", "function add(a, b = 2)", "Adds.")),
    ("typescriptreact", "export const Button = ({ label }: Props) => <b>{label}</b>;\n", "<b>",
     ("function", "Button", "const Button = ({ label }: Props) =>", "")),
    ("java", "class A {\n    /** Area. */\n    public int area(int w, int h) {\n        return w * h;\n    }\n}\n",
     "w * h", ("method", "area", "public int area(int w, int h)", "Area.")),
    ("c", "/* Adds. */\nstatic int *add(int a, int b) {\n  return helper(a);\n}\n", "helper",
     ("function", "add", "static int *add(int a, int b)", "Adds.")),
    ("cpp", "double Circle::area() const {\n  return 1.0;\n}\n", "1.0",
     ("method", "area", "double Circle::area() const", "")),
    ("lua", "-- Areas.\nfunction M:area(w)\n  error('no')\nend\n", "error",
     ("method", "area", "function M:area(w)", "Areas.")),
    ("bash", "#!/bin/bash\n# Greets.\ngreet() {\n  echo hi\n}\n", "echo", ("function", "greet", "greet()", "Greets.")),
])
def test_other_languages(language, text, marker, expected):
    target = at(language, text, marker)
    assert (target.kind, target.name, target.header, target.docstring) == expected


def test_facts_in_other_languages():
    c = "static int *add(int a, const char *s) {\n  return helper(a);\n}\n"
    facts = code_facts("c", parse("c", c), c, at("c", c, "helper"))
    assert facts.parameters == (Parameter("a", "int", ""), Parameter("s", "const char *", ""))
    assert (facts.returns, facts.callees) == ("int *", ("helper",))
    lua = "function M:area(w)\n  error('no')\nend\n"
    facts = code_facts("lua", parse("lua", lua), lua, at("lua", lua, "error"))
    assert (facts.parameters, facts.raises, facts.callees) == ((Parameter("w", "", ""),), ("error",), ())


@pytest.fixture
def workspace(tmp_path):
    files = {
        "pkg/shapes.py": "def area(w, h): return w * h if w >= 0 else area(-w, h)\n",
        "app.py": ("from pkg.shapes import area\n\n\ndef report(box):\n    total = area(box.w, box.h)\n"
                   "    return total\n\nprint(area(1, 2))\n"),
        "tools.py": ("import pkg.shapes as shapes\n\n\nclass Tool:\n"
                     "    def run(self):\n        return shapes.area(3, 4)\n"),
        "notes.py": "# area is computed elsewhere\nareas = [1, 2]\nprint(areas)\n",
        "web/page.ts": "export function show() {\n  return area(1, 2);\n}\n",
        "web/lib.ts": "export const area = (w: number, h: number) => w * h;\n",
        "web/view.js": "import { area } from './lib';\nconst draw = () => {\n  paint(area(3, 4));\n};\n",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    index = WorkspaceIndex(WorkspaceFiles(tmp_path))
    index.build()
    yield index
    index.close()


def test_callers_across_files_with_their_enclosing_functions(workspace):
    callers = find_callers(workspace, "area", exclude=("pkg/shapes.py", 0))
    assert callers == [Caller("app.py", 4, "total = area(box.w, box.h)", "report"),
                       Caller("app.py", 7, "print(area(1, 2))", ""),
                       Caller("tools.py", 5, "return shapes.area(3, 4)", "run")]
    assert find_callers(workspace, "area", exclude=("pkg/shapes.py", 0), limit=1) == callers[:1]
    # without `exclude`, the recursive call on the definition's own line counts, and every language does
    everywhere = find_callers(workspace, "area")
    assert ("pkg/shapes.py", 0) in {(c.path, c.line) for c in everywhere}
    assert {c.path for c in everywhere} >= {"web/page.ts", "web/view.js"}


def test_callers_in_the_javascript_family(workspace):
    callers = find_callers(workspace, "area", exclude=("web/lib.ts", 0))
    assert callers == [Caller("web/page.ts", 1, "return area(1, 2);", "show"),
                       Caller("web/view.js", 2, "paint(area(3, 4));", "draw")]
    assert find_callers(workspace, "nothing_calls_this") == []


def test_only_doc_comments_document_where_a_language_has_them():
    ts = "/** Adds. */\n// eslint-disable-next-line\nfunction add(a, b) {\n  return a + b;\n}\n"
    assert at("typescript", ts, "a + b").docstring == "Adds."
    assert at("typescript", "// a note\nfunction f() {}\n", "f(").docstring == ""
    rust = "// a note\n/// Adds.\nfn add() {}\n"
    assert at("rust", rust, "add").docstring == "Adds."
    assert at("go", "x := 1 // trailing\nfunc f() {}\n", "f(").docstring == ""


def test_edges_of_cursors_and_selections():
    text = "function a() {\n  one();\n}\nfunction b() {\n  two();\n}\n"
    after_brace = text.index("}\n") + 1
    assert target_at("javascript", parse("javascript", text), text, after_brace, after_brace).name == "a"
    both = target_at("javascript", parse("javascript", text), text, 0, len(text))
    assert (both.kind, both.name, both.start, both.end) == ("selection", "", 0, len(text))
    blank = text.index("  one")
    assert target_at("javascript", parse("javascript", text), text, blank, blank + 2).name == "a"  # whitespace only
    lines = target_at("javascript", parse("javascript", text), text, text.index("one"), text.index("function b"))
    assert (lines.kind, text[lines.start:lines.end]) == ("selection", "  one();\n}\n")
