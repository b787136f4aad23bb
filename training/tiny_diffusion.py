"""A tiny Stable Diffusion-style pipeline built from configs, for tests of image generation.

`build_tiny_pipeline` writes a folder that `AutoPipelineForText2Image.from_pretrained` loads
offline, laid out like a real checkpoint (model_index.json, unet/, vae/, text_encoder/,
tokenizer/, scheduler/, safetensors weights). Its weights are random, so its pictures are
noise; what the tests check is the plumbing: sizes, seeds, steps, progress and cancellation.
A 2-step 32x32 image takes a fraction of a second on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from tokenizers import pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

RECIPE_VERSION = 1  # bump when the recipe below changes, so folders built before are rebuilt
RECIPE_FILE = "tiny-recipe.json"  # written last: its presence means the folder is complete
CONTEXT = 77  # CLIP's prompt length; the pipeline pads every prompt to it
START, END = "<|startoftext|>", "<|endoftext|>"


def build_tiny_pipeline(out: Path, seed: int = 0) -> Path:
    """Write a tiny StableDiffusionPipeline (safetensors) to `out`, unless it is already there."""
    recipe = {"version": RECIPE_VERSION, "seed": seed}
    marker = out / RECIPE_FILE
    if marker.is_file() and json.loads(marker.read_text()) == recipe:
        return out
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_clip_tokenizer(out / "tokenizer")
    torch.manual_seed(seed)  # each model's random init below follows from the seed
    pipeline = StableDiffusionPipeline(
        vae=AutoencoderKL(block_out_channels=(32, 32), latent_channels=4,  # latents at half size
                          down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2),
        text_encoder=CLIPTextModel(_text_config(tokenizer)),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(
            sample_size=16, block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D")),
        # SD-Turbo's scheduler: few-step sampling starts from the last training timestep.
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         timestep_spacing="trailing", steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipeline.save_pretrained(out, safe_serialization=True)
    marker.write_text(json.dumps(recipe))
    return out


def build_clip_tokenizer(folder: Path) -> CLIPTokenizer:
    """A CLIP tokenizer with no merges: every byte is a token, alone or ending a word (`</w>`).

    Written as vocab.json and merges.txt, the files of a real CLIP tokenizer, and loaded back
    from them, so the folder is known to load offline."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = alphabet + [f"{char}</w>" for char in alphabet] + [START, END]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}, ensure_ascii=False),
                                       encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer.from_pretrained(folder, model_max_length=CONTEXT, trust_remote_code=False)


def _text_config(tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    return CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, projection_dim=32,
                          num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=CONTEXT,
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id)
