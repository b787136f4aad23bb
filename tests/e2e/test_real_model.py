"""A real pretrained model through the real server, in process: SmolLM2-135M-Instruct from its GGUF
file (scripts/engines-setup.sh models; skipped without it, failed under CODEGEN_REQUIRE_ENGINES=1).

It has no FIM tokens, so completions continue the text before the cursor alone, with one warning
the user sees; it has a chat template, so explain asks it in messages. Loading dequantizes the file
(20-70 s on 2 busy cores): one server per editor for completions, one for explain. A tiny GGUF
written from a test model (tests/unit/tiny_gguf.py) checks the same path without the download.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.helpers import Editor, last_requests, lsp_server, wait_for_index, wait_until
from tests.engines import smollm2_gguf
from tests.unit.test_prefix_only import write_no_fim_gguf

OPTIONS = {"completion": {"debounceMs": 0}, "cache": {"enabled": False}}
FIBONACCI = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n    return '
ADD = "def add(a, b):\n    return "
AFTER = "\n\n\nprint(add(1, 2))\n"
PREFIX_ONLY = "completions will only continue the text before the cursor"


def messages_with(client, text: str) -> list[types.ShowMessageParams]:
    return [m for m in client.messages if text in m.message]


async def load_notes(client) -> tuple[types.ShowMessageParams, types.ShowMessageParams]:
    """The prefix-only warning and the GGUF note, each shown once."""
    await wait_until(lambda: messages_with(client, "is a GGUF file"), 120, "the GGUF note")
    (warning,) = messages_with(client, PREFIX_ONLY)
    (note,) = messages_with(client, "is a GGUF file")
    return warning, note


def workspace(root: Path, name: str, text: str) -> str:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    return (root / name).as_uri()


async def test_smollm2_continues_python_from_the_prefix(editor, tmp_path):
    model = smollm2_gguf()
    root = tmp_path / "ws"
    uri = workspace(root, "fib.py", FIBONACCI)
    async with lsp_server(editor, model, OPTIONS, root=root) as client:
        fib = Editor(client, uri, FIBONACCI)
        lines = FIBONACCI.split("\n")
        result = await fib.inline(len(lines) - 1, len(lines[-1]), invoked=True)  # waits for the load
        warning, note = await load_notes(client)
        assert warning.type == types.MessageType.Warning and "text after the cursor is ignored" in warning.message
        assert note.type == types.MessageType.Info and "llama.cpp's llama-server" in note.message
        (item,) = result.items
        assert re.search(r"fibonacci\(n ?- ?1\) ?\+ ?fibonacci\(n ?- ?2\)", item.insert_text), item.insert_text

        # The text after the cursor is not sent: the prompt is the prefix (repository context aside).
        add = Editor(client, (root / "add.py").as_uri(), ADD + AFTER)
        result = await add.inline(1, len("    return "), invoked=True)
        (item,) = result.items
        assert item.insert_text.strip() == "a + b"
        (record,) = (await last_requests(client, 1))["requests"]
        assert record["outcome"] == "model" and (record["prompt"] + record["heal"]).endswith(ADD)
        assert "print(add" not in record["prompt"] and "<|im_start|>" not in record["prompt"]


async def test_smollm2_as_the_chat_model_explains_a_function(fitted_model, tmp_path):
    chat = smollm2_gguf()
    root = tmp_path / "ws"
    text = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n"
    uri = workspace(root, "fib.py", text)
    options = {**OPTIONS, "actions": {"chatModel": str(chat)}}
    async with lsp_server("visual_studio_code", fitted_model, options, root=root) as client:
        await wait_for_index(client)
        Editor(client, uri, text)
        selection = {"start": {"line": 0, "character": 0}, "end": {"line": 4, "character": 0}}
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codegen.explain", arguments=[uri, selection]))
        (record,) = (await last_requests(client, 1))["requests"]
    assert record["mode"] == "chat" and record["outcome"] == "stop"  # its end-of-turn token ended the reply
    assert record["prompt"].startswith("<|im_start|>system\nYou are a senior software engineer")
    assert record["prompt"].endswith("<|im_start|>assistant\n")
    markdown = result["markdown"]
    assert markdown.startswith("# `fibonacci` (function, fib.py:1)")
    summary = markdown.split("## Summary", 1)[1].split("\n##", 1)[0]
    assert "Written by the model" in summary
    # SmolLM2's own words (greedy): it repeats the function, then says it computes the Fibonacci
    # sequence and is a classic recursive algorithm.
    assert re.search(r"Fibonacci (sequence|number)", summary) and re.search(r"recursi", summary), summary
    assert "<|im_end|>" not in markdown


async def test_a_gguf_model_without_fim_tokens_loads_with_one_warning(editor, fitted_model, tmp_path):
    """The same path, fast: a tiny test model as a GGUF file without FIM tokens, with a chat template."""
    model = write_no_fim_gguf(fitted_model, tmp_path)
    root = tmp_path / "ws"
    uri = workspace(root, "add.py", ADD + AFTER)
    options = {**OPTIONS, "actions": {"chatModel": str(model)}}
    async with lsp_server(editor, model, options, root=root) as client:
        add = Editor(client, uri, ADD + AFTER)
        await add.inline(1, len("    return "), invoked=True)
        warning, note = await load_notes(client)
        assert warning.type == types.MessageType.Warning and warning.message.startswith(
            f"codegen-lsp: the model {model.name}:")
        assert note.type == types.MessageType.Info
        (record,) = (await last_requests(client, 1))["requests"]
        assert record["outcome"] == "model" and record["prompt"] + record["heal"] == ADD
        # The chat model setting takes the .gguf file too: explain goes through its template.
        selection = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 15}}
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codegen.explain", arguments=[uri, selection]))
        (record,) = (await last_requests(client, 1))["requests"]
        assert record["mode"] == "chat" and record["prompt"].startswith("<|im_start|>system\n")
        assert not [m for m in client.messages if "chat model is not used" in m.message]
