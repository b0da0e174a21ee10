"""Erasure reaches the signals' JSON (steps, tool calls, experiment assignments: the subject's
hash or encrypted tokens are scrubbed by the JSON walker, other values stay) and outcomes tied
to the subject's contact, account or experiment unit (the hash is emptied, the event kept)."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.compliance import erasure
from apps.compliance.subject import REDACTED
from apps.privacy.services import privacy_policy_update
from apps.signals import services
from apps.signals.models import Outcome, Trace
from tests.compliance.conftest import (  # noqa: F401
    EMAIL,
    EXTERNAL_ID,
    OTHER_EMAIL,
    PHONE,
    PHONE_E164,
    fresh_privacy_caches,
)
from tests.conftest import SYSTEM
from tests.signals.conftest import outcome_item, stored_trace

JSON_FIELDS = {
    "steps": lambda email: [{"thought": f"write to {email}"}, {"thought": "draft"}],
    "tool_calls": lambda email: [
        {"tool": "crm.search", "arguments": {"q": email, "cc": OTHER_EMAIL}}
    ],
    "experiment_assignments": lambda email: {"subject_line": "b", "unit": email},
}


def _erase(cast, **identifiers):
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, reason="art. 17", **identifiers
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)
    request.refresh_from_db()
    return request


def _json_text(value) -> str:
    import json

    return json.dumps(value)


@pytest.mark.parametrize("field", sorted(JSON_FIELDS))
@pytest.mark.parametrize("operator", ["hash", "encrypt"])
def test_erasure_scrubs_the_subjects_tokens_from_each_json_field(cast, field, operator):
    for workspace in (cast.workspace, cast.other_workspace):
        privacy_policy_update(actor=SYSTEM, workspace=workspace, operators={"EMAIL": operator})
    mine = stored_trace(cast.agent, **{field: JSON_FIELDS[field](EMAIL)})
    theirs = stored_trace(cast.other_agent, **{field: JSON_FIELDS[field](EMAIL)})
    stored = getattr(mine, field)
    assert EMAIL not in _json_text(stored)  # masked on the way in: a token, not the address
    untouched = {name: getattr(mine, name) for name in ("task", "output", "steps", "tool_calls")}
    untouched.pop(field, None)

    request = _erase(cast, emails=[EMAIL])

    mine.refresh_from_db()
    scrubbed = getattr(mine, field)
    assert scrubbed != stored and REDACTED in _json_text(scrubbed)
    # The shape and every other value stay (the other address's token among them).
    assert type(scrubbed) is type(stored) and len(scrubbed) == len(stored)
    if field == "tool_calls":
        assert scrubbed[0]["tool"] == "crm.search"
        assert scrubbed[0]["arguments"]["q"] == REDACTED
        assert scrubbed[0]["arguments"]["cc"] == stored[0]["arguments"]["cc"] != REDACTED
    elif field == "steps":
        assert scrubbed == [{"thought": f"write to {REDACTED}"}, {"thought": "draft"}]
    else:
        assert scrubbed == {"subject_line": "b", "unit": REDACTED}
    assert {name: getattr(mine, name) for name in untouched} == untouched
    assert request.result["scrubbed"] == {"signals.Trace": 1}
    event = AuditEvent.objects.get(action="erasure.scrub", object_type="signals.trace")
    assert event.object_id == str(mine.pk) and event.after["fields"] == [field]
    # Another workspace's trace with the same address is not touched.
    theirs_before = getattr(theirs, field)
    theirs.refresh_from_db()
    assert getattr(theirs, field) == theirs_before


def test_a_subject_key_in_json_is_scrubbed_without_losing_the_other_keys(cast):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "hash"})
    trace = stored_trace(cast.agent, experiment_assignments={EMAIL: "a", "other": "b"})
    _erase(cast, emails=[EMAIL])
    trace.refresh_from_db()
    assert trace.experiment_assignments == {REDACTED: "a", "other": "b"}


def test_erasure_unlinks_outcomes_from_the_subjects_hashes_and_keeps_the_events(cast):
    services.outcomes_ingest(
        actor=cast.agent,
        items=[
            outcome_item("k1", kind="complaint", contact=EMAIL.upper()),
            outcome_item("k2", account=EXTERNAL_ID, contact=OTHER_EMAIL),
            outcome_item("k3", account="acme-2", experiment_unit=f" {EMAIL} "),
            outcome_item("k4", contact=OTHER_EMAIL, account="acme-corp"),
        ],
    )
    services.outcomes_ingest(
        actor=cast.other_agent, items=[outcome_item("k1", kind="complaint", contact=EMAIL)]
    )
    assert Outcome.objects.count() == 5
    other_key = services.subject_hash("contact", OTHER_EMAIL)

    request = _erase(cast, emails=[EMAIL], external_ids=[EXTERNAL_ID])

    rows = {
        (o.workspace_id, o.kind, o.contact_hash, o.account_hash, o.experiment_unit_hash)
        for o in Outcome.objects.filter(workspace=cast.workspace)
    }
    ws = cast.workspace.pk
    assert rows == {
        (ws, "complaint", "", "", ""),
        (ws, "reply", other_key, "", ""),
        (ws, "reply", "", services.subject_hash("account", "acme-2"), ""),
        (ws, "reply", other_key, services.subject_hash("account", "acme-corp"), ""),
    }
    assert Outcome.objects.count() == 5  # unlinked, not deleted: rates and breakers still count
    theirs = Outcome.objects.get(workspace=cast.other_workspace)
    assert theirs.contact_hash == services.subject_hash("contact", EMAIL)
    assert request.result["scrubbed"] == {"signals.Outcome": 3}
    assert (
        AuditEvent.objects.filter(action="erasure.scrub", object_type="signals.outcome").count()
        == 3
    )


def test_outcomes_of_other_contacts_are_not_planned(cast):
    services.outcomes_ingest(actor=cast.agent, items=[outcome_item("k", contact=OTHER_EMAIL)])
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL]
    )
    assert "signals.Outcome" not in request.plan["scrub"]
    assert Trace.objects.count() == 0


def test_two_subject_keys_that_scrub_alike_both_survive(cast):
    privacy_policy_update(
        actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "hash", "PHONE": "hash"}
    )
    trace = stored_trace(cast.agent, experiment_assignments={EMAIL: "a", PHONE: "b", "x": "c"})
    _erase(cast, emails=[EMAIL], phones=[PHONE])
    trace.refresh_from_db()
    assert trace.experiment_assignments == {REDACTED: "a", f"{REDACTED}#2": "b", "x": "c"}


def test_an_outcome_of_a_phone_contact_in_normal_form_is_unlinked(cast):
    services.outcomes_ingest(
        actor=cast.agent, items=[outcome_item("p", kind="unsubscribe", contact=PHONE_E164)]
    )
    _erase(cast, phones=[PHONE])
    assert Outcome.objects.get().contact_hash == ""
