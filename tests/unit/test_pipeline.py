import asyncio

import pytest

from codegen_lsp.backends.base import BackendError, StopFlag
from codegen_lsp.cache import CompletionCache
from codegen_lsp.completion import CompletionPipeline, CompletionRequest
from codegen_lsp.config import CompletionConfig, ModelConfig
from codegen_lsp.logs import RequestLog
from codegen_lsp.prompts.fim import CODEGEN, neutralise
from tests.conftest import FIT_TEXT

URI = "file:///work/shapes.py"


def with_line_emptied(text: str, line_text: str) -> tuple[str, int]:
    """The text with the line `line_text` emptied, and the offset of that empty line."""
    lines = text.split("\n")
    index = lines.index(line_text)
    lines[index] = ""
    return "\n".join(lines), sum(len(line) + 1 for line in lines[:index])


EMPTIED, CURSOR = with_line_emptied(FIT_TEXT.read_text(), "    return a + b")


def make_pipeline(backend, cache_dir=None, model_config=None, **completion):
    cache = CompletionCache(cache_dir, size_limit_mb=16) if cache_dir is not None else None
    config = CompletionConfig(**{"debounce_ms": 0, **completion})
    return CompletionPipeline(backend, cache, config, model_config or ModelConfig(), RequestLog(10))


# The untrained model echoes the prompt's last token. In PSM order that is the FIM middle marker, which
# ends the hole at once; in SPM order it is the prefix's last token, so decoding runs until stopped.
SPM = ModelConfig(fim_order="spm")


def request(text=EMPTIED, offset=CURSOR, version=1, uri=URI, **kw):
    return CompletionRequest(uri=uri, version=version, text=text, offset=offset, language_id="python", **kw)


async def test_fitted_model_fills_an_emptied_line(fitted, tmp_path):
    pipeline = make_pipeline(fitted, tmp_path / "cache")
    result = await pipeline.complete(request(), StopFlag())
    assert result.text == "    return a + b"
    record = result.record
    assert (record.outcome, record.mode, record.completion) == ("model", "multi-line", "    return a + b")
    assert record.prompt == CODEGEN.prompt(EMPTIED[:CURSOR], EMPTIED[CURSOR:])
    assert record.prompt_tokens == len(fitted.tokenizer(record.prompt)["input_ids"])
    assert record.new_tokens == 6  # "    return a + b" is five tokens, then the end token
    assert (record.uri, record.version, record.kind, record.error) == (URI, 1, "inline", "")
    assert pipeline.log.backend_calls == 1
    assert pipeline.log.last() == [record]
    assert {"context", "postprocess", "generate", "total"} <= set(record.timings_ms)
    pipeline.cache.close()


async def test_cache_answers_a_new_pipeline_without_the_backend(fitted, tmp_path):
    first = make_pipeline(fitted, tmp_path / "cache")
    assert (await first.complete(request(), StopFlag())).record.outcome == "model"
    first.cache.close()

    second = make_pipeline(fitted, tmp_path / "cache")
    result = await second.complete(request(), StopFlag())
    assert result.text == "    return a + b"
    assert result.record.outcome == "cache"
    assert result.record.new_tokens == 0
    assert second.log.backend_calls == 0
    second.cache.close()


async def test_cache_misses_when_the_settings_change(fitted, tmp_path):
    first = make_pipeline(fitted, tmp_path / "cache")
    await first.complete(request(), StopFlag())
    first.cache.close()
    second = make_pipeline(fitted, tmp_path / "cache", max_new_tokens=63)
    result = await second.complete(request(), StopFlag())
    assert (result.text, result.record.outcome) == ("    return a + b", "model")
    assert second.log.backend_calls == 1
    second.cache.close()


async def test_typing_ahead_serves_the_rest(fitted):
    pipeline = make_pipeline(fitted)
    assert (await pipeline.complete(request(), StopFlag())).text == "    return a + b"
    calls = pipeline.log.backend_calls
    for typed, rest in [("    ", "return a + b"), ("    ret", "urn a + b"), ("    return a +", " b")]:
        text = EMPTIED[:CURSOR] + typed + EMPTIED[CURSOR:]
        result = await pipeline.complete(request(text, CURSOR + len(typed), version=2), StopFlag())
        assert result.text == rest
        assert (result.record.outcome, result.record.completion) == ("typing-ahead", rest)
    assert pipeline.log.backend_calls == calls


async def test_typing_something_else_asks_the_model_again(fitted):
    pipeline = make_pipeline(fitted)
    await pipeline.complete(request(), StopFlag())
    text = EMPTIED[:CURSOR] + "    pass" + EMPTIED[CURSOR:]
    result = await pipeline.complete(request(text, CURSOR + 8, version=2), StopFlag())
    assert result.record.outcome == "model"
    assert pipeline.log.backend_calls == 2


