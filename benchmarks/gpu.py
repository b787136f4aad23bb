"""Serving speed against the hardware's limit: decoding, time to first token and completion latency.

For each model of a size preset, one Markdown table:

- decoding tokens/s (greedy, the first token left out) and that figure as a share of the
  memory-bandwidth limit: decoding one token reads every weight once, so no decoder beats
  memory bandwidth / weight bytes tokens/s;
- time to first token at a ~2k-token prompt, cold and with KV prefix reuse (a second request
  on the same session whose prompt extends the first by a few characters, as after a keystroke);
- end-to-end p50/p95 latency of single-line completions through the real server
  (`codegen-lsp serve` behind the scripted LSP client of benchmarks/latency.py), typing one
  keystroke at a time into a standard-library module, each answer awaited before the next.

Models: the embedded one, and Qwen2 architectures built from configs with random weights
(speed does not depend on the weights) and the embedded model's tokenizer. `--sizes gpu` has
the real Qwen2.5-Coder-1.5B shape; `--sizes cpu` a scaled-down one; `--smoke` tiny sizes and
few tokens, to check the script still works.

    .venv/bin/python benchmarks/gpu.py [--sizes cpu|gpu] [--smoke] [--model DIR ...] [--bandwidth-gbs N]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import hashlib
import json
import os
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "benchmarks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # run as a plain script from any directory

import latency  # noqa: E402  (benchmarks/latency.py: the scripted typing and its helpers)
from codegen_lsp.config import default_cache_dir  # noqa: E402
from codegen_lsp.engine import EMBEDDED_MODEL  # noqa: E402
from codegen_lsp.lsp_client import ScriptedEditor  # noqa: E402

# The targets of the issue.
TARGET_P50_MS = 80.0
TARGET_BANDWIDTH_SHARE = 0.5

# Qwen2.5-Coder-1.5B's shape (its config.json), the real-size architecture measured on GPUs.
QWEN25_CODER_15B = {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12,
                    "num_key_value_heads": 2, "intermediate_size": 8960, "vocab_size": 151936,
                    "max_position_embeddings": 32768, "tie_word_embeddings": True, "rope_theta": 1000000.0}
# Scaled down so a 2-core CPU gets through a 2k-token prompt in a fraction of a second; the
# vocabulary shrinks too, or its 151,936-row embedding would be three quarters of the weights.
QWEN2_CPU = {**QWEN25_CODER_15B, "hidden_size": 512, "num_hidden_layers": 8, "num_attention_heads": 8,
             "intermediate_size": 1536, "vocab_size": 32768}
QWEN2_TINY = {**QWEN25_CODER_15B, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 384, "vocab_size": 8192}

# Peak memory bandwidth in GB/s by words of torch.cuda.get_device_name(), most specific first
# ("GH200" contains "H200", "L40S" contains "L4"). Vendor data sheets.
KNOWN_GPUS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("GH200",), 4000), (("H200",), 4800), (("B200",), 8000),
    (("H100", "PCIE"), 2000), (("H100", "NVL"), 3900), (("H100",), 3350),  # plain "H100 80GB HBM3" is SXM
    (("A100", "80GB"), 2000), (("A100",), 1555),
    (("L40S",), 864), (("L40",), 864), (("L4",), 300), (("A10G",), 600), (("A10",), 600), (("T4",), 320),
    (("RTX 4090",), 1008), (("RTX 3090",), 936), (("RTX 6000 ADA",), 960),
)

# Typed into: big enough that the cursor, in the middle of the file, has well over 2k tokens before it.
TYPED_FILE = "argparse.py"
PROMPT_SOURCES = ("argparse.py", "inspect.py", "textwrap.py")
DECODE_PROMPT_TOKENS = 128  # decoding is timed after a short prompt: see decode()


@dataclass(frozen=True)
class Preset:
    name: str
    models: tuple[tuple[str, dict | None], ...]  # (title, Qwen2 config overrides; None: the embedded model)
    prompt_tokens: int  # the TTFT prompt and the server's promptTokens
    decode_tokens: int
    keystrokes: int  # single-line completions asked through the server
    repeats: int  # of each in-process measurement; the median is reported


PRESETS = {
    "gpu": Preset("gpu", (("embedded model", None), ("Qwen2.5-Coder-1.5B architecture, random weights",
                                                      QWEN25_CODER_15B)), 2048, 128, 40, 5),
    "cpu": Preset("cpu", (("embedded model", None), ("Qwen2 512 hidden x 8 layers, random weights", QWEN2_CPU)),
                  2048, 64, 30, 3),
    "smoke": Preset("smoke", (("embedded model", None), ("Qwen2 128 hidden x 2 layers, random weights", QWEN2_TINY)),
                    256, 8, 4, 1),
}


# -- models ------------------------------------------------------------------------

def random_qwen2(overrides: dict) -> Path:
    """A Qwen2 folder with random weights and the embedded model's tokenizer, cached by recipe.

    The tokenizer only turns text into ids: the embedded one (8,192 entries) stands in for
    Qwen's, the weights keep the architecture's own vocabulary size, and the FIM order the
    embedded model declares (fim.json) is kept so both models get the same prompts.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    tokenizer_files = ("tokenizer.json", "tokenizer_config.json", "fim.json")
    digest = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode())
    for name in tokenizer_files:
        digest.update((EMBEDDED_MODEL / name).read_bytes())
    out = default_cache_dir() / "benchmark-models" / f"qwen2-{digest.hexdigest()[:12]}"
    if (out / "model.safetensors").is_file() or (out / "model.safetensors.index.json").is_file():
        return out
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED_MODEL, local_files_only=True)
    config = Qwen2Config(**{**overrides, "vocab_size": max(overrides["vocab_size"], len(tokenizer))},
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id, bos_token_id=None)
    torch.manual_seed(0)
    # Built in bfloat16, as checkpoints ship: the server upcasts on CPUs, as it does real ones.
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    partial = out.with_name(out.name + ".partial")  # never a half-written folder under the real name
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    for name in tokenizer_files:
        shutil.copy(EMBEDDED_MODEL / name, partial / name)
    del model
    partial.rename(out)
    return out


