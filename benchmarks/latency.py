"""Completion latency, measured the way an editor sees it.

Part 1 replays typing through the real server: `python -m codegen_lsp serve` runs as a
subprocess behind a pygls LSP client. For each of a few Python standard-library modules
the client opens the file cut in the middle of a function body (what follows the cut is
the suffix), then types the file's next characters one keystroke at a time with jittered
gaps. Each keystroke sends an incremental didChange and an automatic
textDocument/inlineCompletion request, without waiting for the previous answer: like an
editor, a newer request supersedes the older one. Latency is timed on the client, from
sending the request to reading its response. Afterwards `codegen.debug.lastRequests`
tells, for every request, where its answer came from (model, cache, typing-ahead...) and
how the server spent its time.

Part 2 isolates the backend, in this process, on the prompts the server built in part 1:
time to first token of LocalBackend, which keeps each document's KV cache and re-encodes
only what changed since the previous keystroke, against a plain
`model.generate(max_new_tokens=1)` over the whole prompt, same model and tokenizer.

Without --model (and no embedded model installed) a small Llama with random weights is
built: the figures then measure the machinery, not the quality of the suggestions.

    .venv/bin/python benchmarks/latency.py [--model PATH] [--files N] [--chars N] [--gap-ms N] [--quick]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import hashlib
import math
import os
import platform
import random
import statistics
import sys
import sysconfig
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

from lsprotocol import types  # noqa: E402
from codegen_lsp.lsp_client import ScriptedEditor  # noqa: E402

from codegen_lsp.config import CompletionConfig, default_cache_dir  # noqa: E402
from codegen_lsp.engine import EMBEDDED_MODEL  # noqa: E402

# Modules typed into, in this order; --files N takes the first N.
STDLIB_FILES = ("textwrap.py", "string.py", "shlex.py", "fnmatch.py", "difflib.py",
                "calendar.py", "pprint.py", "tokenize.py", "argparse.py", "inspect.py")
# The benchmark model when none is given: big enough that a forward pass costs something.
TINY_RECIPE = {"hidden": 256, "layers": 4, "heads": 8, "context": 4096}
KEEP_REQUESTS = 10000  # the server's maximum; every keystroke's record must still be there
WARMUP_REQUESTS = 3
# Outcomes whose request got an answer of its own (the others were overtaken by a newer one).
UNANSWERED = ("superseded", "cancelled")


# -- the model ---------------------------------------------------------------------

@dataclass
class ModelChoice:
    path: Path
    description: str


def pick_model(requested: str | None) -> ModelChoice:
    """--model, else the embedded default model, else a benchmark model with random weights."""
    if requested:
        return ModelChoice(Path(requested).expanduser(), "given with --model")
    if (EMBEDDED_MODEL / "config.json").is_file():
        return ModelChoice(EMBEDDED_MODEL, "embedded default")
    return ModelChoice(build_benchmark_model(), "random weights: measures the machinery, not suggestion quality")


def build_benchmark_model() -> Path:
    """A Llama built from a config with random weights, kept in the cache while its recipe holds."""
    from training import tiny

    texts = [path.read_text(encoding="utf-8") for path in stdlib_paths(len(STDLIB_FILES))]
    digest = hashlib.sha256(Path(tiny.__file__).read_bytes())
    digest.update(repr(sorted(TINY_RECIPE.items())).encode())
    for text in texts:
        digest.update(text.encode())
    out = default_cache_dir() / "benchmark-models" / f"tiny-{digest.hexdigest()[:12]}"
    if not (out / "model.safetensors").is_file():
        tiny.build_tiny_model(out, texts, fit_text=None, **TINY_RECIPE)
    return out


# -- what is typed -----------------------------------------------------------------

@dataclass
class TypingSession:
    name: str
    uri: str
    opened: str  # the file with the text to type cut out
    cursor: int  # where typing starts (str index into opened)
    typed: str  # the file's real text at the cursor, typed keystroke by keystroke


def stdlib_paths(count: int) -> list[Path]:
    folder = Path(sysconfig.get_paths()["stdlib"])
    return [folder / name for name in STDLIB_FILES[:count] if (folder / name).is_file()]


def typing_session(path: Path, chars: int) -> TypingSession:
    """Cut `path` at a statement in the middle of a function body near the middle of the file.

    The characters typed are the file's own; the rest of their line is dropped so the
    cursor always ends a line, as when writing new code, and what follows is the suffix.
    """
    text = path.read_text(encoding="utf-8")
    line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    cut = _middle_statement(text, line_starts, chars)
    line_end = text.find("\n", cut + chars)
    line_end = len(text) if line_end < 0 else line_end
    return TypingSession(path.name, f"file:///bench/{path.name}", text[:cut] + text[line_end:], cut,
                         text[cut: cut + chars])


def _middle_statement(text: str, line_starts: list[int], chars: int) -> int:
    """Offset of the middle statement of the function whose middle is nearest the file's."""
    middle = len(line_starts) // 2
    best: tuple[int, int] | None = None
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or len(node.body) < 3:
            continue
        statement = node.body[len(node.body) // 2]
        start = line_starts[statement.lineno - 1] + statement.col_offset
        end = line_starts[node.end_lineno - 1] if node.end_lineno < len(line_starts) else len(text)
        if end - start < chars:
            continue  # typing would run past the function's end
        candidate = (abs(statement.lineno - middle), start)
        best = candidate if best is None or candidate < best else best
    if best is None:
        raise SystemExit(f"no function body with {chars} characters to type")
    return best[1]


def keystrokes(typed: str) -> list[str]:
    """One string per keystroke; Enter brings the next line's indentation, as editors auto-indent."""
    strokes: list[str] = []
    i = 0
    while i < len(typed):
        j = i + 1
        if typed[i] == "\n":
            while j < len(typed) and typed[j] in " \t":
                j += 1
        strokes.append(typed[i:j])
        i = j
    return strokes


def lsp_position(text: str, offset: int) -> types.Position:
    """The LSP position (UTF-16 columns, the default encoding) of a str offset."""
    line_start = text.rfind("\n", 0, offset) + 1
    column = len(text[line_start:offset].encode("utf-16-le")) // 2
    return types.Position(line=text.count("\n", 0, offset), character=column)


# -- part 1: typing through the server -----------------------------------------------

@dataclass
class Sent:
    uri: str
    version: int
    sent: float
    answered: float | None = None

    @property
    def latency_ms(self) -> float:
        return (self.answered - self.sent) * 1000


@dataclass
class ServerRun:
    sent: list[Sent]
    records: list[dict]  # this run's keystrokes' records (warm-up left out)
    backend_calls: int  # during the typing only


async def warm_up(bench: ScriptedEditor) -> None:
    """Wait for the model to load and run a few generations, so no keystroke pays for either."""
    text = "def greet(name):\n    \n"
    uri = "file:///bench/warmup.py"
    bench.open(uri, text)
    for _ in range(WARMUP_REQUESTS):
        await asyncio.wrap_future(bench.ask(uri, types.Position(line=1, character=4), invoked=True))
    error = (await bench.debug(0, False)).get("loadError")
    if error:
        raise SystemExit(f"the server could not load the model: {error}")


async def replay(bench: ScriptedEditor, session: TypingSession, gap_ms: float, rng: random.Random) -> list[Sent]:
    """Type `session.typed` into the document; one request per keystroke, never awaited in between."""
    bench.open(session.uri, session.opened)
    text, cursor = session.opened, session.cursor
    sent: list[Sent] = []
    futures: list[Future] = []
    for stroke in keystrokes(session.typed):
        # A human's gaps vary; the seeded RNG makes runs comparable.
        await asyncio.sleep(gap_ms * rng.uniform(0.5, 1.5) / 1000)
        bench.insert(session.uri, lsp_position(text, cursor), stroke)
        text, cursor = text[:cursor] + stroke + text[cursor:], cursor + len(stroke)
        record = Sent(session.uri, bench.version, time.perf_counter())
        future = bench.ask(session.uri, lsp_position(text, cursor))
        # Stamped in the client's reader as the response is parsed, not when we get round to it.
        future.add_done_callback(lambda _f, r=record: setattr(r, "answered", time.perf_counter()))
        sent.append(record)
        futures.append(future)
    await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
    return sent


async def run_server(model: Path, sessions: list[TypingSession], args: argparse.Namespace, workdir: Path) -> ServerRun:
    completion = {} if args.debounce_ms is None else {"debounceMs": args.debounce_ms}
    model_options = {} if args.fim_order is None else {"fimOrder": args.fim_order}
    # A fresh completion cache and log of its own, so earlier runs neither help nor pollute.
    options = {"model": model_options, "completion": completion, "cache": {"path": str(workdir / "cache")},
               "log": {"keepRequests": KEEP_REQUESTS, "file": str(workdir / "server.log")}}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(workdir / "xdg")}
    bench = ScriptedEditor("codegen-lsp-benchmark")
    await bench.start(model, options, env)
    try:
        await warm_up(bench)
        calls_before = (await bench.debug(0, False))["backendCalls"]
        rng = random.Random(args.seed)
        sent: list[Sent] = []
        for n, session in enumerate(sessions, 1):
            progress(f"typing into {session.name} ({n}/{len(sessions)})")
            sent += await replay(bench, session, args.gap_ms, rng)
        # With prompts: part 2 replays exactly the prompts the server built.
        debug = await bench.debug(KEEP_REQUESTS, True)
    finally:
        await bench.stop()
    uris = {s.uri for s in sessions}
    records = [r for r in debug["requests"] if r["uri"] in uris]
    return ServerRun(sent, records, debug["backendCalls"] - calls_before)


