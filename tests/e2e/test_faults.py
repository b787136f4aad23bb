"""Faults against the real server: each gives one clear message (window/showMessage, repeats only
logged), the request it hits is answered (empty where it had to fail) and the server goes on, and
the next request once the fault is gone gets a real completion.

Real faults where this machine allows them (a corrupt or locked cache database, a full tmpfs,
a malformed model folder, missing and misfitting adapters, a closed port, unreadable files);
injected at the boundary by tests/e2e/fault_server.py where not (decode errors, CUDA OOM).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from codegen_lsp.backends.local import folder_fingerprint
from tests.conftest import FIT_TEXT
from tests.e2e.fault_server import FaultPlan
from tests.e2e.helpers import Editor, last_requests, lsp_server, wait_for_index, wait_for_log, wait_until
from tests.e2e.test_completion import with_line_emptied
from tests.e2e.helpers import free_port
from tests.e2e.test_openai_backend import start_serve, stop_serve

EDITOR = "visual_studio_code"
EXPECTED = "    return a + b"
TEXT, LINE = with_line_emptied(FIT_TEXT.read_text(), EXPECTED)
FAST = {"completion": {"debounceMs": 0, "typingAhead": False}}
REPEATS = 3  # requests while a fault lasts: one message, not three
ANSWER_SECONDS = 120  # a fault that hangs a request fails the test instead of stalling it


def options(**sections) -> dict:
    merged = json.loads(json.dumps(FAST))
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    return merged


def shown(client) -> list[str]:
    return [m.message for m in client.messages]


async def ask(doc: Editor, line: int = LINE) -> tuple[types.InlineCompletionList, dict]:
    """An invoked inline completion and its record: the answer must be valid whatever happened."""
    result = await asyncio.wait_for(doc.inline(line, 0, invoked=True), ANSWER_SECONDS)
    assert isinstance(result, types.InlineCompletionList)
    record = (await last_requests(doc.client, 1))["requests"][-1]
    return result, record


async def assert_recovered(doc: Editor, line: int = LINE, text: str | None = EXPECTED) -> dict:
    result, record = await ask(doc, line)
    assert record["outcome"] in ("model", "cache"), record
    if text is not None:
        assert [item.insert_text for item in result.items] == [text]
    return record


async def assert_alive(client) -> None:
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="codegen.status"))
    assert status["state"] == "ready"


# -- the backend ----------------------------------------------------------------------------

@pytest.mark.parametrize("fault, words", [("runtime", ("a completion failed", "RuntimeError", "decode step failed")),
                                          ("oom", ("out of GPU memory", "Tried to allocate", "smaller model",
                                                   "maxConcurrent", "were released"))])
async def test_a_failing_decode_step(fault, words, fitted_model, tmp_path):
    plan = FaultPlan(tmp_path / "plan.json")
    # No cache: the answers after the fault must come from the model, with or without KV reuse; no
    # repository context: the other open document would change the prompt.
    settings = options(cache={"enabled": False}, completion={"repoContext": False})
    async with lsp_server(EDITOR, fitted_model, settings, launcher=plan.launcher()) as client:
        warm = Editor(client, "file:///workspace/warm.py", TEXT)
        await assert_recovered(warm)  # leaves a KV session behind for warm.py
        doc = Editor(client, "file:///workspace/shapes.py", TEXT)
        calls = (await last_requests(client))["backendCalls"]
        plan.set(decode=fault)
        for _ in range(REPEATS):
            result, record = await ask(doc)
            assert list(result.items) == [] and record["outcome"] == "error"
        assert plan.stats()["injected"] == {fault: REPEATS}  # one decode step each: never retried
        assert (await last_requests(client))["backendCalls"] == calls + REPEATS
        (message,) = shown(client)
        assert all(word in message for word in words), message
        plan.set()
        await assert_alive(client)
        await assert_recovered(doc)
        record = await assert_recovered(warm)
        # Out of memory, every document's KV cache was released, not only the failed one's.
        assert record["outcome"] == "model" and (record["reused_tokens"] == 0) == (fault == "oom")
        await wait_for_log(client, "codegen-lsp: recovered from completion/", 10)
        assert len(shown(client)) == 1


async def test_a_completion_server_that_is_down(fitted_model):
    port = free_port()  # nothing listens there yet
    settings = options(model={"backend": "openai", "url": f"http://127.0.0.1:{port}/v1", "name": str(fitted_model),
                              "tokenizer": str(fitted_model)}, cache={"enabled": False})
    process = None
    try:
        async with lsp_server(EDITOR, None, settings) as client:
            doc = Editor(client, "file:///workspace/shapes.py", TEXT)
            for _ in range(REPEATS):
                result, record = await ask(doc)
                assert list(result.items) == [] and record["outcome"] == "error"
            (message,) = shown(client)
            assert "is not reachable" in message and str(port) in message
            process = start_serve(fitted_model, port)
            await assert_recovered(doc)
            assert len(shown(client)) == 1
    finally:
        if process is not None:
            stop_serve(process)


# -- the completion cache --------------------------------------------------------------------

def _cache_settings(folder: Path) -> dict:
    return options(cache={"path": str(folder)})


async def test_a_corrupt_cache_database_is_set_aside(fitted_model, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "cache.db").write_bytes(b"this is not an SQLite database\n" * 300)
    async with lsp_server(EDITOR, fitted_model, _cache_settings(folder)) as client:
        doc = Editor(client, "file:///workspace/shapes.py", TEXT)
        assert (await assert_recovered(doc))["outcome"] == "model"  # the request did not even fail
        (message,) = shown(client)
        assert str(folder) in message and "not a database" in message and "set aside" in message
        assert (await assert_recovered(doc))["outcome"] == "cache"  # the new database works
    assert (folder / "cache.db.corrupt").read_bytes().startswith(b"this is not")


LOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # held until the test closes our stdin
"""


