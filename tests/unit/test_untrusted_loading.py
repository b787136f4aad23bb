"""Model, adapter and checkpoint folders are untrusted: a pickle is never unpickled and code in a
folder never runs. Each planted file would leave a marker if it ran, and a control shows it does
when loaded the unsafe way; a static audit keeps every loading call explicit about both."""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codegen_lsp.adapters import registered_adapter
from codegen_lsp.backends.base import BackendError
from codegen_lsp.backends.local import LocalBackend
from tests.conftest import ROOT

# transformers imports a copy of the module from its own cache: the marker's path is written in.
EVIL_MODULE = """from pathlib import Path
Path(MARKER).touch()
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

class EvilConfig(LlamaConfig):
    model_type = "evil"

class EvilModel(LlamaForCausalLM):
    config_class = EvilConfig

class EvilTokenizer(PreTrainedTokenizerFast):
    pass
"""


class RunsCode:
    """Unpickling this touches `marker`: the proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def plant_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"weight": RunsCode(marker)}))
    return path


def assert_would_run(pickled: Path, marker: Path) -> None:
    """The control: loaded the unsafe way, the planted file does run."""
    assert not marker.exists()
    pickle.loads(pickled.read_bytes())
    assert marker.exists()


@pytest.fixture()
def pickled_model(fitted_model, tmp_path) -> tuple[Path, Path]:
    folder = shutil.copytree(fitted_model, tmp_path / "pickled-model")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    plant_pickle(folder / "pytorch_model.bin", marker)
    return folder, marker


def test_a_model_with_only_pickle_weights_is_refused_unread(pickled_model):
    folder, marker = pickled_model
    with pytest.raises(BackendError, match=r"only pickle weights \(pytorch_model.bin\).*only safetensors"):
        LocalBackend(folder, device="cpu")
    assert not marker.exists()
    assert_would_run(folder / "pytorch_model.bin", marker)


def test_beside_safetensors_a_pickle_is_never_read(fitted_model, tmp_path):
    folder = shutil.copytree(fitted_model, tmp_path / "both")
    marker = tmp_path / "unpickled"
    plant_pickle(folder / "pytorch_model.bin", marker)
    LocalBackend(folder, device="cpu").close()
    assert not marker.exists()


@pytest.fixture(scope="module")
def adapter(fitted_model, tmp_path_factory) -> Path:
    from transformers import AutoModelForCausalLM

    from training.lora import LoraRecipe, lora_model

    folder = tmp_path_factory.mktemp("adapter") / "lora"
    base = AutoModelForCausalLM.from_pretrained(fitted_model, trust_remote_code=False, use_safetensors=True)
    lora_model(base, LoraRecipe(rank=2, target_modules=("q_proj",))).save_pretrained(folder)
    return folder


def test_an_adapter_with_only_pickle_weights_is_refused_unread(fitted_model, adapter, tmp_path):
    folder = shutil.copytree(adapter, tmp_path / "pickled-adapter")
    (folder / "adapter_model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    plant_pickle(folder / "adapter_model.bin", marker)
    with pytest.raises(BackendError, match=r"adapter .* only pickle weights \(adapter_model.bin\)"):
        LocalBackend(fitted_model, adapter=str(folder), device="cpu")
    # Registered for a workspace, it is reported unusable before anything loads it.
    problem = registered_adapter(tmp_path, setting=str(folder)).problem
    assert "only safetensors weights are loaded" in problem
    assert not marker.exists()
    assert_would_run(folder / "adapter_model.bin", marker)


def remote_code_model(source: Path, folder: Path, model_type: str) -> Path:
    """A model folder whose config and tokenizer config map their classes to modeling_evil.py,
    which touches `folder`/REMOTE_CODE_RAN when it is imported."""
    shutil.copytree(source, folder)
    (folder / "modeling_evil.py").write_text(EVIL_MODULE.replace("MARKER", repr(str(folder / "REMOTE_CODE_RAN"))))
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type=model_type, auto_map={"AutoConfig": "modeling_evil.EvilConfig",
                                                   "AutoModelForCausalLM": "modeling_evil.EvilModel"})
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer["auto_map"] = {"AutoTokenizer": [None, "modeling_evil.EvilTokenizer"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    return folder


def test_a_model_that_needs_its_own_code_is_refused_without_running_it(fitted_model, tmp_path):
    folder = remote_code_model(fitted_model, tmp_path / "remote", "evil")
    with pytest.raises(BackendError, match=r"needs code of its own to load .*modeling_evil.py.*never runs code"):
        LocalBackend(folder, device="cpu")
    assert not (folder / "REMOTE_CODE_RAN").exists()
    # The control: transformers, allowed to, does import the folder's code.
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home")}
    script = f"from transformers import AutoConfig; AutoConfig.from_pretrained({str(folder)!r}, trust_remote_code=True)"
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (folder / "REMOTE_CODE_RAN").exists()


def test_a_shipped_architecture_loads_without_the_folders_code(fitted_model, tmp_path):
    from codegen_lsp.backends.openai import OpenAIBackend

    folder = remote_code_model(fitted_model, tmp_path / "remote", "llama")
    backend = LocalBackend(folder, device="cpu")
    assert type(backend.model).__name__ == "LlamaForCausalLM"
    backend.close()
    OpenAIBackend("http://127.0.0.1:9/v1", tokenizer=folder)  # its tokenizer, nothing sent
    assert not (folder / "REMOTE_CODE_RAN").exists()


def test_training_refuses_a_pickle_only_base(pickled_model, tmp_path):
    from training.finetune import TrainError, TrainOptions, run

    folder, marker = pickled_model
    (tmp_path / "repo").mkdir()
    options = TrainOptions(paths=(tmp_path / "repo",), base=folder, out=tmp_path / "out")
    with pytest.raises(TrainError, match=r"base model .* only pickle weights"):
        run(options)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_checkpoint_with_a_pickle_is_not_resumed_from(fitted_model, adapter, tmp_path):
    """accelerate's load_state reads the checkpoint with torch.load(weights_only=True)."""
    import numpy as np
    from transformers import AutoModelForCausalLM

    from training.lora import LoraRecipe, lora_model, train_adapter

    recipe = LoraRecipe(rank=2, target_modules=("q_proj",), seq_len=16, batch=2)
    model = lora_model(AutoModelForCausalLM.from_pretrained(fitted_model, trust_remote_code=False,
                                                            use_safetensors=True), recipe)
    checkpoint = tmp_path / "work" / "checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "progress.json").write_text(json.dumps({"step": 1, "history": []}))
    marker = tmp_path / "unpickled"
    plant_pickle(checkpoint / "pytorch_model.bin", marker)
    with pytest.raises(SystemExit, match="cannot resume from"):
        train_adapter(model, np.zeros((4, 16), dtype=np.int64), recipe, tmp_path / "work", steps=2, resume=True,
                      show_bar=False)
    assert not marker.exists()
    assert_would_run(checkpoint / "pytorch_model.bin", marker)