# -- part 2: time to first token, in process ---------------------------------------

@dataclass
class FirstTokenRun:
    reuse_ms: list[float] = field(default_factory=list)
    full_ms: list[float] = field(default_factory=list)
    reused_tokens: list[int] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    parameters: int = 0
    device: str = ""
    fim: str = ""  # the model's FIM format and the order "auto" means for it


def prompts_by_document(records: list[dict]) -> list[list[str]]:
    """Each document's prompts in the order the server built them, repeats dropped."""
    by_uri: dict[str, list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r["id"]):
        prompt = record.get("prompt")
        if prompt and (not by_uri[record["uri"]] or by_uri[record["uri"]][-1] != prompt):
            by_uri[record["uri"]].append(prompt)
    return [prompts for prompts in by_uri.values() if len(prompts) > 1]


def measure_first_token(model: Path, documents: list[list[str]]) -> FirstTokenRun:
    from codegen_lsp.backends.base import GenerationRequest, StopFlag
    from codegen_lsp.backends.local import LocalBackend

    backend = LocalBackend(model)
    run = FirstTokenRun(parameters=sum(p.numel() for p in backend.model.parameters()),
                        device=describe_device(backend.device, backend.dtype),
                        fim=f"{backend.fim.name}, auto = {backend.fim.default_order}")
    baseline = PlainGenerate(backend.model, backend.tokenizer, backend.device)
    if not documents:
        backend.close()
        return run

    async def with_reuse() -> None:
        for n, prompts in enumerate(documents):
            for i, prompt in enumerate(prompts):
                # Greedy and one token: only the prompt's encoding is timed.
                request = GenerationRequest(prompt=prompt, max_new_tokens=1, single_line=True, session=f"bench-{n}")
                generation = await backend.generate(request, StopFlag())
                if i > 0:  # a document's first prompt only fills its KV session
                    run.reuse_ms.append(generation.first_token_seconds * 1000)
                    run.reused_tokens.append(generation.reused_tokens)
                    run.prompt_tokens.append(generation.prompt_tokens)

    # One side after the other, not alternating: LocalBackend runs torch on its worker
    # thread and the baseline on this one, and switching threads on every call slowed
    # both by up to 2x on a 2-core CPU (each thread keeps its own busy OpenMP team).
    try:
        asyncio.run(with_reuse())
    finally:
        backend.close()
    baseline.first_token_ms(documents[0][0])  # warm-up
    run.full_ms = [baseline.first_token_ms(prompt) for prompts in documents for prompt in prompts[1:]]
    return run


