"""Demo data for the audit chain: one recorded verification run, so the admin's "Chain at
last verification" column and the runs page have something true to show after `make run`."""

from __future__ import annotations

from apps.audit.chain import audit_verification_run_record
from apps.audit.models import AuditVerificationRun


def seed_audit_demo() -> None:
    """Verify the chains the seed just wrote; skipped once a run exists (idempotent)."""
    if not AuditVerificationRun.objects.exists():
        audit_verification_run_record(trigger="demo")
