"""Text to image with diffusers, from a local model folder, for `codegen.generateImage`.

`ImageGenerator` loads the pipeline (`AutoPipelineForText2Image`: an SD-Turbo or Stable
Diffusion checkpoint, say) on first use, keeps it while requests come, and lets it go after
`idle_seconds` unused, so the GPU is not held for nothing. `save_image` writes the PNG and a
JSON sidecar beside it recording what is needed to make the same picture again.

Model folders are untrusted files: only safetensors weights are loaded (never a pickle) and
only the pipeline and component classes that diffusers and transformers ship (no code from
the folder). diffusers and torch are imported on first use, not with this module, so the
language server starts without them.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..device_memory import OutOfMemory, empty_device_cache, is_out_of_memory
from . import paths
from ..weights import UnsafeModelFolder, require_safetensors

if TYPE_CHECKING:
    from PIL.Image import Image

MIN_SIZE, MAX_SIZE = 16, 2048  # pixels, each side
MAX_STEPS = 200
MAX_GUIDANCE = 30
MAX_SEED = 2**53 - 1  # the largest whole number a JSON reader in JavaScript keeps exact
DRAWN_SEEDS = 2**32  # seeds drawn for a request without one are short enough to retype
TRUSTED_LIBRARIES = ("diffusers", "transformers", None)  # None: an absent component (safety checker)

Progress = Callable[[int, int], None]  # (steps done, steps in all)


class ImageError(Exception):
    """Image generation could not run; the message is for the user."""


class ImageRequestError(ImageError, ValueError):
    """The request asks for something the generator will not do (a size, a step count)."""


class ModelFolderError(ImageError):
    """The model folder is missing, incomplete, or holds weights that are not safetensors."""


class ImageExists(ImageError, FileExistsError):
    """The PNG or its sidecar is there already, and overwriting was not asked for."""


class GenerationCancelled(ImageError):
    """`should_stop()` said stop; no image was made."""


class ImageOutOfMemory(ImageError, OutOfMemory):
    """The device ran out of memory; the pipeline was released so the next request can load it."""


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 4
    guidance: float = 0.0  # 0: no classifier-free guidance, as SD-Turbo wants
    seed: int | None = None  # None: a random seed, drawn and recorded

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ImageRequestError("the prompt is empty: say what the image should show")
        if not isinstance(self.negative_prompt, str):
            raise ImageRequestError(f"the negative prompt must be text, not {self.negative_prompt!r}")
        for side in ("width", "height"):
            value = getattr(self, side)
            if not _is_int(value) or not MIN_SIZE <= value <= MAX_SIZE or value % 8:
                raise ImageRequestError(f"{side} must be a multiple of 8 from {MIN_SIZE} to {MAX_SIZE} pixels, "
                                        f"not {value!r}")
        if not _is_int(self.steps) or not 1 <= self.steps <= MAX_STEPS:
            raise ImageRequestError(f"steps must be a whole number from 1 to {MAX_STEPS}, not {self.steps!r}")
        if not _is_number(self.guidance) or not 0 <= self.guidance <= MAX_GUIDANCE:
            raise ImageRequestError(f"guidance must be a number from 0 to {MAX_GUIDANCE}, not {self.guidance!r}")
        if self.seed is not None and (not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED):
            raise ImageRequestError(f"seed must be a whole number from 0 to {MAX_SEED}, not {self.seed!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not to us


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class ImageResult:
    image: Image
    request: ImageRequest  # with the seed actually used
    model: str  # the model folder's name
    weights: str  # a hash of the weight files' names and sizes: which checkpoint, without reading it
    device: str
    dtype: str
    seconds: float
    created: datetime

    def metadata(self) -> dict[str, Any]:
        """What the sidecar JSON records: enough to make the same image again."""
        from codegen_lsp import __version__

        request = self.request
        return {"prompt": request.prompt, "negative_prompt": request.negative_prompt, "seed": request.seed,
                "width": request.width, "height": request.height, "steps": request.steps,
                "guidance": request.guidance, "model": self.model, "model_weights": self.weights,
                "device": self.device, "dtype": self.dtype, "seconds": round(self.seconds, 3),
                "codegen_lsp_version": __version__, "created": self.created.isoformat(timespec="seconds")}


Loader = Callable[[Path, str, Any], Any]  # (model folder, device, torch dtype) -> a loaded pipeline


class ImageGenerator:
    """One model folder's pipeline, loaded on first use and released when idle or out of memory.

    Thread-safe: one generation at a time; `release_if_idle` can be called from a timer."""

    def __init__(self, model_folder: Path | str, device: str = "auto", dtype: str = "auto",
                 idle_seconds: float = 300.0, *, loader: Loader | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model_folder = Path(model_folder).expanduser()
        self.requested_device, self.requested_dtype = device, dtype
        self.idle_seconds = idle_seconds
        self._loader = loader or load_pipeline  # tests pass their own
        self._clock = clock
        self._lock = threading.Lock()
        self._pipeline: Any = None
        self._weights = ""
        self.device = self.dtype = ""  # resolved when loaded
        self.last_used: float | None = None
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def generate(self, request: ImageRequest, progress: Progress | None = None,
                 should_stop: Callable[[], bool] | None = None) -> ImageResult:
        """Make one image. Raises GenerationCancelled, ImageOutOfMemory, ModelFolderError."""
        should_stop = should_stop or (lambda: False)
        if should_stop():
            raise GenerationCancelled("image generation was cancelled before it started")
        if request.seed is None:
            request = dataclasses.replace(request, seed=secrets.randbelow(DRAWN_SEEDS))
        with self._lock:
            out_of_memory = ""
            try:
                self._load()
                started = time.perf_counter()
                image = self._run(request, progress, should_stop)
                seconds = time.perf_counter() - started
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                # Keep only the text: the traceback's frames hold the pipeline's tensors, so the
                # memory is not freed while the error lives.
                out_of_memory = f"{type(error).__name__}: {error}"
            finally:
                self.last_used = self._clock()
            if out_of_memory:
                self._release()
                raise ImageOutOfMemory(self._out_of_memory_message(request, out_of_memory))
        return ImageResult(image, request, self.model_folder.name, self._weights, self.device, self.dtype,
                           seconds, datetime.now().astimezone())

    def _out_of_memory_message(self, request: ImageRequest, error: str) -> str:
        return (f"out of memory on {self.device or 'the device'} making a {request.width}x{request.height} image "
                f"in {request.steps} steps; the model was released so the next request starts afresh. "
                f"Try a smaller size or fewer steps, or the CPU (device \"cpu\"). ({error})")

    def release(self) -> None:
        """Let the pipeline go and give its memory back; the next request loads it again."""
        with self._lock:
            self._release()

    def release_if_idle(self, now: float | None = None) -> bool:
        """Release the pipeline if unused for `idle_seconds` (`now` on the `clock`); True if released."""
        # A generation in progress holds the lock: the pipeline is busy, not idle.
        if not self._lock.acquire(blocking=False):
            return False
        try:
            now = self._clock() if now is None else now
            if self._pipeline is None or self.last_used is None or now - self.last_used < self.idle_seconds:
                return False
            self._release()
            return True
        finally:
            self._lock.release()

    def _load(self) -> None:
        if self._pipeline is not None:
            return
        device = resolve_device(self.requested_device)
        dtype = resolve_dtype(self.requested_dtype, device)
        self._pipeline = self._loader(self.model_folder, device, dtype)
        self.device, self.dtype = device, str(dtype).removeprefix("torch.")
        self._weights = weights_hash(self.model_folder)
        self.loads += 1

    def _run(self, request: ImageRequest, progress: Progress | None, should_stop: Callable[[], bool]) -> Image:
        import torch

        def on_step_end(pipeline: Any, step: int, timestep: Any, tensors: dict) -> dict:
            if progress is not None:
                progress(step + 1, request.steps)
            if should_stop():
                raise GenerationCancelled(f"image generation was cancelled after step {step + 1} of {request.steps}")
            return tensors

        if should_stop():  # loading a real checkpoint takes a while: the user may have given up
            raise GenerationCancelled("image generation was cancelled before it started")
        # The starting noise is drawn on the CPU, so a seed gives the same picture on any device.
        generator = torch.Generator("cpu").manual_seed(request.seed)
        output = self._pipeline(prompt=request.prompt, negative_prompt=request.negative_prompt or None,
                                width=request.width, height=request.height, num_inference_steps=request.steps,
                                guidance_scale=request.guidance, generator=generator,
                                callback_on_step_end=on_step_end, output_type="pil")
        return output.images[0]

    def _release(self) -> None:
        self._pipeline = None
        gc.collect()
        empty_device_cache()


def resolve_device(device: str) -> str:
    """"auto": CUDA, else Apple's MPS, else the CPU. A named GPU that is not there is an error."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ImageError(f"unknown device {device!r}: use \"auto\", \"cpu\", \"cuda\", \"cuda:N\" or \"mps\"") from None
    if (kind == "cuda" and not torch.cuda.is_available()) or (kind == "mps" and not torch.backends.mps.is_available()):
        raise ImageError(f"device {device!r} is not available here; use \"auto\" or \"cpu\"")
    return device


DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
          "bfloat16": "bfloat16", "bf16": "bfloat16"}


def resolve_dtype(dtype: str, device: str) -> Any:
    """"auto": half precision on a GPU, float32 on the CPU (where half is slow or unsupported)."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            # bfloat16 where the GPU has it: some VAEs overflow in float16 and decode black images.
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device == "mps" else torch.float32
    if dtype not in DTYPES:
        raise ImageError(f"unknown dtype {dtype!r}: use \"auto\" or one of {', '.join(sorted(DTYPES))}")
    return getattr(torch, DTYPES[dtype])


def load_pipeline(folder: Path, device: str, dtype: Any) -> Any:
    """The folder's text-to-image pipeline on `device`: safetensors only, no code from the folder."""
    check_model_folder(folder)
    diffusers = _import_diffusers()
    from ..backends.base import MODEL_LOAD_LOCK

    with MODEL_LOAD_LOCK:  # its CLIP text model loads through transformers: one load at a time
        pipeline = diffusers.AutoPipelineForText2Image.from_pretrained(
            folder, use_safetensors=True, local_files_only=True, trust_remote_code=False, dtype=dtype)
    pipeline.set_progress_bar_config(disable=True)  # progress goes to the caller, not to stderr
    return pipeline.to(device)


def check_model_folder(folder: Path) -> None:
    """Refuse, with a message saying why, a folder that would load a pickle or code of its own."""
    index = folder / "model_index.json"
    if not folder.is_dir():
        raise ModelFolderError(f"the image model folder {folder} does not exist")
    try:
        config = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelFolderError(f"{folder} is not a diffusers pipeline folder: reading model_index.json failed "
                               f"({error})") from None
    if not isinstance(config.get("_class_name"), str):
        raise ModelFolderError(f"{index} names a custom pipeline; only pipelines that ship with diffusers are loaded")
    for name, spec in config.items():
        if name.startswith("_") or not isinstance(spec, list):
            continue
        library = spec[0] if spec else None
        if library not in TRUSTED_LIBRARIES:
            raise ModelFolderError(f"{index}: component {name!r} comes from {library!r}; only diffusers and "
                                   "transformers components are loaded, never code from the model folder")
        try:
            require_safetensors(folder / name, "image model component")
        except UnsafeModelFolder as exc:
            raise ModelFolderError(str(exc)) from None
    if not any(folder.rglob("*.safetensors")):
        raise ModelFolderError(f"{folder} has no safetensors weights; only .safetensors files are loaded")


