"""memory_ws_embedder: which embedders a workspace's vectors come from (two index probes before
context ranks) and `reembed`'s batches, workspace by workspace in id order.

Built CONCURRENTLY (outside a transaction), so a large memory table keeps taking writes
while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("memories", "0007_memoryitem_embedder"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="memoryitem",
            index=models.Index(fields=["workspace", "embedder", "id"], name="memory_ws_embedder"),
        ),
    ]
