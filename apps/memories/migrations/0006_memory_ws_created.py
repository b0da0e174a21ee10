"""memory_ws_created: the write-policy preview reads one workspace's writes of the last 7 days
(newest first, capped) from this index instead of scanning the workspace's rows.

Built CONCURRENTLY (outside a transaction), so a large memory table keeps taking writes
while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("memories", "0005_write_policy_versions"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="memoryitem",
            index=models.Index(fields=["workspace", "created_at"], name="memory_ws_created"),
        ),
    ]
