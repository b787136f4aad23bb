"""Protocol fuzzing (tests/lsp_fuzz.py) at CI size, as both editors, and the bugs it found (one
server for all of them: each start costs more than the checks).

CODEGEN_FUZZ_OPS and CODEGEN_FUZZ_SEED scale a run or change its seed; benchmarks/fuzz.py runs
the nightly size.
"""

from __future__ import annotations

import asyncio
import os

from lsprotocol import types

from tests.conftest import FIT_TEXT
from tests.e2e.helpers import Editor, last_requests, lsp_server
from tests.lsp_fuzz import DOCUMENT_COMMAND, OPEN_OPS, OTHER_OPS, SHORT, run

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # see tests/lsp_fuzz.py: torch threads on a busy machine

OPS = int(os.environ.get("CODEGEN_FUZZ_OPS", "1000"))
SEEDS = {"neovim": 1101, "visual_studio_code": 1102}
# What a run must have done, so that it cannot pass by doing little.
FEATURES = ("insertion", "deletion", "replacement", "past the line's end", "past the last line",
            "inside a code point", "reversed range", "huge position", "astral (surrogate pair)", "CJK",
            "accented", "CRLF", "lone CR", "tab", "full text in a multi-change")


async def test_fuzzed_sessions_keep_server_and_documents_sound(editor, fitted_model, tmp_path):
    seed = int(os.environ.get("CODEGEN_FUZZ_SEED", SEEDS[editor]))
    root = tmp_path / "workspace"
    root.mkdir()
    stats = await run(editor, fitted_model, OPS, seed, root)
    assert stats.problems() == [], f"seed {seed}: " + "\n".join(stats.problems()[:20])
    assert (stats.crashes, stats.hangs, stats.exit_code) == (0, 0, 0)
    assert stats.encoding == ("utf-8" if editor == "neovim" else "utf-16") and stats.indexed
    missing = [k for k in (*OPEN_OPS, *OTHER_OPS) if not stats.ops[k]] + [f for f in FEATURES if not stats.features[f]]
    assert missing == [], f"seed {seed} never did {missing}: {stats.ops} {stats.features}"
    # Responses were checked, some with items in them; some cancels arrived while the request ran.
    assert stats.validated > OPS // 3 and stats.nonempty > 20
    assert stats.cancels and stats.cancelled
    assert any(kind.startswith("resolve ") for kind in stats.ops)


async def test_bugs_the_fuzzer_found_stay_fixed(editor, fitted_model, tmp_path):
    async with lsp_server(editor, fitted_model, SHORT, env=ONE_THREAD) as client:
        await _edit_during_a_request(client, tmp_path)  # first: the request waits for the model to load
        await _edits_past_a_line_end(client, tmp_path)
        await _completion_at_a_line_start(client, tmp_path)


async def _edit_during_a_request(client, tmp_path) -> None:
    """The cursor's offset was taken from the text the request came with, but the prompt from the
    text once the model was ready and the answer's position from the text once the model had
    answered, so an edit in between put a suggestion for one text at a place in another."""
    doc = Editor(client, (tmp_path / "during.py").as_uri(), CUT_SHAPES)
    pending = asyncio.ensure_future(doc.inline(9, 0, invoked=True))
    await asyncio.sleep(0.01)  # sent; the edit arrives while it waits
    doc.edit((0, 0), (0, 0), "import os\n")
    result = await pending
    assert result.items, "the fitted model continues the file"
    assert [item.range.start for item in result.items] == [types.Position(9, 0)] * len(result.items)
    record = (await last_requests(client, 1))["requests"][-1]
    assert "import os" not in record["prompt"] and record["version"] == 1
    _close(client, doc.uri)


async def _edits_past_a_line_end(client, tmp_path) -> None:
    """pygls' own copy of the documents rewrote a position past a line's end in the client's params
    (to its line's length minus one, on lines split like str.splitlines) before the server's
    handler saw it: the last line's edit landed one character early, and a line holding U+2028
    (no line end in LSP) was cut short."""
    last = Editor(client, (tmp_path / "last.py").as_uri(), "abc\nxyz")
    last.edit((1, 10), (1, 10), "!")
    assert await _server_text(client, last.uri) == "abc\nxyz!"
    separator = Editor(client, (tmp_path / "separator.py").as_uri(), "a\u2028bé\nc")
    separator.edit((0, 40), (0, 40), "!")
    assert await _server_text(client, separator.uri) == "a\u2028bé!\nc"
    for uri in (last.uri, separator.uri):
        _close(client, uri)
    assert await _server_state(client, last.uri) is None


async def _completion_at_a_line_start(client, tmp_path) -> None:
    """The typed word was found with `\\w*$`, whose "$" also matches before a final "\\n": at a
    line's start the item replaced the previous line's last word, across the line break."""
    doc = Editor(client, (tmp_path / "start.py").as_uri(), CUT_SHAPES)
    result = await doc.complete(9, 0)
    assert result.items, "the fitted model continues the file"
    for item in result.items:
        assert item.text_edit.range == types.Range(start=types.Position(9, 0), end=types.Position(9, 0))
        assert not item.text_edit.new_text.startswith("b")


CUT_SHAPES = "".join(FIT_TEXT.read_text().splitlines(keepends=True)[:9])  # ends "    return a + b\n"


async def _server_state(client, uri: str, text: bool = False) -> dict | None:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=DOCUMENT_COMMAND, arguments=[uri, text]))


async def _server_text(client, uri: str) -> str:
    return (await _server_state(client, uri, text=True))["text"]


def _close(client, uri: str) -> None:
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
