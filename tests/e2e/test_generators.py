"""Side generators through the real server: diagrams, images and docs as jobs behind completions."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from tests.e2e.helpers import Editor, accept_edits, command, lsp_server

REPO = Path(__file__).parent.parent / "data" / "diagram_repo"
MODULES = {"app", "shop", "shop.models", "shop.util", "shop.pricing", "shop.io", "shop.io.export"}


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "shop-repo"
    shutil.copytree(REPO, root)
    return root


async def test_diagram_command_draws_the_real_modules_and_refuses_escapes(tmp_path):
    root = workspace(tmp_path)
    async with lsp_server("neovim", None, root=root) as client:
        result = await command(client, "codegen.diagram", (root / "app.py").as_uri(), {"kind": "modules"})
        assert "error" not in result, result
        mermaid = Path(result["mermaid"]).read_text()
        assert Path(result["mermaid"]).parent == root / "docs" / "diagrams"
        assert result["nodes"] == len(MODULES) and result["edges"] == 8
        assert all(f'["{name}<br/>' in mermaid for name in MODULES) and "shop_pricing --> shop_util" in mermaid
        again = await command(client, "codegen.diagram", (root / "app.py").as_uri(), {"kind": "modules"})
        assert "exists" in again["error"]
        escape = await command(client, "codegen.diagram", (root / "app.py").as_uri(),
                               {"kind": "classes", "name": "../../../outside"})
        assert "outside" in escape["error"] and not (tmp_path / "outside.mmd").exists()
        around = await command(client, "codegen.diagram", (root / "shop" / "pricing.py").as_uri(),
                               {"kind": "calls", "function": "total"})
        assert around["title"] == "Calls around shop.pricing.total"


async def test_image_command_writes_png_and_sidecar_and_completions_go_first(tmp_path, tiny_image_model,
                                                                            fitted_model):
    root = tmp_path / "ws"
    root.mkdir()
    options = {"completion": {"debounceMs": 0}, "generators": {"imageModel": str(tiny_image_model)}}
    async with lsp_server("visual_studio_code", fitted_model, options, root=root) as client:
        small = await command(client, "codegen.generateImage", "a red cube", {"width": 32, "height": 32,
                                                                             "steps": 2, "seed": 7})
        assert "error" not in small, small
        sidecar = json.loads(Path(small["sidecar"]).read_text())
        assert (sidecar["seed"], sidecar["width"], sidecar["steps"]) == (7, 32, 2)
        assert Path(small["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert Path(small["png"]).parent == root / "docs" / "images"

        # A long job, then a completion while it runs: the completion is answered first.
        job = asyncio.ensure_future(command(client, "codegen.generateImage", "a long one",
                                            {"width": 64, "height": 64, "steps": 200, "seed": 1}))
        await _wait_for_progress(client, "denoising")
        doc = Editor(client, (root / "shapes.py").as_uri(), "def add(a, b):\n    \n")
        completion = await doc.inline(1, 4)
        assert not job.done(), "the completion waited for the whole image job"
        assert completion.items is not None
        long = await job
        assert "error" not in long, long


async def _wait_for_progress(client, text: str) -> None:
    for _ in range(1200):
        for reports in client.progress_reports.values():
            if any(text in (getattr(report, "message", None) or "") for report in reports):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no progress report mentioning {text!r}")


async def test_generate_docs_writes_docstrings_and_an_overview(tmp_path):
    root = workspace(tmp_path)
    path = root / "shop" / "util.py"
    async with lsp_server("neovim", None, root=root) as client:
        applied = accept_edits(client)
        Editor(client, path.as_uri(), path.read_text())
        result = await command(client, "codegen.generateDocs", path.as_uri())
        assert "error" not in result, result
        assert result["written"] and result["applied"] is True and len(applied) == 1
        assert result["written"] == ["apply_rate"]  # round_money has its docstring already
        overview = await command(client, "codegen.generateDocs", (root / "shop" / "pricing.py").as_uri(),
                                 {"kind": "overview"})
        assert overview.get("error", "").endswith("is not open")
        Editor(client, (root / "shop" / "pricing.py").as_uri(), (root / "shop" / "pricing.py").read_text())
        overview = await command(client, "codegen.generateDocs", (root / "shop" / "pricing.py").as_uri(),
                                 {"kind": "overview"})
        markdown = (root / "docs" / "api" / "shop" / "pricing.md").read_text()
        assert overview["markdown"] == markdown and "# `shop.pricing`" in markdown
        assert "- `def total(items)`" in markdown and "Used by: `shop.io.export`." in markdown


async def test_diagram_captions_come_from_a_chat_model_for_nodes_without_a_docstring(tmp_path, fitted_model):
    from codegen_lsp.generators.tasks import CAPTION_ASK
    from tests.e2e.test_actions import CHAT_TEMPLATE

    chat_model = shutil.copytree(fitted_model, tmp_path / "chat-model")
    config = json.loads((chat_model / "tokenizer_config.json").read_text())
    (chat_model / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": CHAT_TEMPLATE}))
    root = workspace(tmp_path)
    options = {"actions": {"chatModel": str(chat_model)}}
    async with lsp_server("neovim", fitted_model, options, root=root) as client:
        result = await command(client, "codegen.diagram", (root / "shop" / "pricing.py").as_uri(),
                               {"kind": "calls", "function": "total"})
        assert "error" not in result, result
        records = (await command(client, "codegen.debug.lastRequests"))["requests"]
        asked = [r for r in records if r["mode"] == "chat" and CAPTION_ASK in r["prompt"]]
        # Only nodes without a docstring are asked about, each once; total has one (it is read).
        assert asked and len(asked) < result["nodes"], (result, [r["prompt"][-300:] for r in records])
        assert all(r["kind"] == "job" and r["outcome"] != "error" for r in asked)
        assert "The sum of the items' prices." in Path(result["mermaid"]).read_text()
