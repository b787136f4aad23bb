"""textDocument/inlineCompletion (ghost text) and textDocument/completion (list items)."""

from __future__ import annotations

import re

from lsprotocol import types

from ..backends.base import StopFlag
from ..completion import CompletionRequest
from ..documents import Document
from ..lsp_convert import lsp_completion_list, lsp_inline_completion, lsp_position
from ..server import CodegenServer

# \Z, not $: "$" also matches before a final "\n", so at a line's start the word would be the
# previous line's last word and the edit's range would span the line break.
_WORD_TAIL = re.compile(r"\w*\Z")


async def _complete(ls: CodegenServer, uri: str, position: types.Position, kind: str, invoked: bool):
    """The completion text, the document it is for and the cursor offset; text is "" when there is none.
    The request is about the text as it was when it came: edits that arrive while it waits for the
    model or while the model runs move nothing, its answer's positions refer to that text (as LSP has it)."""
    document = ls.documents.get(uri)
    if document is None:
        ls.log_line(f"completion for a document that is not open: {uri}", "warning")
        return "", None, 0
    offset = document.offset_at(position.line, position.character, ls.encoding)
    if ls.is_private(uri):
        ls.log_line("completion skipped: the file is private (secrets pattern or .codegenignore)", "debug")
        return "", document, offset
    text, version = document.text, document.version
    pipeline = await ls.completion_pipeline()
    document = _as_of(document, text, version)
    if pipeline is None:
        return "", document, offset
    request = CompletionRequest(uri=uri, version=version, text=text, offset=offset,
                                language_id=document.language_id, kind=kind, invoked=invoked,
                                repo=ls.repo_inputs(document), line=document.position_at(offset, ls.encoding)[0],
                                adapter=ls.adapter_for(uri))
    result = await pipeline.complete(request, StopFlag())
    return result.text, _as_of(document, text, version), offset


def _as_of(document: Document, text: str, version: int) -> Document:
    """`document` while its text is still `text`; once edited, a copy of it as it was then."""
    return document if document.text is text else Document(document.uri, document.language_id, version, text)


async def inline_completion(ls: CodegenServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    text, document, offset = await _complete(ls, params.text_document.uri, params.position, "inline", invoked)
    if document is None:
        return lsp_inline_completion("", params.position)
    return lsp_inline_completion(text, lsp_position(document, offset, ls.encoding))


async def completion(ls: CodegenServer, params: types.CompletionParams) -> types.CompletionList:
    invoked = params.context is None or params.context.trigger_kind == types.CompletionTriggerKind.Invoked
    text, document, offset = await _complete(ls, params.text_document.uri, params.position, "list", invoked)
    if document is None or not text:
        return lsp_completion_list("", "", params.position, params.position)
    word = _WORD_TAIL.search(document.text, max(0, offset - 200), offset).group()
    start = lsp_position(document, offset - len(word), ls.encoding)
    return lsp_completion_list(text, word, start, lsp_position(document, offset, ls.encoding))


def register(ls: CodegenServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(inline_completion)
    ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", " "]))(completion)
