#!/usr/bin/env python3
"""Rewrite package.json's settings (`contributes.configuration.properties`) from the server's schema.

The server's settings come from `codegen_lsp.config.settings_schema()`, so the manifest
cannot drift from what the server accepts; the extension's own settings (how to start
the server, the client's trace) are defined below. Run it with the Python that has
codegen-lsp installed, from anywhere:

    .venv/bin/python editors/vscode/scripts/sync-settings.py          # rewrite package.json
    .venv/bin/python editors/vscode/scripts/sync-settings.py --check  # exit 1 when out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codegen_lsp.config import settings_schema

PACKAGE_JSON = Path(__file__).resolve().parent.parent / "package.json"

# Read by the extension only, never sent to the server (it strips `codegen.server`).
EXTENSION_SETTINGS: dict[str, dict] = {
    "codegen.server.command": {
        "type": "string",
        "default": "codegen-lsp",
        "markdownDescription": "The language server's executable: a path, or a name looked up on `PATH` "
                               "(after a trusted workspace folder's `.venv`). Ignored when "
                               "`#codegen.server.pythonPath#` is set.",
        "scope": "machine-overridable",
    },
    "codegen.server.args": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["serve"],
        "description": "Arguments for `codegen.server.command`.",
        "scope": "machine-overridable",
    },
    "codegen.server.pythonPath": {
        "type": "string",
        "default": "",
        "markdownDescription": "A Python interpreter with codegen-lsp installed; when set, the server starts "
                               "as `<python> -m codegen_lsp serve`.",
        "scope": "machine-overridable",
    },
    "codegen-lsp.trace.server": {
        "type": "string",
        "enum": ["off", "messages", "verbose"],
        "default": "off",
        "description": "Log the LSP messages between VS Code and the server in the codegen-lsp output.",
        "scope": "window",
    },
}


def _fallback_type(default: object) -> dict:
    """A JSON schema type from a default, for schema entries that do not carry one."""
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, int):
        return {"type": "integer"}
    if isinstance(default, float):
        return {"type": "number"}
    if isinstance(default, list):
        return {"type": "array", "items": {"type": "string"}}
    if default is None:
        return {"type": ["string", "null"]}
    return {"type": "string"}


def properties() -> dict[str, dict]:
    out = {}
    for key, entry in settings_schema().items():
        out[key] = entry if "type" in entry else {**_fallback_type(entry.get("default")), **entry}
    return {**out, **EXTENSION_SETTINGS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only tell whether package.json is up to date")
    args = parser.parse_args()

    manifest = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    configuration = manifest.setdefault("contributes", {}).setdefault("configuration", {})
    configuration.setdefault("title", "Codegen")
    wanted = properties()
    if args.check:
        if configuration.get("properties") != wanted:
            print(f"{PACKAGE_JSON} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    configuration["properties"] = wanted
    PACKAGE_JSON.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{PACKAGE_JSON.name}: {len(wanted)} settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
