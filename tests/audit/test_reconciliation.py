"""Completeness: every row a mutation touches in a governed table has its audit event, whether
the change came through a service, a bulk path (TTL sweep, batch write, agent reset) or an
admin action; the reconciler itself notices an unaudited change, and every model of the
project is either governed or explicitly not (tests/audit/test_reconciliation_*.py cover the
review queue and compliance)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditVerificationRun
from apps.audit.reconcile import (
    NOT_GOVERNED,
    REGISTRY,
    governed_model_register,
    ungoverned_models,
)
from apps.memories import services as memories
from apps.memories.models import ConflictStatus, MemoryConflict, MemoryItem, Status
from apps.privacy.services import pii_reveal_grant, privacy_policy_update
from apps.reviews.models import ReviewRequest
from apps.workspaces import services as workspaces
from tests.audit.reconciling import reconcile
from tests.conftest import SYSTEM
from tests.memories.console_world import build_console_world


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
    workspaces.agent_access_set(
        actor=SYSTEM, agent=agent, user=cast.user("editor"), permissions=["view_agent"]
    )
    privacy_policy_update(
        actor=cast.user("owner"), workspace=cast.workspace, allow_values=["a@b.c"]
    )
    pii_reveal_grant(actor=cast.user("owner"), workspace=cast.workspace, user=cast.user("admin"))


def test_service_mutations_are_all_audited(cast):
    result = reconcile(lambda: _service_mutations(cast))

    assert result.missing == []
    for label in (
        "workspaces.team",
        "workspaces.membership",
        "workspaces.agent",
        "workspaces.agenttoken",
        "workspaces.agentuserobjectpermission",
        "privacy.privacypolicy",
        "privacy.privacypolicyuserobjectpermission",
    ):
        assert result.count(label) >= 1, label


def test_memory_services_are_all_audited(cast):
    def mutate() -> None:
        item = write(cast, "Logistics buyers ask for a reference customer first.").item
        memories.memory_update(
            actor=cast.user("owner"), item=item, content="Buyers want a reference."
        )
        memories.memory_forget(actor=cast.user("owner"), item=item, reason="outdated")

    result = reconcile(mutate)

    assert result.missing == []
    assert (result.count("memories.memoryitem"), result.count("memories.memoryversion")) == (1, 2)


def test_the_ttl_sweep_bulk_path_is_audited(cast):
    items = [write(cast, f"Fact number {i} about shipping lanes and ports.").item for i in range(3)]
    past = timezone.now() - dt.timedelta(days=1)
    with transaction.atomic():
        MemoryItem.objects.filter(pk__in=[i.pk for i in items]).update(
            status=Status.APPROVED, expires_at=past
        )

    result = reconcile(lambda: memories.memories_expire_due(actor=SYSTEM, batch_size=2))

    assert result.missing == []
    assert (
        MemoryItem.objects.filter(pk__in=[i.pk for i in items], status=Status.EXPIRED).count() == 3
    )
    assert result.count("memories.memoryitem") == 3


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

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("memories.memoryitem") == 4


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

    result = reconcile(mutate)

    assert result.missing == []
    assert (
        MemoryItem.objects.filter(pk__in=[i.pk for i in items], status=Status.APPROVED).count() == 2
    )
    assert (result.count("memories.memoryitem"), result.count("workspaces.agent")) == (2, 1)


def _personal_brain_with_a_conflict_and_a_request(cast: Any) -> Any:
    world = build_console_world(cast)
    own, proposed = world.items["own"], world.items["own_proposed"]
    MemoryConflict.objects.create(
        workspace=cast.workspace, existing=own, proposed=proposed, reason="contradicts"
    )
    ReviewRequest.objects.create(
        workspace=cast.workspace, kind="memory", tier="personal", memory=proposed
    )
    return world


def test_the_memory_consoles_expire_and_reset_are_audited(cast, client):
    world = _personal_brain_with_a_conflict_and_a_request(cast)
    client.force_login(cast.user("owner"))
    expire_url = reverse("admin:memories_memoryitem_expire", args=[world.items["sales"].pk])
    reset_url = reverse("admin:memories_brain_reset", args=[cast.agent.pk])

    def mutate() -> None:
        assert client.post(expire_url, {"reason": "old pricing"}).status_code == 302
        assert client.post(reset_url, {"reason": "new playbook"}).status_code == 302

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("memories.memoryitem") == 4  # sales + own, own coaching, own proposed
    assert result.count("memories.memoryconflict") == 1
    assert result.count("reviews.reviewrequest") == 1
    assert MemoryConflict.objects.get().status == ConflictStatus.RESOLVED


def test_a_verification_run_is_its_own_record_but_changing_one_is_not(cast):
    from apps.audit.chain import audit_verification_run_record

    recorded = reconcile(lambda: audit_verification_run_record(trigger="test"))
    run = AuditVerificationRun.objects.get()

    def falsify() -> None:
        with transaction.atomic():
            AuditVerificationRun.objects.filter(pk=run.pk).update(ok=False)

    falsified = reconcile(falsify)

    assert recorded.missing == [] and recorded.count("audit.auditverificationrun") == 1
    assert falsified.missing == [
        f"audit.auditverificationrun {run.pk} changed without an audit event for "
        f"('audit.auditverificationrun', '{run.pk}')"
    ]


def test_the_reconciler_finds_an_unaudited_change(cast):
    """The bulk `update()` no service wraps: exactly what the reconciler is for."""

    def mutate() -> None:
        with transaction.atomic():
            type(cast.agent).objects.filter(pk=cast.agent.pk).update(name="Renamed quietly")

    result = reconcile(mutate)

    assert result.missing == [
        f"workspaces.agent {cast.agent.pk} changed without an audit event for "
        f"('workspaces.agent', '{cast.agent.pk}')"
    ]


def test_the_reconciler_finds_an_unaudited_change_of_a_mapped_row(cast):
    """A row audited through its parent still needs an event naming the row or the parent."""
    item = write(cast, "Trade fair leads go cold after a week.").item

    def mutate() -> None:
        with transaction.atomic():
            item.versions.update(reason="rewritten quietly")

    result = reconcile(mutate)

    assert len(result.missing) == 1
    assert result.missing[0].startswith("memories.memoryversion ")
    assert f"('memories.memoryitem', '{item.pk}')" in result.missing[0]


def test_new_apps_register_their_governed_models(cast):
    saved = dict(REGISTRY)
    try:
        governed_model_register("core.WorkerHeartbeat")
        assert "core.workerheartbeat" in REGISTRY

        from apps.core.models import WorkerHeartbeat

        result = reconcile(lambda: WorkerHeartbeat.objects.create(hostname="worker-1"))
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)

    assert len(result.missing) == 1 and result.missing[0].startswith("core.workerheartbeat")


def test_every_model_is_governed_or_explicitly_not():
    """A new model fails here until it is registered in apps/audit/reconcile.py or listed in
    NOT_GOVERNED there, with the reason."""
    assert ungoverned_models() == []
    assert not set(REGISTRY) & set(NOT_GOVERNED)
    assert all(reason.strip() for reason in NOT_GOVERNED.values())


@pytest.mark.parametrize("label", sorted([*REGISTRY, *NOT_GOVERNED]))
def test_every_registered_model_exists(label):
    from django.apps import apps

    assert apps.get_model(label) is not None
