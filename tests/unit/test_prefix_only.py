"""A model without FIM tokens (an instruct model like SmolLM2): "auto" falls back to continuing the
prefix alone, the suffix is never sent and its budget goes to the prefix, repository context comes
as comments, and the model's own special tokens end a completion and are kept out of the prompt."""

from __future__ import annotations

import asyncio

import pytest

from codegen_lsp.backends.base import GenerationRequest, StopFlag
from codegen_lsp.backends.local import LocalBackend, _Decoder
from codegen_lsp.completion import CompletionRequest, RepoInputs
from codegen_lsp.prompts.fim import (CODEGEN, FORMATS, NO_FIM, FimTokenError, check_single_tokens, present_tokens,
                                     prefix_only_warning, resolve_format)
from tests.conftest import FIT_TEXT
from tests.unit.test_pipeline import CURSOR, EMPTIED, make_pipeline, request
from tests.unit.tiny_gguf import write_gguf

# The fitted model's special tokens under SmolLM2's names: no FIM set is left in its vocabulary.
SMOL_NAMES = {"<|cg_fim_prefix|>": "<|im_start|>", "<|cg_fim_suffix|>": "<|im_end|>",
              "<|cg_fim_middle|>": "<filename>", "<|cg_file_sep|>": "<file_sep>", "<|cg_repo_name|>": "<repo_name>"}
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def write_no_fim_gguf(fitted_model, folder):
    return write_gguf(fitted_model, folder / "no-fim.gguf", renamed=SMOL_NAMES, chat_template=CHAT_TEMPLATE)


@pytest.fixture(scope="module")
def no_fim_gguf(fitted_model, tmp_path_factory):
    return write_no_fim_gguf(fitted_model, tmp_path_factory.mktemp("no-fim"))


@pytest.fixture(scope="module")
def no_fim(no_fim_gguf):
    backend = LocalBackend(no_fim_gguf, device="cpu")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def prefix_only(fitted_model):
    """The fitted model asked without its FIM tokens: what a model that has none gets."""
    backend = LocalBackend(fitted_model, device="cpu", fim_format=NO_FIM.name)
    yield backend
    backend.close()


def test_auto_falls_back_to_the_prefix_alone_on_a_model_without_fim_tokens(no_fim):
    assert no_fim.fim is NO_FIM and NO_FIM.prefix_only and not CODEGEN.prefix_only
    assert resolve_format("auto", no_fim.tokenizer) is NO_FIM
    assert NO_FIM.prompt("def f():\n    ", "\n\nprint(f())\n") == "def f():\n    "


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_format_named_explicitly_must_still_fit(no_fim, name):
    with pytest.raises(FimTokenError, match=f"FIM format {name!r}: token .* is not a single token id"):
        resolve_format(name, no_fim.tokenizer)


def test_a_backend_with_a_format_that_does_not_fit_still_fails(no_fim_gguf):
    with pytest.raises(FimTokenError, match=r"FIM format 'codegen': token '<\|cg_fim_prefix\|>' is not a single"):
        LocalBackend(no_fim_gguf, device="cpu", fim_format="codegen")


def test_fim_training_needs_fim_tokens(no_fim):
    with pytest.raises(FimTokenError, match="'none': the model has no fill-in-the-middle tokens"):
        check_single_tokens(NO_FIM, no_fim.tokenizer)


def test_the_warning_says_what_completions_do_now():
    warning = prefix_only_warning("smol.gguf:0123")
    assert warning.startswith("the model smol.gguf:0123 has no fill-in-the-middle tokens (none of the codegen, ")
    assert "completions will only continue the text before the cursor" in warning
    assert "the text after the cursor is ignored" in warning


def test_the_models_own_special_tokens_end_a_completion(no_fim):
    specials = ["<|im_start|>", "<|im_end|>", "<filename>", "<|endoftext|>", "<file_sep>", "<repo_name>"]
    assert sorted(no_fim.special_tokens) == sorted(specials)
    assert list(present_tokens(NO_FIM, no_fim.tokenizer)) == list(no_fim.special_tokens)
    vocab = no_fim.tokenizer.get_vocab()
    assert no_fim._end_ids == {vocab[t] for t in specials}
    assert no_fim.tokenizer.eos_token == "<|endoftext|>"
    for token in ("<|im_end|>", "<|endoftext|>", "<file_sep>"):
        decoder = _Decoder(no_fim, GenerationRequest(prompt="x", max_new_tokens=8))
        assert decoder.push(vocab["def"]) is None
        assert decoder.push(vocab[token]) == "stop" and decoder.completion == "def"


def test_a_prefix_only_prompt_is_the_prefix_and_never_the_suffix(prefix_only):
    pipeline = make_pipeline(prefix_only)
    result = asyncio.run(pipeline.complete(request(), StopFlag()))
    record = result.record
    assert record.outcome == "model" and record.error == ""
    assert record.prompt + record.heal == EMPTIED[:CURSOR]
    assert "class Point" not in record.prompt  # the text after the cursor
    assert not any(token in record.prompt for token in CODEGEN.special_tokens)


def test_the_suffix_budget_goes_to_the_prefix(prefix_only, fitted):
    text = FIT_TEXT.read_text() * 6
    offset = len(text) // 2
    lengths = {}
    for backend in (prefix_only, fitted):
        pipeline = make_pipeline(backend, prompt_tokens=256, token_healing=False, repo_context=False)
        record = asyncio.run(pipeline.complete(request(text, offset, invoked=True), StopFlag())).record
        prefix = record.prompt if backend is prefix_only else record.prompt.split(CODEGEN.suffix)[0]
        assert text[:offset].endswith(prefix.removeprefix(CODEGEN.prefix))
        lengths[backend.fim.name] = len(backend.tokenizer(prefix, add_special_tokens=False)["input_ids"])
        assert len(backend.tokenizer(record.prompt)["input_ids"]) <= 256 + 4
    # With FIM the suffix takes its quarter; without, the prefix gets the whole budget.
    assert lengths["codegen"] <= 0.75 * 256 + 2 < lengths["none"] <= 256


def test_repository_context_comes_as_comments_and_the_models_tokens_are_neutralised(prefix_only):
    pipeline = make_pipeline(prefix_only)
    other = "def total_area(sides):\n    return sum(area_of_square(s) for s in sides)  # <|endoftext|>\n"
    text = "from geometry import area_of_square\n\n\ndef total(sides):\n    return sum(area_of_square(s) for s in "
    repo = RepoInputs(path="app/main.py", repo="ws", recent=(("geometry.py", other),))
    result = asyncio.run(pipeline.complete(CompletionRequest(uri="file:///ws/app/main.py", version=1, text=text,
                                                             offset=len(text), language_id="python", invoked=True,
                                                             repo=repo), StopFlag()))
    prompt = result.record.prompt
    assert result.record.context, "no repository context was assembled"
    assert prompt.startswith("# Path: geometry.py\n# def total_area(sides):\n#     return sum(area_of_square(s)")
    assert "<|endoftext|>" not in prompt and "<\u200b|endoftext|>" in prompt
    assert prompt.endswith(text[:len(text) - len(result.record.heal)])
