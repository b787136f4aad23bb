"""Offline: with every internet connection refused and recorded (tests/e2e/offline/sitecustomize.py),
and once more inside a network namespace, the server starts, completes, explains, trains and
draws diagrams with the embedded model, and opens no connection; so does `codegen-lsp complete`.

The servers get an environment without HF_HUB_OFFLINE & co. (the test process has them, from
tests/conftest.py): the server must set them itself, and its exit line shows it did.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from codegen_lsp.cli import OFFLINE_ENV
from tests.e2e.helpers import Editor, command, lsp_server, wait_for_log
from tests.e2e.test_train import make_repository, shape_module

GUARD = Path(__file__).parent / "offline"
OPTIONS = {"completion": {"debounceMs": 0, "maxNewTokens": 8, "singleLineMaxTokens": 8}}
# The smallest run that goes through every stage: collect, samples, train, evaluate, write.
TRAIN_OPTIONS = {"steps": 2, "seqLen": 64, "batch": 2, "rank": 2, "evalTasks": 2}


def guarded(monkeypatch, log: Path) -> None:
    """This test's subprocesses run under the guard, without the offline variables."""
    for name in OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(GUARD), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("CODEGEN_NET_GUARD_LOG", str(log))


def entries(log: Path, kind: str) -> list[dict]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [entry for entry in map(json.loads, lines) if entry["kind"] == kind]


def assert_offline(log: Path, processes: int) -> list[dict]:
    """No connection was tried, and each of at least `processes` processes ran hub-offline."""
    assert entries(log, "attempt") == []
    settings = entries(log, "settings")
    assert len(settings) >= processes, settings  # every guarded process ended normally and reported
    for entry in settings:
        assert entry["env"] == dict(OFFLINE_ENV), entry
        assert entry.get("hub_offline", True) is True and entry.get("hub_telemetry_disabled", True) is True, entry
    return settings


def test_the_guard_refuses_and_records_connections(tmp_path, monkeypatch):
    """The control: the same guard in a plain interpreter blocks a local and an outside address,
    and the hub's own HTTP client, and records each; the offline variables are really unset."""
    log = tmp_path / "net.jsonl"
    guarded(monkeypatch, log)
    script = """
import socket
import huggingface_hub
for call in (lambda: socket.socket().connect(("127.0.0.1", 9)),
             lambda: socket.create_connection(("example.org", 80), timeout=1),
             lambda: huggingface_hub.HfApi().model_info("gpt2")):
    try:
        call()
        print("connected")
    except Exception as exc:
        print("refused:", exc)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("refused: offline guard") == 3 and "connected" not in run.stdout, run.stdout
    addresses = [entry["address"] for entry in entries(log, "attempt")]
    assert ["127.0.0.1", 9] in addresses and ["example.org", 80] in addresses
    assert ["huggingface.co", 443] in addresses  # through httpx, as the hub would download
    (settings,) = entries(log, "settings")
    assert settings["env"] == {name: None for name in OFFLINE_ENV} and settings["hub_offline"] is False


async def test_the_server_works_offline_with_the_embedded_model(tmp_path, monkeypatch):
    log = tmp_path / "net.jsonl"
    guarded(monkeypatch, log)
    repo = make_repository(tmp_path / "repo")
    async with lsp_server("visual_studio_code", None, OPTIONS, root=repo) as client:
        await wait_for_log(client, "model ")
        text = shape_module(0, "Circle")
        doc = Editor(client, (repo / "circle.py").as_uri(), text)
        line, column = return_of_area(text)
        inline = await doc.inline(line, column, invoked=True)
        listed = await doc.complete(line, column)
        assert isinstance(inline, types.InlineCompletionList) and isinstance(listed, types.CompletionList)
        debug = await command(client, "codegen.debug.lastRequests", 2)
        assert debug["model"].startswith("default:")  # the embedded model, codegen_lsp/models/default
        records = debug["requests"]
        assert [r["kind"] for r in records] == ["inline", "list"], records
        assert all(r["outcome"] not in ("error", "skipped") for r in records), records

        function = {"start": {"line": line - 2, "character": 0}, "end": {"line": line + 1, "character": 0}}
        explained = await command(client, "codegen.explain", doc.uri, function)
        assert "error" not in explained, explained
        assert explained["markdown"].startswith("# `area`")
        assert Path(explained["uri"].removeprefix("file://")).read_text() == explained["markdown"]

        diagram = await command(client, "codegen.diagram", doc.uri, {"kind": "modules"})
        assert "error" not in diagram, diagram
        assert "circle" in Path(diagram["mermaid"]).read_text()

        trained = await command(client, "codegen.train", repo.as_uri(), TRAIN_OPTIONS)
        assert "error" not in trained, trained
        assert trained["report"]["training"]["steps"] == 2 and "adapter" in trained["report"]["evaluation"]
    settings = assert_offline(log, processes=2)
    commands = [entry["argv"][1] for entry in settings]
    assert "serve" in commands and "train" in commands, commands


def return_of_area(text: str) -> tuple[int, int]:
    """(line, column) right after `return ` in the area method: where the model has to write."""
    lines = text.split("\n")
    line = next(i for i, l in enumerate(lines) if l.strip().startswith("return") and "area" in lines[i - 2])
    return line, lines[line].index("return ") + len("return ")


def unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not unshare_works(), reason="unshare -rn (a user and network namespace) is not allowed here")
async def test_the_server_works_in_a_namespace_without_network(tmp_path, monkeypatch):
    log = tmp_path / "net.jsonl"
    guarded(monkeypatch, log)
    repo = make_repository(tmp_path / "repo")
    async with lsp_server("neovim", None, OPTIONS, root=repo, launcher=("unshare", "-rn")) as client:
        await wait_for_log(client, "model ")
        text = shape_module(1, "Square")
        doc = Editor(client, (repo / "square.py").as_uri(), text)
        await doc.inline(*return_of_area(text), invoked=True)
        (record,) = (await command(client, "codegen.debug.lastRequests", 1))["requests"]
        assert record["outcome"] != "error", record
        diagram = await command(client, "codegen.diagram", doc.uri, {"kind": "classes"})
        assert "error" not in diagram and "Square" in Path(diagram["mermaid"]).read_text(), diagram
    assert_offline(log, processes=1)


def test_the_complete_command_works_offline(tmp_path, monkeypatch):
    log = tmp_path / "net.jsonl"
    guarded(monkeypatch, log)
    source = tmp_path / "shapes.py"
    source.write_text(shape_module(2, "Triangle"))
    line, column = return_of_area(source.read_text())
    run = subprocess.run([sys.executable, "-m", "codegen_lsp", "complete", f"{source}:{line + 1}:{column + 1}"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.rstrip().endswith("ms]"), run.stderr[-2000:]  # "[model, 41 ms]": the model answered
    (settings,) = assert_offline(log, processes=1)
    assert settings["argv"][1] == "complete" and settings["hub_offline"] is True


