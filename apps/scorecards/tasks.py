from __future__ import annotations

from celery import shared_task

from apps.scorecards.selectors import parse_week
from apps.scorecards.services import scorecards_snapshot_week
from apps.workspaces.principal import Principal


@shared_task(name="scorecards.snapshot_week", acks_late=True, reject_on_worker_lost=True)
def snapshot_week(week_start: str | None = None) -> int:
    """Monday 01:00 UTC (Celery beat): freeze last week's cards (or the given week's, a
    Monday as YYYY-MM-DD) for every workspace and team. Idempotent."""
    week = parse_week(week_start) if week_start else None
    return scorecards_snapshot_week(actor=Principal.system("scorecards-weekly"), week_start=week)
