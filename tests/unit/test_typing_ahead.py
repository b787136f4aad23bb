import pytest

from codegen_lsp.typing_ahead import ANCHOR_CHARS, TypingAhead

URI = "file:///shapes.py"
PREFIX = "def add(a, b):\n"
SUFFIX = "\n\nclass Point:\n    pass\n"
SUGGESTION = "    return a + b"


@pytest.fixture
def ahead():
    t = TypingAhead()
    t.remember(URI, PREFIX, SUFFIX, SUGGESTION)
    return t


@pytest.mark.parametrize("typed, rest", [
    ("", ""),  # nothing typed yet: the suggestion is already shown, not "typing ahead"
    (" ", "   return a + b"),
    ("    ", "return a + b"),
    ("    return a", " + b"),
    ("    return a + ", "b"),
])
def test_rest_is_served_while_typed(ahead, typed, rest):
    assert ahead.rest(URI, PREFIX + typed, SUFFIX) == rest


def test_each_keystroke_in_turn(ahead):
    rests = [ahead.rest(URI, PREFIX + SUGGESTION[:i], SUFFIX) for i in range(1, len(SUGGESTION))]
    assert rests == [SUGGESTION[i:] for i in range(1, len(SUGGESTION))]


@pytest.mark.parametrize("typed", ["x", "    r3", "    return b", "\t", "    return a + b + c"])
def test_a_different_character_ends_it(ahead, typed):
    assert ahead.rest(URI, PREFIX + typed, SUFFIX) == ""


def test_fully_typed_gives_nothing(ahead):
    assert ahead.rest(URI, PREFIX + SUGGESTION, SUFFIX) == ""


def test_text_before_the_anchor_changed(ahead):
    changed = PREFIX.replace("add", "sum")  # same length, different text
    assert len(changed) == len(PREFIX)
    assert ahead.rest(URI, changed + "    ", SUFFIX) == ""
    # Text inserted before the cursor moves the anchor: no longer the same place.
    assert ahead.rest(URI, "import os\n" + PREFIX + "    ", SUFFIX) == ""


def test_text_deleted_before_the_cursor(ahead):
    assert ahead.rest(URI, PREFIX[:-1], SUFFIX) == ""
    assert ahead.rest(URI, PREFIX[:5], SUFFIX) == ""


def test_suffix_changed(ahead):
    assert ahead.rest(URI, PREFIX + "    ", SUFFIX + "x") == ""
    assert ahead.rest(URI, PREFIX + "    ", "") == ""
    assert ahead.rest(URI, PREFIX + "    ", "#" + SUFFIX[1:]) == ""


def test_changes_beyond_the_anchor_do_not_matter():
    far = "# " + "x" * (ANCHOR_CHARS + 50) + "\n"
    t = TypingAhead()
    t.remember(URI, far + PREFIX, SUFFIX + far, SUGGESTION)
    far_changed = "# " + "y" + "x" * (ANCHOR_CHARS + 49) + "\n"
    assert t.rest(URI, far_changed + PREFIX + "    ", SUFFIX + far) == "return a + b"
    assert t.rest(URI, far + PREFIX + "    ", SUFFIX + far[:-2] + "y\n") == "return a + b"
    # Within the anchor it matters.
    assert t.rest(URI, far + "z" + PREFIX[1:] + "    ", SUFFIX + far) == ""
    assert t.rest(URI, far + PREFIX + "    ", SUFFIX + "y" + far[1:]) == ""


def test_other_documents_are_separate(ahead):
    assert ahead.rest("file:///other.py", PREFIX + "    ", SUFFIX) == ""
    ahead.remember("file:///other.py", PREFIX, SUFFIX, "    return 0")
    assert ahead.rest("file:///other.py", PREFIX + "    ", SUFFIX) == "return 0"
    assert ahead.rest(URI, PREFIX + "    ", SUFFIX) == "return a + b"


def test_newer_suggestion_replaces_the_older(ahead):
    ahead.remember(URI, PREFIX, SUFFIX, "    pass")
    assert ahead.rest(URI, PREFIX + "    ", SUFFIX) == "pass"
    assert ahead.rest(URI, PREFIX + "    r", SUFFIX) == ""


def test_empty_suggestion_forgets(ahead):
    ahead.remember(URI, PREFIX, SUFFIX, "")
    assert ahead.rest(URI, PREFIX + "    ", SUFFIX) == ""


def test_forget(ahead):
    ahead.forget(URI)
    assert ahead.rest(URI, PREFIX + "    ", SUFFIX) == ""
    ahead.forget(URI)  # twice is fine
    ahead.forget("file:///never-seen.py")
    assert ahead.rest(URI, PREFIX + "    ", SUFFIX) == ""


def test_multi_line_suggestion():
    t = TypingAhead()
    t.remember(URI, "class P:\n", "", "    def f(self):\n        return 1")
    assert t.rest(URI, "class P:\n    def f(self):\n", "") == "        return 1"
    assert t.rest(URI, "class P:\n    def f(self):\n        return", "") == " 1"
