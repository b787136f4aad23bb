"""The static-cache decode path gives what the dynamic one gives, token for token (on a CPU,
eagerly: the CUDA-graph compilation of its step is only switched on for CUDA devices)."""

import pytest
import torch
from transformers import DynamicCache

from codegen_lsp.backends.base import GenerationRequest
from codegen_lsp.backends.local import LocalBackend
from codegen_lsp.backends.static_decode import StaticDecoder
from codegen_lsp.prompts.fim import CODEGEN
from tests.unit.test_local_backend import (ADD_MIDDLE, ADD_PREFIX, ADD_SUFFIX, INIT_MIDDLE, INIT_PREFIX,
                                           INIT_SUFFIX, SOURCE, reference_greedy, run)


@pytest.fixture(scope="module")
def fitted_static(fitted_model):
    backend = LocalBackend(fitted_model, device="cpu", decode="static")
    assert backend.decode == "static" and backend.static is not None
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def fitted_dynamic(fitted_model):
    backend = LocalBackend(fitted_model, device="cpu", decode="dynamic")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def random_static(random_model):
    backend = LocalBackend(random_model, device="cpu", decode="static")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def random_dynamic(random_model):
    backend = LocalBackend(random_model, device="cpu", decode="dynamic")
    yield backend
    backend.close()


def test_auto_is_dynamic_on_a_cpu(fitted, fitted_model):
    assert fitted.decode == "dynamic" and fitted.static is None  # the default: decode="auto"
    assert LocalBackend(fitted_model, device="cpu", decode="dynamic").static is None


def test_static_needs_one_generation_at_a_time(fitted_model):
    backend = LocalBackend(fitted_model, device="cpu", decode="static", max_concurrent=2)
    assert backend.decode == "dynamic" and backend.static is None
    backend.close()


def test_the_cache_is_capped(fitted_static, random_static):
    assert fitted_static.static.max_cache_len == fitted_static.context_window == 4096
    assert random_static.context_window == 16384 and random_static.static.max_cache_len == 4096


PROMPTS = [
    CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX),
    CODEGEN.prompt(INIT_PREFIX, INIT_SUFFIX),
    CODEGEN.prompt(INIT_PREFIX + "    def", INIT_SUFFIX),
    "def area(width, height):\n",
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_fitted_greedy_matches_dynamic(fitted_static, fitted_dynamic, prompt):
    static = run(fitted_static, prompt, max_new_tokens=64)
    ids = fitted_static.tokenizer(prompt)["input_ids"]
    # It ran on the static cache: it holds the prompt and every new token but the last.
    assert fitted_static.static._ids[:len(ids)] == ids
    assert len(fitted_static.static._ids) == len(ids) + static.new_tokens - 1
    dynamic = run(fitted_dynamic, prompt, max_new_tokens=64)
    assert static.text == dynamic.text
    assert (static.finish, static.new_tokens, static.prompt_tokens) == (
        dynamic.finish, dynamic.new_tokens, dynamic.prompt_tokens)


def test_fitted_fills_the_holes(fitted_static):
    assert run(fitted_static, PROMPTS[0]).text == ADD_MIDDLE
    assert run(fitted_static, PROMPTS[1]).text == INIT_MIDDLE


def test_healing_matches_dynamic(fitted_static, fitted_dynamic):
    cut = INIT_PREFIX + "    def __in"
    prompt = CODEGEN.prompt(cut[:-4], INIT_SUFFIX)  # the healed text "__in" must be spelled out again
    static = run(fitted_static, prompt, heal="__in", max_new_tokens=40)
    dynamic = run(fitted_dynamic, prompt, heal="__in", max_new_tokens=40)
    assert static.text == dynamic.text and static.new_tokens == dynamic.new_tokens


@pytest.mark.parametrize("prompt", ["def f(", SOURCE[:300], "class Point:\n    def __init__(self"])
def test_random_greedy_matches_dynamic_for_64_tokens(random_static, random_dynamic, random_model, prompt):
    static = run(random_static, prompt, max_new_tokens=64)
    dynamic = run(random_dynamic, prompt, max_new_tokens=64)
    assert static.text == dynamic.text
    assert static.new_tokens == dynamic.new_tokens
    torch.manual_seed(3)  # sampled too: greedy, the random model repeats itself
    static = run(random_static, prompt, max_new_tokens=64, temperature=1.0, top_p=1.0)
    torch.manual_seed(3)
    dynamic = run(random_dynamic, prompt, max_new_tokens=64, temperature=1.0, top_p=1.0)
    assert static.text == dynamic.text and len(set(static.text)) > 5


def test_random_matches_the_cacheless_reference(random_static, random_model):
    prompt = "def f("
    assert run(random_static, prompt, max_new_tokens=32).text == reference_greedy(random_model, prompt, 32,
                                                                                   random_static)


