import pytest
from transformers import AutoTokenizer

from codegen_lsp.context.window import PREFIX_GRID_LINES, Window, fit_window
from tests.conftest import FIT_TEXT


@pytest.fixture(scope="module")
def tokenizer(fitted_model):
    return AutoTokenizer.from_pretrained(fitted_model)


@pytest.fixture(scope="module")
def token_starts(tokenizer):
    # What LocalBackend.token_starts does.
    def starts(text: str) -> list[int]:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [s for s, _ in encoded["offset_mapping"]]

    return starts


@pytest.fixture(scope="module")
def count(tokenizer):
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


# Top-level code: no line starts with whitespace, so a cut at a line start never splits a token.
FLAT_LINES = [f"value_{i} = compute({i}, scale) + offset_{i % 7}" for i in range(400)]
FLAT = "\n".join(FLAT_LINES) + "\n"
TYPED = "result = compute_everything(1, 2)"


def line_index(text: str, pos: int) -> int:
    return text.count("\n", 0, pos)


def check_window(prefix, suffix, window, count):
    """What holds for every window: a tail of the prefix and a head of the suffix, counted right."""
    assert prefix.endswith(window.prefix)
    assert suffix.startswith(window.suffix)
    assert window.prefix_tokens == count(window.prefix)
    assert window.suffix_tokens == count(window.suffix)


@pytest.mark.parametrize("budget", [16, 50, 128, 300, 1000])
@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("cursor_line", [3, 150, 399])
def test_window_never_exceeds_the_budget(token_starts, count, budget, share, cursor_line):
    cursor = sum(len(line) + 1 for line in FLAT_LINES[:cursor_line]) + 9  # inside the line
    prefix, suffix = FLAT[:cursor], FLAT[cursor:]
    window = fit_window(prefix, suffix, budget, share, token_starts)
    check_window(prefix, suffix, window, count)
    assert count(window.prefix) + count(window.suffix) <= budget


INDENTED_PREFIX = "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n"


def test_indented_lines_are_counted_within_the_budget(token_starts, count):
    # The last line is 8 tokens alone, though its newline-plus-indent token made it look like 6.
    window = fit_window(INDENTED_PREFIX, "", 8, 0.0, token_starts)
    assert window.prefix == "        self.y = y\n"
    assert count(window.prefix) <= 8
    assert window.prefix_tokens == count(window.prefix)


def test_whole_text_is_kept_when_it_fits(token_starts, count):
    text = FIT_TEXT.read_text()
    cursor = text.index("return a + b")
    window = fit_window(text[:cursor], text[cursor:], 4096, 0.25, token_starts)
    assert window == Window(text[:cursor], text[cursor:], count(text[:cursor]), count(text[cursor:]))


def test_prefix_cut_keeps_the_text_nearest_the_cursor(token_starts, count):
    prefix = FLAT + TYPED
    window = fit_window(prefix, "", 300, 0.0, token_starts)
    check_window(prefix, "", window, count)
    assert window.prefix.endswith("value_399 = compute(399, scale) + offset_0\n" + TYPED)
    assert 0 < len(window.prefix) < len(prefix)
    start = len(prefix) - len(window.prefix)
    assert prefix[start - 1] == "\n"  # a whole first line
    assert line_index(prefix, start) % PREFIX_GRID_LINES == 0
    # The grid moves the start by fewer than PREFIX_GRID_LINES lines from the tightest cut.
    one_more_grid_step = "\n".join(FLAT_LINES[line_index(prefix, start) - PREFIX_GRID_LINES:]) + "\n" + TYPED
    assert count(one_more_grid_step) > 300


