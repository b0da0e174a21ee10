"""Thin tasks: ids in, one service call, idempotent through a status claim."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.compliance import erasure, exports, retention

TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="compliance.erasure_run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    ignore_result=True,
)
def erasure_run(self: Any, request_id: int) -> None:
    try:
        erasure.erasure_execute(request_id=request_id)
    except TRANSIENT_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            erasure.erasure_fail(request_id, exc)
            raise
        raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc
    except Exception as exc:
        erasure.erasure_fail(request_id, exc)
        raise


@shared_task(
    name="compliance.export_run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    ignore_result=True,
)
def export_run(self: Any, job_id: int) -> None:
    try:
        exports.export_execute(job_id=job_id)
    except TRANSIENT_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            exports.export_fail(job_id, exc)
            raise
        raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc
    except Exception as exc:
        exports.export_fail(job_id, exc)
        raise


@shared_task(name="compliance.retention_enforce", ignore_result=True)
def retention_enforce() -> int:
    """Beat: apply every workspace's retention rules."""
    return retention.retention_enforce_all()
