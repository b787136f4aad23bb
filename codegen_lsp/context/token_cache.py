"""Token starts for the window, remembered piece by piece across keystrokes.

Fitting a window tokenises several kilobytes of text a few times per request, and
the pre-tokenising regex of a byte-level BPE costs about 0.4 microseconds a
character: 2-3 ms a call, most of the context step. Between two keystrokes almost
all of that text is the same. So the text is cut into pieces at line starts, and the
token starts of each piece are remembered; a keystroke re-tokenises the line it
changed and the partial lines at the window's edges.

BPE merges only inside what the pre-tokenising regex splits out, so a cut where the
regex always splits is invisible to the tokenizer. Where that is depends on the
regex. On an indented line, GPT-2-style and Qwen-style regexes both split before the
last character of the indentation (" def" is one token). Before an unindented line,
GPT-2-style ones (the embedded model's) split before the line break and Qwen-style
ones after it (they keep ")\n" together). Both cuts are tried, and each is checked,
not assumed: the first calls that reuse pieces, and every `check_every`-th one after,
are compared with a whole tokenisation; a difference moves on to the next cut, and
when none holds the pieces are switched off.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections import OrderedDict
from typing import Callable, Iterator

TokenStarts = Callable[[str], list[int]]

log = logging.getLogger(__name__)

_INDENTED = r"\n[ \t]*(?=[ \t]\S)"  # ends before the indentation's last character
CUTS = (
    re.compile(_INDENTED + r"|(?=\n\S)"),     # unindented lines: before the line break
    re.compile(_INDENTED + r"|(?<=\n)(?=\S)"),  # unindented lines: after it
)
CHECKED_FIRST_REUSES = 8


class PieceTokenCache:
    """A drop-in `token_starts` that re-tokenises only the pieces it has not seen."""

    def __init__(self, token_starts: TokenStarts, pieces_kept: int = 32768, check_every: int = 97) -> None:
        self._token_starts = token_starts
        self._kept: OrderedDict[str, list[int]] = OrderedDict()
        self._pieces_kept = pieces_kept
        self._check_every = check_every
        self._reuses = 0
        self._cuts = list(CUTS)
        self.tokenized_chars = 0  # characters sent to the tokenizer: tests and benchmarks read it

    @property
    def enabled(self) -> bool:
        return bool(self._cuts)

    def __call__(self, text: str) -> list[int]:
        if not self._cuts:
            self.tokenized_chars += len(text)
            return self._token_starts(text)
        starts, reused = self._from_pieces(text)
        if reused:  # only remembered pieces joined to others can disagree with a whole tokenisation
            self._reuses += 1
            if self._reuses <= CHECKED_FIRST_REUSES or self._reuses % self._check_every == 0:
                whole = self._token_starts(text)
                if whole != starts:
                    self._cuts.pop(0)
                    self._kept.clear()
                    self._reuses = 0
                    if not self._cuts:
                        log.warning("this tokenizer joins text across line breaks: windows are tokenised whole")
                    return whole
        return starts

    def warm(self, text: str, slice_chars: int = 8192) -> Iterator[None]:
        """Remember the pieces of `text` before anyone asks, one slice of about `slice_chars` per step.

        Run over a document when it opens, so the first keystroke at any place in it finds its
        lines known; the caller decides how to interleave the steps with other work.
        """
        if not self._cuts:
            return
        cuts = self._cut_points(text)
        first = 0
        while first < len(cuts) - 1:
            last = min(max(bisect_right(cuts, cuts[first] + slice_chars) - 1, first + 1), len(cuts) - 1)
            self._tokenize_run(text, cuts[first:last + 1])
            first = last
            yield

    def _cut_points(self, text: str) -> list[int]:
        return [0, *(m.end() for m in self._cuts[0].finditer(text)), len(text)]

    def _from_pieces(self, text: str) -> tuple[list[int], bool]:
        cuts = self._cut_points(text)
        out: list[int] = []
        reused = False
        missing_from = None  # index in `cuts` where a run of pieces not yet known starts
        for i in range(len(cuts) - 1):
            begin, end = cuts[i], cuts[i + 1]
            if begin == end:
                continue
            piece = text[begin:end]
            known = self._kept.get(piece)
            if known is None:
                missing_from = i if missing_from is None else missing_from
                continue
            self._kept.move_to_end(piece)  # before the run below remembers (and evicts) others
            if missing_from is not None:
                out.extend(self._tokenize_run(text, cuts[missing_from:i + 1]))
                missing_from = None
            out.extend([s + begin for s in known])
            reused = True
        if missing_from is not None:
            out.extend(self._tokenize_run(text, cuts[missing_from:]))
        return out, reused

    def _tokenize_run(self, text: str, cuts: list[int]) -> list[int]:
        """Token starts of text[cuts[0]:cuts[-1]] in one tokenizer call, remembered per piece."""
        begin, end = cuts[0], cuts[-1]
        starts = [s + begin for s in self._token_starts(text[begin:end])]
        self.tokenized_chars += end - begin
        i = 0
        for piece_begin, piece_end in zip(cuts, cuts[1:]):
            if piece_begin == piece_end:
                continue
            piece: list[int] = []
            while i < len(starts) and starts[i] < piece_end:
                piece.append(starts[i] - piece_begin)
                i += 1
            self._remember(text[piece_begin:piece_end], piece)
        return starts

    def _remember(self, piece: str, starts: list[int]) -> None:
        self._kept[piece] = starts
        if len(self._kept) > self._pieces_kept:
            self._kept.popitem(last=False)
