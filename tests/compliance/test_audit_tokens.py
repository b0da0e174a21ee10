"""Issue 6: with the hash or encrypt operator, a subject's memory written through the API, edited
in review, approved and then erased leaves nothing in any table — not in the audit trail
either, whose events carry placeholders instead of tokens — while the tombstone stays and the
hash chain still verifies. Audit events written before that change (legacy) may still hold
tokens: erasure counts them under `legacy_tokens` and the report says so."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from apps.audit.chain import audit_chain_verify
from apps.audit.models import AuditEvent
from apps.compliance import erasure
from apps.compliance.models import ErasureRequest, ErasureStatus
from apps.compliance.subject import Subject
from apps.memories.models import MemoryItem
from apps.privacy.engine import EntityType
from apps.privacy.engine.keys import encrypt_token
from apps.privacy.engine.unlink import LINKABLE_TOKEN
from apps.privacy.keyring import masking_keys
from apps.privacy.services import privacy_policy_update
from apps.reviews.models import ReviewRequest
from apps.reviews.services import review_approve, review_edit
from tests.compliance.conftest import EMAIL, EXTERNAL_ID, PHONE, PHONE_E164, leftovers
from tests.conftest import SYSTEM

PLAINTEXTS = {EMAIL, PHONE_E164}
OPERATORS = [
    pytest.param({"EMAIL": "hash", "PHONE": "hash"}, id="hash"),
    pytest.param({"EMAIL": "encrypt", "PHONE": "encrypt"}, id="encrypt"),
]


def needles(workspace_id: int) -> list[str]:
    """The raw values in every spelling, and their hash tokens under the current key."""
    subject = Subject(workspace_id, {"EMAIL": (EMAIL,), "PHONE": (PHONE_E164,)})
    return [EMAIL, PHONE, PHONE_E164, *subject.needles()]


def audit_text(workspace_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t::text FROM audit_auditevent t WHERE workspace_id = %s", [workspace_id]
        )
        return "\n".join(row[0] for row in cursor.fetchall())


def write_edit_approve(cast: Any, client_as: Any) -> MemoryItem:
    """An agent proposes through the API, a reviewer edits, another reviewer approves."""
    response = client_as("agent").post(
        "/api/v1/memories",
        {
            "content": f"Dana: mail {EMAIL}, call {PHONE} after 10am.",
            "type": "preference",
            "tier": "personal",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    item = MemoryItem.objects.get(pk=response.json()["item"]["id"])
    request = ReviewRequest.objects.get(memory=item, status="pending")
    review_edit(
        actor=cast.user("reviewer"),
        request=request,
        content=f"Dana prefers calls on {PHONE}; mail {EMAIL} only for contracts.",
        reason=f"{EMAIL} asked for calls",
    )
    review_approve(actor=cast.user("admin"), request=request, reason="fine")
    item.refresh_from_db()
    assert item.status == "approved" and item.version >= 2
    return item


def erase(cast: Any, **identifiers: Any) -> ErasureRequest:
    request = erasure.erasure_request_create(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        reason=f"GDPR art. 17 request from {EMAIL}",
        **identifiers,
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)
    request.refresh_from_db()
    return request


@pytest.mark.parametrize("operators", OPERATORS)
def test_erasure_leaves_no_value_and_no_token_in_any_table_audit_trail_included(
    cast, client_as, operators
):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    item = write_edit_approve(cast, client_as)
    wanted = needles(cast.workspace.pk)
    before = {table for table, _ in leftovers(wanted, PLAINTEXTS)}
    assert "memories_memoryitem" in before and "memories_memoryversion" in before
    assert "audit_auditevent" not in before
    assert not LINKABLE_TOKEN.search(audit_text(cast.workspace.pk))

    request = erase(cast, emails=[EMAIL], phones=[PHONE])

    assert request.status == ErasureStatus.DONE
    assert leftovers(wanted, PLAINTEXTS) == []
    assert not MemoryItem.objects.filter(pk=item.pk).exists()
    tombstone = AuditEvent.objects.get(pk=request.tombstone_event_id)
    assert tombstone.action == "erasure.tombstone"
    assert tombstone.after["deleted"]["memories.MemoryItem"] == 1
    assert tombstone.after["kept"] == {} and tombstone.after["legacy_tokens"] == {}
    assert request.plan["kept"] == {} and request.plan["legacy_tokens"] == {}
    assert all(result.ok for result in audit_chain_verify())
    report = erasure.erasure_report(request)
    assert "Kept audit events that mention the subject: 0" in report["remains"]
    assert "legacy_tokens" not in report["remains"]


def legacy_event(cast: Any, item: MemoryItem) -> AuditEvent:
    """An event as audit_event_record wrote it before it unlinked tokens: the memory's masked
    content copied in as stored, tokens and all (the ORM still chains it)."""
    keys = masking_keys()
    with transaction.atomic():
        return AuditEvent.objects.create(
            workspace_id=cast.workspace.pk,
            actor_kind="user",
            actor_id=str(cast.user("owner").pk),
            actor_label="owner",
            action="memory.update",
            object_type="memories.memoryitem",
            object_id=str(item.pk),
            object_repr=f"#{item.pk}",
            before={"content": item.content},
            after={"content": f"Call {encrypt_token(EntityType.PHONE, PHONE, keys)}"},
            reason="",
        )


@pytest.mark.parametrize("operators", OPERATORS)
def test_legacy_audit_events_with_tokens_are_counted_and_reported(cast, client_as, operators):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    item = write_edit_approve(cast, client_as)
    legacy = legacy_event(cast, item)

    request = erase(cast, emails=[EMAIL], phones=[PHONE])

    assert request.plan["kept"]["audit.AuditEvent"]["ids"] == [legacy.pk]
    assert request.plan["legacy_tokens"]["audit.AuditEvent"]["ids"] == [legacy.pk]
    assert request.result["kept"] == {"audit.AuditEvent": 1}
    assert request.result["legacy_tokens"] == {"audit.AuditEvent": 1}
    remaining = {table for table, _ in leftovers(needles(cast.workspace.pk), PLAINTEXTS)}
    assert remaining == {"audit_auditevent"}  # the legacy event, and only it
    assert AuditEvent.objects.filter(pk=legacy.pk).exists()
    report = erasure.erasure_report(request)
    assert "Kept audit events that mention the subject: 1" in report["remains"]
    assert "1 of them were written before" in report["remains"]
    assert all(result.ok for result in audit_chain_verify())


def test_external_ids_in_clear_are_kept_but_are_not_legacy_tokens(cast):
    from apps.memories import services as memories

    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "hash"})
    memories.memory_write(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        content=f"Account of {EMAIL}",
        type="fact",
        tier="workspace",
        tags=[EXTERNAL_ID],
    )

    request = erase(cast, emails=[EMAIL], external_ids=[EXTERNAL_ID])

    assert request.result["kept"]["audit.AuditEvent"] >= 1
    assert request.result["legacy_tokens"] == {}
    assert leftovers(needles(cast.workspace.pk), PLAINTEXTS) == []
    report = erasure.erasure_report(request)
    assert "external id" in report["remains"] and "legacy_tokens" not in report["remains"]


def test_the_report_of_a_request_planned_before_legacy_tokens_keeps_its_old_words(cast):
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL]
    )
    old_plan = {key: value for key, value in request.plan.items() if key != "legacy_tokens"}
    ErasureRequest.objects.filter(pk=request.pk).update(plan=old_plan)
    request.refresh_from_db()

    report = erasure.erasure_report(request)

    assert "counted under 'kept'" in report["remains"]
    assert "Kept audit events that mention" not in report["remains"]
