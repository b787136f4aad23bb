"""Ghost text and list items from the real server and a real (tiny) transformers model."""

from __future__ import annotations

from lsprotocol import types

from tests.conftest import FIT_TEXT
from tests.e2e.helpers import Editor, file_uri, last_requests, lsp_server

FAST = {"completion": {"debounceMs": 0}}


def with_line_emptied(text: str, line_text: str) -> tuple[str, int]:
    """The text with the line `line_text` emptied, and that line's number."""
    lines = text.split("\n")
    index = lines.index(line_text)
    lines[index] = ""
    return "\n".join(lines), index


async def test_ghost_text_fills_a_removed_line(editor, fitted_model, tmp_path):
    text, line = with_line_emptied(FIT_TEXT.read_text(), "    return a + b")
    async with lsp_server(editor, fitted_model, FAST) as client:
        assert client.initialize_result.capabilities.inline_completion_provider is not None
        doc = Editor(client, file_uri("shapes.py"), text)
        result = await doc.inline(line, 0)
        assert [item.insert_text for item in result.items] == ["    return a + b"]
        assert result.items[0].range == types.Range(start=types.Position(line, 0), end=types.Position(line, 0))
        debug = await last_requests(client, 1)
        record = debug["requests"][-1]
        assert record["outcome"] == "model" and record["mode"] == "multi-line"
        assert record["completion"] == "    return a + b"
        assert "<|cg_fim_prefix|>" in record["prompt"] and record["new_tokens"] > 0


async def test_list_item_appears_and_replaces_the_word_being_typed(editor, fitted_model):
    text, line = with_line_emptied(FIT_TEXT.read_text(), "    return a + b")
    async with lsp_server(editor, fitted_model, FAST) as client:
        assert client.initialize_result.capabilities.completion_provider is not None
        doc = Editor(client, file_uri("shapes.py"), text)
        result = await doc.complete(line, 0)
        assert isinstance(result, types.CompletionList) and len(result.items) == 1
        item = result.items[0]
        assert item.text_edit.new_text == "    return a + b" and item.label == "return a + b"
        assert item.text_edit.range == types.Range(start=types.Position(line, 0), end=types.Position(line, 0))
        # With a word typed, the item replaces that word so the editor's filter keeps it.
        doc.edit((line, 0), (line, 0), "    return")
        result = await doc.complete(line, 10)
        (item,) = result.items
        assert item.text_edit.new_text == "return a + b" and item.filter_text == item.text_edit.new_text
        assert item.text_edit.range == types.Range(start=types.Position(line, 4), end=types.Position(line, 10))
        record = (await last_requests(client, 1))["requests"][-1]
        assert record["kind"] == "list" and record["outcome"] == "typing-ahead"


async def test_typing_ahead_makes_no_backend_call(editor, fitted_model):
    text, line = with_line_emptied(FIT_TEXT.read_text(), "    return a + b")
    async with lsp_server(editor, fitted_model, FAST) as client:
        doc = Editor(client, file_uri("shapes.py"), text)
        first = await doc.inline(line, 0)
        assert first.items[0].insert_text == "    return a + b"
        calls = (await last_requests(client))["backendCalls"]
        for typed, column in (("    r", 5), ("e", 6), ("t", 7)):
            doc.edit((line, column - len(typed)), (line, column - len(typed)), typed)
            result = await doc.inline(line, column)
            assert result.items[0].insert_text == "    return a + b"[column:]
        debug = await last_requests(client, 3)
        assert debug["backendCalls"] == calls
        assert [r["outcome"] for r in debug["requests"]] == ["typing-ahead"] * 3


async def test_cache_hit_survives_a_restart(editor, fitted_model, tmp_path):
    text, line = with_line_emptied(FIT_TEXT.read_text(), "        self.y = y")
    options = {**FAST, "cache": {"path": str(tmp_path / "cache")}}
    for expected in ("model", "cache"):
        async with lsp_server(editor, fitted_model, options) as client:
            doc = Editor(client, file_uri("shapes.py"), text)
            result = await doc.inline(line, 0)
            assert result.items[0].insert_text == "        self.y = y"
            debug = await last_requests(client, 1)
            assert debug["requests"][-1]["outcome"] == expected
            assert debug["backendCalls"] == (1 if expected == "model" else 0)
