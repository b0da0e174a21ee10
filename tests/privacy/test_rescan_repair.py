"""Values that slipped past the masker (written before a field was screened, or straight into
the table) are found by the re-scan walking the whole field registry: mutable rows are
repaired, audit events are redacted (apps.audit.services.audit_event_redact), and the audit
chain still verifies afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from apps.audit.models import AuditEvent, AuditRedaction
from apps.core.idempotency import key_digest
from apps.core.models import IdempotencyRecord
from apps.memories.models import MemoryItem
from apps.privacy import rescan, services
from apps.privacy.models import PiiScanJob, ScanStatus
from apps.workspaces.models import Team
from tests.memories.factories import MemoryItemFactory
from tests.privacy.conftest import EMAIL, PHONE, assert_no_raw_pii, stored_audit_text


def stored(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t WHERE id = %s", [pk])  # noqa: S608 - test tables
        return str(cursor.fetchone()[0])


def run_rescan(workspace: Any) -> PiiScanJob:
    job = PiiScanJob.objects.create(workspace=workspace)
    assert rescan.pii_rescan_execute(job_id=job.pk) is True
    job.refresh_from_db()
    assert job.status == ScanStatus.DONE, job.error
    return job


def batches(job: PiiScanJob) -> dict[str, dict[str, Any]]:
    """The job's pii.rescan_batch events by field label (one batch per field here)."""
    events = AuditEvent.objects.filter(action="pii.rescan_batch", object_id=str(job.pk))
    return {event.after["field"]: event.after for event in events.order_by("id")}


def plant_audit_event(workspace: Any, team: Team) -> AuditEvent:
    """An event written without audit_event_record's masking (an older Steward did so)."""
    return AuditEvent.objects.create(
        workspace_id=workspace.pk,
        actor_kind="system",
        actor_id="legacy-import",
        actor_label="system:legacy-import",
        action="team.update",
        object_type="workspaces.team",
        object_id=str(team.pk),
        before={"name": "Sales"},
        after={"name": f"Sales of {EMAIL}"},
    )


@pytest.fixture
def planted(cast: Any) -> dict[str, Any]:
    workspace = cast.workspace
    item = MemoryItemFactory(workspace=workspace, content="Short demos win")
    MemoryItem.objects.filter(pk=item.pk).update(
        content=f"Call {PHONE} or write to {EMAIL}", tags=[EMAIL]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE workspaces_team SET name = %s WHERE id = %s",
            [f"Sales of {EMAIL}", cast.sales.pk],
        )
    event = plant_audit_event(workspace, cast.sales)
    return {"item": item, "team": cast.sales, "event": event}


def test_values_planted_past_the_masker_are_found_and_repaired(cast, planted):
    item, team, event = planted["item"], planted["team"], planted["event"]

    job = run_rescan(cast.workspace)

    item.refresh_from_db()
    team.refresh_from_db()
    assert item.content == "Call <PHONE_1> or write to <EMAIL_1>"
    assert item.tags == ["<EMAIL_1>"]
    assert team.name == "Sales of <EMAIL_1>"
    assert_no_raw_pii(stored("memories_memoryitem", item.pk) + stored("workspaces_team", team.pk))
    found = batches(job)
    assert found["memories.MemoryItem.content"]["changed_ids"] == [item.pk]
    assert found["memories.MemoryItem.tags"]["changed_ids"] == [item.pk]
    assert found["workspaces.Team.name"]["changed_ids"] == [team.pk]
    assert job.changed == 4  # three rows repaired, one audit event redacted
    # The audit event is redacted in place: masked text, same hash, the redaction on record.
    assert found["audit.AuditEvent.after"]["redacted_ids"] == [event.pk]
    assert found["audit.AuditEvent.after"]["changed_ids"] == []
    assert "kept_ids" not in found["audit.AuditEvent.after"]
    redacted = AuditEvent.objects.get(pk=event.pk)
    assert redacted.after == {"name": "Sales of <EMAIL_1>"}
    assert (redacted.hash, redacted.prev_hash, redacted.chain_seq) == (
        event.hash,
        event.prev_hash,
        event.chain_seq,
    )
    redaction = AuditRedaction.objects.get(event_id=event.pk)
    assert (redaction.fields, redaction.job) == (["after"], f"privacy.piiscanjob:{job.pk}")
    assert_no_raw_pii(stored_audit_text())  # the whole trail, the redaction's own event too
    call_command("audit_verify")  # raises CommandError when a chain is broken


def test_a_second_rescan_finds_nothing_left_to_repair(cast, planted):
    run_rescan(cast.workspace)
    item_text = stored("memories_memoryitem", planted["item"].pk)
    event_text = stored_audit_text([planted["event"].pk])

    again = run_rescan(cast.workspace)

    assert again.changed == 0
    assert stored("memories_memoryitem", planted["item"].pk) == item_text
    assert stored_audit_text([planted["event"].pk]) == event_text
    assert batches(again) == {}
    assert AuditRedaction.objects.count() == 1
    call_command("audit_verify")


def test_a_masked_value_longer_than_its_column_is_clipped_to_fit(cast):
    services.privacy_policy_update(
        actor=cast.user("owner"), workspace=cast.workspace, operators={"EMAIL": "hash"}
    )
    raw = "x" * 110 + " a@b.co"  # 117 of 120 characters; 135 with a 24-character hash token
    Team.objects.filter(pk=cast.marketing.pk).update(name=raw)

    job = run_rescan(cast.workspace)

    cast.marketing.refresh_from_db()
    assert len(cast.marketing.name) == 120
    assert cast.marketing.name.startswith("x" * 110 + " <EMAIL:")
    assert "a@b.co" not in cast.marketing.name
    assert batches(job)["workspaces.Team.name"]["clipped_ids"] == [cast.marketing.pk]


def test_stored_api_answers_of_the_workspace_members_are_repaired(cast):
    owner = cast.user("owner")
    record = IdempotencyRecord.objects.create(
        principal_kind="user",
        principal_id=str(owner.pk),
        key=key_digest("k"),
        method="POST",
        path=f"/api/v1/teams?for={EMAIL}",
        request_hash="0" * 64,
        status_code=400,
        response_body=f'{{"error": {{"message": "No account {EMAIL}"}}}}',
    )
    outsider = IdempotencyRecord.objects.create(
        principal_kind="user",
        principal_id=str(cast.user("outsider").pk),
        key=key_digest("k"),
        method="POST",
        path=f"/api/v1/teams?for={EMAIL}",
        request_hash="0" * 64,
    )

    run_rescan(cast.workspace)

    assert_no_raw_pii(stored("core_idempotencyrecord", record.pk))
    record.refresh_from_db()
    assert record.response_body == '{"error": {"message": "No account <EMAIL_1>"}}'
    assert EMAIL in stored("core_idempotencyrecord", outsider.pk)  # another workspace's member
