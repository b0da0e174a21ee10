"""Policy services: immutable versions, labels, production through the review queue, four
eyes, rollback, and the audit trail of each."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from apps.audit.models import AuditEvent
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.policies import services
from apps.policies.models import ArtifactVersion, Label, LabelEvent
from apps.reviews.models import ReviewRequest
from apps.reviews.services import review_approve, review_reject, review_request_changes
from tests.conftest import SYSTEM
from tests.policies.conftest import artifact, content, in_production, state, version


def test_editing_saves_a_new_version_and_never_changes_the_old_one(crew):
    art = artifact(crew)
    first = version(art, "Write plainly.", actor=crew.user("editor"))

    second = version(art, "Write plainly and briefly.", actor=crew.user("editor"))

    first.refresh_from_db()
    assert (first.number, second.number) == (1, 2)
    assert first.content["text"] == "Write plainly."
    assert first.content_hash != second.content_hash
    assert second.author_user == crew.user("editor")
    events = AuditEvent.objects.filter(action="policy.version_create").count()
    assert events == 2


def test_the_database_refuses_to_change_a_saved_version(crew):
    saved = version(artifact(crew))
    before = state()

    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        ArtifactVersion.objects.filter(pk=saved.pk).update(content={"text": "sneaky"})
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        saved.number = 9
        saved.save()

    assert state() == before


def test_the_changelog_message_is_stored_masked(crew):
    art = artifact(crew)

    saved = services.policy_version_create(
        actor=crew.user("editor"),
        artifact=art,
        content=content("policy_pack"),
        message="asked by jane.doe@example.com",
    )

    assert "jane.doe@example.com" not in saved.message


@pytest.mark.parametrize(
    ("kind", "bad", "field"),
    [
        ("policy_pack", {"text": "x", "rules": {"forbidden_patterns": ["(unclosed"]}}, "rules"),
        ("policy_pack", {"text": "x", "rules": {"max_length": {"fax": 10}}}, "max_length"),
        ("policy_pack", {"text": "x", "rules": {"required_phrases": {"pigeon": ["x"]}}}, "phrases"),
        ("policy_pack", {"text": "x", "rules": {"banned": ["x"]}}, "banned"),
        ("policy_pack", {"text": "x", "rules": {"max_discount_percent": "20"}}, "discount"),
        ("policy_pack", {"text": "x", "rules": {"forbidden_patterns": ["(a+)+$"]}}, "nests"),
        ("prompt", {"template": "Hi {{ name }}", "variables": []}, "undeclared"),
        ("skill", {"description": "d", "input_schema": {"type": "objekt"}}, "JSON Schema"),
        ("skill", {"description": "d", "output_schema": {"minLength": -1}}, "JSON Schema"),
        ("skill", {"description": "d", "max_steps": 0}, "max_steps"),
    ],
)
def test_bad_content_is_refused_when_the_version_is_saved(crew, kind, bad, field):
    art = artifact(crew, kind=kind, name="thing")
    before = state()

    with pytest.raises(ValidationFailed) as refused:
        services.policy_version_create(actor=crew.user("editor"), artifact=art, content=bad)

    assert field.split()[0].lower() in str(refused.value).lower() or field in str(
        refused.value.fields
    )
    assert state() == before


def test_staging_moves_at_once_and_is_in_the_label_history(crew):
    art = artifact(crew)
    ver = version(art)

    result = services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="staging", version=ver
    )

    assert result.outcome == "moved"
    assert Label.objects.get(artifact=art, name="staging").version == ver
    event = LabelEvent.objects.get(artifact=art)
    assert (event.label, event.from_version, event.to_version, event.how) == (
        "staging",
        None,
        ver,
        "set",
    )
    assert AuditEvent.objects.filter(action="policy.label_move").count() == 1


def test_production_moves_only_through_an_approved_review_request(crew):
    art = artifact(crew)
    ver = version(art, actor=crew.user("editor"))

    result = services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="production", version=ver
    )

    assert result.outcome == "requested"
    assert not Label.objects.filter(artifact=art, name="production").exists()
    request = result.request
    assert (request.kind, request.subject_id, request.tier) == (
        "policy_version",
        ver.pk,
        "workspace",
    )

    review_approve(actor=crew.user("reviewer"), request=request, reason="reads well")

    assert Label.objects.get(artifact=art, name="production").version == ver
    event = LabelEvent.objects.get(artifact=art, label="production")
    assert (event.how, event.review_request_id) == ("approved", request.pk)


def test_the_author_cannot_approve_their_own_version_under_four_eyes(crew):
    art = artifact(crew)
    ver = version(art, actor=crew.user("admin"))
    request = services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="production", version=ver
    ).request
    before = state()

    with pytest.raises(Forbidden, match="Four-eyes"):
        review_approve(actor=crew.user("admin"), request=request)

    assert state() == before
    review_approve(actor=crew.user("reviewer"), request=request)
    assert Label.objects.get(artifact=art, name="production").version == ver


@pytest.mark.parametrize("decide", [review_reject, review_request_changes])
def test_a_rejected_move_leaves_production_where_it_was(crew, decide):
    art = artifact(crew)
    old = version(art, "Old.")
    in_production(art, old)
    new = version(art, "New.")
    request = services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="production", version=new
    ).request

    decide(actor=crew.user("reviewer"), request=request, reason="not yet")

    assert Label.objects.get(artifact=art, name="production").version == old
    request.refresh_from_db()
    assert request.status == "decided"


def test_a_second_request_for_the_same_label_is_refused_while_one_waits(crew):
    art = artifact(crew)
    services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="production", version=version(art)
    )
    second = version(art, "Other.")
    before = state()

    with pytest.raises(Conflict, match="already waiting"):
        services.policy_label_move(
            actor=crew.user("editor"), artifact=art, label="production", version=second
        )

    assert state() == before


def test_a_label_the_workspace_protects_also_needs_a_review(crew):
    services.policy_settings_update(
        actor=crew.user("owner"), workspace=crew.workspace, protected_labels=["eu-prod"]
    )
    art = artifact(crew)

    result = services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="eu-prod", version=version(art)
    )

    assert result.outcome == "requested"


@pytest.mark.parametrize("who", ["viewer", "auditor", "reviewer", "outsider"])
def test_people_without_the_edit_role_move_no_label(crew, who):
    art = artifact(crew)
    ver = version(art)
    before = state()

    with pytest.raises(Forbidden):
        services.policy_label_move(actor=crew.user(who), artifact=art, label="staging", version=ver)

    assert state() == before


def test_agents_propose_versions_with_the_scope_and_never_move_labels(crew):
    art = artifact(crew)
    before = state()

    with pytest.raises(Forbidden, match="policies:propose"):
        services.policy_version_create(
            actor=crew.agent, artifact=art, content=content("policy_pack"), token_scopes=[]
        )
    assert state() == before

    proposed = services.policy_version_create(
        actor=crew.agent,
        artifact=art,
        content=content("policy_pack"),
        token_scopes=["policies:propose"],
    )
    assert proposed.author_agent == crew.agent
    with pytest.raises(Forbidden):
        services.policy_label_move(
            actor=crew.agent, artifact=art, label="production", version=proposed
        )


def test_rollback_moves_production_back_at_once_without_a_new_review(crew):
    art = artifact(crew)
    v1, v2 = version(art, "One."), version(art, "Two.")
    in_production(art, v1)
    in_production(art, v2)
    requests = ReviewRequest.objects.count()

    services.policy_label_rollback(
        actor=crew.user("reviewer"), artifact=art, label="production", version=v1, reason="v2 off"
    )

    assert Label.objects.get(artifact=art, name="production").version == v1
    assert ReviewRequest.objects.count() == requests
    event = AuditEvent.objects.filter(action="policy.rollback").get()
    assert event.after["without_review"] is True
    assert event.after["approved_before"]["how"] == "approved"
    assert LabelEvent.objects.filter(artifact=art, how="rollback").count() == 1


def test_rollback_to_a_version_production_never_held_is_refused(crew):
    art = artifact(crew)
    v1, v2 = version(art, "One."), version(art, "Two.")
    in_production(art, v1)
    before = state()

    with pytest.raises(Conflict, match="never held"):
        services.policy_label_rollback(
            actor=crew.user("reviewer"), artifact=art, label="production", version=v2
        )

    assert state() == before


@pytest.mark.parametrize("who", ["editor", "viewer", "auditor"])
def test_rollback_needs_the_reviewer_or_admin_role(crew, who):
    art = artifact(crew)
    v1, v2 = version(art, "One."), version(art, "Two.")
    in_production(art, v1)
    in_production(art, v2)
    before = state()

    with pytest.raises(Forbidden):
        services.policy_label_rollback(
            actor=crew.user(who), artifact=art, label="production", version=v1
        )

    assert state() == before


def test_an_override_names_one_partition_of_the_workspace(crew):
    with pytest.raises(ValidationFailed):
        services.policy_artifact_create(
            actor=SYSTEM, workspace=crew.workspace, kind="prompt", name="x", level="team"
        )
    with pytest.raises(ValidationFailed):
        services.policy_artifact_create(
            actor=SYSTEM,
            workspace=crew.workspace,
            kind="prompt",
            name="x",
            level="agent",
            agent=crew.other_agent,
        )
    artifact(crew, "dup")
    with pytest.raises(Conflict):
        artifact(crew, "dup")


def test_unknown_labels_and_versions_of_other_artifacts_are_refused(crew):
    art, other = artifact(crew, "a"), artifact(crew, "b")
    foreign = version(other)
    before = state()

    with pytest.raises(ValidationFailed, match="Unknown version"):
        services.policy_label_move(
            actor=crew.user("editor"), artifact=art, label="staging", version=foreign
        )
    with pytest.raises(ValidationFailed, match="label"):
        services.policy_label_move(
            actor=crew.user("editor"), artifact=art, label="Not A Label", version=foreign
        )

    assert state() == before


def test_a_version_row_cannot_be_inserted_twice_with_one_number(crew):
    saved = version(artifact(crew))

    with pytest.raises(IntegrityError), transaction.atomic():
        ArtifactVersion.objects.create(
            artifact=saved.artifact,
            workspace=saved.workspace,
            number=saved.number,
            content={},
            content_hash="x",
            author_label="x",
        )


def test_only_the_masked_changelog_of_a_version_may_be_rewritten_by_erasure_or_rescan(crew):
    saved = version(artifact(crew))

    ArtifactVersion.objects.filter(pk=saved.pk).update(message="[scrubbed]")

    saved.refresh_from_db()
    assert saved.message == "[scrubbed]"
    assert saved.content["text"] == "Write plainly."


def test_removing_staging_is_in_the_history_and_production_cannot_be_removed(crew):
    art = artifact(crew)
    ver = version(art)
    services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="staging", version=ver
    )
    in_production(art, ver)

    services.policy_label_remove(actor=crew.user("editor"), artifact=art, label="staging")

    assert not Label.objects.filter(artifact=art, name="staging").exists()
    removed = LabelEvent.objects.filter(artifact=art, how="removed").get()
    assert (removed.from_version, removed.to_version) == (ver, None)
    assert AuditEvent.objects.filter(action="policy.label_remove").count() == 1
    before = state()
    with pytest.raises(Conflict, match="protected"):
        services.policy_label_remove(actor=crew.user("editor"), artifact=art, label="production")
    with pytest.raises(Forbidden):
        services.policy_label_remove(actor=crew.user("viewer"), artifact=art, label="staging")
    assert state() == before
