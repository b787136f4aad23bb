"""textDocument/didOpen, didChange, didClose: the server's own copy of open documents."""

from __future__ import annotations

from lsprotocol import types

from ..lsp_convert import plain_changes
from ..server import CodegenServer


def did_open(ls: CodegenServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    ls.documents.open(doc.uri, doc.language_id, doc.version, doc.text)


def did_change(ls: CodegenServer, params: types.DidChangeTextDocumentParams) -> None:
    doc = params.text_document
    if ls.documents.change(doc.uri, doc.version, plain_changes(params.content_changes), ls.encoding) is None:
        ls.log_line(f"didChange for a document that is not open: {doc.uri}", "warning")


def did_close(ls: CodegenServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.documents.close(params.text_document.uri)
    if ls.pipeline is not None:
        ls.pipeline.forget(params.text_document.uri)


def register(ls: CodegenServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
