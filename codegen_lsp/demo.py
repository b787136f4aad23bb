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
from pygls.lsp.client import LanguageClient

from .backends.base import BackendError
from .engine import resolve_model_path

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


class DemoClient:
    def __init__(self, model: str | None):
        self.client = LanguageClient("codegen-lsp-demo", "0")
        self.model = model
        self.version = 0
        self.messages: list[str] = []
        # The server reports each request; the demo prints its own table instead.
        self.client.feature(types.WINDOW_LOG_MESSAGE)(lambda params: None)
        self.client.feature(types.WINDOW_SHOW_MESSAGE)(lambda params: self.messages.append(params.message))

    async def start(self, root: Path) -> None:
        args = ["-m", "codegen_lsp", "serve"] + (["--model", self.model] if self.model else [])
        await self.client.start_io(sys.executable, *args)
        await self.client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=root.as_uri(),
            initialization_options={"codegen": {"completion": {"debounceMs": 0}}}))
        self.client.initialized(types.InitializedParams())

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    def open(self, uri: str, text: str) -> None:
        self.version += 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=self.version, text=text)))

    def type_text(self, uri: str, line: int, character: int, text: str) -> None:
        self.version += 1
        position = types.Position(line=line, character=character)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=position, end=position), text=text)]))

    async def ask(self, uri: str, line: int, character: int) -> tuple[str, float, str]:
        started = time.perf_counter()
        result = await self.client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        latency = (time.perf_counter() - started) * 1000
        text = result.items[0].insert_text if result and result.items else ""
        debug = await self.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codegen.debug.lastRequests", arguments=[1, False]))
        source = debug["requests"][-1]["outcome"] if debug and debug["requests"] else "?"
        return str(text), latency, source


async def _drive(path: Path, model: str | None) -> list[Step]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    demo = DemoClient(model)
    await demo.start(path.parent)
    steps: list[Step] = []
    try:
        for n, line_no in enumerate(holes(text)):
            # The file up to the start of this line's code, as if the user were about to write it.
            indent = len(lines[line_no]) - len(lines[line_no].lstrip())
            uri = f"file:///demo/{n}/{path.name}"
            before = "\n".join(lines[:line_no] + [lines[line_no][:indent]])
            demo.open(uri, before + "\n" + "\n".join(lines[line_no + 1:]))
            suggestion, ms, source = await demo.ask(uri, line_no, indent)
            steps.append(Step(line_no + 1, source, ms, suggestion))
            if len(suggestion) > 2:
                # Type the first two characters of the suggestion: the rest needs no model call.
                demo.type_text(uri, line_no, indent, suggestion[:2])
                rest, ms, source = await demo.ask(uri, line_no, indent + 2)
                steps.append(Step(line_no + 1, source, ms, suggestion[:2] + "|" + rest))
            # The same place again in a fresh document: the persistent cache answers.
            demo.open(uri + ".again", before + "\n" + "\n".join(lines[line_no + 1:]))
            again, ms, source = await demo.ask(uri + ".again", line_no, indent)
            steps.append(Step(line_no + 1, source, ms, again))
    finally:
        await demo.stop()
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