def test_prefix_reuse_extending_the_prompt(fitted_static, fitted_dynamic):
    first = CODEGEN.prompt(INIT_PREFIX, INIT_SUFFIX)
    second = first + "    def"
    a = run(fitted_static, first, session="s-extend", max_new_tokens=40)
    b = run(fitted_static, second, session="s-extend", max_new_tokens=40)
    cold = run(fitted_dynamic, second, max_new_tokens=40)
    assert a.reused_tokens == 0
    assert 0 < b.reused_tokens < b.prompt_tokens and b.reused_tokens >= a.prompt_tokens
    assert b.text == cold.text and b.text.startswith(" __init__(self, x, y):\n")


def diverging(tokenizer, long: str, short: str) -> int:
    """The length of the head two prompts share, checked to be shorter than the short one."""
    ids_long, ids_short = tokenizer(long)["input_ids"], tokenizer(short)["input_ids"]
    shared = next(i for i, (x, y) in enumerate(zip(ids_long, ids_short)) if x != y)
    assert 0 < shared < len(ids_short) < len(ids_long)
    return shared


def test_prefix_reuse_after_a_shorter_diverging_prompt(fitted_static, fitted_dynamic):
    long = CODEGEN.prompt(INIT_PREFIX, INIT_SUFFIX[:400])
    short = CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX[:60])
    shared = diverging(fitted_static.tokenizer, long, short)
    a = run(fitted_static, long, session="s-diverge", max_new_tokens=40)
    b = run(fitted_static, short, session="s-diverge", max_new_tokens=40)
    cold = run(fitted_dynamic, short, max_new_tokens=40)
    assert a.reused_tokens == 0 and b.reused_tokens == shared
    assert b.text == cold.text and b.new_tokens == cold.new_tokens


def test_sampled_prefix_reuse_after_a_shorter_diverging_prompt(random_static, random_dynamic):
    # Greedy, the random model repeats one token whatever came before; sampled (the same seed
    # for both), every token depends on the logits, and so on every cache entry attended to.
    long, short = SOURCE[:600], SOURCE[:200] + "    x = 1\n"
    shared = diverging(random_static.tokenizer, long, short)
    run(random_static, long, session="s-sampled", max_new_tokens=64)
    torch.manual_seed(7)
    b = run(random_static, short, session="s-sampled", max_new_tokens=64, temperature=1.0, top_p=1.0)
    torch.manual_seed(7)
    cold = run(random_dynamic, short, max_new_tokens=64, temperature=1.0, top_p=1.0)
    assert b.reused_tokens == shared
    assert b.text == cold.text and len(set(b.text)) > 5


def test_same_prompt_twice_and_other_sessions(fitted_static):
    prompt = PROMPTS[0]
    a = run(fitted_static, prompt, session="s-same")
    b = run(fitted_static, prompt, session="s-same")
    c = run(fitted_static, prompt, session="s-other")
    d = run(fitted_static, prompt)
    assert b.reused_tokens == b.prompt_tokens - 1
    assert c.reused_tokens == 0 and d.reused_tokens == 0
    assert a.text == b.text == c.text == d.text == ADD_MIDDLE


def test_too_long_requests_decode_dynamically(random_model):
    backend = LocalBackend(random_model, device="cpu", decode="static", context_window=64)
    dynamic = LocalBackend(random_model, device="cpu", decode="dynamic", context_window=64)
    assert backend.static.max_cache_len == 64
    prompt = SOURCE[:200]  # more than 64 tokens with the new ones
    request = GenerationRequest(prompt=prompt, max_new_tokens=16)
    assert backend._static_for(request, backend.tokenizer(prompt)["input_ids"]) is None
    assert run(backend, prompt, max_new_tokens=16).text == run(dynamic, prompt, max_new_tokens=16).text
    backend.close()
    dynamic.close()


def test_background_requests_decode_dynamically(fitted_static):
    request = GenerationRequest(prompt="def f(", max_new_tokens=8, background=True)
    assert fitted_static._static_for(request, [1, 2]) is None
    assert fitted_static._static_for(GenerationRequest(prompt="def f(", max_new_tokens=8), [1, 2]) is not None


@torch.inference_mode()
def test_stale_entries_past_the_prefix_are_not_seen(random_static):
    """The logits after a diverging, shorter prompt equal a fresh dynamic forward's, at every position."""
    model, tok = random_static.model, random_static.tokenizer
    decoder = StaticDecoder(model, 256, torch.device("cpu"))
    long = tok(SOURCE[:500])["input_ids"][:120]
    short = long[:40] + tok("zzz qqq 123")["input_ids"]
    assert decoder.begin("doc", long) == 0
    decoder.prefill(long)
    assert decoder.begin("doc", short) == 40
    assert int(decoder.cache.get_seq_length()) == 40
    logits = [decoder.prefill(short[40:-3])] + [decoder.step(t) for t in short[-3:]]
    fresh = model(input_ids=torch.tensor([short]), cache=DynamicCache(), use_cache=True).logits[0]
    positions = [len(short) - 4, len(short) - 3, len(short) - 2, len(short) - 1]
    for got, at in zip(logits, positions):
        torch.testing.assert_close(got, fresh[at], rtol=1e-4, atol=1e-4)
    # The long prompt's entries past the short one are still in the cache, only never attended to.
    stale = decoder.cache.layers[0].keys[0, :, len(short):len(long)]
    assert stale.abs().sum(-1).min() > 0
