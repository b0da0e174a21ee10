from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import redis
from django.db import connection
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from redis.backoff import NoBackoff
from redis.retry import Retry

from apps.core.models import WorkerHeartbeat
from config.celery import app as celery_app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 1


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as exc:
        logger.warning("healthz: database unreachable: %s", exc)
        return False


def _broker_ok() -> bool:
    """Bounded in time, so a dead broker cannot stall the probe. Redis answers a PING; the
    folder broker's folders must exist and take a file (a connection to it always
    "succeeds": kombu opens nothing until it reads or writes a message)."""
    transport = celery_app.connection_for_write().transport_cls
    try:
        if transport == "filesystem":
            _check_broker_folders(celery_app.conf.broker_transport_options)
        elif transport in ("redis", "rediss"):
            _ping_redis(celery_app.conf.broker_url)
        else:
            with celery_app.connection_for_write(
                transport_options={"socket_connect_timeout": BROKER_TIMEOUT_S}
            ) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_S)
        return True
    except Exception as exc:
        logger.warning("healthz: broker unreachable: %s", exc)
        return False


def _ping_redis(url: str) -> None:
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=BROKER_TIMEOUT_S,
        socket_timeout=BROKER_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        if not client.ping():
            raise OSError("Redis did not answer PING")
    finally:
        client.close()


def _check_broker_folders(options: dict[str, Any]) -> None:
    """Every folder the filesystem transport uses is a folder this process can write to: a
    file is created and removed in each (a hidden name the transport never reads)."""
    keys = ["data_folder_in", "data_folder_out", "control_folder"]
    if options.get("store_processed"):
        keys.append("processed_folder")
    for folder in sorted({str(options[key]) for key in keys if options.get(key)}):
        if not os.path.isdir(folder):
            raise OSError(f"broker folder {folder} is missing")
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".healthz-", suffix=".probe"):
            pass


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


# --- error pages (handler403 / handler404 in config/urls.py) ---------------------------------

ERROR_TEMPLATE = "admin/error_page.html"
ERROR_PAGES = {
    403: (
        "Not allowed",
        "Your role does not allow this page or this action; nothing was done. Ask an owner of "
        "the workspace if you need it.",
    ),
    404: (
        "Page not found",
        "There is nothing at this address, or nothing you may see. The link may be old, or the "
        "item may have been removed.",
    ),
}


def _error_page(request: HttpRequest, status: int) -> HttpResponse:
    """The admin's own look (the sign-in layout, which needs no sidebar or permissions), a way
    back, and nothing about the site's URLs or internals."""
    from django.contrib import admin

    title, message = ERROR_PAGES[status]
    context = {
        **admin.site.each_context(request),
        "title": title,
        "message": message,
        "status": status,
        "signed_in": request.user.is_authenticated if hasattr(request, "user") else False,
    }
    return TemplateResponse(request, ERROR_TEMPLATE, context, status=status).render()


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    from apps.core.api.errors import page_not_found as api_aware_not_found

    if request.path == "/api" or request.path.startswith("/api/"):
        return api_aware_not_found(request, exception)
    return _error_page(request, 404)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path == "/api" or request.path.startswith("/api/"):
        return defaults.permission_denied(request, exception)
    return _error_page(request, 403)
