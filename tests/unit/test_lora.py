"""The LoRA recipe's checks and schedule, on a tiny model built from a config."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoModelForCausalLM

from training.lora import LoraRecipe, learning_rate_factor, lora_model, recipe_problems, train_adapter


@pytest.fixture()
def base(fitted_model):
    return AutoModelForCausalLM.from_pretrained(fitted_model)


def test_default_targets_are_every_attention_and_mlp_projection_by_short_name(base):
    model = lora_model(base, LoraRecipe(rank=4))
    assert set(model.peft_config["default"].target_modules) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_each_bad_setting_is_named_with_what_to_change(base):
    problems = recipe_problems(LoraRecipe(rank=0, dropout=1.5, seq_len=10**6, target_modules=("c_attn",),
                                          precision="fp8"), base)
    text = "\n".join(problems)
    assert len(problems) == 5
    assert "--rank must be at least 1" in text and "--dropout" in text and "context window" in text
    assert "c_attn" in text and "q_proj" in text and "--precision" in text
    assert recipe_problems(LoraRecipe(), base) == []


def test_warm_up_then_cosine_down_to_the_floor():
    recipe = LoraRecipe(warmup_ratio=0.1, min_lr_ratio=0.1)
    factors = [learning_rate_factor(recipe, step, 100) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[-1] == pytest.approx(0.1, abs=0.01)


def test_training_lowers_the_loss_on_its_rows(base, tmp_path):
    rng = np.random.default_rng(0)
    pattern = rng.integers(3, 200, size=32)
    rows = np.stack([np.roll(np.tile(pattern, 4), shift)[:64] for shift in range(16)])
    model = lora_model(base, LoraRecipe(rank=8))
    recipe = LoraRecipe(rank=8, seq_len=64, batch=4, max_steps=40, lr=5e-3, checkpoint_every=1000)
    result = train_adapter(model, rows, recipe, tmp_path, show_bar=False)
    first, last = result.history[0]["loss"], np.mean([h["loss"] for h in result.history[-5:]])
    assert result.steps == 40 and last < 0.75 * first
