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


def generate_with(backend: LocalBackend, prompt: str, adapter: str, session: str | None = None) -> str:
    request = GenerationRequest(prompt=prompt, max_new_tokens=12, adapter=adapter, session=session)
    return asyncio.run(backend.generate(request, StopFlag())).text


def test_workspace_adapters_switch_per_request_on_one_base_model(fitted_model, tmp_path):
    save_adapter(fitted_model, tmp_path / "a", scale=0.5)
    save_adapter(fitted_model, tmp_path / "b", scale=-0.5)
    reference_a = LocalBackend(fitted_model, device="cpu", adapter=str(tmp_path / "a"))
    reference_b = LocalBackend(fitted_model, device="cpu", adapter=str(tmp_path / "b"))
    backend = LocalBackend(fitted_model, device="cpu")
    prompt = backend.fim.prompt("def add(a, b):\n", "\n\n\nclass Point:\n")
    base_text = generate(backend, prompt)
    hash_a = asyncio.run(backend.prepare_adapter(str(tmp_path / "a")))
    hash_b = asyncio.run(backend.prepare_adapter(str(tmp_path / "b")))
    assert hash_a == reference_a.adapter_hash and hash_b == reference_b.adapter_hash
    assert backend.adapter_identity(str(tmp_path / "a")) == hash_a and backend.adapter_identity("") == ""
    # The same document (one KV session) asked under each adapter in turn: each answer is that
    # adapter's own, never one computed from another adapter's cached keys and values.
    for _ in range(2):
        assert generate_with(backend, prompt, str(tmp_path / "a"), "doc") == generate(reference_a, prompt)
        assert generate_with(backend, prompt, str(tmp_path / "b"), "doc") == generate(reference_b, prompt)
        assert generate_with(backend, prompt, "", "doc") == base_text
    assert generate(reference_a, prompt) != base_text


def test_an_adapter_for_another_model_is_refused_and_the_base_keeps_serving(fitted_model, random_model, tmp_path):
    save_adapter(random_model, tmp_path / "other", scale=0.5)  # 64 wide, the fitted model 128
    backend = LocalBackend(fitted_model, device="cpu")
    prompt = backend.fim.prompt("def add(a, b):\n", "\n")
    before = generate(backend, prompt)
    with pytest.raises(BackendError):
        asyncio.run(backend.prepare_adapter(str(tmp_path / "other")))
    with pytest.raises(BackendError, match="no peft adapter"):
        asyncio.run(backend.prepare_adapter(str(tmp_path / "nowhere")))
    assert generate(backend, prompt) == before


def test_an_adapter_retrained_in_place_replaces_the_old_one(fitted_model, tmp_path):
    save_adapter(fitted_model, tmp_path / "a", scale=0.5)
    backend = LocalBackend(fitted_model, device="cpu")
    first = asyncio.run(backend.prepare_adapter(str(tmp_path / "a")))
    save_adapter(fitted_model, tmp_path / "a", scale=-0.5)
    second = asyncio.run(backend.prepare_adapter(str(tmp_path / "a")))
    assert first != second and set(backend.model.peft_config) == {second}
    reference = LocalBackend(fitted_model, device="cpu", adapter=str(tmp_path / "a"))
    prompt = backend.fim.prompt("def add(a, b):\n", "\n")
    assert generate_with(backend, prompt, str(tmp_path / "a")) == generate(reference, prompt)


def test_a_chat_only_backend_needs_no_fim_tokens(fitted_model):
    backend = LocalBackend(fitted_model, device="cpu", fim_format="none")
    # No FIM tokens to strip, but the model's own special tokens still end and never enter a completion.
    assert backend.fim.name == "none" and "<|endoftext|>" in backend.special_tokens
    text = generate(backend, "def add(a, b):\n    return")
    assert isinstance(text, str)
