"""A seeded protocol fuzzer: random sequences of LSP operations against the real server over
stdio, checked against a reference model of every document (tests/lsp_fuzz_model.py).

Operations, across documents in Python, JavaScript, Go, Rust and an unknown language (cobol):
open and re-open after close; incremental changes, several in one didChange (random ranges, also
past a line's end or the last line, inside a code point, reversed; emoji, CJK, accents, CRLF,
lone CR, tabs); full replacement; completion; inline completion (automatic and invoked); code
actions on random ranges and, now and then, their resolve; a request cancelled in flight (pygls'
client sends no $/cancelRequest when its future is cancelled, so the fuzzer sends one itself with
the request's id); an edit while a completion request runs ("typing"); close; requests and
changes for closed and never-opened documents. Positions follow tests/lsp_fuzz_model.py's rules
(past the end: clamped; inside a code point: rounded down to its start).

After every operation: the server process is alive; every request is answered within
HANG_SECONDS, by a response lsprotocol structures and the semantic checks accept, never by a
JSON-RPC error (a cancelled request may get RequestCancelled or ContentModified), its positions
taken on the text the request was sent for; no Error
showMessage or logMessage; pytest-lsp's specification checks warn of nothing; and the server's
copy of the document (codegen.debug.document) has the model's version and text. At the end the
server shuts down and exits with 0. One seed gives the same operations whatever the server answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException, JsonRpcRequestCancelled
from pytest_lsp import client_capabilities
from pytest_lsp.checks import check_params_against_client_capabilities, check_result_against_client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests import lsp_fuzz_model as model
from tests.lsp_fuzz_inputs import (DOCUMENTS, FuzzDocument, Inputs, code_action_params, completion_params,
                                   content_change, lsp_range, make_workspace, negotiated_encoding)

HANG_SECONDS = 60.0  # a request unanswered this long counts as a hang
FULL_CHECK_EVERY = 50  # every this many operations, every document is compared (always the one touched)
DOCUMENT_COMMAND = "codegen.debug.document"
SHORT = {"completion": {"debounceMs": 0, "maxNewTokens": 4, "singleLineMaxTokens": 4}}
# Short prompts too: the model's time is not what is tested, and a run then does more operations.
FUZZ_SETTINGS = {"completion": {**SHORT["completion"], "promptTokens": 256}}
# Operations on an open document and their weights (a closed one is mostly re-opened).
OPEN_OPS = {"change": 30, "multi-change": 8, "full": 3, "close": 3, "completion": 12, "inline automatic": 10,
            "inline invoked": 8, "code action": 10, "resolve": 5, "cancel": 6, "typing": 6}
# The other operations: on a closed document, or on one never opened.
OTHER_OPS = ("open", "reopen", "change closed", "closed request", "never-opened request")
CANCEL_DELAYS = (0.0, 0.0, 0.002, 0.01, 0.03, 0.1)  # seconds between a request and its $/cancelRequest


class Stop(Exception):
    """The server hung or died: the run ends here."""


@dataclass
class Stats:
    editor: str
    seed: int
    encoding: str = ""
    ops: Counter = field(default_factory=Counter)
    features: Counter = field(default_factory=Counter)  # edge cases the inputs hit
    requests: int = 0
    validated: int = 0  # responses that passed the checks
    nonempty: int = 0  # of which with at least one item or action
    cancels: int = 0
    cancelled: int = 0  # of which answered RequestCancelled / ContentModified
    crashes: int = 0
    hangs: int = 0
    invalid: list[str] = field(default_factory=list)  # responses the checks refused, error responses
    messages: list[str] = field(default_factory=list)  # Error showMessage / logMessage, spec warnings
    mismatches: list[str] = field(default_factory=list)
    indexed: bool = False  # the server said it indexed the workspace
    exit_code: int | None = None
    seconds: float = 0.0

    def problems(self) -> list[str]:
        found = [f"{self.crashes} crash(es), exit code {self.exit_code}"] if self.crashes else []
        found += [f"{self.hangs} hang(s)"] if self.hangs else []
        return found + self.invalid + self.messages + self.mismatches


class Fuzzer:
    """One client's session: the documents as the editor has them (the model) and the operations."""

    def __init__(self, client, encoding: str, seed: int, root: Path, stats: Stats, kinds: set[str]) -> None:
        self.client, self.encoding, self.stats, self.kinds = client, encoding, stats, kinds
        self.rng = random.Random(seed)
        self.inputs = Inputs(self.rng, encoding)
        self.docs = [FuzzDocument((root / name).as_uri(), language, first_text=text)
                     for language, name, text in DOCUMENTS]
        self.never_opened = FuzzDocument((root / "src" / "never_opened.py").as_uri(), "python")
        self._ids = 0
        self._where = ""  # the operation under way, for the problems it finds
        self._operations = {
            "open": self._open, "reopen": self._open, "close": self._close, "full": self._full,
            **dict.fromkeys(("change", "multi-change", "change closed"), self._change),
            **dict.fromkeys(("completion", "inline automatic", "inline invoked", "code action"), self._request),
            **dict.fromkeys(("closed request", "never-opened request"), self._unopened),
            "cancel": self._cancel, "resolve": self._resolve, "typing": self._typing}
        self._seen = [0, 0]  # messages and log messages already looked at

    # -- one operation ------------------------------------------------------------------

    async def step(self, number: int) -> None:
        doc = self.rng.choice(self.docs)
        if doc.text is None:
            pick = self.rng.random()
            kind = ("reopen" if doc.version else "open") if pick < 0.6 else \
                "change closed" if pick < 0.7 else "closed request"
        else:
            kind = self.rng.choices(list(OPEN_OPS), list(OPEN_OPS.values()))[0]
        if self.rng.random() < 0.02:
            doc, kind = self.never_opened, "never-opened request"
        self.stats.ops[kind] += 1
        self._where = f"op {number} ({kind})"
        await self._operations[kind](doc, kind)
        self._check_alive_and_messages(f"op {number} ({kind} {doc.uri.rsplit('/', 1)[1]})")
        if kind in ("open", "reopen", "change", "multi-change", "full", "close", "change closed", "typing"):
            await self.compare(doc)
        if number % FULL_CHECK_EVERY == 0:
            await self.compare_all()

    async def _open(self, doc: FuzzDocument, kind: str) -> None:
        doc.text = doc.first_text if kind == "open" or self.rng.random() < 0.5 else self.inputs.full_text(doc)
        doc.version = 1 if self.rng.random() < 0.5 else doc.version + 1  # editors may restart versions
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=doc.uri, language_id=doc.language, version=doc.version, text=doc.text)))

    async def _close(self, doc: FuzzDocument, kind: str) -> None:
        doc.text = None
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=doc.uri)))

    async def _change(self, doc: FuzzDocument, kind: str) -> None:
        """One range change, several (each on the text the previous left), or for a closed document
        one the server must ignore."""
        count = self.rng.randint(2, 4) if kind == "multi-change" else 1
        text, changes, features = doc.text or "", [], set()
        for _ in range(count):
            new_text, where = self.inputs.change(text, features)
            text = model.apply(text, new_text, where, self.encoding)
            changes.append(content_change(new_text, where))
        self.stats.features.update(features)
        version = doc.version + 1
        if doc.text is not None:
            doc.last_change = f"{doc.text!a} changed by {[(c.text, getattr(c, 'range', None)) for c in changes]!a}"
            doc.text, doc.version = text, version
        self._did_change(doc.uri, version, changes)

    async def _full(self, doc: FuzzDocument, kind: str) -> None:
        doc.text, doc.version, doc.last_change = self.inputs.full_text(doc), doc.version + 1, "replaced whole"
        self.stats.features["empty full text"] += not doc.text
        self._did_change(doc.uri, doc.version, [content_change(doc.text, None)])

    def _did_change(self, uri: str, version: int, changes: list) -> None:
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=changes))

    # -- requests -------------------------------------------------------------------------

    async def _unopened(self, doc: FuzzDocument, kind: str) -> None:
        await self._request(doc, self.rng.choice(["completion", "inline invoked", "code action"]))

    async def _cancel(self, doc: FuzzDocument, kind: str) -> None:
        await self._request(doc, self.rng.choice(["completion", "inline invoked", "code action"]),
                            cancel_after=self.rng.choice(CANCEL_DELAYS))

    async def _request(self, doc: FuzzDocument, kind: str, cancel_after: float | None = None) -> None:
        text, version = doc.text, doc.version
        method, params = self._params(doc, kind)
        result = await self.ask(method, params, cancel_after)
        self._check(doc.uri, text, version, kind, params, result)

    async def _typing(self, doc: FuzzDocument, kind: str) -> None:
        """An edit while a completion request runs, and half the time a newer request after it (as
        editors send them): each answer must fit the text its request was sent for."""
        first_kind = self.rng.choice(["completion", "inline automatic"])
        text, version = doc.text, doc.version
        method, params = self._params(doc, first_kind)
        first = self.send(method, params)
        await asyncio.sleep(self.rng.choice(CANCEL_DELAYS))
        await self._change(doc, "change")
        if self.rng.random() < 0.5:
            second_kind = self.rng.choice(["completion", "inline automatic"])
            second_method, second_params = self._params(doc, second_kind)
            answer = await self.ask(second_method, second_params)
            self._check(doc.uri, doc.text, doc.version, second_kind, second_params, answer)
        self._check(doc.uri, text, version, first_kind, params, await self.answer(first))

    def _params(self, doc: FuzzDocument, kind: str):
        """A request of `kind` at a random position or range of `doc` (of "" when it is closed)."""
        features: set[str] = set()
        text = doc.text or ""
        if kind == "code action":
            start_line, start_char, end_line, end_char = self.inputs.range(text, features)
            method, params = types.TEXT_DOCUMENT_CODE_ACTION, code_action_params(
                doc.uri, start_line, start_char, end_line, end_char, self._diagnostics(text, features))
        else:
            line, character = self.inputs.position(text, features)
            method, params = completion_params(doc.uri, kind, line, character)
        self.stats.features.update(features)
        return method, params

    def _check(self, uri: str, text: str | None, version: int, kind: str, params, result) -> None:
        """Judge the answer to a request sent when the document had `text` (None: not open)."""
        if result is _NO_ANSWER:
            return
        problems = self._problems(uri, text, kind, params, result)
        excerpt = "" if text is None else f" text {text[:300]!a}{'...' if len(text) > 300 else ''}"
        self._judge(f"{kind} on {uri.rsplit('/', 1)[1]} v{version}{excerpt} {params}", result, problems)

    async def _resolve(self, doc: FuzzDocument, kind: str) -> None:
        """List the actions at a cursor on a definition's line, then resolve one: the model runs,
        and the edit it returns must apply to the model's text of the same version."""
        features: set[str] = set()
        line, character = self.inputs.in_definition(doc.text, features)
        self.stats.features.update(features)
        params = code_action_params(doc.uri, line, character, line, character, [])
        which = self.rng.random()  # drawn whatever comes back: the operations stay the same
        actions = await self.ask(types.TEXT_DOCUMENT_CODE_ACTION, params)
        if actions is _NO_ANSWER:
            return
        problems = model.code_action_problems(doc.text, actions, self.kinds, doc.uri)
        self._judge("code action (for resolve)", actions, problems)
        if problems or not actions:
            return
        action = actions[int(which * len(actions))]
        self.stats.ops[f"resolve {action.data['action']}"] += 1
        resolved = await self.ask(types.CODE_ACTION_RESOLVE, action)
        if resolved is _NO_ANSWER:
            return
        problems = [] if isinstance(resolved, types.CodeAction) else [f"resolve: {resolved!r} is no CodeAction"]
        if not problems:
            self.stats.features["resolved to an edit"] += resolved.edit is not None
            problems = model.edit_problems(doc.text, doc.version, doc.uri, resolved.edit, self.encoding)
        self._judge(f"resolve {action.data} on v{doc.version}", resolved, problems)

    def _diagnostics(self, text: str, features: set[str]) -> list[types.Diagnostic]:
        """Now and then a diagnostic under the cursor, so that "Fix with AI" is listed too."""
        if self.rng.random() > 0.2:
            return []
        line, char, end_line, end_char = self.inputs.range(text, features)
        return [types.Diagnostic(range=lsp_range(line, char, end_line, end_char), message="fuzz: something is wrong")]

    def _problems(self, uri: str, text: str | None, kind: str, params, result) -> list[str]:
        if text is None:  # closed or never opened: an empty answer
            items = result if isinstance(result, (list, tuple)) else getattr(result, "items", None)
            return [] if items is not None and len(items) == 0 else [f"{kind} on a closed document: {result!r}"]
        if kind == "code action":
            return model.code_action_problems(text, result, self.kinds, uri)
        p = params.position
        cursor = model.clamp(text, p.line, p.character, self.encoding)
        if kind == "completion":
            return model.completion_problems(text, result, cursor, self.encoding)
        return model.inline_problems(text, result, cursor, self.encoding)

    def _judge(self, what: str, result, problems: list[str]) -> None:
        if problems:
            self.stats.invalid += [f"{self._where}: {what}: {p}" for p in problems]
        else:
            self.stats.validated += 1
            self.stats.nonempty += bool(result if isinstance(result, (list, tuple)) else getattr(result, "items", None))

    # -- the wire -------------------------------------------------------------------------

    def send(self, method: str, params) -> tuple[str, str, asyncio.Future]:
        """Write a request now (pytest-lsp's own send would write it at the task's first step,
        after whatever this coroutine sends next); (method, id, future of the answer)."""
        self._ids += 1
        msg_id = f"fuzz-{self._ids}"
        self.stats.requests += 1
        check_params_against_client_capabilities(self.client.capabilities, method, params)
        return method, msg_id, asyncio.wrap_future(self.client.protocol.send_request(method, params, msg_id=msg_id))

    async def ask(self, method: str, params, cancel_after: float | None = None):
        """Send a request and wait for its answer; with `cancel_after`, send $/cancelRequest that
        many seconds after it."""
        sent = self.send(method, params)
        if cancel_after is not None:
            self.stats.cancels += 1
            await asyncio.sleep(cancel_after)
            self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=sent[1]))
        return await self.answer(sent, cancelled=cancel_after is not None)

    async def answer(self, sent: tuple[str, str, asyncio.Future], cancelled: bool = False):
        """The answer to a request sent; _NO_ANSWER for an error response (invalid unless cancelled)."""
        method, msg_id, future = sent
        try:
            result = await asyncio.wait_for(future, HANG_SECONDS)
        except asyncio.TimeoutError:
            self.stats.hangs += 1
            raise Stop(f"no answer to {method} {msg_id} in {HANG_SECONDS} s") from None
        except (JsonRpcRequestCancelled, JsonRpcContentModified) as exc:
            if not cancelled:
                self.stats.invalid.append(f"{self._where}: {method} answered {exc!r} though not cancelled")
            self.stats.cancelled += 1
            return _NO_ANSWER
        except JsonRpcException as exc:
            self.stats.invalid.append(f"{self._where}: {method} {msg_id}: error response {exc.code} {exc}")
            return _NO_ANSWER
        except RuntimeError as exc:  # pytest-lsp fails pending requests when the server exits
            self._check_alive_and_messages(f"{method}: {exc}")
            raise
        check_result_against_client_capabilities(self.client.capabilities, method, result)
        return result

    def _check_alive_and_messages(self, where: str) -> None:
        server = self.client._server
        if server is None or server.returncode is not None:
            self.stats.crashes += 1
            raise Stop(f"the server exited ({server and server.returncode}) at {where}")
        for i, kind in enumerate(("messages", "log_messages")):
            new = getattr(self.client, kind)[self._seen[i]:]
            self._seen[i] += len(new)
            self.stats.messages += [f"{where}: Error {kind[:-1]}: {m.message}" for m in new
                                    if m.type == types.MessageType.Error]

    async def compare(self, doc: FuzzDocument) -> None:
        """The server's copy of `doc` against the model's: version and text (None while closed)."""
        state = await self.ask(types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(
            command=DOCUMENT_COMMAND, arguments=[doc.uri]))
        if state is _NO_ANSWER:  # an error response, counted already
            return
        if doc.text is None:
            if state is not None:
                self.stats.mismatches.append(f"{doc.uri}: closed, but the server has {state}")
            return
        digest = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest()
        if state is not None and state.get("sha256") == digest and state.get("version") == doc.version:
            return
        full = await self.ask(types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(
            command=DOCUMENT_COMMAND, arguments=[doc.uri, True]))
        self.stats.mismatches.append(_difference(doc, full))
        # Back in step, so that one bug is reported once and later checks still mean something.
        self._did_change(doc.uri, doc.version, [content_change(doc.text, None)])

    async def compare_all(self) -> None:
        for doc in [*self.docs, self.never_opened]:
            await self.compare(doc)


