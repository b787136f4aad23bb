"""Tiny models built from configs, once, and reused while their recipe is unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
MODELS = Path(__file__).parent / ".models"
FIT_TEXT = DATA / "shapes.py"


def _recipe_hash(*files: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _build(name: str, fit: bool, **kwargs) -> Path:
    from training.tiny import build_tiny_model

    recipe = (ROOT / "training" / "tiny.py", ROOT / "codegen_lsp" / "prompts" / "fim.py", FIT_TEXT)
    out = MODELS / f"{name}-{_recipe_hash(*recipe, extra=repr(sorted(kwargs.items())))}"
    if not (out / "model.safetensors").is_file():
        texts = [FIT_TEXT.read_text(), (ROOT / "codegen_lsp" / "data" / "demo_sample.py").read_text()]
        build_tiny_model(out, texts, FIT_TEXT.read_text() if fit else None, **kwargs)
    return out


def build_fitted_model() -> Path:
    """A 2-layer Llama fitted to tests/data/shapes.py: it fills that file's lines back in.
    (Also benchmarks/fuzz.py's model: fast enough for 10,000 operations.)"""
    return _build("fitted", fit=True, hidden=128, steps=400)


@pytest.fixture(scope="session")
def fitted_model() -> Path:
    return build_fitted_model()


@pytest.fixture(scope="session")
def random_model() -> Path:
    """An untrained 2-layer Llama: it rarely ends a hole, so decoding runs until stopped."""
    return _build("random", fit=False, hidden=64, context=16384)


BROKEN_TEXT = "".join(f"def area{i}(width, height):\n    return (width * height + {i}\n\n\n" for i in range(12))


@pytest.fixture(scope="session")
def broken_model() -> Path:
    """A 2-layer Llama fitted to code whose every `return` leaves a parenthesis open: whatever it
    writes is a syntax error, for the tests that check such output is rejected."""
    from training.tiny import build_tiny_model

    out = MODELS / f"broken-{_recipe_hash(ROOT / 'training' / 'tiny.py', ROOT / 'codegen_lsp' / 'prompts' / 'fim.py', extra=BROKEN_TEXT)}"
    if not (out / "model.safetensors").is_file():
        build_tiny_model(out, [BROKEN_TEXT], BROKEN_TEXT, hidden=64, steps=200)
    return out


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    # Servers started by a test keep their cache and log under its own folder.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CODEGEN_LSP_MODEL", raising=False)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_image_model() -> Path:
    """A StableDiffusionPipeline with random weights (UNet, VAE, CLIP), rebuilt when its recipe changes."""
    pytest.importorskip("diffusers")
    from training.tiny_diffusion import build_tiny_pipeline

    return build_tiny_pipeline(MODELS / f"tiny-sd-{_recipe_hash(ROOT / 'training' / 'tiny_diffusion.py')}")
