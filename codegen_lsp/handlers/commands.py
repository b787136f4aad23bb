"""Commands: codegen.debug.lastRequests shows what the model was asked and what came of it."""

from __future__ import annotations

from ..server import CodegenServer

LAST_REQUESTS = "codegen.debug.lastRequests"


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


def register(ls: CodegenServer) -> None:
    ls.command(LAST_REQUESTS)(last_requests)
