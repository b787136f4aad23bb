"""A peft LoRA adapter on the local backend: loaded from its folder, part of the cache identity."""

from __future__ import annotations

import asyncio

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from codegen_lsp.backends.base import BackendError, GenerationRequest, StopFlag
from codegen_lsp.backends.local import LocalBackend


def save_adapter(model_dir, out, scale: float) -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.fill_(scale)  # B = 0 leaves the model unchanged; anything else changes it
    peft_model.save_pretrained(out)


def generate(backend: LocalBackend, prompt: str) -> str:
    request = GenerationRequest(prompt=prompt, max_new_tokens=12)
    return asyncio.run(backend.generate(request, StopFlag())).text


def test_a_neutral_adapter_changes_identity_but_not_output(fitted_model, tmp_path):
    save_adapter(fitted_model, tmp_path / "lora", scale=0.0)
    base = LocalBackend(fitted_model, device="cpu")
    tuned = LocalBackend(fitted_model, device="cpu", adapter=str(tmp_path / "lora"))
    assert (tmp_path / "lora" / "adapter_model.safetensors").is_file()
    assert base.adapter_hash == "" and len(tuned.adapter_hash) == 16
    assert tuned.model_id == base.model_id
    prompt = base.fim.prompt("def add(a, b):\n", "\n\n\nclass Point:\n")
    assert generate(tuned, prompt) == generate(base, prompt)


def test_a_trained_adapter_changes_the_output_and_its_hash(fitted_model, tmp_path):
    save_adapter(fitted_model, tmp_path / "zero", scale=0.0)
    save_adapter(fitted_model, tmp_path / "strong", scale=0.5)
    zero = LocalBackend(fitted_model, device="cpu", adapter=str(tmp_path / "zero"))
    strong = LocalBackend(fitted_model, device="cpu", adapter=str(tmp_path / "strong"))
    assert zero.adapter_hash != strong.adapter_hash
    prompt = zero.fim.prompt("def add(a, b):\n", "\n\n\nclass Point:\n")
    assert generate(strong, prompt) != generate(zero, prompt)


def test_a_missing_adapter_is_a_clear_error(fitted_model, tmp_path):
    with pytest.raises(BackendError, match="no peft adapter"):
        LocalBackend(fitted_model, device="cpu", adapter=str(tmp_path / "nowhere"))
