from dataclasses import replace

import pytest

from codegen_lsp.postprocess import PostprocessInput, postprocess


def clean(raw, prefix="", suffix="", multiline=True, **options):
    inp = PostprocessInput(raw=raw, prefix=prefix, suffix=suffix, multiline=multiline, **options)
    return postprocess(inp)


MARKER_CASES = [
    # raw, special_tokens, stop_sequences, expected
    ("foo(x)<|endoftext|>garbage", ("<|endoftext|>",), (), "foo(x)"),
    ("a + b<fim_middle>c<|endoftext|>d", ("<|endoftext|>", "<fim_middle>"), (), "a + b"),
    ("<|endoftext|>anything", ("<|endoftext|>",), (), ""),
    ("x = 1\n\n\ndef other():\n    pass", (), ("\n\n\n",), "x = 1"),
    ("x = 1\ny = 2\nclass B:", (), ("\nclass ", "\ndef "), "x = 1\ny = 2"),
    ("value<EOT>tail STOP more", ("<EOT>",), ("STOP",), "value"),
    ("kept STOP gone<EOT>", ("<EOT>",), ("STOP",), "kept"),
    ("unchanged", ("",), ("",), "unchanged"),
]


@pytest.mark.parametrize("raw, special, stops, expected", MARKER_CASES)
def test_cuts_at_special_tokens_then_stop_sequences(raw, special, stops, expected):
    assert clean(raw, special_tokens=special, stop_sequences=stops) == expected


LINE_MODE_CASES = [
    # prefix, raw, multiline, expected
    ("def f(x):\n    ", "return x\n    y = 2", False, "return x"),
    ("def f(x):\n    ", "return x\r\n    y = 2", False, "return x"),
    ("def f(x):", "\n    return x", False, ""),
    ("def f(x):\n", "\n    return x", False, ""),
    ("def f(x):", "\n    return x", True, "\n    return x"),
    ("def f(x):\n    ", "y = x\n    return y", True, "y = x\n    return y"),
]


@pytest.mark.parametrize("prefix, raw, multiline, expected", LINE_MODE_CASES)
def test_single_line_mode_keeps_only_the_first_line(prefix, raw, multiline, expected):
    assert clean(raw, prefix=prefix, suffix="\n", multiline=multiline) == expected


OVERLAP_CASES = [
    # prefix, raw, suffix, expected
    ("total = ", "compute(a) + offset", " + offset\nprint(total)\n", "compute(a)"),
    ("    result = comp", "ute(a, b)", "ute(a, b)\n", ""),
    ("    x = ", "foo(a, b))", ")\n    return x\n", "foo(a, b)"),
    ("def f(x):\n    ", "y = x + 1\n    return y", "\n    return y\n", "y = x + 1"),
    ("def f(x):\n    ", "y = x + 1\n    z = y * 2\n    return z\n", "\n    z = y * 2\n\n    return z\n",
     "y = x + 1"),
    # Cursor in the indentation: the existing line stays on its own line after the completion.
    ("def f(x):\n    ", "y = x + 1\n    return y\n", "return y\n", "y = x + 1\n    "),
    ("function f() {\n  ", "return 1;\n}", "\n}\n", "return 1;"),
    # The completion's own closing brace sits at another indentation than the enclosing block's.
    ("function f(x) {\n  ", "if (x) {\n    g();\n  }", "\n}\n", "if (x) {\n    g();\n  }"),
    ("def f(x):\n    ", "y = x + 1\n    return y", "\n    return x\n", "y = x + 1\n    return y"),
]


@pytest.mark.parametrize("prefix, raw, suffix, expected", OVERLAP_CASES)
def test_trims_text_that_repeats_the_suffix(prefix, raw, suffix, expected):
    assert clean(raw, prefix=prefix, suffix=suffix) == expected


AUTOCLOSE_CASES = [
    # prefix, raw, suffix, expected
    ("print(", "x)", ")\n", "x"),
    ("print(", "len(x)", ")\n", "len(x)"),
    ("", "len(x))", ")\n", "len(x)"),
    ("foo(bar(", "x)", "))\n", "x"),
    ("foo(bar(baz(", "x))", "))\n", "x)"),
    ("print(len(", "x)\n", ")\n", "x)"),
    ("print(", "x)\n", ")\n", "x"),
    ("x = foo(", "a, b)", "\n", "a, b)"),
    ("xs = [", "1, 2, 3]", "]\n", "1, 2, 3"),
    ("xs = [", "ys[0]", "]\n", "ys[0]"),
    ("d = {", "'a': 1}", "}\n", "'a': 1"),
    ("d = {", "k: {}", "}\n", "k: {}"),
    ('print("', 'hello")', '")\n', "hello"),
    ('s = "', 'a" + "b"', '"\n', 'a" + "b'),
    ("name = '", "bob'", "'\n", "bob"),
    ("msg = `", "${x}`", "`;\n", "${x}"),
]


@pytest.mark.parametrize("prefix, raw, suffix, expected", AUTOCLOSE_CASES)
def test_drops_closers_the_editor_already_inserted(prefix, raw, suffix, expected):
    assert clean(raw, prefix=prefix, suffix=suffix, multiline=False) == expected
    assert clean(raw, prefix=prefix, suffix=suffix, multiline=True) == expected


