import random

import pytest

from codegen_lsp.documents import Document, DocumentStore
from tests.lsp_fuzz_model import lines as ref_lines
from tests.lsp_fuzz_model import offset as ref_offset
from tests.lsp_fuzz_model import position as ref_position

ENCODINGS = ("utf-8", "utf-16", "utf-32")


def doc(text: str) -> Document:
    return Document("file:///t.py", "python", 1, text)


# --- the naive reference, character by character (tests/lsp_fuzz_model.py) ---------


def test_reference_helpers():
    assert ref_lines("a\r\nb\rc\nd") == [(0, 1), (3, 4), (5, 6), (7, 8)]
    assert ref_offset("a😋b", 0, 2, "utf-16") == 1
    assert ref_position("a\r\nb", 2, "utf-8") == (0, 1)


# --- lines ---------------------------------------------------------------------------


def test_only_lf_crlf_cr_end_lines():
    d = doc("a\x0cb\u2028c\x1cd\x85e\x0bf\u2029g\r\nh\ri\nj")
    assert d.line_count == 4
    assert [d.line_text(n) for n in range(4)] == ["a\x0cb\u2028c\x1cd\x85e\x0bf\u2029g", "h", "i", "j"]


def test_line_text_and_count_edges():
    assert doc("").line_count == 1
    assert doc("").line_text(0) == ""
    d = doc("ab\r\n\r\n\r\rcd\n")
    assert d.line_count == 6
    assert [d.line_text(n) for n in range(6)] == ["ab", "", "", "", "cd", ""]
    assert d.line_text(6) == ""
    assert d.line_text(-1) == ""


# --- offset <-> position -------------------------------------------------------------

TEXT = "a😋中\x0cé\u2028b\r\n😋😋\rx中\n\ncjk中文\r\n"
# (offset, line, utf-8, utf-16, utf-32) for every offset of TEXT.
EXPECTED = [
    (0, 0, 0, 0, 0),  # before "a"
    (1, 0, 1, 1, 1),  # before 😋
    (2, 0, 5, 3, 2),  # before 中
    (3, 0, 8, 4, 3),  # before \x0c
    (4, 0, 9, 5, 4),  # before é
    (5, 0, 11, 6, 5),  # before \u2028
    (6, 0, 14, 7, 6),  # before b
    (7, 0, 15, 8, 7),  # before \r
    (8, 0, 15, 8, 7),  # between \r and \n: clamped to before \r
    (9, 1, 0, 0, 0),  # line 1 "😋😋"
    (10, 1, 4, 2, 1),
    (11, 1, 8, 4, 2),  # before lone \r
    (12, 2, 0, 0, 0),  # line 2 "x中"
    (13, 2, 1, 1, 1),
    (14, 2, 4, 2, 2),
    (15, 3, 0, 0, 0),  # empty line 3
    (16, 4, 0, 0, 0),  # line 4 "cjk中文"
    (17, 4, 1, 1, 1),
    (18, 4, 2, 2, 2),
    (19, 4, 3, 3, 3),
    (20, 4, 6, 4, 4),
    (21, 4, 9, 5, 5),  # before \r\n
    (22, 4, 9, 5, 5),  # between \r and \n
    (23, 5, 0, 0, 0),  # the empty last line
]


@pytest.mark.parametrize("row", EXPECTED, ids=lambda r: f"offset{r[0]}")
def test_position_at(row):
    offset, line, *chars = row
    d = doc(TEXT)
    for encoding, character in zip(ENCODINGS, chars):
        assert d.position_at(offset, encoding) == (line, character)


@pytest.mark.parametrize("row", [r for r in EXPECTED if r[0] not in (8, 22)], ids=lambda r: f"offset{r[0]}")
def test_offset_at_round_trips(row):
    offset, line, *chars = row
    d = doc(TEXT)
    for encoding, character in zip(ENCODINGS, chars):
        assert d.offset_at(line, character, encoding) == offset
        assert d.position_at(d.offset_at(line, character, encoding), encoding) == (line, character)


def test_offset_at_inside_a_code_point_goes_to_its_start():
    d = doc("a😋中b")
    assert [d.offset_at(0, c, "utf-16") for c in range(6)] == [0, 1, 1, 2, 3, 4]
    assert [d.offset_at(0, c, "utf-8") for c in range(10)] == [0, 1, 1, 1, 1, 2, 2, 2, 3, 4]
    assert [d.offset_at(0, c, "utf-32") for c in range(6)] == [0, 1, 2, 3, 4, 4]


