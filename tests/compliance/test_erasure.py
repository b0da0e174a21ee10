"""Data-subject erasure end to end: a subject seeded in memories, versions, tags, entities,
context task texts and stored API answers is gone afterwards from every text and JSON column of
every table, another subject's rows stay, and the audit trail keeps a tombstone."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.compliance import erasure
from apps.compliance.models import ErasureRequest, ErasureStatus, PiiFingerprint
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.memories import services as memories
from apps.memories.models import ContextAssembly, MemoryItem, MemoryVersion
from apps.memories.selectors import memories_for_context
from apps.privacy.services import privacy_policy_update
from tests.compliance.conftest import (
    EMAIL,
    EXTERNAL_ID,
    OTHER_EMAIL,
    PHONE,
    PHONE_E164,
    leftovers,
)
from tests.conftest import SYSTEM

PLAINTEXTS = {EMAIL, PHONE_E164}


def _hash_tokens(workspace_id: int) -> list[str]:
    from apps.compliance.subject import Subject

    subject = Subject(workspace_id, {"EMAIL": (EMAIL,), "PHONE": (PHONE_E164,)})
    return [n for n in subject.needles() if n.startswith("<")]


def _seed(cast: Any, client_as: Any, operators: dict[str, str]) -> dict[str, Any]:
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    owner = cast.user("owner")
    item = memories.memory_write(
        actor=owner,
        workspace=cast.workspace,
        content=f"Dana prefers calls on {PHONE}; mail {EMAIL} only for contracts.",
        type="preference",
        tier="workspace",
        tags=[EXTERNAL_ID],
        entities={"account": EXTERNAL_ID},
    ).item
    memories.memory_update(
        actor=owner, item=item, content=f"Dana ({EMAIL}) prefers calls.", reason="shorter"
    )
    placeholder_only = memories.memory_write(
        actor=owner,
        workspace=cast.workspace,
        content=f"Met {EMAIL} at the fair.",
        type="fact",
        tier="workspace",
    ).item
    other = memories.memory_write(
        actor=owner,
        workspace=cast.workspace,
        content=f"Bob ({OTHER_EMAIL}) wants a demo next week.",
        type="fact",
        tier="workspace",
    ).item
    memories_for_context(agent=cast.agent, task_text=f"Write to {EMAIL} about the renewal")
    response = client_as("agent").post(
        "/api/v1/memories",
        {"content": f"Call back {PHONE} on Monday", "type": "fact", "tier": "personal"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="subject-1",
    )
    assert response.status_code == 201, response.content
    return {"item": item, "placeholder_only": placeholder_only, "other": other}


def _erase(cast: Any) -> ErasureRequest:
    request = erasure.erasure_request_create(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        emails=[EMAIL.upper()],
        phones=[PHONE],
        external_ids=[EXTERNAL_ID],
        reason=f"GDPR art. 17 request from {EMAIL}",
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)
    request.refresh_from_db()
    return request


@pytest.mark.parametrize(
    "operators",
    [{}, {"EMAIL": "hash", "PHONE": "encrypt"}, {"EMAIL": "encrypt", "PHONE": "hash"}],
    ids=["placeholders", "hash-and-encrypt", "encrypt-and-hash"],
)
def test_erasure_removes_every_trace_of_the_subject_and_keeps_a_tombstone(
    cast, client_as, operators
):
    seeded = _seed(cast, client_as, operators)
    needles = [EMAIL, PHONE, PHONE_E164, EXTERNAL_ID, *_hash_tokens(cast.workspace.pk)]
    before = {t for t, _ in leftovers(needles, PLAINTEXTS)}
    assert before & {"memories_memoryitem", "memories_memoryversion", "memories_contextassembly"}

    request = _erase(cast)

    assert request.status == ErasureStatus.DONE
    assert request.sealed_subject == ""
    remaining = {(t, c) for t, c in leftovers(needles, PLAINTEXTS) if t != "audit_auditevent"}
    assert remaining == set()
    # Not even the audit trail holds a raw e-mail or phone. External ids are not personal data
    # to the PII engine, so audit snapshots keep them (docs/compliance.md says so).
    assert leftovers([EMAIL, PHONE, PHONE_E164], set()) == []
    assert {t for t, _ in leftovers([EXTERNAL_ID], set())} == {"audit_auditevent"}
    assert not MemoryItem.objects.filter(
        pk__in=[seeded["item"].pk, seeded["placeholder_only"].pk]
    ).exists()
    assert not MemoryVersion.objects.filter(item_id=seeded["item"].pk).exists()
    assert not ContextAssembly.objects.exists()
    assert MemoryItem.objects.filter(pk=seeded["other"].pk).exists()
    assert PiiFingerprint.objects.filter(object_id=seeded["other"].pk).exists()
    tombstone = AuditEvent.objects.get(pk=request.tombstone_event_id)
    assert tombstone.action == "erasure.tombstone"
    assert tombstone.after["deleted"]["memories.MemoryItem"] >= 3
    if operators:  # a stored API answer holding the subject's hash or encrypted token goes too
        assert tombstone.after["deleted"]["core.IdempotencyRecord"] == 1


def test_the_dry_run_plans_without_changing_anything(cast, client_as):
    seeded = _seed(cast, client_as, {})
    items, events = MemoryItem.objects.count(), AuditEvent.objects.count()

    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL]
    )

    assert request.status == ErasureStatus.PLANNED
    planned = request.plan["delete"]["memories.MemoryItem"]["ids"]
    assert seeded["item"].pk in planned and seeded["placeholder_only"].pk in planned
    assert seeded["other"].pk not in planned
    assert MemoryItem.objects.count() == items
    assert AuditEvent.objects.count() == events + 1
    assert EMAIL not in str(ErasureRequest.objects.filter(pk=request.pk).values().get())
    assert request.subject_label == "d***@example.com"


@pytest.mark.parametrize(
    "who", ["reviewer", "editor", "auditor", "viewer", "team_admin", "outsider", "nobody"]
)
def test_only_owners_admins_and_operators_may_request_an_erasure(cast, who):
    count = ErasureRequest.objects.count()

    with pytest.raises(Forbidden):
        erasure.erasure_request_create(
            actor=cast.user(who), workspace=cast.workspace, emails=[EMAIL]
        )

    assert ErasureRequest.objects.count() == count


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("owner", False),
        ("admin", True),
        ("operator", True),
        ("auditor", False),
        ("reviewer", False),
        ("editor", False),
        ("outsider", False),
    ],
)
def test_approval_needs_a_second_owner_or_admin(cast, who, allowed):
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL]
    )

    if allowed:
        erasure.erasure_request_approve(actor=cast.user(who), request=request)
        request.refresh_from_db()
        assert request.status == ErasureStatus.APPROVED
    else:
        with pytest.raises(Forbidden):
            erasure.erasure_request_approve(actor=cast.user(who), request=request)
        request.refresh_from_db()
        assert request.status == ErasureStatus.PLANNED


def test_a_decided_request_cannot_be_decided_again(cast):
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL]
    )
    erasure.erasure_request_reject(actor=cast.user("admin"), request=request, reason="duplicate")

    with pytest.raises(Conflict):
        erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    request.refresh_from_db()
    assert request.status == ErasureStatus.REJECTED and request.sealed_subject == ""


@pytest.mark.parametrize(
    "identifiers",
    [
        {},
        {"emails": ["not-an-email"]},
        {"emails": [f"{EMAIL} and more"]},
        {"phones": ["12"]},
        {"phones": [EMAIL]},
        {"external_ids": ["ab"]},
        {"external_ids": ["has space"]},
        {"external_ids": [123]},
        {"emails": [f"user{i}@example.com" for i in range(21)]},
    ],
)
def test_bad_identifiers_are_refused_and_nothing_is_stored(cast, identifiers):
    with pytest.raises(ValidationFailed):
        erasure.erasure_request_create(
            actor=cast.user("owner"), workspace=cast.workspace, **identifiers
        )

    assert ErasureRequest.objects.count() == 0


def test_erasure_runs_on_a_real_worker(cast, celery_worker, client_as):
    _seed(cast, client_as, {})
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL]
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)

    import time

    for _ in range(200):
        request.refresh_from_db()
        if request.status in (ErasureStatus.DONE, ErasureStatus.FAILED):
            break
        time.sleep(0.05)
    assert request.status == ErasureStatus.DONE
    assert request.processed == request.total > 0
