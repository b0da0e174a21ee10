"""trace_ws_started, trace_started, outcome_ws_occurred, outcome_occurred: the admin's trace
and outcome lists filtered by a date range read newest first by that date from these indexes
(a range in the past, ordered by id, walked most of a million rows: 1.2 s measured in
bench/signals_admin). Per workspace for members; across workspaces for operators.

Built CONCURRENTLY (outside a transaction), so big signal tables keep taking writes while they
build."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("signals", "0002_trace_task_kind"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="trace",
            index=models.Index(fields=["workspace", "-started_at", "-id"], name="trace_ws_started"),
        ),
        AddIndexConcurrently(
            model_name="trace",
            index=models.Index(fields=["-started_at", "-id"], name="trace_started"),
        ),
        AddIndexConcurrently(
            model_name="outcome",
            index=models.Index(
                fields=["workspace", "-occurred_at", "-id"], name="outcome_ws_occurred"
            ),
        ),
        AddIndexConcurrently(
            model_name="outcome",
            index=models.Index(fields=["-occurred_at", "-id"], name="outcome_occurred"),
        ),
    ]
