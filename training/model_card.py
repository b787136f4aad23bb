"""MODEL_CARD.md for a pretrained model folder, written from the files the run left there.

Every figure on the card comes from a file beside the weights (recipe.json,
training.json, corpus_summary.json, evaluation.json, footprint.json), so the card
cannot drift from what was measured.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from codegen_lsp.prompts.fim import CODEGEN, FIM_FILE

from .corpus import HELDOUT_FRACTION
from .evaluate import PREFIX_TOKENS, SUFFIX_TOKENS, markdown_table


def _load(folder: Path, name: str) -> dict:
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else {}


def write_card(folder: Path) -> Path:
    recipe, training = _load(folder, "recipe.json"), _load(folder, "training.json")
    data, evaluation = _load(folder, "corpus_summary.json"), _load(folder, "evaluation.json")
    footprint, config = _load(folder, "footprint.json"), _load(folder, "config.json")
    weights = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    parts = [
        "# codegen-lsp default model\n",
        "A small Llama-style code model that codegen-lsp trains from scratch and ships, so completions work "
        "offline on a CPU right after installation. It was trained on Python only, on permissively licensed "
        "source that was already on the build machine. Expect short, local completions: it closes lines, "
        "repeats the patterns of the file and the standard library, and fills small holes. For real work, "
        "point `codegen.model.path` at a larger code model such as Qwen2.5-Coder, StarCoder2 or DeepSeek-Coder.\n",
        "## Model\n",
        f"- Architecture: `LlamaForCausalLM` with {config.get('num_hidden_layers')} layers, width "
        f"{config.get('hidden_size')}, {config.get('num_attention_heads')} attention heads and "
        f"{config.get('num_key_value_heads')} key/value heads, SwiGLU {config.get('intermediate_size')}, "
        f"tied embeddings. Parameters: {_parameters(folder) / 1e6:.1f}M.",
        f"- Context: {config.get('max_position_embeddings')} tokens. Weights: {config.get('dtype', config.get('torch_dtype'))} safetensors, "
        f"{weights / 2**20:.1f} MiB.",
        f"- Tokenizer: byte-level BPE with {config.get('vocab_size')} tokens, trained on the corpus.",
        f"- FIM format `{CODEGEN.name}` (in `codegen_lsp/prompts/fim.py`, shared with training): "
        f"`{CODEGEN.prefix}` / `{CODEGEN.suffix}` / `{CODEGEN.middle}`, ending with `{CODEGEN.end_of_text}`. "
        f"Both PSM and SPM orders were trained; {_order_sentence(folder)} Repository-level prompts put other files first, each after "
        f"`{CODEGEN.repo_name}<name>` (first file only) and `{CODEGEN.file_separator}<path>`.\n",
        "## Training\n",
        _training_section(recipe, training),
        "## Data\n",
        _data_section(data),
        "## Evaluation\n",
        _evaluation_section(evaluation),
        "## Footprint on CPU\n",
        _footprint_section(footprint),
        "## Reproduce\n",
        "```\ncodegen-lsp pretrain --preset gpu --work pretrain-work --out codegen_lsp/models/default\n"
        "python benchmarks/embedded_model.py --write\n```\n"
        "The corpus is whatever is installed beside codegen-lsp, so another environment gives a slightly "
        "different corpus. Building the samples takes about 40 s on 16 cores (`training/stream.py` runs one "
        "process per core), training about 3 minutes on one H200; `--minutes N` fits the step count to a time "
        "budget, `--resume` continues an interrupted run from its last checkpoint. Without a GPU, "
        "`--preset cpu` trains a 3.9M-parameter model on 10.6M tokens in about 75 minutes on 2 cores; "
        "it does not beat the copy baseline on next lines.\n",
    ]
    card = folder / "MODEL_CARD.md"
    card.write_text("\n".join(parts))
    return card


def _order_sentence(folder: Path) -> str:
    declared = _load(folder, FIM_FILE).get("order")
    if not declared:
        return "the server asks in the format's default order."
    return (f"the server asks in {declared.upper()}, the order that filled held-out lines best "
            f"(declared in `{FIM_FILE}`).")


def _parameters(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for path in folder.glob("*.safetensors"):
        with safe_open(path, "pt") as weights:
            total += sum(math.prod(weights.get_slice(k).get_shape()) for k in weights.keys())
    return total


def _training_section(recipe: dict, training: dict) -> str:
    if not training:
        return "(no training record)\n"
    mix = recipe.get("mix", {})
    seconds = training.get("train_seconds", 0)
    took = f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} minutes"
    return (
        f"- {training.get('steps')} steps of {recipe.get('batch')} x {recipe.get('seq_len')} tokens: "
        f"{training.get('tokens_seen', 0) / 1e6:.1f}M tokens seen in {took} on {training.get('device')}, "
        f"{training.get('tokens_per_second', 0) / 1e3:,.0f}k tokens/s ({_precision(training)}, "
        f"torch.compile {'on' if recipe.get('compile') else 'off'}); weights exported in bf16.\n"
        f"- AdamW (0.9, 0.95), peak learning rate {recipe.get('lr')} after {recipe.get('warmup')} warm-up steps, "
        f"cosine decay to {recipe.get('min_lr')}, weight decay {recipe.get('weight_decay')}, gradient clip "
        f"{recipe.get('grad_clip')}.\n"
        f"- Samples: FIM rate {mix.get('fim_rate')} (SPM share {mix.get('spm_rate')}; holes from a cursor "
        f"{mix.get('cursor_rate')}, random spans otherwise), the rest left to right; "
        f"{mix.get('repo_rate')} of samples are repository-level (other files of the same package, imported "
        f"modules first, before the target file).\n"
        f"- Final validation loss (held-out files, left to right): {training.get('final_val_loss')} nats/token.\n")


def _precision(training: dict) -> str:
    device = str(training.get("device", ""))
    return "fp32" if device.startswith("CPU") else "bf16 autocast over fp32 weights"


def _data_section(data: dict) -> str:
    if not data:
        return "(no corpus summary)\n"
    dropped = ", ".join(f"{reason} {n}" for reason, n in data.get("dropped", {}).items())
    rows = "\n".join(f"| {name} | {p['version']} | {p['licence']} | {p['files']} |"
                     for name, p in data.get("packages", {}).items())
    refused = ", ".join(f"{name} ({lic})" for name, lic in data.get("packages_dropped_for_licence", {}).items())
    return (
        f"Python source from the standard library and the packages installed in the project's environment "
        f"(pinned in `requirements.txt`): {data.get('candidates')} candidate files; "
        f"{data.get('train_files')} for training ({data.get('train_bytes', 0) / 1e6:.0f} MB) and "
        f"{data.get('heldout_files')} held out ({data.get('heldout_bytes', 0) / 1e6:.1f} MB). "
        f"Dropped: {dropped}. Packages left out for their licence: {refused or 'none'}.\n\n"
        f"Held-out files are fixed by a rule: a file is held out when the BLAKE2b hash of "
        f"`<package>/<path>` falls below {HELDOUT_FRACTION:g} of the hash range. `corpus_manifest.jsonl` "
        f"lists every file with its package, version, licence and split (train, heldout, dropped and why).\n\n"
        f"| package | version | licence | files |\n|---|---|---|---|\n{rows}\n")


def _evaluation_section(evaluation: dict) -> str:
    if not evaluation:
        return "(not evaluated yet)\n"
    return (
        f"{evaluation['tasks_per_kind']} tasks of each kind from the {evaluation['heldout_files']} held-out files "
        f"(seed {evaluation['seed']}), produced by `training/evaluate.py` in one run. EM: exact match of the "
        f"rest of the line; ES: edit similarity (1 - Levenshtein / longer length); loss on "
        f"{evaluation['loss']['tokens']} held-out tokens, the same targets for both models. The 4-gram "
        f"(interpolated Kneser-Ney, same corpus and tokenizer) and the copy baseline see only the prefix; "
        f"the copy baseline finishes the line from the earlier line that starts like it and follows the most "
        f"similar line. Every system gets the text that fits the model's prompt (the last "
        f"{PREFIX_TOKENS} tokens before the cursor, the first {SUFFIX_TOKENS} after it); the copy baseline's "
        f"\"whole file\" row may copy from anywhere above the cursor.\n\n{markdown_table(evaluation)}\n")


def _footprint_section(footprint: dict) -> str:
    if not footprint:
        return "(not measured yet: `python benchmarks/embedded_model.py --write`)\n"
    return "\n".join(f"- {key}: {value}" for key, value in footprint.items()) + "\n"
