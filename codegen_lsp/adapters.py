"""Which LoRA adapter serves which workspace folder.

A folder's adapter is the one its `.codegen/adapter.json` names (`codegen-lsp train`
writes it), else the `codegen.model.adapter` setting, else none: the base model.
An adapter folder holds PEFT's files plus `codegen_adapter.json`, the manifest
`codegen-lsp train` writes (base model, data, evaluation).

An adapter folder may be anywhere, unlike the files the server writes for a workspace
(kept inside it: generators/paths.py). The setting is the user's own; the registry is
workspace content that a cloned repository may ship, but what it names is only read, as
data: safetensors weights checked to fit the model, never a pickle or code (weights.py).
Naming a folder outside the workspace gains such a file nothing over shipping the adapter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .weights import UnsafeModelFolder, require_safetensors

REGISTRY = Path(".codegen") / "adapter.json"
MANIFEST = "codegen_adapter.json"


@dataclass(frozen=True)
class RegisteredAdapter:
    folder: Path                  # the workspace folder
    path: Path | None             # the adapter folder; None: the base model
    source: str                   # where the choice came from
    problem: str = ""             # why it cannot serve, when that is known without loading it
    manifest: dict | None = None  # codegen_adapter.json, when there is one


def registered_adapter(folder: Path, setting: str | None = None) -> RegisteredAdapter:
    """The adapter for `folder`: its registry file first, then the setting."""
    registry = folder / REGISTRY
    if registry.is_file():
        try:
            named = json.loads(registry.read_text(encoding="utf-8"))["adapter"]
            path = (folder / Path(named).expanduser()).resolve()  # relative paths are the folder's
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return RegisteredAdapter(folder, None, str(REGISTRY), f"{registry} is not valid: {exc}")
        return _checked(folder, path, str(REGISTRY))
    if setting:
        return _checked(folder, Path(setting).expanduser().resolve(), "setting codegen.model.adapter")
    return RegisteredAdapter(folder, None, "none")


def _checked(folder: Path, path: Path, source: str) -> RegisteredAdapter:
    if not (path / "adapter_config.json").is_file():
        return RegisteredAdapter(folder, path, source, f"no peft adapter at {path} (adapter_config.json missing)")
    try:
        require_safetensors(path, "adapter")
    except UnsafeModelFolder as exc:
        return RegisteredAdapter(folder, path, source, str(exc))
    manifest = None
    if (path / MANIFEST).is_file():
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return RegisteredAdapter(folder, path, source, f"{path / MANIFEST} is not valid JSON: {exc}")
    return RegisteredAdapter(folder, path, source, manifest=manifest)


def folder_of(path: Path, folders: list[Path]) -> Path | None:
    """The innermost of `folders` that holds `path`."""
    holding = [f for f in folders if path == f or f in path.parents]
    return max(holding, key=lambda f: len(f.parts), default=None)


def describe(adapter: RegisteredAdapter) -> str:
    """One line for `codegen-lsp adapters`."""
    if adapter.path is None:
        return f"base model ({adapter.problem or 'no adapter registered'})"
    if adapter.problem:
        return f"{adapter.path} from {adapter.source}: NOT USABLE: {adapter.problem}"
    text = f"{adapter.path} from {adapter.source}"
    manifest = adapter.manifest or {}
    base = manifest.get("base_model", {}).get("name")
    evaluation = manifest.get("evaluation", {})
    if base:
        text += f"; base {base}"
    if "base" in evaluation and "adapter" in evaluation:
        text += (f"; held-out loss {evaluation['base']['loss']:.3f} -> {evaluation['adapter']['loss']:.3f}, "
                 f"FIM line EM {evaluation['base']['fim-line']['exact_match']:.1%} -> "
                 f"{evaluation['adapter']['fim-line']['exact_match']:.1%}")
    return text
