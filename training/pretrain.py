"""Pretrain the embedded default model: corpus -> tokenizer -> samples -> train -> export.

`codegen-lsp pretrain` runs every stage into a work folder and skips the stages
whose output is already there, so a run that stops (Ctrl-C, a crash, a reboot)
continues with `--resume` from its last checkpoint. The recipe's settings sit at
the top of this file; the exact recipe is saved beside the weights.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from codegen_lsp.prompts.fim import CODEGEN, neutralise

from . import corpus
from .samples import Mix
from .stream import build_stream
from .tiny import build_tokenizer


@dataclass(frozen=True)
class Recipe:
    # Model: a Llama (RMSNorm, SwiGLU, RoPE, grouped-query attention), tied embeddings.
    vocab_size: int = 8192          # BPE vocabulary; larger compresses code better but costs head compute
    hidden: int = 192               # model width: 2.5k tokens/s on 2 AVX2 cores (256 wide: 1.7k)
    layers: int = 6                 # transformer blocks
    heads: int = 6                  # attention heads (head size hidden/heads = 32)
    kv_heads: int = 2               # key/value heads: a third of the KV cache the server keeps per document
    intermediate: int = 512         # SwiGLU width
    seq_len: int = 1024             # training window, and so the model's context window
    # Optimisation.
    batch: int = 8                  # sequences per step: 8 x 1024 = 8k tokens
    steps: int = 1300               # 10.6M tokens: about 75 minutes on 2 CPU cores
    lr: float = 2e-3                # peak learning rate, high because the model is small
    min_lr: float = 2e-4            # cosine decay floor
    warmup: int = 100               # linear warm-up steps
    weight_decay: float = 0.1       # on matrices only, not on norms
    grad_clip: float = 1.0
    # "auto": bf16 autocast on GPUs; on CPUs bf16 weights only with native bf16 instructions
    # (AVX512-BF16, AMX): AVX2 emulates bf16 matmuls and runs ~20x slower than fp32.
    dtype: str = "auto"
    compile: bool = True            # torch.compile: a 30-60 s first step, then 1.4x the CPU throughput
    # Data.
    mix: Mix = field(default_factory=Mix)
    chars_per_token: float = 3.0    # sizes text chunks so one sample mostly fills one window
    tokenizer_chars: int = 30_000_000  # text the BPE is trained on
    # Bookkeeping.
    eval_every: int = 100           # steps between validation losses on held-out files
    eval_windows: int = 16          # validation windows (x seq_len tokens)
    checkpoint_every: int = 100     # steps between checkpoints
    seed: int = 0

    @property
    def tokens_per_step(self) -> int:
        return self.batch * self.seq_len


PRESETS = {
    "cpu": Recipe(),
    # One modern GPU: the largest model that ships within 40 MB in bf16 (17M parameters), on up
    # to four passes over the corpus (about 47M tokens a pass): repeated data helps little beyond
    # that. A few minutes on an H100-class GPU; `--minutes` fits the steps to a time budget.
    "gpu": Recipe(hidden=384, layers=9, heads=6, kv_heads=2, intermediate=1024, seq_len=2048, batch=32,
                  steps=2900, lr=1.5e-3, min_lr=1.5e-4, warmup=150, eval_every=250, checkpoint_every=250),
    # A quick end-to-end check of the whole recipe (tests and `--preset smoke`).
    "smoke": Recipe(vocab_size=512, hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128,
                    seq_len=256, batch=4, steps=12, warmup=2, eval_every=6, eval_windows=2,
                    checkpoint_every=5, compile=False, dtype="float32", tokenizer_chars=300_000),
}


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def precision(recipe: Recipe, device: torch.device) -> tuple[torch.dtype, bool]:
    """(parameter dtype, bf16 autocast on?) for this recipe on this device."""
    if recipe.dtype != "auto":
        return getattr(torch, recipe.dtype), False
    if device.type == "cuda":
        return torch.float32, torch.cuda.is_bf16_supported()
    return (torch.bfloat16 if cpu_has_native_bf16() else torch.float32), False


def use_compile(recipe: Recipe, device: torch.device) -> bool:
    # Inductor builds C++ kernels on the CPU; without a compiler it would fail at the first step.
    if recipe.compile and device.type == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
        print("torch.compile off: no C++ compiler found (install g++ for about 1.4x the speed)", flush=True)
        return False
    return recipe.compile


def default_preset() -> str:
    return "gpu" if torch.cuda.is_available() else "cpu"


# --- stages ---------------------------------------------------------------------------

def stage_corpus(work: Path, limit_files: int | None = None) -> list[dict]:
    path = work / "manifest.jsonl"
    if not path.exists():
        bar = tqdm(desc="corpus: files", unit="file")
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)
        files = corpus.build_manifest(workers=os.cpu_count() or 1, progress=progress, limit=limit_files)
        bar.close()
        corpus.write_manifest(files, path)
        (work / "corpus_summary.json").write_text(json.dumps(corpus.summarise(files), indent=1))
        # Where each file lives on this machine: needed to read it, kept out of the shipped manifest.
        (work / "paths.json").write_text(json.dumps({f.name: f.path for f in files if f.split != "dropped"}))
    return corpus.read_manifest(path)


def read_split(work: Path, manifest: list[dict], split: str) -> dict[str, str]:
    """name -> text of the files in `split`, special-token strings neutralised."""
    paths = json.loads((work / "paths.json").read_text())
    out = {}
    for row in manifest:
        if row["split"] == split:
            text = Path(paths[row["name"]]).read_text("utf-8")
            out[row["name"]] = neutralise(text, CODEGEN.special_tokens)
    return out


def stage_tokenizer(work: Path, recipe: Recipe, train: dict[str, str]):
    folder = work / "tokenizer"
    if not folder.exists():
        rng = random.Random(recipe.seed)
        names = sorted(train)
        rng.shuffle(names)
        texts, size = [], 0
        for name in names:
            if size >= recipe.tokenizer_chars:
                break
            texts.append(train[name])
            size += len(train[name])
        print(f"tokenizer: BPE with {recipe.vocab_size} tokens on {size / 1e6:.1f}M characters", flush=True)
        build_tokenizer(texts, recipe.vocab_size, CODEGEN).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)


def stage_data(work: Path, recipe: Recipe, tokenizer, files: dict[str, str], name: str, tokens: int,
               mix: Mix) -> np.ndarray:
    """A packed stream of at least `tokens` token ids, written once to `<name>.bin`."""
    path = work / f"{name}.bin"
    if not path.exists():
        ids = build_stream(tokenizer, files, tokens, mix, int(recipe.seq_len * recipe.chars_per_token),
                           seed=f"{recipe.seed}-{name}", workers=os.cpu_count() or 1)
        tmp = path.with_suffix(".tmp")
        ids.tofile(tmp)
        tmp.replace(path)
    stream = np.memmap(path, dtype=np.uint16, mode="r")
    if len(stream) < tokens:
        print(f"note: {path} holds {len(stream)} tokens, fewer than {tokens}: batches will repeat; "
              "delete it to draw more samples", flush=True)
    return stream


# --- the model and its training loop -------------------------------------------------

def model_config(recipe: Recipe, tokenizer) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=recipe.hidden, intermediate_size=recipe.intermediate,
        num_hidden_layers=recipe.layers, num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.kv_heads, max_position_embeddings=recipe.seq_len,
        rope_theta=10_000.0, tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id, bos_token_id=None)


def learning_rate(recipe: Recipe, step: int) -> float:
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return recipe.min_lr + 0.5 * (recipe.lr - recipe.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.AdamW:
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": recipe.weight_decay}, {"params": others, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=(0.9, 0.95), eps=1e-8)


def window_batch(stream: np.ndarray, recipe: Recipe, step: int) -> torch.Tensor:
    """The step's batch: consecutive windows of the packed stream (already shuffled)."""
    n = recipe.tokens_per_step
    start = (step * n) % max(1, len(stream) - n)
    return torch.from_numpy(stream[start:start + n].astype(np.int64)).view(recipe.batch, recipe.seq_len)


