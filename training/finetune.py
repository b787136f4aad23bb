"""`codegen-lsp train`: a LoRA adapter for your own repositories, kept only if it is better.

    collect   git-tracked files, filtered (generated, vendored, secrets, duplicates...),
              split by file into training and held-out files
    samples   FIM (PSM and SPM, holes on syntax nodes, at cursors and at random) and
              left-to-right samples made by the server's own FIM module, packed
    train     peft LoRA through accelerate (training/lora.py)
    evaluate  base and adapter on the held-out files: per-token loss, next-line and
              FIM-line exact match and edit similarity, through the server's backend
    output    the adapter in PEFT's layout (transformers, peft and vLLM `--enable-lora`
              load it) plus `codegen_adapter.json` and the report; the repositories'
              `.codegen/adapter.json` point the server at it

The adapter is kept only when its held-out loss is below the base model's, by more than
rounding noise (MIN_LOSS_GAIN).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from codegen_lsp.adapters import MANIFEST as ADAPTER_MANIFEST, REGISTRY
from codegen_lsp.backends.local import LocalBackend, folder_fingerprint, serving_format
from codegen_lsp.weights import UnsafeModelFolder, require_no_remote_code, require_safetensors

from .collect import Collection, collect
from .evaluate import make_tasks, model_answers, score, token_stream, windowed
from .finetune_data import FinetuneMix, build_dataset
from .lora import LoraRecipe, Progress, TrainResult, lora_model, recipe_json, recipe_problems, train_adapter

KINDS = ("next-line", "fim-line")
# The held-out loss an adapter must win by, relative: a smaller difference is float rounding
# (an adapter trained at a learning rate of 1e-9 "won" by 1e-6 of 7.17), not learning, and a kept
# adapter costs a switch on every request of its workspace.
MIN_LOSS_GAIN = 1e-4


@dataclass(frozen=True)
class TrainOptions:
    paths: tuple[Path, ...]
    base: Path
    out: Path
    recipe: LoraRecipe = LoraRecipe()
    mix: FinetuneMix = FinetuneMix()
    heldout_fraction: float = 0.1
    eval_tasks: int = 200          # per kind
    loss_windows: int = 32
    dry_run: bool = False
    resume: bool = False
    merge: bool = False
    register: bool = True


class TrainError(Exception):
    """A setting or input that stops training before it starts; the message says what to change."""


def run(options: TrainOptions, progress: Progress | None = None) -> dict:
    """The whole recipe; returns the report (also written beside the adapter).

    Under `accelerate launch` every process collects and builds the same data and trains its
    share; only the main process evaluates and writes the output.
    """
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM

    try:  # a base that only loads by unpickling or running its own code is refused, as the server does
        require_safetensors(options.base, "base model")
        require_no_remote_code(options.base, "base model")
    except UnsafeModelFolder as exc:
        raise TrainError(str(exc)) from None
    model = AutoModelForCausalLM.from_pretrained(options.base, dtype=torch.float32, trust_remote_code=False,
                                                 local_files_only=True, use_safetensors=True)
    problems = recipe_problems(options.recipe, model)
    if problems:
        raise TrainError("cannot train with these settings:\n  " + "\n  ".join(problems))
    collection, data, steps = prepare_data(options)
    model = lora_model(model, options.recipe)
    if options.dry_run:
        return dry_run_report(model, data.rows, options, collection, steps)
    work = options.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    result = train_adapter(model, data.rows, options.recipe, work, steps, options.resume, progress)
    if result.stopped:
        raise TrainError(f"stopped at step {result.steps}; `codegen-lsp train ... --resume` continues from here")
    if not PartialState().is_main_process:
        return {"kept": None, "why": "not the main process"}
    candidate = work / "adapter"
    result.model.save_pretrained(candidate, safe_serialization=True)
    evaluation = evaluate_both(options, candidate, {f"{f.repo}/{f.path}": f.text for f in collection.heldout()})
    kept = evaluation["adapter"]["loss"] < evaluation["base"]["loss"] * (1 - MIN_LOSS_GAIN)
    report = build_report(options, collection, asdict(data.stats), result, evaluation, kept)
    write_output(options, candidate, report, result if options.merge and kept else None)
    return report


def prepare_data(options: TrainOptions) -> tuple[Collection, object, int]:
    """The repositories' files, split, and the packed training rows; the number of steps."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(options.base, trust_remote_code=False, local_files_only=True)
    fim = serving_format(options.base, tokenizer)  # the prompts the server will send this model
    collection = collect(list(options.paths), heldout_fraction=options.heldout_fraction)
    print(collection.report(), flush=True)
    if not collection.train() or not collection.heldout():
        raise TrainError("too few usable files: training needs at least one training and one held-out file "
                         "(see the counts above)")
    # Each pass over the files cuts new holes, so the data holds as many passes as training makes.
    passes = max(1, math.ceil(options.recipe.epochs))
    data = build_dataset(fim, tokenizer, [(f.repo, f.path, f.language, f.text) for f in collection.train()],
                         options.recipe.seq_len, options.mix, options.recipe.seed, epochs=passes)
    steps = options.recipe.steps_for(math.ceil(len(data.rows) / passes))
    print(f"data: {data.stats.samples} samples ({data.stats.node_holes} holes on syntax nodes), "
          f"{data.stats.tokens:,} tokens in {len(data.rows)} rows of {options.recipe.seq_len} over {passes} "
          f"pass(es); {steps} steps", flush=True)
    return collection, data, steps


