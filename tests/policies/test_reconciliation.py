"""Audit completeness for policies: every service leaves no changed row without an event naming
it (apps/audit/reconcile.py)."""

from __future__ import annotations

from apps.policies import services
from apps.reviews.services import review_approve, review_reject
from tests.audit.reconciling import reconcile
from tests.policies.conftest import content, version


def test_every_policy_action_is_accounted_for_in_the_audit_trail(crew):
    editor, reviewer = crew.user("editor"), crew.user("reviewer")
    made: dict = {}

    def create() -> None:
        made["art"] = services.policy_artifact_create(
            actor=editor, workspace=crew.workspace, kind="policy_pack", name="p", pack_kind="legal"
        )
        made["v1"] = services.policy_version_create(
            actor=editor, artifact=made["art"], content=content("policy_pack"), message="first"
        )

    def moves() -> None:
        art = made["art"]
        services.policy_label_move(actor=editor, artifact=art, label="staging", version=made["v1"])
        first = services.policy_label_move(
            actor=editor, artifact=art, label="production", version=made["v1"]
        )
        review_approve(actor=reviewer, request=first.request)
        made["v2"] = version(art, "Second.", actor=editor)
        second = services.policy_label_move(
            actor=editor, artifact=art, label="production", version=made["v2"]
        )
        review_approve(actor=reviewer, request=second.request)
        services.policy_label_rollback(
            actor=reviewer, artifact=art, label="production", version=made["v1"]
        )
        third = services.policy_label_move(
            actor=editor, artifact=art, label="production", version=version(art, "Third.")
        )
        review_reject(actor=reviewer, request=third.request, reason="no")
        services.policy_settings_update(
            actor=crew.user("owner"), workspace=crew.workspace, protected_labels=["eu"]
        )

    created = reconcile(create)
    moved = reconcile(moves)

    assert created.missing == []
    assert moved.missing == []
    assert moved.count("policies.labelevent") == 4
    assert moved.count("reviews.reviewrequest") == 3