def model_folders(preset: Preset, extra: list[str]) -> list[tuple[str, Path]]:
    folders = [(title, EMBEDDED_MODEL if overrides is None else random_qwen2(overrides))
               for title, overrides in preset.models]
    return folders + [(f"{Path(p).name} (--model)", Path(p).expanduser()) for p in extra]


# -- memory bandwidth --------------------------------------------------------------

@dataclass
class Bandwidth:
    gbs: float
    source: str


def memory_bandwidth(device, override: float | None) -> Bandwidth:
    """The device's memory bandwidth: given, a data-sheet figure for known GPUs, else measured."""
    import torch

    if override:
        return Bandwidth(override, "--bandwidth-gbs")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device).upper()
        for words, gbs in KNOWN_GPUS:
            if all(word in name for word in words):
                return Bandwidth(gbs, f"data sheet, {torch.cuda.get_device_name(device)}")
    return Bandwidth(copy_bandwidth(device), f"measured copy bandwidth, {device.type}")


@functools.cache  # once per device and run: every model's table divides by the same figure
def copy_bandwidth(device, megabytes: int = 512, runs: int = 5) -> float:
    """Best of a few copies of a tensor far larger than any cache; a copy reads and writes every byte.

    A copy is the least a decoder can do with each byte it reads, so on a CPU this is what a
    well-written decoder can hope for, not the memory chips' data-sheet figure.
    """
    import torch

    source = torch.ones(megabytes << 18, dtype=torch.float32, device=device)  # 4 bytes each
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(runs + 1):  # the first run faults the target's pages in
        synchronize(device)
        started = time.perf_counter()
        target.copy_(source)
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * source.numel() * source.element_size() / best / 1e9


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- in process: decoding and time to first token ----------------------------------

