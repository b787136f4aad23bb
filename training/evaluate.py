"""Held-out evaluation of a code model against two baselines, in one run.

Tasks, drawn with a fixed seed from files that training never saw:
- next line: the text up to a line's indentation is given; predict the rest of the line;
- FIM line span: a line is cut at a random column; with the prefix and the suffix
  given, predict the rest of the line (the server's most common request);
- per-token loss: left-to-right negative log-likelihood of the held-out text.

Baselines: a 4-gram Kneser-Ney model on the same corpus and tokenizer (it sees only
the prefix), and "copy the most similar earlier line of the file". The model runs
through the server's own backend (`LocalBackend`), greedy, one line at most.

Every system gets the same input: the text that fits the model's prompt (the last
PREFIX_TOKENS of the prefix, the first SUFFIX_TOKENS of the suffix), as the server
would send it. The copy baseline is also scored on the whole file before the cursor,
a row of its own, so the table shows what a wider view is worth.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from codegen_lsp.backends.base import GenerationRequest, StopFlag
from codegen_lsp.backends.local import LocalBackend
from codegen_lsp.prompts.fim import FIM_FILE, split_for_healing

from .metrics import edit_similarity, most_similar_line_completion
from .ngram import KneserNey

PREFIX_TOKENS, SUFFIX_TOKENS, NEW_TOKENS = 640, 256, 48


@dataclass(frozen=True)
class Task:
    kind: str     # "next-line" | "fim-line"
    name: str     # held-out file
    prefix: str
    suffix: str
    target: str   # the rest of the line


def make_tasks(files: dict[str, str], count: int, kind: str, seed: int = 0) -> list[Task]:
    """`count` tasks from non-blank lines of the files, the same for a given seed."""
    rng = random.Random(f"{seed}-{kind}")
    names = sorted(files)
    tasks: list[Task] = []
    while len(tasks) < count:
        name = rng.choice(names)
        text = files[name]
        lines = text.split("\n")
        i = rng.randrange(1, max(2, len(lines)))
        line = lines[i] if i < len(lines) else ""
        body = line.rstrip()
        indent = len(line) - len(line.lstrip())
        if len(body) - indent < 2:
            continue
        column = indent if kind == "next-line" else rng.randrange(indent, len(body) - 1)
        start = sum(len(l) + 1 for l in lines[:i])
        suffix = "" if kind == "next-line" else text[start + len(line):]
        tasks.append(Task(kind, name, text[:start + column], suffix, body[column:]))
    return tasks


def clip(tokenizer, text: str, tokens: int, keep_end: bool) -> str:
    """At most `tokens` tokens of `text`, from its end or its start."""
    starts = [s for s, _ in tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]
    if len(starts) <= tokens:
        return text
    return text[starts[-tokens]:] if keep_end else text[:starts[tokens]]


def windowed(tokenizer, tasks: list[Task]) -> list[Task]:
    """The tasks as the model sees them: the prefix's end and the suffix's start that fit its prompt."""
    return [Task(t.kind, t.name, clip(tokenizer, t.prefix, PREFIX_TOKENS, keep_end=True),
                 clip(tokenizer, t.suffix, SUFFIX_TOKENS, keep_end=False), t.target) for t in tasks]


def first_line(text: str) -> str:
    return text.split("\n", 1)[0].rstrip()


def model_answers(backend: LocalBackend, tasks: list[Task], order: str, heal: bool = True) -> list[str]:
    """Greedy single-line answers to `windowed` tasks; `heal` as the server's completion.tokenHealing."""
    async def run() -> list[str]:
        out = []
        for task in tqdm(tasks, desc=f"model {tasks[0].kind} {order if tasks[0].suffix else ''}".strip(), leave=False):
            prefix, healed = split_for_healing(task.prefix, backend.token_starts) if heal else (task.prefix, "")
            if task.kind == "next-line" and order == "l2r":
                prompt = prefix
            else:
                prompt = backend.fim.prompt(prefix, task.suffix, order)
            request = GenerationRequest(prompt, NEW_TOKENS, single_line=True, heal=healed)
            gen = await backend.generate(request, StopFlag())
            out.append(first_line(gen.text))
        return out
    return asyncio.run(run())


def ngram_answers(ngram: KneserNey, tokenizer, tasks: list[Task]) -> list[str]:
    out = []
    for task in tqdm(tasks, desc=f"4-gram {tasks[0].kind}", leave=False):
        history = tokenizer(clip(tokenizer, task.prefix, 16, keep_end=True), add_special_tokens=False)["input_ids"]
        new: list[int] = []
        text = ""
        while len(new) < NEW_TOKENS and "\n" not in text:
            new.append(ngram.next_token(history + new))
            text = tokenizer.decode(new)
        out.append(first_line(text))
    return out


def score(answers: list[str], tasks: list[Task]) -> dict[str, float]:
    exact = [a.strip() == t.target.strip() for a, t in zip(answers, tasks)]
    similar = [edit_similarity(a.strip(), t.target.strip()) for a, t in zip(answers, tasks)]
    return {"exact_match": float(np.mean(exact)), "edit_similarity": float(np.mean(similar))}


