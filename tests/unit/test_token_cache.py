"""Token starts remembered piece by piece: always what the tokenizer itself says."""

import random

import pytest
from transformers import AutoTokenizer

from codegen_lsp.context.token_cache import CUTS, PieceTokenCache
from codegen_lsp.engine import EMBEDDED_MODEL
from tests.conftest import FIT_TEXT

pytestmark = pytest.mark.skipif(not (EMBEDDED_MODEL / "tokenizer.json").is_file(), reason="no embedded model")


@pytest.fixture(scope="module")
def token_starts():
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED_MODEL, local_files_only=True)
    return lambda text: [s for s, _ in tokenizer(text, add_special_tokens=False,
                                                 return_offsets_mapping=True)["offset_mapping"]]


def test_pieces_give_the_same_starts_as_one_tokenisation_while_typing(token_starts):
    cache = PieceTokenCache(token_starts)
    rng = random.Random(0)
    text = FIT_TEXT.read_text() * 3
    for _ in range(60):
        at = rng.randrange(len(text))
        text = text[:at] + rng.choice(["x", " ", "\n", "\ndef g():\n", "\n\n", "é", "\r\n", "(", "\t"]) + text[at:]
        cut = rng.randrange(len(text))
        for window in (text[cut:], text[:cut], text[cut // 2: cut]):
            assert cache(window) == token_starts(window)
    assert cache._cuts[0] is CUTS[0]  # the GPT-2-style cut held for the embedded model's tokenizer


def test_a_keystroke_re_tokenises_only_its_piece(token_starts):
    cache = PieceTokenCache(token_starts)
    text = "".join(f"def f{i}(a):\n    return a + {i}\n\n\n" for i in range(100))
    cache(text)
    before = cache.tokenized_chars
    at = text.index("a + 50") + 3
    typed = text[:at] + "x" + text[at:]
    assert cache(typed) == token_starts(typed)
    assert cache.tokenized_chars - before < 40  # one function of about 30 characters, not 3 kB


def test_a_tokenizer_that_joins_lines_switches_the_pieces_off():
    def joined(text):  # one token per two characters, across line starts too
        return list(range(0, len(text), 2))

    cache = PieceTokenCache(joined)
    # A remembered piece next to a new one shows each cut wrong in turn; the answers never are.
    for text in ("x\nd", "abc\nd", "ab\nd", "x\nd", "ab\nd"):
        assert cache(text) == joined(text)
    assert not cache.enabled
    assert cache("xy\nz") == joined("xy\nz")


def test_pieces_stay_right_when_the_kept_pieces_overflow(token_starts):
    cache = PieceTokenCache(token_starts, pieces_kept=3)
    text = "".join(f"def f{i}(a):\n    return a + {i}\n" for i in range(30))
    for cut in range(0, len(text), 97):
        window = text[cut:cut + 700]
        assert cache(window) == token_starts(window)


def test_a_warmed_document_costs_nothing_at_its_first_keystroke_anywhere(token_starts):
    cache = PieceTokenCache(token_starts)
    text = "".join(f"class C{i}:\n    def m(self, a):\n        return a * {i}\n\n\n" for i in range(200))
    steps = sum(1 for _ in cache.warm(text, slice_chars=1024))
    assert steps >= len(text) // 1024  # in slices, so the server can interleave other work
    assert cache.tokenized_chars == len(text)
    rng = random.Random(1)
    for _ in range(20):
        at = rng.randrange(len(text))
        window = text[max(0, at - 900):at]
        before = cache.tokenized_chars
        assert cache(window) == token_starts(window)
        assert cache.tokenized_chars - before <= 40  # at most the partial line at the window's edge
