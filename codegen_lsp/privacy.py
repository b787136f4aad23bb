"""Secrets inside ordinary text: find them (a file holding one is never trained on) and redact
them (prompts, the debug dump, generated docs), with the same rules for serving and training.

Private files (`.env`, keys, `.codegenignore`) are kept out by name in
`context/workspace_files.py`; this module is for the key someone pasted into `settings.py`.
Answers name the KIND of a secret ("aws access key", ...), never its value, so they are safe
to count, print and log.

Rules, most specific first:
- known key shapes (AWS, GitHub, Slack, OpenAI, Google, Stripe) and PEM private key bodies;
- a literal assigned to a name that says it holds a secret (`api_key = "..."`, `"password": "..."`,
  `connect(password="...")`, and unquoted `PASSWORD=...` on a line of its own, as config files write it);
- a password inside a URL (`postgres://user:pw@host`);
- a quoted literal that looks random (high Shannon entropy for its alphabet), or a line that is
  nothing but a long random base64 run (a key body whose BEGIN line is out of view).

Redaction replaces each secret's VALUE (the quotes and the name stay) with `PLACEHOLDER`, which
none of the rules flags again: redacting twice changes nothing. It is deterministic, so a prompt
stays the same from keystroke to keystroke (the KV cache is reused), and cheap: literal
pre-checks skip every rule whose fixed part is absent (benchmarks/redaction.py).

The trade-off leans towards flagging: a false positive costs a training file or a few prompt
characters, a false negative teaches or shows someone's key. Still, ordinary code must pass:
commit hashes in comments, uuids, sentences, URLs and regexes are not secrets.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

PLACEHOLDER = "<secret>"  # `<` and `>` mark it as a template for every rule below

# (kind, pattern, literals of which at least one must occur: the cheap check that skips the pattern)
# Each pattern starts with a literal and checks the character before it afterwards (a lookbehind
# first would make the regex engine try every position: 40 times slower on big files).
KEY_SHAPES: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("aws access key", re.compile(r"A[KS]IA(?<!\wA[KS]IA)[0-9A-Z]{16}\b"), ("AKIA", "ASIA")),
    ("github token", re.compile(r"g(?:h[pousr]_(?<!\wgh[pousr]_)[A-Za-z0-9]{36,}"
                                r"|ithub_pat_(?<!\wgithub_pat_)[A-Za-z0-9_]{60,})\b"),
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("slack token", re.compile(r"xox[abprs]-(?<!\wxox[abprs]-)[A-Za-z0-9-]{10,}"), ("xox",)),
    ("openai key", re.compile(r"sk-(?<![\w-]sk-)[A-Za-z0-9_-]{20,}"), ("sk-",)),
    ("google api key", re.compile(r"AIza(?<!\wAIza)[0-9A-Za-z_-]{35}"), ("AIza",)),
    ("stripe key", re.compile(r"[rs]k_(?<!\w[rs]k_)(?:live|test)_[A-Za-z0-9]{16,}"), ("k_live_", "k_test_")),
)
# The body of a PEM private key: up to its END line, or (cut off, or still being typed) the
# base64 lines that follow the BEGIN line. Newlines may be real or escaped (`\n` in JSON).
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_RUN = re.compile(r"(?:[ \t]*(?:\r?\n|\\n)[ \t]*[A-Za-z0-9+/=]+(?=[ \t]*(?:\r?\n|\\n|[\"'`]|\Z)))+")
PEM_MAX_CHARS = 16_384  # an 8192-bit RSA key is about 6,500 characters

# Words that say a name holds a secret. The pattern starts AT the word, with its first letter as
# a character set: the regex engine then skips every position without one of those letters.
_SECRET_WORD = r"[kKsStTpPcC](?i:(?<=k)ey|(?<=s)ecret|(?<=t)oken|(?<=p)assw(?:or)?d|(?<=c)redential)"
# ... then the rest of the name, `=`, `:=`, `:` or `=>` (an optional type annotation in between)
# and a quoted literal. `==` and `!=` are comparisons: after the `=` comes another `=`, not a quote.
# Or unquoted, as .env, YAML, INI and properties files write it: the value runs to the end of
# its line (or a comment), and the name must begin the line (checked after the match). In code
# such a value is an expression: the characters of calls and indexing end the match, and a name
# or attribute path counts only on a config-style line (`_CONFIG_STYLE`, checked after the match).
_SECRET_ASSIGNMENT = re.compile(_SECRET_WORD + r"""
    (?:
      [\w-]*                                   # api_key, authToken, db-password
      ["'`]?\s*                                # the closing quote of a dict or JSON key
      (?::\s*[\w\[\]., |]+?\s*)?               # a type annotation: `api_key: str = ...`
      (?:=|:=|:|=>)\s*
      [rbuf]{0,2}(?P<quote>["'`])(?P<value>[^"'`\n]*)(?P=quote)
    | [\w.-]*[ \t]*[=:][ \t]*
      (?P<bare>[^\s"'`,;()\[\]{}<>\#=]+)[ \t]*(?=\#|\r?\n|\Z)
    )
""", re.VERBOSE)
# The same, opened before the cursor and not closed yet: the user is typing its value.
_OPEN_LITERAL = re.compile(_SECRET_WORD + r"""[\w-]*["'`]?\s*(?::\s*[\w\[\]., |]+?\s*)?(?:=|:=|:|=>)\s*
    [rbuf]{0,2}["'`][^"'`\n]*\Z""", re.VERBOSE)
_LINE_HEAD = re.compile(r"[ \t]*(?:export[ \t]+|-[ \t]+)?[\w.-]*\Z")  # what may precede the name on its line
# `NAME=value` (.env, shell, properties) or `name: value` (YAML): there a bare word is a value, while
# after ` = ` in code a name or attribute path (`RegOpenKeyEx = winreg.OpenKeyEx`) is an expression.
_CONFIG_STYLE = re.compile(r"[ \t]*(?:export[ \t]+|-[ \t]+)?[\w.-]+(?:=|:[ \t]+)\Z")
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
# A password in a URL's user information; a bare word like "password" there is a template.
_URL_PASSWORD = re.compile(r"://[^\s:/@\"'`]*:(?P<value>[^\s:/@\"'`]+)@")
_TEMPLATE_WORDS = {"password", "passwd", "pass", "pwd", "pw", "secret", "token", "key"}

# Values that are obviously not the secret itself: templates, masks, examples.
_PLACEHOLDER = re.compile(r"[<>{}$%*]|\.\.\.|x{4,}|your|example|change.?me|placeholder|dummy|redacted|replace",
                          re.IGNORECASE)
# Words joined by separators (`last_name`, `user_v2_profile`, `TOKEN_NAME`, `application/json`):
# a name, a header or a setting, the usual value of `sort_key` or `token_type`.
_WORD = r"(?:[A-Z]?[a-z]+|[A-Z]+)\d*"
_NAME_LIKE = re.compile(rf"[_.:/+-]*{_WORD}(?:[_.:/+-]+{_WORD})*[_.:/+-]*")  # `_private`, `.lora_down.` too

# String literals made only of the characters keys are written in (base64, base64url,
# hex, JWT dots). Literals with spaces, `:`, `?`, brackets or backslashes (sentences,
# URLs, regexes, format strings) never match, which is most of what keeps this check quiet.
_TOKEN_LITERAL = re.compile(r"""(?P<quote>["'`])(?P<value>[A-Za-z0-9+/=_.-]{20,})(?P=quote)""")
# A line that is nothing but a long base64 run: a key body seen without its BEGIN line (a
# prompt window can start inside one). Anchored on the newline before it, which is fast; the
# first line is matched on its own.
_BASE64_RUN = r"[ \t]*(?P<value>[A-Za-z0-9+/]{40,}={0,2})[ \t]*(?=\r?\n|\Z)"
_BASE64_LINE, _BASE64_FIRST_LINE = re.compile(r"\n" + _BASE64_RUN), re.compile(_BASE64_RUN)
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")

# Thresholds, in bits per character. A string of n characters can score at most
# log2(n), and random strings score a little below their alphabet's maximum:
# - base64-like: random base64 of 32 characters averages 4.56 bits, of 40 characters
#   4.79; identifiers, dotted module paths and file paths stay near 4.1 (the letters
#   of English words repeat). 4.5 flags random keys of about 32 characters and more;
#   shorter random strings are left to the key shapes and the assignment rule.
# - hex: at most 4 bits per character; random hex of 32 characters averages 3.6, of
#   40 characters 3.7, so 3.5 over at least 32 characters flags most hex keys. A uuid
#   has dashes, so it is judged as base64-like, where it scores about 3.7: not flagged.
#   A quoted 40-character commit hash does score as a secret (hex keys look the same);
#   the same hash in a comment is not a quoted literal and is not scanned.
BASE64_THRESHOLD = 4.5
HEX_THRESHOLD, HEX_MIN_LENGTH = 3.5, 32
ASSIGNED_VALUE_THRESHOLD = 3.5  # an assigned literal without digits needs this much randomness
# Alphabet tables ("ABCDEF...xyz0123456789+/") score very high but are not secrets:
# a random string almost never has six characters in a row in code-point order.
_ALPHABET_RUN = 6
# How far around a window or cursor whole lines are read, so a secret cut by the edge is still seen.
LINE_REACH = 1024

# find_secret's order: the first kind present wins (a key shape is named as such, also when assigned).
KINDS = ("private key", *(kind for kind, _, _ in KEY_SHAPES), "generic secret assignment",
         "high-entropy string", "url password", "base64 key material")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    replacement: str = PLACEHOLDER


def secret_spans(text: str) -> list[Span]:
    """Every secret in `text`, by position; spans may overlap (one value, two rules)."""
    spans = _pem_spans(text) if "PRIVATE KEY" in text else []
    for kind, pattern, literals in KEY_SHAPES:
        if any(literal in text for literal in literals):
            spans += [Span(m.start(), m.end(), kind) for m in pattern.finditer(text)]
    spans += _assignment_spans(text)
    spans += [Span(m.start("value"), m.end("value"), "high-entropy string")
              for m in _TOKEN_LITERAL.finditer(text) if is_high_entropy(m["value"])]
    if "://" in text:
        spans += [Span(m.start("value"), m.end("value"), "url password") for m in _URL_PASSWORD.finditer(text)
                  if not _PLACEHOLDER.search(m["value"]) and m["value"].lower() not in _TEMPLATE_WORDS]
    lines = [_BASE64_FIRST_LINE.match(text), *_BASE64_LINE.finditer(text)]
    spans += [Span(m.start("value"), m.end("value"), "base64 key material") for m in lines
              if m is not None and is_high_entropy(m["value"])]
    # A value redacted already is no secret: its replacement is what is there.
    return sorted((s for s in spans if text[s.start:s.end] != s.replacement), key=lambda s: (s.start, -s.end))


def find_secret(text: str) -> str | None:
    """The kind of the most specific secret in `text`, or None. Never the secret itself."""
    kinds = {span.kind for span in secret_spans(text)}
    return next((kind for kind in KINDS if kind in kinds), None)


def redact(text: str) -> tuple[str, int]:
    """`text` with every secret value replaced, and how many were."""
    return _apply(text, _merged(secret_spans(text)), 0, len(text))


def redact_window(prefix: str, suffix: str, prefix_chars: int, suffix_chars: int) -> tuple[str, str, int]:
    """The last `prefix_chars` of `prefix` and the first `suffix_chars` of `suffix` (a prompt window
    around a cursor), redacted as seen within whole lines: a secret cut by the window's edge or
    by the cursor is still recognised, and what shows of it is replaced."""
    head = max(0, len(prefix) - prefix_chars)
    line_start, line_end = _line_start(prefix, head), _line_end(suffix, suffix_chars)
    region = prefix[line_start:] + suffix[:line_end]
    cursor = len(prefix) - line_start
    lo, hi = cursor - (len(prefix) - head), cursor + suffix_chars
    spans = _merged(secret_spans(region))
    before, _ = _apply(region, spans, lo, cursor)
    after, _ = _apply(region, spans, cursor, hi)
    return before, after, sum(1 for s in spans if s.start < hi and s.end > lo)  # one cut by the cursor counts once


def secret_at(text: str, offset: int) -> str | None:
    """The kind of secret the cursor at `offset` is inside (or right at the end of), or None:
    a completion there would send part of it, or suggest one."""
    start, end = _line_start(text, offset), _line_end(text, offset)
    for span in secret_spans(text[start:end]):
        if span.start <= offset - start <= span.end:
            return span.kind
    if _OPEN_LITERAL.search(text, start, offset):
        return "generic secret assignment"
    before = text[max(0, offset - PEM_MAX_CHARS):offset]
    begin = before.rfind("PRIVATE KEY-----")
    if begin >= 0 and _PEM_BEGIN.search(before, max(0, begin - 40)) and not _PEM_END.search(before, begin):
        return "private key"
    return None


def _line_start(text: str, at: int) -> int:
    """Where the line holding `at` starts, looking back at most LINE_REACH characters."""
    return max(text.rfind("\n", max(0, at - LINE_REACH), at) + 1, at - LINE_REACH)


def _line_end(text: str, at: int) -> int:
    """Where the line holding `at` ends (its "\n"), looking ahead at most LINE_REACH characters."""
    end = text.find("\n", at, at + LINE_REACH)
    return min(len(text), at + LINE_REACH) if end < 0 else end


def restore(answer: str, original: str) -> str:
    """A model's rewrite of redacted code with the original's secret values put back, in order,
    when it kept every placeholder (else the placeholders stay: a guess could swap two secrets)."""
    spans = _merged(secret_spans(original))
    if not spans or answer.count(PLACEHOLDER) != len(spans) or any(s.replacement != PLACEHOLDER for s in spans):
        return answer
    values = iter(original[s.start:s.end] for s in spans)
    return re.sub(re.escape(PLACEHOLDER), lambda _: next(values), answer)


def looks_like_secret_value(value: str) -> bool:
    """Whether a literal assigned to a secret-sounding name is a real value, not a name or template."""
    if len(value) < 8 or any(c.isspace() for c in value):
        return False
    if _PLACEHOLDER.search(value) or "://" in value or value.startswith(("/", "./", "../", "~/")):
        return False
    if _NAME_LIKE.fullmatch(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_letter = any(c.isalpha() for c in value)
    return (has_digit and has_letter) or shannon_entropy(value) >= ASSIGNED_VALUE_THRESHOLD


def is_high_entropy(value: str) -> bool:
    """Whether a quoted token looks like random key material."""
    if _HEX.fullmatch(value):
        random = len(value) >= HEX_MIN_LENGTH and shannon_entropy(value) >= HEX_THRESHOLD
    else:
        random = shannon_entropy(value) >= BASE64_THRESHOLD
    return random and not _has_alphabet_run(value)  # the costlier check last


def shannon_entropy(value: str) -> float:
    """Bits per character of the string's own character distribution."""
    n = len(value)
    return -sum(count / n * math.log2(count / n) for count in Counter(value).values()) if n else 0.0


# --- helpers -----------------------------------------------------------------------------------

def _pem_spans(text: str) -> list[Span]:
    spans = []
    for begin in _PEM_BEGIN.finditer(text):
        end = _PEM_END.search(text, begin.end(), begin.end() + PEM_MAX_CHARS)
        run = _PEM_RUN.match(text, begin.end())
        stop = end.start() if end is not None else run.end() if run is not None else begin.end()
        body = text[begin.end():stop]
        if body.strip():
            spans.append(Span(begin.end(), stop, "private key", _pem_replacement(body)))
    return spans


def _pem_replacement(body: str) -> str:
    """One placeholder per line of the body, so the text keeps its line count."""
    if "\n" not in body:
        return PLACEHOLDER
    lines = body.split("\n")
    return "\n".join(line[:len(line) - len(line.lstrip())] + PLACEHOLDER if line.strip() else line for line in lines)


def _assignment_spans(text: str) -> list[Span]:
    spans = []
    for m in _SECRET_ASSIGNMENT.finditer(text):
        if m["quote"] is not None:
            if looks_like_secret_value(m["value"]):
                spans.append(Span(m.start("value"), m.end("value"), "generic secret assignment"))
            continue
        name_start = m.start()
        while name_start > 0 and (text[name_start - 1].isalnum() or text[name_start - 1] in "_.-"):
            name_start -= 1
        line_start = text.rfind("\n", 0, name_start) + 1
        value = m["bare"]
        if not _LINE_HEAD.match(text, line_start, name_start) or not looks_like_secret_value(value):
            continue
        if _IDENTIFIER_PATH.fullmatch(value) and not _CONFIG_STYLE.match(text, line_start, m.start("bare")):
            continue
        spans.append(Span(m.start("bare"), m.end("bare"), "generic secret assignment"))
    return spans


def _merged(spans: list[Span]) -> list[Span]:
    """Overlapping spans as one; a span inside another takes the outer one's replacement."""
    out: list[Span] = []
    for span in spans:
        if out and span.start < out[-1].end:
            last = out[-1]
            if span.end > last.end:
                out[-1] = Span(last.start, span.end, last.kind)
            continue
        out.append(span)
    return out


def _apply(text: str, spans: list[Span], lo: int, hi: int) -> tuple[str, int]:
    """text[lo:hi] with the spans (sorted, disjoint) that reach into it replaced; the part of a
    span that the range's edge cuts becomes one placeholder."""
    parts, at, count = [], lo, 0
    for span in spans:
        start, end = max(span.start, lo), min(span.end, hi)
        if start >= end:
            continue
        parts.append(text[at:start])
        whole = start == span.start and end == span.end
        parts.append(span.replacement if whole else PLACEHOLDER)
        at, count = end, count + 1
    parts.append(text[at:hi])
    return "".join(parts), count


def _has_alphabet_run(value: str) -> bool:
    run = 1
    for previous, current in zip(value, value[1:]):
        run = run + 1 if ord(current) == ord(previous) + 1 else 1
        if run >= _ALPHABET_RUN:
            return True
    return False
