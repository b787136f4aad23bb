"""Running out of device memory, in one place for every model user: completions (backends/),
the code actions' chat model and the generators' jobs. They tell an out-of-memory error
apart the same way and give freed memory back the same way.
"""

from __future__ import annotations

import sys


class OutOfMemory(Exception):
    """An out-of-memory error already handled by whoever raised it (its model or caches released)."""


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, OutOfMemory):
        return True
    torch = sys.modules.get("torch")  # not imported: nothing was loaded, so nothing ran out
    out_of_memory = getattr(torch, "OutOfMemoryError", None)
    if out_of_memory is not None and isinstance(error, out_of_memory):
        return True
    # Older torch, MPS and some kernels say so only in the text of a RuntimeError.
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def empty_device_cache() -> None:
    """Give freed GPU memory back (CUDA or MPS); nothing when torch was never imported."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()
