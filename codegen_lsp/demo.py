"""`codegen-lsp demo`: start the real server, type into a file through an LSP client,
and print every suggestion with its latency and where it came from.

This module is an LSP *client*, so it speaks lsprotocol like an editor does.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from .backends.base import BackendError
from .engine import resolve_model_path
from .lsp_client import ScriptedEditor

SAMPLE = Path(__file__).parent / "data" / "demo_sample.py"


@dataclass
class Step:
    line: int
    source: str
    latency_ms: float
    text: str


def holes(text: str, count: int = 6) -> list[int]:
    """Line numbers worth completing: non-blank lines inside a body, spread over the file."""
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if line.startswith((" ", "\t")) and line.strip()
                  and not line.strip().startswith(("#", '"""'))]
    if not candidates:
        candidates = [i for i, line in enumerate(lines) if line.strip()]
    stride = max(1, len(candidates) // count)
    return candidates[::stride][:count]


async def _ask(editor: ScriptedEditor, uri: str, line: int, character: int) -> tuple[str, float, str]:
    started = time.perf_counter()
    result = await asyncio.wrap_future(editor.ask(uri, types.Position(line=line, character=character)))
    latency = (time.perf_counter() - started) * 1000
    text = result.items[0].insert_text if result and result.items else ""
    debug = await editor.debug(1, False)
    source = debug["requests"][-1]["outcome"] if debug and debug["requests"] else "?"
    return str(text), latency, source


async def _drive(path: Path, model: str | None) -> list[Step]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    editor = ScriptedEditor("codegen-lsp-demo")
    await editor.start(model, {"completion": {"debounceMs": 0}}, root=path.parent)
    steps: list[Step] = []
    try:
        for n, line_no in enumerate(holes(text)):
            # The file up to the start of this line's code, as if the user were about to write it.
            indent = len(lines[line_no]) - len(lines[line_no].lstrip())
            uri = f"file:///demo/{n}/{path.name}"
            opened = "\n".join(lines[:line_no] + [lines[line_no][:indent]] + lines[line_no + 1:])
            editor.open(uri, opened)
            suggestion, ms, source = await _ask(editor, uri, line_no, indent)
            steps.append(Step(line_no + 1, source, ms, suggestion))
            # Type the suggestion's first two characters (after any indentation it adds): the rest
            # then needs no model call.
            typed = len(suggestion) - len(suggestion.lstrip(" \t")) + 2
            if len(suggestion) > typed:
                editor.insert(uri, types.Position(line=line_no, character=indent), suggestion[:typed])
                rest, ms, source = await _ask(editor, uri, line_no, indent + typed)
                steps.append(Step(line_no + 1, source, ms, suggestion[:typed] + "|" + rest))
            # Closed and opened again at the same place: the persistent cache answers. (Left open,
            # the first copy would be a similar snippet in the second one's prompt.)
            editor.close(uri)
            editor.open(uri, opened)
            again, ms, source = await _ask(editor, uri, line_no, indent)
            steps.append(Step(line_no + 1, source, ms, again))
    finally:
        await editor.stop()
    return steps


def run_demo(file: Path | None, model: str | None) -> int:
    try:
        resolve_model_path(None, model)
    except BackendError as exc:
        print(f"codegen-lsp demo: {exc}", file=sys.stderr)
        return 2
    path = file or SAMPLE
    print(f"codegen-lsp demo: typing into {path} through the real server\n")
    steps = asyncio.run(_drive(path, model))
    print(f"{'line':>5}  {'source':<13} {'latency':>9}  suggestion   (the first request waits for the model to load)")
    for step in steps:
        shown = step.text.replace("\n", "\\n")
        shown = shown if len(shown) <= 70 else shown[:67] + "..."
        print(f"{step.line:>5}  {step.source:<13} {step.latency_ms:>7.1f}ms  {shown or '(nothing)'}")
    return 0