@torch.no_grad()
def validation_loss(model, stream: np.ndarray, recipe: Recipe) -> float:
    model.eval()
    losses = []
    for i in range(min(recipe.eval_windows, len(stream) // recipe.seq_len)):
        window = torch.from_numpy(stream[i * recipe.seq_len:(i + 1) * recipe.seq_len].astype(np.int64))[None]
        window = window.to(next(model.parameters()).device)
        losses.append(model(input_ids=window, labels=window).loss.float().item())
    model.train()
    return sum(losses) / max(1, len(losses))


def save_checkpoint(folder: Path, model, optimizer, step: int, history: list[dict]) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"},
              tmp / "model.safetensors")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "history": history}))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)


def load_checkpoint(folder: Path, model, optimizer) -> tuple[int, list[dict]]:
    model.load_state_dict(load_file(folder / "model.safetensors"), strict=False)
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    state = json.loads((folder / "state.json").read_text())
    return state["step"], state["history"]


# Steps timed before a time budget fixes the run's length: after compilation, inside the
# warm-up, whose learning rates do not depend on the total number of steps.
TIMED_FROM, TIMED_TO = 3, 23


def fit_steps(recipe: Recipe, step: int, seconds_per_step: float, seconds_left: float) -> Recipe:
    """The recipe with as many steps as fit in the time left (never fewer than the warm-up)."""
    # Validation passes and checkpoints take a few percent on top of the timed steps.
    fitted = step + int(0.95 * seconds_left / seconds_per_step)
    return replace(recipe, steps=max(recipe.warmup + 1, min(recipe.steps, fitted)))


