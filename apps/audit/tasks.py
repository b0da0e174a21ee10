"""Scheduled verification of the audit chains (schedule: config/settings/audit.py)."""

from __future__ import annotations

from celery import shared_task

from apps.audit.chain import audit_verification_run_record


@shared_task(name="audit.verify_chain", ignore_result=True)
def verify_chain() -> bool:
    """Thin: verify every chain and record the run; re-running only adds another run."""
    return bool(audit_verification_run_record(trigger="schedule").ok)


@shared_task(name="audit.verify_chain_now", ignore_result=True, acks_late=True)
def verify_chain_now(run_id: int) -> None:
    """Thin: run the queued "verify now" run; a repeated message finds it claimed already."""
    from apps.audit.verify_now import audit_verification_run

    audit_verification_run(run_id=run_id)
