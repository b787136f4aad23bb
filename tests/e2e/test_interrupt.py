"""A newer request supersedes an older one and $/cancelRequest stops one: decoding
stops too, which the decoded-token counts in codegen.debug.lastRequests show.
"""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from tests.e2e.helpers import Editor, file_uri, last_requests, lsp_server

# The untrained model rarely ends a hole, so without an interruption every request
# would decode all of these tokens.
MAX_TOKENS = 6000
LONG = {"completion": {"debounceMs": 0, "maxNewTokens": MAX_TOKENS, "promptTokens": 256}, "model": {"fimOrder": "spm"}}
TEXT = "def main():\n    \n"


async def _warm_up(doc: Editor) -> None:
    # Mid-word: skipped by the trigger, but it waits for the model to finish loading.
    await doc.inline(0, 1)


async def test_newer_request_supersedes_older(editor, random_model):
    async with lsp_server(editor, random_model, LONG) as client:
        doc = Editor(client, file_uri("main.py"), TEXT)
        await _warm_up(doc)
        older = asyncio.ensure_future(doc.inline(1, 4))
        await asyncio.sleep(0.5)  # let it start decoding
        doc.edit((1, 4), (1, 4), "x")
        newer = asyncio.ensure_future(doc.inline(1, 5, invoked=True))
        assert list((await older).items) == []
        await asyncio.wait_for(newer, timeout=120)
        records = (await last_requests(client))["requests"]
        superseded = [r for r in records if r["outcome"] == "superseded"]
        assert len(superseded) == 1
        assert 0 < superseded[0]["new_tokens"] < MAX_TOKENS


async def test_cancel_request_stops_decoding(editor, random_model):
    async with lsp_server(editor, random_model, LONG) as client:
        doc = Editor(client, file_uri("main.py"), TEXT)
        await _warm_up(doc)
        known = set(client.protocol._request_futures)
        pending = asyncio.ensure_future(doc.inline(1, 4))
        await asyncio.sleep(0.5)  # let it start decoding
        (request_id,) = [key for key in client.protocol._request_futures if key not in known]
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(pending, timeout=60)
        records = (await last_requests(client))["requests"]
        cancelled = [r for r in records if r["outcome"] == "cancelled"]
        assert len(cancelled) == 1
        assert 0 < cancelled[0]["new_tokens"] < MAX_TOKENS
        # The server is still fine: the next request is answered.
        assert isinstance(await doc.inline(1, 4), types.InlineCompletionList)
