"""A real llama.cpp `llama-server` for the tests: started on a free local port, stopped after."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path


from tests.e2e.helpers import free_port, wait_healthy
from tests.engines import llama_server

STARTUP_SECONDS = 120


@contextlib.contextmanager
def running_llama_server(gguf: Path, *args: str, ctx_size: int = 4096, port: int | None = None,
                         threads: int = 1, log: Path | None = None):
    """The base URL of llama-server serving `gguf` (one slot), once /health says ok; its output in `log`.

    One thread and --poll 0 (idle threads sleep instead of spinning) by default: on two cores
    shared with the test's own server and transformers, -t 2 ran the same requests ten times slower.
    """
    port = port or free_port()
    log = log or gguf.parent / f"llama-server-{port}.log"
    with log.open("w") as sink:
        process = subprocess.Popen([str(llama_server()), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port),
                                    "-c", str(ctx_size), "-t", str(threads), "--poll", "0", "--parallel", "1", *args],
                                   stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, url, STARTUP_SECONDS, f"llama-server (its log: {log})", log.read_text)
        yield url
    finally:
        process.kill()
        process.wait(timeout=30)


def export_gguf(model: Path, out: Path, quant: str = "f32") -> Path:
    """`codegen-lsp export --gguf OUT` on `model`, as a user runs it."""
    if not out.is_file():
        done = subprocess.run([sys.executable, "-m", "codegen_lsp", "export", "--model", str(model), "--gguf", str(out),
                               "--quant", quant], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"codegen-lsp export failed: {done.stderr[-3000:]}"
    return out
