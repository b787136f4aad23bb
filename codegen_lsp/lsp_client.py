"""A scripted editor: an LSP client that starts `codegen-lsp serve` as a subprocess and
types into documents over stdio. The demo and the benchmarks drive the real server with it.
"""

from __future__ import annotations

import sys
from concurrent.futures import Future
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient


class ScriptedEditor:
    def __init__(self, name: str) -> None:
        self.client = LanguageClient(name, "0")
        self.messages: list[str] = []
        self.version = 0
        # The server logs every request; the caller prints its own summary instead.
        self.client.feature(types.WINDOW_LOG_MESSAGE)(lambda params: None)
        self.client.feature(types.WINDOW_SHOW_MESSAGE)(lambda params: self.messages.append(params.message))

    async def start(self, model: str | Path | None, options: dict, env: dict | None = None,
                    root: Path | None = None) -> None:
        args = ["-m", "codegen_lsp", "serve"] + (["--model", str(model)] if model else [])
        await self.client.start_io(sys.executable, *args, env=env)
        await self.client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=(root or Path.cwd()).resolve().as_uri(),
            initialization_options={"codegen": options}))
        self.client.initialized(types.InitializedParams())

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.version += 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=self.version, text=text)))

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    def insert(self, uri: str, position: types.Position, text: str) -> None:
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=position, end=position), text=text)]))

    def ask(self, uri: str, position: types.Position, invoked: bool = False) -> Future:
        """Send an inline completion request without waiting; the future resolves with its response."""
        kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
        return self.client.text_document_inline_completion(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=position,
            context=types.InlineCompletionContext(trigger_kind=kind)))

    async def debug(self, count: int, with_prompt: bool) -> dict:
        """codegen.debug.lastRequests: the last `count` request records."""
        return await self.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codegen.debug.lastRequests", arguments=[count, with_prompt]))
