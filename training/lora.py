"""Train a LoRA adapter (peft) on packed token rows, through accelerate.

One loop serves a laptop CPU and a multi-GPU box: `accelerate launch -m codegen_lsp
train ...` shards the rows across processes and averages gradients, with no code
change; a plain `codegen-lsp train` is one process. Checkpoints hold the adapter,
the optimizer and the position in the data, so `--resume` continues a stopped run
where it was (Ctrl-C saves one before leaving).
"""

from __future__ import annotations

import json
import math
import pickle
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

# Called with (optimizer steps done, steps in all); returns True to stop (the server's cancel).
Progress = Callable[[int, int], bool]


@dataclass(frozen=True)
class LoraRecipe:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # "all-linear": every linear layer but the output head, i.e. the attention and MLP
    # projections of any architecture.
    target_modules: tuple[str, ...] = ("all-linear",)
    seq_len: int = 1024
    batch: int = 8               # rows per micro-batch (per process)
    grad_accum: int = 1          # micro-batches per optimizer step
    epochs: float = 3.0
    max_steps: int = 0           # optimizer steps; 0: as many as `epochs` take
    lr: float = 1e-3             # LoRA takes higher rates than full fine-tuning
    min_lr_ratio: float = 0.1    # cosine decay floor, as a share of lr
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    precision: str = "auto"      # auto (bf16 autocast where the GPU has it) | bf16 | fp32
    checkpoint_every: int = 50   # optimizer steps
    seed: int = 0

    def steps_for(self, rows: int, processes: int = 1) -> int:
        if self.max_steps:
            return self.max_steps
        per_step = self.batch * self.grad_accum * processes
        return max(1, math.ceil(self.epochs * rows / per_step))


def recipe_problems(recipe: LoraRecipe, model) -> list[str]:
    """Every setting that cannot work with this base model, each saying what to change."""
    problems = []
    if recipe.rank < 1:
        problems.append(f"--rank must be at least 1 (got {recipe.rank})")
    if recipe.alpha <= 0:
        problems.append(f"--alpha must be positive (got {recipe.alpha})")
    if not 0 <= recipe.dropout < 1:
        problems.append(f"--dropout must be in [0, 1) (got {recipe.dropout})")
    if recipe.batch < 1 or recipe.grad_accum < 1:
        problems.append("--batch and --grad-accum must be at least 1")
    if not recipe.lr > 0:
        problems.append(f"--lr must be positive (got {recipe.lr})")
    if recipe.epochs <= 0 and not recipe.max_steps:
        problems.append("--epochs must be positive (or give --steps)")
    window = getattr(model.config, "max_position_embeddings", None)
    if recipe.seq_len < 16 or (window and recipe.seq_len > window):
        problems.append(f"--seq-len must be between 16 and the base model's context window ({window}); "
                        f"got {recipe.seq_len}")
    if recipe.precision not in ("auto", "bf16", "fp32"):
        problems.append(f"--precision must be auto, bf16 or fp32 (got {recipe.precision!r})")
    elif recipe.precision == "bf16" and not bf16_available():
        problems.append("--precision bf16 needs a GPU with bf16 support; use auto or fp32 here")
    if recipe.target_modules != ("all-linear",):
        present = linear_layer_names(model)
        missing = [m for m in recipe.target_modules if m not in present]
        if missing:
            problems.append(f"--target-modules {', '.join(missing)}: not in the base model; its linear layers "
                            f"are {', '.join(sorted(present))} (or use all-linear)")
    return problems


def linear_layer_names(model) -> set[str]:
    """Last name parts of the model's linear layers, without the output head."""
    head = model.get_output_embeddings()
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and module is not head}


def bf16_available() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def mixed_precision(recipe: LoraRecipe) -> str:
    if recipe.precision == "bf16" or (recipe.precision == "auto" and bf16_available()):
        return "bf16"
    return "no"


