"""Issue 16, item 6: the demo is a real team's month. Each demo workspace holds at least 300
memories over every tier and type, pending reviews of every kind (new proposals, conflicts,
promotions, an agent's edit, PII-flagged, expiring soon, overdue), a version chain with an
edit and a rollback, context assemblies spread over the month, a finished export and an
erasure request; history is backdated through the service clock, so the audit chain
verifies and its events carry the month's days.

The full demo is seeded once for the module (inside a transaction rolled back at the end).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.audit.chain import audit_chain_verify
from apps.audit.models import AuditEvent, AuditVerificationRun
from apps.compliance.models import ErasureRequest, ExportJob, ExportStatus
from apps.core.demo import seed_demo
from apps.memories.models import (
    DEFAULT_MEMORY_TYPES,
    ContextAssembly,
    MemoryItem,
    MemoryVersion,
    Tier,
)
from apps.reviews.models import Kind, ReviewRequest
from apps.reviews.selectors import with_sla
from apps.workspaces.models import Workspace
from tests.core.demo_digest import demo_digest

# The module seeds the demo once (its module fixture; `--dist loadscope` keeps a module on
# one worker).

WORKSPACES = ["acme", "globex"]


@pytest.fixture(scope="module")
def month(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock(), transaction.atomic():
        started = time.monotonic()
        seed_demo()
        seconds = time.monotonic() - started
        print(f"demo month seeded in {seconds:.1f} s")
        yield {"seconds": seconds}
        transaction.set_rollback(True)


def _pending(slug: str) -> Any:
    return ReviewRequest.objects.pending().filter(workspace__slug=slug)


@pytest.mark.django_db
@pytest.mark.parametrize("slug", WORKSPACES)
def test_each_workspace_has_300_memories_over_every_tier_and_type(month, slug):
    items = MemoryItem.objects.filter(workspace__slug=slug)

    assert items.count() >= 300
    assert set(items.values_list("tier", flat=True)) == set(Tier.values)
    assert set(items.values_list("type__key", flat=True)) == set(DEFAULT_MEMORY_TYPES)
    assert {"approved", "proposed", "rejected", "expired"} <= set(
        items.values_list("status", flat=True)
    )
    assert items.filter(deleted_at__isnull=False).exists()  # somebody forgot one
    assert (
        items.filter(evidence_count__gt=1).exists()
        or items.filter(created_by_agent__isnull=False).exists()
    )


@pytest.mark.django_db
@pytest.mark.parametrize("slug", WORKSPACES)
def test_the_queue_holds_every_kind_of_waiting_review(month, slug):
    pending = _pending(slug)
    soon = timezone.now() + dt.timedelta(days=7)

    assert {Kind.MEMORY, Kind.CONFLICT, Kind.PROMOTION, Kind.EDIT} <= set(
        pending.values_list("kind", flat=True)
    )
    pii_flagged = pending.filter(memory__content__contains="<")
    assert pii_flagged.exists(), "a waiting memory with a masked e-mail or phone"
    expiring = pending.filter(memory__expires_at__gt=timezone.now(), memory__expires_at__lt=soon)
    assert expiring.exists(), "a waiting memory that expires within a week"
    assert with_sla(pending).filter(overdue=True).exists()
    assert with_sla(pending).filter(overdue=False).exists()
    # Requests were opened on many days of the month, not all today
    days = pending.annotate(day=TruncDate("created_at")).order_by().values("day").distinct()
    assert days.count() >= 4


@pytest.mark.django_db
@pytest.mark.parametrize("slug", WORKSPACES)
def test_a_version_chain_holds_an_edit_and_a_rollback(month, slug):
    rolled = AuditEvent.objects.filter(workspace__slug=slug, action="memory.rollback")
    assert rolled.exists()
    item = MemoryItem.objects.get(pk=rolled.first().object_id)
    versions = list(MemoryVersion.objects.filter(item=item).order_by("version"))

    assert [v.version for v in versions][:3] == [1, 2, 3]
    assert versions[1].content != versions[0].content  # the edit
    assert versions[2].content == versions[0].content  # the rollback to v1
    assert AuditEvent.objects.filter(
        action="memory.update", object_id=str(item.pk), created_at__lt=rolled.first().created_at
    ).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("slug", WORKSPACES)
def test_context_calls_and_audit_events_spread_over_the_month(month, slug):
    assemblies = ContextAssembly.objects.filter(workspace__slug=slug)
    days = assemblies.annotate(day=TruncDate("created_at")).order_by().values("day").distinct()
    events = AuditEvent.objects.filter(workspace__slug=slug)
    event_days = events.annotate(day=TruncDate("created_at")).order_by().values("day").distinct()

    assert days.count() >= 20
    assert event_days.count() >= 20
    oldest = assemblies.order_by("created_at").first()
    assert oldest is not None
    assert oldest.created_at < timezone.now() - dt.timedelta(days=25)
    assert not events.filter(created_at__gt=timezone.now()).exists()  # nothing in the future
    used = MemoryItem.objects.filter(workspace__slug=slug, usage__retrieval_count__gt=1)
    assert used.count() >= 20


@pytest.mark.django_db
@pytest.mark.parametrize("slug", WORKSPACES)
def test_a_finished_export_and_an_erasure_request(month, slug):
    export = ExportJob.objects.get(workspace__slug=slug)
    assert export.status == ExportStatus.DONE
    assert export.verification and export.verification.get("ok") is True
    assert ErasureRequest.objects.filter(workspace__slug=slug).exists()


@pytest.mark.django_db
def test_the_audit_chain_verifies_after_seeding(month):
    assert AuditVerificationRun.objects.filter(trigger="demo", ok=True).exists()
    for workspace in Workspace.objects.filter(slug__in=WORKSPACES):
        results = audit_chain_verify(workspace_id=workspace.pk)
        assert results and all(result.ok for result in results), results


@pytest.mark.django_db
def test_seeding_again_adds_nothing(month):
    before = demo_digest()

    seed_demo()

    assert demo_digest() == before
