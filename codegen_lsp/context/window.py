"""Fit the text around the cursor into a token budget measured with the model's tokenizer.

Text farthest from the cursor is cut first. Cuts fall on line starts chosen from a
coarse grid, so while the user types the prompt's beginning stays put and the
backend can reuse its KV cache for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# Characters per token are rarely above this for code; it bounds how much text is
# tokenized to measure a window, so a 10 MB file costs no more than a small one.
MAX_CHARS_PER_TOKEN = 8
# Code mostly takes fewer characters per token than this, so the first reading is this
# much text per token of budget, and only sparse text (long runs of spaces) is read again
# at MAX_CHARS_PER_TOKEN: tokenizing is most of what fitting a window costs.
FIRST_READ_CHARS_PER_TOKEN = 4
# The prefix's first line moves in steps of this many lines as the user types.
PREFIX_GRID_LINES = 8

# text -> the character offset at which each of its tokens starts
TokenStarts = Callable[[str], list[int]]


@dataclass(frozen=True)
class Window:
    prefix: str
    suffix: str
    prefix_tokens: int
    suffix_tokens: int


def fit_window(prefix: str, suffix: str, budget: int, suffix_share: float, token_starts: TokenStarts,
               cursor_line: int | None = None) -> Window:
    """The largest prefix tail and suffix head that together fit in `budget` tokens.

    `cursor_line` is the file's line number of the prefix's last line, where the caller knows
    it: the grid is the file's, also for a prefix that is itself a window, and the lines of a
    big file's prefix need not be counted.
    """
    if cursor_line is None:
        cursor_line = prefix.count("\n")
    suffix_part, suffix_tokens = _head_within(suffix, int(budget * suffix_share), token_starts)
    prefix_part, prefix_tokens = _tail_within(prefix, budget - suffix_tokens, token_starts, cursor_line)
    # A short prefix leaves room that the suffix may take after all.
    if prefix_part == prefix and suffix_part != suffix:
        suffix_part, suffix_tokens = _head_within(suffix, budget - prefix_tokens, token_starts)
    return Window(prefix_part, suffix_part, prefix_tokens, suffix_tokens)


def _tail_within(text: str, budget: int, token_starts: TokenStarts, last_line: int) -> tuple[str, int]:
    if budget <= 0:
        return "", 0
    for chars_per_token in (FIRST_READ_CHARS_PER_TOKEN, MAX_CHARS_PER_TOKEN):
        cut = max(0, len(text) - budget * chars_per_token)
        tail = text[cut:]
        starts = token_starts(tail)
        if len(starts) > budget:
            break
        if cut == 0 or chars_per_token == MAX_CHARS_PER_TOKEN:
            return tail, len(starts)
    earliest = starts[len(starts) - budget]
    pos = _grid_line_start(tail, earliest, last_line - tail.count("\n"))
    # A cut at a line start can split a token that joined the newline with the next
    # line's indentation; count again and step a line further while it overflows.
    while (tokens := len(token_starts(tail[pos:]))) > budget:
        following = tail.find("\n", pos) + 1
        if not 0 < following < len(tail):  # no whole line fits: cut inside the last one
            pos = _tail_chars_start(tail, budget, token_starts)
            return tail[pos:], len(token_starts(tail[pos:]))
        pos = following
    return tail[pos:], tokens


def _tail_chars_start(tail: str, budget: int, token_starts: TokenStarts) -> int:
    starts = token_starts(tail)
    return starts[max(0, len(starts) - budget + 1)] if starts else 0


def _grid_line_start(tail: str, earliest: int, first_line: int) -> int:
    """The first line start at or after `earliest` on the absolute line grid, else any.

    The grid may give up at most half of the window, and never the last line.
    """
    line = first_line + tail.count("\n", 0, earliest)
    pos = earliest if earliest > 0 and tail[earliest - 1] == "\n" else tail.find("\n", earliest) + 1
    if pos <= 0 or pos >= len(tail):
        return earliest  # no whole line fits: cut inside the line
    if earliest == 0 or tail[earliest - 1] != "\n":
        line += 1
    first_start = pos
    skippable = tail.count("\n", first_start) // 2
    skipped = 0
    while line % PREFIX_GRID_LINES:
        pos = tail.find("\n", pos) + 1
        line += 1
        skipped += 1
        if pos <= 0 or pos >= len(tail) or skipped > skippable:
            return first_start
    return pos


def _head_within(text: str, budget: int, token_starts: TokenStarts) -> tuple[str, int]:
    if budget <= 0:
        return "", 0
    for chars_per_token in (FIRST_READ_CHARS_PER_TOKEN, MAX_CHARS_PER_TOKEN):
        head = text[: budget * chars_per_token]
        starts = token_starts(head)
        if len(starts) > budget:
            break
        if len(head) == len(text) or chars_per_token == MAX_CHARS_PER_TOKEN:
            return head, len(starts)
    latest = starts[budget]
    end = head.rfind("\n", 0, latest) + 1 or latest  # whole lines where possible
    return head[:end], len(token_starts(head[:end]))
