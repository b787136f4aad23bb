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