async def test_a_cache_database_locked_by_another_process(fitted_model, tmp_path):
    import diskcache

    folder = tmp_path / "cache"
    diskcache.Cache(str(folder)).close()
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(folder / "cache.db")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        async with lsp_server(EDITOR, fitted_model, _cache_settings(folder)) as client:
            doc = Editor(client, "file:///workspace/shapes.py", TEXT)
            for _ in range(REPEATS):  # before: opening the cache waited for the lock for ever
                assert (await assert_recovered(doc))["outcome"] == "model"
            (message,) = shown(client)
            assert str(folder) in message and "locked by another process" in message
            locker.stdin.close()
            locker.wait(timeout=30)
            # Reopened at a later request (at most every 2 s): then written, then read back.
            for _ in range(100):
                if (await assert_recovered(doc))["outcome"] == "cache":
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the cache never came back after the lock was released")
            await wait_for_log(client, "codegen-lsp: recovered from cache/locked", 10)
            assert len(shown(client)) == 1
    finally:
        locker.kill()
        locker.wait()


def small_filesystem() -> tuple[str, ...] | None:
    """A command prefix that mounts a 2 MiB tmpfs on $CACHE_FS in a user and mount namespace of
    its own (no privilege needed where user namespaces are allowed); None where it fails."""
    if not shutil.which("unshare"):
        return None
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && touch $d/x"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        return None
    return ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            'mount -t tmpfs -o size=2m tmpfs "$CACHE_FS" && exec "$@"', "sh")


@pytest.mark.parametrize("how", ["tmpfs", "injected"])
async def test_a_full_disk_under_the_cache(how, fitted_model, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    plan = FaultPlan(tmp_path / "plan.json")
    before = small_filesystem() if how == "tmpfs" else ()
    if before is None:
        pytest.skip("no user and mount namespaces here for a real small filesystem; the injected case runs")
    fault = {"ballast": str(folder / "ballast")} if how == "tmpfs" else {"cache_set": "disk-full"}
    lines = [i for i, text in enumerate(TEXT.split("\n")) if not text.strip() and i != LINE][:REPEATS + 1]
    async with lsp_server(EDITOR, fitted_model, _cache_settings(folder), env={"CACHE_FS": str(folder)},
                          launcher=plan.launcher(*before)) as client:
        doc = Editor(client, "file:///workspace/shapes.py", TEXT)
        await assert_recovered(doc)
        plan.set(**fault)
        for line in lines:  # new prompts each time: each one is written (or not)
            result, record = await ask(doc, line)
            assert record["outcome"] == "model"  # the completion itself does not fail
        (message,) = shown(client)
        assert str(folder) in message and "disk is full" in message
        assert sum(plan.stats()["injected"].values()) >= 1
        plan.set()
        await assert_recovered(doc, lines[0], None)  # written now
        assert (await assert_recovered(doc, lines[0], None))["outcome"] == "cache"
        await wait_for_log(client, "codegen-lsp: recovered from cache/full", 10)
        assert len(shown(client)) == 1


# -- model and adapters -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def adapters(fitted_model, random_model, tmp_path_factory) -> dict[str, Path]:
    """A LoRA adapter that fits the fitted model, and one made for the random model's shapes."""
    from tests.unit.test_adapter import save_adapter

    folder = tmp_path_factory.mktemp("adapters")
    save_adapter(fitted_model, folder / "good", scale=0.0)
    save_adapter(random_model, folder / "misfit", scale=0.5)  # hidden size 64, not 128
    return {"good": folder / "good", "misfit": folder / "misfit"}


def register(root: Path, adapter: Path) -> None:
    (root / ".codegen").mkdir(parents=True, exist_ok=True)
    (root / ".codegen" / "adapter.json").write_text(json.dumps({"adapter": str(adapter)}))


@pytest.mark.parametrize("fault, words", [("missing", ("no peft adapter",)),
                                          ("misfit", ("does not fit this model", "in_features=128 here, 64"))])
async def test_a_workspace_adapter_that_cannot_serve(fault, words, adapters, fitted_model, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    register(root, adapters.get(fault, tmp_path / "nowhere"))
    async with lsp_server(EDITOR, fitted_model, FAST, root=root) as client:
        doc = Editor(client, (root / "shapes.py").as_uri(), TEXT)
        for _ in range(REPEATS):  # the base model answers meanwhile
            assert (await assert_recovered(doc))["adapter"] == ""
        await wait_until(lambda: shown(client), 30, "the adapter warning")
        (message,) = shown(client)
        assert "adapter for ws is not used" in message and all(word in message for word in words), message
        register(root, adapters["good"])
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
            uri=(root / ".codegen" / "adapter.json").as_uri(), type=types.FileChangeType.Changed)]))
        await wait_for_log(client, f"adapter {adapters['good']}", 30)
        doc.edit((LINE, 0), (LINE, 0), "")  # a new version: not the base model's typing-ahead or cache
        record = await assert_recovered(doc, text=None)
        assert record["adapter"] == folder_fingerprint(adapters["good"], "*.safetensors", content=True)
        assert len(shown(client)) == 1


