from __future__ import annotations

from celery import shared_task

from apps.scorecards.services import scorecards_snapshot_week
from apps.workspaces.principal import Principal


@shared_task(name="scorecards.snapshot_week", acks_late=True, reject_on_worker_lost=True)
def snapshot_week() -> int:
    """Monday 01:00 UTC (Celery beat): freeze last week's scorecards. Idempotent."""
    return scorecards_snapshot_week(actor=Principal.system("scorecards-weekly"))
