"""codegen.train: fine-tune an adapter on a workspace folder in a separate process.

The server keeps completing while `codegen-lsp train` runs; its per-step JSON lines
become `$/progress`, cancelling the progress sends the process SIGINT (it saves a
checkpoint, so `codegen-lsp train --resume` can continue), and a kept adapter is
loaded for the folder as soon as the process ends.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from pygls.uris import to_fs_path

from ..adapters import REGISTRY
from ..engine import resolve_model_path
from ..generators.paths import OutputPathError, folder_inside, safe_output_path
from ..server import CodegenServer

TRAIN = "codegen.train"
LOG_NAME = "train.log"
# Options the command passes on to `codegen-lsp train` (the client's JSON name -> the flag).
FLAGS = {"steps": "--steps", "epochs": "--epochs", "seqLen": "--seq-len", "batch": "--batch", "rank": "--rank",
         "lr": "--lr", "evalTasks": "--eval-tasks"}


def train_command(folder: Path, model: Path, options: dict) -> list[str]:
    command = [sys.executable, "-m", "codegen_lsp", "train", str(folder), "--model", str(model), "--progress-json"]
    for name, value in options.items():
        if name not in FLAGS or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"unknown or invalid training option {name!r}; known: {', '.join(FLAGS)}")
        command += [FLAGS[name], str(value)]
    return command


def _folder_argument(ls: CodegenServer, args: tuple) -> Path | None:
    """The folder to train on, whose .codegen/ the run writes: a workspace folder or one inside it,
    with .codegen/ inside it too (not a link out). OutputPathError for any other."""
    folder = ls.folders[0] if ls.folders else None
    if args and isinstance(args[0], str):
        path = to_fs_path(args[0]) if args[0].startswith("file:") else args[0]
        folder = folder_inside(ls.folders, path) if path else None
    if folder is not None:
        for written in (REGISTRY, REGISTRY.parent / LOG_NAME, REGISTRY.parent / "adapter"):
            safe_output_path(folder, written, overwrite=True)
    return folder


async def train(ls: CodegenServer, *args) -> dict:
    """Arguments: optional workspace folder (URI or path; default the first), optional options
    object ({"steps": 200, "epochs": 3, ...}). Returns {"kept", "adapter", "report"} or {"error"}."""
    try:
        folder = _folder_argument(ls, args)
    except OutputPathError as exc:
        ls.tell_user("warning", f"codegen-lsp: {TRAIN}: {exc}")
        return {"error": f"{TRAIN}: {exc}"}
    options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    if folder is None or not folder.is_dir():
        return {"error": "codegen.train needs a workspace folder"}
    if ls.training is not None and not ls.training.done():
        return {"error": "a training run is already going on"}
    try:
        command = train_command(folder, resolve_model_path(ls.config.model.path, ls.model_override), options)
    except ValueError as exc:
        return {"error": str(exc)}
    ls.training = asyncio.ensure_future(_run(ls, folder, command))
    return await asyncio.shield(ls.training)


async def _run(ls: CodegenServer, folder: Path, command: list[str]) -> dict:
    log_path = folder / REGISTRY.parent / LOG_NAME
    log_path.parent.mkdir(parents=True, exist_ok=True)
    token = await ls.begin_progress(f"codegen-lsp: training an adapter for {folder.name}", cancellable=True)
    with log_path.open("w", encoding="utf-8") as log:
        process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, stderr=log)
        try:
            cancelled = await _follow(ls, process, token)
            code = await process.wait()
        except asyncio.CancelledError:  # the server is shutting down: the run stops with it
            _interrupt(process)
            raise
    ls.end_progress(token)
    adapter = folder / REGISTRY.parent / "adapter"
    report = _read_report(adapter)
    if cancelled:
        result = {"error": "training cancelled; `codegen-lsp train --resume` continues it", "log": str(log_path)}
    elif code == 0:
        await ls.prepare_adapters()  # the run registered its adapter for the folder
        result = {"kept": True, "adapter": str(adapter), "report": report}
    elif code == 1 and report is not None:
        result = {"kept": False, "adapter": None, "report": report}
    else:
        result = {"error": f"training failed (exit code {code}); see {log_path}", "log": str(log_path)}
    ls.tell_user("info" if code == 0 else "warning", _summary(folder, result))
    return result


async def _follow(ls: CodegenServer, process: asyncio.subprocess.Process, token: str | None) -> bool:
    """Turn the process's step lines into progress until it ends; True when the user cancelled it."""
    cancelled = False
    while True:
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=0.5)
        except asyncio.TimeoutError:
            line = None
        if line == b"":
            return cancelled
        if not cancelled and ls.progress_cancelled(token):
            cancelled = True
            _interrupt(process)
        step = _step(line) if line else None
        if step is not None:
            ls.report_progress(token, f"step {step[0]}/{step[1]}", step[0] / max(1, step[1]))


def _interrupt(process: asyncio.subprocess.Process) -> None:
    """Ctrl-C for the training process: it saves a checkpoint and ends."""
    if process.returncode is None:
        process.send_signal(signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)


def _step(line: bytes) -> tuple[int, int] | None:
    try:
        data = json.loads(line)
        return int(data["step"]), int(data["total"])
    except (ValueError, KeyError, TypeError):
        return None  # the run's own report lines


def _read_report(adapter: Path) -> dict | None:
    try:
        return json.loads((adapter / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _summary(folder: Path, result: dict) -> str:
    if "error" in result:
        return f"codegen-lsp: {result['error']}"
    evaluation = result["report"]["evaluation"]
    losses = f"held-out loss {evaluation['base']['loss']:.3f} -> {evaluation['adapter']['loss']:.3f}"
    if result["kept"]:
        return f"codegen-lsp: the new adapter serves {folder.name} ({losses})"
    return f"codegen-lsp: the trained adapter was not better than the base model and was not kept ({losses})"


def register(ls: CodegenServer) -> None:
    ls.command(TRAIN)(train)
