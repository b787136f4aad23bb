"""The holes code actions give a base model, and how their answers are read."""

from codegen_lsp.actions import holes
from codegen_lsp.actions.chat import messages, reply_code


def test_a_python_docstring_hole_sits_between_the_quotes_of_the_body():
    text = "def area(w, h):\n    return w * h\n"
    hole = holes.docstring_hole("python", text, 0, text.index("return"), "", "    ", "area")
    assert hole.text[:hole.offset].endswith('def area(w, h):\n    """')
    assert hole.text[hole.offset:].startswith('"""\n    return w * h')
    assert hole.stop == ('"""',)


def test_doc_comment_holes_follow_each_language():
    text = "func Area(w, h float64) float64 {\n\treturn w * h\n}\n"
    go = holes.docstring_hole("go", text, 0, text.index("\treturn"), "", "\t", "Area")
    assert go.text[:go.offset] == "// Area " and go.text[go.offset:].startswith("\nfunc Area")
    ts = holes.docstring_hole("typescript", "  area(): number {\n    return 1;\n  }\n", 2, 24, "  ", "    ", "area")
    assert ts.text[:ts.offset] == "  /**\n   * " and ts.stop == ("*/",)


def test_model_documentation_loses_its_comment_markers():
    assert holes.clean_documentation(" * Area of a rectangle.\n *\n * Width times height.\n ", "typescript") == \
        "Area of a rectangle.\n\nWidth times height."
    assert holes.clean_documentation("/// Area of w by h.", "rust") == "Area of w by h."
    assert holes.clean_documentation('Area.\n"""', "python") == "Area."


def test_a_type_is_read_up_to_its_delimiter_outside_brackets():
    assert holes.type_expression("dict[str, int], b) -> None:", "python") == "dict[str, int]"
    assert holes.type_expression("float = 1.0)", "python") == "float"
    assert holes.type_expression("Map<string, number>) {", "typescript") == "Map<string, number>"
    assert holes.type_expression("list[int", "python") == ""
    assert holes.type_expression(" int:\n    return", "python") == "int"


def test_a_rewrite_hole_puts_the_instruction_where_the_selection_was():
    text = "x = 1\n    y = 2\n    z = 3\nw = 4\n"
    start, end = text.index("    y"), text.index("w =")
    hole = holes.rewrite_hole(text, start, end, "use a tuple", "python", 10)
    assert hole.text == "x = 1\n    # use a tuple\nw = 4\n"
    assert hole.offset == len("x = 1\n    # use a tuple\n") and hole.max_new_tokens == 52


def test_new_test_files_start_with_the_import_and_the_first_test():
    assert holes.test_file_start("python", "src/pkg/shapes.py", "area") == \
        "from pkg.shapes import area\n\n\ndef test_area():\n    "
    assert holes.test_file_start("go", "shapes/shapes.go", "Area", "shapes").startswith("package shapes\n")
    assert holes.test_file_start("rust", "src/lib.rs", "area", "my-shapes").startswith("use my_shapes::*;")


def test_chat_messages_and_replies():
    conversation = messages("rewrite", "python", "x = 1\n", instruction="use a constant")
    assert conversation[0]["role"] == "system" and conversation[1]["content"].startswith("use a constant\n")
    assert reply_code("Sure:\n```python\nX = 1\n```\nDone.") == "X = 1\n"
    assert reply_code("X = 1\n") == "X = 1"
