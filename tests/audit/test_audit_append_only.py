"""The audit trail only grows: the ORM refuses to change or remove events, the admin offers
no way to, and only those with the audit capability read a workspace's events."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from apps.audit.models import AppendOnlyError, AuditEvent
from apps.audit.services import audit_event_record, audit_snapshot
from apps.workspaces import services
from apps.workspaces.roles import Action
from tests.conftest import ROLES_AND_OTHERS, SYSTEM


@pytest.fixture
def event(cast: Any) -> AuditEvent:
    return audit_event_record(
        actor=cast.user("owner"),
        action="test.thing",
        obj=cast.agent,
        workspace_id=cast.workspace.pk,
        before={"name": "a"},
        after={"name": "b"},
        reason="because",
    )


def stored(event: AuditEvent) -> dict[str, Any]:
    return AuditEvent.objects.filter(pk=event.pk).values()[0]


# --- the ORM refuses changes ------------------------------------------------------------------


def test_saving_an_existing_event_is_refused(event):
    original = stored(event)
    event.action = "test.rewritten"

    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.save(update_fields=["action"])

    fetched = AuditEvent.objects.get(pk=event.pk)
    fetched.reason = "nothing happened"
    with pytest.raises(AppendOnlyError):
        fetched.save()
    assert stored(event) == original


def test_a_new_instance_with_an_existing_pk_cannot_overwrite_the_event(event):
    original = stored(event)
    forged = AuditEvent(
        pk=event.pk, actor_kind="system", actor_id="x", actor_label="x", action="forged"
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        forged.save()

    assert stored(event) == original


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError):
        event.delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "attempt",
    [
        lambda qs, e: qs.update(action="rewritten"),
        lambda qs, e: qs.filter(pk=e.pk).update(reason=""),
        lambda qs, e: qs.delete(),
        lambda qs, e: qs.filter(pk=e.pk).delete(),
        lambda qs, e: qs.bulk_update([e], ["action"]),
        lambda qs, e: qs.update_or_create(pk=e.pk, defaults={"action": "rewritten"}),
        lambda qs, e: qs.bulk_create(
            [
                AuditEvent(
                    pk=e.pk, actor_kind="system", actor_id="x", actor_label="x", action="upsert"
                )
            ],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["action"],
        ),
    ],
    ids=[
        "update",
        "filter-update",
        "delete",
        "filter-delete",
        "bulk_update",
        "update_or_create",
        "bulk_create-upsert",
    ],
)
def test_queryset_changes_are_refused(event, attempt):
    original = stored(event)
    event.action = "rewritten"

    with pytest.raises(AppendOnlyError):
        attempt(AuditEvent.objects.all(), event)
    with pytest.raises(AppendOnlyError):
        attempt(AuditEvent.objects, event)

    assert stored(event) == original
    assert AuditEvent.objects.count() >= 1


def test_appending_still_works(cast, event):
    with transaction.atomic():
        second = audit_event_record(actor=SYSTEM, action="test.second")
    AuditEvent.objects.bulk_create(
        [AuditEvent(actor_kind="system", actor_id="t", actor_label="t", action="test.bulk")]
    )

    assert AuditEvent.objects.filter(pk=second.pk).exists()
    assert AuditEvent.objects.filter(action="test.bulk").count() == 1


def test_event_fields_are_recorded_as_given(cast, event):
    fetched = AuditEvent.objects.get(pk=event.pk)

    assert fetched.actor_kind == "user"
    assert fetched.actor_id == str(cast.user("owner").pk)
    assert fetched.actor_label == "owner"
    assert fetched.object_type == "workspaces.agent"
    assert fetched.object_id == str(cast.agent.pk)
    assert fetched.object_repr == "SDR Bot"
    assert (fetched.before, fetched.after, fetched.reason) == (
        {"name": "a"},
        {"name": "b"},
        "because",
    )


def test_snapshots_are_json_ready(cast):
    snapshot = audit_snapshot(cast.agent_token, ["agent", "scopes", "expires_at", "created_at"])

    assert snapshot["agent"] == cast.agent.pk
    assert isinstance(snapshot["created_at"], str)
    assert snapshot["expires_at"] is None


def test_deleting_a_workspace_row_leaves_its_trail(cast):
    """The workspace foreign key carries no constraint, so the trail outlives its subject."""
    workspace = services.workspace_create(
        actor=SYSTEM, name="Short-lived", slug="short", owner=cast.user("nobody")
    )
    workspace_pk = workspace.pk

    workspace.delete()

    assert AuditEvent.objects.filter(workspace_id=workspace_pk).count() == 2


# --- the admin offers no way to change events -------------------------------------------------


@pytest.mark.parametrize("who", ["operator", "owner", "auditor"])
def test_admin_offers_no_add_change_or_delete(cast, client, event, who):
    client.force_login(cast.user(who))
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])
    original = stored(event)

    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403
    assert (
        client.post(
            reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert client.post(change_url, {"action": "rewritten", "reason": ""}).status_code == 403

    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert b"deletelink" not in page.content
    changelist = client.get(reverse("admin:audit_auditevent_changelist"))
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert stored(event) == original


def test_bulk_delete_action_is_refused_for_events(cast, client, event):
    client.force_login(cast.user("operator"))

    response = client.post(
        reverse("admin:audit_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "index": 0, "post": "yes"},
    )

    assert response.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- who reads whose events -------------------------------------------------------------------

READ_ACME_EVENTS = {"owner", "admin", "auditor", "operator"}


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_only_audit_capable_roles_see_a_workspaces_events(cast, who):
    """`visible_to` answers the audit question whatever action it is asked for."""
    visible = {
        action: set(
            AuditEvent.objects.visible_to(cast.user(who), action).values_list(
                "workspace_id", flat=True
            )
        )
        for action in (Action.AUDIT, Action.VIEW, Action.MANAGE)
    }

    sees_acme = cast.workspace.pk in visible[Action.AUDIT]
    sees_globex = cast.other_workspace.pk in visible[Action.AUDIT]
    assert sees_acme == (who in READ_ACME_EVENTS)
    assert sees_globex == (who in {"outsider", "operator"})
    assert visible[Action.VIEW] == visible[Action.MANAGE] == visible[Action.AUDIT]


def test_agents_and_anonymous_see_no_events(cast):
    from django.contrib.auth.models import AnonymousUser

    assert not AuditEvent.objects.visible_to(cast.agent, Action.AUDIT).exists()
    assert not AuditEvent.objects.visible_to(AnonymousUser(), Action.AUDIT).exists()


def test_system_events_without_a_workspace_are_for_operators_only(cast):
    with transaction.atomic():
        audit_event_record(actor=SYSTEM, action="system.sweep")

    for who in ("owner", "admin", "auditor", "outsider"):
        visible = AuditEvent.objects.visible_to(cast.user(who), Action.AUDIT)
        assert not visible.filter(action="system.sweep").exists()
    assert (
        AuditEvent.objects.visible_to(cast.user("operator"), Action.AUDIT)
        .filter(action="system.sweep")
        .exists()
    )


def test_the_trail_pages_without_counting_it(cast, client, django_assert_max_num_queries):
    with transaction.atomic():
        for i in range(60):
            audit_event_record(actor=SYSTEM, action=f"test.{i}", workspace_id=cast.workspace.pk)
    client.force_login(cast.user("auditor"))
    path = reverse("admin:audit_auditevent_changelist")

    first = client.get(path)
    with django_assert_max_num_queries(25) as captured:
        second = client.get(path, {"p": 2})

    assert first.status_code == second.status_code == 200
    assert len(first.context["cl"].result_list) == 50
    assert 0 < len(second.context["cl"].result_list) < 50
    assert not any("COUNT(" in q["sql"] and "audit_auditevent" in q["sql"] for q in captured)
