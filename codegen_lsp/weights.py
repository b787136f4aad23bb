"""Model folders are untrusted files: only safetensors (or GGUF) weights load, and no code from a folder runs.

A pickle (`pytorch_model.bin`, `adapter_model.bin`, `*.pt`...) can run any code while it is
unpickled, so a folder whose weights exist only as pickles is refused before a loader sees
it, with a message saying to convert them. A `config.json` whose `auto_map` points at a
`modeling_*.py` in the folder asks the loader to import that file: `trust_remote_code` is
always False in codegen-lsp, with no setting to turn it on (a stricter form of "off unless
the user enables it"), so such a folder loads only when transformers ships the architecture
itself, and is otherwise refused here with a message saying why.

A GGUF file (`--model FILE.gguf`) is the other safe format: tensors and metadata read by the
`gguf` package's reader (memory-mapped arrays, no pickle, no code), its architecture one that
transformers ships. It loads with `gguf_file=` (`require_gguf` checks the file's magic first).

Every `from_pretrained` in codegen_lsp/ and training/ passes `trust_remote_code=False`, and
`use_safetensors=True` (or `gguf_file=`) where it reads weights; tests/unit/test_untrusted_loading.py
checks the code for it.
"""

from __future__ import annotations

import json
from pathlib import Path

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
GGUF_SUFFIX = ".gguf"
GGUF_MAGIC = b"GGUF"


class UnsafeModelFolder(ValueError):
    """The folder would load a pickle or run code of its own; the message says what to do."""


def pickle_only(folder: Path) -> list[str]:
    """Names of the pickle weight files in `folder` when it has no safetensors file ([] otherwise)."""
    files = list(folder.iterdir()) if folder.is_dir() else []
    if any(path.suffix == ".safetensors" for path in files):
        return []  # loaders are told to take the safetensors and never look at the pickles
    return sorted(path.name for path in files if path.suffix in PICKLE_SUFFIXES)


def require_safetensors(folder: Path, what: str) -> None:
    """Raise UnsafeModelFolder when the only weights in `folder` are pickles."""
    pickles = pickle_only(folder)
    if pickles:
        raise UnsafeModelFolder(
            f"the {what} at {folder} has only pickle weights ({', '.join(pickles)}), which can run code when "
            "loaded; only safetensors weights are loaded. Convert them to safetensors first "
            "(safetensors.torch.save_file), or use a checkpoint that ships model.safetensors.")


def is_gguf(path: Path) -> bool:
    """Whether `path` names a GGUF file (by its name: a folder is never one)."""
    return path.suffix.lower() == GGUF_SUFFIX and not path.is_dir()


def require_gguf(path: Path, what: str) -> None:
    """Raise UnsafeModelFolder unless `path` starts like a GGUF file: a pickle renamed to .gguf is
    refused before a loader sees it (the GGUF reader would not unpickle it either, but say so)."""
    with path.open("rb") as stream:
        magic = stream.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise UnsafeModelFolder(f"the {what} at {path} is named .gguf but is not a GGUF file (it does not start "
                                f"with {GGUF_MAGIC.decode()}); only safetensors and GGUF weights are loaded")


def require_no_remote_code(folder: Path, what: str) -> None:
    """Raise UnsafeModelFolder when `folder` can only load by importing code of its own (auto_map
    with an architecture transformers does not ship). With a shipped architecture the auto_map is
    ignored: transformers' own class loads and the folder's code is never imported."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no readable config: the loader reports that itself
    if not isinstance(config, dict) or not config.get("auto_map"):
        return
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        modules = sorted({str(v).split(".")[0] + ".py" for v in _flat(config["auto_map"]) if v and "." in str(v)})
        raise UnsafeModelFolder(
            f"the {what} at {folder} needs code of its own to load (config.json auto_map: "
            f"{', '.join(modules) or 'custom classes'}, model_type {model_type!r}); codegen-lsp never runs code "
            "from a model folder (trust_remote_code is always off). Use a model whose architecture transformers "
            "ships (Llama, Qwen2, StarCoder2, ...).")


def _flat(value) -> list:
    if isinstance(value, dict):
        return [item for inner in value.values() for item in _flat(inner)]
    if isinstance(value, (list, tuple)):
        return [item for inner in value for item in _flat(inner)]
    return [value]
