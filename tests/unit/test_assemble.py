"""Context assembly on a real workspace index: what goes in, in what order, and within budget."""

from pathlib import Path

import pytest

from codegen_lsp.context.assemble import Cursor, assemble, commented, jaccard, render_symbol
from codegen_lsp.context.index import WorkspaceIndex
from codegen_lsp.context.languages import parser_for
from codegen_lsp.context.symbols import file_facts
from codegen_lsp.context.workspace_files import WorkspaceFiles

SHAPES = '''"""Shapes."""


def area(width: float, height: float) -> float:
    """Area of a rectangle."""
    return width * height


class Circle:
    def __init__(self, radius: float) -> None:
        self.radius = radius
'''
MAIN = '''from geometry.shapes import area, Circle


def report(width, height):
    size = area('''


def words(text: str) -> int:
    return len(text.split())  # a stand-in tokenizer: one token per word


@pytest.fixture
def index(tmp_path):
    (tmp_path / "geometry").mkdir()
    (tmp_path / "geometry" / "shapes.py").write_text(SHAPES)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text(MAIN)
    index = WorkspaceIndex(WorkspaceFiles(tmp_path))
    index.build()
    return index


def cursor_at_end(text: str, path: str = "app/main.py") -> Cursor:
    return Cursor(path, "python", text, len(text), parser_for("python").parse(text.encode()))


def own(cursor: Cursor):
    return file_facts(cursor.tree, cursor.text.encode())


def test_the_signature_of_a_called_function_comes_from_its_file(index):
    cursor = cursor_at_end(MAIN)
    result = assemble(cursor, index, own(cursor), [], MAIN, 200, words)
    assert result.files == [("geometry/shapes.py",
                              "# Area of a rectangle.\ndef area(width: float, height: float) -> float: ...\n"
                              "\nclass Circle: ...\n")]
    (area,) = [i for i in result.items if "area" in i.reason]
    assert area.included and "imported" in area.reason and area.path == "geometry/shapes.py"
    assert result.tokens == sum(i.tokens for i in result.items if i.included) <= 200


def test_budget_keeps_the_best_items_and_says_why_others_were_dropped(index):
    cursor = cursor_at_end(MAIN)
    full = assemble(cursor, index, own(cursor), [], MAIN, 200, words)
    best = max((i for i in full.items if i.included), key=lambda i: i.score)
    tight = assemble(cursor, index, own(cursor), [], MAIN, best.tokens, words)
    assert [i.text for i in tight.items if i.included] == [best.text]
    assert {i.dropped for i in tight.items if not i.included} == {"over the token budget"}
    assert tight.tokens <= best.tokens


def test_order_is_stable_while_the_user_types(index):
    first = cursor_at_end(MAIN)
    later = cursor_at_end(MAIN + "width, height)\n    circle = Circle(")
    a = assemble(first, index, own(first), [], first.text, 200, words)
    b = assemble(later, index, own(later), [], later.text, 200, words)
    assert a.files == b.files  # the scores changed, the emitted text did not


def test_similar_snippets_from_open_files_but_never_twice_or_from_the_window(index):
    recent = [("app/other.py", "def total(width, height):\n    return area(width, height) * 2\n"),
              ("app/copy.py", "def total(width, height):\n    return area(width, height) * 2\n"),
              ("app/unrelated.py", "import os\nprint(os.getcwd())\n")]
    cursor = cursor_at_end(MAIN)
    result = assemble(cursor, index, own(cursor), recent, MAIN, 500, words)
    snippets = [i for i in result.items if i.kind == "snippet"]
    assert [(i.path, i.included, i.dropped) for i in snippets] == [("app/copy.py", False, "duplicate"),
                                                                   ("app/other.py", True, "")] or \
           [(i.path, i.included, i.dropped) for i in snippets] == [("app/other.py", True, ""),
                                                                   ("app/copy.py", False, "duplicate")]
    window_has_it = MAIN + "\n" + recent[0][1]
    again = assemble(cursor, index, own(cursor), recent[:1], window_has_it, 500, words)
    assert [i.dropped for i in again.items if i.kind == "snippet"] == ["already in the prefix window"]


def test_imports_and_scopes_cut_off_by_the_window_come_back():
    text = "import os\n\n\nclass Store:\n    def save(self, path):\n" + "        x = 1\n" * 50 + "        "
    cursor = cursor_at_end(text, "store.py")
    window = "        x = 1\n" * 10 + "        "
    result = assemble(cursor, None, own(cursor), [], window, 100, words)
    assert result.prefix_header == "import os\n\nclass Store:\n    def save(self, path):\n"
    whole = assemble(cursor, None, own(cursor), [], text, 100, words)
    assert whole.prefix_header == "" and whole.tokens == 0


def test_no_index_no_recent_files_no_context():
    cursor = cursor_at_end(MAIN)
    result = assemble(cursor, None, own(cursor), [], MAIN, 100, words)
    assert (result.files, result.prefix_header, result.tokens) == ([], "", 0)


def test_rendering_and_comments_per_language(index):
    (_, symbol), = index.definitions("area")
    assert render_symbol(symbol, "python").endswith("-> float: ...\n")
    assert commented([("a.ts", "let x = 1;\n\nf()")], "typescript") == "// Path: a.ts\n// let x = 1;\n//\n// f()\n"
    assert commented([("a.lua", "x = 1")], "lua") == "-- Path: a.lua\n-- x = 1\n"
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3) and jaccard(set(), {"a"}) == 0.0


def test_definitions_come_only_from_the_same_language_family(tmp_path):
    (tmp_path / "shapes.js").write_text("function area(w, h) { return w * h; }\n")
    (tmp_path / "types.ts").write_text("export function perimeter(w: number, h: number): number { return 0; }\n")
    index = WorkspaceIndex(WorkspaceFiles(tmp_path))
    index.build()
    text = "x = area(1, 2)\ny = perimeter("
    python = assemble(cursor_at_end(text, "main.py"), index, own(cursor_at_end(text)), [], text, 200, words)
    assert python.files == []
    js = Cursor("main.js", "javascript", text, len(text), None)
    found = assemble(js, index, own(js), [], text, 200, words)
    assert [path for path, _ in found.files] == ["shapes.js", "types.ts"]
