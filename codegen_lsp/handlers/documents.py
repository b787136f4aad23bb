"""textDocument/didOpen, didChange, didSave, didClose and workspace/didChangeWatchedFiles:
the server's own copy of open documents, and the workspace index kept up to date.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from ..adapters import REGISTRY
from ..lsp_convert import plain_changes
from ..server import CodegenServer


def did_open(ls: CodegenServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    ls.warm_tokens(ls.documents.open(doc.uri, doc.language_id, doc.version, doc.text))


def did_change(ls: CodegenServer, params: types.DidChangeTextDocumentParams) -> None:
    doc = params.text_document
    if ls.documents.change(doc.uri, doc.version, plain_changes(params.content_changes), ls.encoding) is None:
        ls.log_line(f"didChange for a document that is not open: {doc.uri}", "warning")


def did_close(ls: CodegenServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.documents.close(uri)
    if ls.pipeline is not None:
        ls.pipeline.forget(uri)
    if ls.forget_document_version(uri):
        _reindex(ls, uri)  # unsaved edits leave with the document: the file on disk counts again


def _reindex(ls: CodegenServer, uri: str) -> None:
    path = to_fs_path(uri)
    if ls.index is not None and path is not None:
        ls.index.update_file(Path(path))


def did_save(ls: CodegenServer, params: types.DidSaveTextDocumentParams) -> None:
    _reindex(ls, params.text_document.uri)


async def did_change_watched_files(ls: CodegenServer, params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        _reindex(ls, change.uri)  # a deleted file leaves the index: update_file sees it gone
    if any(change.uri.endswith("/" + REGISTRY.as_posix()) for change in params.changes):
        await ls.prepare_adapters()  # a folder's adapter was registered, retrained or removed


def register(ls: CodegenServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    ls.feature(types.TEXT_DOCUMENT_DID_SAVE)(did_save)
    ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
    ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(did_change_watched_files)
