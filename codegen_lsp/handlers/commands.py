"""Commands for the editors' status displays: codegen.status (model, adapter and the name a remote
server serves it under, last latency), codegen.debug.lastRequests (what the model was asked and
what came of it) and codegen.debug.document (the server's copy of an open document: version,
SHA-256 and length of its text, and the text on request; tests/lsp_fuzz.py compares it with the
editor's)."""

from __future__ import annotations

import hashlib

from .. import __version__
from ..server import CodegenServer

DOCUMENT = "codegen.debug.document"
LAST_REQUESTS = "codegen.debug.lastRequests"
STATUS = "codegen.status"


def status(ls: CodegenServer, *args) -> dict:
    """Argument: optional document URI, whose workspace folder's adapter is reported.
    Cheap (no model call): the VS Code status bar asks after every completion."""
    pipeline = ls.pipeline
    backend = pipeline.backend if pipeline else None
    uri = args[0] if args and isinstance(args[0], str) else None
    adapter = ls.adapter_for(uri) if uri else ""
    completions = [r for r in ls.requests.last() if r.kind in ("inline", "list") and "total" in r.timings_ms]
    return {
        "state": ls.model_state,
        "model": backend.model_id if backend else None,
        "device": str(getattr(backend, "device", "")) or None,
        "fimFormat": backend.fim.name if backend else None,
        "adapter": adapter,
        # A remote server serves the adapter under a name of its own (vLLM's --lora-modules NAME=PATH).
        "adapterServedAs": backend.adapter_identity(adapter)
                           if adapter and getattr(backend, "adapters_by_name", False) else None,
        # A remote engine as last seen (reachable, context size, how it fills in the middle): no request.
        "engine": backend.engine_status() if hasattr(backend, "engine_status") else None,
        "lastLatencyMs": completions[-1].timings_ms["total"] if completions else None,
        "loadError": ls.load_error,
        "completionsEnabled": ls.config.completion.enabled,
        "version": __version__,
    }


def last_requests(ls: CodegenServer, *args) -> dict:
    """Arguments: optional count N (default: all kept), optional false to leave out prompt texts."""
    count = args[0] if args and isinstance(args[0], int) and not isinstance(args[0], bool) else None
    with_prompt = not (len(args) > 1 and args[1] is False)
    pipeline = ls.pipeline
    return {
        "model": pipeline.backend.model_id if pipeline else None,
        "fimFormat": pipeline.backend.fim.name if pipeline else None,
        "loadError": ls.load_error,
        "adapters": {str(folder): adapter for folder, adapter in ls.adapters.items()},
        "backendCalls": ls.requests.backend_calls,
        "requests": [r.as_dict(with_prompt) for r in ls.requests.last(count)],
    }


def document(ls: CodegenServer, *args) -> dict | None:
    """Arguments: document URI, optional true to add the text (never for a private file).
    None when the document is not open."""
    uri = args[0] if args and isinstance(args[0], str) else None
    doc = ls.documents.get(uri) if uri is not None else None
    if doc is None:
        return None
    # surrogatepass: a lone surrogate (possible through JSON escapes) must not make this raise.
    digest = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest()
    out = {"version": doc.version, "sha256": digest, "length": len(doc.text)}
    if len(args) > 1 and args[1] is True and not ls.is_private(uri):
        out["text"] = doc.text
    return out


def register(ls: CodegenServer) -> None:
    ls.command(STATUS)(status)
    ls.command(LAST_REQUESTS)(last_requests)
    ls.command(DOCUMENT)(document)