class PlainGenerate:
    """The textbook way: `model.generate` over the whole prompt, no state kept between calls."""

    def __init__(self, model, tokenizer, device) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device

    def first_token_ms(self, prompt: str) -> float:
        import torch

        ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"].to(self.device)
        # Tokenizing is left out of this timing but not out of LocalBackend's: the
        # speed-up shown is a lower bound.
        started = time.perf_counter()
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=1, do_sample=False,
                            pad_token_id=pad)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - started) * 1000


# -- report ------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: a value that was measured, fine for small samples."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def p50_p95(values: list[float]) -> tuple[str, str]:
    if not values:
        return "-", "-"
    return ms(percentile(values, 50)), ms(percentile(values, 95))


def describe_machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


class OtherLoad:
    """CPU time other processes took while the benchmark ran: on a shared machine it skews every figure."""

    def __init__(self) -> None:
        self._busy, self._ours = self._busy_seconds(), self._our_seconds()

    def share(self) -> float | None:
        """Other processes' share of the machine's CPU since construction, or None off Linux."""
        busy, ours = self._busy_seconds(), self._our_seconds()
        if busy is None or self._busy is None:
            return None
        elapsed_cpu = (busy[1] - self._busy[1])  # every core's time, idle included
        other = (busy[0] - self._busy[0]) - (ours - self._ours)
        return max(0.0, other / elapsed_cpu) if elapsed_cpu > 0 else None

    @staticmethod
    def _busy_seconds() -> tuple[float, float] | None:
        """(busy, total) CPU seconds of the whole machine, from /proc/stat."""
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = fields
        tick = os.sysconf("SC_CLK_TCK")
        return (user + nice + system + irq + softirq + steal) / tick, sum(fields) / tick

    @staticmethod
    def _our_seconds() -> float:
        # Children count once reaped: the server has exited by the time share() is asked.
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system


