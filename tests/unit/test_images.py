"""Image generation on a tiny Stable Diffusion pipeline built from configs: 2 steps at 32x32 on the CPU."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import weakref
from datetime import datetime
from pathlib import Path
from typing import Callable

import pytest

from codegen_lsp import __version__
from codegen_lsp.generators.images import (GenerationCancelled, ImageError, ImageExists, ImageGenerator,
                                           ImageOutOfMemory, ImageRequest, ImageRequestError, ModelFolderError,
                                           load_pipeline, resolve_dtype, save_image, slug)

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("diffusers")
# diffusers' Euler scheduler builds a numpy array from a tensor the numpy 1 way; harmless.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Models this small run ten times faster on one thread: syncing threads costs more than the math."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def generator(tiny_image_model):
    generator = ImageGenerator(tiny_image_model, device="cpu")
    yield generator
    generator.release()


def small(prompt: str = "a red cube", **kwargs) -> ImageRequest:
    return ImageRequest(prompt, **{"width": 32, "height": 32, "steps": 2, **kwargs})


def pixels(result) -> bytes:
    return result.image.tobytes()


def test_two_steps_make_a_32px_png_and_a_sidecar(generator, tmp_path):
    from PIL import Image

    result = generator.generate(small(seed=7, negative_prompt="blurry"))
    png, sidecar = save_image(result, tmp_path)

    assert png == tmp_path.resolve() / "a-red-cube.png" and sidecar == png.with_suffix(".json")
    with Image.open(png) as image:
        assert (image.format, image.size) == ("PNG", (32, 32))
    meta = json.loads(sidecar.read_text())
    assert meta | {"prompt": "a red cube", "negative_prompt": "blurry", "seed": 7, "width": 32, "height": 32,
                   "steps": 2, "guidance": 0.0} == meta
    assert meta["model"] == generator.model_folder.name and len(meta["model_weights"]) == 16
    assert (meta["device"], meta["dtype"], meta["codegen_lsp_version"]) == ("cpu", "float32", __version__)
    assert meta["seconds"] > 0 and datetime.fromisoformat(meta["created"]).tzinfo is not None


def test_a_seed_gives_the_same_pixels_and_a_drawn_seed_is_recorded(generator):
    first, again, other = (generator.generate(small(seed=seed)) for seed in (3, 3, 4))
    assert pixels(first) == pixels(again) != pixels(other)

    drawn = generator.generate(small(seed=None))
    assert isinstance(drawn.request.seed, int)
    assert pixels(generator.generate(small(seed=drawn.request.seed))) == pixels(drawn)


def test_progress_reports_each_step(generator):
    seen = []
    generator.generate(small(seed=1), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


def test_cancelling_stops_after_the_step_in_progress(generator):
    seen = []
    with pytest.raises(GenerationCancelled, match="after step 1 of 2"):
        generator.generate(small(seed=1), progress=lambda done, _total: seen.append(done),
                           should_stop=lambda: bool(seen))
    assert seen == [1]
    assert generator.generate(small(seed=1)).image.size == (32, 32)  # the pipeline still works


def test_cancelled_before_starting_loads_nothing(tiny_image_model):
    generator = ImageGenerator(tiny_image_model, device="cpu", loader=pytest.fail)
    with pytest.raises(GenerationCancelled, match="before it started"):
        generator.generate(small(), should_stop=lambda: True)


class FailsOnce:
    """A pipeline whose first call raises `error()`, as a GPU out of memory would; later calls run it."""

    def __init__(self, pipeline, error: Callable[[], Exception], calls: list) -> None:
        self.pipeline, self.error, self.calls = pipeline, error, calls

    def __call__(self, **kwargs):
        self.calls.append(kwargs["width"])
        if len(self.calls) == 1:
            raise self.error()
        return self.pipeline(**kwargs)


def cuda_out_of_memory() -> Exception:
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def mps_out_of_memory() -> Exception:
    return RuntimeError("MPS backend out of memory (MPS allocated: 9.1 GB)")


@pytest.mark.parametrize("error", [cuda_out_of_memory, mps_out_of_memory])
def test_out_of_memory_releases_the_model_and_the_next_request_works(tiny_image_model, error):
    calls, pipelines = [], []

    def load(*args):
        pipelines.append(weakref.ref(pipeline := FailsOnce(load_pipeline(*args), error, calls)))
        return pipeline

    generator = ImageGenerator(tiny_image_model, device="cpu", loader=load)
    with pytest.raises(ImageOutOfMemory, match="smaller size or fewer steps, or the CPU") as raised:
        generator.generate(small(width=64, height=64))
    assert not generator.loaded and pipelines[0]() is None  # freed: the error holds no frame that holds it
    assert raised.value.__context__ is None

    assert generator.generate(small()).image.size == (32, 32)
    assert (generator.loads, calls) == (2, [64, 32])


def test_other_errors_keep_the_model_loaded(tiny_image_model):
    generator = ImageGenerator(tiny_image_model, device="cpu",
                               loader=lambda *args: FailsOnce(None, lambda: RuntimeError("shapes do not match"), []))
    with pytest.raises(RuntimeError, match="shapes do not match"):
        generator.generate(small())
    assert generator.loaded


class RunsCode:
    """Unpickling this touches a file: the proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_pickle_weights_are_refused_unread(tiny_image_model, tmp_path):
    folder = shutil.copytree(tiny_image_model, tmp_path / "pickled")
    marker = tmp_path / "unpickled"
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(RunsCode(marker)))

    generator = ImageGenerator(folder, device="cpu")
    with pytest.raises(ModelFolderError, match=r"unet has only pickle weights \(diffusion_pytorch_model.bin\)"):
        generator.generate(small())
    assert not marker.exists() and not generator.loaded


