"""textDocument/inlineCompletion (ghost text) and textDocument/completion (list items)."""

from __future__ import annotations

import re

from lsprotocol import types

from ..backends.base import StopFlag
from ..completion import CompletionRequest
from ..lsp_convert import lsp_completion_list, lsp_inline_completion, lsp_position
from ..server import CodegenServer

_WORD_TAIL = re.compile(r"\w*$")


async def _complete(ls: CodegenServer, uri: str, position: types.Position, kind: str, invoked: bool):
    """The completion text, the document and the cursor offset; text is "" when there is none."""
    document = ls.documents.get(uri)
    if document is None:
        ls.log_line(f"completion for a document that is not open: {uri}", "warning")
        return "", None, 0
    offset = document.offset_at(position.line, position.character, ls.encoding)
    if ls.is_private(uri):
        ls.log_line("completion skipped: the file is private (secrets pattern or .codegenignore)", "debug")
        return "", document, offset
    pipeline = await ls.completion_pipeline()
    if pipeline is None:
        return "", document, offset
    request = CompletionRequest(uri=uri, version=document.version, text=document.text, offset=offset,
                                language_id=document.language_id, kind=kind, invoked=invoked,
                                repo=ls.repo_inputs(document), line=document.position_at(offset, ls.encoding)[0],
                                adapter=ls.adapter_for(uri))
    result = await pipeline.complete(request, StopFlag())
    return result.text, document, offset


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
