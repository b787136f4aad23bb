"""Where generated files may go: inside one root folder, never over an existing file unasked.

Paths come from clients, settings and model-chosen names; each is resolved (symlinks
followed) and must stay inside the root, so `../x`, an absolute path elsewhere or a link
pointing out of the workspace is refused before anything is written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


class OutputPathError(ValueError):
    """The output path is outside the allowed folder, or would overwrite a file."""


def safe_output_path(root: Path, relative: str | Path, overwrite: bool = False) -> Path:
    """`root / relative`, resolved, checked to lie inside `root` and (unless `overwrite`) not to exist."""
    root = Path(root).resolve()
    candidate = Path(relative)
    if candidate.is_absolute():
        raise OutputPathError(f"{relative}: an absolute path; give one relative to {root}")
    target = (root / candidate).resolve()  # follows symlinks, so a link out of the root is caught here
    if target != root and root not in target.parents:
        raise OutputPathError(f"{relative}: resolves to {target}, outside {root}")
    if not overwrite and (target.exists() or target.is_symlink()):
        raise OutputPathError(f"{target} exists; pass overwrite to replace it")
    return target


def folder_inside(roots: list[Path], folder: str | Path) -> Path:
    """`folder` resolved (symlinks followed; a relative one from the first root), checked to be one
    of `roots` or inside one: a folder a client names for the server to write into."""
    if not roots:
        raise OutputPathError(f"{folder}: there is no workspace folder to keep it in")
    roots = [Path(root).resolve() for root in roots]
    target = (roots[0] / Path(folder).expanduser()).resolve()  # an absolute folder replaces roots[0]
    if not any(target == root or root in target.parents for root in roots):
        raise OutputPathError(f"{folder}: resolves to {target}, outside the workspace folders "
                              f"({', '.join(map(str, roots))})")
    return target


def write_text(root: Path, relative: str | Path, text: str, overwrite: bool = False) -> Path:
    target = safe_output_path(root, relative, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.partial")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)  # a reader never sees half a file
    return target


def slug(text: str, limit: int = 48, fallback: str = "untitled") -> str:
    """A file-name stem from free text ("A cat, in space!" -> "a-cat-in-space")."""
    words = re.sub(r"[^\w]+", "-", text.lower(), flags=re.ASCII).strip("-")
    return words[:limit].rstrip("-") or fallback
