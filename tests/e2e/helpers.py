"""Helpers for end-to-end tests: the real server over stdio, driven as an editor would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

SHUTDOWN_SECONDS = 60


@contextlib.asynccontextmanager
async def lsp_server(editor: str, model: Path | None, options: dict | None = None, env: dict | None = None,
                     root: Path | None = None, launcher: tuple[str, ...] = (), folders: list[Path] | None = None):
    """A running server and an initialized client, in workspace `root` (none by default); shut down after.
    `folders`: the workspace folders, when there are several (default: `root` alone; `root` defaults to
    the first). `launcher`: a command the server runs under (e.g. `unshare -rn` for a namespace without
    network)."""
    folders = folders or ([root] if root else [])
    root = root or (folders[0] if folders else None)
    client: LanguageClient = make_test_lsp_client()
    server_env = {**os.environ, **(env or {})}
    args = ["-m", "codegen_lsp", "serve"] + (["--model", str(model)] if model else [])
    await client.start_io(*launcher, sys.executable, *args, env=server_env)
    try:
        result = await client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities(editor), root_uri=root.as_uri() if root else None,
            workspace_folders=[types.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in folders] or None,
            initialization_options={"codegen": options or {}}))
        client.initialize_result = result
        yield client
        await asyncio.wait_for(client.shutdown_session(), SHUTDOWN_SECONDS)
    except BaseException:
        # A failed test must not wait for a server that was never asked to exit.
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        raise
    finally:
        await client.stop()


class Editor:
    """What a user does in a document: open, type, ask; positions in the negotiated encoding."""

    def __init__(self, client: LanguageClient, uri: str, text: str, language: str = "python"):
        self.client, self.uri, self.text, self.version = client, uri, text, 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))

    def edit(self, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(*start), end=types.Position(*end)), text=text)]))

    async def inline(self, line: int, character: int, invoked: bool = False) -> types.InlineCompletionList:
        kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
        return await self.client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=kind)))

    async def complete(self, line: int, character: int) -> types.CompletionList:
        return await self.client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=types.Position(line=line, character=character),
            context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked)))


async def command(client: LanguageClient, name: str, *arguments):
    """workspace/executeCommand `name` with `arguments`; its result."""
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command=name,
                                                                                   arguments=list(arguments)))


async def last_requests(client: LanguageClient, n: int | None = None) -> dict:
    return await command(client, "codegen.debug.lastRequests", *([n] if n is not None else []))


def wait_healthy(process: subprocess.Popen, url: str, seconds: float, what: str, output: Callable[[], str]) -> None:
    """Return once `url`/health answers 200; AssertionError with the tail of `output()` if the
    process exits first, or after `seconds` (its output is then not read: it is still running)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited ({process.returncode}): {output()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not answer /health within {seconds}s")


def free_port() -> int:
    """A local TCP port nothing listens on (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def file_uri(name: str) -> str:
    return f"file:///workspace/{name}"


async def wait_until(condition, timeout: float = 60.0, what=""):
    """What `condition()` returns once it is truthy, asked every 0.1 s for up to `timeout` seconds.
    `what` (text, or a function giving it when the time is up) says what was awaited."""
    for _ in range(int(timeout * 10)):
        found = condition()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {(what() if callable(what) else what) or condition}")


async def wait_for_log(client: LanguageClient, start: str, timeout: float = 120.0) -> str:
    """The first window/logMessage starting with `start`, waiting for it up to `timeout` seconds."""
    def found() -> str | None:
        return next((m.message for m in client.log_messages if m.message.startswith(start)), None)

    return await wait_until(found, timeout,
                            lambda: f"a {start!r} log line; got {[m.message for m in client.log_messages]}")


async def wait_for_message(client: LanguageClient, *texts: str, timeout: float = 60.0) -> str:
    """The first window/showMessage holding every one of `texts`."""
    def found() -> str | None:
        return next((m.message for m in client.messages if all(text in m.message for text in texts)), None)

    return await wait_until(found, timeout,
                            lambda: f"a message with {texts!r}; got {[m.message for m in client.messages]}")


async def wait_for_index(client: LanguageClient, timeout: float = 60.0) -> str:
    return await wait_for_log(client, "indexed ", timeout)


def accept_edits(client: LanguageClient) -> list[types.ApplyWorkspaceEditParams]:
    """Make the client apply every workspace/applyEdit it is sent; the list fills with them."""
    applied: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    return applied

