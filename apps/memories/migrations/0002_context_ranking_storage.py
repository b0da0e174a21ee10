"""Context ranking: per-workspace HNSW indexes, vectors kept in the row, type statistics.

- memory_embedding_hnsw dropped: large workspaces get their own partial HNSW index, built by
  a beat task (apps/memories/vector_indexes.py); a table-wide index serves one workspace's
  filtered search slowly and with poor recall (docs/benchmarks.md).

- embedding SET STORAGE MAIN: a row is about 2 KB, so with the default (EXTENDED) the vector,
  which doesn't compress, went to TOAST and every distance in the exact scan cost a TOAST
  lookup. MAIN moves content and the search vector out of line first and keeps the vector
  with the row (existing rows move when they are next rewritten).
- memory_context_live covers expires_at, valid_from and type_id, so the capped count of
  eligible rows that picks the strategy is an index-only scan, not a heap visit per row.
- type_id statistics target 1000: type ids are per workspace, so the filter's selectivity is
  only estimated well when the most-common-values list covers many workspaces' types.
- memory_search_gin dropped: context no longer takes full-text candidates from the whole table
  (the full-text rank is computed for the nearest memories only), and nothing else searches
  the column; every write paid for it.
"""

from django.db import migrations, models

TABLE = "memories_memoryitem"


class Migration(migrations.Migration):
    dependencies = [("memories", "0001_initial")]

    operations = [
        migrations.RemoveIndex(model_name="memoryitem", name="memory_embedding_hnsw"),
        migrations.RemoveIndex(model_name="memoryitem", name="memory_search_gin"),
        migrations.RemoveIndex(model_name="memoryitem", name="memory_context_live"),
        migrations.AddIndex(
            model_name="memoryitem",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True), ("status", "approved")),
                fields=["workspace", "tier", "team", "agent"],
                include=["expires_at", "valid_from", "type"],
                name="memory_context_live",
            ),
        ),
        migrations.RunSQL(
            f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET STORAGE MAIN",
            f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET STORAGE EXTENDED",
        ),
        migrations.RunSQL(
            f"ALTER TABLE {TABLE} ALTER COLUMN type_id SET STATISTICS 1000",
            f"ALTER TABLE {TABLE} ALTER COLUMN type_id SET STATISTICS -1",
        ),
    ]
