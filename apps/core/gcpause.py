"""`cyclic_gc_paused()`: no cyclic garbage collection while one large request runs.

A 500-item batch write allocates a few hundred thousand objects that live until the answer
is sent (rows, model instances, audit documents): the collector ran ~42 young collections per
batch, each finding them alive and promoting them, and every few batches a full collection
walked the whole heap of the worker (~250,000 tracked objects: Django, DRF, the embedder).
bench/memories, in process, under load ~5: 70-165 ms of collection per batch; with the
collector paused for the batch, one young collection afterwards, 17-21 ms.

Reference counting still frees everything that is not in a cycle at once; cycles made during
the request wait for the next collection, which runs as soon as the collector is on again
(its allocation count is far past the threshold). The pause is bounded by the request
(MEMORY_MAX_BATCH items), and the previous state is restored even when the request fails. A
process-wide switch: under a threaded server another thread's garbage waits too, for as long
as the request runs.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


_lock = threading.Lock()
_holders = 0  # requests inside cyclic_gc_paused() in this process
_was_enabled = False  # the collector's state when the first of them came in


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Collector off until the last overlapping pause of this process ends (threaded servers:
    a request that ends first does not turn it back on under one still running), then back as
    it was before the first."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()


def without_cyclic_gc(handler: F) -> F:
    """A view handler run inside cyclic_gc_paused()."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with cyclic_gc_paused():
            return handler(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
