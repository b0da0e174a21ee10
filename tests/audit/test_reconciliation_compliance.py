"""Completeness for privacy and compliance: the PII re-scan, erasure (dry run, approval,
execution), retention (rule changes and the sweep) and audit exports leave no changed row of a
governed table without an audit event naming it or its subject."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from apps.compliance import erasure, exports, retention
from apps.compliance.models import ErasureStatus, ExportStatus, RetentionRule
from apps.memories import services as memories
from apps.memories.models import ContextAssembly, MemoryItem, Status
from apps.memories.selectors import memories_for_context
from apps.privacy import rescan
from apps.privacy import services as privacy
from apps.privacy.models import PiiScanJob, ScanStatus
from apps.workspaces.models import Agent
from apps.workspaces.services import agent_update
from tests.audit.reconciling import reconcile
from tests.compliance.conftest import EMAIL, PHONE, fresh_privacy_caches  # noqa: F401 - autouse
from tests.conftest import SYSTEM
from tests.reviews.conftest import AGENT_SCOPES

pytestmark = pytest.mark.django_db


def test_a_pii_rescan_start_and_run_are_audited_row_by_row(cast, settings):
    settings.PII_RESCAN_BATCH_SIZE = 2
    agents = list(Agent.objects.filter(workspace=cast.workspace))
    Agent.objects.filter(pk__in=[a.pk for a in agents]).update(description=f"Ask {EMAIL}")
    jobs: list[PiiScanJob] = []

    def start() -> None:
        jobs.append(privacy.pii_rescan_start(actor=cast.user("owner"), workspace=cast.workspace)[0])

    started = reconcile(start)
    ran = reconcile(lambda: rescan.pii_rescan_execute(job_id=jobs[0].pk))

    assert started.missing == [] and started.count("privacy.piiscanjob") == 1
    assert ran.missing == []
    assert ran.count("workspaces.agent") == len(agents) >= 1
    assert PiiScanJob.objects.get(pk=jobs[0].pk).status == ScanStatus.DONE


def _subject_memories(cast: Any) -> list[MemoryItem]:
    owner = cast.user("owner")
    first = memories.memory_write(
        actor=owner,
        workspace=cast.workspace,
        content=f"Dana prefers calls on {PHONE}; mail {EMAIL} only for contracts.",
        type="preference",
        tier="workspace",
    ).item
    memories.memory_update(actor=owner, item=first, content=f"Dana ({EMAIL}) prefers calls.")
    second = memories.memory_write(
        actor=owner,
        workspace=cast.workspace,
        content=f"Met {EMAIL} at the fair.",
        type="fact",
        tier="workspace",
    ).item
    memories_for_context(agent=cast.agent, task_text=f"Write to {EMAIL} about the renewal")
    agent_update(actor=owner, agent=cast.agent, description=f"Escalates to {EMAIL}")
    return [first, second]


def test_an_erasure_dry_run_and_its_decisions_are_audited(cast):
    _subject_memories(cast)

    def mutate() -> None:
        for approve in (True, False):
            request = erasure.erasure_request_create(
                actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL], reason="art. 17"
            )
            decide = erasure.erasure_request_approve if approve else erasure.erasure_request_reject
            decide(actor=cast.user("admin"), request=request)

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("compliance.erasurerequest") == 2


def test_an_erasure_execution_is_audited(cast):
    seeded = _subject_memories(cast)
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL], reason="art. 17"
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)

    result = reconcile(lambda: erasure.erasure_execute(request_id=request.pk))

    request.refresh_from_db()
    assert request.status == ErasureStatus.DONE
    assert not MemoryItem.objects.filter(pk__in=[m.pk for m in seeded]).exists()
    assert result.count("memories.memoryitem") == 2
    assert result.count("compliance.piifingerprint") >= 1
    assert result.count("workspaces.agent") == 1  # its description scrubbed
    assert result.missing == []


def test_retention_rule_changes_and_the_sweep_are_audited(cast, settings):
    settings.RETENTION_BATCH_SIZE = 2
    retention.retention_rules_ensure(cast.workspace)
    for n in range(3):
        memories_for_context(agent=cast.agent, task_text=f"task {n}")
    ContextAssembly.objects.update(created_at=timezone.now() - dt.timedelta(days=400))
    old = memories.memory_write(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        content="Old promo",
        type="fact",
        tier="workspace",
    ).item
    memories.memory_forget(actor=cast.user("owner"), item=old, reason="gone")
    MemoryItem.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(days=400))
    rule = RetentionRule.objects.get(workspace=cast.workspace, target="privacy.PiiScanJob")

    def mutate() -> None:
        retention.retention_rule_update(actor=cast.user("admin"), rule=rule, keep_days=30)
        assert retention.retention_enforce_all() == 4

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("memories.contextassembly") == 3
    assert (result.count("memories.memoryitem"), result.count("memories.memoryversion")) == (1, 1)
    assert result.count("compliance.retentionrule") >= 2  # the change and the runs' outcome


def test_an_export_and_its_download_are_audited(cast):
    def mutate() -> None:
        job = exports.export_job_start(
            actor=cast.user("auditor"), workspace=cast.workspace, format="jsonl"
        )
        exports.export_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == ExportStatus.DONE
        assert "".join(exports.export_download(actor=cast.user("auditor"), job=job))

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("compliance.exportjob") == 1
    assert result.count("compliance.exportchunk") >= 2


def test_deleting_a_memory_by_retention_closes_nothing_silently(cast):
    """A memory pruned by retention takes its versions and review requests with it; all of
    them are accounted for by the prune batch's ids."""
    item = memories.memory_write(
        actor=cast.agent,
        workspace=cast.workspace,
        content="Maybe offer free shipping",
        type="fact",
        tier="personal",
        agent=cast.agent,
        confidence=0.3,
        token_scopes=AGENT_SCOPES,
    ).item
    memories.memory_reject(actor=SYSTEM, item=item, reason="no")
    MemoryItem.objects.filter(pk=item.pk).update(updated_at=timezone.now() - dt.timedelta(days=400))

    result = reconcile(retention.retention_enforce_all)

    assert result.missing == []
    assert not MemoryItem.objects.filter(pk=item.pk).exists()
    assert (result.count("memories.memoryitem"), result.count("reviews.reviewrequest")) == (1, 1)
    assert MemoryItem.objects.filter(status=Status.REJECTED).count() == 0
