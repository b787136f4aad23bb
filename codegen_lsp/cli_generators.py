"""`codegen-lsp docs | diagram | image`: the side generators from the command line.

The same jobs as the editor's commands (generators/tasks.py), run by a job runner of their
own, with a progress bar; Ctrl-C cancels at the next step and leaves no half-written file.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import signal
import subprocess
import sys
from pathlib import Path

from .config import GeneratorsConfig


def add_parsers(commands, common: argparse.ArgumentParser) -> None:
    docs = commands.add_parser("docs", parents=[common], help="write docstrings for a file's undocumented "
                                                              "definitions, or a Markdown overview of it")
    docs.add_argument("file", type=Path)
    docs.add_argument("--overview", action="store_true", help="write DOCS/api/<module>.md instead of docstrings")
    docs.add_argument("--write", action="store_true", help="write the docstrings into the file (default: print a diff)")
    _output_arguments(docs)
    docs.set_defaults(run=_docs)

    diagram = commands.add_parser("diagram", help="draw modules, classes or a call graph from the code "
                                                  "(Mermaid, and SVG/PNG with Graphviz)")
    diagram.add_argument("root", type=Path, help="repository folder")
    diagram.add_argument("--kind", choices=("modules", "classes", "calls"), default="modules")
    diagram.add_argument("--function", metavar="FILE:NAME", help="calls: the function, e.g. shop/pricing.py:total")
    diagram.add_argument("--depth", type=int, default=1, help="calls: callers and callees this many steps away")
    diagram.add_argument("--under", metavar="FOLDER", help="only the files under this folder of ROOT (e.g. src/pkg)")
    diagram.add_argument("--name", help="output name (default: the kind)")
    diagram.add_argument("--docs-folder", default=GeneratorsConfig.docs_folder, help="relative to ROOT")
    diagram.add_argument("--overwrite", action="store_true")
    diagram.set_defaults(run=_diagram)

    image = commands.add_parser("image", help="text-to-image with a local diffusers model into DOCS/images/")
    image.add_argument("prompt")
    image.add_argument("--image-model", type=Path, required=True, help="diffusers folder (safetensors weights)")
    image.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    image.add_argument("--width", type=int, default=GeneratorsConfig.image_size)
    image.add_argument("--height", type=int, default=GeneratorsConfig.image_size)
    image.add_argument("--steps", type=int, default=GeneratorsConfig.image_steps)
    image.add_argument("--seed", type=int)
    image.add_argument("--name", help="file stem (default: from the prompt)")
    _output_arguments(image)
    image.set_defaults(run=_image)


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, help="workspace folder (default: the git work tree, else .)")
    parser.add_argument("--docs-folder", default=GeneratorsConfig.docs_folder, help="relative to the root")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


class BarProgress:
    """A tqdm bar; the first Ctrl-C asks the job to stop at its next step."""

    def __init__(self, title: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=title, unit="step", file=sys.stderr, leave=False)
        self.stop = False
        signal.signal(signal.SIGINT, self._interrupt)

    def _interrupt(self, *_) -> None:
        self.stop = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    def update(self, done: int, total: int, message: str) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(message[:40], refresh=True)

    def cancelled(self) -> bool:
        return self.stop

    def close(self) -> None:
        self.bar.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _run_job(title: str, make_work) -> tuple[int, object]:
    """Run one job to its end; (exit status, result). Errors are printed, not raised."""
    from .actions.runner import ActionCancelled
    from .backends.priority import ForegroundGate
    from .generators.jobs import JobCancelled, JobFailed, JobRunner
    from .generators.paths import OutputPathError

    progress = BarProgress(title)

    async def go():
        runner = JobRunner(ForegroundGate)
        try:
            return await runner.run(title, make_work(runner), progress)
        finally:
            runner.close()

    try:
        return 0, asyncio.run(go())
    except (JobCancelled, ActionCancelled):
        print(f"codegen-lsp: {title}: cancelled", file=sys.stderr)
        return 130, None
    except (JobFailed, OutputPathError, ValueError, OSError) as exc:
        print(f"codegen-lsp: {exc}", file=sys.stderr)
        return 1, None
    finally:
        progress.close()


def workspace_root(start: Path) -> Path:
    folder = start if start.is_dir() else start.parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return folder.resolve()
    return Path(top.stdout.strip()).resolve() if top.returncode == 0 and top.stdout.strip() else folder.resolve()


def _diagram(args: argparse.Namespace) -> int:
    from .generators.tasks import DiagramJob, diagram_work

    file = function = None
    if args.function:
        file, _, function = args.function.rpartition(":")
    try:
        job = DiagramJob(args.kind, file or None, function or None, args.depth, args.name, args.overwrite, args.under)
    except ValueError as exc:
        print(f"codegen-lsp diagram: {exc}", file=sys.stderr)
        return 2
    status, result = _run_job(f"diagram ({args.kind})",
                              lambda runner: diagram_work(job, args.root.resolve(), args.docs_folder))
    if result:
        print(json.dumps(result, indent=1))
        if result.get("warning"):
            print(f"codegen-lsp: {result['warning']}", file=sys.stderr)
    return status


def _image(args: argparse.Namespace) -> int:
    from .generators.tasks import ImageJob, image_work

    config = GeneratorsConfig(docs_folder=args.docs_folder, image_model=str(args.image_model), image_device=args.device)
    root = (args.root or workspace_root(Path.cwd())).resolve()
    options = {"width": args.width, "height": args.height, "steps": args.steps, "seed": args.seed,
               "name": args.name, "overwrite": args.overwrite}
    try:
        job = ImageJob.from_options(args.prompt, options, config)
    except ValueError as exc:
        print(f"codegen-lsp image: {exc}", file=sys.stderr)
        return 2
    status, result = _run_job("image", lambda runner: image_work(job, runner, config, root))
    if result:
        print(json.dumps(result, indent=1))
    return status


def _docs(args: argparse.Namespace) -> int:
    from .backends.base import BackendError
    from .prompts.fim import FimTokenError

    path = args.file.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"codegen-lsp docs: {exc}", file=sys.stderr)
        return 2
    root = (args.root or workspace_root(path)).resolve()
    try:
        runner, request = _docs_request(path, text, root, args.model)
    except (BackendError, FimTokenError, ValueError) as exc:
        print(f"codegen-lsp docs: {exc}", file=sys.stderr)
        return 2
    if args.overview:
        return _overview(runner, request, root, args)
    return _docstrings(runner, request, path, args.write)


def _docs_request(path: Path, text: str, root: Path, model: str | None):
    from .actions.runner import ActionRequest, ActionRunner
    from .cli import language_of
    from .completion import RepoInputs
    from .config import Config
    from .documents import Document
    from .engine import build_pipeline
    from .logs import RequestLog

    if not path.is_relative_to(root):
        raise ValueError(f"{path} is not inside {root}")
    relative = path.relative_to(root).as_posix()
    document = Document(path.as_uri(), language_of(path), 0, text)
    repo = RepoInputs(relative, root.name, document.tree, document.source)
    pipeline = build_pipeline(Config(), RequestLog(50), model)
    request = ActionRequest("docstring", path.as_uri(), relative, document.language_id, text, 0, 0, 0, repo=repo,
                            root=root)
    return ActionRunner(pipeline, None, background=True), request


def _docstrings(runner, request, path: Path, write: bool) -> int:
    from .actions.edits import apply
    from .generators.tasks import docstrings_work

    status, result = _run_job("docstrings", lambda _: docstrings_work(runner, request))
    if result is None:
        return status
    for line in result.skipped:
        print(f"skipped {line}", file=sys.stderr)
    new_text = apply(request.text, result.edits)
    if write and result.edits:
        path.write_text(new_text, encoding="utf-8")
        print(f"{path}: {len(result.written)} docstrings written ({', '.join(result.written)})")
    else:
        sys.stdout.writelines(difflib.unified_diff(request.text.splitlines(keepends=True),
                                                   new_text.splitlines(keepends=True), request.path, request.path))
    return status


def _overview(runner, request, root: Path, args: argparse.Namespace) -> int:
    from .generators.tasks import overview_work

    status, result = _run_job("overview", lambda _: overview_work(runner, request, root, args.docs_folder,
                                                                 args.overwrite))
    if result is not None:
        print(f"overview written to {result[1]}")
    return status
