"""`codegen-lsp train` on a repository no one here wrote: quality of the adapter, and what packing saves.

The repository is fetched by the benchmark: the sdist of a pinned PyPI release, by
`pip download --no-binary :all:`, unpacked into a cache folder and reused there. By
default werkzeug 3.1.3, its `src/werkzeug` folder (52 Python files, about 21k lines).
Why werkzeug: it is one cohesive project (a WSGI toolkit whose modules import one
another, written in one house style), as a user's own repository is; pure Python, of
a size one CPU run can learn from; and not in the embedded model's pretraining corpus
(the `package` fields of `corpus_manifest.jsonl`), so the held-out files are code the
model has never seen. boltons, the other candidate, is a bag of unrelated utility
modules, with less in common from one file to the next.

Part 1, quality. `training.finetune.run` as `codegen-lsp train` runs it: collect the
files, split them by file, build packed FIM samples, train a LoRA adapter, then score
the base model and the adapter on the same held-out files and tasks: per-token loss,
next-line and FIM-line exact match (EM) and edit similarity (ES). Targets: held-out
loss at least 10 % lower, exact match at least 25 % higher (relative), each kind.

Part 2, throughput. The same training samples (`build_dataset` with the recipe's
sequence length, mix and seed, as `run` builds them), the same base model, LoRA
config, batch size and learning rate, two layouts:
- packed: our rows (samples end to end, cut into full rows) through `train_adapter`;
- padded: one sample per row, cut to the sequence length, through a plain
  `transformers.Trainer`, batched by `DataCollatorForLanguageModeling(mlm=False)`,
  which pads to the longest row of the batch and sets the labels of padding to -100.
Each times N optimizer steps after warm-up steps and counts only real (non-padding)
tokens. Target: packing at least 1.5x the padded layout's tokens/s. "other load" is
the share of the machine's CPU that other processes took meanwhile: on a shared
machine a neighbour taking one of two cores stalls every step's thread barriers,
so compare the two layouts only when both figures are low.

    .venv/bin/python benchmarks/finetune.py [--package werkzeug --version 3.1.3 | --repo PATH]
        [--steps N] [--seq-len N] [--batch N] [--eval-tasks N] [--out DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.latency import OtherLoad, describe_machine  # noqa: E402
from codegen_lsp.backends.local import LocalBackend  # noqa: E402
from codegen_lsp.engine import EMBEDDED_MODEL  # noqa: E402
from training.collect import collect  # noqa: E402
from training.finetune import TrainOptions, run  # noqa: E402
from training.finetune_data import FinetuneMix, build_dataset  # noqa: E402
from training.lora import LoraRecipe, lora_model, mixed_precision, train_adapter  # noqa: E402

DEFAULT_CACHE = Path.home() / ".cache" / "codegen-lsp" / "bench-repos"
HELDOUT_FRACTION = 0.1  # TrainOptions' default
LOSS_TARGET, EM_TARGET, PACKING_TARGET = -0.10, 0.25, 1.5


@dataclass(frozen=True)
class Size:
    recipe: LoraRecipe
    eval_tasks: int          # per kind
    loss_windows: int
    throughput_steps: int    # timed, per layout
    warmup_steps: int        # before the timed ones


FULL = Size(LoraRecipe(seq_len=512, batch=4, max_steps=150), eval_tasks=150, loss_windows=32,
            throughput_steps=20, warmup_steps=2)
SMOKE = Size(LoraRecipe(seq_len=128, batch=2, max_steps=2), eval_tasks=3, loss_windows=2,
             throughput_steps=2, warmup_steps=1)


# --- The repository -----------------------------------------------------------------------------


def fetch(package: str, version: str, cache: Path) -> Path:
    """The package's source folder, from its sdist, downloaded and unpacked into `cache` once."""
    folder = cache / f"{package}-{version}"
    if not folder.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            print(f"fetching the {package} {version} sdist with pip", flush=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                            f"{package}=={version}", "--dest", scratch], check=True)
            (archive,) = Path(scratch).iterdir()
            unpacked = Path(scratch) / "unpacked"
            unpack(archive, unpacked)
            unpacked.rename(folder)  # whole or not at all: a half-unpacked folder is never reused
    return source_folder(folder, package)


