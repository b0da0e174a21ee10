"""Privacy services: one audit event per change, refusals change nothing, and no raw PII in
what the write paths store (agent descriptions, audit before/after/reason)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from apps.audit.models import AuditEvent
from apps.audit.services import audit_event_record
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.privacy import services
from apps.privacy.models import PiiScanJob, PrivacyPolicy
from apps.workspaces import services as workspace_services
from apps.workspaces.models import Agent
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.privacy.conftest import (
    EMAIL,
    PII_TEXT,
    actor_for,
    assert_no_raw_pii,
    recorded,
    stored_audit_text,
)

MANAGE_ACME = {"owner", "admin", "operator"}


def privacy_state() -> dict[str, Any]:
    return {
        "policies": list(PrivacyPolicy.objects.order_by("pk").values()),
        "jobs": list(PiiScanJob.objects.order_by("pk").values()),
        "events": AuditEvent.objects.count(),
    }


# --- privacy_policy_update --------------------------------------------------------------------


@pytest.mark.parametrize("who", [*ROLES_AND_OTHERS, "agent"])
def test_policy_update_matrix(cast, who):
    """Given each member of the cast, when they change Acme's policy, then only those who
    manage the workspace succeed (one event); everyone else changes nothing."""
    actor = actor_for(cast, who)
    services.policy_for_workspace(cast.workspace)
    before = privacy_state()

    def update() -> Any:
        return services.privacy_policy_update(
            actor=actor, workspace=cast.workspace, operators={"EMAIL": "hash"}
        )

    if who in MANAGE_ACME:
        with recorded() as events:
            policy = update()
        assert policy.operators == {"EMAIL": "hash"}
        assert [e.action for e in events] == ["privacy_policy.update"]
        assert events[0].before["operators"] == {}
        assert events[0].after["operators"] == {"EMAIL": "hash"}
        assert events[0].workspace_id == cast.workspace.pk
    else:
        with pytest.raises(Forbidden):
            update()
        assert privacy_state() == before


def test_policy_update_without_changes_writes_nothing(cast):
    owner = cast.user("owner")
    services.privacy_policy_update(actor=owner, workspace=cast.workspace, default_operator="redact")

    with recorded() as events:
        services.privacy_policy_update(
            actor=owner, workspace=cast.workspace, default_operator="redact"
        )

    assert events == []


@pytest.mark.parametrize(
    "rules",
    [
        {"allow_patterns": ["(unclosed"]},
        {"phone_regions": ["XX"]},
        {"phone_regions": []},
        {"operators": {"EMAIL": "shred"}},
        {"entities": ["SHOE_SIZE"]},
        {"default_operator": "nope"},
        {"colour": "blue"},
        {"operators": "EMAIL=hash"},
    ],
)
def test_policy_update_refuses_unusable_rules_and_changes_nothing(cast, rules):
    services.policy_for_workspace(cast.workspace)
    before = privacy_state()

    with pytest.raises(ValidationFailed):
        services.privacy_policy_update(actor=cast.user("owner"), workspace=cast.workspace, **rules)

    assert privacy_state() == before


def test_policy_is_created_lazily_with_defaults(cast):
    assert not PrivacyPolicy.objects.filter(workspace=cast.workspace).exists()

    policy = services.policy_for_workspace(cast.workspace)

    assert policy.default_operator == "placeholder"
    assert "EMAIL" in policy.entities and "PERSON" not in policy.entities
    assert services.policy_for_workspace(cast.workspace).pk == policy.pk


# --- raw PII never reaches the audit trail ---------------------------------------------------


def test_agent_description_and_reason_are_stored_masked(cast):
    owner = cast.user("owner")

    with recorded() as events:
        agent = workspace_services.agent_create(
            actor=owner, workspace=cast.workspace, name="Bot", slug="pii-bot", description=PII_TEXT
        )
        workspace_services.agent_update(actor=owner, agent=agent, description=f"now {PII_TEXT}")
        workspace_services.agent_token_revoke(
            actor=owner, token=cast.agent_token, reason=f"leaked to {EMAIL}"
        )

    assert len(events) == 3
    stored = stored_audit_text([e.pk for e in events])
    assert_no_raw_pii(stored)
    assert "<EMAIL_1>" in stored and "<PHONE_1>" in stored and "<CARD_1>" in stored
    with connection.cursor() as cursor:
        cursor.execute("SELECT description FROM workspaces_agent WHERE id = %s", [agent.pk])
        description = cursor.fetchone()[0]
    assert_no_raw_pii(description)
    assert description.startswith("now Call <PHONE_1>")


def test_one_value_keeps_one_placeholder_across_before_after_and_reason(cast):
    with transaction.atomic(), recorded() as events:
        audit_event_record(
            actor=SYSTEM,
            action="test.mask",
            workspace_id=cast.workspace.pk,
            before={"contact": EMAIL},
            after={"contact": "other@example.org", EMAIL: "as a key"},
            reason=f"moved from {EMAIL}",
        )

    event = events[0]
    assert event.before == {"contact": "<EMAIL_1>"}
    assert event.after == {"contact": "<EMAIL_2>", "<EMAIL_1>": "as a key"}
    assert event.reason == "moved from <EMAIL_1>"


def test_events_without_a_workspace_use_the_default_policy(cast):
    services.privacy_policy_update(
        actor=cast.user("owner"), workspace=cast.workspace, allow_values=[EMAIL]
    )

    with transaction.atomic(), recorded() as events:
        audit_event_record(actor=SYSTEM, action="test.global", reason=f"for {EMAIL}")
        audit_event_record(
            actor=SYSTEM, action="test.acme", workspace_id=cast.workspace.pk, reason=EMAIL
        )

    assert events[0].reason == "for <EMAIL_1>"
    assert events[1].reason == EMAIL  # Acme allow-lists it


def test_an_actor_label_that_is_an_email_is_masked(cast):
    from tests.workspaces.factories import UserFactory

    operator = UserFactory(username=EMAIL, is_superuser=True)

    with recorded() as events:
        services.privacy_policy_update(
            actor=operator, workspace=cast.workspace, operators={"PHONE": "hash"}
        )

    assert events[0].actor_label == "<EMAIL_1>"
    assert events[0].actor_id == str(operator.pk)
    assert_no_raw_pii(stored_audit_text([events[0].pk]))


def test_every_audit_row_of_the_cast_is_free_of_raw_pii(cast):
    owner = cast.user("owner")
    workspace_services.team_create(
        actor=owner, workspace=cast.workspace, name=f"Team of {EMAIL}", slug="t1"
    )
    agent = Agent.objects.get(pk=cast.agent.pk)
    workspace_services.agent_update(actor=owner, agent=agent, name=f"Bot {EMAIL}")

    assert_no_raw_pii(stored_audit_text())


# --- pii_rescan_start (the worker side is in test_rescan.py) ----------------------------------


@pytest.mark.parametrize("who", [*ROLES_AND_OTHERS, "agent"])
def test_rescan_start_matrix(cast, who):
    actor = actor_for(cast, who)
    before = privacy_state()

    if who in MANAGE_ACME:
        with recorded() as events:
            job, created = services.pii_rescan_start(actor=actor, workspace=cast.workspace)
        assert created and job.status == "queued"
        assert [e.action for e in events] == ["pii.rescan_start"]
    else:
        with pytest.raises(Forbidden):
            services.pii_rescan_start(actor=actor, workspace=cast.workspace)
        assert privacy_state() == before


def test_rescan_start_twice_returns_the_active_job_and_writes_nothing(cast):
    owner = cast.user("owner")
    first, _ = services.pii_rescan_start(actor=owner, workspace=cast.workspace)

    with recorded() as events:
        second, created = services.pii_rescan_start(actor=owner, workspace=cast.workspace)

    assert (second.pk, created, events) == (first.pk, False, [])


def test_rescan_start_enqueues_only_the_job_id_after_commit(
    cast, django_capture_on_commit_callbacks
):
    from unittest import mock

    from apps.core.models import OutboxMessage

    with mock.patch("apps.core.outbox.celery_app.send_task") as send:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            job, _ = services.pii_rescan_start(actor=cast.user("owner"), workspace=cast.workspace)
        send.assert_not_called()
        queued = OutboxMessage.objects.values_list("task_name", "args", "kwargs")
        assert list(queued) == [("privacy.rescan", [job.pk], {})]
        for callback in callbacks:
            callback()

    send.assert_called_once()
    assert send.call_args.args == ("privacy.rescan",)
    assert send.call_args.kwargs["args"] == [job.pk]
    assert not OutboxMessage.objects.exists()