def describe_device(device, dtype) -> str:
    import torch

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return f"{name}, {str(dtype).removeprefix('torch.')}"


def match_records(run: ServerRun) -> list[dict | None]:
    """The server's record for each keystroke, by document and version; None when missing."""
    by_key: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for record in sorted(run.records, key=lambda r: r["id"]):
        by_key[(record["uri"], record["version"])].append(record)
    return [by_key[(s.uri, s.version)].pop(0) if by_key[(s.uri, s.version)] else None for s in run.sent]


def server_rows(run: ServerRun, debounce_ms: int) -> list[tuple[str, ...]]:
    records = match_records(run)
    keystrokes = len(run.sent)
    outcomes = Counter(r["outcome"] if r else "unmatched" for r in records)
    answered = [(s, r) for s, r in zip(run.sent, records) if r and r["outcome"] not in UNANSWERED]

    def latencies(*sources: str) -> list[float]:
        return [s.latency_ms for s, r in answered if not sources or r["outcome"] in sources]

    # The debounce is a deliberate wait, not overhead; only requests that reach the cache or model sleep it.
    overhead = [r["timings_ms"].get("total", 0) - r["timings_ms"].get("generate", 0)
                - (debounce_ms if r["outcome"] in ("model", "cache") else 0) for _, r in answered]
    queue = [r["timings_ms"]["queue"] for _, r in answered if "queue" in r["timings_ms"]]
    # What the pipeline's clock cannot see: JSON-RPC both ways, dispatch, a busy event loop.
    transport = [s.latency_ms - r["timings_ms"].get("total", 0) for s, r in answered]
    # Over every keystroke that got that far, superseded or not: each one paid for it.
    # The server times trigger and context separately from the debounce sleep between them.
    context = [r["timings_ms"]["context"] + r["timings_ms"].get("trigger", 0)
               for r in records if r and "context" in r["timings_ms"]]
    first_token = [r["timings_ms"]["first_token"] for r in records if r and r["new_tokens"] > 0]

    def share(outcome: str) -> str:
        return f"{100 * outcomes[outcome] / keystrokes:.0f}%  ({outcomes[outcome]})"

    rows = [
        ("typing through the server", "p50", "p95"),
        ("keystrokes (inline requests)", str(keystrokes), ""),
        (f"end-to-end latency, answered ({len(answered)})", *p50_p95(latencies())),
        (f"  answered by the model ({outcomes['model']})", *p50_p95(latencies("model"))),
        (f"  answered by typing-ahead or cache ({outcomes['typing-ahead'] + outcomes['cache']})",
         *p50_p95(latencies("typing-ahead", "cache"))),
        (f"server overhead: total - generate - {debounce_ms} ms debounce", *p50_p95(overhead)),
        ("  of which waiting for the backend (queue)", *p50_p95(queue)),
        ("LSP transport and dispatch: end-to-end - server total", *p50_p95(transport)),
        ("trigger + context + prompt per keystroke", *p50_p95(context)),
        (f"first token, every model call ({len(first_token)})", *p50_p95(first_token)),
        ("backend calls per keystroke", f"{run.backend_calls / keystrokes:.2f}", ""),
        ("keystrokes served by typing-ahead", share("typing-ahead"), ""),
        ("keystrokes served by the cache", share("cache"), ""),
        ("keystrokes superseded by a newer one", share("superseded"), ""),
    ]
    others = {k: v for k, v in outcomes.items() if k not in ("model", "typing-ahead", "cache", "superseded")}
    if others:
        rows.append(("other outcomes", ", ".join(f"{k} {v}" for k, v in sorted(others.items())), ""))
    return rows


