"""Thin tasks: they take ids, never text (task messages reach the broker's disk)."""

from __future__ import annotations

import contextlib
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.privacy import rescan

TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="privacy.rescan",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    ignore_result=True,
)
def pii_rescan_run(self: Any, job_id: int) -> None:
    """Re-scan one workspace (see apps.privacy.rescan). Retries only on transient DB errors."""
    try:
        rescan.pii_rescan_execute(job_id=job_id)
    except TRANSIENT_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            rescan.pii_scan_job_fail(job_id, exc)
            raise
        # If the database is still down, the stale-claim rule lets the retry take the job.
        with contextlib.suppress(*TRANSIENT_ERRORS):
            rescan.pii_scan_job_requeue(job_id)
        raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc
    except Exception as exc:
        rescan.pii_scan_job_fail(job_id, exc)
        raise