# --- the static audit --------------------------------------------------------------------------

AUDITED = [ROOT / "codegen_lsp", ROOT / "training"]
NO_WEIGHTS = ("Tokenizer", "Config", "Processor", "FeatureExtractor")  # classes that read no weights
# peft's loaders have neither switch (they never run folder code, and take adapter_model.safetensors
# when it is there): they may only be called where weights.require_safetensors guards them.
PEFT_GUARDED = {"codegen_lsp/backends/peft_adapters.py"}


LOADERS = ("from_pretrained", "load", "loads", "load_adapter")


def loading_calls(source: str) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr in LOADERS]


def receiver(call: ast.Call) -> str:
    value = call.func.value
    return value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else ""


def keyword(call: ast.Call, name: str):
    for item in call.keywords:
        if item.arg == name:
            return item.value.value if isinstance(item.value, ast.Constant) else "not a constant"
    return "missing"


def audit(path: Path, source: str) -> list[str]:
    where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    problems = []
    for call in loading_calls(source):
        name = receiver(call)
        line = f"{where}:{call.lineno} {name}.{call.func.attr}"
        if call.func.attr in ("load", "loads"):
            if name == "torch" and keyword(call, "weights_only") is not True:
                problems.append(f"{line}: torch.load without weights_only=True")
            if name in ("pickle", "dill", "joblib"):
                problems.append(f"{line}: unpickles")
            continue
        if name == "PeftModel" or call.func.attr == "load_adapter":
            if where not in PEFT_GUARDED or "require_safetensors(" not in source:
                problems.append(f"{line}: a peft load outside the guarded loader (weights.require_safetensors)")
            continue
        if keyword(call, "trust_remote_code") is not False:
            problems.append(f"{line}: trust_remote_code=False is not passed explicitly")
        # A GGUF file is the other safe format (weights.py): gguf_file= reads it, and no pickle.
        gguf = keyword(call, "gguf_file") != "missing"
        if not name.endswith(NO_WEIGHTS) and keyword(call, "use_safetensors") is not True and not gguf:
            problems.append(f"{line}: loads weights without use_safetensors=True (or gguf_file=)")
    return problems


def test_every_loading_call_refuses_pickles_and_remote_code():
    files = [path for folder in AUDITED for path in folder.rglob("*.py")]
    audited = {path: path.read_text(encoding="utf-8") for path in files}
    assert sum(len(loading_calls(source)) for source in audited.values()) >= 8  # the audit sees the calls
    problems = [problem for path, source in audited.items() for problem in audit(path, source)]
    assert problems == []


@pytest.mark.parametrize("call, complaint", [
    ("AutoModelForCausalLM.from_pretrained(path, use_safetensors=True)", "trust_remote_code=False"),
    ("AutoModelForCausalLM.from_pretrained(path, trust_remote_code=False)", "use_safetensors=True"),
    ("diffusers.AutoPipelineForText2Image.from_pretrained(path, trust_remote_code=False)", "use_safetensors"),
    ("AutoTokenizer.from_pretrained(path)", "trust_remote_code=False"),
    ("AutoConfig.from_pretrained(path, trust_remote_code=flag)", "trust_remote_code=False"),
    ("torch.load(path)", "weights_only=True"),
    ("torch.load(path, weights_only=False)", "weights_only=True"),
    ("pickle.loads(data)", "unpickles"),
    ("PeftModel.from_pretrained(model, path)", "outside the guarded loader"),
    ("model.load_adapter(path, adapter_name='x')", "outside the guarded loader"),
])
def test_the_audit_fails_on_a_call_without_the_switches(call, complaint):
    (problem,) = audit(ROOT / "training" / "new_module.py", f"model = {call}\n")
    assert complaint in problem


def test_the_audit_takes_a_gguf_file_for_safetensors():
    call = "AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, trust_remote_code=False)"
    assert audit(ROOT / "training" / "new_module.py", f"model = {call}\n") == []
    (problem,) = audit(ROOT / "training" / "new_module.py", f"model = {call.replace('False', 'True')}\n")
    assert "trust_remote_code=False" in problem


def test_a_pickle_named_gguf_is_refused_unread(tmp_path):
    marker = tmp_path / "unpickled"
    model = plant_pickle(tmp_path / "model.gguf", marker)
    with pytest.raises(BackendError, match=r"model.gguf is named .gguf but is not a GGUF file"):
        LocalBackend(model, device="cpu")
    assert not marker.exists()
    assert_would_run(model, marker)