@pytest.mark.parametrize("edit, message", [
    ({"_class_name": ["my_pipeline", "MyPipeline"]}, "custom pipeline"),
    ({"unet": ["my_unet", "MyUNet"]}, "component 'unet' comes from 'my_unet'"),
])
def test_code_from_the_model_folder_is_refused(tiny_image_model, tmp_path, edit, message):
    folder = shutil.copytree(tiny_image_model, tmp_path / "custom")
    index = folder / "model_index.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), **edit}))
    with pytest.raises(ModelFolderError, match=message):
        ImageGenerator(folder, device="cpu").generate(small())


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        ImageGenerator(tmp_path / "nowhere", device="cpu").generate(small())


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 30}, "width must be a multiple of 8 from 16 to 2048 pixels, not 30"),
    ({"height": 8}, "height must be a multiple of 8 from 16 to 2048 pixels, not 8"),
    ({"width": 4096}, "width must be a multiple of 8"),
    ({"width": True}, "width must be a multiple of 8"),
    ({"steps": 0}, "steps must be a whole number from 1 to 200, not 0"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"guidance": -1}, "guidance must be a number from 0 to 30"),
    ({"seed": -1}, "seed must be a whole number"),
    ({"prompt": "  "}, "the prompt is empty"),
])
def test_bad_requests_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ImageRequestError, match=message):
        small(**kwargs)


def test_existing_files_are_not_overwritten_unless_asked(generator, tmp_path):
    result = generator.generate(small(seed=5))
    png, sidecar = save_image(result, tmp_path, "cube")
    with pytest.raises(ImageExists, match=f"{png} already exists"):
        save_image(result, tmp_path, "cube")
    png.unlink()
    with pytest.raises(ImageExists, match=f"{sidecar} already exists"):
        save_image(result, tmp_path, "cube.png")
    assert save_image(result, tmp_path, "cube", overwrite=True) == (png, sidecar)


def test_names_cannot_escape_the_output_folder(generator, tmp_path):
    result = generator.generate(small(seed=5))
    out, elsewhere = tmp_path / "docs", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    for name in ("../escaped", str(elsewhere / "absolute"), "link/through-a-symlink"):
        with pytest.raises(ImageRequestError, match="outside"):
            save_image(result, out, name)
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "escaped.png").exists()
    assert save_image(result, out, "images/cube")[0] == out.resolve() / "images" / "cube.png"


def test_an_idle_model_is_released_and_loaded_again(tiny_image_model):
    now = [100.0]
    generator = ImageGenerator(tiny_image_model, device="cpu", idle_seconds=10, clock=lambda: now[0])
    busy = []
    generator.generate(small(), progress=lambda *_: busy.append(generator.release_if_idle(now=1e9)))
    assert busy == [False, False]  # never released in the middle of a generation
    assert generator.loaded and generator.last_used == 100.0

    assert not generator.release_if_idle(now=109.0)
    now[0] = 110.0
    assert generator.release_if_idle() and not generator.loaded
    assert not generator.release_if_idle()  # nothing left to release

    assert generator.generate(small()).image.size == (32, 32)
    assert generator.loads == 2


def test_importing_the_module_loads_neither_torch_nor_diffusers():
    code = ("import sys, codegen_lsp.generators.images\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'PIL') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert output.stdout.strip() == "[]"


def test_without_diffusers_the_error_says_to_install_it(tiny_image_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` fail
    with pytest.raises(ImageError, match="needs diffusers.*pip install diffusers"):
        ImageGenerator(tiny_image_model, device="cpu").generate(small())


def test_a_missing_gpu_is_a_clear_error(tiny_image_model):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ImageError, match="'cuda' is not available here"):
        ImageGenerator(tiny_image_model, device="cuda").generate(small())


def test_dtypes():
    import torch

    assert resolve_dtype("auto", "cpu") == torch.float32 and resolve_dtype("bf16", "cuda") == torch.bfloat16
    with pytest.raises(ImageError, match="unknown dtype 'float8'"):
        resolve_dtype("float8", "cpu")


def test_slugs():
    assert slug("A Cat, in Space!") == "a-cat-in-space"
    assert slug("日本") == "image"
    assert len(slug("word " * 40)) <= 48