@dataclass
class InProcess:
    parameters: int = 0
    weight_bytes: int = 0
    dtype: str = ""
    device: str = ""
    bandwidth: Bandwidth | None = None
    decode_tokens_per_s: float = 0.0
    decoded: int = 0
    cold_ms: float = 0.0
    reuse_ms: float = 0.0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    extended_tokens: int = 0


def source_text() -> str:
    folder = Path(sysconfig.get_paths()["stdlib"])
    return "\n".join((folder / name).read_text(encoding="utf-8") for name in PROMPT_SOURCES)


def first_tokens(tokenizer, text: str, count: int) -> str:
    """The text of `text`'s first `count` tokens (a token or two more or less once re-encoded)."""
    return tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:count])


def measure_in_process(model: Path, preset: Preset, bandwidth_override: float | None,
                       decode: str = "auto") -> InProcess:
    import torch

    from codegen_lsp.backends.local import LocalBackend

    backend = LocalBackend(model, decode=decode)
    try:
        # parameters() yields a tied embedding once: it is read once per token.
        params = list(backend.model.parameters())
        result = InProcess(parameters=sum(p.numel() for p in params),
                           weight_bytes=sum(p.numel() * p.element_size() for p in params),
                           dtype=str(backend.dtype).removeprefix("torch."),
                           device=latency.describe_device(backend.device, backend.dtype),
                           bandwidth=memory_bandwidth(backend.device, bandwidth_override))
        text = source_text()
        # The window has to hold the prompt and the token it asks for.
        length = min(preset.prompt_tokens, backend.context_window - 16)
        asyncio.run(_measure(backend, result, text, length, preset))
    finally:
        backend.close()
        del backend
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the server started next needs the GPU's memory
    return result


async def _measure(backend, result: InProcess, text: str, length: int, preset: Preset) -> None:
    from codegen_lsp.backends.base import GenerationRequest, StopFlag

    fim = backend.fim

    async def first_token(prompt: str, session: str | None):
        return await backend.generate(GenerationRequest(prompt, 1, session=session), StopFlag())

    # Warm-up: the first call pays for lazy initialisation (kernels, allocator, thread pools).
    await first_token(fim.prompt(first_tokens(backend.tokenizer, text, 64), ""), None)
    result.decoded, result.decode_tokens_per_s = await decode(backend, text, preset)

    # A prompt of `length` tokens, then the same one a keystroke later: a few characters more
    # before the cursor. With the order "auto" serves, the prefix is at the end (SPM) or
    # followed by the FIM tokens (PSM); either way all but the prompt's tail is reused.
    prefix = first_tokens(backend.tokenizer, text, length - 4)  # room for the FIM tokens
    extended = prefix + text[len(prefix): len(prefix) + 6]
    cold, reuse, reused = [], [], []
    for n in range(preset.repeats):
        gen = await first_token(fim.prompt(prefix, ""), f"ttft-{n}")  # no session to reuse yet: cold
        cold.append(gen.first_token_seconds)
        result.prompt_tokens = gen.prompt_tokens
        gen = await first_token(fim.prompt(extended, ""), f"ttft-{n}")
        reuse.append(gen.first_token_seconds)
        reused.append(gen.reused_tokens)
        result.extended_tokens = gen.prompt_tokens
    result.cold_ms = statistics.median(cold) * 1000
    result.reuse_ms = statistics.median(reuse) * 1000
    result.reused_tokens = int(statistics.median(reused))