def malformed_model(fitted_model: Path, folder: Path) -> Path:
    shutil.copytree(fitted_model, folder)
    (folder / "config.json").write_text('{"model_type": "llama", "hidden_size": ')
    return folder


@pytest.mark.parametrize("fault", ["malformed-config", "adapter-setting"])
async def test_a_model_that_cannot_load_until_the_settings_change(fault, fitted_model, tmp_path):
    if fault == "malformed-config":
        bad, good, words = {"path": str(malformed_model(fitted_model, tmp_path / "bad-model"))}, \
            {"path": str(fitted_model)}, ("cannot load the model", "bad-model", "config.json")
    else:
        bad, good, words = {"path": str(fitted_model), "adapter": str(tmp_path / "nowhere")}, \
            {"path": str(fitted_model)}, ("no peft adapter", "nowhere")
    async with lsp_server(EDITOR, None, options(model=bad)) as client:
        doc = Editor(client, "file:///workspace/shapes.py", TEXT)
        for _ in range(REPEATS):
            result = await asyncio.wait_for(doc.inline(LINE, 0, invoked=True), ANSWER_SECONDS)
            assert isinstance(result, types.InlineCompletionList) and list(result.items) == []
        (message,) = shown(client)
        assert all(word in message for word in words), message
        status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="codegen.status"))
        assert status["state"] == "error" and status["loadError"]
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"codegen": options(model=good)}))
        assert (await assert_recovered(doc))["outcome"] == "model"
        await assert_alive(client)
        assert len(shown(client)) == 1


# -- the workspace ----------------------------------------------------------------------------

def unreadable_launcher() -> tuple[str, ...] | None:
    """What makes a chmod 000 file unreadable to the server: nothing for an ordinary user; for root,
    the capabilities that bypass file permissions dropped from its bounding set. None: no way here."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        return None
    drop = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
    probe = subprocess.run([*drop, "true"], capture_output=True, timeout=30)
    return drop if probe.returncode == 0 else None


async def test_unreadable_and_odd_workspace_files(fitted_model, tmp_path):
    drop = unreadable_launcher()  # where there is none, the other odd files are still tried
    root = tmp_path / "ws"
    root.mkdir()
    (root / "helpers.py").write_text("def area_of(shape):\n    return shape.area()\n")
    if drop is not None:
        (root / "locked.py").write_text("def hidden():\n    pass\n")
        (root / "locked.py").chmod(0)
    os.mkfifo(root / "pipe.py")  # reading it would block for ever
    (root / "dangling.py").symlink_to(root / "missing-target.py")
    (root / "folder.py").mkdir()
    (root / "folder.py" / "inner.py").write_text("def inner():\n    pass\n")
    (root / "latin1.py").write_bytes("def caf\xe9():\n    return '\xe9t\xe9'\n".encode("latin-1"))
    (root / "vanishing.py").write_text("def gone():\n    pass\n")
    plan = FaultPlan(tmp_path / "plan.json")
    plan.set(vanish=["vanishing.py"])
    async with lsp_server(EDITOR, fitted_model, FAST, root=root, launcher=plan.launcher(*(drop or ()))) as client:
        indexed = await wait_for_index(client)
        assert "indexed 3 files" in indexed, indexed  # helpers.py, folder.py/inner.py and latin1.py
        if drop is not None:
            await wait_until(lambda: shown(client), 10, "the unreadable-file warning")
        doc = Editor(client, (root / "shapes.py").as_uri(), TEXT)
        await assert_recovered(doc)
        if drop is not None:
            (message,) = shown(client)
            assert "1 workspace file(s) could not be read" in message and "locked.py: Permission denied" in message
        else:
            assert shown(client) == []  # a FIFO, a dangling link, a folder or a vanished file is no fault
        assert plan.stats()["injected"] == {"vanish": 1}
