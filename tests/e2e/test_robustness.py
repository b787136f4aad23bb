"""Bad input gets an answer, not a crash: positions past the end, unknown documents, huge,
binary and unknown-language files, multi-byte text in every negotiated encoding, bad settings.
"""

from __future__ import annotations

import asyncio

from lsprotocol import types

from tests.conftest import FIT_TEXT
from tests.e2e.helpers import Editor, file_uri, last_requests, lsp_server

SHORT = {"completion": {"debounceMs": 0, "maxNewTokens": 4, "singleLineMaxTokens": 4}}


def units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


async def test_multibyte_text_round_trips_in_the_negotiated_encoding(editor, fitted_model):
    async with lsp_server(editor, fitted_model, SHORT) as client:
        encoding = client.initialize_result.capabilities.position_encoding
        assert encoding == ("utf-8" if editor == "neovim" else "utf-16")
        line0 = "s = '😋中文'"
        doc = Editor(client, file_uri("multibyte.py"), f"{line0}\r\nx = 1\r\n")
        # Type "AB" right after the emoji, addressed in the client's code units.
        column = units("s = '😋", encoding)
        doc.edit((0, column), (0, column), "AB")
        cursor = units("s = '😋AB中文'", encoding)
        result = await doc.inline(0, cursor, invoked=True)
        record = (await last_requests(client, 1))["requests"][-1]
        # Token healing may cut the prefix's last token; the prompt plus the cut text is the line.
        prefix_part = record["prompt"].split("<|cg_fim_suffix|>")[0] + record["heal"]
        assert prefix_part.endswith("s = '😋AB中文'") and "\r\nx = 1\r\n" in record["prompt"]
        assert record["outcome"] in ("model", "cache")
        for item in result.items:
            assert item.range.start == types.Position(0, cursor)


async def test_bad_positions_and_documents_are_answered(editor, fitted_model):
    async with lsp_server(editor, fitted_model, SHORT) as client:
        doc = Editor(client, file_uri("shapes.py"), FIT_TEXT.read_text())
        past_end = await doc.inline(10_000, 10_000, invoked=True)
        assert isinstance(past_end, types.InlineCompletionList)
        last_line = FIT_TEXT.read_text().count("\n")
        for item in past_end.items:
            assert item.range.start == types.Position(last_line, 0)
        beyond_line = await doc.inline(0, 999, invoked=True)
        assert isinstance(beyond_line, types.InlineCompletionList)
        # An edit past the end of the document is clamped, not an error.
        doc.edit((500, 0), (600, 3), "tail = 1\n")
        unknown = Editor.__new__(Editor)
        unknown.client, unknown.uri = client, file_uri("never-opened.py")
        assert list((await unknown.inline(0, 0)).items) == []
        record = (await last_requests(client, 1))["requests"][-1]
        assert "tail = 1\n" in record["prompt"] or record["outcome"] != "error"


async def test_huge_binary_and_unknown_language_files(editor, fitted_model):
    async with lsp_server(editor, fitted_model, SHORT) as client:
        huge = "x = 1; " * (10 * 1024 * 1024 // 7)
        big = Editor(client, file_uri("huge.py"), huge)
        assert isinstance(await big.inline(0, len(huge), invoked=True), types.InlineCompletionList)
        binary = Editor(client, file_uri("blob.py"), "PK\x03\x04\x00\x00\x00garbage\x00\n")
        assert list((await binary.inline(0, 4, invoked=True)).items) == []
        cobol = Editor(client, file_uri("prog.cob"), "       PROCEDURE DIVISION.\n       ", language="cobol")
        assert isinstance(await cobol.inline(1, 7, invoked=True), types.InlineCompletionList)
        outcomes = [r["outcome"] for r in (await last_requests(client, 3))["requests"]]
        assert "error" not in outcomes and outcomes[1] == "skipped"


async def test_bad_settings_give_one_warning_and_defaults(editor, fitted_model):
    options = {"completion": {"debounceMs": "soon", "bogus": 1}, "model": {"device": "tpu"}, "colour": "blue"}
    async with lsp_server(editor, fitted_model, options) as client:
        await asyncio.sleep(0)  # let the warning arrive
        doc = Editor(client, file_uri("shapes.py"), FIT_TEXT.read_text())
        await doc.inline(0, 0)
        warnings = [m for m in client.messages if m.type == types.MessageType.Warning]
        assert len(warnings) == 1
        for key in ("completion.debounceMs", "completion.bogus", "model.device", "codegen.colour"):
            assert key in warnings[0].message
        # The same through workspace/didChangeConfiguration: one more warning, server still answers.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"codegen": {"completion": {"maxNewTokens": -3}}}))
        result = await doc.inline(0, 0)
        assert isinstance(result, types.InlineCompletionList)
        warnings = [m for m in client.messages if m.type == types.MessageType.Warning]
        assert len(warnings) == 2 and "maxNewTokens" in warnings[1].message
