import asyncio
import shutil
import threading

import pytest
import torch
from transformers import AutoModelForCausalLM

from codegen_lsp.backends.base import BackendError, GenerationRequest, StopFlag
from codegen_lsp.backends.local import LocalBackend
from codegen_lsp.prompts.fim import CODEGEN, FimTokenError, split_for_healing
from tests.conftest import FIT_TEXT

SOURCE = FIT_TEXT.read_text()


def hole(before_end: str, after_start: str) -> tuple[str, str, str]:
    """prefix, middle, suffix of SOURCE around the text between two markers."""
    i = SOURCE.index(before_end) + len(before_end)
    j = SOURCE.index(after_start, i)
    return SOURCE[:i], SOURCE[i:j], SOURCE[j:]


ADD_PREFIX, ADD_MIDDLE, ADD_SUFFIX = hole("def add(a, b):\n", "\n\n\nclass Point")
INIT_PREFIX, INIT_MIDDLE, INIT_SUFFIX = hole("class Point:\n", "\n    def distance_to")


def run(backend, prompt, flag=None, **fields):
    request = GenerationRequest(prompt=prompt, max_new_tokens=fields.pop("max_new_tokens", 64), **fields)
    return asyncio.run(backend.generate(request, flag or StopFlag()))


def reference_greedy(model_folder, prompt: str, max_new_tokens: int, backend) -> str:
    """Greedy decoding that recomputes the whole sequence each step: no KV cache at all."""
    model = AutoModelForCausalLM.from_pretrained(model_folder, dtype=torch.float32).eval()
    ids = backend.tokenizer(prompt)["input_ids"]
    new: list[int] = []
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            token = int(model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax())
            if token in backend._end_ids:
                break
            new.append(token)
    return backend.tokenizer.decode(new)


def test_loads_with_the_codegen_format(fitted, fitted_model):
    assert fitted.fim is CODEGEN
    assert fitted.special_tokens == CODEGEN.special_tokens
    assert fitted.context_window == 4096
    assert fitted.adapter_hash == ""
    assert fitted.model_id.startswith(f"{fitted_model.name}:") and len(fitted.model_id) == len(fitted_model.name) + 17
    assert fitted.device.type == "cpu" and fitted.dtype == torch.float32
    assert fitted.tokenizer.convert_tokens_to_ids(CODEGEN.end_of_text) in fitted._end_ids


def test_model_id_is_stable_across_loads(fitted, fitted_model):
    again = LocalBackend(fitted_model, device="cpu", fim_format="codegen", context_window=512)
    assert again.model_id == fitted.model_id
    assert again.context_window == 512
    again.close()


def test_context_window_is_capped_by_the_model(random_model):
    backend = LocalBackend(random_model, device="cpu", context_window=10**6)
    assert backend.context_window == 16384
    backend.close()


def test_token_starts_are_the_tokenizer_offsets(fitted):
    text = "def add(a, b):\n    return a + b\n"
    encoded = fitted.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    starts = fitted.token_starts(text)
    assert starts == [s for s, _ in encoded["offset_mapping"]]
    assert starts[0] == 0 and starts == sorted(starts) and len(starts) == len(encoded["input_ids"])


def test_folder_without_config(tmp_path, fitted_model):
    folder = tmp_path / "model"
    shutil.copytree(fitted_model, folder)
    (folder / "config.json").unlink()
    with pytest.raises(BackendError, match="no model at .*expected a folder with config.json"):
        LocalBackend(folder, device="cpu")
    with pytest.raises(BackendError, match="no model at"):
        LocalBackend(tmp_path / "missing", device="cpu")


@pytest.mark.parametrize("damage", ["bad-config", "no-weights", "no-tokenizer"])
def test_broken_folder_is_a_backend_error(tmp_path, fitted_model, damage):
    folder = tmp_path / "model"
    shutil.copytree(fitted_model, folder)
    if damage == "bad-config":
        (folder / "config.json").write_text("{not json")
    elif damage == "no-weights":
        (folder / "model.safetensors").unlink()
    else:
        (folder / "tokenizer.json").unlink()
    with pytest.raises(BackendError, match="cannot load the model at"):
        LocalBackend(folder, device="cpu")


