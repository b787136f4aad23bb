"""The command line as a user runs it: complete, demo, and the message when no model is set up."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codegen_lsp.engine import EMBEDDED_MODEL
from tests.conftest import FIT_TEXT, ROOT


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codegen_lsp", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_complete_prints_the_completion_at_a_place(fitted_model, tmp_path):
    lines = FIT_TEXT.read_text().split("\n")
    index = lines.index("    return a + b")
    lines[index] = ""
    source = tmp_path / "shapes.py"
    source.write_text("\n".join(lines))
    done = run_cli("complete", f"{source}:{index + 1}:1", "--model", str(fitted_model))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "    return a + b\n"
    assert "[model" in done.stderr


def test_complete_rejects_a_bad_location(fitted_model, tmp_path):
    done = run_cli("complete", f"{tmp_path}/missing.py:0:1", "--model", str(fitted_model))
    assert done.returncode == 2 and "FILE:LINE:COL" in done.stderr


def test_demo_drives_the_real_server(fitted_model):
    # A relative path, as a user types it.
    done = run_cli("--model", str(fitted_model), "demo", str(FIT_TEXT.relative_to(ROOT)), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line[:5].strip().isdigit()]
    sources = {row[1] for row in rows}
    assert {"model", "cache"} <= sources
    assert all(row[2].endswith("ms") for row in rows)


@pytest.mark.skipif((EMBEDDED_MODEL / "config.json").is_file(), reason="the embedded model is installed")
def test_without_a_model_the_message_says_how_to_pass_one(tmp_path):
    for command in (["demo"], ["complete", f"{FIT_TEXT}:1:1"]):
        done = run_cli(*command)
        assert done.returncode == 2
        assert "--model PATH" in done.stderr and "CODEGEN_LSP_MODEL" in done.stderr
