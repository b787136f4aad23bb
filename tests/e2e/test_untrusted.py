"""Untrusted input through the real server: paths a client names (`../`, absolute, a symlink out)
are refused with a clear error and nothing is written outside the workspace; model, chat model,
adapter and image model folders with pickle weights or code of their own are refused unread."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lsprotocol import types

from tests.e2e.helpers import Editor, lsp_server, wait_for_log, wait_for_message
from tests.e2e.test_generators import REPO, command
from tests.unit.test_untrusted_loading import assert_would_run, plant_pickle, remote_code_model

FAST = {"completion": {"debounceMs": 0}, "generators": {"captions": False}}


def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A workspace, and a folder beside it that must stay empty, with links to it from inside."""
    root = shutil.copytree(REPO, tmp_path / "ws")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / ".codegen").symlink_to(outside, target_is_directory=True)  # what the server writes for itself
    (root / "docs" / "diagrams").mkdir(parents=True)
    (root / "docs" / "diagrams" / "link").symlink_to(outside, target_is_directory=True)
    (root / "docs" / "images").mkdir(parents=True)
    (root / "docs" / "images" / "link").symlink_to(outside, target_is_directory=True)
    return root, outside


def escapes(outside: Path, link: str) -> list[str]:
    """A name leading out: up the tree, absolute, and through a symlink inside the workspace."""
    return ["../../../outside/x", str(outside / "x"), f"{link}/x"]


async def configure(client, settings: dict) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"codegen": settings}))
    await command(client, "codegen.status")  # answered after the notification: the settings are in


async def test_paths_from_commands_and_settings_stay_inside_the_workspace(tmp_path, fitted_model):
    root, outside = layout(tmp_path)
    async with lsp_server("visual_studio_code", fitted_model, FAST, root=root) as client:
        # codegen.train: the folder to train on and write into.
        for folder in ("../outside", str(root / ".." / "outside"), str(outside), (root / "escape").as_uri()):
            result = await command(client, "codegen.train", folder, {"steps": 1})
            assert "outside the workspace folders" in result["error"], (folder, result)
        result = await command(client, "codegen.train", root.as_uri(), {"steps": 1})  # .codegen links out
        assert ".codegen" in result["error"] and "outside" in result["error"], result

        # codegen.diagram and codegen.generateImage: the output name.
        app = (root / "app.py").as_uri()
        for name in escapes(outside, "link"):
            result = await command(client, "codegen.diagram", app, {"kind": "modules", "name": name})
            assert "outside" in result["error"] or "absolute" in result["error"], (name, result)
        await configure(client, {**FAST, "generators": {**FAST["generators"], "imageModel": str(tmp_path / "none")}})
        for name in escapes(outside, "link"):
            result = await command(client, "codegen.generateImage", "a cube", {"name": name, "steps": 1})
            assert "outside" in result["error"] or "absolute" in result["error"], (name, result)

        # codegen.generators.docsFolder, for every generator that writes under it.
        for docs in ("../outside", str(outside), "escape"):
            await configure(client, {**FAST, "generators": {**FAST["generators"], "docsFolder": docs,
                                                            "imageModel": str(tmp_path / "none")}})
            diagram = await command(client, "codegen.diagram", app, {"kind": "modules"})
            image = await command(client, "codegen.generateImage", "a cube", {"steps": 1})
            for result in (diagram, image):
                assert "outside" in result["error"] or "absolute" in result["error"], (docs, result)
        pricing = root / "shop" / "pricing.py"
        Editor(client, pricing.as_uri(), pricing.read_text())
        overview = await command(client, "codegen.generateDocs", pricing.as_uri(), {"kind": "overview"})
        assert "outside" in overview["error"], overview  # docsFolder is still "escape"

        # codegen.explain writes under .codegen/explain/, which links out: shown, not written.
        explained = await command(client, "codegen.explain", pricing.as_uri(),
                                  {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}})
        assert explained["markdown"] and "not written" in explained["warning"] and "uri" not in explained
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.mmd").exists()


def pickled_copy(model: Path, folder: Path, weights: str, marker: Path) -> Path:
    """`model` copied with its safetensors weights replaced by a pickle that touches `marker`."""
    shutil.copytree(model, folder)
    for path in folder.rglob("*.safetensors"):
        if path.parent.name == folder.name or path.parent.name == "unet":
            path.unlink()
            plant_pickle(path.with_name(weights), marker)
    return folder


async def test_unsafe_model_folders_are_refused_unread(tmp_path, fitted_model, tiny_image_model):
    marker = tmp_path / "unpickled"
    model = pickled_copy(fitted_model, tmp_path / "model", "pytorch_model.bin", marker)
    chat = pickled_copy(fitted_model, tmp_path / "chat", "pytorch_model.bin", marker)
    remote_chat = remote_code_model(fitted_model, tmp_path / "remote-chat", "evil")
    image = pickled_copy(tiny_image_model, tmp_path / "image", "diffusion_pytorch_model.bin", marker)
    root = shutil.copytree(REPO, tmp_path / "ws")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2}))
    plant_pickle(adapter / "adapter_model.bin", marker)
    (root / ".codegen").mkdir()
    (root / ".codegen" / "adapter.json").write_text(json.dumps({"adapter": str(adapter)}))  # shipped with a repo

    async with lsp_server("neovim", model, FAST, root=root) as client:
        error = await wait_for_message(client, "the model at", "only pickle weights")
        assert "pytorch_model.bin" in error and "only safetensors weights are loaded" in error
        assert (await command(client, "codegen.status"))["state"] == "error"

    async with lsp_server("neovim", fitted_model, FAST, root=root) as client:
        await wait_for_log(client, "model ")
        warning = await wait_for_message(client, "the adapter for ws is not used")
        assert "adapter_model.bin" in warning and "only safetensors" in warning
        app = (root / "app.py").as_uri()
        for folder, refusal in ((chat, "only pickle weights"), (remote_chat, "never runs code")):
            await configure(client, {**FAST, "generators": {"captions": True}, "actions": {"chatModel": str(folder)}})
            diagram = await command(client, "codegen.diagram", app, {"kind": "modules", "name": folder.name})
            assert "error" not in diagram, diagram  # drawn without captions
            await wait_for_message(client, "the chat model is not used", str(folder), refusal)
        await configure(client, {**FAST, "generators": {"imageModel": str(image)}})
        result = await command(client, "codegen.generateImage", "a cube", {"width": 32, "height": 32, "steps": 1})
        assert "unet has only pickle weights (diffusion_pytorch_model.bin)" in result["error"], result
    assert not marker.exists() and not (remote_chat / "REMOTE_CODE_RAN").exists()
    assert_would_run(model / "pytorch_model.bin", marker)  # the control: unpickled, the planted file runs
