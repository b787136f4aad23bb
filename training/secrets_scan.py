"""Find secrets in source text before it becomes training data.

A model trained on a file can recite it, so a key left in a repository must keep
that file out of training. `find_secret` answers with the KIND of what it found
("aws access key", ...) and never the secret itself: the answer is safe to count,
print and log.

Three checks, most specific first:
- known key shapes (PEM private keys, AWS, GitHub, Slack, OpenAI, Google);
- a quoted literal assigned to a name that says it holds a secret
  (`api_key = "..."`, `"password": "..."`, `connect(password="...")`);
- a quoted literal that looks random: high Shannon entropy for its alphabet.

The trade-off leans towards dropping: a false positive costs one training file,
a false negative teaches the model someone's key. Still, ordinary code must pass:
commit hashes in comments, uuids, sentences, URLs and regexes are not secrets.
"""

from __future__ import annotations

import math
import re
from collections import Counter

KEY_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("aws access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b")),
    ("slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("openai key", re.compile(r"(?<![\w-])sk-[A-Za-z0-9_-]{20,}")),
    ("google api key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
)

# A name that says it holds a secret, then `=`, `:=`, `:` or `=>` (an optional type
# annotation in between) and a quoted literal. `==` and `!=` are comparisons, not
# assignments, and do not match: after the `=` comes another `=`, not a quote.
_SECRET_ASSIGNMENT = re.compile(r"""
    (?<![\w-])[\w-]*(?:key|secret|token|passw(?:or)?d|credential)[\w-]*  # api_key, authToken, db-password
    ["'`]?\s*                                # the closing quote of a dict or JSON key
    (?::\s*[\w\[\]., |]+?\s*)?               # a type annotation: `api_key: str = ...`
    (?:=|:=|:|=>)\s*
    [rbuf]{0,2}(?P<quote>["'`])(?P<value>[^"'`\n]*)(?P=quote)
""", re.IGNORECASE | re.VERBOSE)

# Values that are obviously not the secret itself: templates, masks, examples.
_PLACEHOLDER = re.compile(r"[<>{}$%*]|\.\.\.|x{4,}|your|example|change.?me|placeholder|dummy|redacted|replace",
                          re.IGNORECASE)
# Words joined by separators (`last_name`, `user_v2_profile`, `TOKEN_NAME`, `application/json`):
# a name, a header or a setting, the usual value of `sort_key` or `token_type`.
_WORD = r"(?:[A-Z]?[a-z]+|[A-Z]+)\d*"
_NAME_LIKE = re.compile(rf"{_WORD}(?:[_.:/+-]{_WORD})*")

# String literals made only of the characters keys are written in (base64, base64url,
# hex, JWT dots). Literals with spaces, `:`, `?`, brackets or backslashes (sentences,
# URLs, regexes, format strings) never match, which is most of what keeps this check quiet.
_TOKEN_LITERAL = re.compile(r"""(?P<quote>["'`])(?P<value>[A-Za-z0-9+/=_.-]{20,})(?P=quote)""")
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


def find_secret(text: str) -> str | None:
    """The kind of the first secret found in `text`, or None. Never the secret itself."""
    for kind, pattern in KEY_SHAPES:
        if pattern.search(text):
            return kind
    if any(looks_like_secret_value(m["value"]) for m in _SECRET_ASSIGNMENT.finditer(text)):
        return "generic secret assignment"
    if any(is_high_entropy(m["value"]) for m in _TOKEN_LITERAL.finditer(text)):
        return "high-entropy string"
    return None


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
    if _has_alphabet_run(value):
        return False
    if _HEX.fullmatch(value):
        return len(value) >= HEX_MIN_LENGTH and shannon_entropy(value) >= HEX_THRESHOLD
    return shannon_entropy(value) >= BASE64_THRESHOLD


def shannon_entropy(value: str) -> float:
    """Bits per character of the string's own character distribution."""
    n = len(value)
    return -sum(count / n * math.log2(count / n) for count in Counter(value).values()) if n else 0.0


def _has_alphabet_run(value: str) -> bool:
    run = 1
    for previous, current in zip(value, value[1:]):
        run = run + 1 if ord(current) == ord(previous) + 1 else 1
        if run >= _ALPHABET_RUN:
            return True
    return False