@pytest.mark.parametrize("prefix, raw, suffix, expected", AUTOCLOSE_CASES + OVERLAP_CASES)
def test_cleaning_is_idempotent(prefix, raw, suffix, expected):
    inp = PostprocessInput(raw=raw, prefix=prefix, suffix=suffix, multiline=True)
    assert postprocess(replace(inp, raw=postprocess(inp))) == expected


TAB_DOC = "func main() {\n\tx := 1\n\t"
TWO_DOC = "function f() {\n  const a = 1;\n}\n\n"
TWO_SPACE_G = "function g() {\n  if (x) {\n    return 2;\n  }\n}"
FOUR_DOC = "class A:\n    x = 1\n\n"

INDENT_CASES = [
    # prefix, raw, expected
    (TAB_DOC, "if x > 0 {\n        fmt.Println(x)\n    }", "if x > 0 {\n\t\tfmt.Println(x)\n\t}"),
    (TAB_DOC, "if x > 0 {\n    fmt.Println(x)\n  }", "if x > 0 {\n\t\tfmt.Println(x)\n\t}"),
    (TAB_DOC, "if x > 0 {\n\t\tfmt.Println(x)\n\t}", "if x > 0 {\n\t\tfmt.Println(x)\n\t}"),
    (TWO_DOC, "function g() {\n\tif (x) {\n\t\treturn 2;\n\t}\n}", TWO_SPACE_G),
    (TWO_DOC, "function g() {\n    if (x) {\n        return 2;\n    }\n}", TWO_SPACE_G),
    (FOUR_DOC, "def f(x):\n\tif x:\n\t\treturn 1", "def f(x):\n    if x:\n        return 1"),
    (FOUR_DOC, "def f(x):\n  if x:\n    return 1", "def f(x):\n    if x:\n        return 1"),
    # An empty but auto-indented cursor line is enough to show the document's unit.
    ("function f() {\n  ", "if (x) {\n    g();\n  }", "if (x) {\n    g();\n  }"),
    ("function f() {\n  ", "if (x) {\n      g();\n  }", "if (x) {\n    g();\n  }"),
    # No indentation in the document yet: four spaces is assumed.
    ("import os\n\n", "def f(x):\n  return x", "def f(x):\n    return x"),
    # Alignment is not an indentation unit, so the completion is left alone.
    ("    value = ", "foo(a,\n         b)", "foo(a,\n         b)"),
    (FOUR_DOC, "x = 1\ny = 2", "x = 1\ny = 2"),
]


@pytest.mark.parametrize("prefix, raw, expected", INDENT_CASES)
def test_reindents_completion_to_the_document_unit(prefix, raw, expected):
    assert clean(raw, prefix=prefix, suffix="\n") == expected


JUNK_CASES = [
    # raw, expected
    ("", ""),
    ("   ", ""),
    ("\n\n  \t\n", ""),
    # A loop that repeats one line is cut before its first repeat.
    ("x += 1\nx += 1\nx += 1\nx += 1", "x += 1"),
    ("foo()\nbar()\nfoo()\nbar()\nfoo()", ""),
    (")))))))))))", ""),
    ("abababababababababab", ""),
    ("items = [" + "0, " * 12, ""),
    ("return x   \n\n", "return x"),
    ("return x\t\n  \n", "return x"),
    ("self.x = 1\nself.x = 1", "self.x = 1"),
    ("        }\n    }\n}", "        }\n    }\n}"),
]


@pytest.mark.parametrize("raw, expected", JUNK_CASES)
def test_drops_blank_and_repetitive_output(raw, expected):
    assert clean(raw, prefix="x = 1\n", suffix="\n") == expected


PASSTHROUGH_CASES = [
    # prefix, raw, suffix
    ("def add(a, b):\n    ", "return a + b", "\n"),
    ("def f(xs):\n    ", "total = 0\n    for x in xs:\n        total += x\n    return total", "\n\nprint(f())\n"),
    ("const user = ", 'await fetch(`/api/${id}`, { method: "GET" });', "\n"),
    ("if (", "x > 0 && y < 10", ") {\n"),
    ("for i in ", "range(10):", "\n"),
]


@pytest.mark.parametrize("prefix, raw, suffix", PASSTHROUGH_CASES)
def test_normal_completion_passes_through_unchanged(prefix, raw, suffix):
    assert clean(raw, prefix=prefix, suffix=suffix) == raw


@pytest.mark.parametrize("prefix, raw, expected", [
    # An empty line in a function body: the model ran on into the next definition.
    ("def f(values):\n    ", "return [0, 1]\n\n\n@dataclass\nclass Vector:", "return [0, 1]"),
    # Its own nested block stays, the enclosing function's closing brace (in the suffix) does not.
    ("function f(a) {\n  ", "if (a) {\n    g();\n  }\n}\n\nfunction h() {", "if (a) {\n    g();\n  }"),
    # At the top level nothing dedents.
    ("import os\n", "def f():\n    pass\n\ndef g():\n    pass", "def f():\n    pass\n\ndef g():\n    pass"),
])
def test_multi_line_stops_where_the_cursor_scope_ends(prefix, raw, expected):
    assert postprocess(PostprocessInput(raw=raw, prefix=prefix, suffix="\n", multiline=True)) == expected
