"""Scheduled verification of the audit chains (schedule: config/settings/audit.py)."""

from __future__ import annotations

from celery import shared_task

from apps.audit.chain import audit_verification_run_record


@shared_task(name="audit.verify_chain", ignore_result=True)
def verify_chain() -> bool:
    """Thin: verify every chain and record the run; re-running only adds another run."""
    return audit_verification_run_record(trigger="schedule").ok