async def test_typing_ahead_can_be_turned_off(fitted):
    pipeline = make_pipeline(fitted, typing_ahead=False)
    await pipeline.complete(request(), StopFlag())
    text = EMPTIED[:CURSOR] + "    " + EMPTIED[CURSOR:]
    result = await pipeline.complete(request(text, CURSOR + 4, version=2), StopFlag())
    assert result.record.outcome == "model"
    assert pipeline.log.backend_calls == 2


async def test_mid_word_is_skipped(fitted):
    pipeline = make_pipeline(fitted)
    offset = EMPTIED.index("area_of_circle") + 4
    result = await pipeline.complete(request(offset=offset), StopFlag())
    assert result.text == ""
    assert (result.record.outcome, result.record.mode) == ("skipped", "none")
    assert pipeline.log.backend_calls == 0


async def test_invoked_mid_word_is_single_line(fitted):
    pipeline = make_pipeline(fitted)
    offset = EMPTIED.index("area_of_circle") + 4
    result = await pipeline.complete(request(offset=offset, invoked=True), StopFlag())
    assert (result.record.mode, result.record.outcome) == ("single-line", "model")
    assert pipeline.log.backend_calls == 1


async def test_disabled_is_skipped(fitted):
    pipeline = make_pipeline(fitted, enabled=False)
    result = await pipeline.complete(request(), StopFlag())
    assert (result.text, result.record.outcome) == ("", "skipped")
    assert pipeline.log.backend_calls == 0


async def _until_generating(pipeline, calls=1):
    for _ in range(1000):
        if pipeline.log.backend_calls >= calls:
            return
        await asyncio.sleep(0)
    raise AssertionError("the request never reached the backend")


async def test_newer_request_supersedes_the_older(rand):
    # Multi-line asks for thousands of tokens (the random model never ends); single-line for a few.
    # Without token healing: the random model's echo of the prompt's last token is what is asserted.
    pipeline = make_pipeline(rand, model_config=SPM, max_new_tokens=4000, single_line_max_tokens=5,
                             token_healing=False)
    older_flag, newer_flag = StopFlag(), StopFlag()
    older = asyncio.ensure_future(pipeline.complete(request("x = 1\n\n", 6, version=1), older_flag))
    await _until_generating(pipeline)
    newer = await pipeline.complete(request("x = 1\ny = a", 11, version=2), newer_flag)
    old = await older
    assert old.text == ""
    assert old.record.outcome == "superseded"
    assert older_flag.reason == "superseded"
    assert old.record.new_tokens < 4000
    assert (newer.record.outcome, newer.record.mode, newer.record.new_tokens) == ("model", "single-line", 5)
    assert newer.text == " a a a a a"
    assert newer.record.prompt == CODEGEN.prompt("x = 1\ny = a", "", "spm")
    assert not newer_flag.is_set()
    assert sorted(r.version for r in pipeline.log.last()) == [1, 2]


async def test_request_for_another_document_does_not_supersede(rand):
    pipeline = make_pipeline(rand, model_config=SPM, max_new_tokens=30, single_line_max_tokens=5)
    first_flag = StopFlag()
    first = asyncio.ensure_future(pipeline.complete(request("x = 1\n\n", 6, uri="file:///a.py"), first_flag))
    await _until_generating(pipeline)
    other = await pipeline.complete(request("x = 1\ny = a", 11, uri="file:///b.py"), StopFlag())
    done = await first
    assert other.record.outcome == "model"
    assert not first_flag.is_set()
    assert (done.record.outcome, done.record.new_tokens) == ("model", 30)


async def test_forget_cancels_the_request_in_flight(rand):
    pipeline = make_pipeline(rand, model_config=SPM, max_new_tokens=4000)
    task = asyncio.ensure_future(pipeline.complete(request("x = 1\n\n", 6), StopFlag()))
    await _until_generating(pipeline)
    pipeline.forget(URI)
    result = await task
    assert (result.text, result.record.outcome) == ("", "cancelled")
    assert result.record.new_tokens < 4000


async def test_cancelling_the_task_records_cancelled(rand):
    pipeline = make_pipeline(rand, model_config=SPM, max_new_tokens=4000)
    flag = StopFlag()
    task = asyncio.ensure_future(pipeline.complete(request("x = 1\n\n", 6), flag))
    await _until_generating(pipeline)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = pipeline.log.last()[-1]
    assert record.outcome == "cancelled"
    assert flag.reason == "cancelled"
    assert record.new_tokens < 4000


async def test_binary_content_far_from_the_cursor_completes(fitted):
    # NUL bytes more than 4096 characters away from the cursor, still inside the prompt window.
    prefix = "blob = b'\x00\x01\xff\ufffe'" + "\n        " * 600 + "\n"
    text = prefix + "\n"
    pipeline = make_pipeline(fitted, prompt_tokens=4000)  # the whole prefix fits
    result = await pipeline.complete(request(text, len(prefix)), StopFlag())
    assert (result.record.outcome, result.record.mode, result.record.error) == ("model", "multi-line", "")
    assert "\x00" in result.record.prompt
    assert isinstance(result.text, str) and "\x00" not in result.text


