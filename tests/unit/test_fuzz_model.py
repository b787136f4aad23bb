"""The protocol fuzzer's reference model (tests/lsp_fuzz_model.py) on worked examples, and the
server's document store against it on the fuzzer's own random edits, in process."""

import random

import pytest
from lsprotocol import types

from codegen_lsp.documents import Document
from tests import lsp_fuzz_model as model
from tests.lsp_fuzz_inputs import DOCUMENTS, Inputs

TEXT = "a😋é\r\nx中\ry\u2028z\n"  # lines: "a😋é", "x中", "y\u2028z", ""


def test_lines_end_only_at_lf_crlf_and_cr():
    assert [TEXT[s:e] for s, e in model.lines(TEXT)] == ["a😋é", "x中", "y\u2028z", ""]


@pytest.mark.parametrize("encoding, character, offset", [
    ("utf-16", 1, 1), ("utf-16", 2, 1), ("utf-16", 3, 2),  # 2: between the surrogates of 😋
    ("utf-8", 4, 1), ("utf-8", 5, 2), ("utf-8", 6, 2),  # 2..4: inside 😋's four bytes
    ("utf-8", 7, 3), ("utf-8", 99, 3), ("utf-32", 2, 2),  # 6: inside é; 99: past the line's end
])
def test_positions_round_down_inside_a_code_point_and_clamp_past_the_end(encoding, character, offset):
    assert model.offset(TEXT, 0, character, encoding) == offset


def test_positions_past_the_last_line_and_around_crlf():
    assert model.offset(TEXT, 4, 0, "utf-16") == len(TEXT)
    assert model.position(TEXT, 4, "utf-16") == (0, 4)  # between "\r" and "\n": the line's end
    assert model.clamp(TEXT, 1, 99, "utf-8") == (1, 4)
    assert model.is_exact(TEXT, types.Position(line=0, character=3), "utf-16")
    assert not model.is_exact(TEXT, types.Position(line=0, character=2), "utf-16")


def test_changes_apply_in_order_and_reversed_ranges_cover_the_same_text():
    text = model.apply("abc\ndef", "X", (1, 2, 0, 1), "utf-8")
    assert text == "aXf"
    assert model.apply(text, "whole", None, "utf-8") == "whole"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_document_store_agrees_with_the_model_on_random_edits(encoding):
    for seed in range(40):
        rng = random.Random(seed)
        inputs = Inputs(rng, encoding)
        language, _, text = DOCUMENTS[seed % len(DOCUMENTS)]
        document = Document("file:///t", language, 1, text)
        for step in range(60):
            new_text, where = inputs.change(text, set())
            before, text = text, model.apply(text, new_text, where, encoding)
            document.apply_change(new_text, where, encoding)
            assert document.text == text, (seed, step, before, new_text, where)
            cursor = inputs.position(text, set())
            offset = model.offset(text, *cursor, encoding)
            assert document.offset_at(*cursor, encoding) == offset
            assert document.position_at(offset, encoding) == model.position(text, offset, encoding)
