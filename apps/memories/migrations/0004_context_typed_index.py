"""memory_context_typed: typed context requests count their eligible rows from one index.

Built CONCURRENTLY (outside a transaction), so a large memory table keeps taking writes
while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("memories", "0003_memory_usage"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="memoryitem",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True), ("status", "approved")),
                fields=["workspace", "type", "tier", "team", "agent"],
                include=("expires_at", "valid_from"),
                name="memory_context_typed",
            ),
        ),
    ]
