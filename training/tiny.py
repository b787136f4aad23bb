"""Tiny Llama-style models built from configs, for tests and benchmarks.

`build_tiny_model` trains a byte-level BPE tokenizer with the codegen FIM tokens,
makes a LlamaForCausalLM from a config and, when given text, fits it to that text
for a few hundred steps (FIM and left-to-right), so its completions are
predictable: the tests can then assert what ghost text appears.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from codegen_lsp.prompts.fim import CODEGEN, FimFormat


def build_tokenizer(texts: list[str], vocab_size: int = 1024, fim: FimFormat = CODEGEN) -> PreTrainedTokenizerFast:
    specials = list(fim.special_tokens)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=fim.end_of_text, pad_token=fim.end_of_text,
                                   additional_special_tokens=[t for t in specials if t != fim.end_of_text])


def build_tiny_model(out: Path, texts: list[str], fit_text: str | None = None, *, hidden: int = 64,
                     layers: int = 2, heads: int = 4, vocab_size: int = 1024, context: int = 4096,
                     steps: int = 300, seed: int = 0) -> Path:
    """Write a tokenizer and a LlamaForCausalLM (safetensors) to `out`; fit it to `fit_text` if given."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(texts + ([fit_text] if fit_text else []), vocab_size)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=context, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=None, pad_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    if fit_text:
        _fit(model, tokenizer, fit_text, steps, random.Random(seed))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def fim_samples(text: str, rng: random.Random, fim: FimFormat = CODEGEN) -> list[str]:
    """One FIM sample per hole: the rest of each line after a random column, and whole blocks."""
    lines = text.splitlines(keepends=True)
    samples = [text + fim.end_of_text]
    for i, line in enumerate(lines):
        column = rng.randrange(0, max(1, len(line.rstrip("\n"))))
        prefix = "".join(lines[:i]) + line[:column]
        end = line.rstrip("\n")
        middle = end[column:]
        suffix = line[len(end):] + "".join(lines[i + 1:])
        samples.append(fim.training_text(prefix, middle, suffix))
        block_end = min(len(lines), i + 1 + rng.randrange(1, 4))
        samples.append(fim.training_text("".join(lines[: i + 1]), "".join(lines[i + 1:block_end]),
                                         "".join(lines[block_end:])))
    return samples


def _fit(model: LlamaForCausalLM, tokenizer, text: str, steps: int, rng: random.Random) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    model.train()
    for _step in range(steps):
        batch = rng.sample(fim_samples(text, rng), k=8)
        encoded = tokenizer(batch, return_tensors="pt", padding=True)
        labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
        loss = model(**encoded, labels=labels).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()
