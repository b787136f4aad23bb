import random

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from codegen_lsp.prompts.fim import (
    CODEGEN,
    CODELLAMA,
    DEEPSEEK,
    FORMATS,
    NO_FIM,
    QWEN,
    STARCODER,
    FimTokenError,
    detect_format,
    present_tokens,
    resolve_format,
)
from tests.conftest import FIT_TEXT
from training.tiny import build_tokenizer, fim_samples

PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(1, 2))\n"

PROMPTS = [
    # format, psm prompt, spm prompt
    (CODEGEN,
     f"<|cg_fim_prefix|>{PREFIX}<|cg_fim_suffix|>{SUFFIX}<|cg_fim_middle|>",
     f"<|cg_fim_prefix|><|cg_fim_suffix|>{SUFFIX}<|cg_fim_middle|>{PREFIX}"),
    (QWEN,
     f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>",
     f"<|fim_prefix|><|fim_suffix|>{SUFFIX}<|fim_middle|>{PREFIX}"),
    (STARCODER,
     f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>",
     f"<fim_prefix><fim_suffix>{SUFFIX}<fim_middle>{PREFIX}"),
    (DEEPSEEK,
     f"<｜fim▁begin｜>{PREFIX}<｜fim▁hole｜>{SUFFIX}<｜fim▁end｜>",
     f"<｜fim▁begin｜><｜fim▁hole｜>{SUFFIX}<｜fim▁end｜>{PREFIX}"),
    (CODELLAMA,
     f"<PRE> {PREFIX} <SUF>{SUFFIX} <MID>",
     f"<PRE>  <SUF>{SUFFIX} <MID>{PREFIX}"),
]


def test_every_registered_format_has_a_prompt_case():
    assert sorted(FORMATS) == sorted(fmt.name for fmt, _, _ in PROMPTS)


@pytest.mark.parametrize("fmt, psm, spm", PROMPTS, ids=[f.name for f, _, _ in PROMPTS])
def test_prompt_in_both_orders(fmt, psm, spm):
    assert fmt.prompt(PREFIX, SUFFIX, "psm") == psm
    assert fmt.prompt(PREFIX, SUFFIX, "spm") == spm
    assert fmt.default_order == "psm"
    assert fmt.prompt(PREFIX, SUFFIX) == psm


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=list(FORMATS))
@pytest.mark.parametrize("order", ["psm", "spm"])
def test_training_text_is_the_serving_prompt_then_middle_then_end(fmt, order):
    middle = "return a + b"
    text = fmt.training_text(PREFIX, middle, SUFFIX, order)
    assert text == fmt.prompt(PREFIX, SUFFIX, order) + middle + fmt.end_of_text


