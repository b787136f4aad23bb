"""Incremental syntax trees: every edit reaches the tree, and it matches a fresh parse."""

import random

import pytest

from codegen_lsp.context.languages import parser_for
from codegen_lsp.context.syntax import MAX_PARSE_BYTES, EditSpan
from codegen_lsp.documents import Document, DocumentStore
from tests.conftest import FIT_TEXT

PIECES = ["x", "é", "😀", "\n", "\r\n", "    ", "def f(a):\n    return a\n", "(", ")", ":", "'", "# 注释\n", ""]


def fresh_sexp(language_id: str, text: str) -> str:
    return str(parser_for(language_id).parse(text.encode("utf-8", "surrogatepass")).root_node)


def random_change(doc: Document, rng: random.Random) -> tuple[str, tuple[int, int, int, int]]:
    """A change in LSP terms (UTF-16 positions), sometimes past the end of a line or the file."""
    def position():
        line = rng.randrange(doc.line_count + 1)
        return line, rng.randrange(len(doc.line_text(line)) + 3)

    (a, b), (c, d) = sorted([position(), position()])
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(4))), (a, b, c, d)


@pytest.mark.parametrize("seed", range(6))
def test_incremental_tree_matches_a_fresh_parse_after_random_edits(seed):
    rng = random.Random(seed)
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, FIT_TEXT.read_text())
    assert str(doc.tree.root_node) == fresh_sexp("python", doc.text)
    for version in range(2, 40):
        batch = [random_change(doc, rng) for _ in range(rng.randrange(1, 4))]
        store.change(doc.uri, version, batch, "utf-16")
        assert str(doc.tree.root_node) == fresh_sexp("python", doc.text)


def test_a_burst_of_changes_costs_one_parse():
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, "def f():\n    pass\n")
    assert doc.tree is not None and doc.syntax.parses == 1
    for version, ch in enumerate("return 1", start=2):
        store.change(doc.uri, version, [(ch, (1, 4 + version - 2, 1, 4 + version - 2))], "utf-16")
    assert doc.syntax.parses == 1  # nothing asked for the tree yet
    assert doc.text == "def f():\n    return 1pass\n"
    assert doc.tree.root_node.type == "module" and doc.syntax.parses == 2
    assert doc.tree is doc.tree and doc.syntax.parses == 2


def test_full_replacement_parses_from_scratch():
    store = DocumentStore()
    doc = store.open("file:///a.js", "javascript", 1, "let a = 1;\n")
    assert doc.tree.root_node.type == "program"
    store.change(doc.uri, 2, [("function g() { return 2 }\n", None)], "utf-16")
    assert str(doc.tree.root_node) == fresh_sexp("javascript", doc.text)


def test_edit_span_counts_bytes_and_rows():
    before = "a = 'é'\nb = 2\n"
    span = EditSpan.of(before, 5, 9, "😀\nc")  # replaces "é'\nb"
    assert (span.start_byte, span.old_end_byte, span.new_end_byte) == (5, 10, 11)
    assert (tuple(span.start_point), tuple(span.old_end_point), tuple(span.new_end_point)) == ((0, 5), (1, 1), (1, 1))


@pytest.mark.parametrize("language_id", ["plaintext", "cobol", ""])
def test_unknown_language_has_no_tree(language_id):
    doc = DocumentStore().open("file:///a.txt", language_id, 1, "anything")
    assert doc.syntax is None and doc.tree is None


def test_a_file_above_the_cap_is_not_parsed():
    store = DocumentStore()
    doc = store.open("file:///big.py", "python", 1, "x = 1\n" * (MAX_PARSE_BYTES // 6 + 1))
    assert doc.tree is None
    store.change(doc.uri, 2, [("x = 1\n", None)], "utf-16")
    assert doc.tree is not None and not doc.tree.root_node.has_error
