from __future__ import annotations

import logging

from django.db import connection
from django.db.models import Max
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from apps.core.models import WorkerHeartbeat
from config.celery import app as celery_app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as exc:
        logger.warning("healthz: database unreachable: %s", exc)
        return False


def _broker_ok() -> bool:
    """One connection attempt, bounded in time, so a dead broker cannot stall the probe."""
    try:
        with celery_app.connection_for_write(
            transport_options={"socket_connect_timeout": BROKER_TIMEOUT_S}
        ) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_S)
        return True
    except Exception as exc:
        logger.warning("healthz: broker unreachable: %s", exc)
        return False


def _worker_seen_seconds_ago() -> int | None:
    try:
        last = WorkerHeartbeat.objects.aggregate(last=Max("beat_at"))["last"]
    except Exception:
        return None
    return None if last is None else int((timezone.now() - last).total_seconds())


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer; 503 naming what does not.

    The worker's last heartbeat is reported but does not fail the check: web and worker are
    separate deployments, and a load balancer should not pull the web tier for a worker outage.
    """
    database_ok = _database_ok()
    checks = {"database": database_ok, "broker": _broker_ok()}
    failing = [name for name, ok in checks.items() if not ok]
    body = {
        "status": "unavailable" if failing else "ok",
        "checks": {name: "ok" if ok else "unreachable" for name, ok in checks.items()},
        "broker_transport": celery_app.connection_for_write().transport_cls,
        "worker_seen_seconds_ago": _worker_seen_seconds_ago() if database_ok else None,
    }
    if failing:
        body["message"] = f"Unreachable: {', '.join(failing)}."
    return JsonResponse(body, status=503 if failing else 200)
