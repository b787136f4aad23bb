"""The server's configuration: one typed, defaulted tree, parsed leniently.

Editors send it as `initializationOptions` and `workspace/didChangeConfiguration`
(camelCase keys, optionally under a top-level "codegen"). A bad key or value never
fails: it is reported in the returned warnings and its default is kept.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


def _opt(default: Any, help: str, **checks: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **checks})
    return field(default=default, metadata={"help": help, **checks})


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "codegen-lsp"


# Paths in settings and where they may point. model.path, adapter, tokenizer, caBundle,
# actions.chatModel and generators.imageModel are only read, as data: safetensors weights, never a
# pickle or code from the folder (weights.py), so any folder will do. cache.path and log.file are
# where the server keeps its own files. All of them are typed by the user in their own settings
# (VS Code's Restricted Mode holds back an untrusted folder's workspace settings), so they are
# used where they point. generators.docsFolder is different: it is relative to the workspace,
# and every file written under it is checked to stay inside the workspace folder
# (generators/paths.py), as is every path a command names.
@dataclass
class ModelConfig:
    path: str | None = _opt(None, "Local model folder; else CODEGEN_LSP_MODEL, else the embedded model.")
    adapter: str | None = _opt(None, "Local peft (LoRA) adapter folder applied on top of the model.")
    device: Literal["auto", "cpu", "cuda", "mps"] = _opt("auto", "Where the model runs.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _opt("auto", "Weights' dtype; auto picks bf16/fp16 on GPUs.")
    fim_format: str = _opt("auto", "FIM token format; auto detects it from the tokenizer.")
    fim_order: Literal["auto", "psm", "spm"] = _opt("auto", "Prefix-suffix-middle or suffix-prefix-middle.")
    max_concurrent: int = _opt(1, "Generations running at once.", min=1, max=64)
    context_window: int = _opt(0, "Prompt plus new tokens limit; 0 reads it from the model config.", min=0)
    decode: Literal["auto", "dynamic", "static"] = _opt(
        "auto", "How tokens are decoded: static (a fixed-size KV cache whose decode step is compiled with CUDA "
                "graphs on a GPU) or dynamic; auto: dynamic, until static is measured on a GPU.")
    backend: Literal["local", "openai", "llama.cpp", "ollama"] = _opt(
        "local", "Where completions come from: the local model, an OpenAI-compatible server (vLLM, TGI, "
                 "transformers serve), llama.cpp's llama-server natively, or Ollama natively.")
    url: str | None = _opt(None, "Remote backends: the server's address. openai: the API base "
                                 "(http://gpu-box:8000/v1); llama.cpp: http://127.0.0.1:8080; "
                                 "ollama: http://127.0.0.1:11434.")
    name: str | None = _opt(None, "openai and ollama backends: the served model name; a workspace adapter is asked "
                                  "for by its served name instead (served_name in codegen_adapter.json, else its "
                                  "folder name).")
    fim_route: Literal["auto", "raw", "infill"] = _opt(
        "auto", "llama.cpp backend: raw sends our own FIM prompt to /completion (either order, real file names); "
                "infill lets /infill build it (PSM only); auto: raw when the model's FIM tokens are known here.")
    max_predict_ms: int = _opt(1000, "llama.cpp backend: a multi-line completion ends this long after its first "
                                     "line (t_max_predict_ms), so a slow model shows a line soon; 0: no limit.",
                               min=0, max=600000)
    tokenizer: str | None = _opt(None, "openai and ollama backends: a local tokenizer folder for prompt budgeting and the FIM "
                                       "format; default: the model path, else the embedded model's.")
    api_key_env: str = _opt("CODEGEN_LSP_API_KEY", "Remote backends: the environment variable holding the bearer token.")
    ca_bundle: str | None = _opt(None, "Remote backends: a CA bundle file to verify the server's certificate with.")
    timeout_seconds: float = _opt(30.0, "Remote backends: seconds to wait for the server (connecting: at most 5).",
                                  min=0.1, max=3600.0)


@dataclass
class CompletionConfig:
    enabled: bool = _opt(True, "Offer completions at all.")
    debounce_ms: int = _opt(30, "Wait this long for a newer keystroke before asking the model.", min=0, max=5000)
    max_new_tokens: int = _opt(64, "New tokens for a multi-line completion.", min=1, max=8192)
    single_line_max_tokens: int = _opt(32, "New tokens for a single-line completion.", min=1, max=8192)
    prompt_tokens: int = _opt(1536, "Token budget of prefix plus suffix (capped by the window).", min=16)
    suffix_share: float = _opt(0.25, "Share of the prompt budget given to the suffix.", min=0.0, max=1.0)
    temperature: float = _opt(0.0, "0 decodes greedily.", min=0.0, max=2.0)
    top_p: float = _opt(0.95, "Nucleus sampling mass when temperature > 0.", min=0.0, max=1.0)
    stop: list[str] = _opt([], "Extra stop sequences.")
    typing_ahead: bool = _opt(True, "Serve the rest of the last suggestion while it is being typed.")
    token_healing: bool = _opt(True, "Cut the prompt's last token and make the completion spell it out again "
                                     "(better completions after half a word, a space or an indentation).")
    repo_context: bool = _opt(True, "Add repository context: signatures from other files, similar snippets "
                                    "of open files, and the file's imports and scopes when the window cut them.")
    syntax_check: bool = _opt(True, "Stop multi-line completions at the end of their block, and cut back or "
                                    "drop completions that add a syntax error (tree-sitter languages).")
    context_tokens: int = _opt(384, "Most prompt tokens repository context may take (at most half the budget).",
                               min=0, max=16384)


@dataclass
class ActionsConfig:
    chat_model: str | None = _opt(None, "Instruct model folder (with a chat template) for explain and refactors; "
                                        "default: the completion model, through fill-in-the-middle holes.")


@dataclass
class GeneratorsConfig:
    docs_folder: str = _opt("docs", "Workspace-relative folder for generated docs, diagrams and images.")
    image_model: str | None = _opt(None, "Local diffusers text-to-image folder (e.g. SD-Turbo), safetensors weights.")
    image_device: Literal["auto", "cpu", "cuda", "mps"] = _opt("auto", "Where images are generated.")
    image_steps: int = _opt(4, "Denoising steps per image.", min=1, max=200)
    image_size: int = _opt(512, "Image width and height in pixels (a multiple of 8).", min=32, max=2048)
    idle_release_seconds: int = _opt(300, "Release a job's models (the image pipeline) after this long unused.",
                                     min=0, max=86400)
    captions: bool = _opt(True, "Let the model add a one-line caption to each diagram node.")


@dataclass
class IndexConfig:
    enabled: bool = _opt(True, "Index the workspace's definitions (tree-sitter) for repository context.")
    max_files: int = _opt(20000, "Index at most this many files.", min=1)
    max_file_kb: int = _opt(1000, "Skip files larger than this.", min=1)


@dataclass
class CacheConfig:
    enabled: bool = _opt(True, "Keep completions across restarts.")
    path: str | None = _opt(None, "Cache folder; default ~/.cache/codegen-lsp/completions.")
    size_limit_mb: int = _opt(256, "Evict least recently used entries beyond this size.", min=1)


@dataclass
class LogConfig:
    level: Literal["error", "warning", "info", "debug"] = _opt("info", "Lowest level sent to the editor.")
    file: str | None = _opt(None, "Log file; default ~/.cache/codegen-lsp/server.log.")
    keep_requests: int = _opt(50, "Requests codegen.debug.lastRequests can return.", min=1, max=10000)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    completion: CompletionConfig = field(default_factory=CompletionConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    log: LogConfig = field(default_factory=LogConfig)
    actions: ActionsConfig = field(default_factory=ActionsConfig)
    generators: GeneratorsConfig = field(default_factory=GeneratorsConfig)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def parse_config(raw: Any) -> tuple[Config, list[str]]:
    """The configuration in `raw` over the defaults, and one warning per rejected key."""
    warnings: list[str] = []
    if isinstance(raw, dict) and set(raw) == {"codegen"}:
        raw = raw["codegen"]
    if raw is None:
        return Config(), warnings
    if not isinstance(raw, dict):
        return Config(), [f"codegen: expected an object, got {type(raw).__name__}"]
    return _parse_dataclass(Config, raw, "codegen", warnings), warnings


def _parse_dataclass(cls: type, raw: dict, where: str, warnings: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = snake(str(key))
        path = f"{where}.{key}"
        if name not in fields:
            warnings.append(f"{path}: unknown setting")
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if isinstance(value, dict):
                values[name] = _parse_dataclass(hint, value, path, warnings)
            else:
                warnings.append(f"{path}: expected an object")
            continue
        error = _check_value(value, hint, fields[name].metadata)
        if error:
            warnings.append(f"{path}: {error}, got {value!r}; using the default")
        else:
            values[name] = float(value) if hint is float else value
    return cls(**values)


def _check_value(value: Any, hint: Any, checks: Any) -> str | None:
    """Why `value` does not fit the field, or None when it does."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return None if value in args else f"expected one of {', '.join(map(repr, args))}"
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _check_value(value, next(a for a in args if a is not type(None)), checks)
    if hint is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if hint in (int, float):
        numeric = (int, float) if hint is float else (int,)
        if isinstance(value, bool) or not isinstance(value, numeric) or value != value:
            return f"expected {'a number' if hint is float else 'an integer'}"
        if "min" in checks and value < checks["min"]:
            return f"expected at least {checks['min']}"
        if "max" in checks and value > checks["max"]:
            return f"expected at most {checks['max']}"
        return None
    if hint is str:
        return None if isinstance(value, str) else "expected a string"
    if origin is list:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "expected a list of strings"
    return f"unsupported type {hint}"


def settings_schema() -> dict[str, dict]:
    """Flat `codegen.*` settings as JSON-schema properties (type, default, description, enum,
    bounds): VS Code's `contributes.configuration` is generated from this."""
    out: dict[str, dict] = {}
    sections = typing.get_type_hints(Config)
    for section in dataclasses.fields(Config):
        hints = typing.get_type_hints(sections[section.name])
        for f in dataclasses.fields(sections[section.name]):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            entry = {**_json_type(hints[f.name]), "default": default, "description": f.metadata.get("help", "")}
            bounds = {"minimum": f.metadata.get("min"), "maximum": f.metadata.get("max")}
            out[f"codegen.{section.name}.{camel(f.name)}"] = {**entry, **{k: v for k, v in bounds.items() if v is not None}}
    return out


def _json_type(hint: Any) -> dict:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        inner = _json_type(next(a for a in args if a is not type(None)))
        return {**inner, "type": [inner["type"], "null"]}
    if origin is list:
        return {"type": "array", "items": {"type": "string"}}
    return {"type": {bool: "boolean", int: "integer", float: "number", str: "string"}[hint]}