async def decode(backend, text: str, preset: Preset) -> tuple[int, float]:
    """Median greedy decoding speed, first token (the prompt's encoding) left out.

    Timed after a short prompt: the bandwidth limit counts weight bytes only, and at a 2k-token
    context a small model's KV cache is a sizeable share of the bytes each token reads.
    """
    from codegen_lsp.backends.base import GenerationRequest, StopFlag

    prompt = backend.fim.prompt(first_tokens(backend.tokenizer, text, DECODE_PROMPT_TOKENS), "")
    # Only the length ends it: no end token, no stop text, every run decodes the same count.
    end_ids, backend._end_ids = backend._end_ids, set()
    try:
        speeds, new = [], 0
        for _ in range(preset.repeats):
            request = GenerationRequest(prompt, preset.decode_tokens + 1, stop=("\x00never",))
            gen = await backend.generate(request, StopFlag())
            new = gen.new_tokens - 1
            speeds.append(new / (gen.generate_seconds - gen.first_token_seconds))
    finally:
        backend._end_ids = end_ids
    return new, statistics.median(speeds)


# -- through the server ------------------------------------------------------------

@dataclass
class Served:
    latencies_ms: list[float] = field(default_factory=list)  # single-line completions the model answered
    records: list[dict] = field(default_factory=list)
    asked: int = 0


async def serve(model: Path, preset: Preset, workdir: Path, decode: str = "auto") -> Served:
    """Type into a module one keystroke at a time, waiting for each completion before the next.

    Cache and typing-ahead are off so that every answer comes from the model; the debounce
    stays the server's, as an editor's automatic requests get it.
    """
    options = {"model": {"decode": decode},
               "completion": {"promptTokens": preset.prompt_tokens, "typingAhead": False},
               "cache": {"enabled": False},
               "log": {"keepRequests": 1000, "file": str(workdir / "server.log")}}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(workdir / "xdg")}
    path = Path(sysconfig.get_paths()["stdlib"]) / TYPED_FILE
    session = latency.typing_session(path, preset.keystrokes * 3)
    editor = ScriptedEditor("codegen-lsp-gpu-benchmark")
    await editor.start(model, options, env)
    served = Served()
    try:
        await latency.warm_up(editor)
        editor.open(session.uri, session.opened)
        await asyncio.sleep(1.0)  # the server tokenises an opened document ahead; a person reads first
        text, cursor, sent = session.opened, session.cursor, {}
        for stroke in latency.keystrokes(session.typed)[: preset.keystrokes]:
            editor.insert(session.uri, latency.lsp_position(text, cursor), stroke)
            text, cursor = text[:cursor] + stroke + text[cursor:], cursor + len(stroke)
            started = time.perf_counter()
            await asyncio.wrap_future(editor.ask(session.uri, latency.lsp_position(text, cursor)))
            sent[editor.version] = (time.perf_counter() - started) * 1000
        served.asked = len(sent)
        debug = await editor.debug(1000, False)
    finally:
        await editor.stop()
    for record in debug["requests"]:
        if record["uri"] == session.uri and record["version"] in sent:
            served.records.append(record)
            if record["outcome"] == "model" and record["mode"] == "single-line":
                served.latencies_ms.append(sent[record["version"]])
    return served


# -- report ------------------------------------------------------------------------

def verdict(met: bool, target: str) -> str:
    return f"{target}: met" if met else f"{target}: **not met**"


