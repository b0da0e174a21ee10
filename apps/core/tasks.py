from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.core.idempotency import idempotency_records_expire
from apps.core.models import WorkerHeartbeat


@shared_task(name="core.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Telemetry, not a governed change: no audit event."""
    hostname = heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"beat_at": timezone.now()}
    )


@shared_task(name="core.idempotency_expire", ignore_result=True)
def idempotency_expire() -> int:
    """Housekeeping: forget stored answers to writes once their retry window has passed."""
    return idempotency_records_expire()
