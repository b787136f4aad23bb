"""The llama.cpp backend against a real `llama-server` (scripts/engines-setup.sh) serving GGUFs that
`codegen-lsp export` wrote, and SmolLM2-135M-Instruct, a real pretrained model without FIM tokens.

No local model or tokenizer is read: CODEGEN_LSP_MODEL points at nothing, and prompts are
budgeted with the server's /tokenize.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from tests.conftest import FIT_TEXT
from tests.e2e.helpers import (Editor, file_uri, last_requests, lsp_server, wait_for_index, wait_for_log,
                               wait_for_message)
from tests.e2e.llama_server import export_gguf, free_port, running_llama_server
from tests.e2e.test_completion import with_line_emptied
from tests.engines import smollm2_gguf

NO_LOCAL_MODEL = {"CODEGEN_LSP_MODEL": "/nonexistent/no-local-model"}
EXPECTED = "    return a + b"  # what the fitted model fills this hole with, in process (test_completion.py)
MAX_TOKENS = 4000


def options(url: str, **model) -> dict:
    return {"model": {"backend": "llama.cpp", "url": url, **model}, "completion": {"debounceMs": 0}}


@pytest.fixture(scope="module")
def fitted_gguf(fitted_model, tmp_path_factory) -> Path:
    return export_gguf(fitted_model, tmp_path_factory.mktemp("gguf") / "fitted-f32.gguf")


@pytest.fixture(scope="module")
def fitted_server(fitted_gguf):
    with running_llama_server(fitted_gguf) as url:
        yield url


@pytest.fixture(scope="module")
def random_server(random_model, tmp_path_factory):
    """The untrained model: it rarely ends a hole, so it decodes until it is stopped."""
    gguf = export_gguf(random_model, tmp_path_factory.mktemp("gguf") / "random-f32.gguf")
    with running_llama_server(gguf) as url:
        yield url


async def test_fills_the_hole_as_the_local_model_does(editor, fitted_server):
    text, line = with_line_emptied(FIT_TEXT.read_text(), EXPECTED)
    settings = options(fitted_server)
    settings["completion"]["typingAhead"] = False  # every keystroke below goes to the engine
    async with lsp_server(editor, None, settings, env=NO_LOCAL_MODEL) as client:
        doc = Editor(client, file_uri("shapes.py"), text)
        result = await doc.inline(line, 0)
        assert [item.insert_text for item in result.items] == [EXPECTED]
        record = (await last_requests(client, 1))["requests"][-1]
        assert record["outcome"] == "model" and record["route"] == "/completion"
        # Our own FIM prompt, exactly as training builds it (the fitted model's order is PSM).
        assert record["prompt"].startswith("<|cg_fim_prefix|>") and record["prompt"].endswith("<|cg_fim_middle|>")
        assert record["prompt_tokens"] > 100 and record["new_tokens"] > 0  # the server's own counts
        status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="codegen.status"))
        assert status["fimFormat"] == "codegen" and status["engine"]["nCtx"] == 4096
        assert status["engine"]["route"] == "raw" and status["engine"]["reachable"] is True
        # The next keystroke's prompt starts as this one did (PSM: up to the cursor): cache_prompt
        # keeps that part of the slot's KV.
        doc.edit((line, 0), (line, 0), "    ")
        await doc.inline(line, 4, invoked=True)
        record = (await last_requests(client, 1))["requests"][-1]
        assert record["outcome"] == "model" and 0 < record["reused_tokens"] < record["prompt_tokens"]


async def test_repository_snippets_go_to_infill_as_input_extra(editor, fitted_server, tmp_path):
    root = tmp_path / "ws"
    (root / "geometry").mkdir(parents=True)
    shapes = '"""Plane shapes."""\n\n\ndef rectangle_area(width: float, height: float) -> float:\n' \
             '    """Area of a width x height rectangle, in the units of its sides squared."""\n' \
             '    return width * height\n'
    (root / "geometry" / "shapes.py").write_text(shapes)
    main = "from geometry.shapes import rectangle_area\n\n\ndef report(width, height):\n    return rectangle_area("
    (root / "main.py").write_text(main)
    async with lsp_server(editor, None, options(fitted_server, fimRoute="infill"), env=NO_LOCAL_MODEL,
                          root=root) as client:
        await wait_for_index(client)
        doc = Editor(client, (root / "main.py").as_uri(), main)
        lines = main.split("\n")
        await doc.inline(len(lines) - 1, len(lines[-1]), invoked=True)
        record = (await last_requests(client, 1))["requests"][-1]
        assert record["outcome"] == "model" and record["route"] == "/infill"
        (item,) = [c for c in record["context"] if c["path"] == "geometry/shapes.py"]
        assert item["included"]
        assert "<FIM_SEP>geometry/shapes.py\n" in record["prompt"]  # how the record shows input_extra
        # The server evaluated the snippet too: more prompt tokens than the document alone has.
        snippet_tokens = len(httpx.post(f"{fitted_server}/tokenize", json={"content": shapes}).json()["tokens"])
        document_tokens = len(httpx.post(f"{fitted_server}/tokenize", json={"content": main}).json()["tokens"])
        assert record["prompt_tokens"] > document_tokens + snippet_tokens // 2


async def test_a_cancelled_request_stops_the_engine_decoding(editor, random_server):
    settings = options(random_server, maxPredictMs=0, fimOrder="spm")
    settings["completion"].update(maxNewTokens=MAX_TOKENS, promptTokens=256)
    async with lsp_server(editor, None, settings, env=NO_LOCAL_MODEL) as client:
        doc = Editor(client, file_uri("main.py"), "def main():\n    \n")
        await doc.inline(0, 1)  # mid-word: skipped, but waits for the backend to load
        known = set(client.protocol._request_futures)
        pending = asyncio.ensure_future(doc.inline(1, 4))
        decoded = await _until_decoding(random_server)
        (request_id,) = [key for key in client.protocol._request_futures if key not in known]
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(pending, timeout=60)
        # The connection closed, so the engine's slot stopped: idle long before 4000 tokens.
        decoded = max(decoded, await _decoded_until_idle(random_server))
        assert 0 < decoded < MAX_TOKENS
        record = [r for r in (await last_requests(client))["requests"] if r["outcome"] == "cancelled"][-1]
        assert 0 < record["new_tokens"] < MAX_TOKENS
        assert isinstance(await doc.inline(1, 4, invoked=True), types.InlineCompletionList)


async def test_down_then_back_with_a_small_context(editor, fitted_gguf):
    """A server that is not there yet: one warning, empty answers, nothing hangs; once it is up (with a
    context smaller than the configured budget: one more warning) the next request is answered."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    text, line = with_line_emptied(FIT_TEXT.read_text(), EXPECTED)
    async with lsp_server(editor, None, options(url), env=NO_LOCAL_MODEL) as client:
        doc = Editor(client, file_uri("shapes.py"), text)
        for _ in range(3):
            assert list((await asyncio.wait_for(doc.inline(line, 0, invoked=True), 30)).items) == []
        await wait_for_message(client, "not reachable", url)
        assert len([m for m in client.messages if "not reachable" in m.message]) == 1
        with running_llama_server(fitted_gguf, ctx_size=512, port=port):
            result = await doc.inline(line, 0, invoked=True)
            assert [item.insert_text for item in result.items] == [EXPECTED]
            await wait_for_message(client, "n_ctx", "--ctx-size")
            await wait_for_log(client, f"the llama.cpp server at {url} is back")


