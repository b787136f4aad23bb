"""Builds the completion service from a configuration: which model, which cache.

Used by the language server and by `codegen-lsp complete` alike, so both answer
the same way.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from .backends.base import BackendError
from .cache import CompletionCache
from .config import Config, default_cache_dir
from .completion import PROMPT_OVERHEAD_TOKENS, CompletionPipeline
from .faults import Faults
from .logs import RequestLog

MODEL_ENV = "CODEGEN_LSP_MODEL"
EMBEDDED_MODEL = Path(__file__).parent / "models" / "default"

NO_MODEL_MESSAGE = (
    "no model configured and the embedded default model is not installed yet. "
    "Pass a local model folder (config.json, tokenizer and safetensors weights, e.g. a "
    "Qwen2.5-Coder or StarCoder2 checkpoint) or a .gguf file: `codegen-lsp --model PATH ...`, "
    f"or set {MODEL_ENV}=PATH, or the editor setting codegen.model.path."
)


def resolve_model_path(config_path: str | None, override: str | None = None) -> Path:
    """The model folder (or .gguf file) to load: --model, then the setting, then the environment, then
    the embedded one."""
    for candidate in (override, config_path, os.environ.get(MODEL_ENV)):
        if candidate:
            return Path(candidate).expanduser()
    if (EMBEDDED_MODEL / "config.json").is_file():
        return EMBEDDED_MODEL
    raise BackendError(NO_MODEL_MESSAGE)


def open_cache(config: Config, faults: Faults | None = None) -> CompletionCache | None:
    if not config.cache.enabled:
        return None
    path = Path(config.cache.path).expanduser() if config.cache.path else default_cache_dir() / "completions"
    return CompletionCache(path, config.cache.size_limit_mb, faults)


def load_backend(config: Config, model_override: str | None = None):
    """The configured backend, loaded (slow: reads the weights). Raises BackendError."""
    m = config.model
    if m.backend == "openai":
        return load_openai_backend(config, model_override)
    if m.backend == "llama.cpp":
        return load_llama_cpp_backend(config)
    if m.backend == "ollama":
        return load_ollama_backend(config)
    from .backends.local import LocalBackend  # torch and transformers load only when needed

    return LocalBackend(resolve_model_path(m.path, model_override), adapter=m.adapter, device=m.device,
                        dtype=m.dtype, fim_format=m.fim_format, max_concurrent=m.max_concurrent,
                        context_window=m.context_window, decode=m.decode)


def load_openai_backend(config: Config, model_override: str | None = None):
    """A remote OpenAI-compatible server; only its tokenizer loads here, and nothing is sent yet."""
    from .backends.openai import OpenAIBackend

    m = config.model
    if not m.url:
        raise BackendError("codegen.model.backend is \"openai\" but codegen.model.url is not set "
                           "(the server's API base, e.g. http://gpu-box:8000/v1)")
    # The served model's own tokenizer is best; the local model's (or the embedded one's) is
    # close enough to budget a prompt with, as long as the FIM tokens are the same.
    tokenizer = m.tokenizer or resolve_model_path(m.path, model_override)
    return OpenAIBackend(m.url, name=m.name, tokenizer=tokenizer, fim_format=m.fim_format,
                         context_window=m.context_window, api_key_env=m.api_key_env, ca_bundle=m.ca_bundle,
                         timeout_seconds=m.timeout_seconds)


def _remote_options(m) -> dict:
    return {"api_key_env": m.api_key_env, "ca_bundle": m.ca_bundle, "timeout_seconds": m.timeout_seconds}


def _wanted_window(config: Config) -> int:
    """The context the configured prompt budget and the longest completion need."""
    c = config.completion
    return c.prompt_tokens + max(c.max_new_tokens, c.single_line_max_tokens) + PROMPT_OVERHEAD_TOKENS


def load_llama_cpp_backend(config: Config):
    """llama.cpp's server, natively; it is asked what it serves now (a server that is down is a warning)."""
    from .backends.llama_cpp import LlamaCppBackend

    m = config.model
    return LlamaCppBackend(m.url or "http://127.0.0.1:8080", fim_format=m.fim_format, fim_order=m.fim_order,
                           fim_route=m.fim_route, max_predict_ms=m.max_predict_ms, context_window=m.context_window,
                           wanted_window=_wanted_window(config), **_remote_options(m))


def load_ollama_backend(config: Config):
    """Ollama, natively; nothing is sent until the first completion."""
    from .backends.ollama import OllamaBackend

    m = config.model
    if not m.name:
        raise BackendError("codegen.model.backend is \"ollama\" but codegen.model.name is not set "
                           "(the model as `ollama list` shows it, e.g. qwen2.5-coder:1.5b)")
    return OllamaBackend(m.url or "http://127.0.0.1:11434", name=m.name, tokenizer=m.tokenizer,
                         fim_format=m.fim_format, context_window=m.context_window, **_remote_options(m))


def build_pipeline(config: Config, log: RequestLog, model_override: str | None = None,
                   faults: Faults | None = None) -> CompletionPipeline:
    """`faults`: where the cache and the pipeline report what goes wrong (the server shows it once)."""
    backend = load_backend(config, model_override)
    pipeline = CompletionPipeline(backend, open_cache(config, faults), config.completion, config.model, log, faults)
    freeze_long_lived()
    return pipeline


def freeze_long_lived() -> None:
    """Keep what is loaded by now out of later garbage collections.

    torch and transformers leave millions of long-lived objects behind; every full collection
    walks them all, and now and then one lands inside a keystroke's request. Frozen, they are
    skipped. (With collection switched off, the 10k-line context step's p95 went from 25 to 17 ms
    in one A/B; frozen, its p50 went from 7.2 to 5.3 ms: benchmarks/README.md.)
    """
    # What an earlier call froze goes back first: a model unloaded since (a settings change) is
    # then collected instead of staying frozen, and so alive, for good.
    gc.unfreeze()
    gc.collect()
    gc.freeze()
