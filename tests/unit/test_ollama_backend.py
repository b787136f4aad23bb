"""The Ollama backend's requests and stream reading, against a stand-in for Ollama's HTTP API.

Ollama's server is not installable here (no registry this project reaches ships it), so these
tests serve its documented /api/tags, /api/show, /api/generate and /api/chat answers from an
httpx transport in the test, and check what the backend sends and how it reads the NDJSON
streams back. What they cannot show is that a real Ollama answers so: see docs/team.md.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from codegen_lsp.backends.base import BackendError, BackendUnavailable, GenerationRequest, PromptPieces, StopFlag
from codegen_lsp.backends.ollama import OllamaBackend
from codegen_lsp.prompts.fim import CODEGEN

TAGS = {"models": [{"name": "qwen2.5-coder:1.5b", "model": "qwen2.5-coder:1.5b"},
                   {"name": "smollm2:135m", "model": "smollm2:135m"}]}
SHOW = {"qwen2.5-coder:1.5b": {"model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
                               "capabilities": ["completion", "insert"]},
        "smollm2:135m": {"model_info": {"llama.context_length": 8192}, "capabilities": ["completion"]}}


class FakeOllama:
    """Ollama's answers as its API documents them; records what it was sent."""

    def __init__(self, pieces=("    return", " a", " + b", "\n"), endless: bool = False):
        self.sent: list[tuple[str, dict]] = []
        self.pieces, self.endless = pieces, endless

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.sent.append((request.url.path, body))
        if request.url.path == "/api/tags":
            return httpx.Response(200, json=TAGS)
        if request.url.path == "/api/show":
            return httpx.Response(200, json=SHOW[body["model"]])
        key = "message" if request.url.path == "/api/chat" else "response"
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=self._stream(key))

    async def _stream(self, key: str):
        for piece in self.pieces:
            value = {"role": "assistant", "content": piece} if key == "message" else piece
            yield (json.dumps({key: value, "done": False}) + "\n").encode()
        while self.endless:
            yield (json.dumps({key: "x", "done": False}) + "\n").encode()
            await asyncio.sleep(0.01)
        yield (json.dumps({key: "" if key == "response" else {"content": ""}, "done": True, "done_reason": "stop",
                           "prompt_eval_count": 42, "eval_count": len(self.pieces)}) + "\n").encode()


def backend(fake, name="qwen2.5-coder:1.5b", **kwargs) -> OllamaBackend:
    return OllamaBackend("http://ollama.test:11434", name=name, transport=httpx.MockTransport(fake), **kwargs)


def request(**kwargs) -> GenerationRequest:
    pieces = PromptPieces("def add(a, b):\n", "\n\nprint(add(1, 2))\n")
    return GenerationRequest(prompt="(shown only)", max_new_tokens=32, pieces=pieces, **kwargs)


async def test_a_fim_template_gets_prompt_and_suffix_and_the_context_size():
    fake = FakeOllama()
    ollama = backend(fake, context_window=8192)
    generation = await ollama.generate(request(single_line=True), StopFlag())
    assert generation.text == "    return a + b" and generation.finish == "stop"
    assert generation.route == "/api/generate"
    path, body = fake.sent[-1]
    assert (path, body["prompt"], body["suffix"]) == ("/api/generate", "def add(a, b):\n", "\n\nprint(add(1, 2))\n")
    assert "raw" not in body  # Ollama's template puts in the model's FIM tokens
    assert body["options"]["num_ctx"] == 8192 and body["options"]["num_predict"] == 32
    assert [p for p, _ in fake.sent[:2]] == ["/api/tags", "/api/show"]  # asked once, not per request
    await ollama.generate(request(), StopFlag())
    assert [p for p, _ in fake.sent].count("/api/show") == 1
    assert ollama.engine_status()["listed"] is True and ollama.engine_status()["route"] == "suffix"


async def test_a_local_tokenizer_sends_our_own_fim_prompt_raw(fitted_model):
    fake = FakeOllama()
    ollama = backend(fake, tokenizer=str(fitted_model))
    assert ollama.fim.name == CODEGEN.name and ollama.route == "raw"
    await ollama.generate(GenerationRequest(prompt=CODEGEN.prompt("a", "b"), max_new_tokens=8,
                                            pieces=PromptPieces("a", "b")), StopFlag())
    body = fake.sent[-1][1]
    assert body["raw"] is True and body["prompt"] == CODEGEN.prompt("a", "b") and "suffix" not in body
    assert "<|endoftext|>" in body["options"]["stop"]
    assert ollama.token_starts("def add") == [0, 3]  # budgets with the real tokenizer, not an estimate


async def test_a_model_without_a_fim_template_continues_the_prefix_with_one_warning():
    fake, told = FakeOllama(), []
    ollama = backend(fake, name="smollm2:135m")
    ollama.notify = lambda level, message: told.append((level, message))
    for _ in range(2):
        await ollama.generate(request(), StopFlag())
    body = fake.sent[-1][1]
    assert body["raw"] is True and body["prompt"] == "def add(a, b):\n" and "suffix" not in body
    assert len(told) == 1 and "no fill-in-the-middle" in told[0][1]
    assert ollama.context_window == 8192  # from /api/show's model_info


async def test_a_model_it_does_not_have_says_how_to_pull_it():
    ollama = backend(FakeOllama(), name="starcoder2:3b")
    with pytest.raises(BackendError, match="ollama pull starcoder2:3b"):
        await ollama.generate(request(), StopFlag())


async def test_chat_goes_through_api_chat():
    fake = FakeOllama(pieces=("It adds", " two numbers."))
    ollama = backend(fake)
    reply = await ollama.chat([{"role": "user", "content": "What does add do?"}], 64)
    assert reply.text == "It adds two numbers." and reply.prompt_tokens == 42
    path, body = fake.sent[-1]
    assert path == "/api/chat" and body["messages"][0]["content"] == "What does add do?"


async def test_a_stop_cuts_the_stream_at_once():
    ollama = backend(FakeOllama(endless=True))
    flag = StopFlag()
    task = asyncio.create_task(ollama.generate(request(), flag))
    await asyncio.sleep(0.3)
    flag.set("superseded")
    generation = await asyncio.wait_for(task, 2)
    assert generation.finish == "cancelled" and generation.new_tokens > 0


async def test_down_is_one_warning_and_back_is_noticed():
    up, told = [False], []

    def flaky(request: httpx.Request) -> httpx.Response:
        if not up[0]:
            raise httpx.ConnectError("connection refused")
        return FakeOllama()(request)

    ollama = OllamaBackend("http://ollama.test:11434", name="qwen2.5-coder:1.5b", transport=httpx.MockTransport(flaky),
                           retry_delays=())
    ollama.notify = lambda level, message: told.append((level, message))
    for _ in range(3):
        with pytest.raises(BackendUnavailable):
            await ollama.generate(request(), StopFlag())
    up[0] = True
    assert (await ollama.generate(request(), StopFlag())).text
    assert [level for level, _ in told] == ["warning", "info"] and "is back" in told[1][1]