@pytest.mark.parametrize("fmt, end_tokens", [
    (CODEGEN, ("<|endoftext|>",)),
    (QWEN, ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>")),
    (STARCODER, ("<|endoftext|>", "<file_sep>", "<fim_pad>")),
    (DEEPSEEK, ("<|EOT|>", "<｜end▁of▁sentence｜>")),
    (CODELLAMA, (" <EOT>", "</s>")),
])
def test_hole_end_tokens(fmt, end_tokens):
    assert fmt.hole_end_tokens == end_tokens
    assert set(end_tokens) <= set(fmt.special_tokens)


def test_special_tokens_are_unique_and_complete():
    assert CODEGEN.special_tokens == ("<|cg_fim_prefix|>", "<|cg_fim_suffix|>", "<|cg_fim_middle|>",
                                      "<|endoftext|>", "<|cg_file_sep|>", "<|cg_repo_name|>")
    # Qwen's file separator is also one of its stop tokens: listed once.
    assert QWEN.special_tokens.count("<|file_sep|>") == 1


@pytest.mark.parametrize("fmt, repo, expected", [
    (CODEGEN, "me/proj", "<|cg_repo_name|>me/proj\n<|cg_file_sep|>src/a.py\n"),
    (CODEGEN, None, "<|cg_file_sep|>src/a.py\n"),
    (STARCODER, "me/proj", "<repo_name>me/proj\n<file_sep>src/a.py\n"),
    (DEEPSEEK, "me/proj", "# src/a.py\n"),
])
def test_repo_header(fmt, repo, expected):
    assert fmt.repo_header(repo, "src/a.py") == expected


def test_fim_samples_use_the_serving_prompt():
    text = FIT_TEXT.read_text()
    samples = fim_samples(text, random.Random(3))
    assert samples[0] == text + CODEGEN.end_of_text
    holes = samples[1:]
    assert len(holes) == 2 * len(text.splitlines())
    for sample in holes:
        assert sample.startswith(CODEGEN.prefix) and sample.endswith(CODEGEN.end_of_text)
        head, middle_tok, tail = sample.partition(CODEGEN.middle)
        assert middle_tok == CODEGEN.middle
        prefix, _, suffix = head[len(CODEGEN.prefix):].partition(CODEGEN.suffix)
        middle = tail[: -len(CODEGEN.end_of_text)]
        # The training sample's prompt part is exactly what the server sends...
        assert head + CODEGEN.middle == CODEGEN.prompt(prefix, suffix)
        # ...and prefix + middle + suffix is the original file.
        assert prefix + middle + suffix == text


def test_fim_samples_for_another_format_use_its_prompt():
    text = "a = 1\nb = 2\n"
    for sample in fim_samples(text, random.Random(0), fim=STARCODER)[1:]:
        head, _, tail = sample.partition(STARCODER.middle)
        prefix, _, suffix = head[len(STARCODER.prefix):].partition(STARCODER.suffix)
        assert head + STARCODER.middle == STARCODER.prompt(prefix, suffix)
        assert prefix + tail[: -len(STARCODER.end_of_text)] + suffix == text


@pytest.fixture(scope="module")
def codegen_tokenizer():
    return build_tokenizer([FIT_TEXT.read_text()], vocab_size=512)


@pytest.fixture(scope="module")
def starcoder_tokenizer():
    return build_tokenizer([FIT_TEXT.read_text()], vocab_size=512, fim=STARCODER)


def test_detect_and_resolve_codegen(codegen_tokenizer):
    assert detect_format(codegen_tokenizer) is CODEGEN
    assert resolve_format("auto", codegen_tokenizer) is CODEGEN
    assert resolve_format("codegen", codegen_tokenizer) is CODEGEN
    for tok in (CODEGEN.prefix, CODEGEN.suffix, CODEGEN.middle, CODEGEN.end_of_text):
        assert len(codegen_tokenizer.encode(tok, add_special_tokens=False)) == 1


def test_detect_and_resolve_starcoder(starcoder_tokenizer):
    assert detect_format(starcoder_tokenizer) is STARCODER
    assert resolve_format("auto", starcoder_tokenizer) is STARCODER
    assert resolve_format("starcoder", starcoder_tokenizer) is STARCODER


def test_present_tokens(codegen_tokenizer, starcoder_tokenizer):
    assert list(present_tokens(CODEGEN, codegen_tokenizer)) == list(CODEGEN.special_tokens)
    assert list(present_tokens(STARCODER, starcoder_tokenizer)) == [
        "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<|endoftext|>", "<file_sep>", "<fim_pad>", "<repo_name>"]
    # Only the end token is shared between the two formats.
    assert list(present_tokens(QWEN, codegen_tokenizer)) == ["<|endoftext|>"]


@pytest.mark.parametrize("name, token", [
    ("qwen2.5-coder", "<|fim_prefix|>"),
    ("starcoder", "<fim_prefix>"),
    ("deepseek-coder", "<｜fim▁begin｜>"),
    ("codellama", "<PRE>"),
])
def test_resolve_names_the_token_that_is_not_a_single_id(codegen_tokenizer, name, token):
    with pytest.raises(FimTokenError) as caught:
        resolve_format(name, codegen_tokenizer)
    assert f"FIM format {name!r}: token {token!r} is not a single token id" in str(caught.value)


def test_resolve_codegen_on_a_starcoder_tokenizer_names_its_token(starcoder_tokenizer):
    with pytest.raises(FimTokenError, match=r"token '<\|cg_fim_prefix\|>' is not a single token id"):
        resolve_format("codegen", starcoder_tokenizer)


def test_unknown_format_name(codegen_tokenizer):
    with pytest.raises(FimTokenError) as caught:
        resolve_format("gpt-fim", codegen_tokenizer)
    assert str(caught.value) == ("unknown FIM format 'gpt-fim'; known: codegen, qwen2.5-coder, starcoder, "
                                 "deepseek-coder, codellama")
    assert isinstance(caught.value, ValueError)


def test_auto_without_any_known_tokens_continues_the_prefix_alone():
    # A byte-level BPE tokenizer with no special tokens at all.
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.train_from_iterator(["x = 1\n"], trainers.BpeTrainer(
        vocab_size=300, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bare = PreTrainedTokenizerFast(tokenizer_object=raw)
    assert detect_format(bare) is None
    assert resolve_format("auto", bare) is NO_FIM and resolve_format("none", bare) is NO_FIM
    assert list(present_tokens(NO_FIM, bare)) == []  # no special tokens of its own either
    with pytest.raises(FimTokenError, match="'codegen': token '<\\|cg_fim_prefix\\|>' is not a single token id"):
        resolve_format("codegen", bare)  # named explicitly, a format must fit


def test_a_model_folder_may_declare_its_fim_order(tmp_path):
    from codegen_lsp.prompts.fim import CODEGEN, FIM_FILE, declared_order

    assert declared_order(tmp_path, CODEGEN) is CODEGEN  # nothing declared: the format's default
    (tmp_path / FIM_FILE).write_text('{"order": "spm"}')
    spm = declared_order(tmp_path, CODEGEN)
    assert spm.default_order == "spm" and spm.prompt("a", "b") == CODEGEN.prompt("a", "b", "spm")
    for junk in ('{"order": "mps"}', "not json", "[1, 2]"):
        (tmp_path / FIM_FILE).write_text(junk)
        assert declared_order(tmp_path, CODEGEN) is CODEGEN
