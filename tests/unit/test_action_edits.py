"""Edits from model output with real grammars: doc comments, minimal edits, indentation, syntax checks, test paths."""

import ast
import random

import pytest

from codegen_lsp.actions.edits import (EditCheck, TextEdit, apply, check_edits, doc_comment, docstring_edit,
                                       minimal_edits, reindent)
from codegen_lsp.actions.edits import test_file_for as new_test_file
from codegen_lsp.context.languages import parser_for
from codegen_lsp.context.syntax_guard import errors

LONG = ("Split the document into windows of at most max_tokens tokens, keeping whole lines "
        "together and preferring to break at blank lines between definitions.")


def syntax_errors(language, text):
    return errors(parser_for(language).parse(text.encode()).root_node)


# ---------------------------------------------------------------- doc_comment

def test_a_short_python_docstring_stays_on_one_line():
    assert doc_comment("python", "Return the sum of a and b.", "    ") == '    """Return the sum of a and b."""\n'


def test_python_paragraphs_keep_a_blank_line_and_close_on_their_own_line():
    assert doc_comment("python", "Return the sum.\n\n\nBoth numbers are added.", "    ") == (
        '    """Return the sum.\n\n    Both numbers are added.\n    """\n')


def test_a_long_python_docstring_is_wrapped_at_80_columns():
    assert doc_comment("python", LONG, "    ") == (
        '    """Split the document into windows of at most max_tokens tokens, keeping\n'
        "    whole lines together and preferring to break at blank lines between\n"
        "    definitions.\n"
        '    """\n')


def test_triple_quotes_inside_a_docstring_are_escaped():
    docstring = doc_comment("python", 'Quote """here""" please.', "")
    assert docstring == '"""Quote \\"\\"\\"here\\"\\"\\" please."""\n'
    assert ast.literal_eval(docstring.strip()) == 'Quote """here""" please.'


def test_a_docstring_with_backslashes_is_raw():
    docstring = doc_comment("python", r"Match \d+ digits.", "")
    assert docstring == 'r"""Match \\d+ digits."""\n'
    assert ast.literal_eval(docstring.strip()) == r"Match \d+ digits."


@pytest.mark.parametrize("language", ["javascript", "typescript", "typescriptreact", "java", "c", "cpp"])
def test_block_doc_comments(language):
    assert doc_comment(language, "Add two numbers.\n\nReturns their sum.", "  ") == (
        "  /**\n   * Add two numbers.\n   *\n   * Returns their sum.\n   */\n")


def test_a_comment_end_inside_a_block_comment_is_escaped():
    assert doc_comment("c", "Stops at */ here.", "") == "/**\n * Stops at *\\/ here.\n */\n"


def test_go_comments_start_with_the_name():
    assert doc_comment("go", "Returns the sum.", "", "Add") == "// Add returns the sum.\n"
    assert doc_comment("go", "Add returns the sum.", "", "Add") == "// Add returns the sum.\n"
    assert doc_comment("go", "HTTP client for the API.", "", "New") == "// New HTTP client for the API.\n"


@pytest.mark.parametrize("language, marker", [("go", "//"), ("rust", "///"), ("lua", "---"), ("bash", "#")])
def test_line_doc_comments_wrap_and_keep_paragraphs(language, marker):
    expected = (f"    {marker} Split the document into windows of at most max_tokens tokens, keeping\n"
                f"    {marker} whole lines together and preferring to break at blank lines between\n"
                f"    {marker} definitions.\n"
                f"    {marker}\n"
                f"    {marker} Returns a list.\n")
    comment = doc_comment(language, LONG + "\n\nReturns a list.", "    ", "Split")
    assert comment == expected
    assert all(len(line) <= 80 for line in comment.splitlines())


def test_a_language_without_a_convention_is_refused():
    with pytest.raises(ValueError):
        doc_comment("cobol", "Text.", "")


# ---------------------------------------------------------------- docstring_edit

def python_docstring(text, body, body_indent, doc, **kwargs):
    edit = docstring_edit("python", text, 0, text.index(body), "", body_indent, doc, **kwargs)
    after = apply(text, [edit])
    assert check_edits("python", text, [edit]).ok
    assert syntax_errors("python", after) <= syntax_errors("python", text)
    return edit, after


def test_python_docstring_goes_first_in_the_body():
    text = "def add(a, b):\n    return a + b\n"
    edit, after = python_docstring(text, "return", "    ", "Add a and b.")
    assert edit.start == edit.end == text.index("    return")
    assert after == 'def add(a, b):\n    """Add a and b."""\n    return a + b\n'


def test_a_body_on_the_def_line_moves_below_the_docstring():
    _, after = python_docstring("def one(): return 1\n", "return", "    ", "Return one.")
    assert after == 'def one():\n    """Return one."""\n    return 1\n'


def test_a_nested_method_gets_its_body_indent():
    text = "class A:\n    def m(self):\n        x = 1\n        return x\n"
    _, after = python_docstring(text, "x = 1", "        ", "Return one.")
    assert after == 'class A:\n    def m(self):\n        """Return one."""\n        x = 1\n        return x\n'