def test_truncated_weights_are_a_backend_error(tmp_path, fitted_model):
    folder = tmp_path / "model"
    shutil.copytree(fitted_model, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(BackendError):
        LocalBackend(folder, device="cpu")


def test_wrong_fim_format_names_the_token(fitted_model):
    with pytest.raises(FimTokenError, match="'starcoder': token '<fim_prefix>' is not a single token id"):
        LocalBackend(fitted_model, device="cpu", fim_format="starcoder")


@pytest.mark.parametrize("prefix, middle, suffix", [
    (ADD_PREFIX, ADD_MIDDLE, ADD_SUFFIX),
    (INIT_PREFIX, INIT_MIDDLE, INIT_SUFFIX),
])
def test_fitted_model_fills_the_hole(fitted, prefix, middle, suffix):
    prompt = CODEGEN.prompt(prefix, suffix)
    gen = run(fitted, prompt, max_new_tokens=64)
    assert gen.text == middle
    assert gen.finish == "stop"
    assert gen.prompt_tokens == len(fitted.tokenizer(prompt)["input_ids"])
    # Every token of the middle, then the end token.
    assert gen.new_tokens == len(fitted.tokenizer(middle, add_special_tokens=False)["input_ids"]) + 1
    assert gen.reused_tokens == 0


def test_kv_prefix_reuse_gives_the_same_text(fitted, fitted_model):
    first = CODEGEN.prompt(INIT_PREFIX, INIT_SUFFIX)
    second = first + "    def"  # the user typed the start of the middle
    a = run(fitted, first, session="doc-extend", max_new_tokens=40)
    b = run(fitted, second, session="doc-extend", max_new_tokens=40)
    fresh = run(fitted, second, max_new_tokens=40)
    assert a.reused_tokens == 0
    assert 0 < b.reused_tokens < b.prompt_tokens
    assert b.reused_tokens >= a.prompt_tokens
    assert fresh.reused_tokens == 0
    assert b.text == fresh.text
    assert b.text == reference_greedy(fitted_model, second, 40, fitted)
    assert b.text.startswith(" __init__(self, x, y):\n")


def test_kv_reuse_after_an_edit_in_the_middle(fitted, fitted_model):
    # The second prompt shares only a head with the first: the cache is cropped to that head.
    first = CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX)
    second = CODEGEN.prompt(INIT_PREFIX, INIT_SUFFIX)
    ids1, ids2 = fitted.tokenizer(first)["input_ids"], fitted.tokenizer(second)["input_ids"]
    shared = next(i for i, (x, y) in enumerate(zip(ids1, ids2)) if x != y)
    run(fitted, first, session="doc-edit", max_new_tokens=20)
    b = run(fitted, second, session="doc-edit", max_new_tokens=40)
    assert b.reused_tokens == shared > 0
    assert b.text == INIT_MIDDLE == reference_greedy(fitted_model, second, 40, fitted)


def test_same_prompt_twice_reuses_all_but_one_token(fitted):
    prompt = CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX)
    a = run(fitted, prompt, session="doc-same")
    b = run(fitted, prompt, session="doc-same")
    assert b.reused_tokens == b.prompt_tokens - 1
    assert a.text == b.text == ADD_MIDDLE


def test_sessions_do_not_mix(fitted):
    prompt = CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX)
    run(fitted, prompt, session="doc-one")
    other = run(fitted, prompt, session="doc-two")
    assert other.reused_tokens == 0
    assert other.text == ADD_MIDDLE


def test_stop_flag_set_before_the_call(fitted):
    flag = StopFlag()
    flag.set("superseded")
    gen = run(fitted, CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX), flag=flag)
    assert (gen.text, gen.finish, gen.new_tokens) == ("", "cancelled", 0)
    assert gen.prompt_tokens > 0
    assert flag.reason == "superseded"


def test_stop_flag_keeps_its_first_reason():
    flag = StopFlag()
    assert not flag.is_set() and flag.reason == ""
    flag.set("superseded")
    flag.set("cancelled")
    assert flag.is_set() and flag.reason == "superseded"


def test_stop_flag_from_another_thread_stops_decoding(rand):
    flag = StopFlag()
    timer = threading.Timer(0.3, flag.set, args=("cancelled",))
    timer.start()
    try:
        gen = run(rand, "def f(", flag=flag, max_new_tokens=5000)
    finally:
        timer.cancel()
    assert gen.finish == "cancelled"
    assert gen.new_tokens < 5000
    assert flag.reason == "cancelled"


def test_max_new_tokens_gives_length(rand):
    gen = run(rand, "def f(", max_new_tokens=7)
    assert gen.finish == "length"
    assert gen.new_tokens == 7
    assert len(rand.tokenizer(gen.text, add_special_tokens=False)["input_ids"]) <= 7