def train(work: Path, recipe: Recipe, tokenizer, stream: np.ndarray, val: np.ndarray, resume: bool,
          minutes: float | None = None):
    """Train; with `minutes`, the step count is fitted to that much wall-clock time (see TIMED_FROM)."""
    torch.manual_seed(recipe.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    dtype, autocast = precision(recipe, device)
    model = LlamaForCausalLM(model_config(recipe, tokenizer)).to(device=device, dtype=dtype)
    optimizer = make_optimizer(model, recipe)
    checkpoint = work / "checkpoint"
    step, history = 0, []
    if checkpoint.exists():
        if not resume:
            raise SystemExit(f"{checkpoint} exists: pass --resume to continue it, or delete it to start over")
        step, history = load_checkpoint(checkpoint, model, optimizer)
        print(f"resuming at step {step}/{recipe.steps}", flush=True)
    # A compiler failure on an unusual platform falls back to eager mode instead of ending the run.
    torch._dynamo.config.suppress_errors = True
    forward = torch.compile(model) if use_compile(recipe, device) else model
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params / 1e6:.1f}M parameters, {recipe.steps} steps of {recipe.tokens_per_step} tokens "
          f"on {device.type} in {dtype}{' with bf16 autocast' if autocast else ''}", flush=True)
    budget_ends = time.perf_counter() + minutes * 60 if minutes else None
    timed_from = None
    bar = tqdm(total=recipe.steps * recipe.tokens_per_step, initial=step * recipe.tokens_per_step,
               desc="train", unit="tok", unit_scale=True, smoothing=0.05)
    model.train()
    try:
        while step < recipe.steps:
            record = train_step(model, forward, optimizer, stream, recipe, step, device, autocast)
            step += 1
            if budget_ends and step == TIMED_FROM:
                timed_from = time.perf_counter()
            if budget_ends and step == TIMED_TO and step < recipe.warmup:
                per_step = (time.perf_counter() - timed_from) / (TIMED_TO - TIMED_FROM)
                recipe = fit_steps(recipe, step, per_step, budget_ends - time.perf_counter())
                (work / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1))
                bar.total = recipe.steps * recipe.tokens_per_step
                print(f"\n{per_step * 1000:.0f} ms per step: {recipe.steps} steps fit in {minutes:g} minutes", flush=True)
            if step % recipe.eval_every == 0 or step == recipe.steps:
                record["val_loss"] = round(validation_loss(model, val, recipe), 4)
            history.append(record)
            bar.update(recipe.tokens_per_step)
            bar.set_postfix(loss=record["loss"], val=record.get("val_loss", "-"))
            if step % recipe.checkpoint_every == 0 or step == recipe.steps:
                save_checkpoint(checkpoint, model, optimizer, step, history)
    except KeyboardInterrupt:
        save_checkpoint(checkpoint, model, optimizer, step, history)
        raise SystemExit(f"stopped at step {step}; `codegen-lsp pretrain --resume` continues from here")
    finally:
        bar.close()
    return model, history, recipe