def test_a_tab_indented_file_keeps_tabs():
    text = "class A:\n\tdef m(self):\n\t\treturn 1\n"
    _, after = python_docstring(text, "return", "\t\t", "Return one.\n\nAlways.")
    assert after == 'class A:\n\tdef m(self):\n\t\t"""Return one.\n\n\t\tAlways.\n\t\t"""\n\t\treturn 1\n'


def test_an_existing_python_docstring_is_replaced():
    text = 'def f():\n    """Old\n    text."""\n    return 1\n'
    _, after = python_docstring(text, '"""Old', "    ", "New.", existing_doc=True)
    assert after == 'def f():\n    """New."""\n    return 1\n'


def doc_above(language, text, definition, indent, doc, name="", existing_doc=False):
    start = text.index(definition)
    edit = docstring_edit(language, text, start, start, indent, indent + "    ", doc, name, existing_doc)
    after = apply(text, [edit])
    assert check_edits(language, text, [edit]).ok
    assert syntax_errors(language, after) == 0
    return after


def test_typescript_doc_goes_above_the_definition():
    text = "class Calc {\n  add(a: number, b: number): number {\n    return a + b;\n  }\n}\n"
    assert doc_above("typescript", text, "add(", "  ", "Add two numbers.") == (
        "class Calc {\n  /**\n   * Add two numbers.\n   */\n  add(a: number, b: number): number {\n"
        "    return a + b;\n  }\n}\n")


def test_go_doc_goes_above_the_function_and_names_it():
    text = "package calc\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
    assert doc_above("go", text, "func Add", "", "Returns the sum.", name="Add") == (
        "package calc\n\n// Add returns the sum.\nfunc Add(a, b int) int {\n\treturn a + b\n}\n")


def test_rust_doc_goes_above_the_attributes():
    text = "#[inline]\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
    assert doc_above("rust", text, "#[inline]", "", "Adds two numbers.") == (
        "/// Adds two numbers.\n#[inline]\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n")


def test_an_existing_doc_comment_above_is_replaced():
    rust = "use std::io;\n\n/// Old.\n/// Older.\nfn f() {}\n"
    assert doc_above("rust", rust, "fn f", "", "New.", existing_doc=True) == "use std::io;\n\n/// New.\nfn f() {}\n"
    java = "class A {\n    /* note */\n    /**\n     * Old.\n     */\n    void f() {}\n}\n"
    assert doc_above("java", java, "void f", "    ", "New.", existing_doc=True) == (
        "class A {\n    /* note */\n    /**\n     * New.\n     */\n    void f() {}\n}\n")


# ---------------------------------------------------------------- apply and minimal_edits

def test_apply_takes_edits_in_any_order_and_refuses_overlaps():
    text = "abcdef"
    assert apply(text, [TextEdit(4, 5, "E"), TextEdit(0, 1, "A"), TextEdit(2, 2, "+")]) == "Ab+cdEf"
    with pytest.raises(ValueError):
        apply(text, [TextEdit(0, 3, "x"), TextEdit(2, 4, "y")])


def test_an_identical_replacement_needs_no_edit():
    text = "x = 1\ny = 2\n"
    assert minimal_edits(text, 0, len(text), text) == []


def test_one_changed_character_is_one_edit_of_one_character():
    text = "def f():\n    return 1\n"
    assert minimal_edits(text, 0, len(text), text.replace("1", "2")) == [TextEdit(20, 21, "2")]


def test_unchanged_lines_are_left_out():
    lines = ["a = 1\n", "b = 2\n", "c = compute(3)\n", "d = 4\n", "e = 5\n"]
    text = "prefix\n" + "".join(lines)
    changed = "".join(lines).replace("compute(3)", "compute(3, fast=True)\nc += 1")
    edits = minimal_edits(text, 7, len(text), changed)
    line_start = text.index("c = ")
    assert edits and all(line_start <= e.start and e.end <= line_start + len(lines[2]) for e in edits)
    assert apply(text, edits) == "prefix\n" + changed


def test_lines_rewritten_one_for_one_are_edited_one_by_one():
    text = "x = 1\ny = f(2)\nz = 3\n"
    assert minimal_edits(text, 0, len(text), "x = 1\ny = g(2)\nz = 4\n") == [TextEdit(10, 11, "g"),
                                                                             TextEdit(19, 20, "4")]


def test_minimal_edits_always_give_the_replacement():
    rng = random.Random(7)
    alphabet = "ab \n\t("
    for _ in range(600):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        start = rng.randrange(0, len(text) + 1)
        end = rng.randrange(start, len(text) + 1)
        replacement = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20)))
        edits = minimal_edits(text, start, end, replacement)
        assert apply(text, edits) == text[:start] + replacement + text[end:], (text, start, end, replacement)
        assert all(start <= e.start <= e.end <= end for e in edits)


# ---------------------------------------------------------------- check_edits

