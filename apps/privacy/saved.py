"""`masked_rows_saved()`: a service that has just stored masked text says so, in the same
transaction, naming the rows and fields.

The explicit counterpart of `policies.MASK_OBSERVERS`: masking happens before the row has an
id, so whatever indexes masked values by row (apps.compliance links erasure fingerprints) needs
to hear about the save as well. Bulk paths (`bulk_update` in the re-scan) send no signals, and
the conventions want no receivers for side effects anyway, so the saving code calls this.
Privacy stays unaware of who listens. Observers must not raise and must not store raw values.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

SavedObserver = Callable[[int, Sequence[Any], Collection[str] | None], None]

# Called with (workspace id, saved rows of one model, the fields written or None for all).
SAVED_OBSERVERS: list[SavedObserver] = []


def masked_rows_saved(
    *, workspace_id: int, rows: Sequence[Any], fields: Collection[str] | None = None
) -> None:
    """Tell the observers that `rows` (instances of one model, with their ids) now store the
    masked text they hold in `fields` (None: every field that was saved)."""
    if not rows:
        return
    for observer in SAVED_OBSERVERS:
        observer(workspace_id, rows, fields)