def test_single_line_stops_at_the_first_newline(fitted):
    prompt = CODEGEN.prompt(INIT_PREFIX, INIT_SUFFIX)
    multi = run(fitted, prompt, max_new_tokens=64)
    single = run(fitted, prompt, max_new_tokens=64, single_line=True)
    assert multi.text == INIT_MIDDLE and multi.text.count("\n") == 3
    assert single.finish == "stop"
    assert single.text.count("\n") == 1
    assert single.text.split("\n")[0] == "    def __init__(self, x, y):"
    assert multi.text.startswith(single.text)
    assert single.new_tokens < multi.new_tokens


def test_single_line_hole_that_ends_by_itself(fitted):
    gen = run(fitted, CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX), single_line=True)
    assert (gen.text, gen.finish) == (ADD_MIDDLE, "stop")


@pytest.mark.parametrize("stops, text", [
    ((" +",), "    return a +"),
    (("return",), "    return"),
    # Decoding stops after the token that completes a stop sequence; postprocess trims the rest.
    (("never there", " a "), "    return a +"),
    (("never there",), "    return a + b"),
])
def test_stop_sequences(fitted, stops, text):
    gen = run(fitted, CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX), stop=stops)
    assert gen.text == text
    assert gen.finish == "stop"


def test_sampling_with_a_tiny_top_p_is_greedy(fitted):
    torch.manual_seed(0)
    gen = run(fitted, CODEGEN.prompt(INIT_PREFIX, INIT_SUFFIX), temperature=0.8, top_p=1e-6)
    assert gen.text == INIT_MIDDLE


def _recording(backend, events, barrier=None):
    original = backend._generate_blocking
    lock = threading.Lock()

    def wrapped(request, stop, submitted):
        with lock:
            events.append(("start", request.session))
        if barrier is not None:
            barrier.wait()
        try:
            return original(request, stop, submitted)
        finally:
            with lock:
                events.append(("end", request.session))

    backend._generate_blocking = wrapped


async def _two_at_once(backend):
    requests = [GenerationRequest("def f(", 40, session=name) for name in ("a", "b")]
    return await asyncio.gather(*(backend.generate(r, StopFlag()) for r in requests))


def test_max_concurrent_one_runs_one_at_a_time(random_model):
    backend = LocalBackend(random_model, device="cpu", max_concurrent=1)
    events: list = []
    _recording(backend, events)
    try:
        gens = asyncio.run(_two_at_once(backend))
    finally:
        backend.close()
    assert [g.new_tokens for g in gens] == [40, 40]
    assert events in ([("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")],
                      [("start", "b"), ("end", "b"), ("start", "a"), ("end", "a")])


def test_max_concurrent_two_runs_both_at_once(random_model):
    backend = LocalBackend(random_model, device="cpu", max_concurrent=2)
    events: list = []
    # Both calls must be running at the same time to pass the barrier (it would time out otherwise).
    _recording(backend, events, threading.Barrier(2, timeout=30))
    try:
        gens = asyncio.run(_two_at_once(backend))
    finally:
        backend.close()
    assert gens[0].text == gens[1].text and gens[0].new_tokens == gens[1].new_tokens == 40
    assert sorted(events[:2]) == [("start", "a"), ("start", "b")]
    assert sorted(events[2:]) == [("end", "a"), ("end", "b")]


def test_healing_spells_out_the_cut_text_first_and_returns_only_the_rest(fitted):
    # The cursor on an auto-indented line, the line break and indentation cut: the newline
    # spelled out again does not end a single-line completion, nor is it returned.
    assert ADD_PREFIX.endswith("\n")
    gen = run(fitted, CODEGEN.prompt(ADD_PREFIX[:-1], ADD_SUFFIX), single_line=True, heal="\n    ")
    assert gen.finish == "stop" and gen.text.split("\n")[0] == ADD_MIDDLE[4:]


def test_healing_mask_allows_tokens_compatible_with_the_cut_text(fitted):
    mask = fitted.healing_mask("ret")
    texts = [fitted.tokenizer.decode([i]) for i in range(len(fitted.tokenizer))]
    allowed = {texts[i] for i in range(len(texts)) if mask[i]}
    assert allowed and all(t.startswith("ret") or "ret".startswith(t) for t in allowed)
    assert not any(mask[i] for i in fitted.tokenizer.all_special_ids)


def test_healing_keeps_the_indentation_the_editor_chose():
    from codegen_lsp.backends.local import _continues

    assert _continues("\n    ", "\n") and _continues("\n    ", "\n    ") and _continues("    ", "    return")
    assert not _continues("\n    ", "\n        ")  # a deeper indentation than the cursor's
    assert not _continues("    ", "\t") and _continues("ret", "return") and not _continues("ret", "rat")
