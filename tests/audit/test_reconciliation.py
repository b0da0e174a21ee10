"""Completeness: every row a mutation touches in a governed table has its audit event, whether
the change came through a service, a bulk path (TTL sweep, batch write) or an admin bulk
action; and the reconciler itself notices an unaudited change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.reconcile import REGISTRY, governed_model_register, snapshot, unaudited_changes
from apps.memories import services as memories
from apps.memories.models import MemoryItem, Status
from apps.privacy.services import privacy_policy_update
from apps.workspaces import services as workspaces
from tests.conftest import SYSTEM


def reconcile(mutate: Callable[[], Any]) -> list[str]:
    mark = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    before = snapshot()
    mutate()
    return unaudited_changes(before, snapshot(), mark)


def write(cast: Any, content: str, **extra: Any) -> Any:
    return memories.memory_write(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        content=content,
        type="learning",
        tier="workspace",
        **extra,
    )


def _service_mutations(cast: Any) -> None:
    user = cast.user("nobody")
    workspaces.team_create(
        actor=cast.user("owner"), workspace=cast.workspace, name="Ops", slug="ops"
    )
    workspaces.membership_grant(
        actor=cast.user("owner"), workspace=cast.workspace, user=user, role="viewer"
    )
    agent = workspaces.agent_create(
        actor=cast.user("owner"), workspace=cast.workspace, name="Ops Bot", slug="ops-bot"
    )
    token, _ = workspaces.agent_token_issue(
        actor=cast.user("owner"), agent=agent, name="x", scopes=["memories:read"]
    )
    workspaces.agent_token_revoke(actor=cast.user("owner"), token=token, reason="done")
    privacy_policy_update(
        actor=cast.user("owner"), workspace=cast.workspace, allow_values=["a@b.c"]
    )


def test_service_mutations_are_all_audited(cast):
    missing = reconcile(lambda: _service_mutations(cast))

    assert missing == []


def test_memory_services_are_all_audited(cast):
    def mutate() -> None:
        item = write(cast, "Logistics buyers ask for a reference customer first.").item
        memories.memory_update(
            actor=cast.user("owner"), item=item, content="Buyers want a reference."
        )
        memories.memory_forget(actor=cast.user("owner"), item=item, reason="outdated")

    assert reconcile(mutate) == []


def test_the_ttl_sweep_bulk_path_is_audited(cast):
    items = [write(cast, f"Fact number {i} about shipping lanes and ports.").item for i in range(3)]
    past = timezone.now() - dt.timedelta(days=1)
    with transaction.atomic():
        MemoryItem.objects.filter(pk__in=[i.pk for i in items]).update(
            status=Status.APPROVED, expires_at=past
        )

    missing = reconcile(lambda: memories.memories_expire_due(actor=SYSTEM, batch_size=2))

    assert missing == []
    assert (
        MemoryItem.objects.filter(pk__in=[i.pk for i in items], status=Status.EXPIRED).count() == 3
    )


def test_the_batch_write_path_is_audited(cast):
    def mutate() -> None:
        memories.memory_write_batch(
            actor=cast.user("owner"),
            workspace=cast.workspace,
            items=[
                {
                    "content": f"Batch learning {i} about trade fairs.",
                    "type": "learning",
                    "tier": "workspace",
                }
                for i in range(4)
            ],
        )

    assert reconcile(mutate) == []


def test_admin_bulk_actions_are_audited(cast, client):
    items = [write(cast, f"Proposed note {i} on pricing objections.").item for i in range(2)]
    MemoryItem.objects.filter(pk__in=[i.pk for i in items]).update(status=Status.PROPOSED)
    client.force_login(cast.user("owner"))

    def mutate() -> None:
        response = client.post(
            reverse("admin:memories_memoryitem_changelist"),
            {"action": "approve_selected", "_selected_action": [i.pk for i in items]},
        )
        assert response.status_code == 302
        response = client.post(
            reverse("admin:workspaces_agent_changelist"),
            {"action": "deactivate_agents", "_selected_action": [cast.agent.pk]},
        )
        assert response.status_code == 302

    assert reconcile(mutate) == []
    assert (
        MemoryItem.objects.filter(pk__in=[i.pk for i in items], status=Status.APPROVED).count() == 2
    )


def test_the_reconciler_finds_an_unaudited_change(cast):
    """The bulk `update()` no service wraps: exactly what the reconciler is for."""

    def mutate() -> None:
        with transaction.atomic():
            type(cast.agent).objects.filter(pk=cast.agent.pk).update(name="Renamed quietly")

    missing = reconcile(mutate)

    assert missing == [
        f"workspaces.agent {cast.agent.pk} changed without an audit event for "
        f"('workspaces.agent', '{cast.agent.pk}')"
    ]


def test_new_apps_register_their_governed_models(cast):
    saved = dict(REGISTRY)
    try:
        governed_model_register("audit.AuditVerificationRun")
        assert "audit.auditverificationrun" in REGISTRY

        from apps.audit.chain import audit_verification_run_record

        missing = reconcile(lambda: audit_verification_run_record(trigger="test"))
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)

    assert len(missing) == 1 and missing[0].startswith("audit.auditverificationrun")


@pytest.mark.parametrize("label", sorted(REGISTRY))
def test_every_registered_model_exists(label):
    from django.apps import apps

    assert apps.get_model(label) is not None
