"""Completion latency with and without an image job running beside it, side by side.

    .venv/bin/python benchmarks/jobs.py [--image-model DIR] [--requests 40] [--image-size 64]

Completions come from the embedded model (cache off), at line starts of a sample file, one
after the other; the same requests are timed alone, then while the job runner generates
images back to back (a tiny random-weight diffusers pipeline built from configs unless
--image-model names a real one). The job yields to completions at every denoising step,
so the two columns should be close; `yields` counts the steps that waited.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from latency import percentile  # benchmarks/latency.py (this script's folder is on sys.path)

from codegen_lsp.backends.base import StopFlag
from codegen_lsp.completion import CompletionRequest
from codegen_lsp.config import Config, GeneratorsConfig
from codegen_lsp.engine import build_pipeline
from codegen_lsp.generators.jobs import JobRunner
from codegen_lsp.generators.tasks import ImageJob, image_work
from codegen_lsp.logs import RequestLog

SAMPLE = Path(__file__).resolve().parent.parent / "codegen_lsp" / "data" / "demo_sample.py"


def requests(count: int) -> list[CompletionRequest]:
    text = SAMPLE.read_text()
    starts = [i + 1 for i, c in enumerate(text) if c == "\n"][:count]
    return [CompletionRequest("file:///bench/sample.py", n, text, offset, "python", invoked=True)
            for n, offset in enumerate(starts)]


async def time_completions(pipeline, batch: list[CompletionRequest]) -> list[float]:
    seconds = []
    for request in batch:
        started = time.perf_counter()
        await pipeline.complete(request, StopFlag())
        seconds.append((time.perf_counter() - started) * 1000)
    return seconds


async def with_images(pipeline, batch, image_model: Path, size: int, root: Path) -> tuple[list[float], dict]:
    runner = JobRunner(lambda: pipeline.backend.gate)
    config = GeneratorsConfig(image_model=str(image_model), image_device="cpu")
    done = {"images": 0}
    stop = asyncio.Event()

    async def images() -> None:
        while not stop.is_set():
            job = ImageJob(f"image {done['images']}", size, size, 20, seed=done["images"], overwrite=True)
            await runner.run("image", image_work(job, runner, config, root))
            done["images"] += 1

    warm = ImageJob("warm-up", size, size, 1, seed=0, name="warm-up", overwrite=True)
    await runner.run("image", image_work(warm, runner, config, root))  # loaded before the clock runs
    background = asyncio.ensure_future(images())
    await asyncio.sleep(0.5)  # the first image is under way
    seconds = await time_completions(pipeline, batch)
    stop.set()
    await background
    runner.close()
    return seconds, {**done, "yields": pipeline.backend.gate.yields}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-model", type=Path, help="diffusers folder (default: a tiny one built from configs)")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="alone / beside rounds, alternated")
    args = parser.parse_args()
    config = Config()
    config = replace(config, cache=replace(config.cache, enabled=False))
    pipeline = build_pipeline(config, RequestLog(10))
    batch = requests(args.requests)
    with tempfile.TemporaryDirectory() as work:
        image_model = args.image_model
        if image_model is None:
            from training.tiny_diffusion import build_tiny_pipeline

            image_model = build_tiny_pipeline(Path(work) / "tiny-sd")
        await time_completions(pipeline, batch[:5])  # warm-up
        alone, beside, counts = [], [], {"images": 0, "yields": 0}
        for _ in range(args.rounds):  # alternated, so a noisy neighbour weighs on both columns alike
            alone += await time_completions(pipeline, batch)
            seconds, counts = await with_images(pipeline, batch, image_model, args.image_size, Path(work))
            beside += seconds
    print(f"{len(alone)} completions per column, embedded model, {pipeline.backend.device}; images: {image_model.name}, "
          f"{args.image_size}px, 20 steps, {counts['images']} made in the last round, {counts['yields']} steps yielded in all")
    print("| | alone | beside an image job |")
    print("|---|---|---|")
    for p in (50, 95):
        print(f"| completion p{p} | {percentile(alone, p):.1f} ms | {percentile(beside, p):.1f} ms |")
    pipeline.backend.close()


if __name__ == "__main__":
    asyncio.run(main())
