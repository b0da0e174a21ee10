"""Erasure reaches the signals' free text: a data subject's tokens are scrubbed out of traces'
tasks and outputs and feedback explanations, edits and diffs; the rows stay."""

from __future__ import annotations

import pytest

from apps.compliance import erasure
from apps.compliance.subject import Subject
from apps.privacy.services import privacy_policy_update
from apps.signals import services
from apps.signals.models import Feedback, Trace
from tests.compliance.conftest import EMAIL, fresh_privacy_caches, leftovers  # noqa: F401
from tests.conftest import SYSTEM
from tests.signals.conftest import stored_trace


@pytest.mark.parametrize("operators", [{"EMAIL": "hash"}, {"EMAIL": "encrypt"}])
def test_erasure_scrubs_traces_and_feedback(cast, operators):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    trace = stored_trace(cast.agent, task=f"Write to {EMAIL}", output=f"Dear {EMAIL},\n")
    services.feedback_ingest(
        actor=cast.agent,
        items=[{"trace": trace.pk, "explanation": f"{EMAIL} complained", "edited_output": EMAIL}],
    )
    tables = {"signals_trace", "signals_feedback"}
    needles = [EMAIL, *Subject(cast.workspace.pk, {"EMAIL": (EMAIL,)}).needles()]
    assert {t for t, _ in leftovers(needles, {EMAIL})} & tables == tables

    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL], reason="art. 17"
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)

    assert {t for t, _ in leftovers(needles, {EMAIL})} & tables == set()
    assert Trace.objects.filter(pk=trace.pk).exists() and Feedback.objects.count() == 1


@pytest.mark.parametrize("operators", [{"EMAIL": "hash"}, {"EMAIL": "encrypt"}])
def test_erasure_scrubs_learning_candidates(cast, operators):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    trace = stored_trace(cast.agent)
    services.feedback_ingest(
        actor=cast.user("editor"),
        workspace=cast.workspace.pk,
        items=[{"trace": trace.pk, "explanation": f"Never write to {EMAIL} again."}],
    )
    tables = {"signals_learningcandidate"}
    needles = [EMAIL, *Subject(cast.workspace.pk, {"EMAIL": (EMAIL,)}).needles()]
    assert {t for t, _ in leftovers(needles, {EMAIL})} & tables == tables

    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL], reason="art. 17"
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)

    assert {t for t, _ in leftovers(needles, {EMAIL})} & tables == set()