def per_token_losses(backend: LocalBackend, ngram: KneserNey, stream: np.ndarray, window: int,
                     windows: int) -> dict[str, float]:
    """Both models' mean loss on the same targets: every token after the first `order-1` of a window."""
    skip = ngram.order - 1
    model_nll, ngram_nll = [], []
    with torch.no_grad():
        count = min(windows, len(stream) // window)
        # Windows spread evenly over the whole held-out stream, not just its first files.
        for start in np.linspace(0, len(stream) - window, count).astype(int) if count else []:
            ids = stream[start:start + window].astype(np.int64)
            logits = backend.model(input_ids=torch.from_numpy(ids)[None]).logits[0].float()
            nll = torch.nn.functional.cross_entropy(logits[:-1], torch.from_numpy(ids[1:]), reduction="none")
            model_nll.append(nll[skip - 1:].numpy())
            ngram_nll.append(-np.log(ngram.probabilities(
                np.lib.stride_tricks.sliding_window_view(ids[:-1], skip), ids[skip:])))
    return {"model": float(np.concatenate(model_nll).mean()), "4-gram": float(np.concatenate(ngram_nll).mean()),
            "tokens": int(sum(len(x) for x in model_nll))}


def token_stream(tokenizer, files: dict[str, str]) -> np.ndarray:
    """The files' tokens, each file followed by the end-of-text id, in name order."""
    names = sorted(files)
    ids: list[np.ndarray] = []
    for start in range(0, len(names), 256):
        texts = [files[n] for n in names[start:start + 256]]
        for seq in tokenizer(texts, add_special_tokens=False)["input_ids"]:
            ids.append(np.asarray(seq + [tokenizer.eos_token_id], dtype=np.int64))
    return np.concatenate(ids)


def evaluate_model(model_dir: Path, work: Path, tasks_per_kind: int = 600, loss_windows: int = 48,
                   seed: int = 0) -> dict:
    """Run every task for the model and both baselines; write `evaluation.json` beside the model."""
    from . import corpus
    from .pretrain import read_split

    manifest = corpus.read_manifest(work / "manifest.jsonl")
    heldout, train = read_split(work, manifest, "heldout"), read_split(work, manifest, "train")
    backend = LocalBackend(model_dir, dtype="float32")
    tokenizer = backend.tokenizer
    print(f"evaluate: 4-gram Kneser-Ney on {len(train)} training files", flush=True)
    ngram = KneserNey(token_stream(tokenizer, train), len(tokenizer), order=4)
    results: dict = {"heldout_files": len(heldout), "tasks_per_kind": tasks_per_kind, "seed": seed}
    for kind in ("next-line", "fim-line"):
        whole = make_tasks(heldout, tasks_per_kind, kind, seed)
        tasks = windowed(tokenizer, whole)
        rows = {"copy earlier line": score([most_similar_line_completion(t.prefix) for t in tasks], tasks),
                "copy earlier line (whole file)": score([most_similar_line_completion(t.prefix) for t in whole], whole),
                "4-gram": score(ngram_answers(ngram, tokenizer, tasks), tasks)}
        for order in (("l2r",) if kind == "next-line" else ("psm", "spm")):
            label = "model" if kind == "next-line" else f"model ({order.upper()})"
            rows[label] = score(model_answers(backend, tasks, order), tasks)
        results[kind] = rows
    window = backend.context_window
    results["loss"] = per_token_losses(backend, ngram, token_stream(tokenizer, heldout), window, loss_windows)
    backend.close()
    (Path(model_dir) / "evaluation.json").write_text(json.dumps(results, indent=1))
    declare_order(Path(model_dir), results)
    print(markdown_table(results))
    return results


def declare_order(model_dir: Path, results: dict) -> str:
    """Write the FIM order that filled held-out lines best as the model's default (`fim.json`)."""
    rows = results["fim-line"]
    order = max(("psm", "spm"), key=lambda o: (rows[f"model ({o.upper()})"]["edit_similarity"], o == "psm"))
    (model_dir / FIM_FILE).write_text(json.dumps({
        "order": order, "why": "the order with the higher edit similarity on held-out FIM lines "
                               "(evaluation.json)"}, indent=1))
    return order


def markdown_table(results: dict) -> str:
    """The card's table: one row per system, one column per metric.

    Next-line prompts are left to right (no suffix), so both model rows share them.
    """
    models = [k for k in results["fim-line"] if k.startswith("model")]
    head = ("| system | next line EM | next line ES | FIM line EM | FIM line ES | loss (nats/token) |\n"
            "|---|---|---|---|---|---|")
    rows = []
    baselines = [k for k in results["fim-line"] if not k.startswith("model")]
    for system in [*baselines, *models]:
        next_line = results["next-line"]["model" if system in models else system]
        fim_line = results["fim-line"][system]
        loss = results["loss"].get("model" if system in models else system)
        cells = [f"{next_line['exact_match']:.1%}", f"{next_line['edit_similarity']:.3f}",
                 f"{fim_line['exact_match']:.1%}", f"{fim_line['edit_similarity']:.3f}",
                 f"{loss:.3f}" if loss is not None else "-"]
        rows.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join([head, *rows])
