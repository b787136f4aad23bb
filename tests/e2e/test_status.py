"""codegen.status: what the editors' status displays show (model, state, adapter, last latency)."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from tests.conftest import FIT_TEXT
from tests.e2e.helpers import Editor, file_uri, lsp_server

FAST = {"completion": {"debounceMs": 0}}


async def status(client, *args) -> dict:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codegen.status", arguments=list(args)))


async def wait_for_state(client, *args) -> dict:
    for _ in range(600):
        answer = await status(client, *args)
        if answer["state"] != "loading":
            return answer
        await asyncio.sleep(0.1)
    raise AssertionError(f"the model is still loading: {answer}")


async def test_status_reports_model_and_last_latency(editor, fitted_model):
    async with lsp_server(editor, fitted_model, FAST) as client:
        assert "codegen.status" in client.initialize_result.capabilities.execute_command_provider.commands
        uri = file_uri("shapes.py")
        ready = await wait_for_state(client, uri)
        assert ready["state"] == "ready" and ready["loadError"] is None
        assert ready["model"].startswith(fitted_model.name + ":") and ready["device"] == "cpu"
        assert ready["fimFormat"] == "codegen" and ready["adapter"] == "" and ready["lastLatencyMs"] is None
        doc = Editor(client, uri, FIT_TEXT.read_text())
        await doc.inline(3, 4)
        after = await status(client, uri)
        assert after["lastLatencyMs"] is not None and after["lastLatencyMs"] > 0
        assert after["completionsEnabled"] is True


async def test_status_reports_a_model_that_failed_to_load(editor, tmp_path):
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json")
    async with lsp_server(editor, broken) as client:
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=file_uri("a.py"), language_id="python", version=1, text="x = 1\n")))
        answer = await wait_for_state(client)
        assert answer["state"] == "error" and answer["model"] is None
        assert "not-a-model" in answer["loadError"] or "config" in answer["loadError"]