def test_suffix_gets_its_share_and_whole_lines(token_starts, count):
    prefix, suffix = FLAT[:len(FLAT) // 2], FLAT[len(FLAT) // 2:]
    budget, share = 400, 0.25
    window = fit_window(prefix, suffix, budget, share, token_starts)
    check_window(prefix, suffix, window, count)
    longest_line = max(count(line + "\n") for line in FLAT_LINES)
    assert int(budget * share) - longest_line < window.suffix_tokens <= int(budget * share)
    assert window.suffix.endswith("\n")
    # The prefix has the rest, less at most the grid's lines.
    assert budget - window.suffix_tokens - (PREFIX_GRID_LINES + 1) * longest_line < window.prefix_tokens
    assert window.prefix_tokens <= budget - window.suffix_tokens


def test_unused_prefix_budget_goes_to_the_suffix(token_starts, count):
    prefix, suffix = "import os\n", FLAT
    budget = 400
    window = fit_window(prefix, suffix, budget, 0.25, token_starts)
    check_window(prefix, suffix, window, count)
    assert window.prefix == prefix
    longest_line = max(count(line + "\n") for line in FLAT_LINES)
    assert window.suffix_tokens > int(budget * 0.25)
    assert budget - longest_line < window.prefix_tokens + window.suffix_tokens <= budget
    assert window.suffix.endswith("\n")


def test_share_one_gives_the_suffix_the_budget_and_short_suffix_gives_the_prefix_the_rest(token_starts, count):
    window = fit_window(FLAT, "\nprint(x)\n", 300, 1.0, token_starts)
    assert window.suffix == "\nprint(x)\n"
    assert window.prefix_tokens + window.suffix_tokens <= 300
    longest_line = max(count(line + "\n") for line in FLAT_LINES)
    assert window.prefix_tokens > 300 - window.suffix_tokens - (PREFIX_GRID_LINES + 1) * longest_line


@pytest.mark.parametrize("budget", [400, 800, 1500])
def test_prefix_start_is_stable_while_typing(token_starts, count, budget):
    suffix = "\nprint(result)\n"
    first_lines = []
    for typed in range(len(TYPED) + 1):
        prefix = FLAT + TYPED[:typed]
        window = fit_window(prefix, suffix, budget, 0.25, token_starts)
        check_window(prefix, suffix, window, count)
        start = len(prefix) - len(window.prefix)
        assert prefix[start - 1] == "\n"
        assert line_index(prefix, start) % PREFIX_GRID_LINES == 0
        first_lines.append(window.prefix.split("\n", 1)[0])
    # Every keystroke keeps the same first line: the KV cache of the prompt's start stays valid.
    assert len(set(first_lines)) == 1
    assert first_lines[0] in FLAT_LINES


def test_prefix_start_moves_by_whole_grid_steps(token_starts):
    # Lines appended one at a time: the start line only ever moves forward, by multiples of the grid.
    starts = []
    for n in range(200, 260):
        prefix = "\n".join(FLAT_LINES[:n]) + "\n" + TYPED
        # A window of ~25 lines: the grid never costs more than half of it, so it always applies.
        window = fit_window(prefix, "", 800, 0.0, token_starts)
        starts.append(line_index(prefix, len(prefix) - len(window.prefix)))
    assert all(s % PREFIX_GRID_LINES == 0 for s in starts)
    assert starts == sorted(starts)
    assert len(set(starts)) < len(starts) // 4  # mostly unchanged from one line to the next


@pytest.mark.parametrize("unit", ["x", "total = a + b; "])
def test_ten_megabyte_single_line(token_starts, count, unit):
    line = unit * (10_000_000 // len(unit))
    window = fit_window(line, line, 100, 0.25, token_starts)
    assert 0 < window.prefix_tokens and 0 < window.suffix_tokens
    assert window.prefix_tokens + window.suffix_tokens <= 100
    assert count(window.prefix) + count(window.suffix) <= 100
    assert line.endswith(window.prefix) and line.startswith(window.suffix)
    assert len(window.prefix) <= 100 * 8 and len(window.suffix) <= 100 * 8


def test_budget_zero():
    calls = []

    def starts(text):
        calls.append(text)
        return list(range(len(text)))

    assert fit_window("abc\n", "def\n", 0, 0.25, starts) == Window("", "", 0, 0)
    assert calls == []


def test_empty_prefix_and_suffix(token_starts):
    assert fit_window("", "", 100, 0.25, token_starts) == Window("", "", 0, 0)


def test_prefix_ending_in_a_newline_keeps_its_last_lines(token_starts, count):
    prefix = "".join(line + "\n" for line in FLAT_LINES[:16])  # the cursor is on line 16, a grid line
    window = fit_window(prefix, "", 60, 0.0, token_starts)
    assert count(FLAT_LINES[15] + "\n") <= 60
    assert window.prefix.endswith(FLAT_LINES[15] + "\n")
    assert 0 < window.prefix_tokens <= 60