def table(title: str, folder: Path, run: InProcess, served: Served) -> str:
    limit = run.bandwidth.gbs * 1e9 / run.weight_bytes
    share = run.decode_tokens_per_s / limit
    answered = [r for r in served.records if r["outcome"] == "model" and r["mode"] == "single-line"]

    def mean(key: str) -> float:
        return statistics.fmean(r[key] for r in answered) if answered else float("nan")

    p50 = latency.percentile(served.latencies_ms, 50) if served.latencies_ms else float("nan")
    p95 = latency.percentile(served.latencies_ms, 95) if served.latencies_ms else float("nan")
    rows = [
        ("decode", f"{run.decode_tokens_per_s:,.1f} tokens/s", f"{run.decoded} tokens, greedy"),
        ("bandwidth limit", f"{limit:,.0f} tokens/s",
         f"{run.bandwidth.gbs:,.0f} GB/s ({run.bandwidth.source}) / {size(run.weight_bytes)} of weights"),
        ("decode / bandwidth limit", f"{100 * share:.1f}%", verdict(share >= TARGET_BANDWIDTH_SHARE, ">= 50%")),
        (f"time to first token, {run.prompt_tokens:,}-token prompt, cold", f"{run.cold_ms:,.1f} ms", ""),
        (f"time to first token, {run.extended_tokens:,}-token prompt, KV prefix reuse",
         f"{run.reuse_ms:,.1f} ms", f"{run.reused_tokens:,} tokens reused"),
        ("end-to-end single-line completion p50", f"{p50:,.1f} ms", verdict(p50 <= TARGET_P50_MS, "<= 80 ms")),
        ("end-to-end single-line completion p95", f"{p95:,.1f} ms", ""),
        ("server prompts (mean)", f"{mean('prompt_tokens'):,.0f} tokens",
         f"{mean('reused_tokens'):,.0f} reused, {mean('new_tokens'):.1f} new tokens; "
         f"{len(answered)} of {served.asked} keystrokes answered single-line by the model"),
    ]
    lines = [f"### {title}", "",
             f"`{display(folder)}`: {run.parameters / 1e6:,.1f} M parameters, {run.device}", "",
             "| measure | value | target / note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def size(count: int) -> str:
    return f"{count / 1e9:,.2f} GB" if count >= 1e9 else f"{count / 1e6:,.1f} MB"


def display(folder: Path) -> str:
    try:
        return str(folder.resolve().relative_to(ROOT))
    except ValueError:
        return str(folder).replace(str(Path.home()), "~")


# -- main --------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", choices=("cpu", "gpu"), default="gpu" if torch.cuda.is_available() else "cpu",
                        help="model sizes and run lengths (default: gpu when CUDA is available, else cpu)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and few tokens: checks the script works")
    parser.add_argument("--model", action="append", default=[], help="also measure this model folder (repeatable)")
    parser.add_argument("--decode", nargs="+", choices=("dynamic", "static"),
                        default=["dynamic", "static"] if torch.cuda.is_available() else ["dynamic"],
                        help="decoding paths to measure side by side (default: both on CUDA, dynamic on CPU)")
    parser.add_argument("--bandwidth-gbs", type=float,
                        help="memory bandwidth in GB/s (default: a data-sheet figure for known GPUs, else measured)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    latency.quiet()
    preset = PRESETS["smoke" if args.smoke else args.sizes]
    started, load = time.perf_counter(), latency.OtherLoad()
    latency.progress("preparing the models")
    folders = model_folders(preset, args.model)
    tables = []
    with tempfile.TemporaryDirectory(prefix="codegen-gpu-bench-") as work:
        runs = [(title, folder, mode) for title, folder in folders for mode in args.decode]
        for n, (title, folder, mode) in enumerate(runs):
            title = f"{title}, {mode} decoding" if len(args.decode) > 1 else title
            latency.progress(f"{title}: decoding and first token")
            run = measure_in_process(folder, preset, args.bandwidth_gbs, mode)
            latency.progress(f"{title}: completions through the server")
            workdir = Path(work) / str(n)
            workdir.mkdir()
            served = asyncio.run(serve(folder, preset, workdir, mode))
            tables.append(table(title, folder, run, served))
    latency.progress("")
    other = load.share()
    print(f"machine: {latency.describe_machine()}")
    print(f"preset: {preset.name} (prompts of up to {preset.prompt_tokens:,} tokens; the server's promptTokens), "
          f"median of {preset.repeats} in-process runs, {preset.keystrokes} keystrokes typed into {TYPED_FILE} "
          "through the server (cache and typing-ahead off, default debounce)")
    print("other load: " + ("unknown" if other is None
                            else f"{100 * other:.0f}% of the machine's CPU went to other processes"))
    print(f"run: {time.perf_counter() - started:.0f} s")
    for text in tables:
        print(f"\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