async def test_binary_content_near_the_cursor_is_skipped(fitted):
    pipeline = make_pipeline(fitted)
    text = "data = b'\x00\x01\x02'\n\x00\x00\xff\ufffe\n\n"
    result = await pipeline.complete(request(text, len(text) - 1), StopFlag())
    assert (result.text, result.record.outcome, result.record.error) == ("", "skipped", "")
    assert pipeline.log.backend_calls == 0


async def test_ten_megabyte_single_line_completes(fitted):
    pipeline = make_pipeline(fitted)
    line = "x = 1; " * (10_000_000 // 7)
    result = await pipeline.complete(request(line, len(line), uri="file:///big.py"), StopFlag())
    record = result.record
    assert (record.outcome, record.mode, record.error) == ("model", "single-line", "")
    assert 0 < record.prompt_tokens <= CompletionConfig().prompt_tokens + 8
    assert len(record.prompt) < 1536 * 8 + 100
    assert record.prompt.startswith(CODEGEN.prefix + "x = 1; ") or record.prompt.startswith(CODEGEN.prefix + " ")
    assert "\n" not in result.text


@pytest.mark.parametrize("typed, heal, completion", [
    ("    retu", "tu", "rn a + b"),        # inside a word: "tu" is cut, "turn" spelled again
    ("    return", " return", " a + b"),  # after a whole word, the word itself is re-chosen
    ("    return a ", " ", None),         # after a space (what follows is up to the tiny model)
])
async def test_token_healing_cuts_the_last_token_and_the_completion_spells_it_again(fitted, typed, heal, completion):
    pipeline = make_pipeline(fitted)
    text = EMPTIED[:CURSOR] + typed + EMPTIED[CURSOR:]
    result = await pipeline.complete(request(text, CURSOR + len(typed), invoked=True), StopFlag())
    record = result.record
    assert record.heal == heal
    assert record.prompt == CODEGEN.prompt(EMPTIED[:CURSOR] + typed[: len(typed) - len(heal)], EMPTIED[CURSOR:])
    if completion is not None:
        assert result.text == completion  # the healed text is not repeated in the completion


async def test_healing_is_a_setting(fitted):
    pipeline = make_pipeline(fitted, token_healing=False)
    result = await pipeline.complete(request(EMPTIED[:CURSOR] + "    retu" + EMPTIED[CURSOR:], CURSOR + 8,
                                             invoked=True), StopFlag())
    assert result.record.heal == ""
    assert result.record.prompt == CODEGEN.prompt(EMPTIED[:CURSOR] + "    retu", EMPTIED[CURSOR:])


async def test_special_tokens_in_the_document_are_neutralised(fitted):
    pipeline = make_pipeline(fitted)
    text = 'END = "<|endoftext|>"\nMID = "<|cg_fim_middle|>"\n\n'
    result = await pipeline.complete(request(text, len(text) - 1), StopFlag())
    prompt = result.record.prompt
    assert prompt.count("<|cg_fim_middle|>") == 1 and prompt.endswith("<|cg_fim_middle|>")
    assert "<|endoftext|>" not in prompt
    assert "<\u200b|endoftext|>" in prompt and "<\u200b|cg_fim_middle|>" in prompt


def test_neutralise():
    assert neutralise("a <|endoftext|> b", ("<|endoftext|>",)) == "a <\u200b|endoftext|> b"
    assert neutralise("plain", CODEGEN.special_tokens) == "plain"
    assert neutralise("x <PRE> y", (" <PRE> ",)) == "x <\u200bPRE> y"


class FailingBackend:
    """A backend whose generation fails, with everything else real enough for the pipeline."""

    model_id = "failing"
    adapter_hash = ""
    fim = CODEGEN
    context_window = 4096
    special_tokens = CODEGEN.special_tokens

    def __init__(self, error):
        self.error = error
        self.calls = 0

    def token_starts(self, text):
        return list(range(len(text)))

    def adapter_identity(self, folder):
        return ""

    async def generate(self, request, stop):
        self.calls += 1
        raise self.error

    def close(self):
        pass


@pytest.mark.parametrize("error", [BackendError("the model crashed"), RuntimeError("CUDA out of memory")])
async def test_backend_error_is_an_error_outcome(tmp_path, error):
    backend = FailingBackend(error)
    pipeline = make_pipeline(backend, tmp_path / "cache")
    result = await pipeline.complete(request(), StopFlag())
    assert result.text == ""
    assert (result.record.outcome, result.record.error) == ("error", str(error))
    assert backend.calls == 1 and pipeline.log.backend_calls == 1
    assert pipeline.log.last() == [result.record]
    # Nothing was cached: the next request asks again.
    again = await pipeline.complete(request(version=2), StopFlag())
    assert again.record.outcome == "error" and backend.calls == 2
    pipeline.cache.close()
