"""memory_dedup_scope: the write path's duplicate check reads one owner's live and proposed
items of one type through this index, whatever the planner's statistics say (a new tenant on a
big table included).

Built CONCURRENTLY (outside a transaction), so a large memory table keeps taking writes
while it builds."""

import django.db.models.functions.comparison
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("memories", "0009_context_confidence_part"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="memoryitem",
            index=models.Index(
                models.F("workspace"),
                models.F("type"),
                models.F("tier"),
                django.db.models.functions.comparison.Coalesce(
                    "agent", "team", models.Value(0), output_field=models.BigIntegerField()
                ),
                condition=models.Q(
                    ("deleted_at__isnull", True), ("status__in", ["approved", "proposed"])
                ),
                name="memory_dedup_scope",
            ),
        ),
    ]
