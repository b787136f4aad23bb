"""The openai backend against a real OpenAI-compatible server: `transformers serve` (FastAPI and
uvicorn, pinned in requirements.txt) with the tiny fitted model, offline, on a free local port.

Why this server: it runs from the packages the project already has (transformers, torch), loads
a local model folder with HF_HUB_OFFLINE=1, and streams `/v1/completions` and
`/v1/chat/completions` with stop sequences; llama.cpp's server would need a C++ build and a
GGUF conversion first.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from lsprotocol import types

from codegen_lsp.backends.base import BackendError, GenerationRequest, StopFlag
from codegen_lsp.backends.openai import OpenAIBackend
from codegen_lsp.prompts.fim import CODEGEN
from tests.conftest import FIT_TEXT
from tests.e2e.helpers import Editor, file_uri, free_port, last_requests, lsp_server, wait_for_log, wait_healthy
from tests.e2e.test_completion import with_line_emptied

STARTUP_SECONDS = 90
EXPECTED = "    return a + b"  # what the local backend fills this hole with (test_completion.py)
# A chat template for a copy of the fitted model, which has none: enough to tell the server
# applied it (the fitted model's answer to it is nonsense, but deterministic).
CHAT_TEMPLATE = ("{% for m in messages %}# {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}def {% endif %}")


def start_serve(model: Path | None, port: int) -> subprocess.Popen:
    """`transformers serve`, fully offline, pinned to `model` (else it loads the folder each request
    names); returns once /health answers."""
    executable = Path(sys.executable).parent / "transformers"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    pinned = [str(model)] if model is not None else []
    process = subprocess.Popen([str(executable), "serve", *pinned, "--host", "127.0.0.1", "--port", str(port),
                                "--device", "cpu", "--log-level", "warning"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}", STARTUP_SECONDS, "transformers serve",
                     lambda: process.stderr.read().decode())
    except AssertionError:
        stop_serve(process)
        raise
    return process


def stop_serve(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=30)


def hole_prompt() -> str:
    text, line = with_line_emptied(FIT_TEXT.read_text(), EXPECTED)
    offset = len("\n".join(text.split("\n")[:line])) + 1
    return CODEGEN.prompt(text[:offset], text[offset:])


@pytest.fixture(scope="module")
def chat_model(fitted_model, tmp_path_factory) -> Path:
    """The fitted model with a chat template, so one server answers both endpoints."""
    folder = tmp_path_factory.mktemp("chat-model") / fitted_model.name
    shutil.copytree(fitted_model, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": CHAT_TEMPLATE}))
    return folder


@pytest.fixture(scope="module")
def endless_model(fitted_model, tmp_path_factory) -> Path:
    """The fitted model made never to end (its generation config forbids the end token): a
    stream that is still going when a test cuts it."""
    folder = tmp_path_factory.mktemp("endless-model") / fitted_model.name
    shutil.copytree(fitted_model, folder)
    config = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**config, "min_new_tokens": 100_000}))
    return folder


@pytest.fixture(scope="module")
def served(chat_model, endless_model):
    """(API base URL, served model name) of a running `transformers serve`, which serves the
    endless model too (by its folder), with both loaded before the first test."""
    port = free_port()
    process = start_serve(None, port)
    url = f"http://127.0.0.1:{port}/v1"
    for model in (chat_model, endless_model):
        httpx.post(f"{url}/completions", json={"model": str(model), "prompt": "x", "max_tokens": 1},
                   timeout=STARTUP_SECONDS).raise_for_status()
    yield url, str(chat_model)
    stop_serve(process)


async def test_streams_the_fill_the_local_model_gives(served, chat_model):
    url, name = served
    backend = OpenAIBackend(url, name=name, tokenizer=chat_model)
    try:
        assert backend.fim.name == "codegen" and backend.context_window > 0
        generation = await backend.generate(GenerationRequest(hole_prompt(), max_new_tokens=64), StopFlag())
        assert generation.text == EXPECTED and generation.finish == "stop"
        assert generation.prompt_tokens > 100 and generation.new_tokens > 0  # from the server's usage
        assert 0 < generation.first_token_seconds <= generation.generate_seconds
        # A stop sequence ends the text before it, although this server sends it along.
        stopped = await backend.generate(GenerationRequest(hole_prompt(), max_new_tokens=64, stop=(" +",)),
                                         StopFlag())
        assert stopped.text == "    return a" and stopped.finish == "stop"
        # A single line is cut at its end by the client, whatever follows in the stream.
        line = await backend.generate(GenerationRequest(hole_prompt(), max_new_tokens=64, single_line=True),
                                      StopFlag())
        assert line.text == EXPECTED
    finally:
        backend.close()


async def test_a_stop_mid_stream_closes_it_and_reports_cancelled(served, chat_model, endless_model):
    url, name = served
    backend = OpenAIBackend(url, name=str(endless_model), tokenizer=endless_model)
    flag = StopFlag()
    task = asyncio.create_task(backend.generate(GenerationRequest(hole_prompt(), max_new_tokens=4000), flag))
    await asyncio.sleep(1.0)
    assert not task.done()
    flag.set("superseded")
    started = time.perf_counter()
    generation = await asyncio.wait_for(task, 5)
    assert generation.finish == "cancelled" and time.perf_counter() - started < 0.5
    assert generation.new_tokens > 0  # it was cut mid-stream, not before the answer
    backend.close()
    # The server dropped that generation with the connection: the next answer comes at once.
    fitted = OpenAIBackend(url, name=name, tokenizer=chat_model)
    again = await asyncio.wait_for(fitted.generate(GenerationRequest(hole_prompt(), 64), StopFlag()), 10)
    assert again.text == EXPECTED
    fitted.close()


async def test_chat_goes_through_the_servers_chat_template(served, chat_model):
    url, name = served
    backend = OpenAIBackend(url, name=name, tokenizer=chat_model)
    messages = [{"role": "user", "content": "add two numbers"}]
    answer = await backend.chat(messages, max_new_tokens=12)
    # The same conversation through /completions with the template applied here: the same text.
    prompt = backend.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    direct = await backend.generate(GenerationRequest(prompt, max_new_tokens=12), StopFlag())
    assert answer.text and answer.text == direct.text
    assert answer.finish in ("stop", "length") and answer.prompt_tokens == direct.prompt_tokens
    backend.close()


async def test_a_model_the_server_cannot_load_is_retried_then_a_clear_error(served, chat_model):
    url, _ = served
    backend = OpenAIBackend(url, name="no-such-model", tokenizer=chat_model)
    # Unpinned, this server tries to load the folder named and answers 500: a server error, so
    # retried with backoff, then reported, but the server is up: no "not reachable" warning.
    notices = []
    backend.notify = lambda level, message: notices.append((level, message))
    with pytest.raises(BackendError, match="answered 500"):
        await backend.generate(GenerationRequest(hole_prompt(), 8), StopFlag())
    assert backend.retries == 3 and backend.down_since is None and notices == []
    backend.close()


async def test_ghost_text_from_a_server_that_goes_down_and_comes_back(fitted_model):
    port = free_port()
    process = start_serve(fitted_model, port)
    options = {"model": {"backend": "openai", "url": f"http://127.0.0.1:{port}/v1", "name": str(fitted_model),
                         "tokenizer": str(fitted_model)},
               "completion": {"debounceMs": 0, "typingAhead": False}, "cache": {"enabled": False}}
    text, line = with_line_emptied(FIT_TEXT.read_text(), EXPECTED)
    try:
        async with lsp_server("visual_studio_code", None, options) as client:
            doc = Editor(client, file_uri("shapes.py"), text)
            result = await doc.inline(line, 0)
            assert [item.insert_text for item in result.items] == [EXPECTED]
            record = (await last_requests(client, 1))["requests"][-1]
            assert record["outcome"] == "model" and record["new_tokens"] > 0 and record["prompt_tokens"] > 100
            assert "<|cg_fim_prefix|>" in record["prompt"] and record["heal"] == ""

            stop_serve(process)
            for _ in range(3):  # keystroke after keystroke: empty, and one warning in all
                assert not (await doc.inline(line, 0)).items
            warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
            assert len(warnings) == 1 and "is not reachable" in warnings[0] and str(port) in warnings[0]
            record = (await last_requests(client, 1))["requests"][-1]
            assert record["outcome"] == "error" and "not reachable" in record["error"]

            process = start_serve(fitted_model, port)
            result = await doc.inline(line, 0)
            assert [item.insert_text for item in result.items] == [EXPECTED]
            await wait_for_log(client, f"the completion server at http://127.0.0.1:{port}/v1 is back", 5)
            assert len([m for m in client.messages if m.type == types.MessageType.Warning]) == 1
    finally:
        stop_serve(process)
