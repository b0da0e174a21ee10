"""Erasure's own mutations are on record: every delete batch and every scrubbed row has an
audit event naming its rows by id (and the scrubbed fields by name), a failed run has an
`erasure.fail` event, none of them holds the subject's values or tokens, and the hash chain
still verifies afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import OperationalError

from apps.audit.chain import audit_chain_verify
from apps.audit.models import AuditEvent
from apps.compliance import erasure
from apps.compliance.models import ErasureRequest, ErasureStatus, PiiFingerprint
from apps.compliance.subject import Subject
from apps.memories import services as memories
from apps.memories.models import MemoryItem
from apps.memories.selectors import memories_for_context
from apps.privacy.engine.unlink import LINKABLE_TOKEN
from apps.privacy.services import privacy_policy_update
from apps.workspaces.models import Agent
from apps.workspaces.services import agent_update
from tests.audit.reconciling import reconcile
from tests.compliance.conftest import EMAIL, OTHER_EMAIL, PHONE, PHONE_E164
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

OPERATORS = [
    pytest.param({}, id="placeholders"),
    pytest.param({"EMAIL": "hash", "PHONE": "hash"}, id="hash"),
    pytest.param({"EMAIL": "encrypt", "PHONE": "encrypt"}, id="encrypt"),
]
EVENT_FIELDS = ("before", "after", "reason", "object_repr", "actor_label", "object_id")


def _seed(cast: Any, memories_of_subject: int = 3) -> dict[str, Any]:
    owner = cast.user("owner")
    items = [
        memories.memory_write(
            actor=owner,
            workspace=cast.workspace,
            content=f"Note {n}: Dana ({EMAIL}, {PHONE}) prefers calls.",
            type="fact",
            tier="workspace",
        ).item
        for n in range(memories_of_subject)
    ]
    other = memories.memory_write(
        actor=owner,
        workspace=cast.workspace,
        content=f"Bob ({OTHER_EMAIL}) wants a demo.",
        type="fact",
        tier="workspace",
    ).item
    memories_for_context(agent=cast.agent, task_text=f"Write to {EMAIL} about the renewal")
    agent_update(actor=owner, agent=cast.agent, description=f"Escalates to {EMAIL}")
    return {"items": items, "other": other}


def _approved(cast: Any) -> ErasureRequest:
    request = erasure.erasure_request_create(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        emails=[EMAIL],
        phones=[PHONE],
        reason=f"GDPR art. 17 request from {EMAIL}",
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    return request


def _events(request: ErasureRequest, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, after__request=request.pk).order_by("pk"))


def _event_text(event: AuditEvent) -> str:
    return json.dumps({name: getattr(event, name) for name in EVENT_FIELDS}, default=str)


def _identifying(workspace_id: int, text: str) -> list[str]:
    """The subject's raw values (any spelling) and hash or encrypted tokens found in `text`."""
    subject = Subject(workspace_id, {"EMAIL": (EMAIL,), "PHONE": (PHONE_E164,)})
    found = subject.tokens_in(text)
    found += [raw for raw in (EMAIL, PHONE, PHONE_E164) if raw.lower() in text.lower()]
    found += LINKABLE_TOKEN.findall(text)
    return found


def test_each_delete_batch_has_an_event_listing_its_ids(cast, settings):
    settings.ERASURE_BATCH_SIZE = 2
    seeded = _seed(cast, memories_of_subject=5)
    request = _approved(cast)

    erasure.erasure_execute(request_id=request.pk)

    batches = [
        e
        for e in _events(request, "erasure.delete_batch")
        if e.object_type == MemoryItem._meta.label_lower
    ]
    assert [len(e.after["ids"]) for e in batches] == [2, 2, 1]
    listed = [pk for e in batches for pk in e.after["ids"]]
    assert listed == sorted(item.pk for item in seeded["items"])
    assert all(set(e.after) == {"request", "ids"} for e in batches)
    assert all(e.object_id == "" and e.before is None for e in batches)
    assert all(e.workspace_id == cast.workspace.pk and e.actor_kind == "system" for e in batches)
    assert {e.actor_label for e in batches} == {erasure.ERASURE_ACTOR.label}
    assert MemoryItem.objects.filter(pk=seeded["other"].pk).exists()
    assert seeded["other"].pk not in listed


def test_each_scrubbed_row_has_an_event_naming_the_row_and_its_fields(cast):
    _seed(cast)
    request = _approved(cast)

    erasure.erasure_execute(request_id=request.pk)

    scrubs = _events(request, "erasure.scrub")
    assert [(e.object_type, e.object_id) for e in scrubs] == [
        ("workspaces.agent", str(cast.agent.pk))
    ]
    assert scrubs[0].after == {"request": request.pk, "fields": ["description"]}
    assert scrubs[0].before is None
    assert EMAIL not in Agent.objects.get(pk=cast.agent.pk).description


@pytest.mark.parametrize("operators", OPERATORS)
def test_erasure_events_hold_no_value_and_no_token_of_the_subject(cast, operators):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    _seed(cast)
    request = _approved(cast)
    mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

    erasure.erasure_execute(request_id=request.pk)

    written = list(AuditEvent.objects.filter(pk__gt=mark).order_by("pk"))
    actions = {e.action for e in written}
    assert {"erasure.delete_batch", "erasure.scrub", "erasure.tombstone"} <= actions
    assert {e.action for e in written if e.action.startswith("erasure.")} == actions
    assert {e: _identifying(cast.workspace.pk, _event_text(e)) for e in written} == {
        e: [] for e in written
    }
    assert all(result.ok for result in audit_chain_verify())


