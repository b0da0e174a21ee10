from __future__ import annotations

import logging

from django.db import connection
from django.db.models import Max
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.models import WorkerHeartbeat
from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("healthz: database unreachable")
        return False


def _broker_ok() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        logger.exception("healthz: broker unreachable")
        return False


def _worker_seen_seconds_ago() -> int | None:
    try:
        last = WorkerHeartbeat.objects.aggregate(last=Max("beat_at"))["last"]
    except Exception:
        return None
    return None if last is None else int((timezone.now() - last).total_seconds())


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer; 503 naming what does not.

    The worker's last heartbeat is reported but does not fail the check: web and worker are
    separate deployments, and a load balancer should not pull the web tier for a worker outage.
    """
    database_ok = _database_ok()
    checks = {"database": database_ok, "broker": _broker_ok()}
    healthy = all(checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: "ok" if ok else "unreachable" for name, ok in checks.items()},
        "broker_transport": celery_app.connection_for_write().transport_cls,
        "worker_seen_seconds_ago": _worker_seen_seconds_ago() if database_ok else None,
    }
    return JsonResponse(body, status=200 if healthy else 503)
