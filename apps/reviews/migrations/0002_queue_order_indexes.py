"""The review queue's order from an index (per workspace, per team and across all), built
CONCURRENTLY so a long queue keeps taking requests while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reviews", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="reviewrequest",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["workspace", "-priority", "created_at", "id"],
                name="review_queue_ws_order",
            ),
        ),
        AddIndexConcurrently(
            model_name="reviewrequest",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["-priority", "created_at", "id"],
                name="review_queue_order",
            ),
        ),
        AddIndexConcurrently(
            model_name="reviewrequest",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["team", "-priority", "created_at", "id"],
                name="review_queue_team_order",
            ),
        ),
    ]
