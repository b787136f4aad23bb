"""initialize, initialized, workspace/didChangeConfiguration, shutdown."""

from __future__ import annotations

import logging
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from ..config import parse_config
from ..server import CodegenServer

log = logging.getLogger(__name__)


def workspace_root(params: types.InitializeParams) -> Path | None:
    """The first workspace folder (repository context covers one root)."""
    uri = params.workspace_folders[0].uri if params.workspace_folders else params.root_uri
    path = to_fs_path(uri) if uri else params.root_path
    return Path(path) if path else None


def workspace_folders(params: types.InitializeParams) -> list[Path]:
    uris = [f.uri for f in params.workspace_folders or []] or ([params.root_uri] if params.root_uri else [])
    paths = [to_fs_path(uri) for uri in uris] or ([params.root_path] if params.root_path else [])
    return [Path(p).resolve() for p in paths if p]


def initialize(ls: CodegenServer, params: types.InitializeParams) -> None:
    config, warnings = parse_config(params.initialization_options)
    ls.apply_config(config, warnings)
    ls.folders = workspace_folders(params)
    ls.open_workspace(workspace_root(params))


async def initialized(ls: CodegenServer, params: types.InitializedParams) -> None:
    # Load and index in the background so the first keystroke pays for neither.
    ls.start_loading()
    ls.start_indexing()
    await _watch_files(ls)


async def _watch_files(ls: CodegenServer) -> None:
    """Ask the client for workspace/didChangeWatchedFiles, where it can register watchers."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace is not None else None
    if ls.workspace_files is None or watched is None or not watched.dynamic_registration:
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern="**/*")])
    registration = types.Registration(id="codegen-watch", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                      register_options=options)
    try:
        await ls.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
    except Exception as exc:  # the index then updates on save only
        log.warning("file watcher registration refused: %s", exc)


def did_change_configuration(ls: CodegenServer, params: types.DidChangeConfigurationParams) -> None:
    config, warnings = parse_config(params.settings)
    index_changed = config.index != ls.config.index
    ls.apply_config(config, warnings)
    if index_changed and ls.workspace_files is not None:
        ls.open_workspace(ls.workspace_files.root)
        ls.start_indexing()


def shutdown(ls: CodegenServer, params: None) -> None:
    ls.shutdown_model()


def register(ls: CodegenServer) -> None:
    ls.feature(types.INITIALIZE)(initialize)
    ls.feature(types.INITIALIZED)(initialized)
    ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    ls.feature(types.SHUTDOWN)(shutdown)