def weights_hash(folder: Path) -> str:
    """A short hash of the safetensors files' names and sizes: tells checkpoints apart without reading GBs."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")):
        digest.update(f"{path.relative_to(folder).as_posix()}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def _import_diffusers() -> Any:
    try:
        import diffusers
    except ImportError:
        raise ImageError("image generation needs diffusers, which is not installed: "
                         "pip install diffusers==0.42.1") from None
    return diffusers


def save_image(result: ImageResult, out_dir: Path, name: str | None = None,
               overwrite: bool = False) -> tuple[Path, Path]:
    """Write `<name>.png` and its `<name>.json` sidecar in `out_dir`; return both paths.

    `name` defaults to a slug of the prompt and may name a subfolder, but the files must stay
    inside `out_dir` once `..` and symlinks are resolved."""
    root = Path(out_dir).expanduser().resolve()
    stem = name.removesuffix(".png") if name else slug(result.request.prompt)
    if not stem.strip():
        raise ImageRequestError("the image name is empty")
    png, sidecar = (_inside(root, stem + suffix) for suffix in (".png", ".json"))
    if not overwrite:
        for path in (png, sidecar):
            if path.exists():
                raise ImageExists(f"{path} already exists; choose another name or allow overwriting")
    png.parent.mkdir(parents=True, exist_ok=True)
    result.image.save(png, format="PNG")
    sidecar.write_text(json.dumps(result.metadata(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return png, sidecar


def _inside(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ImageRequestError(f"{relative!r} would be written to {path}, outside {root}; "
                                "choose a name inside the output folder")
    return path


def slug(text: str, limit: int = 48) -> str:
    """"A Cat, in Space!" -> "a-cat-in-space": a file name from a prompt."""
    return paths.slug(text, limit, fallback="image")