_NO_ANSWER = object()


def _difference(doc: FuzzDocument, state: dict | None) -> str:
    if state is None:
        return f"{doc.uri} v{doc.version}: open in the model, unknown to the server"
    return (f"{doc.uri}: model v{doc.version}, server v{state['version']}: "
            f"{model.difference(doc.text, state.get('text', ''))}; last edit: {doc.last_change}")


# -- a whole run ----------------------------------------------------------------------------

async def run(editor: str, model_path: Path, ops: int, seed: int, root: Path, options: dict | None = None,
              env: dict | None = None, progress: Callable[[int, Stats], None] | None = None) -> Stats:
    """Start the server as `editor`, run `ops` operations from `seed` in workspace `root`, shut
    down; `progress` is called after every operation."""
    stats, started = Stats(editor, seed), time.perf_counter()
    make_workspace(root)
    # One torch thread: on a busy machine (CI's 2 cores), intra-op threads that wait on each other
    # made each model call 15 times slower; what is tested here is the protocol, not the model's speed.
    env = {"OMP_NUM_THREADS": "1", **(env if env is not None else os.environ)}
    client = make_test_lsp_client()
    await client.start_io(sys.executable, "-m", "codegen_lsp", "serve", "--model", str(model_path), env=env)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                await _session(client, editor, ops, seed, root, options, stats, progress)
            except Stop as exc:
                stats.invalid.append(f"stopped: {exc}")
            except asyncio.TimeoutError:
                stats.hangs += 1
                stats.invalid.append("no answer to initialize or shutdown")
            except RuntimeError as exc:  # pytest-lsp gave up on the server (e.g. it sent malformed JSON)
                stats.invalid.append(f"stopped: {exc}")
        stats.messages += [f"{w.category.__name__}: {w.message}" for w in caught if "Lsp" in w.category.__name__]
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await client.stop()
    stats.seconds = time.perf_counter() - started
    return stats


async def _session(client, editor: str, ops: int, seed: int, root: Path, options: dict | None, stats: Stats,
                   progress: Callable[[int, Stats], None] | None) -> None:
    result = await asyncio.wait_for(client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(editor), root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        initialization_options={"codegen": options if options is not None else FUZZ_SETTINGS})), HANG_SECONDS)
    stats.encoding = negotiated_encoding(result.capabilities.position_encoding)
    kinds = set(result.capabilities.code_action_provider.code_action_kinds or [])
    fuzzer = Fuzzer(client, stats.encoding, seed, root, stats, kinds)
    for number in range(1, ops + 1):
        await fuzzer.step(number)
        if progress is not None:
            progress(number, stats)
    await fuzzer.compare_all()
    stats.indexed = any(m.message.startswith("indexed ") for m in client.log_messages)
    await asyncio.wait_for(client.shutdown_session(), HANG_SECONDS)
    stats.exit_code = client._server.returncode
    stats.crashes += stats.exit_code != 0