def test_an_erasure_run_is_reconciled_with_leftover_fingerprints_on_record(cast):
    """A fingerprint whose row is already gone (no snapshot maps it to anything) is deleted by
    the run's last step; its own batch event accounts for it."""
    seeded = _seed(cast)
    gone = seeded["items"][0]
    stale = list(
        PiiFingerprint.objects.filter(model_label="memories.MemoryItem", object_id=gone.pk)
    )
    assert stale
    MemoryItem._base_manager.filter(pk=gone.pk).delete()  # setup: a row removed out of band
    request = _approved(cast)

    result = reconcile(lambda: erasure.erasure_execute(request_id=request.pk))

    assert result.missing == []
    fingerprint_ids = {
        pk
        for e in _events(request, "erasure.delete_batch")
        if e.object_type == "compliance.piifingerprint"
        for pk in e.after["ids"]
    }
    assert {f.pk for f in stale} <= fingerprint_ids
    assert not PiiFingerprint.objects.filter(pk__in=fingerprint_ids).exists()


def test_a_batch_and_its_event_commit_together(cast, settings, monkeypatch):
    settings.ERASURE_BATCH_SIZE = 1
    seeded = _seed(cast, memories_of_subject=2)
    request = _approved(cast)
    record = erasure.audit_event_record
    calls = {"batches": 0}

    def failing_second_batch(**kwargs: Any) -> AuditEvent:
        if kwargs.get("object_type") == "memories.memoryitem":
            calls["batches"] += 1
            if calls["batches"] == 2:
                raise OperationalError("connection lost")
        return record(**kwargs)

    monkeypatch.setattr(erasure, "audit_event_record", failing_second_batch)

    with pytest.raises(OperationalError):
        erasure.erasure_execute(request_id=request.pk)

    first, second = sorted(item.pk for item in seeded["items"])
    assert not MemoryItem.objects.filter(pk=first).exists()
    assert MemoryItem.objects.filter(pk=second).exists()
    batches = _events(request, "erasure.delete_batch")
    assert [e.after["ids"] for e in batches if e.object_type == "memories.memoryitem"] == [[first]]
    request.refresh_from_db()
    assert request.processed == len(batches)  # every committed batch, and only those


def test_a_failed_run_is_audited_with_the_error_class_only(cast):
    _seed(cast)
    request = _approved(cast)
    assert erasure.erasure_claim(request.pk)

    erasure.erasure_fail(request.pk, OperationalError(f"duplicate key ({EMAIL})"))

    request.refresh_from_db()
    assert request.status == ErasureStatus.FAILED
    assert request.error == "OperationalError"
    assert request.sealed_subject != ""  # kept for a retry
    [event] = AuditEvent.objects.filter(action="erasure.fail")
    assert (event.object_type, event.object_id) == ("compliance.erasurerequest", str(request.pk))
    assert event.after == {"status": ErasureStatus.FAILED, "error": "OperationalError"}
    assert event.workspace_id == cast.workspace.pk and event.actor_kind == "system"
    assert _identifying(cast.workspace.pk, _event_text(event)) == []
    assert "duplicate key" not in _event_text(event)
    assert all(result.ok for result in audit_chain_verify())


def test_a_failed_run_is_reconciled(cast):
    _seed(cast)
    request = _approved(cast)

    def fail() -> None:
        assert erasure.erasure_claim(request.pk)
        erasure.erasure_fail(request.pk, RuntimeError("boom"))

    result = reconcile(fail)

    assert result.missing == []
    assert result.count("compliance.erasurerequest") == 1


@pytest.mark.parametrize("status", [ErasureStatus.PLANNED, ErasureStatus.APPROVED, "done"])
def test_failing_a_request_that_is_not_running_changes_nothing(cast, status):
    _seed(cast)
    request = _approved(cast)
    if status == "done":
        erasure.erasure_execute(request_id=request.pk)
    else:
        ErasureRequest.objects.filter(pk=request.pk).update(status=status)
    before = ErasureRequest.objects.filter(pk=request.pk).values().get()
    events = AuditEvent.objects.count()

    erasure.erasure_fail(request.pk, RuntimeError("late"))

    assert ErasureRequest.objects.filter(pk=request.pk).values().get() == before
    assert AuditEvent.objects.count() == events


def test_failing_twice_or_an_unknown_request_writes_one_event(cast):
    _seed(cast)
    request = _approved(cast)
    assert erasure.erasure_claim(request.pk)

    erasure.erasure_fail(request.pk, RuntimeError("first"))
    erasure.erasure_fail(request.pk, RuntimeError("again"))
    erasure.erasure_fail(request.pk + 1000, RuntimeError("unknown"))

    assert AuditEvent.objects.filter(action="erasure.fail").count() == 1
    request.refresh_from_db()
    assert request.error == "RuntimeError"


def test_the_claim_is_audited_once_and_a_redelivery_claims_without_a_second_event(cast):
    _seed(cast)
    request = _approved(cast)

    first = erasure.erasure_claim(request.pk)
    again = erasure.erasure_claim(request.pk)  # a redelivered message after a lost worker

    request.refresh_from_db()
    assert first and again and request.status == ErasureStatus.RUNNING
    started = list(AuditEvent.objects.filter(action="erasure.start", object_id=str(request.pk)))
    assert len(started) == 1
    assert started[0].after["status"] == ErasureStatus.RUNNING
    assert started[0].object_type == "compliance.erasurerequest"


def test_a_request_not_approved_is_not_claimed_and_not_audited(cast):
    _seed(cast)
    request = _approved(cast)
    ErasureRequest.objects.filter(pk=request.pk).update(status=ErasureStatus.DONE)

    assert not erasure.erasure_claim(request.pk)
    assert not AuditEvent.objects.filter(action="erasure.start").exists()
