"""The service clock the demo seed backdates with (apps.core.clock): frozen inside
`frozen_at`, Django's time outside; services, model defaults and auto_now fields follow it, and
audit events written under it keep a verifiable chain."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.chain import audit_chain_verify
from apps.audit.models import AuditEvent
from apps.core import clock
from apps.memories import services as memories
from apps.memories.models import MemoryVersion, WritePolicy
from apps.workspaces import services as workspaces
from apps.workspaces.principal import Principal
from tests.workspaces.factories import UserFactory

WHEN = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def test_frozen_inside_the_block_nested_blocks_restore_and_outside_is_real_time():
    before = timezone.now()
    with clock.frozen_at(WHEN):
        assert clock.now() == WHEN and clock.is_frozen()
        with clock.frozen_at(WHEN + dt.timedelta(days=1)):
            assert clock.now() == WHEN + dt.timedelta(days=1)
        assert clock.now() == WHEN
    assert not clock.is_frozen()
    assert before <= clock.now() <= timezone.now()


def test_a_naive_time_is_refused():
    naive = WHEN.replace(tzinfo=None)
    with pytest.raises(ValueError, match="aware"), clock.frozen_at(naive):
        pass  # pragma: no cover - never entered


@pytest.mark.django_db
def test_services_defaults_auto_now_and_the_audit_chain_follow_the_frozen_clock():
    # Given a workspace made and written to on a past day
    owner = UserFactory()
    with clock.frozen_at(WHEN):
        workspace = workspaces.workspace_create(
            actor=Principal.system("test"), name="Clockwork", slug="clockwork", owner=owner
        )
        written = memories.memory_write(
            actor=owner,
            workspace=workspace,
            content="Invoices go out on the 1st.",
            type="fact",
            tier="workspace",
        )
    with clock.frozen_at(WHEN + dt.timedelta(hours=5)):
        memories.write_policy_update(
            actor=owner, workspace=workspace, dedup_threshold=0.8, reason="Fewer repeats"
        )

    # Then rows (defaults, explicit stamps, auto_now) and audit events carry those times
    item = written.item
    item.refresh_from_db()
    assert workspace.created_at == WHEN
    assert (item.created_at, item.updated_at) == (WHEN, WHEN)
    assert MemoryVersion.objects.get(item=item).created_at == WHEN
    assert WritePolicy.objects.get(workspace=workspace).updated_at == WHEN + dt.timedelta(hours=5)
    events = AuditEvent.objects.filter(workspace_id=workspace.pk)
    assert set(events.values_list("created_at", flat=True)) == {
        WHEN,
        WHEN + dt.timedelta(hours=5),
    }
    # And the chain, which hashes each event's time, verifies
    results = audit_chain_verify(workspace_id=workspace.pk)
    assert results and all(result.ok for result in results)
    # And outside the block it is today again
    later = memories.memory_write(
        actor=owner,
        workspace=workspace,
        content="Quotes are valid 30 days.",
        type="fact",
        tier="workspace",
    )
    assert later.item.created_at > timezone.now() - dt.timedelta(minutes=5)