async def test_a_real_pretrained_model_without_fim_tokens(editor, tmp_path):
    """SmolLM2-135M-Instruct: it continues the prefix (one warning says the suffix is not seen), and
    explains code through its own chat template, applied by the server."""
    with running_llama_server(smollm2_gguf(), ctx_size=2048) as url:
        root = tmp_path / "ws"
        root.mkdir()
        code = "def add(a, b):\n    return a + b\n"
        (root / "calc.py").write_text(code)
        async with lsp_server(editor, None, options(url), env=NO_LOCAL_MODEL, root=root) as client:
            doc = Editor(client, (root / "calc.py").as_uri(), "import math\n\n\ndef circle_area(radius):\n    return ")
            result = await doc.inline(4, 11, invoked=True)
            await wait_for_message(client, "no fill-in-the-middle tokens")
            record = (await last_requests(client, 1))["requests"][-1]
            assert record["route"] == "/completion" and record["prompt"].endswith("def circle_area(radius):\n    return ")
            assert "radius" in result.items[0].insert_text  # a real model knows what an area needs
            Editor(client, (root / "calc.py").as_uri(), code)
            explained = await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="codegen.explain", arguments=[(root / "calc.py").as_uri(),
                                                      {"start": {"line": 0, "character": 0},
                                                       "end": {"line": 1, "character": 16}}]))
            assert "## Summary" in explained["markdown"]
            chat = [r for r in (await last_requests(client))["requests"] if r["mode"] == "chat"][-1]
            assert chat["prompt"].startswith("<|im_start|>system") and chat["completion"].strip()


async def _until_decoding(url: str) -> int:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            slots = (await http.get(f"{url}/slots")).json()
            if slots[0].get("is_processing") and slots[0].get("next_token", [{}])[0].get("n_decoded", 0) > 0:
                return slots[0]["next_token"][0]["n_decoded"]
            await asyncio.sleep(0.05)
    raise AssertionError("the engine never started decoding")


async def _decoded_until_idle(url: str) -> int:
    """The most tokens the slot was seen to have decoded before it went idle."""
    decoded = 0
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            slot = (await http.get(f"{url}/slots")).json()[0]
            if not slot.get("is_processing"):
                return decoded
            decoded = max(decoded, slot["next_token"][0]["n_decoded"])
            await asyncio.sleep(0.05)
    raise AssertionError("the engine's slot is still decoding 10 s after the request was cancelled")
