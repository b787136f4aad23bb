"""The `codegen-lsp` command: serve, complete, demo, pretrain, train, adapters, export, docs, diagram, image."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

# Offline by default, whatever the command or backend: models, tokenizers and adapters come from
# local folders (the openai backend talks to its own URL through httpx and needs no hub either),
# and nothing may phone home. huggingface_hub, transformers and datasets read these when they
# are imported, so they are set here, before this module imports anything that imports them;
# a value the user set stays.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1"}


def set_offline_defaults(environ=os.environ) -> None:
    for name, value in OFFLINE_ENV.items():
        environ.setdefault(name, value)


set_offline_defaults()

from .engine import MODEL_ENV  # noqa: E402  (after the offline defaults, see above)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.model = getattr(args, "model", None)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    # --model is accepted before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", default=argparse.SUPPRESS,
                        help=f"local model folder (default: the codegen.model.path setting, ${MODEL_ENV}, the embedded model)")
    parser = argparse.ArgumentParser(prog="codegen-lsp", description=__doc__, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="speak LSP on stdio (or TCP)")
    serve.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=2087)
    serve.set_defaults(run=_serve)

    complete = commands.add_parser("complete", parents=[common], help="print the completion at FILE:LINE:COL (1-based)")
    complete.add_argument("where", help="FILE:LINE:COL, line and column counted from 1")
    complete.add_argument("--language", help="language id (default: from the file extension)")
    complete.set_defaults(run=_complete)

    demo = commands.add_parser("demo", parents=[common], help="drive the real server over a sample file and print what it suggests")
    demo.add_argument("file", nargs="?", help="source file to type in (default: a bundled sample)")
    demo.set_defaults(run=_demo)

    pretrain = commands.add_parser("pretrain", help="build the corpus and tokenizer and train the embedded model from scratch")
    pretrain.add_argument("--preset", choices=("cpu", "gpu", "smoke"), help="recipe size (default: gpu when CUDA is available, else cpu)")
    pretrain.add_argument("--work", type=Path, default=Path("pretrain-work"), help="folder for the corpus, data and checkpoints")
    pretrain.add_argument("--out", type=Path, help="where the finished model goes (default: WORK/model)")
    pretrain.add_argument("--resume", action="store_true", help="continue from the last checkpoint in WORK")
    pretrain.add_argument("--steps", type=int, help="override the preset's number of steps")
    pretrain.add_argument("--minutes", type=float,
                          help="train for as many steps as fit in this many minutes (fitted after the first steps are timed)")
    pretrain.add_argument("--limit-files", type=int, help="use only the first N candidate files (quick runs)")
    pretrain.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation at the end")
    pretrain.set_defaults(run=_pretrain)

    train = commands.add_parser("train", parents=[common], help="fine-tune a LoRA adapter on your repositories, kept only if it beats the base")
    train.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="repository folders")
    train.add_argument("--base", type=Path, help="base model folder (default: --model, else the embedded model)")
    train.add_argument("--out", type=Path, help="adapter folder (default: FIRST_PATH/.codegen/adapter)")
    train.add_argument("--rank", type=int, default=16)
    train.add_argument("--alpha", type=int, default=32)
    train.add_argument("--dropout", type=float, default=0.05)
    train.add_argument("--target-modules", nargs="+", default=["all-linear"],
                       help="layer names to adapt (default: all-linear, every attention and MLP projection)")
    train.add_argument("--seq-len", type=int, default=1024)
    train.add_argument("--batch", type=int, default=8, help="rows per micro-batch")
    train.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    train.add_argument("--epochs", type=float, default=3.0)
    train.add_argument("--steps", type=int, default=0, help="optimizer steps (overrides --epochs)")
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    train.add_argument("--heldout", type=float, default=0.1, help="share of files held out for evaluation")
    train.add_argument("--eval-tasks", type=int, default=200, help="held-out tasks per kind")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--dry-run", action="store_true", help="print files, tokens and an estimated time; train nothing")
    train.add_argument("--resume", action="store_true", help="continue a stopped run from its checkpoint")
    train.add_argument("--merge", action="store_true", help="also write the base with the adapter merged in (OUT/merged)")
    train.add_argument("--no-register", action="store_true",
                       help="do not point the repositories' .codegen/adapter.json at the new adapter")
    train.add_argument("--progress-json", action="store_true",
                       help='print one JSON line per optimizer step ({"step": N, "total": M}) for a parent process')
    train.set_defaults(run=_train)

    adapters = commands.add_parser("adapters", help="list the adapters registered for workspace folders")
    adapters.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="workspace folders (default: .)")
    adapters.set_defaults(run=_adapters)

    from training.export_gguf import DEFAULT_QUANT, QUANTS  # stdlib only at import: cheap

    export = commands.add_parser("export", parents=[common],
                                 help="write the model (or a LoRA adapter) as GGUF with llama.cpp's own converters")
    export.add_argument("--gguf", type=Path, required=True, metavar="OUT", help="the GGUF file to write")
    export.add_argument("--adapter", type=Path, metavar="DIR",
                        help="export this peft LoRA adapter as a GGUF LoRA instead (base: --model, else the base the "
                             "adapter names, else the embedded model)")
    export.add_argument("--quant", choices=QUANTS, default=DEFAULT_QUANT,
                        help=f"tensor type (default: {DEFAULT_QUANT}; q8_0 is half the size, f32 twice)")
    export.set_defaults(run=_export)

    from .cli_generators import add_parsers

    add_parsers(commands, common)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .server import create_server

    server = create_server(args.model)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0


def _complete(args: argparse.Namespace) -> int:
    from .backends.base import BackendError, StopFlag
    from .completion import CompletionRequest
    from .config import Config
    from .engine import build_pipeline
    from .logs import RequestLog
    from .prompts.fim import FimTokenError

    try:
        path, line, column = parse_location(args.where)
        text = path.read_text(encoding="utf-8")
    except (ValueError, OSError) as exc:
        print(f"codegen-lsp complete: {exc}", file=sys.stderr)
        return 2
    try:
        pipeline = build_pipeline(Config(), RequestLog(1), args.model)
    except (BackendError, FimTokenError) as exc:
        print(f"codegen-lsp: {exc}", file=sys.stderr)
        return 2
    request = CompletionRequest(uri=path.resolve().as_uri(), version=0, text=text,
                                offset=offset_of(text, line, column),
                                language_id=args.language or language_of(path), invoked=True)
    result = asyncio.run(pipeline.complete(request, StopFlag()))
    pipeline.backend.close()
    record = result.record
    if record.outcome == "error":
        print(f"codegen-lsp: {record.error}", file=sys.stderr)
        return 1
    print(result.text)
    print(f"[{record.outcome}, {record.timings_ms.get('total', 0):.0f} ms]", file=sys.stderr)
    return 0


def parse_location(where: str) -> tuple[Path, int, int]:
    file, sep1, rest = where.rpartition(":")
    file, sep2, line = file.rpartition(":")
    if not (sep1 and sep2 and line.isdigit() and rest.isdigit()) or int(line) < 1 or int(rest) < 1:
        raise ValueError(f"expected FILE:LINE:COL with 1-based numbers, got {where!r}")
    return Path(file), int(line), int(rest)


def offset_of(text: str, line: int, column: int) -> int:
    """str index of a 1-based line and column (in characters), clamped to the text."""
    lines = text.split("\n")
    line = min(line, len(lines))
    start = sum(len(l) + 1 for l in lines[: line - 1])
    return start + min(column - 1, len(lines[line - 1]))


EXTENSIONS = {".py": "python", ".js": "javascript", ".jsx": "javascriptreact", ".ts": "typescript",
              ".tsx": "typescriptreact", ".go": "go", ".rs": "rust", ".java": "java", ".c": "c", ".h": "c",
              ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".lua": "lua", ".sh": "shellscript"}


def language_of(path: Path) -> str:
    return EXTENSIONS.get(path.suffix.lower(), "plaintext")


def _pretrain(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from training.pretrain import PRESETS, default_preset, pretrain

    recipe = PRESETS[args.preset or default_preset()]
    if args.steps:
        recipe = replace(recipe, steps=args.steps)
    out = pretrain(args.work, args.out or args.work / "model", recipe, resume=args.resume,
                   limit_files=args.limit_files, minutes=args.minutes)
    if not args.no_eval:
        from training.evaluate import evaluate_model

        evaluate_model(out, args.work)
    print(f"model written to {out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.file) if args.file else None, args.model)


def _train(args: argparse.Namespace) -> int:
    from training.finetune import TrainError, TrainOptions, run
    from training.lora import LoraRecipe

    from .engine import resolve_model_path

    recipe = LoraRecipe(rank=args.rank, alpha=args.alpha, dropout=args.dropout, target_modules=tuple(args.target_modules),
                        seq_len=args.seq_len, batch=args.batch, grad_accum=args.grad_accum, epochs=args.epochs,
                        max_steps=args.steps, lr=args.lr, precision=args.precision, seed=args.seed)
    missing = [str(p) for p in args.paths if not p.is_dir()]
    if missing:
        print(f"codegen-lsp train: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    options = TrainOptions(paths=tuple(p.resolve() for p in args.paths),
                           base=Path(resolve_model_path(None, args.base or args.model)),
                           out=(args.out or args.paths[0] / ".codegen" / "adapter").resolve(), recipe=recipe,
                           heldout_fraction=args.heldout, eval_tasks=args.eval_tasks, dry_run=args.dry_run,
                           resume=args.resume, merge=args.merge, register=not args.no_register)
    try:
        report = run(options, progress=_print_progress if args.progress_json else None)
    except TrainError as exc:
        print(f"codegen-lsp train: {exc}", file=sys.stderr)
        return 2
    if report.get("dry_run") or report["kept"] is None:  # a dry run, or not the main process of several
        return 0
    if not report["kept"]:
        print(f"codegen-lsp train: {report['why']} (report: {options.out / 'report.md'})", file=sys.stderr)
        return 1
    print(f"adapter written to {options.out}")
    return 0


def _print_progress(step: int, total: int) -> bool:
    import json

    print(json.dumps({"step": step, "total": total}), flush=True)
    return False  # a parent stops training with SIGINT, which saves a checkpoint


def _adapters(args: argparse.Namespace) -> int:
    from .adapters import describe, registered_adapter

    for folder in args.paths or [Path(".")]:
        print(f"{folder.resolve()}: {describe(registered_adapter(folder.resolve()))}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from training.export_gguf import ExportError, adapter_base, export_adapter, export_model, size_text

    from .engine import resolve_model_path

    def progress(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        if args.adapter:
            base = resolve_model_path(None, args.model or adapter_base(args.adapter))
            out = export_adapter(args.adapter, base, args.gguf, args.quant, progress)
        else:
            out = export_model(resolve_model_path(None, args.model), args.gguf, args.quant, progress)
    except ExportError as exc:
        print(f"codegen-lsp export: {exc}", file=sys.stderr)
        return 2
    print(f"GGUF written to {out} ({size_text(out)})")
    return 0
