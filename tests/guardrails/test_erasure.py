"""Erasure reaches the pause reasons (the switch stays, scrubbed); the suppression list is kept
through an erasure on purpose (keyed hashes only, and it keeps the person uncontacted)."""

from __future__ import annotations

import pytest

from apps.compliance import erasure
from apps.compliance.subject import Subject
from apps.guardrails import services
from apps.guardrails.models import KillSwitch, SuppressionEntry
from apps.privacy.services import privacy_policy_update
from tests.compliance.conftest import EMAIL, fresh_privacy_caches, leftovers  # noqa: F401
from tests.conftest import SYSTEM


@pytest.mark.parametrize("operators", [{"EMAIL": "hash"}, {"EMAIL": "encrypt"}])
def test_erasure_scrubs_pause_reasons_and_keeps_the_suppression(crew, operators):
    privacy_policy_update(actor=SYSTEM, workspace=crew.workspace, operators=operators)
    switch = services.kill_switch_set(
        actor=crew.user("admin"),
        workspace=crew.workspace,
        level="agent",
        agent=crew.closer,
        reason=f"{EMAIL} complained about this agent",
    )
    services.kill_switch_clear(
        actor=crew.user("admin"), switch=switch, reason=f"{EMAIL} was answered"
    )
    services.suppression_add(actor=SYSTEM, workspace=crew.workspace, unit=EMAIL, reason="complaint")
    needles = [EMAIL, *Subject(crew.workspace.pk, {"EMAIL": (EMAIL,)}).needles()]
    assert "guardrails_killswitch" in {t for t, _ in leftovers(needles, {EMAIL})}

    request = erasure.erasure_request_create(
        actor=crew.user("owner"), workspace=crew.workspace, emails=[EMAIL], reason="art. 17"
    )
    erasure.erasure_request_approve(actor=crew.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)

    assert "guardrails_killswitch" not in {t for t, _ in leftovers(needles, {EMAIL})}
    kept = KillSwitch.objects.get(pk=switch.pk)
    assert "complained about this agent" in kept.reason and kept.cleared_at is not None
    assert SuppressionEntry.objects.filter(workspace=crew.workspace).count() == 1