def evaluate_both(options: TrainOptions, adapter: Path, heldout: dict[str, str]) -> dict:
    """Base and adapter through the server's backend, one after the other (one model in memory)."""
    evaluation = {}
    for name, folder in (("base", None), ("adapter", adapter)):
        backend = LocalBackend(options.base, adapter=str(folder) if folder else None, device="auto", dtype="float32")
        evaluation[name] = evaluate_backend(backend, heldout, options)
        backend.close()
    return evaluation


def evaluate_backend(backend: LocalBackend, heldout: dict[str, str], options: TrainOptions) -> dict:
    """Loss and completion scores of one backend on the held-out files, same tasks for every backend."""
    out: dict = {"loss": heldout_loss(backend, token_stream(backend.tokenizer, heldout), options.recipe.seq_len,
                                      options.loss_windows)}
    order = backend.fim.default_order  # the order the model folder declares (fim.json), as the server uses
    for kind in KINDS:
        tasks = windowed(backend.tokenizer, make_tasks(heldout, options.eval_tasks, kind, options.recipe.seed))
        out[kind] = score(model_answers(backend, tasks, "l2r" if kind == "next-line" else order), tasks)
    return out


@torch.no_grad()
def heldout_loss(backend: LocalBackend, stream: np.ndarray, window: int, windows: int) -> float:
    """Mean next-token loss over windows spread evenly across the held-out token stream."""
    window = max(2, min(window, len(stream)))
    losses = []
    for start in np.linspace(0, len(stream) - window, max(1, min(windows, len(stream) // window))).astype(int):
        ids = torch.from_numpy(stream[start:start + window].astype(np.int64))[None].to(backend.device)
        losses.append(backend.model(input_ids=ids, labels=ids).loss.float().item())
    return float(np.mean(losses))


def dry_run_report(model, rows: np.ndarray, options: TrainOptions, collection: Collection, steps: int) -> dict:
    """Files, tokens and an estimated time from two timed optimizer-free steps on this machine."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = torch.from_numpy(rows[:options.recipe.batch].astype(np.int64)).to(device)
    model.to(device).train()
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        model(input_ids=batch, labels=batch).loss.backward()
        timings.append(time.perf_counter() - started)
    model.zero_grad(set_to_none=True)
    per_step = min(timings[1:]) * options.recipe.grad_accum
    report = {"dry_run": True, "collection": collection.counts(), "rows": len(rows), "steps": steps,
              "tokens": steps * options.recipe.batch * options.recipe.grad_accum * options.recipe.seq_len,
              "seconds_per_step": round(per_step, 3), "estimated_minutes": round(steps * per_step / 60, 1),
              "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    print(f"dry run: {steps} steps of {options.recipe.batch * options.recipe.grad_accum} rows, "
          f"{report['tokens']:,} tokens, about {per_step:.2f} s a step: {report['estimated_minutes']} minutes "
          f"on {'GPU' if torch.cuda.is_available() else 'CPU'} (nothing trained)", flush=True)
    return report


def build_report(options: TrainOptions, collection: Collection, stats: dict, result: TrainResult,
                 evaluation: dict, kept: bool) -> dict:
    base_model = options.base
    return {
        "kept": kept,
        "why": ("held-out loss below the base model's" if kept else
                "held-out loss not below the base model's by more than rounding noise: the adapter was not kept"),
        "base_model": {"path": str(base_model), "name": Path(base_model).name,
                       "sha256": folder_fingerprint(Path(base_model), "*.safetensors", content=True)},
        "repositories": [str(p) for p in options.paths],
        "collection": collection.counts(),
        "files": {"train": [f"{f.repo}/{f.path}" for f in collection.train()],
                  "heldout": [f"{f.repo}/{f.path}" for f in collection.heldout()]},
        "data": stats,
        "recipe": recipe_json(options.recipe),
        "training": {"steps": result.steps, "tokens": result.tokens, "seconds": round(result.seconds, 1),
                     "tokens_per_second": round(result.tokens_per_second),
                     "device": torch.cuda.get_device_name() if torch.cuda.is_available() else
                     f"CPU x{torch.get_num_threads()}",
                     "final_loss": result.history[-1]["loss"] if result.history else None},
        "evaluation": evaluation,
    }


def markdown(report: dict) -> str:
    ev = report["evaluation"]
    lines = ["| model | held-out loss | next line EM | next line ES | FIM line EM | FIM line ES |",
             "|---|---|---|---|---|---|"]
    for name in ("base", "adapter"):
        row = ev[name]
        lines.append(f"| {name} | {row['loss']:.3f} | {row['next-line']['exact_match']:.1%} | "
                     f"{row['next-line']['edit_similarity']:.3f} | {row['fim-line']['exact_match']:.1%} | "
                     f"{row['fim-line']['edit_similarity']:.3f} |")
    training = report["training"]
    return (f"# LoRA adapter: {'kept' if report['kept'] else 'not kept'}\n\n{report['why']}.\n\n"
            f"Base model: `{report['base_model']['name']}` ({report['base_model']['sha256']}). "
            f"Repositories: {', '.join(report['repositories'])}.\n\n" + "\n".join(lines) + "\n\n"
            f"Training: {training['steps']} steps, {training['tokens']:,} tokens in {training['seconds']} s "
            f"({training['tokens_per_second']:,} tokens/s on {training['device']}).\n\n"
            f"Files: {json.dumps(report['collection'])}\n")


def write_output(options: TrainOptions, candidate: Path, report: dict, merged: TrainResult | None) -> None:
    out = options.out
    if report["kept"]:  # an adapter that is not kept leaves an earlier, better one in place
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy2(candidate / name, out / name)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(markdown(report))
    if report["kept"]:
        (out / ADAPTER_MANIFEST).write_text(json.dumps({key: report[key] for key in (
            "base_model", "repositories", "collection", "data", "recipe", "training", "evaluation")}, indent=1))
        if merged is not None:
            merge(merged.model, options.base, out / "merged")
        if options.register:
            for repo in options.paths:
                register(repo, out)
    shutil.rmtree(out / "work" / "checkpoint", ignore_errors=True)  # finished: nothing to resume
    print(markdown(report), flush=True)


def merge(model, base: Path, folder: Path) -> None:
    """The base model with the adapter folded into its weights: a plain model folder."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(base, trust_remote_code=False, local_files_only=True)
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    merged = model.merge_and_unload()
    merged.to(dtype if isinstance(dtype, torch.dtype) else torch.float32)  # the base's own dtype
    merged.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(base, trust_remote_code=False, local_files_only=True).save_pretrained(folder)
    for name in ("fim.json",):
        if (base / name).is_file():
            shutil.copy2(base / name, folder / name)


def register(repo: Path, adapter: Path) -> None:
    """Point the server at `adapter` for completions in `repo`."""
    path = repo / REGISTRY
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"adapter": str(adapter.resolve())}, indent=1) + "\n")