def unpack(archive: Path, dest: Path) -> None:
    """The archive's regular files under `dest`; a name that would land outside `dest` stops everything."""
    dest = dest.resolve()
    for name, read in archive_files(archive):
        target = (dest / name).resolve()
        if not target.is_relative_to(dest):
            raise SystemExit(f"{archive.name}: {name!r} would be written outside {dest}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read())


def archive_files(archive: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, reader) of each regular file of a zip or tar sdist; links and devices are skipped."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if not info.is_dir():
                    yield info.filename, partial(zipped.read, info)
    else:
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isfile():
                    yield member.name, tar.extractfile(member).read


def source_folder(unpacked: Path, package: str) -> Path:
    """The import package's folder (`src/name` or `name`, the shallowest), else the sdist's top folder."""
    name = package.lower().replace("-", "_")
    found = sorted(unpacked.glob(f"**/{name}/__init__.py"), key=lambda path: len(path.parts))
    if found:
        return found[0].parent
    (top,) = unpacked.iterdir()
    return top


# --- Part 1: quality ----------------------------------------------------------------------------


def quality_rows(evaluation: dict) -> list[tuple[str, float, float, float | None, float | None]]:
    """(metric, base, adapter, relative change, target) for each held-out figure."""
    base, adapter = evaluation["base"], evaluation["adapter"]
    rows = [("loss", base["loss"], adapter["loss"], relative(base["loss"], adapter["loss"]), LOSS_TARGET)]
    for kind in ("next-line", "fim-line"):
        for metric, label, target in (("exact_match", "EM", EM_TARGET), ("edit_similarity", "ES", None)):
            before, after = base[kind][metric], adapter[kind][metric]
            rows.append((f"{kind} {label}", before, after, relative(before, after), target))
    return rows


def relative(before: float, after: float) -> float | None:
    return (after - before) / before if before else None


def met(change: float | None, target: float) -> bool:
    if change is None:
        return False
    return change <= target if target < 0 else change >= target


def quality_table(evaluation: dict) -> str:
    lines = ["| held-out | base | adapter | change (relative) | target | met |", "|---|---|---|---|---|---|"]
    for metric, before, after, change, target in quality_rows(evaluation):
        verdict = "-" if target is None else ("yes" if met(change, target) else "**no**")
        lines.append(f"| {metric} | {shown(metric, before)} | {shown(metric, after)} | {percent(change)} | "
                     f"{'-' if target is None else percent(target, at_least=True)} | {verdict} |")
    return "\n".join(lines)


def shown(metric: str, value: float) -> str:
    return f"{value:.1%}" if metric.endswith("EM") else f"{value:.3f}"


def percent(value: float | None, at_least: bool = False) -> str:
    if value is None:
        return "n/a (base 0)"
    sign = ("<= " if value < 0 else ">= ") if at_least else ""
    return f"{sign}{value:+.1%}"


# --- Part 2: throughput -------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    layout: str
    real_tokens: int
    slots: int               # token positions computed, padding included
    seconds: float
    other_load: float | None  # other processes' share of the CPU meanwhile

    @property
    def tokens_per_second(self) -> float:
        return self.real_tokens / self.seconds

    @property
    def padding(self) -> float:
        return 1 - self.real_tokens / self.slots


def now() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def fresh_lora_model(recipe: LoraRecipe):
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(EMBEDDED_MODEL, dtype=torch.float32, local_files_only=True)
    return lora_model(base, recipe)


def packed_throughput(rows: np.ndarray, recipe: LoraRecipe, size: Size) -> Throughput:
    """`train_adapter` on packed rows, timed from the end of the warm-up steps to the last step."""
    stamps: list[float] = []

    def stamp(step: int, total: int) -> bool:
        stamps.append(now())
        return False

    full = rows[:len(rows) // recipe.batch * recipe.batch]  # every batch whole, so every step is batch x seq_len
    load = OtherLoad()
    with tempfile.TemporaryDirectory() as work:
        train_adapter(fresh_lora_model(recipe), full, replace(recipe, checkpoint_every=10**9), Path(work),
                      size.warmup_steps + size.throughput_steps, progress=stamp, show_bar=False)
    tokens = size.throughput_steps * recipe.batch * recipe.seq_len
    return Throughput("packed rows, `train_adapter`", tokens, tokens, stamps[-1] - stamps[size.warmup_steps - 1],
                      load.share())


def padded_throughput(samples: list[list[int]], tokenizer, recipe: LoraRecipe, size: Size) -> Throughput:
    """A plain Trainer, one sample per row padded to the batch's longest, timed as `packed_throughput`."""
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    collate = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    real, slots, stamps = [], [], []

    def counting_collate(examples: list[dict]) -> dict:
        batch = collate(examples)
        real.append(int(batch["attention_mask"].sum()))
        slots.append(batch["attention_mask"].numel())
        return batch

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(now())

    steps = size.warmup_steps + size.throughput_steps
    load = OtherLoad()
    with tempfile.TemporaryDirectory() as work:
        arguments = TrainingArguments(
            output_dir=work, per_device_train_batch_size=recipe.batch, max_steps=steps, learning_rate=recipe.lr,
            max_grad_norm=recipe.grad_clip, optim="adamw_torch", seed=recipe.seed,
            bf16=mixed_precision(recipe) == "bf16", report_to="none", save_strategy="no", logging_strategy="no",
            disable_tqdm=True, remove_unused_columns=False)
        rows = [{"input_ids": ids[:recipe.seq_len]} for ids in samples]
        Trainer(model=fresh_lora_model(recipe), args=arguments, train_dataset=rows, data_collator=counting_collate,
                callbacks=[Stamp()]).train()
    timed = slice(size.warmup_steps, steps)  # the k-th step trains on the k-th batch collated
    return Throughput("one sample per padded row, `transformers.Trainer`", sum(real[timed]), sum(slots[timed]),
                      stamps[-1] - stamps[size.warmup_steps - 1], load.share())


def throughput_table(packed: Throughput, padded: Throughput, steps: int) -> str:
    lines = [f"| layout ({steps} steps timed) | real tokens | padding | seconds | real tokens/s | other load |",
             "|---|---|---|---|---|---|"]
    for t in (packed, padded):
        load = "-" if t.other_load is None else f"{t.other_load:.0%}"
        lines.append(f"| {t.layout} | {t.real_tokens:,} | {t.padding:.1%} | {t.seconds:.1f} | "
                     f"{t.tokens_per_second:,.0f} | {load} |")
    ratio = packed.tokens_per_second / padded.tokens_per_second
    lines.append(f"| packed / padded | | | | **{ratio:.2f}x** (target >= {PACKING_TARGET}x: "
                 f"{'met' if ratio >= PACKING_TARGET else 'not met'}) | |")
    return "\n".join(lines)


# --- Main ---------------------------------------------------------------------------------------


def size_from(args: argparse.Namespace) -> Size:
    size = SMOKE if args.smoke else FULL
    recipe = replace(size.recipe, max_steps=args.steps or size.recipe.max_steps,
                     seq_len=args.seq_len or size.recipe.seq_len, batch=args.batch or size.recipe.batch)
    return replace(size, recipe=recipe, eval_tasks=args.eval_tasks or size.eval_tasks)


def training_data(repo: Path, recipe: LoraRecipe):
    """(collection, dataset, tokenizer) exactly as `training.finetune.run` builds them for this recipe."""
    backend = LocalBackend(EMBEDDED_MODEL, device="auto", dtype="float32")
    collection = collect([repo], heldout_fraction=HELDOUT_FRACTION)
    files = [(f.repo, f.path, f.language, f.text) for f in collection.train()]
    dataset = build_dataset(backend.fim, backend.tokenizer, files, recipe.seq_len, FinetuneMix(), recipe.seed,
                            epochs=max(1, math.ceil(recipe.epochs)))
    backend.close()
    return collection, dataset, backend.tokenizer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="werkzeug", help="PyPI project whose sdist is the repository")
    parser.add_argument("--version", default="3.1.3")
    parser.add_argument("--repo", type=Path, help="a local folder instead of a fetched package")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where fetched sdists are unpacked")
    parser.add_argument("--out", type=Path, help="adapter and report folder (default: a temporary one)")
    parser.add_argument("--steps", type=int, help=f"training steps (default {FULL.recipe.max_steps})")
    parser.add_argument("--seq-len", type=int, help=f"tokens per row (default {FULL.recipe.seq_len})")
    parser.add_argument("--batch", type=int, help=f"rows per step (default {FULL.recipe.batch})")
    parser.add_argument("--eval-tasks", type=int, help=f"held-out tasks per kind (default {FULL.eval_tasks})")
    parser.add_argument("--smoke", action="store_true",
                        help="a run of a minute or two (tiny recipe, 3 tasks a kind) that checks the script works")
    args = parser.parse_args()
    size = size_from(args)
    repo = args.repo.resolve() if args.repo else fetch(args.package, args.version, args.cache.expanduser())
    what = f"{repo}" if args.repo else f"{args.package} {args.version} ({repo.name}/ of its sdist)"
    started = time.perf_counter()

    with tempfile.TemporaryDirectory() as scratch:
        report = run(TrainOptions(paths=(repo,), base=EMBEDDED_MODEL, out=(args.out or Path(scratch)).resolve(),
                                  recipe=size.recipe, heldout_fraction=HELDOUT_FRACTION, eval_tasks=size.eval_tasks,
                                  loss_windows=size.loss_windows, register=False))
    collection, dataset, tokenizer = training_data(repo, size.recipe)
    packed = packed_throughput(dataset.rows, size.recipe, size)
    padded = padded_throughput(dataset.samples, tokenizer, size.recipe, size)

    recipe, training, lengths = size.recipe, report["training"], [len(s) for s in dataset.samples]
    counts = collection.counts()
    print(f"\ndevice: {describe_machine()}"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print(f"repository: {what}: {counts['train'] + counts['heldout']} files kept ({counts['train']} train, "
          f"{counts['heldout']} held out), {sum(f.text.count(chr(10)) for f in collection.files):,} lines")
    print(f"recipe: LoRA r={recipe.rank} alpha={recipe.alpha} all-linear, seq_len {recipe.seq_len}, batch "
          f"{recipe.batch}, lr {recipe.lr}; {training['steps']} steps, {training['tokens']:,} tokens in "
          f"{training['seconds']:.0f} s; {size.eval_tasks} held-out tasks per kind, adapter "
          f"{'kept' if report['kept'] else 'not kept'}\n")
    print(quality_table(report["evaluation"]))
    print(f"\nsamples: {len(lengths)}, {np.mean(lengths):.0f} tokens on average, "
          f"{sum(n > recipe.seq_len for n in lengths)} longer than a row (cut in the padded layout)\n")
    print(throughput_table(packed, padded, size.throughput_steps))
    print(f"\nwhole benchmark: {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
