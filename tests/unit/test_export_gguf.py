"""`codegen-lsp export --gguf`: the tiny fitted model and a LoRA adapter through llama.cpp's own
converters, read back with gguf-py's GGUFReader; and the errors that say what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from gguf import GGUFReader, LlamaFileType, TokenType
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from codegen_lsp import cli
from codegen_lsp.backends.llama_cpp import gguf_declared_order
from codegen_lsp.prompts.fim import CODEGEN, GGUF_ORDER_KEY
from tests import engines
from training.export_gguf import (CONVERT_ENV, ExportError, export_adapter, export_model, fallback_pre_tokenizer,
                                  fim_metadata)
from training.lora import LoraRecipe, lora_model

TEMPLATE = "{% for m in messages %}{{ m['content'] }}<|endoftext|>{% endfor %}"


@pytest.fixture()
def convert(monkeypatch) -> Path:
    """The converters that scripts/engines-setup.sh installed, wherever CODEGEN_ENGINES_DIR says."""
    folder = engines.converters()
    monkeypatch.setenv(CONVERT_ENV, str(folder))
    return folder


def fields(path: Path) -> dict:
    return {name: field.contents() for name, field in GGUFReader(path).fields.items()}


def test_the_fitted_model_exports_with_our_fim_ids_the_gpt2_pre_tokenizer_and_its_chat_template(
        convert, fitted_model, tmp_path, capsys):
    model = shutil.copytree(fitted_model, tmp_path / "model")
    (model / "chat_template.jinja").write_text(TEMPLATE)
    (model / "fim.json").write_text(json.dumps({"order": "spm"}))  # as the embedded model declares it
    out = tmp_path / "out" / "fitted.gguf"

    assert cli.main(["export", "--gguf", str(out), "--model", str(model)]) == 0

    assert f"GGUF written to {out}" in capsys.readouterr().out
    meta, vocab = fields(out), AutoTokenizer.from_pretrained(model, trust_remote_code=False).get_vocab()
    ids = {token: vocab[token] for token in CODEGEN.special_tokens}
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "gpt-2"
    assert meta["tokenizer.ggml.fim_pre_token_id"] == ids[CODEGEN.prefix]
    assert meta["tokenizer.ggml.fim_suf_token_id"] == ids[CODEGEN.suffix]
    assert meta["tokenizer.ggml.fim_mid_token_id"] == ids[CODEGEN.middle]
    assert meta["tokenizer.ggml.fim_sep_token_id"] == ids[CODEGEN.file_separator]
    assert meta["tokenizer.ggml.fim_rep_token_id"] == ids[CODEGEN.repo_name]
    assert meta["tokenizer.ggml.eot_token_id"] == meta["tokenizer.ggml.eos_token_id"] == ids[CODEGEN.end_of_text]
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    assert len(tokens) == meta["llama.vocab_size"] == json.loads((model / "config.json").read_text())["vocab_size"]
    assert all(tokens[i] == token and types[i] == TokenType.CONTROL for token, i in ids.items())
    assert meta["tokenizer.chat_template"] == TEMPLATE
    # The declared FIM order goes along, for the llama.cpp backend to read (llama.cpp ignores it).
    assert meta[GGUF_ORDER_KEY] == "spm" and gguf_declared_order(str(out)) == "spm"
    assert meta["general.file_type"] == LlamaFileType.MOSTLY_F16  # the default type
    assert not list(out.parent.glob(".*partial"))


def test_a_lora_adapter_exports_as_a_gguf_lora_on_its_base(convert, fitted_model, tmp_path):
    base = AutoModelForCausalLM.from_pretrained(fitted_model, trust_remote_code=False, use_safetensors=True)
    adapter = tmp_path / "adapter"
    lora_model(base, LoraRecipe(rank=4, alpha=8)).save_pretrained(adapter)

    out = export_adapter(adapter, fitted_model, tmp_path / "adapter.gguf", "q8_0")

    reader = GGUFReader(out)
    meta = {name: field.contents() for name, field in reader.fields.items()}
    assert meta["general.type"] == "adapter" and meta["adapter.type"] == "lora"
    assert meta["adapter.lora.alpha"] == 8.0 and meta["general.architecture"] == "llama"
    names = {t.name for t in reader.tensors}
    # Every attention and MLP projection of both layers, as an A and a B.
    assert len(names) == 2 * 7 * base.config.num_hidden_layers
    assert all(name.endswith((".lora_a", ".lora_b")) for name in names)


def test_missing_converters_say_how_to_install_them(fitted_model, tmp_path, monkeypatch):
    monkeypatch.setenv(CONVERT_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ExportError, match="run scripts/engines-setup.sh converters"):
        export_model(fitted_model, tmp_path / "out.gguf")


def test_a_folder_that_is_not_a_model_or_an_adapter_is_refused_before_any_converter_runs(fitted_model, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setenv(CONVERT_ENV, str(tmp_path / "nowhere"))  # the folder is judged first
    with pytest.raises(ExportError, match="is not a model folder: it has no config.json"):
        export_model(tmp_path, tmp_path / "out.gguf")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ExportError, match="only pickle weights"):
        export_model(pickled, tmp_path / "out.gguf")
    with pytest.raises(ExportError, match="is not a peft LoRA adapter folder"):
        export_adapter(fitted_model, fitted_model, tmp_path / "out.gguf")
    with pytest.raises(ExportError, match="unknown GGUF type 'q4_k'"):
        export_model(fitted_model, tmp_path / "out.gguf", "q4_k")


def test_a_converter_failure_shows_its_last_lines_and_leaves_no_file(convert, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["NoSuchModelForCausalLM"], "model_type": "llama"}))
    save_file({"weight": torch.zeros(2)}, model / "model.safetensors")
    out = tmp_path / "out.gguf"
    with pytest.raises(ExportError) as failed:
        export_model(model, out)
    assert "convert_hf_to_gguf.py failed" in str(failed.value)
    assert "Model NoSuchModelForCausalLM is not supported" in str(failed.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


class Vocab:
    """The part of a tokenizer that FIM detection reads."""

    def __init__(self, tokens: list[str]):
        self.vocab = {token: i for i, token in enumerate(tokens)}

    def get_vocab(self) -> dict[str, int]:
        return self.vocab


def test_fim_ids_are_found_for_other_families_too():
    starcoder = Vocab(["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<file_sep>",
                       "<repo_name>"])
    assert fim_metadata(starcoder) == {
        "tokenizer.ggml.fim_pre_token_id": 1, "tokenizer.ggml.fim_suf_token_id": 3,
        "tokenizer.ggml.fim_mid_token_id": 2, "tokenizer.ggml.fim_sep_token_id": 5,
        "tokenizer.ggml.fim_rep_token_id": 6, "tokenizer.ggml.eot_token_id": 0, "tokenizer.ggml.eos_token_id": 0}
    # CodeLlama's are sentencepiece pieces; it has no repository tokens.
    codellama = Vocab(["</s>", "▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"])
    assert fim_metadata(codellama) == {
        "tokenizer.ggml.fim_pre_token_id": 1, "tokenizer.ggml.fim_suf_token_id": 2,
        "tokenizer.ggml.fim_mid_token_id": 3, "tokenizer.ggml.eot_token_id": 4, "tokenizer.ggml.eos_token_id": 4}
    assert fim_metadata(Vocab(["a", "b"])) == {}


def test_gpt2_stands_in_only_for_our_byte_level_tokenizers(fitted_model, tmp_path):
    ours = Vocab(list(CODEGEN.special_tokens))
    assert fallback_pre_tokenizer(fitted_model, ours) == "gpt-2"
    # Not one of ours: the converter's own table decides.
    assert fallback_pre_tokenizer(fitted_model, Vocab(["<|endoftext|>", "<fim_prefix>", "<fim_middle>",
                                                       "<fim_suffix>"])) is None
    declared = json.loads((fitted_model / "tokenizer.json").read_text())
    for change in ({"normalizer": {"type": "NFC"}},
                   {"pre_tokenizer": {**declared["pre_tokenizer"], "add_prefix_space": True}},
                   {"pre_tokenizer": {**declared["pre_tokenizer"], "use_regex": False}}):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        (folder / "tokenizer.json").write_text(json.dumps({**declared, **change}))
        assert fallback_pre_tokenizer(folder, ours) is None, change
