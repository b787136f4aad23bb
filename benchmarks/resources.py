"""Memory and open file descriptors over many completion requests through the real server.

`codegen-lsp serve` runs as a subprocess behind an LSP client. A scripted editor keeps a few
documents open, closes the oldest and opens a new one now and then, edits a line of its own
(each new prompt reuses the KV cache of the document's last one up to that line) and asks for
ghost text, and every fourth time asks again where it last asked (a completion-cache hit). After
each count of requests the server's resident memory (RSS) and open descriptors are read with
psutil; the table shows them and their growth since the first count. tests/e2e/test_resources.py
runs the same workload at CI size.

    .venv/bin/python benchmarks/resources.py [--model PATH] [--counts 10 100 1000] [--warm-up 20]

Without --model: the embedded default model (codegen_lsp/models/default).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

import psutil  # noqa: E402
from lsprotocol import types  # noqa: E402

from codegen_lsp.engine import EMBEDDED_MODEL  # noqa: E402
from codegen_lsp.lsp_client import ScriptedEditor  # noqa: E402

TEXTS = (ROOT / "tests" / "data" / "shapes.py", ROOT / "codegen_lsp" / "data" / "demo_sample.py")
OPEN_DOCUMENTS = 3   # open at once
REOPEN_EVERY = 20    # requests between closing the oldest document and opening a new one
REPEAT_EVERY = 4     # every this many requests repeats the document's last one: a cache hit
# Short answers from short prompts: what is measured is what stays behind after each request.
SETTINGS = {"completion": {"debounceMs": 0, "typingAhead": False, "maxNewTokens": 8,
                           "singleLineMaxTokens": 8, "promptTokens": 384}}


@dataclass
class Usage:
    rss: int  # bytes
    fds: int

    @staticmethod
    def of(pid: int) -> "Usage":
        process = psutil.Process(pid)
        return Usage(process.memory_info().rss, process.num_fds())


@dataclass
class _Document:
    uri: str
    lines: list[str]
    version: int = 1
    scratch: int = 0          # the line this workload rewrites
    asked: int = 0            # the line it was last asked at


@dataclass
class Workload:
    """Requests that touch every path a long session does: new prompts, KV reuse, cache hits,
    documents opened and closed. `run` goes on from where the last call stopped."""

    texts: tuple[str, ...] = field(default_factory=lambda: tuple(p.read_text() for p in TEXTS))
    done: int = 0
    outcomes: Counter = field(default_factory=Counter)
    reused: int = 0           # requests whose prompt reused KV-cached tokens
    _open: list[_Document] = field(default_factory=list)
    _opened: int = 0
    _last: _Document | None = None  # the document of the last request

    async def run(self, client, count: int) -> None:
        """`count` more inline completion requests through `client` (a pygls LanguageClient)."""
        for _ in range(count):
            if not self._open or (self.done % REOPEN_EVERY == 0 and self.done):
                self._rotate(client)
            if self.done % REPEAT_EVERY == REPEAT_EVERY - 1 and self._last is not None:
                doc = self._last
                line = doc.asked  # the same prompt again, nothing edited in between
            else:
                doc = self._open[self.done % len(self._open)]
                self._edit(client, doc)
                line = self._next_line(doc)
            await client.text_document_inline_completion_async(types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=doc.uri), position=types.Position(line, 0),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
            doc.asked, self._last = line, doc
            record = (await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="codegen.debug.lastRequests", arguments=[1, False])))["requests"][-1]
            self.outcomes[record["outcome"]] += 1
            self.reused += record["reused_tokens"] > 0
            self.done += 1

    def _rotate(self, client) -> None:
        """Close the oldest document (once all are open) and open new ones up to OPEN_DOCUMENTS."""
        if len(self._open) >= OPEN_DOCUMENTS:
            closed = self._open.pop(0)
            client.text_document_did_close(types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=closed.uri)))
            self._last = None if self._last is closed else self._last
        while len(self._open) < OPEN_DOCUMENTS:
            text = self.texts[self._opened % len(self.texts)]
            doc = _Document(f"file:///workspace/doc{self._opened}.py", text.split("\n"))
            blank = [i for i, line in enumerate(doc.lines) if not line.strip()]
            doc.scratch = blank[len(blank) // 2] if blank else 0
            client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
                uri=doc.uri, language_id="python", version=1, text=text)))
            self._open.append(doc)
            self._opened += 1

    def _edit(self, client, doc: _Document) -> None:
        """Rewrite the document's scratch line: what follows it changes, what precedes it does not."""
        old = doc.lines[doc.scratch]
        doc.lines[doc.scratch] = new = f"step_{self.done} = {self.done % 7}"
        doc.version += 1
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(doc.scratch, 0), end=types.Position(doc.scratch, len(old))),
                text=new)]))

    def _next_line(self, doc: _Document) -> int:
        """A blank line after the scratch line, a different one each time (so a new prompt)."""
        after = [i for i in range(doc.scratch + 1, len(doc.lines)) if not doc.lines[i].strip()]
        return after[self.done % len(after)] if after else len(doc.lines) - 1


def growth(now: int, base: int) -> str:
    return f"{100 * (now - base) / base:+.1f}%"


async def measure(model: Path, counts: list[int], warm_up: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        editor = ScriptedEditor("resources-benchmark")
        settings = {**SETTINGS, "cache": {"path": cache}}
        await editor.start(model, settings)
        try:
            workload = Workload()
            pid = editor.client._server.pid
            await workload.run(editor.client, warm_up)
            loaded = Usage.of(pid)
            rows: list[tuple[int, Usage]] = []
            for count in counts:
                await workload.run(editor.client, count - (workload.done - warm_up))
                rows.append((count, Usage.of(pid)))
        finally:
            await editor.stop()
    base = rows[0][1]
    print(f"model: {model}\nafter the {warm_up}-request warm-up: RSS {loaded.rss / 2**20:.1f} MiB, {loaded.fds} fds")
    print(f"{'requests':>9}  {'RSS MiB':>9}  {'growth':>8}  {'fds':>5}  {'growth':>8}")
    for count, usage in rows:
        print(f"{count:>9}  {usage.rss / 2**20:>9.1f}  {growth(usage.rss, base.rss):>8}  {usage.fds:>5}  "
              f"{growth(usage.fds, base.fds):>8}")
    print(f"outcomes (warm-up included): {dict(workload.outcomes)}; requests reusing KV-cached tokens: "
          f"{workload.reused}; documents opened: {workload._opened}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=EMBEDDED_MODEL, help="model folder (default: the embedded one)")
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 100, 1000], help="requests after the warm-up")
    parser.add_argument("--warm-up", type=int, default=20, help="requests before the first count")
    args = parser.parse_args()
    asyncio.run(measure(args.model, sorted(args.counts), args.warm_up))


if __name__ == "__main__":
    main()
