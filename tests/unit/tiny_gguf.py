"""A test model folder (training/tiny.py) written as a GGUF file with the `gguf` package's writer,
f32 and lossless: transformers reads back the same weights and tokenizer, so a GGUF test model
must complete exactly as its folder does.

The layout is llama.cpp's for Llama (convert_hf_to_gguf.py): tensor names, the q/k rows permuted
for its rope (transformers undoes that on load), a byte-level BPE tokenizer (`gpt2`, pre-tokenizer
`gpt-2`) whose special tokens are CONTROL tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LAYER_TENSORS = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def _permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's LlamaModel.permute of the q/k projections."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _gguf_name(name: str) -> str:
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    _, _, layer, rest = name.split(".", 3)
    return f"blk.{layer}.{LAYER_TENSORS[rest.removesuffix('.weight')]}.weight"


def write_gguf(folder: Path, out: Path, *, renamed: dict[str, str] | None = None,
               chat_template: str | None = None) -> Path:
    """`folder` (a Llama from training/tiny.py) as the GGUF file `out`. `renamed`: special tokens
    written under other names (e.g. the FIM tokens, for a model without any)."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text())
    spec = json.loads((folder / "tokenizer.json").read_text())
    tokens = [""] * config["vocab_size"]
    for text, index in spec["model"]["vocab"].items():
        tokens[index] = text
    special = {t["id"] for t in spec["added_tokens"] if t["special"]}
    for added in spec["added_tokens"]:
        tokens[added["id"]] = (renamed or {}).get(added["content"], added["content"])

    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name(folder.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
                            for i in range(len(tokens))])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_add_bos_token(False)
    if chat_template:
        writer.add_chat_template(chat_template)
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    for name, weight in sorted(load_file(folder / "model.safetensors").items()):
        weight = weight.astype(np.float32)
        if name.endswith("q_proj.weight"):
            weight = _permute(weight, heads)
        elif name.endswith("k_proj.weight"):
            weight = _permute(weight, kv_heads)
        writer.add_tensor(_gguf_name(name), weight)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
