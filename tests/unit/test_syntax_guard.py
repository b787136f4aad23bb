"""Syntax-aware output with real grammars: block ends, new errors cut back or dropped."""

import pytest

from codegen_lsp.context.languages import parser_for
from codegen_lsp.context.syntax_guard import errors, guard


def run(language, text, completion, multiline=True):
    tree = parser_for(language).parse(text.encode()) if parser_for(language) else None
    return guard(language, tree, text, len(text), completion, multiline)


def test_a_statement_stops_at_the_end_of_its_block():
    result = run("python", "def f(x):\n    ", "y = x + 1\n    return y\n\ndef g():\n    pass\n")
    assert result.text == "y = x + 1\n    return y"
    assert result.note == "stopped at the end of its block"


def test_a_block_it_opens_ends_the_completion():
    result = run("python", "import os\n\n", "def f(x):\n    return x\n\nprint(f(1))\n")
    assert result.text == "def f(x):\n    return x"


def test_braces_language_keeps_the_closing_brace_of_its_block():
    result = run("javascript", "function f() {\n  ", "return 1;\n}\n\nfunction g() {}\n")
    assert result.text == "return 1;\n}"


def test_a_new_syntax_error_is_cut_back_to_the_last_clean_point():
    result = run("python", "x = foo(1, ", "2)) + (", multiline=False)
    assert result.text == "2)" and "cut back" in result.note


def test_a_completion_that_repairs_the_line_is_kept():
    result = run("python", "x = foo(1, ", "2)", multiline=False)
    assert (result.text, result.note) == ("2)", "")


def test_nothing_clean_is_dropped():
    result = run("python", "x = 1\n", ")))", multiline=False)
    assert (result.text, result.note) == ("", "dropped: it adds a syntax error")


@pytest.mark.parametrize("language", ["plaintext", "cobol"])
def test_unknown_languages_pass_through(language):
    assert run(language, "anything ", "goes ))", multiline=False).text == "goes ))"


def test_errors_counts_error_and_missing_nodes():
    parser = parser_for("python")
    assert errors(parser.parse(b"x = 1\n").root_node) == 0
    assert errors(parser.parse(b"x = (1\n").root_node) >= 1


def test_an_incomplete_but_harmless_completion_stays():
    # The line was broken before; "2" leaves it as broken as it was, and adds nothing wrong.
    assert run("python", "x = foo(1, ", "2", multiline=False).text == "2"
