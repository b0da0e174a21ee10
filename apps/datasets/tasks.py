"""Thin tasks: ids in, one service call, idempotent through a status claim."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.datasets import services

TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="datasets.build",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    ignore_result=True,
)
def dataset_build(self: Any, version_id: int) -> None:
    try:
        services.dataset_build(version_id=version_id)
    except TRANSIENT_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            services.dataset_build_fail(version_id, exc)
            raise
        raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc
    except Exception as exc:
        services.dataset_build_fail(version_id, exc)
        raise