def train_step(model, forward, optimizer, stream: np.ndarray, recipe: Recipe, step: int, device: torch.device,
               autocast: bool) -> dict:
    started = time.perf_counter()
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(recipe, step)
    batch = window_batch(stream, recipe, step).to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        loss = forward(input_ids=batch, labels=batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"step": step + 1, "loss": round(loss.item(), 4), "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - started, 3)}


def export(out: Path, model, tokenizer, recipe: Recipe, history: list[dict], work: Path) -> Path:
    """Weights (safetensors), tokenizer, recipe, training log and corpus manifest in one folder."""
    out.mkdir(parents=True, exist_ok=True)
    # bf16 halves the shipped size; the server upcasts to fp32 on CPUs without native bf16.
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    seconds = sum(r["seconds"] for r in history)
    (out / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1))
    (out / "training.json").write_text(json.dumps({
        "steps": len(history), "tokens_seen": len(history) * recipe.tokens_per_step,
        "train_seconds": round(seconds), "tokens_per_second": round(len(history) * recipe.tokens_per_step / max(seconds, 1e-9)),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU x{torch.get_num_threads()}",
        "final_val_loss": next((r["val_loss"] for r in reversed(history) if "val_loss" in r), None),
        "history": history[:: max(1, len(history) // 200)]}, indent=1))
    shutil.copy(work / "manifest.jsonl", out / "corpus_manifest.jsonl")
    shutil.copy(work / "corpus_summary.json", out / "corpus_summary.json")
    return out


def pretrain(work: Path, out: Path, recipe: Recipe, resume: bool = False, limit_files: int | None = None,
             minutes: float | None = None) -> Path:
    """Every stage into `work`, the finished model into `out`.

    `minutes` bounds the training loop: the step count is fitted to it after the
    first timed steps, and the data is drawn for the recipe's full step count.
    """
    work.mkdir(parents=True, exist_ok=True)
    (work / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1))
    manifest = stage_corpus(work, limit_files)
    train_files = read_split(work, manifest, "train")
    heldout_files = read_split(work, manifest, "heldout")
    tokenizer = stage_tokenizer(work, recipe, train_files)
    stream = stage_data(work, recipe, tokenizer, train_files, "train", recipe.steps * recipe.tokens_per_step + 1,
                        recipe.mix)
    # Validation is left to right on held-out files: the per-token loss the card reports.
    val = stage_data(work, recipe, tokenizer, heldout_files, "val", recipe.eval_windows * recipe.seq_len,
                     replace(recipe.mix, fim_rate=0.0, repo_rate=0.0))
    model, history, recipe = train(work, recipe, tokenizer, stream, val, resume, minutes)
    return export(out, model, tokenizer, recipe, history, work)
