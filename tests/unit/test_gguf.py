"""A .gguf file as the model: where it is found, what it loads to, and its identity in the cache key.
The GGUF files here are the tiny test models written losslessly (tiny_gguf.py), so the file must
serve exactly as its folder does."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
import torch

from codegen_lsp.backends.base import BackendError, GenerationRequest, StopFlag
from codegen_lsp.backends.local import LocalBackend, file_fingerprint
from codegen_lsp.config import Config
from codegen_lsp.engine import MODEL_ENV, load_backend, resolve_model_path
from codegen_lsp.prompts.fim import CODEGEN
from codegen_lsp.weights import is_gguf
from tests.unit.test_local_backend import ADD_PREFIX, ADD_SUFFIX
from tests.unit.tiny_gguf import write_gguf


@pytest.fixture(scope="module")
def fitted_gguf(fitted_model, tmp_path_factory):
    return write_gguf(fitted_model, tmp_path_factory.mktemp("gguf") / "fitted.Q-f32.gguf")


@pytest.fixture(scope="module")
def from_gguf(fitted_gguf):
    backend = LocalBackend(fitted_gguf, device="cpu")
    yield backend
    backend.close()


def test_a_gguf_file_loads_the_same_model_as_its_folder(fitted, from_gguf, fitted_gguf):
    assert from_gguf.fim is CODEGEN  # the FIM tokens come from the file's own vocabulary
    assert from_gguf.special_tokens == fitted.special_tokens and from_gguf._end_ids == fitted._end_ids
    assert from_gguf.context_window == fitted.context_window == 4096
    assert type(from_gguf.model).__name__ == "LlamaForCausalLM"
    ours, theirs = fitted.model.state_dict(), from_gguf.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    text = ADD_PREFIX[-200:]
    assert from_gguf.tokenizer(text)["input_ids"] == fitted.tokenizer(text)["input_ids"]
    request = GenerationRequest(prompt=CODEGEN.prompt(ADD_PREFIX, ADD_SUFFIX), max_new_tokens=24)
    completions = [asyncio.run(b.generate(request, StopFlag())).text for b in (fitted, from_gguf)]
    assert completions[0] == completions[1] == "    return a + b"


def test_a_gguf_backend_says_an_engine_serves_it_faster(fitted, from_gguf, fitted_gguf):
    (note,) = from_gguf.notes
    assert note.startswith(f"{fitted_gguf.name} is a GGUF file: transformers dequantizes it to float32")
    assert "llama.cpp's llama-server" in note and 'codegen.model.backend to "llama.cpp"' in note
    assert fitted.notes == ()


def test_the_identity_of_a_gguf_file_is_its_name_size_and_mtime(from_gguf, fitted_gguf, tmp_path):
    assert from_gguf.model_id == f"{fitted_gguf.name}:{file_fingerprint(fitted_gguf)}"
    assert len(file_fingerprint(fitted_gguf)) == 16
    copy = shutil.copy2(fitted_gguf, tmp_path / fitted_gguf.name)  # same name, size and mtime
    assert file_fingerprint(copy) == file_fingerprint(fitted_gguf)
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # replaced in place
    assert file_fingerprint(copy) != file_fingerprint(fitted_gguf)
    renamed = shutil.copy2(fitted_gguf, tmp_path / "other.gguf")
    assert file_fingerprint(renamed) != file_fingerprint(fitted_gguf)


def test_the_setting_or_the_environment_may_name_a_gguf_file(fitted_gguf, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert resolve_model_path(None, str(fitted_gguf)) == fitted_gguf  # --model
    assert resolve_model_path(str(fitted_gguf)) == fitted_gguf  # codegen.model.path
    monkeypatch.setenv(MODEL_ENV, str(fitted_gguf))
    assert resolve_model_path(None) == fitted_gguf
    home = fitted_gguf.parent.parent
    monkeypatch.setenv("HOME", str(home))
    assert resolve_model_path(f"~/{fitted_gguf.parent.name}/{fitted_gguf.name}") == fitted_gguf

    config = Config()
    config.model.path = str(fitted_gguf)
    backend = load_backend(config)
    try:
        assert isinstance(backend, LocalBackend) and backend.model_id.startswith(f"{fitted_gguf.name}:")
    finally:
        backend.close()


def test_a_missing_gguf_file_or_folder_says_what_was_expected(tmp_path):
    with pytest.raises(BackendError, match=r"no model at .*missing.gguf: no such GGUF file"):
        LocalBackend(tmp_path / "missing.gguf", device="cpu")
    with pytest.raises(BackendError, match=r"expected a folder with config.json and safetensors weights, or a .gguf"):
        LocalBackend(tmp_path, device="cpu")
    (tmp_path / "named.gguf").mkdir()  # a folder is a folder, whatever its name
    assert not is_gguf(tmp_path / "named.gguf") and is_gguf(tmp_path / "MODEL.GGUF")
    with pytest.raises(BackendError, match="expected a folder with config.json"):
        LocalBackend(tmp_path / "named.gguf", device="cpu")


def test_a_gguf_of_an_architecture_transformers_cannot_read_is_a_backend_error(tmp_path):
    import gguf

    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "no-such-architecture")
    writer.add_tensor("token_embd.weight", torch.zeros(4, 4).numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(BackendError, match=r"cannot load the model at .*odd.gguf"):
        LocalBackend(path, device="cpu")
