"""Erasure reaches the policies' free text: a data subject's tokens are scrubbed out of
changelog messages and label-move reasons, while the versions themselves (immutable content)
and their history rows stay."""

from __future__ import annotations

import pytest

from apps.compliance import erasure
from apps.compliance.subject import Subject
from apps.policies import services
from apps.policies.models import ArtifactVersion, LabelEvent
from apps.privacy.services import privacy_policy_update
from tests.compliance.conftest import EMAIL, fresh_privacy_caches, leftovers  # noqa: F401
from tests.conftest import SYSTEM
from tests.policies.conftest import artifact, content


@pytest.mark.parametrize("operators", [{"EMAIL": "hash"}, {"EMAIL": "encrypt"}])
def test_erasure_scrubs_changelogs_and_reasons_and_keeps_the_versions(crew, operators):
    privacy_policy_update(actor=SYSTEM, workspace=crew.workspace, operators=operators)
    art = artifact(crew)
    saved = services.policy_version_create(
        actor=crew.user("editor"),
        artifact=art,
        content=content("policy_pack", "Be brief."),
        message=f"asked by {EMAIL}",
    )
    services.policy_label_move(
        actor=crew.user("editor"),
        artifact=art,
        label="staging",
        version=saved,
        reason=f"{EMAIL} wants it on staging",
    )
    tables = {"policies_artifactversion", "policies_labelevent"}
    needles = [EMAIL, *Subject(crew.workspace.pk, {"EMAIL": (EMAIL,)}).needles()]
    assert {t for t, _ in leftovers(needles, {EMAIL})} & tables == tables

    request = erasure.erasure_request_create(
        actor=crew.user("owner"), workspace=crew.workspace, emails=[EMAIL], reason="art. 17"
    )
    erasure.erasure_request_approve(actor=crew.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)

    assert {t for t, _ in leftovers(needles, {EMAIL})} & tables == set()
    kept = ArtifactVersion.objects.get(pk=saved.pk)
    assert (kept.content, kept.content_hash) == (saved.content, saved.content_hash)
    assert LabelEvent.objects.filter(artifact=art).count() == 1
