"""Footprint of the embedded model on CPU: disk size, load time, RSS and decoding speed.

Each configuration runs in a fresh Python process (so load time and RSS are cold
and unshared) and side by side in one run: the weights loaded as float32 (the
server's choice on a CPU) against bfloat16.

    python benchmarks/embedded_model.py [--model DIR] [--repeat 3] [--write]

`--write` saves the float32 figures as footprint.json beside the model and
rewrites its MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT_LINES = 40   # a prompt of about 500 tokens, like a completion's window
NEW_TOKENS = 64


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(model: Path, dtype: str) -> dict:
    """Runs in the fresh process: import, load, one long generation; prints the figures."""
    started = time.perf_counter()
    import asyncio

    import torch

    from codegen_lsp.backends.base import GenerationRequest, StopFlag
    from codegen_lsp.backends.local import LocalBackend

    imported = time.perf_counter()
    rss_before = rss_mib()
    backend = LocalBackend(model, dtype=dtype)
    loaded = time.perf_counter()
    rss_loaded = rss_mib()
    source = (ROOT / "codegen_lsp" / "completion.py").read_text().splitlines()[:PROMPT_LINES]
    prompt = backend.fim.prompt("\n".join(source) + "\n", "")
    # No stop condition but the length: every run decodes the same number of tokens.
    request = GenerationRequest(prompt, NEW_TOKENS, stop=("\x00never",))
    backend._end_ids = set()
    gen = asyncio.run(backend.generate(request, StopFlag()))
    backend.close()
    decode = gen.generate_seconds - gen.first_token_seconds
    return {"dtype": dtype, "import_s": imported - started, "load_s": loaded - imported,
            "rss_before_load_mib": rss_before, "rss_loaded_mib": rss_loaded, "rss_after_generate_mib": rss_mib(),
            "prompt_tokens": gen.prompt_tokens, "first_token_ms": gen.first_token_seconds * 1000,
            "decode_tokens_per_s": (gen.new_tokens - 1) / decode if decode > 0 else float("nan"),
            "threads": torch.get_num_threads()}


def measure(model: Path, dtype: str, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, __file__, "--child", dtype, "--model", str(model)],
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    keys = [k for k in runs[0] if isinstance(runs[0][k], float)]
    return {**runs[0], **{k: statistics.median(r[k] for r in runs) for k in keys}}


def main() -> int:
    from codegen_lsp.engine import EMBEDDED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=EMBEDDED_MODEL)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.model, args.child)))
        return 0
    disk = sum(p.stat().st_size for p in args.model.iterdir() if p.is_file())
    weights = sum(p.stat().st_size for p in args.model.glob("*.safetensors"))
    results = [measure(args.model, dtype, args.repeat) for dtype in ("float32", "bfloat16")]
    print(f"model: {args.model}  folder {disk / 2**20:.1f} MiB, weights {weights / 2**20:.1f} MiB, "
          f"median of {args.repeat} fresh processes, {results[0]['threads']} threads\n")
    rows = [("import (torch, transformers)", "import_s", "{:.2f} s"), ("load", "load_s", "{:.2f} s"),
            ("RSS before load", "rss_before_load_mib", "{:.0f} MiB"), ("RSS loaded", "rss_loaded_mib", "{:.0f} MiB"),
            ("RSS after generating", "rss_after_generate_mib", "{:.0f} MiB"),
            (f"first token ({results[0]['prompt_tokens']}-token prompt)", "first_token_ms", "{:.0f} ms"),
            ("decoding", "decode_tokens_per_s", "{:.0f} tokens/s")]
    print(f"| {'':36} | {'float32 (server default)':>24} | {'bfloat16':>12} |")
    print(f"|{'-' * 38}|{'-' * 26}|{'-' * 14}|")
    for label, key, fmt in rows:
        print(f"| {label:36} | {fmt.format(results[0][key]):>24} | {fmt.format(results[1][key]):>12} |")
    if args.write:
        f32 = results[0]
        footprint = {"folder on disk": f"{disk / 2**20:.1f} MiB", "weights": f"{weights / 2**20:.1f} MiB",
                     "load time (float32, after imports)": f"{f32['load_s']:.2f} s",
                     "import time (torch, transformers)": f"{f32['import_s']:.2f} s",
                     "RSS loaded (process total)": f"{f32['rss_loaded_mib']:.0f} MiB "
                                                   f"({f32['rss_loaded_mib'] - f32['rss_before_load_mib']:.0f} MiB for the model)",
                     "first token": f"{f32['first_token_ms']:.0f} ms for a {f32['prompt_tokens']}-token prompt",
                     "decoding": f"{f32['decode_tokens_per_s']:.0f} tokens/s on {f32['threads']} threads",
                     "measured by": "benchmarks/embedded_model.py"}
        (args.model / "footprint.json").write_text(json.dumps(footprint, indent=1))
        from training.model_card import write_card

        print(f"\nwrote {write_card(args.model)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