def learning_rate_factor(recipe: LoraRecipe, step: int, total: int) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio`: a factor on `recipe.lr`."""
    warmup = max(1, int(recipe.warmup_ratio * total))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return recipe.min_lr_ratio + 0.5 * (1 - recipe.min_lr_ratio) * (1 + math.cos(math.pi * progress))


def lora_model(base, recipe: LoraRecipe):
    from peft import LoraConfig, get_peft_model

    # Short layer names (q_proj, up_proj...), the way vLLM's --enable-lora and most adapters name
    # them, rather than peft's expansion of "all-linear" into every layer's full path.
    targets = sorted(linear_layer_names(base)) if recipe.target_modules == ("all-linear",) else list(recipe.target_modules)
    config = LoraConfig(r=recipe.rank, lora_alpha=recipe.alpha, lora_dropout=recipe.dropout,
                        target_modules=targets, task_type="CAUSAL_LM", bias="none")
    return get_peft_model(base, config)


@dataclass
class TrainResult:
    model: object                   # the peft model, unwrapped
    history: list[dict]
    steps: int
    tokens: int                     # tokens trained on in this run (all processes)
    seconds: float
    stopped: bool = False           # cancelled before the last step (a checkpoint holds the run)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)


def train_adapter(model, rows: np.ndarray, recipe: LoraRecipe, work: Path, steps: int | None = None,
                  resume: bool = False, progress: Progress | None = None, show_bar: bool = True) -> TrainResult:
    """Train the LoRA layers of `model` (a peft model) on `rows` ([n, seq_len] token ids) for
    `steps` optimizer steps (default: the recipe's epochs over the rows)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    accelerator = Accelerator(gradient_accumulation_steps=recipe.grad_accum, mixed_precision=mixed_precision(recipe),
                              cpu=not torch.cuda.is_available())
    set_seed(recipe.seed)
    data = torch.utils.data.TensorDataset(torch.from_numpy(rows.astype(np.int64)))
    loader = torch.utils.data.DataLoader(data, batch_size=recipe.batch, shuffle=True,
                                         generator=torch.Generator().manual_seed(recipe.seed))
    total = steps or recipe.steps_for(len(rows), accelerator.num_processes)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=recipe.lr, weight_decay=recipe.weight_decay, betas=(0.9, 0.99))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: learning_rate_factor(recipe, s, total))
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    checkpoint = work / "checkpoint"
    step, history = _resume(accelerator, checkpoint, resume)
    tokens_per_step = recipe.batch * recipe.grad_accum * recipe.seq_len * accelerator.num_processes
    bar = tqdm(total=total * tokens_per_step, initial=step * tokens_per_step, desc="train", unit="tok",
               unit_scale=True, smoothing=0.1, disable=not (show_bar and accelerator.is_main_process))
    started, done_here, stopped = time.perf_counter(), 0, False
    model.train()
    try:
        while step < total and not stopped:
            batches_done = (step * recipe.grad_accum) % len(loader)  # within the epoch a resumed run stopped in
            batches = accelerator.skip_first_batches(loader, batches_done) if batches_done else loader
            for (batch,) in batches:
                with accelerator.accumulate(model):
                    loss = model(input_ids=batch, labels=batch).loss
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(trainable, recipe.grad_clip)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                if not accelerator.sync_gradients:
                    continue
                step += 1
                done_here += 1
                history.append({"step": step, "loss": round(loss.item(), 4), "lr": scheduler.get_last_lr()[0]})
                bar.update(tokens_per_step)
                bar.set_postfix(loss=history[-1]["loss"])
                if step % recipe.checkpoint_every == 0:
                    _save(accelerator, checkpoint, step, history)
                if progress is not None and progress(step, total):
                    stopped = True
                if step >= total or stopped:
                    break
    except KeyboardInterrupt:
        stopped = True
    finally:
        bar.close()
    if stopped:
        _save(accelerator, checkpoint, step, history)
    seconds = time.perf_counter() - started
    return TrainResult(accelerator.unwrap_model(model), history, step, done_here * tokens_per_step, seconds, stopped)


def _save(accelerator, folder: Path, step: int, history: list[dict]) -> None:
    accelerator.save_state(str(folder), safe_serialization=True)
    if accelerator.is_main_process:
        (folder / "progress.json").write_text(json.dumps({"step": step, "history": history}))


def _resume(accelerator, folder: Path, resume: bool) -> tuple[int, list[dict]]:
    if not (folder / "progress.json").is_file():
        return 0, []
    if not resume:
        raise SystemExit(f"{folder} holds a stopped run: pass --resume to continue it, or delete it to start over")
    try:  # accelerate reads it with torch.load(weights_only=True): a pickle that runs code is refused
        accelerator.load_state(str(folder))
    except (pickle.UnpicklingError, OSError, RuntimeError, ValueError, KeyError) as exc:
        raise SystemExit(f"cannot resume from {folder}: {exc}\nDelete it to start over.") from None
    state = json.loads((folder / "progress.json").read_text())
    accelerator.print(f"resuming at step {state['step']}")
    return state["step"], state["history"]


def recipe_json(recipe: LoraRecipe) -> dict:
    out = asdict(recipe)
    out["target_modules"] = list(recipe.target_modules)
    return out
