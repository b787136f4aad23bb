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
