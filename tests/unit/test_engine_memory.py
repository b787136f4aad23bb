"""Freezing long-lived objects out of garbage collection must not keep an unloaded model alive."""

import gc
import weakref

from codegen_lsp.engine import freeze_long_lived


class Node:
    pass


def test_a_frozen_cycle_is_collected_once_dropped_and_frozen_again():
    first = Node()
    first.self = first  # a reference cycle, as torch modules have: only the collector frees it
    ref = weakref.ref(first)
    freeze_long_lived()  # as when the first model loads
    del first
    gc.collect()
    assert ref() is not None  # frozen: the collector does not see it
    freeze_long_lived()  # as when a settings change loads the next model
    assert ref() is None
    gc.unfreeze()
