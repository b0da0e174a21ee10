from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.core.idempotency import idempotency_records_expire
from apps.core.logins import login_records_expire as expire_login_records
from apps.core.models import WorkerHeartbeat
from apps.core.outbox import outbox_publish


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


@shared_task(name="core.outbox_relay", ignore_result=True)
def outbox_relay() -> int:
    """Beat: send what the outbox could not publish at commit time (broker down, crash)."""
    total = 0
    while (sent := outbox_publish()) > 0:
        total += sent
        if sent < settings.OUTBOX_RELAY_BATCH:
            break
    return total


@shared_task(name="core.login_records_expire", ignore_result=True)
def login_records_expire() -> int:
    """Sign-in records past LOGIN_RECORDS_KEEP_DAYS go (audited per batch)."""
    return expire_login_records()
