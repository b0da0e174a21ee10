"""The demo seeds one verification run over the chains it wrote; seeding twice adds none."""

from __future__ import annotations

from django.db import transaction

from apps.audit.demo import seed_audit_demo
from apps.audit.models import AuditVerificationRun


def test_demo_records_one_intact_run(cast):
    with transaction.atomic():
        seed_audit_demo()
        seed_audit_demo()

    run = AuditVerificationRun.objects.get()
    assert run.ok and run.trigger == "demo"
    assert run.result_for(cast.workspace.pk)["checked"] >= 1
