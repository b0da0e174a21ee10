"""Two masked fields that were stored raw: who decided a review request (a username can be an
e-mail address) and an audit export's filters. What is stored (read back with raw SQL) holds
no raw PII, and the export still selects exactly the rows that were asked for."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.compliance import exports
from apps.compliance.models import ExportJob
from apps.core.exceptions import ValidationFailed
from apps.reviews import services as reviews
from apps.workspaces.services import agent_update
from tests.conftest import SYSTEM
from tests.privacy.conftest import EMAIL, assert_no_raw_pii
from tests.reviews.conftest import propose
from tests.workspaces.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def stored_row(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t WHERE id = %s", [pk])  # noqa: S608 - test tables
        return str(cursor.fetchone()[0])


def email_named(cast: Any, role: str) -> Any:
    person = UserFactory(username=EMAIL, is_staff=True)
    MembershipFactory(user=person, workspace=cast.workspace, role=role)
    return person


def exported_rows(job: ExportJob) -> list[dict[str, Any]]:
    exports.export_execute(job_id=job.pk)
    lines = [line for chunk in job.chunks.order_by("seq") for line in chunk.data.splitlines()]
    return [json.loads(line) for line in lines[1:]]


def test_a_reviewer_named_by_an_email_is_stored_masked_as_the_decider(cast):
    # given: a reviewer whose username is an e-mail address
    reviewer = email_named(cast, "reviewer")
    request = propose(cast, "Logistics prospects want a reference call first")

    # when
    reviews.review_reject(actor=reviewer, request=request.pk, reason="not yet")

    # then: the label is the masked username; the id still names who it was
    request.refresh_from_db()
    assert request.decided_by_label == "<EMAIL_1>"
    assert request.decided_by_id == reviewer.pk
    assert_no_raw_pii(stored_row("reviews_reviewrequest", request.pk))


def test_a_plain_username_is_stored_as_it_is(cast):
    request = propose(cast, "Logistics prospects want a reference call first")

    reviews.review_reject(actor=cast.user("reviewer"), request=request.pk, reason="not yet")

    request.refresh_from_db()
    assert request.decided_by_label == "reviewer"


def test_an_export_by_an_email_named_actor_stores_no_email_and_selects_their_events(cast):
    # given: events by an e-mail-named admin (their label is masked in the trail) and others
    editor = email_named(cast, "admin")
    agent_update(actor=editor, agent=cast.agent, description="Books demos")
    agent_update(actor=SYSTEM, agent=cast.agent, description="Books demos on Tuesdays")
    theirs = set(
        AuditEvent.objects.filter(actor_kind="user", actor_id=str(editor.pk)).values_list(
            "id", flat=True
        )
    )

    # when
    job = exports.export_job_start(
        actor=cast.user("auditor"),
        workspace=cast.workspace,
        format="jsonl",
        filters={"actor": EMAIL},
    )

    # then: stored as the user's id, and the export holds exactly their events
    assert job.filters == {"actor_kind": "user", "actor_id": str(editor.pk)}
    assert_no_raw_pii(stored_row("compliance_exportjob", job.pk))
    assert theirs and {row["id"] for row in exported_rows(job)} == theirs


def test_an_export_by_an_agent_label_selects_the_agents_events(cast):
    label = f"{cast.workspace.pk}/{cast.agent.slug}"
    propose(cast, "Logistics prospects want a reference call first")

    job = exports.export_job_start(
        actor=cast.user("auditor"),
        workspace=cast.workspace,
        format="jsonl",
        filters={"actor": label},
    )

    assert job.filters == {"actor_kind": "agent", "actor_id": str(cast.agent.pk)}
    rows = exported_rows(job)
    assert rows and {(r["actor_kind"], r["actor_id"]) for r in rows} == {
        ("agent", str(cast.agent.pk))
    }


def test_a_system_actor_and_exact_choices_are_kept_as_typed(cast):
    agent_update(actor=SYSTEM, agent=cast.agent, description="Books demos")
    filters = {"actor": SYSTEM.label, "action": "agent.update", "since": "2020-01-01T00:00:00Z"}

    job = exports.export_job_start(
        actor=cast.user("auditor"), workspace=cast.workspace, format="jsonl", filters=filters
    )

    assert job.filters == filters
    rows = exported_rows(job)
    assert rows and {(r["actor_label"], r["action"]) for r in rows} == {
        (SYSTEM.label, "agent.update")
    }


def test_an_email_in_an_action_filter_is_stored_masked_and_selects_nothing(cast):
    job = exports.export_job_start(
        actor=cast.user("auditor"),
        workspace=cast.workspace,
        format="jsonl",
        filters={"action": f"sent to {EMAIL}"},
    )

    assert job.filters == {"action": "sent to <EMAIL_1>"}
    assert_no_raw_pii(stored_row("compliance_exportjob", job.pk))
    assert exported_rows(job) == []


def test_an_email_naming_nobody_is_refused_and_no_job_is_written(cast):
    before = ExportJob.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        exports.export_job_start(
            actor=cast.user("auditor"),
            workspace=cast.workspace,
            format="jsonl",
            filters={"actor": "someone.else@example.com"},
        )

    assert "actor" in refused.value.fields
    assert ExportJob.objects.count() == before


def test_a_memory_approved_outside_the_queue_closes_its_request_with_a_masked_decider(cast):
    # given: a waiting proposal, and an owner whose username is an e-mail address
    from apps.memories import services as memories

    owner = email_named(cast, "owner")
    request = propose(cast, "Logistics prospects want a reference call first")

    # when: the owner approves the memory itself, not the request
    memories.memory_approve(actor=owner, item=request.memory, reason="checked")

    # then: the request closed elsewhere names its decider masked
    request.refresh_from_db()
    assert request.status == "decided"
    assert request.decided_by_label == "<EMAIL_1>"
    assert_no_raw_pii(stored_row("reviews_reviewrequest", request.pk))


def test_a_policy_version_and_label_move_by_an_email_named_editor_store_masked_labels(cast):
    # given: an editor whose username is an e-mail address
    from apps.policies import services as policies
    from apps.policies.models import LabelEvent
    from tests.policies.conftest import artifact, version

    editor = email_named(cast, "editor")
    art = artifact(cast)

    # when: they save a version and move the (unprotected) staging label to it
    saved = version(art, "Write plainly.", actor=editor)
    policies.policy_label_move(actor=editor, artifact=art, label="staging", version=saved)

    # then: the version's author and the label history's actor are stored masked
    saved.refresh_from_db()
    moved = LabelEvent.objects.get(artifact=art, label="staging")
    assert saved.author_label == "<EMAIL_1>"
    assert moved.actor_label == "<EMAIL_1>"
    assert_no_raw_pii(stored_row("policies_artifactversion", saved.pk))
    assert_no_raw_pii(stored_row("policies_labelevent", moved.pk))