def test_an_unbalanced_parenthesis_is_refused_with_its_line():
    text = "def f(x):\n    return g(x)\n\n\nprint(f(1))\n"
    start = text.index("g(x)")
    check = check_edits("python", text, minimal_edits(text, start, start + 4, "g((x)"))
    assert not check.ok
    assert check.message.startswith("the edit would add ") and check.message.endswith(" at line 2: not applied")


def test_a_dropped_brace_is_refused_with_its_line():
    text = "fn main() {\n    let x = 1;\n}\n\nfn g() -> i32 {\n    2\n}\n"
    edits = minimal_edits(text, 0, len(text), text.replace("1;\n}\n", "1;\n\n"))
    assert check_edits("rust", text, edits) == EditCheck(False, "the edit would add 1 syntax error at line 3: not applied")


def test_a_clean_edit_is_accepted():
    text = "def f(x):\n    return g(x)\n"
    assert check_edits("python", text, minimal_edits(text, 0, len(text), text.replace("g(x)", "g(x) + 1"))) == (
        EditCheck(True, ""))


def test_an_edit_that_leaves_old_errors_as_they_were_is_accepted():
    text = "x = (1\n\ny = 2\n"
    assert check_edits("python", text, [TextEdit(text.index("2"), text.index("2") + 1, "3")]).ok


def test_a_language_without_a_grammar_has_nothing_to_check():
    assert check_edits("plaintext", "a (", [TextEdit(0, 0, ")))")]) == EditCheck(True, "")


# ---------------------------------------------------------------- reindent

def test_reindent_with_spaces():
    code = "    if x:\n        y()\n\n    z\n"
    assert reindent(code, "        ") == "        if x:\n            y()\n\n        z\n"


def test_reindent_into_a_tab_indented_file():
    assert reindent("if x:\n    y()\n    \n", "\t") == "\tif x:\n\t\ty()\n\n"


def test_reindent_tabs_into_a_space_indented_file():
    assert reindent("\t\tif x:\n\t\t\ty()", "    ") == "    if x:\n        y()"


# ---------------------------------------------------------------- test_file_for

def touch(root, *paths):
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("")


def test_python_tests_folder(tmp_path):
    touch(tmp_path, "pkg/util.py", "tests/conftest.py")
    assert new_test_file(tmp_path, "pkg/util.py", "python", "f") == "tests/test_util.py"
    assert new_test_file(tmp_path, "pkg/__init__.py", "python", "f") == "tests/test_pkg.py"


def test_python_tests_beside_modules(tmp_path):
    touch(tmp_path, "pkg/util.py", "pkg/test_other.py")
    assert new_test_file(tmp_path, "pkg/util.py", "python", "f") == "pkg/test_util.py"


def test_python_without_a_visible_convention(tmp_path):
    touch(tmp_path, "pkg/util.py")
    assert new_test_file(tmp_path, "pkg/util.py", "python", "f") == "tests/test_util.py"


def test_an_existing_test_file_is_never_overwritten(tmp_path):
    touch(tmp_path, "tests/test_util.py")
    assert new_test_file(tmp_path, "util.py", "python", "f") == "tests/test_util_2.py"
    touch(tmp_path, "tests/test_util_2.py", "src/math.test.ts")
    assert new_test_file(tmp_path, "util.py", "python", "f") == "tests/test_util_3.py"
    assert new_test_file(tmp_path, "src/math.ts", "typescript", "add") == "src/math_2.test.ts"


def test_javascript_and_typescript(tmp_path):
    assert new_test_file(tmp_path, "src/math.ts", "typescript", "add") == "src/math.test.ts"
    assert new_test_file(tmp_path, "lib/util.js", "javascript", "add") == "lib/util.test.js"
    (tmp_path / "src/components/__tests__").mkdir(parents=True)
    assert new_test_file(tmp_path, "src/components/Button.tsx", "typescriptreact", "Button") == (
        "src/components/__tests__/Button.test.tsx")


def test_go(tmp_path):
    assert new_test_file(tmp_path, "pkg/calc/add.go", "go", "Add") == "pkg/calc/add_test.go"


def test_rust_integration_tests_folder_of_the_crate(tmp_path):
    touch(tmp_path, "crates/core/Cargo.toml", "crates/core/src/lib.rs")
    assert new_test_file(tmp_path, "crates/core/src/lib.rs", "rust", "add") == "crates/core/tests/lib_add.rs"
    assert new_test_file(tmp_path, "src/parse/mod.rs", "rust", "parse") == "tests/parse_parse.rs"


def test_java_mirrors_the_maven_layout(tmp_path):
    assert new_test_file(tmp_path, "src/main/java/com/acme/Calc.java", "java", "add") == (
        "src/test/java/com/acme/CalcTest.java")
    assert new_test_file(tmp_path, "app/Calc.java", "java", "add") == "app/CalcTest.java"


def test_other_languages_go_to_the_tests_folder(tmp_path):
    assert new_test_file(tmp_path, "src/add.c", "c", "add") == "tests/test_add.c"
