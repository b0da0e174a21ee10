"""Context never ranks vectors of two embedders against each other.

A vector means something only next to vectors of the same model: cosine similarity between a
potion-base-8M vector and a wordllama one (same size, different spaces) is noise. Every
MemoryItem records the embedder that made its vector (MemoryItem.embedder). Before context
ranks a workspace, `embedders_consistent_or_refuse` checks that every item of the workspace
was embedded by the current embedder; if not, it refuses with a clear error (HTTP 503, code
`embeddings_mixed`) naming the embedders found and the command that fixes it
(`manage.py reembed`, which re-embeds only the items of other embedders).

Refusing rather than silently ranking only the current embedder's items: an agent that gets
half its workspace's memories without knowing it acts on incomplete context, which a
governance console must not hide; and the refusal lasts only while re-embedding runs
(thousands of items per second, docs/embeddings.md). The check is two index probes on
(workspace, embedder) (min and max), well under a millisecond at 1M items; context runs them
inside the statement it sends before ranking (no round trip of their own).
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from apps.core.exceptions import ServiceError
from apps.memories.embeddings import current_embedder


class EmbeddingsMixed(ServiceError):
    """The workspace holds vectors of another embedder than the current one."""

    status_code = 503
    code = "embeddings_mixed"


def _table() -> str:
    from apps.memories.models import MemoryItem

    return MemoryItem._meta.db_table


def workspace_embedders(workspace_id: int) -> dict[str, int]:
    """How many items of the workspace each embedder made (the error path only: a count)."""
    table = _table()
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT embedder, count(*) FROM "{table}" WHERE workspace_id = %s '  # noqa: S608
            "GROUP BY embedder ORDER BY embedder",
            [workspace_id],
        )
        return {str(name): int(count) for name, count in cursor.fetchall()}


def embedders_columns(workspace_id: int) -> tuple[list[str], list[Any]]:
    """The check's two index probes as select-list expressions (min and max embedder of the
    workspace) and their parameters: context reads them in the round trip it makes before
    ranking anyway, then hands them to `refuse_unless_consistent`."""
    table = _table()
    probes = [
        f'(SELECT {agg}(embedder) FROM "{table}" WHERE workspace_id = %s)'  # noqa: S608
        for agg in ("min", "max")
    ]
    return probes, [workspace_id, workspace_id]


def embedders_consistent_or_refuse(workspace_id: int) -> None:
    """Raise EmbeddingsMixed unless every item of the workspace (or none) has the current
    embedder. Soft-deleted and expired items count too: they come back (restore) with the
    vector they have."""
    columns, params = embedders_columns(workspace_id)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)}", params)
        low, high = cursor.fetchone()
    refuse_unless_consistent(workspace_id, low=low, high=high)


def refuse_unless_consistent(workspace_id: int, *, low: str | None, high: str | None) -> None:
    """Raise EmbeddingsMixed unless the workspace's least and greatest embedder (as read by
    `embedders_columns`) are both the current one, or it has no items."""
    current = current_embedder()
    if low is None or (low == high == current):
        return
    counts = workspace_embedders(workspace_id)
    others = ", ".join(
        f"{count:,} by {name or 'an unrecorded embedder (stored before embedders were recorded)'}"
        for name, count in counts.items()
        if name != current
    )
    raise EmbeddingsMixed(
        f"This workspace's memories were not all embedded by the current embedder {current} "
        f"({counts.get(current, 0):,} were; {others}). Vectors of different embedders can't be "
        "compared, so context is refused until an operator runs `manage.py reembed`, which "
        "re-embeds the others (docs/embeddings.md)."
    )
