"""Typing-ahead: while the user types the beginning of the last suggestion, the rest
of it is still the answer, so it is served with no model call.
"""

from __future__ import annotations

from dataclasses import dataclass

# How much text either side of the suggestion's anchor must be unchanged for it to hold.
ANCHOR_CHARS = 256


@dataclass(frozen=True)
class _Suggestion:
    offset: int  # cursor offset when it was made
    before: str  # the text just before that cursor
    after: str  # the text just after it
    text: str


class TypingAhead:
    def __init__(self) -> None:
        self._last: dict[str, _Suggestion] = {}

    def remember(self, uri: str, prefix: str, suffix: str, completion: str) -> None:
        if not completion:
            self._last.pop(uri, None)
            return
        self._last[uri] = _Suggestion(len(prefix), prefix[-ANCHOR_CHARS:], suffix[:ANCHOR_CHARS], completion)

    def rest(self, uri: str, prefix: str, suffix: str) -> str:
        """The untyped rest of the last suggestion for this document, or ""."""
        last = self._last.get(uri)
        if last is None or len(prefix) <= last.offset:
            return ""
        typed = prefix[last.offset:]
        if not last.text.startswith(typed) or len(typed) >= len(last.text):
            return ""
        if not prefix[: last.offset].endswith(last.before) or suffix[:ANCHOR_CHARS] != last.after:
            return ""
        return last.text[len(typed):]

    def forget(self, uri: str) -> None:
        self._last.pop(uri, None)
