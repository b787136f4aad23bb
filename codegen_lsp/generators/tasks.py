"""The three generators as jobs: plain data in, files or edits out, for the server and the CLI alike.

Each `*_work` builds the function the job runner runs (a thread for images and diagrams,
the event loop for docs, whose model calls are background generations). Every file goes
through `paths.safe_output_path`, under the workspace's docs folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import GeneratorsConfig
from .jobs import JobContext, JobRunner
from .paths import safe_output_path, slug

IMAGE_MODEL_MISSING = ("no image model configured: set codegen.generators.imageModel (or pass --image-model) "
                       "to a local diffusers text-to-image folder with safetensors weights, e.g. SD-Turbo")


@dataclass(frozen=True)
class ImageJob:
    prompt: str
    width: int
    height: int
    steps: int
    seed: int | None = None
    name: str | None = None
    overwrite: bool = False

    @classmethod
    def from_options(cls, prompt: Any, options: dict, config: GeneratorsConfig) -> "ImageJob":
        """From a client's or the CLI's options over the settings' defaults; ValueError when bad."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("say what the image should show: the prompt is empty")
        known = {"width", "height", "steps", "seed", "name", "overwrite"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown image options {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(prompt, options.get("width", config.image_size), options.get("height", config.image_size),
                   options.get("steps", config.image_steps), options.get("seed"), options.get("name"),
                   bool(options.get("overwrite", False)))


def image_work(job: ImageJob, runner: JobRunner, config: GeneratorsConfig, root: Path,
               model_override: str | None = None) -> Callable[[JobContext], dict]:
    """The job making one image into `<root>/<docsFolder>/images/`, with its JSON sidecar."""
    from .images import ImageGenerator, ImageRequest, save_image

    folder = model_override or config.image_model
    if not folder:
        raise ValueError(IMAGE_MODEL_MISSING)
    request = ImageRequest(job.prompt, width=job.width, height=job.height, steps=job.steps, seed=job.seed)
    out_dir = safe_output_path(root, Path(config.docs_folder) / "images", overwrite=True)
    stem = (job.name or slug(job.prompt)).removesuffix(".png")
    for suffix in (".png", ".json"):  # a name leading out is refused now, not after the image is made
        safe_output_path(out_dir, stem + suffix, overwrite=True)

    def work(context: JobContext) -> dict:
        generator = runner.model(f"image:{folder}", lambda: ImageGenerator(folder, device=config.image_device))
        context.step(0, job.steps, "loading the image model" if not generator.loaded else "starting")
        result = generator.generate(request, progress=lambda done, total: context.step(done, total, "denoising"),
                                    should_stop=context.should_stop)
        png, sidecar = save_image(result, out_dir, job.name or slug(job.prompt), job.overwrite)
        return {"png": str(png), "sidecar": str(sidecar), "seed": result.request.seed,
                "seconds": round(result.seconds, 2), "device": result.device}
    return work


def read_sidecar(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# --- docs -------------------------------------------------------------------------------------

def docstrings_work(runner, request) -> Callable[[JobContext], Any]:
    """The job writing docstrings for the undocumented definitions of `request`'s document
    (an ActionRunner marked background, and a docstring ActionRequest): a DocstringsResult."""
    from .docs import write_docstrings

    async def work(context: JobContext):
        return await write_docstrings(runner, request, context.flag, context.step)
    return work


def overview_work(runner, request, root: Path, docs_folder: str, overwrite: bool) -> Callable[[JobContext], Any]:
    """The job writing `<docsFolder>/api/<path>.md` for `request`'s module: (its Markdown, the file)."""
    import asyncio

    from .docs import module_summary, overview_file, overview_for
    from .paths import write_text

    async def work(context: JobContext) -> tuple[str, Path]:
        context.step(0, 1, "summary")
        summary = await module_summary(runner, request, context.flag)
        markdown = await asyncio.to_thread(overview_for, root, request, summary, runner.pipeline.backend.model_id)
        return markdown, write_text(root, overview_file(docs_folder, request.path), markdown, overwrite)
    return work


# --- diagrams ----------------------------------------------------------------------------------

DIAGRAM_KINDS = ("modules", "classes", "calls")


@dataclass(frozen=True)
class DiagramJob:
    kind: str                                   # one of DIAGRAM_KINDS
    file: str | None = None                     # workspace-relative; calls: where the function is
    function: str | tuple[int, int] | None = None  # calls: a name or a (line, column) inside it
    depth: int = 1
    name: str | None = None                     # output stem under the docs folder's diagrams/
    overwrite: bool = False
    under: str | None = None                    # only the files under this workspace-relative folder

    def __post_init__(self) -> None:
        if self.kind not in DIAGRAM_KINDS:
            raise ValueError(f"unknown diagram kind {self.kind!r}; one of {', '.join(DIAGRAM_KINDS)}")
        if self.kind == "calls" and (self.file is None or self.function is None):
            raise ValueError("a call graph needs a file and a function (a name or a position inside it)")

    def output_name(self) -> str:
        if self.name:
            return self.name
        if self.kind == "calls":
            where = self.function if isinstance(self.function, str) else f"line-{self.function[0] + 1}"
            return f"calls-{slug(str(where))}"
        return self.kind


def diagram_graph(root: Path, job: DiagramJob):
    """The job's graph, from the code as it is on disk."""
    from . import diagram

    files = None
    if job.under:
        folder = safe_output_path(root, job.under, overwrite=True)  # inside the root, like any path
        files = sorted(folder.rglob("*.py"))
        if not files:
            raise ValueError(f"no Python files under {job.under}")
    if job.kind == "modules":
        return diagram.module_diagram(root, files)
    if job.kind == "classes":
        return diagram.class_diagram(root, files)
    return diagram.call_diagram(root, job.file, job.function, depth=job.depth, files=files)


def docstring_captions(graph, root: Path) -> dict[str, str]:
    """Each node's caption from its own docstring's first line: read from the code, not written."""
    from .diagram import caption_prompts, clean_caption

    captions = {}
    for node_id, source in caption_prompts(graph, root).items():
        lines = [line.strip() for line in source.split("\n")[1:] if line.strip()]
        if lines and not lines[0].startswith("defines:"):
            captions[node_id] = clean_caption(lines[0])
    return captions


def diagram_work(job: DiagramJob, root: Path, docs_folder: str,
                 caption: Callable[[str, Any], Any] | None = None) -> Callable[[JobContext], Any]:
    """The job writing `<docsFolder>/diagrams/<name>.mmd` (+ .md, and .svg/.png with Graphviz).
    `caption(source, flag)`: an async model call giving one line for a node without a docstring."""
    import asyncio

    from .diagram import caption_prompts, clean_caption, write_diagram

    out_dir = safe_output_path(root, Path(docs_folder) / "diagrams", overwrite=True)

    async def work(context: JobContext) -> dict:
        context.step(0, 3, "reading the code")
        graph = await asyncio.to_thread(diagram_graph, root, job)
        captions = await asyncio.to_thread(docstring_captions, graph, root)
        if caption is not None:
            sources = await asyncio.to_thread(caption_prompts, graph, root)
            missing = [node_id for node_id in sources if node_id not in captions]
            for done, node_id in enumerate(missing):
                context.step(done, len(missing), f"captions: {node_id}")
                captions[node_id] = clean_caption(await caption(sources[node_id], context.flag))
        context.step(2, 3, "writing")
        written = await asyncio.to_thread(write_diagram, graph, out_dir, job.output_name(), captions, job.overwrite)
        nodes, edges = len(graph.nodes), len(graph.edges)
        return {**{k: str(v) if isinstance(v, Path) else v for k, v in written.items()},
                "nodes": nodes, "edges": edges, "title": graph.title}
    return work


CAPTION_ASK = "In one short line (at most 12 words), what is this for? Reply with the line only."


def chat_captioner(chat, log=None) -> Callable[[str, Any], Any]:
    """Captions from an instruct model (with a chat template), as background generations;
    each is recorded in `log` (a RequestLog), so codegen.debug.lastRequests shows them."""
    import time

    from ..actions import chat as chat_
    from ..backends.base import GenerationRequest
    from ..logs import RequestRecord

    async def caption(source: str, flag) -> str:
        conversation = [{"role": "system", "content": chat_.SYSTEM},
                        {"role": "user", "content": f"{CAPTION_ASK}\n\n```\n{source}\n```"}]
        record = RequestRecord(uri="", version=0, kind="job", mode="chat")
        record.prompt = chat_.prompt(chat.tokenizer, conversation)
        started = time.perf_counter()
        generation = await chat.generate(GenerationRequest(record.prompt, 32, background=True), flag)
        record.time("total", time.perf_counter() - started)
        record.outcome, record.completion, record.new_tokens = generation.finish, generation.text, generation.new_tokens
        if log is not None:
            log.finish(record)
        return generation.text
    return caption
