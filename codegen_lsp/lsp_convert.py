"""Conversions between lsprotocol types and the plain data the services use (`lsp_*` make protocol types)."""

from __future__ import annotations

from lsprotocol import types

from .documents import Document, Range

_LEVELS = {"error": types.MessageType.Error, "warning": types.MessageType.Warning,
           "info": types.MessageType.Info, "debug": types.MessageType.Log}


def encoding_name(kind: types.PositionEncodingKind | str | None) -> str:
    """The negotiated encoding as documents.py names it (utf-16 when unset)."""
    value = kind.value if isinstance(kind, types.PositionEncodingKind) else kind
    return value if value in ("utf-8", "utf-16", "utf-32") else "utf-16"


def plain_changes(changes: list[types.TextDocumentContentChangeEvent]) -> list[tuple[str, Range | None]]:
    out: list[tuple[str, Range | None]] = []
    for change in changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            r = change.range
            out.append((change.text, (r.start.line, r.start.character, r.end.line, r.end.character)))
        else:
            out.append((change.text, None))
    return out


def lsp_position(document: Document, offset: int, encoding: str) -> types.Position:
    line, character = document.position_at(offset, encoding)
    return types.Position(line=line, character=character)


def lsp_inline_completion(text: str, position: types.Position) -> types.InlineCompletionList:
    if not text:
        return types.InlineCompletionList(items=[])
    item = types.InlineCompletionItem(insert_text=text, range=types.Range(start=position, end=position))
    return types.InlineCompletionList(items=[item])


def lsp_completion_list(text: str, word: str, start: types.Position, end: types.Position) -> types.CompletionList:
    """One item that replaces the word being typed, so the editor's filter keeps it."""
    if not text:
        return types.CompletionList(is_incomplete=True, items=[])
    new_text = word + text
    first_line = new_text.split("\n", 1)[0].strip() or new_text.strip()
    label = first_line if len(first_line) <= 60 else first_line[:57] + "..."
    item = types.CompletionItem(
        label=label,
        kind=types.CompletionItemKind.Text,
        detail="codegen-lsp",
        documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{new_text}\n```"),
        filter_text=new_text,
        sort_text="0",
        text_edit=types.TextEdit(range=types.Range(start=start, end=end), new_text=new_text),
    )
    # Incomplete: the next keystroke asks again instead of filtering a stale suggestion.
    return types.CompletionList(is_incomplete=True, items=[item])


def lsp_message_type(level: str) -> types.MessageType:
    return _LEVELS.get(level, types.MessageType.Info)


def lsp_range(document: Document, start: int, end: int, encoding: str) -> types.Range:
    return types.Range(start=lsp_position(document, start, encoding), end=lsp_position(document, end, encoding))


def lsp_workspace_edit(document: Document, edits, encoding: str, new_file: tuple[str, str] | None = None
                       ) -> types.WorkspaceEdit:
    """A code action's plain edits (str offsets into `document`'s text) and new file as one
    WorkspaceEdit, versioned so an editor refuses it once the document has changed."""
    changes: list = []
    if edits:
        identifier = types.OptionalVersionedTextDocumentIdentifier(uri=document.uri, version=document.version)
        changes.append(types.TextDocumentEdit(text_document=identifier, edits=[
            types.TextEdit(range=lsp_range(document, e.start, e.end, encoding), new_text=e.new_text) for e in edits]))
    if new_file is not None:
        uri, content = new_file
        changes.append(types.CreateFile(uri=uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False)))
        origin = types.Position(line=0, character=0)
        changes.append(types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
            edits=[types.TextEdit(range=types.Range(start=origin, end=origin), new_text=content)]))
    return types.WorkspaceEdit(document_changes=changes)