def first_token_rows(run: FirstTokenRun) -> list[tuple[str, ...]]:
    if not run.reuse_ms:
        return [("time to first token", "no prompts to compare", "")]
    reuse = (statistics.median(run.reuse_ms), statistics.fmean(run.reuse_ms))
    cold = sum(reused < 0.1 * total for reused, total in zip(run.reused_tokens, run.prompt_tokens))
    full = (statistics.median(run.full_ms), statistics.fmean(run.full_ms))
    return [
        (f"time to first token, in process ({len(run.reuse_ms)} prompts)", "p50", "mean"),
        ("LocalBackend, KV prefix reuse", ms(reuse[0]), ms(reuse[1])),
        ("model.generate(max_new_tokens=1), full prompt", ms(full[0]), ms(full[1])),
        ("speed-up", f"{full[0] / reuse[0]:.1f}x", f"{full[1] / reuse[1]:.1f}x"),
        ("prompt tokens reused / prompt tokens (mean)",
         f"{statistics.fmean(run.reused_tokens):.0f} / {statistics.fmean(run.prompt_tokens):.0f}", ""),
        # When the window's first line moves, the whole prompt is new and nothing is reused.
        ("prompts re-encoded almost whole (<10% reused)", f"{cold} of {len(run.reuse_ms)}", ""),
    ]


def render(header: list[tuple[str, str]], sections: list[list[tuple[str, ...]]]) -> str:
    """One plain-text table: key/value lines, then sections whose first row names the columns."""
    width = max(len(row[0]) for section in sections for row in section) + 2
    cols = [max(len(row[i]) for section in sections for row in section) + 2 for i in (1, 2)]
    key_width = max(len(k) for k, _ in header) + 2
    lines = [f"{k:<{key_width}}{v}" for k, v in header]
    for section in sections:
        lines.append("")
        for n, row in enumerate(section):
            line = f"{row[0]:<{width}}{row[1]:>{cols[0]}}{row[2]:>{cols[1]}}".rstrip()
            lines.append(line)
            if n == 0:
                lines.append("-" * len(f"{'':<{width}}{'':>{cols[0]}}{'':>{cols[1]}}"))
    return "\n".join(lines)


def progress(message: str) -> None:
    """A one-line status on a terminal only: redirected output stays just the table."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()


# -- main --------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="local model folder (default: the embedded model, else a random-weight one)")
    parser.add_argument("--files", type=int, default=5,
                        help=f"standard-library modules to type into (max {len(STDLIB_FILES)})")
    parser.add_argument("--chars", type=int, default=40, help="characters typed per file")
    parser.add_argument("--gap-ms", type=float, default=60, help="mean gap between keystrokes (jittered +-50%%)")
    parser.add_argument("--debounce-ms", type=int, default=None, help="server debounce (default: the server's own)")
    parser.add_argument("--fim-order", choices=("auto", "psm", "spm"), default=None,
                        help="the server's model.fimOrder (default: its own); spm keeps the suffix out of re-encoding")
    parser.add_argument("--seed", type=int, default=0, help="seed of the keystroke gaps")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 files, 10 characters each")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.chars = 2, 10
    if args.files < 1 or args.chars < 1:
        parser.error("--files and --chars must be at least 1")
    return args


def quiet() -> None:
    """Keep library chatter (progress bars, generation-config advice) out of the table."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    progress("preparing the model")
    choice = pick_model(args.model)
    sessions = [typing_session(path, args.chars) for path in stdlib_paths(args.files)]
    debounce_ms = CompletionConfig().debounce_ms if args.debounce_ms is None else args.debounce_ms
    load = OtherLoad()
    with tempfile.TemporaryDirectory(prefix="codegen-bench-") as workdir:
        started = time.perf_counter()
        server = asyncio.run(run_server(choice.path, sessions, args, Path(workdir)))
    progress("time to first token, in process")
    first = measure_first_token(choice.path, prompts_by_document(server.records))
    progress("")
    elapsed, other = time.perf_counter() - started, load.share()
    header = [
        ("model", f"{choice.path} ({choice.description})"),
        ("parameters", f"{first.parameters / 1e6:.1f} M"),
        ("machine", describe_machine()),
        ("other load", "unknown" if other is None
         else f"{100 * other:.0f}% of the machine's CPU went to other processes"),
        ("device", first.device),
        ("typed", f"{len(sessions)} stdlib files ({', '.join(s.name for s in sessions)}), {args.chars} chars each, "
                  f"{args.gap_ms:.0f} ms +-50% between keystrokes"),
        ("server", f"debounce {debounce_ms} ms, FIM order {args.fim_order or 'auto'} ({first.fim}), "
                   "fresh completion cache"),
        ("run", f"{elapsed:.0f} s"),
    ]
    print(render(header, [server_rows(server, debounce_ms), first_token_rows(first)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
