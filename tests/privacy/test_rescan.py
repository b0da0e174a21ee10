"""Re-scan on a real Celery worker: rows an older policy missed are masked in keyset batches,
one audit event per batch that changed something, progress on the job, and a second run
changes nothing."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.privacy import rescan, services
from apps.privacy.models import PiiScanJob, ScanStatus
from apps.privacy.registry import masked_field, masked_fields, register_masked_field
from apps.workspaces.models import Agent
from tests.conftest import SYSTEM
from tests.privacy.conftest import EMAIL, PHONE, assert_no_raw_pii
from tests.workspaces.factories import AgentFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.slow


@pytest.fixture
def descriptions_only(monkeypatch):
    """Walk agent descriptions alone, so counts and batches are exact whatever else the
    registry holds (tests/privacy/test_rescan_repair.py walks the whole registry)."""
    only = [masked_field("workspaces.Agent.description")]
    monkeypatch.setattr(rescan, "masked_fields", lambda: only)


def wait_for(job_id: int, timeout: float = 30.0) -> PiiScanJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = PiiScanJob.objects.get(pk=job_id)
        if job.status in (ScanStatus.DONE, ScanStatus.FAILED):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout}s")


def seed(workspace, count: int) -> list[int]:
    """Agents written before the policy masked anything: raw text straight into the table."""
    agents = [AgentFactory(workspace=workspace, slug=f"old-{i}") for i in range(count)]
    ids = [a.pk for a in agents]
    Agent.objects.filter(pk__in=ids[::2]).update(description=f"Ask {EMAIL} or {PHONE}")
    Agent.objects.filter(pk__in=ids[1::2]).update(description="Nothing personal here.")
    return ids


def raw_descriptions(ids: list[int]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT description FROM workspaces_agent WHERE id = ANY(%s) ORDER BY id", [ids]
        )
        return [row[0] for row in cursor.fetchall()]


def test_rescan_masks_what_an_older_policy_missed(celery_worker, settings, descriptions_only):
    settings.PII_RESCAN_BATCH_SIZE = 4
    owner = UserFactory(username="scan-owner")
    workspace = services_workspace(owner)
    other = WorkspaceFactory(slug="untouched")
    ids = seed(workspace, 10)
    other_ids = seed(other, 2)
    services.privacy_policy_update(actor=owner, workspace=workspace, operators={"PHONE": "hash"})

    job, created = services.pii_rescan_start(actor=owner, workspace=workspace)
    done = wait_for(job.pk)

    assert created and done.status == ScanStatus.DONE, done.error
    assert (done.total, done.processed, done.changed) == (10, 10, 5)
    assert done.percent == 100 and done.finished_at is not None
    stored = raw_descriptions(ids)
    assert_no_raw_pii("\n".join(stored))
    assert stored[0].startswith("Ask <EMAIL_1> or <PHONE:")
    assert stored[1] == "Nothing personal here."
    assert EMAIL in "\n".join(raw_descriptions(other_ids))  # another workspace is not touched
    batches = AuditEvent.objects.filter(action="pii.rescan_batch").order_by("id")
    changed = [e.after["changed_ids"] for e in batches]
    assert changed == [ids[0:4:2], ids[4:8:2], ids[8:10:2]]
    assert all(e.object_id == str(job.pk) and e.actor_label == "system:pii-rescan" for e in batches)

    second, _ = services.pii_rescan_start(actor=owner, workspace=workspace)
    again = wait_for(second.pk)

    assert (again.status, again.processed, again.changed) == (ScanStatus.DONE, 10, 0)
    assert raw_descriptions(ids) == stored
    assert AuditEvent.objects.filter(action="pii.rescan_batch").count() == 3


def services_workspace(owner):
    from apps.workspaces.services import workspace_create

    return workspace_create(actor=SYSTEM, name="Scan Co", slug="scan-co", owner=owner)


def test_a_claimed_job_is_not_run_twice(transactional_db):
    owner = UserFactory(username="scan-owner-2")
    workspace = services_workspace(owner)
    job = PiiScanJob.objects.create(workspace=workspace)

    assert rescan.pii_rescan_execute(job_id=job.pk) is True
    assert rescan.pii_rescan_execute(job_id=job.pk) is False
    assert rescan.pii_rescan_execute(job_id=999_999) is False


def test_a_retried_job_resumes_from_its_cursor(transactional_db, settings, descriptions_only):
    settings.PII_RESCAN_BATCH_SIZE = 2
    owner = UserFactory(username="scan-owner-3")
    workspace = services_workspace(owner)
    ids = seed(workspace, 6)
    job = PiiScanJob.objects.create(
        workspace=workspace,
        status=ScanStatus.QUEUED,
        total=6,
        processed=4,
        current_field="workspaces.Agent.description",
        last_id=ids[3],
    )

    rescan.pii_rescan_execute(job_id=job.pk)

    job.refresh_from_db()
    assert (job.processed, job.changed) == (6, 1)
    assert EMAIL in raw_descriptions(ids[:1])[0]  # before the cursor: not walked again
    assert EMAIL not in raw_descriptions(ids[4:5])[0]


def test_a_failing_job_records_a_masked_error(transactional_db, monkeypatch):
    owner = UserFactory(username="scan-owner-4")
    workspace = services_workspace(owner)
    job = PiiScanJob.objects.create(workspace=workspace)

    def explode(**kwargs):
        raise RuntimeError(f"boom near {EMAIL}")

    monkeypatch.setattr(rescan, "pii_rescan_batch", explode)
    from apps.privacy.tasks import pii_rescan_run

    with pytest.raises(RuntimeError):
        pii_rescan_run.apply(args=[job.pk], throw=True)

    job.refresh_from_db()
    assert job.status == ScanStatus.FAILED
    assert job.error == "RuntimeError: boom near <EMAIL_1>"


def test_registry_is_stable_and_idempotent():
    before = [f.label for f in masked_fields()]
    register_masked_field("workspaces.Agent", "description")

    assert [f.label for f in masked_fields()] == before
    assert "workspaces.Agent.description" in before
