"""The openai backend's protocol handling, against a scripted HTTP server on a real local socket:
the edge cases a real completion server cannot be made to produce on demand (429 with
Retry-After, 503, a stall, a malformed line). tests/e2e/test_openai_backend.py runs it against
`transformers serve`."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codegen_lsp.backends.base import BackendError, GenerationRequest, StopFlag
from codegen_lsp.backends.http import cut as _cut, retry_after as _retry_after
from codegen_lsp.backends.openai import OpenAIBackend, served_adapter_name
from codegen_lsp.config import parse_config
from codegen_lsp.engine import load_backend

NO_WAIT = (0.01, 0.01, 0.01)


def chunk(text: str = "", finish: str | None = None, usage: dict | None = None) -> bytes:
    payload = {"choices": [{"index": 0, "text": text, **({"finish_reason": finish} if finish else {})}]}
    if usage:
        payload["usage"] = usage
    return f"data: {json.dumps(payload)}\n\n".encode()


class Scripted(ThreadingHTTPServer):
    """Answers each POST with the next scripted reply; records what it was sent and when a
    client hung up on a stream."""

    daemon_threads = True

    def __init__(self, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.replies: list = []
        self.requests: list[dict] = []
        self.models: list[str] | None = None  # what GET /models lists; None: 404, as a server without it
        self.hung_up = threading.Event()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if self.path != "/v1/models" or self.server.models is None:
            self.send_error(404)
            return
        body = json.dumps({"object": "list", "data": [{"id": name} for name in self.server.models]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                     "at": time.monotonic()})
        status, headers, parts = self.server.replies.pop(0)
        if status is None:  # no answer at all: wait for the client to give up on it
            self.rfile.read(1)
            self.server.hung_up.set()
            return
        self.send_response(status)
        for key, value in {"Content-Type": "text/event-stream", **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        try:
            for part in parts:
                if part == "stall":  # nothing more, until the client goes away
                    while True:
                        time.sleep(0.02)
                        self.wfile.write(b": still thinking\n\n")
                        self.wfile.flush()
                self.wfile.write(part)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.hung_up.set()


@pytest.fixture
def server():
    scripted = Scripted()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


@pytest.fixture
def backend_for(fitted_model):
    made = []

    def make(url: str, **kwargs) -> OpenAIBackend:
        backend = OpenAIBackend(url, name="served", tokenizer=fitted_model, retry_delays=NO_WAIT, **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def request(**kwargs) -> GenerationRequest:
    return GenerationRequest(prompt="<|cg_fim_prefix|>def f():<|cg_fim_suffix|><|cg_fim_middle|>",
                             max_new_tokens=16, **kwargs)


OK = (200, {}, [chunk("    return"), chunk(" 1"), chunk("", "stop", {"prompt_tokens": 9, "completion_tokens": 3}),
               b"data: [DONE]\n\n"])


async def test_streams_a_completion_with_the_request_fields(server, backend_for):
    server.replies.append(OK)
    backend = backend_for(server.url)
    generation = await backend.generate(request(stop=("\n\n",), temperature=0.2, top_p=0.9), StopFlag())
    assert (generation.text, generation.finish, generation.prompt_tokens, generation.new_tokens) == \
        ("    return 1", "stop", 9, 3)
    sent = server.requests[0]
    assert sent["path"] == "/v1/completions"
    assert sent["body"] == {"model": "served", "prompt": request().prompt, "max_tokens": 16, "temperature": 0.2,
                            "top_p": 0.9, "stop": ["\n\n", "<|endoftext|>"], "stream": True,
                            "stream_options": {"include_usage": True}}


async def test_429_with_retry_after_and_503_are_retried(server, backend_for):
    server.replies += [(429, {"Retry-After": "0.3"}, [b"slow down"]), (503, {}, [b"loading"]), OK]
    backend = backend_for(server.url)
    generation = await backend.generate(request(), StopFlag())
    assert generation.text == "    return 1" and backend.retries == 2
    assert server.requests[1]["at"] - server.requests[0]["at"] >= 0.3  # Retry-After was honoured


async def test_server_errors_past_the_retries_and_client_errors_are_reported(server, backend_for):
    server.replies += [(500, {}, [b"boom"])] * 4 + [(401, {}, [b"bad token"])]
    backend = backend_for(server.url)
    with pytest.raises(BackendError, match="answered 500: boom"):
        await backend.generate(request(), StopFlag())
    assert len(server.requests) == 4
    with pytest.raises(BackendError, match="answered 401: bad token"):
        await backend.generate(request(), StopFlag())
    assert len(server.requests) == 5  # a refused request is not tried again


async def test_a_stalled_stream_is_closed_as_soon_as_the_request_is_superseded(server, backend_for):
    server.replies.append((200, {}, [chunk("    ret"), "stall"]))
    backend = backend_for(server.url)
    flag = StopFlag()
    task = asyncio.create_task(backend.generate(request(), flag))
    await asyncio.sleep(0.3)
    flag.set("superseded")
    started = time.perf_counter()
    generation = await asyncio.wait_for(task, 2)
    assert generation.finish == "cancelled" and time.perf_counter() - started < 0.3
    assert generation.new_tokens == 1 and generation.first_token_seconds > 0
    assert await asyncio.to_thread(server.hung_up.wait, 2)  # the server saw the connection go


async def test_a_server_that_never_answers_is_left_once_the_request_is_cancelled(server, backend_for):
    server.replies.append((None, {}, []))
    flag = StopFlag()
    task = asyncio.create_task(backend_for(server.url).generate(request(), flag))
    await asyncio.sleep(0.3)
    flag.set("cancelled")
    assert (await asyncio.wait_for(task, 1)).finish == "cancelled"
    assert await asyncio.to_thread(server.hung_up.wait, 2)


async def test_malformed_lines_are_skipped(server, backend_for):
    server.replies.append((200, {}, [b"data: {not json\n\n", b": comment\n\n", chunk("x = 1"), b"data: [DONE]\n\n"]))
    generation = await backend_for(server.url).generate(request(), StopFlag())
    assert generation.text == "x = 1" and generation.finish == "stop"


async def test_single_line_and_end_tokens_cut_the_stream_client_side(server, backend_for):
    server.replies.append((200, {}, [chunk("\n    x = 1"), chunk("\n    y = 2"), "stall"]))
    generation = await backend_for(server.url).generate(request(single_line=True), StopFlag())
    assert generation.text == "\n    x = 1" and generation.finish == "stop"
    assert await asyncio.to_thread(server.hung_up.wait, 2)
    assert _cut("a<|cg_fim_prefix|>b", False, ("<|cg_fim_prefix|>",)) == "a"
    assert _cut("  \n", True, ()) is None  # no line yet: blank lines do not end it


async def test_the_bearer_token_is_sent_and_never_logged(server, backend_for, monkeypatch, caplog):
    monkeypatch.setenv("MY_TOKEN", "s3cret-token")
    server.replies += [(503, {}, [b"busy"]), OK]
    caplog.set_level(logging.DEBUG)
    backend = backend_for(server.url, api_key_env="MY_TOKEN")
    await backend.generate(request(), StopFlag())
    assert all(r["headers"]["Authorization"] == "Bearer s3cret-token" for r in server.requests)
    assert "s3cret-token" not in caplog.text and "s3cret-token" not in repr(vars(backend))
    monkeypatch.delenv("MY_TOKEN")
    server.replies.append(OK)
    await backend.generate(request(), StopFlag())
    assert "Authorization" not in server.requests[-1]["headers"]


async def test_a_server_that_is_down_warns_once_and_recovers(backend_for):
    scripted = Scripted()
    url = scripted.url
    scripted.shutdown()
    scripted.server_close()  # nothing listens on that port now
    backend = backend_for(url)
    notices = []
    backend.notify = lambda level, message: notices.append((level, message))
    for _ in range(3):
        with pytest.raises(BackendError, match="is not reachable"):
            await backend.generate(request(), StopFlag())
    assert [level for level, _ in notices] == ["warning"] and url in notices[0][1]
    assert backend.retries == 3  # the first request retried; later ones try once while it is down
    back = Scripted(scripted.server_address[1])  # the same port again
    back.replies.append(OK)
    try:
        assert (await backend.generate(request(), StopFlag())).text == "    return 1"
    finally:
        back.shutdown()
        back.server_close()
    assert notices[1] == ("info", f"the completion server at {url} is back") and backend.down_since is None


async def test_chat_streams_deltas_from_chat_completions(server, backend_for):
    deltas = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
              {"choices": [{"index": 0, "delta": {"content": "It adds"}}]},
              {"choices": [{"index": 0, "delta": {"content": " a and b."}, "finish_reason": "stop"}]}]
    server.replies.append((200, {}, [f"data: {json.dumps(d)}\n\n".encode() for d in deltas] + [b"data: [DONE]\n\n"]))
    answer = await backend_for(server.url).chat([{"role": "user", "content": "explain"}], 32)
    assert answer.text == "It adds a and b." and answer.finish == "stop"
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["body"]["messages"] == [{"role": "user", "content": "explain"}]


async def test_a_workspace_adapter_is_asked_for_by_its_served_name(server, backend_for, tmp_path):
    adapter = tmp_path / "team-adapter"
    adapter.mkdir()
    server.replies += [OK, OK]
    backend = backend_for(server.url)
    assert backend.adapter_identity(str(adapter)) == "team-adapter" and backend.adapter_identity("") == ""
    await backend.generate(request(adapter=str(adapter)), StopFlag())
    (adapter / "codegen_adapter.json").write_text(json.dumps({"served_name": "lora-7"}))
    assert served_adapter_name(adapter) == "lora-7"
    await backend.generate(request(adapter=str(adapter)), StopFlag())
    assert [r["body"]["model"] for r in server.requests] == ["team-adapter", "lora-7"]


async def test_an_adapter_the_server_does_not_list_is_refused_so_its_folder_gets_the_base(server, backend_for,
                                                                                          tmp_path):
    listed, missing = tmp_path / "payments", tmp_path / "frontend"
    backend = backend_for(server.url)
    server.models = ["served", "payments"]
    assert await backend.prepare_adapter(str(listed)) == "payments"
    with pytest.raises(BackendError, match=re.escape(f"--lora-modules frontend={missing}")) as refused:
        await backend.prepare_adapter(str(missing))
    assert "does not list the adapter 'frontend' (it serves served, payments)" in str(refused.value)
    server.models = None  # a server without GET /models is trusted to serve it
    assert await backend.prepare_adapter(str(missing)) == "frontend"


async def test_an_adapter_is_trusted_while_the_server_cannot_be_asked(backend_for, tmp_path):
    backend = backend_for("http://127.0.0.1:9/v1")  # the discard port: nothing listens
    assert await backend.prepare_adapter(str(tmp_path / "payments")) == "payments"
    assert backend.adapter_identity(str(tmp_path / "payments")) == "payments"


def test_retry_after_forms():
    class Response:
        def __init__(self, value):
            self.headers = {"retry-after": value} if value is not None else {}

    assert _retry_after(Response("2")) == 2.0
    assert _retry_after(Response("3600")) == 5.0  # capped: not worth a keystroke's wait
    assert _retry_after(Response("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # a date in the past
    assert _retry_after(Response("soon")) is None and _retry_after(Response(None)) is None


def test_the_engine_builds_it_without_touching_the_network(fitted_model, monkeypatch):
    import httpx

    def no_network(*args, **kwargs):
        raise AssertionError("network access at construction")

    monkeypatch.setattr(httpx.AsyncClient, "send", no_network)
    config, warnings = parse_config({"model": {"backend": "openai", "url": "http://gpu-box:8000/v1/",
                                               "name": "coder", "tokenizer": str(fitted_model),
                                               "contextWindow": 2048, "timeoutSeconds": 3}})
    assert warnings == []
    backend = load_backend(config)
    assert isinstance(backend, OpenAIBackend) and backend.supports_healing is False
    assert backend.model_id == "openai:http://gpu-box:8000/v1:coder" and backend.fim.name == "codegen"
    assert backend.context_window == 2048 and backend.token_starts("def f") == [0, 3]
    backend.close()
    with pytest.raises(BackendError, match="codegen.model.url is not set"):
        load_backend(parse_config({"model": {"backend": "openai"}})[0])


def test_the_pipeline_does_not_heal_for_a_backend_that_cannot(fitted_model):
    from codegen_lsp.completion import CompletionPipeline
    from codegen_lsp.config import CompletionConfig, ModelConfig
    from codegen_lsp.logs import RequestLog

    from codegen_lsp.completion import CompletionRequest
    from codegen_lsp.context.trigger import Mode
    from codegen_lsp.logs import RequestRecord

    backend = OpenAIBackend("http://127.0.0.1:9/v1", tokenizer=fitted_model)
    pipeline = CompletionPipeline(backend, None, CompletionConfig(), ModelConfig(), RequestLog(5))

    text = "def add(a, b):\n    retu"
    record = RequestRecord(uri="u", version=1, kind="inline")
    generation_request = pipeline._prompt(CompletionRequest("u", 1, text, len(text), "python"), text, "",
                                          Mode.SINGLE_LINE, record)
    assert generation_request.heal == "" and "    retu<|cg_fim_suffix|>" in generation_request.prompt
