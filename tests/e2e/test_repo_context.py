"""Repository context through the real server: a signature from another file reaches the prompt,
planted secrets never reach a prompt, the cache or a log."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.helpers import Editor, last_requests, lsp_server, wait_for_index

SHAPES = '''"""Plane shapes."""


def rectangle_area(width: float, height: float) -> float:
    """Area of a width x height rectangle."""
    return width * height
'''
MAIN = '''from geometry.shapes import rectangle_area


def report(width, height):
    return rectangle_area('''
MARKERS = {".env": "MARKER-DOTENV-8d1f", "config/secrets.py": "MARKER-SECRETS-PY-55ab",
           "notes/private.py": "MARKER-CODEGENIGNORE-c3e2", "keys/server.pem": "MARKER-PEM-77aa"}
OPTIONS = {"completion": {"debounceMs": 0}}


def make_workspace(root: Path) -> Path:
    (root / "geometry").mkdir(parents=True)
    (root / "geometry" / "shapes.py").write_text(SHAPES)
    (root / "app").mkdir()
    (root / "app" / "main.py").write_text(MAIN)
    (root / ".codegenignore").write_text("notes/\n")
    for name, marker in MARKERS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"API_KEY = '{marker}'\ndef leaked_{marker[7:12].lower().replace('-', '_')}(): pass\n")
    return root


async def test_cross_file_signature_reaches_the_prompt(editor, fitted_model, tmp_path):
    root = make_workspace(tmp_path / "ws")
    async with lsp_server(editor, fitted_model, OPTIONS, root=root) as client:
        assert (await wait_for_index(client)).startswith("indexed 2 files")
        doc = Editor(client, (root / "app" / "main.py").as_uri(), MAIN)
        lines = MAIN.split("\n")
        await doc.inline(len(lines) - 1, len(lines[-1]), invoked=True)
        record = (await last_requests(client, 1))["requests"][-1]
        assert "def rectangle_area(width: float, height: float) -> float: ..." in record["prompt"]
        assert "# Area of a width x height rectangle." in record["prompt"]
        assert "<|cg_file_sep|>geometry/shapes.py\n" in record["prompt"]
        assert "<|cg_file_sep|>app/main.py\n" in record["prompt"]
        (item,) = [c for c in record["context"] if c["path"] == "geometry/shapes.py"]
        assert item["included"] and item["kind"] == "definition" and "rectangle_area" in item["reason"]
        # A definition that exists only in another open, unsaved document counts too.
        Editor(client, (root / "geometry" / "solids.py").as_uri(),
               "def box_volume(width: float, height: float, depth: float) -> float:\n    return 0.0\n")
        doc.edit((len(lines) - 1, 0), (len(lines) - 1, len(lines[-1])), "    return box_volume(")
        await doc.inline(len(lines) - 1, len("    return box_volume("), invoked=True)
        record = (await last_requests(client, 1))["requests"][-1]
        assert "def box_volume(width: float, height: float, depth: float) -> float: ..." in record["prompt"]


async def test_planted_secrets_reach_no_prompt_cache_or_log(editor, fitted_model, tmp_path):
    root = make_workspace(tmp_path / "ws")
    async with lsp_server(editor, fitted_model, OPTIONS, root=root) as client:
        await wait_for_index(client)
        # The secrets are open in the editor too, and the user asks for completions in them.
        for name in MARKERS:
            secret = Editor(client, (root / name).as_uri(), (root / name).read_text())
            result = await secret.inline(1, 0, invoked=True)
            assert not result.items
        doc = Editor(client, (root / "app" / "main.py").as_uri(), MAIN + "\nAPI_KEY = ")
        await doc.inline(5, 10, invoked=True)
        debug = await last_requests(client)
        assert debug["requests"] and all(r["prompt"] for r in debug["requests"])
        texts = [str(debug)] + [m.message for m in client.log_messages]
    cache_home = Path(os.environ["XDG_CACHE_HOME"])
    texts += [path.read_bytes().decode("utf-8", "replace") for path in cache_home.rglob("*") if path.is_file()]
    assert any("server.log" in str(p) for p in cache_home.rglob("*"))
    for marker in MARKERS.values():
        assert not any(marker in text for text in texts), marker
