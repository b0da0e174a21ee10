"""TTL expiry: approved items past expires_at become expired in keyset batches, one audit
event per batch (and workspace) listing the ids; running it again changes nothing."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.conf import settings
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.exceptions import Forbidden
from apps.memories.models import MemoryItem, Status
from apps.memories.services import memories_expire_due
from apps.memories.tasks import expire_due
from config.celery import app
from tests.conftest import SYSTEM
from tests.memories.factories import MemoryItemFactory
from tests.memories.helpers import actor_for, assert_refused, recorded
from tests.workspaces.factories import WorkspaceFactory

PAST = dt.timedelta(minutes=5)


def due(workspace, count: int = 1, **kwargs) -> list[MemoryItem]:
    return [
        MemoryItemFactory(workspace=workspace, expires_at=timezone.now() - PAST, **kwargs)
        for _ in range(count)
    ]


def test_due_items_expire_and_others_stay(cast):
    expiring = due(cast.workspace, 2)
    future = MemoryItemFactory(
        workspace=cast.workspace, expires_at=timezone.now() + dt.timedelta(days=1)
    )
    forever = MemoryItemFactory(workspace=cast.workspace, expires_at=None)
    proposed = due(cast.workspace, status=Status.PROPOSED)[0]
    rejected = due(cast.workspace, status=Status.REJECTED)[0]

    with recorded() as events:
        count = memories_expire_due(actor=SYSTEM)

    assert count == 2
    statuses = dict(MemoryItem.objects.values_list("pk", "status"))
    assert [statuses[i.pk] for i in expiring] == [Status.EXPIRED, Status.EXPIRED]
    assert statuses[future.pk] == statuses[forever.pk] == Status.APPROVED
    assert statuses[proposed.pk] == Status.PROPOSED
    assert statuses[rejected.pk] == Status.REJECTED
    assert [e.action for e in events] == ["memory.expire_batch"]
    assert events[0].after == {"status": "expired", "ids": [i.pk for i in expiring]}
    assert events[0].before == {"status": "approved", "ids": [i.pk for i in expiring]}
    assert (events[0].actor_kind, events[0].workspace_id) == ("system", cast.workspace.pk)


def test_keyset_batches_write_one_event_each_and_a_rerun_changes_nothing(cast):
    items = due(cast.workspace, 5)

    with recorded() as events:
        assert memories_expire_due(actor=SYSTEM, batch_size=2) == 5
    with recorded() as again:
        assert memories_expire_due(actor=SYSTEM, batch_size=2) == 0

    assert [e.after["ids"] for e in events] == [
        [items[0].pk, items[1].pk],
        [items[2].pk, items[3].pk],
        [items[4].pk],
    ]
    assert again == []


def test_a_batch_spanning_workspaces_records_one_event_per_workspace(cast):
    ours = due(cast.workspace, 2)
    theirs = due(WorkspaceFactory(), 1)

    with recorded() as events:
        memories_expire_due(actor=SYSTEM)

    assert {e.workspace_id: e.after["ids"] for e in events} == {
        cast.workspace.pk: [i.pk for i in ours],
        theirs[0].workspace_id: [theirs[0].pk],
    }


@pytest.mark.parametrize("who", ["owner", "admin", "editor", "reviewer", "agent", "outsider"])
def test_only_operators_and_tasks_run_the_sweep(cast, who):
    due(cast.workspace)

    assert_refused(lambda: memories_expire_due(actor=actor_for(cast, who)), Forbidden)


def test_a_superuser_may_run_the_sweep(cast):
    due(cast.workspace)

    assert memories_expire_due(actor=cast.user("operator")) == 1


def test_the_task_runs_the_sweep_as_a_system_actor(cast):
    item = due(cast.workspace)[0]

    assert expire_due() == 1

    item.refresh_from_db()
    assert item.status == Status.EXPIRED
    event = AuditEvent.objects.get(action="memory.expire_batch")
    assert event.actor_label == "system:memories.expire_due"


def test_the_task_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["memories-expire-due"]

    assert entry["task"] == "memories.expire_due" == expire_due.name
    assert entry["schedule"] > 0
    assert "memories.expire_due" in app.tasks


@pytest.mark.slow
def test_a_real_worker_expires_due_items(celery_worker):
    item = MemoryItemFactory(expires_at=timezone.now() - PAST)

    expire_due.delay()

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        item.refresh_from_db()
        if item.status == Status.EXPIRED:
            break
        time.sleep(0.05)
    assert item.status == Status.EXPIRED
    assert AuditEvent.objects.filter(action="memory.expire_batch").count() == 1
