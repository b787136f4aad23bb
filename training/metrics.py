"""Completion metrics and the copy-a-line baseline, shared by pretraining and fine-tuning."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / longer length: 1.0 for equal strings, 0.0 for nothing shared."""
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def most_similar_line_completion(prefix: str) -> str:
    """The baseline: finish the current line by copying an earlier line of the file.

    Candidates are earlier lines that start with what is typed on the current line
    (indentation included) and go on after it. The winner is the one whose preceding
    line is most like the line before the cursor's (ties: the nearest), which is how
    a person copies the next line of a repeated pattern.
    """
    lines = prefix.split("\n")
    typed, earlier = lines[-1], lines[:-1]
    if not earlier:
        return ""
    before_cursor = earlier[-1]
    best, best_score = "", -1.0
    for j in range(len(earlier) - 1, -1, -1):
        line = earlier[j].rstrip()
        if len(line) <= len(typed) or not line.startswith(typed):
            continue
        context = earlier[j - 1] if j > 0 else ""
        score = edit_similarity(context.strip(), before_cursor.strip())
        if score > best_score:
            best, best_score = line[len(typed):], score
    return best