def test_offset_at_clamps():
    d = doc("ab\r\ncd\ref")
    assert d.offset_at(0, 99, "utf-16") == 2  # before "\r\n", never between them
    assert d.offset_at(1, 99, "utf-8") == 6  # before the lone "\r"
    assert d.offset_at(2, 99, "utf-32") == 9
    assert d.offset_at(3, 0, "utf-16") == 9  # past the last line: end of text
    assert d.offset_at(99, 99, "utf-16") == 9
    assert d.offset_at(-5, -5, "utf-16") == 0
    assert d.offset_at(-1, 1, "utf-16") == 1  # each value clamps to 0 on its own
    assert d.offset_at(1, -1, "utf-16") == 4


def test_position_at_clamps():
    d = doc("ab\ncd")
    assert d.position_at(-3, "utf-16") == (0, 0)
    assert d.position_at(99, "utf-16") == (1, 2)


def test_lone_surrogates_never_raise():
    d = doc("a\ud83db\udc00")
    for encoding, widths in (("utf-8", [1, 3, 1, 3]), ("utf-16", [1, 1, 1, 1]), ("utf-32", [1, 1, 1, 1])):
        ends = [sum(widths[:n]) for n in range(5)]
        assert [d.position_at(n, encoding) for n in range(5)] == [(0, e) for e in ends]
        assert [d.offset_at(0, e, encoding) for e in ends] == [0, 1, 2, 3, 4]


# --- edits ---------------------------------------------------------------------------


def edited(text: str, change: str, rng, encoding: str = "utf-16") -> Document:
    d = doc(text)
    d.line_count  # build the line cache first so edits update it incrementally
    d.apply_change(change, rng, encoding)
    return d


def lines_of(d: Document) -> list[str]:
    return [d.line_text(n) for n in range(d.line_count)]


def test_insert():
    d = edited("hello\nworld", "big ", (1, 0, 1, 0))
    assert d.text == "hello\nbig world"
    assert lines_of(d) == ["hello", "big world"]


def test_insert_after_emoji_counts_utf16_units():
    d = edited("😋x", "!", (0, 2, 0, 2), "utf-16")
    assert d.text == "😋!x"
    d = edited("😋x", "!", (0, 4, 0, 4), "utf-8")
    assert d.text == "😋!x"
    d = edited("😋x", "!", (0, 1, 0, 1), "utf-32")
    assert d.text == "😋!x"


def test_insert_newlines():
    d = edited("ab", "1\r\n2\r3\n", (0, 1, 0, 1))
    assert d.text == "a1\r\n2\r3\nb"
    assert lines_of(d) == ["a1", "2", "3", "b"]


def test_delete_across_lines():
    d = edited("one\r\ntwo\r\nthree", "", (0, 2, 2, 1))
    assert d.text == "onhree"
    assert lines_of(d) == ["onhree"]


def test_replace_across_lines():
    d = edited("one\ntwo\nthree\nfour", "X\nY", (1, 1, 2, 3))
    assert d.text == "one\ntX\nYee\nfour"
    assert lines_of(d) == ["one", "tX", "Yee", "four"]


def test_edit_at_end_of_file():
    d = edited("abc\n", "x", (1, 0, 1, 0))
    assert d.text == "abc\nx"
    assert lines_of(d) == ["abc", "x"]
    d = edited("abc", "\n", (0, 3, 0, 3))
    assert lines_of(d) == ["abc", ""]


def test_edit_past_the_end_is_clamped():
    d = edited("abc\ndef", "!", (7, 3, 9, 9))
    assert d.text == "abc\ndef!"
    d = edited("abc\ndef", "!", (0, 50, 0, 60))
    assert d.text == "abc!\ndef"
    d = edited("abc\ndef", "", (0, 50, 99, 0))
    assert d.text == "abc"
    assert lines_of(d) == ["abc"]


def test_reversed_range_is_swapped():
    d = edited("abc\ndef", "X", (1, 2, 0, 1))
    assert d.text == "aXf"
    assert lines_of(d) == ["aXf"]


def test_lf_inserted_after_cr_joins_it():
    d = edited("a\rb", "\n", (1, 0, 1, 0))
    assert d.text == "a\r\nb"
    assert lines_of(d) == ["a", "b"]
    d = edited("ab\r", "\n", (1, 0, 1, 0))
    assert d.text == "ab\r\n"
    assert lines_of(d) == ["ab", ""]


def test_cr_inserted_before_lf_joins_it():
    d = edited("a\nb", "\r", (0, 1, 0, 1))
    assert d.text == "a\r\nb"
    assert lines_of(d) == ["a", "b"]


