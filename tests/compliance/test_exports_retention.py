"""Audit exports (CSV/JSONL with the chain verification, CSV injection neutralised, audited
download for auditors only) and retention (defaults, keyset pruning, audited rule changes)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compliance import exports, retention
from apps.compliance.models import ExportJob, ExportStatus, RetentionRule
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.memories.models import ContextAssembly
from apps.memories.selectors import memories_for_context
from apps.workspaces.services import agent_update
from tests.conftest import SYSTEM


def _finished(cast, fmt: str, **filters) -> ExportJob:
    job = exports.export_job_start(
        actor=cast.user("auditor"), workspace=cast.workspace, format=fmt, filters=filters
    )
    exports.export_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_csv_export_holds_the_verification_and_neutralises_formulas(cast, client):
    agent_update(actor=SYSTEM, agent=cast.agent, description='=HYPERLINK("http://x")')
    job = _finished(cast, "csv")

    client.force_login(cast.user("auditor"))
    body = b"".join(
        client.get(reverse("admin:compliance_exportjob_download", args=[job.pk])).streaming_content
    ).decode()

    assert job.status == ExportStatus.DONE and job.processed == job.total > 0
    assert body.startswith('"# chain verification') or body.startswith("# chain verification")
    assert ",=HYPERLINK" not in body and ',"=HYPERLINK' not in body
    assert AuditEvent.objects.filter(action="audit.export_download", object_id=str(job.pk)).exists()


def test_a_jsonl_export_filters_by_action(cast):
    job = _finished(cast, "jsonl", action="agent_token.issue")

    lines = [
        json.loads(line) for chunk in job.chunks.order_by("seq") for line in chunk.data.splitlines()
    ]

    assert lines[0]["type"] == "verification"
    assert {line["action"] for line in lines[1:]} == {"agent_token.issue"}


@pytest.mark.parametrize(
    "who", ["editor", "reviewer", "viewer", "team_admin", "outsider", "nobody"]
)
def test_only_auditing_roles_export(cast, who):
    with pytest.raises(Forbidden):
        exports.export_job_start(actor=cast.user(who), workspace=cast.workspace, format="csv")
    assert ExportJob.objects.count() == 0


@pytest.mark.parametrize(
    ("fmt", "filters"),
    [
        ("xml", {}),
        ("csv", {"since": "yesterday"}),
        ("csv", {"since": "2026-01-01T00:00:00"}),
        ("csv", {"color": "red"}),
        ("csv", {"since": "2026-02-01T00:00:00+00:00", "until": "2026-01-01T00:00:00+00:00"}),
        ("csv", {"action": 3}),
    ],
)
def test_bad_export_input_is_refused(cast, fmt, filters):
    with pytest.raises(ValidationFailed):
        exports.export_job_start(
            actor=cast.user("auditor"), workspace=cast.workspace, format=fmt, filters=filters
        )
    assert ExportJob.objects.count() == 0


def test_other_workspaces_auditors_cannot_download(cast, client):
    job = _finished(cast, "csv")
    client.force_login(cast.user("outsider"))

    assert (
        client.get(reverse("admin:compliance_exportjob_download", args=[job.pk])).status_code == 403
    )


def test_retention_prunes_old_context_assemblies_in_batches(cast, settings):
    settings.RETENTION_BATCH_SIZE = 2
    for n in range(5):
        memories_for_context(agent=cast.agent, task_text=f"task {n}")
    ContextAssembly.objects.update(created_at=timezone.now() - dt.timedelta(days=200))
    memories_for_context(agent=cast.agent, task_text="recent")

    deleted = retention.retention_enforce_all()

    assert deleted == 5
    assert list(ContextAssembly.objects.values_list("task_text", flat=True)) == ["recent"]
    rule = RetentionRule.objects.get(workspace=cast.workspace, target="memories.ContextAssembly")
    assert rule.last_deleted == 5 and rule.last_run_at is not None
    assert AuditEvent.objects.filter(action="retention.prune_batch").count() == 3


def test_retention_rules_change_only_through_managers(cast):
    retention.retention_rules_ensure(cast.workspace)
    rule = RetentionRule.objects.get(workspace=cast.workspace, target="memories.ContextAssembly")

    with pytest.raises(Forbidden):
        retention.retention_rule_update(actor=cast.user("auditor"), rule=rule, keep_days=30)
    for bad in (0, -1, "30", 1.5, True, 40_000):
        with pytest.raises(ValidationFailed):
            retention.retention_rule_update(actor=cast.user("admin"), rule=rule, keep_days=bad)
    retention.retention_rule_update(actor=cast.user("admin"), rule=rule, keep_days=30)

    rule.refresh_from_db()
    assert rule.keep_days == 30
    assert AuditEvent.objects.filter(action="retention.rule_update").count() == 1


def test_the_retention_report_lists_every_rule_for_auditors(cast, client):
    client.force_login(cast.user("auditor"))

    page = client.get(reverse("admin:compliance_retentionrule_report"))

    assert page.status_code == 200
    assert b"Context assemblies" in page.content and b"Audit events" in page.content


def test_the_demo_seeds_a_completed_erasure_and_retention_rules(db, settings):
    from apps.compliance.models import ErasureRequest, ErasureStatus
    from apps.core.demo import seed_demo

    settings.STEWARD_ALLOW_DEMO = True
    seed_demo(month_days=0)  # the month of memories is tests/core/test_demo_month.py's
    seed_demo(month_days=0)

    request = ErasureRequest.objects.get(workspace__slug="acme")
    assert request.status == ErasureStatus.DONE and request.result["deleted"]
    waiting = ErasureRequest.objects.get(workspace__slug="globex")
    assert waiting.status == ErasureStatus.PLANNED and waiting.total > 0
    assert RetentionRule.objects.filter(target="audit.AuditEvent").count() == 2


def test_exports_carry_the_chain_verification(cast):
    job = _finished(cast, "jsonl")

    first = json.loads(job.chunks.get(seq=0).data)

    assert job.verification["available"] is True
    assert first["ok"] is True and first["checked"] >= job.total > 0


def test_audit_retention_goes_through_the_audit_trails_prune_api(cast):
    retention.retention_rules_ensure(cast.workspace)
    later = timezone.now() + dt.timedelta(days=3000)

    retention.retention_enforce_all(now=later)

    rule = RetentionRule.objects.get(workspace=cast.workspace, target="audit.AuditEvent")
    assert rule.last_error == "" and rule.last_deleted > 0
    assert AuditEvent.objects.filter(workspace_id=cast.workspace.pk, action="audit.prune").exists()
