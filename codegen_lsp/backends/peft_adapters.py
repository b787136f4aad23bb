"""peft LoRA adapters on a served model: checked before peft touches the model, then loaded.

peft injects its layers before it loads their weights, so an adapter that does not fit would
leave the served model altered: the shapes are read from the safetensors header first. Only
safetensors adapters load (`codegen_lsp/weights.py`).
"""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError

from ..weights import UnsafeModelFolder, require_safetensors
from .base import MODEL_LOAD_LOCK, BackendError


def with_adapter(model, folder: Path, name: str):
    """`model` with the adapter at `folder` loaded as `name` (and a PeftModel, if it was not one)."""
    from peft import PeftModel  # imported here: peft is slow to import and often unused

    if not (folder / "adapter_config.json").is_file():
        raise BackendError(f"no peft adapter at {folder}: expected adapter_config.json")
    try:  # peft itself would unpickle adapter_model.bin when there is no safetensors file
        require_safetensors(folder, "adapter")
    except UnsafeModelFolder as exc:
        raise BackendError(str(exc)) from None
    # peft injects its layers before it loads their weights: a mismatch found by loading
    # would leave the served model altered, so it is looked for first.
    mismatch = adapter_mismatch(model.get_base_model() if isinstance(model, PeftModel) else model, folder)
    if mismatch:
        raise BackendError(f"the adapter at {folder} does not fit this model: {mismatch}")
    try:
        if isinstance(model, PeftModel):
            if name not in model.peft_config:
                model.load_adapter(folder, adapter_name=name, is_trainable=False)
        else:
            with MODEL_LOAD_LOCK:
                model = PeftModel.from_pretrained(model, folder, adapter_name=name, is_trainable=False)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise BackendError(f"cannot apply the adapter at {folder}: {exc}") from exc
    return model


def adapter_mismatch(model, folder: Path) -> str:
    """Why the LoRA weights in `folder` cannot sit on `model`'s layers ("" when they can)."""
    from safetensors import safe_open

    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        return "adapter_model.safetensors is missing (only safetensors adapters are loaded)"
    try:
        with safe_open(weights, framework="pt") as tensors:
            shapes = {key: tensors.get_slice(key).get_shape() for key in tensors.keys()}
    except (OSError, SafetensorError) as exc:
        return f"unreadable weights: {exc}"
    for key, shape in shapes.items():
        for part, axis, feature in ((".lora_A.", 1, "in_features"), (".lora_B.", 0, "out_features")):
            if part not in key:
                continue
            layer = key.split(part)[0].removeprefix("base_model.model.")
            try:
                module = model.get_submodule(layer)
            except AttributeError:
                return f"it adapts {layer}, which this model does not have"
            size = getattr(module, feature, None)
            if size is not None and size != shape[axis]:
                return f"{layer} has {feature}={size} here, {shape[axis]} in the adapter"
    return ""
