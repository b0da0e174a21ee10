"""Retrieval counters move off the memory row into MemoryUsage; type ids get extended
statistics.

- Every context assembly bumped retrieval_count/last_retrieved_at on the items it used. A
  memory row is ~2 KB, so that update could not stay in its page (no HOT update) and every
  index of the table, the workspace's HNSW index included, got a new entry: 120 ms for the
  10 items of one assembly at 1M memories. The counters now live in a narrow table whose
  only index is its primary key.
- CREATE STATISTICS (dependencies) on (workspace_id, type_id): type ids are per workspace, so
  "type in (a, b) and workspace = w" is as selective as the type filter alone; without it the
  planner multiplied the two (375 rows estimated, 6,914 found) and skipped the HNSW index.
"""

import django.db.models.deletion
from django.db import migrations, models

COPY = """
    INSERT INTO memories_memoryusage (item_id, retrieval_count, last_retrieved_at)
    SELECT id, retrieval_count, last_retrieved_at FROM memories_memoryitem
    WHERE retrieval_count > 0 OR last_retrieved_at IS NOT NULL
"""
COPY_BACK = """
    UPDATE memories_memoryitem m SET retrieval_count = u.retrieval_count,
        last_retrieved_at = u.last_retrieved_at
    FROM memories_memoryusage u WHERE u.item_id = m.id
"""


class Migration(migrations.Migration):
    dependencies = [("memories", "0002_context_ranking_storage")]

    operations = [
        migrations.CreateModel(
            name="MemoryUsage",
            fields=[
                (
                    "item",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="usage",
                        serialize=False,
                        to="memories.memoryitem",
                    ),
                ),
                ("retrieval_count", models.PositiveIntegerField(default=0)),
                ("last_retrieved_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.RunSQL(COPY, COPY_BACK),
        migrations.RemoveField(model_name="memoryitem", name="last_retrieved_at"),
        migrations.RemoveField(model_name="memoryitem", name="retrieval_count"),
        migrations.RunSQL(
            "CREATE STATISTICS IF NOT EXISTS memory_workspace_type (dependencies) "
            "ON workspace_id, type_id FROM memories_memoryitem",
            "DROP STATISTICS IF EXISTS memory_workspace_type",
        ),
        # Extended statistics are only gathered by ANALYZE; don't wait for autovacuum.
        migrations.RunSQL("ANALYZE memories_memoryitem", migrations.RunSQL.noop),
    ]
