"""initialize, initialized, workspace/didChangeConfiguration, shutdown."""

from __future__ import annotations

from lsprotocol import types

from ..config import parse_config
from ..server import CodegenServer


def initialize(ls: CodegenServer, params: types.InitializeParams) -> None:
    config, warnings = parse_config(params.initialization_options)
    ls.apply_config(config, warnings)


def initialized(ls: CodegenServer, params: types.InitializedParams) -> None:
    # Load in the background so the first keystroke does not pay for reading the weights.
    ls.start_loading()


def did_change_configuration(ls: CodegenServer, params: types.DidChangeConfigurationParams) -> None:
    config, warnings = parse_config(params.settings)
    ls.apply_config(config, warnings)


def shutdown(ls: CodegenServer, params: None) -> None:
    ls.shutdown_model()


def register(ls: CodegenServer) -> None:
    ls.feature(types.INITIALIZE)(initialize)
    ls.feature(types.INITIALIZED)(initialized)
    ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    ls.feature(types.SHUTDOWN)(shutdown)