def test_deleting_between_cr_and_lf_joins_them():
    d = edited("a\rx\nb", "", (1, 0, 1, 1))
    assert d.text == "a\r\nb"
    assert lines_of(d) == ["a", "b"]


def test_splitting_crlf_by_deleting_the_cr():
    d = edited("a\r\nb", "", (0, 1, 1, 0))
    assert d.text == "ab"
    d = edited("a\r\nb", "\r", (0, 1, 1, 0))
    assert lines_of(d) == ["a", "b"]


def test_full_replacement():
    d = edited("a\nb\nc", "x\ry", None)
    assert d.text == "x\ry"
    assert lines_of(d) == ["x", "y"]


PIECES = ["a", "b", "\n", "\r", "\r\n", "😋", "中", "é", "\x0c", "\u2028", "  "]


def random_text(rnd: random.Random, max_pieces: int) -> str:
    return "".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, max_pieces)))


def test_random_edits_match_reference():
    rnd = random.Random(20240611)
    d = doc(random_text(rnd, 40))
    ref = d.text
    for step in range(300):
        encoding = rnd.choice(ENCODINGS)
        rng = tuple(rnd.randint(-1, 8) if n % 2 == 0 else rnd.randint(-1, 12) for n in range(4))
        change = random_text(rnd, 4)
        if step % 50 == 49:
            rng = None
        d.apply_change(change, rng, encoding)
        if rng is None:
            ref = change
        else:
            start = ref_offset(ref, rng[0], rng[1], encoding)
            end = ref_offset(ref, rng[2], rng[3], encoding)
            start, end = min(start, end), max(start, end)
            ref = ref[:start] + change + ref[end:]
        assert d.text == ref
        assert lines_of(d) == [ref[s:e] for s, e in ref_lines(ref)]
        assert lines_of(d) == lines_of(doc(ref))  # incremental line cache == a fresh one
        for offset in range(len(ref) + 1):
            assert d.position_at(offset, encoding) == ref_position(ref, offset, encoding)
        for line in range(-1, d.line_count + 1):
            for character in range(-1, 14):
                assert d.offset_at(line, character, encoding) == ref_offset(ref, line, character, encoding)


def test_ten_megabyte_single_line():
    d = doc("ab😋中" * 2_500_000)  # 10M code points, 12.5M utf-16 units, 22.5M utf-8 bytes
    assert d.line_count == 1
    assert d.offset_at(0, 12_500_000, "utf-16") == 10_000_000
    assert d.offset_at(0, 22_500_000, "utf-8") == 10_000_000
    assert d.offset_at(0, 22_500_000 - 1, "utf-8") == 10_000_000 - 1  # inside the last 中
    assert d.offset_at(0, 10**9, "utf-16") == 10_000_000
    assert d.offset_at(0, 5 * 1_000_000 + 3, "utf-16") == 4 * 1_000_000 + 2  # inside a 😋
    assert d.position_at(10_000_000, "utf-16") == (0, 12_500_000)
    assert d.position_at(10_000_000, "utf-8") == (0, 22_500_000)
    d.apply_change("\nend", (0, 12_500_000, 0, 12_500_000), "utf-16")
    assert d.line_count == 2
    assert d.line_text(1) == "end"
    assert d.text.endswith("ab😋中\nend")
    assert len(d.text) == 10_000_004
    assert d.position_at(10_000_004, "utf-16") == (1, 3)


# --- store ---------------------------------------------------------------------------


def test_store_lifecycle():
    store = DocumentStore()
    opened = store.open("file:///a.py", "python", 1, "x = 1\n")
    assert len(store) == 1
    assert store.get("file:///a.py") is opened
    changed = store.change("file:///a.py", 3, [("y", (0, 0, 0, 1)), ("\nz", (1, 0, 1, 0))], "utf-16")
    assert changed is opened
    assert opened.text == "y = 1\n\nz"
    assert opened.version == 3
    assert store.change("file:///b.py", 2, [("q", None)], "utf-16") is None
    assert len(store) == 1
    store.close("file:///a.py")
    store.close("file:///a.py")  # closing twice is harmless
    assert store.get("file:///a.py") is None
    assert len(store) == 0


def test_store_reopen_replaces():
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "old")
    d = store.open("file:///a.py", "python", 5, "new")
    assert store.get("file:///a.py") is d
    assert (d.text, d.version, d.language_id, d.uri) == ("new", 5, "python", "file:///a.py")
    assert len(store) == 1
