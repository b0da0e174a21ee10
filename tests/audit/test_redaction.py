"""Redactable audit events: personal data that slipped into an event is replaced by its masked
form through one narrowly allowed UPDATE, the event keeps its hash, a redaction record and a
chained audit.redact event keep the chain verifying, and any other change is still refused by
the database or caught by verification."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from apps.audit.chain import audit_chain_verify, audit_verification_run_record
from apps.audit.models import AppendOnlyError, AuditEvent, AuditRedaction
from apps.audit.services import audit_event_record, audit_event_redact
from apps.compliance.exports import verify_chain
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.privacy.services import privacy_policy_update
from tests.conftest import ROLES_AND_OTHERS, SYSTEM

EMAIL = "dana.fox@example.com"
MASKED = {
    "before": {"name": "Sales"},
    "after": {"name": "Sales of <EMAIL_1>"},
    "reason": "asked by <EMAIL_1>",
    "object_repr": "Sales of <EMAIL_1>",
}


@pytest.fixture
def planted(cast: Any) -> AuditEvent:
    """An event written without audit_event_record's masking (an older Steward did so), with
    events before and after it in its chain."""
    with transaction.atomic():
        audit_event_record(actor=SYSTEM, action="test.before", workspace_id=cast.workspace.pk)
        event = AuditEvent.objects.create(
            workspace_id=cast.workspace.pk,
            actor_kind="system",
            actor_id="legacy-import",
            actor_label="system:legacy-import",
            action="team.update",
            object_type="workspaces.team",
            object_id=str(cast.sales.pk),
            object_repr=f"Sales of {EMAIL}",
            before={"name": "Sales"},
            after={"name": f"Sales of {EMAIL}"},
            reason=f"asked by {EMAIL}",
        )
        audit_event_record(actor=SYSTEM, action="test.after", workspace_id=cast.workspace.pk)
    return event


def redact(event: AuditEvent, actor: Any = SYSTEM, **replacements: Any) -> AuditRedaction | None:
    return audit_event_redact(
        actor=actor, event=event, replacements=replacements, reason="PII found by a test"
    )


def row(event_id: int) -> dict[str, Any]:
    return AuditEvent.objects.filter(pk=event_id).values()[0]


def stored_text(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t WHERE id = %s", [pk])  # noqa: S608 - test tables
        return str(cursor.fetchone()[0])


def as_attacker(sql: str, params: list[Any]) -> None:
    """SQL run by someone with database access (triggers switched off)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def with_setting(setting: str, sql: str, params: list[Any]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('steward.audit_redact', %s, true)", [setting])
        cursor.execute(sql, params)


def chain_result(workspace_id: int) -> Any:
    [result] = audit_chain_verify(workspace_id=workspace_id)
    return result


# --- redaction ---------------------------------------------------------------------------------


def test_a_redacted_event_holds_masked_text_and_audit_verify_passes(cast, planted):
    original = row(planted.pk)

    redaction = redact(planted, **MASKED)

    stored = row(planted.pk)
    assert EMAIL not in stored_text("audit_auditevent", planted.pk)
    assert {name: stored[name] for name in MASKED} == MASKED
    unchanged = set(original) - set(MASKED)
    assert {k: stored[k] for k in unchanged} == {k: original[k] for k in unchanged}
    assert redaction is not None
    assert redaction.fields == ["after", "object_repr", "reason"]  # before was clean already
    assert (redaction.original_hash, redaction.workspace_id) == (planted.hash, cast.workspace.pk)
    assert redaction.redacted_hash != planted.hash
    record = redaction.redaction_event
    assert (record.action, record.object_id, record.workspace_id) == (
        "audit.redact",
        str(planted.pk),
        planted.workspace_id,
    )
    assert record.after == {
        "event_id": planted.pk,
        "seq": planted.chain_seq,
        "fields": redaction.fields,
        "original_hash": planted.hash,
        "redacted_hash": redaction.redacted_hash,
        "job": "",
    }
    assert EMAIL not in stored_text("audit_auditevent", record.pk)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)  # raises CommandError when a chain is broken
    assert f"event {planted.pk} seq {planted.chain_seq}: redacted (" in out.getvalue()
    assert "after, object_repr, reason" in out.getvalue()


def test_the_verification_result_lists_the_redacted_event(cast, planted):
    redaction = redact(planted, after=MASKED["after"])

    result = chain_result(cast.workspace.pk)

    assert result.ok, result.problem
    assert result.redacted == [
        {
            "event_id": planted.pk,
            "seq": planted.chain_seq,
            "redacted_at": redaction.created_at.isoformat(),
            "job": "",
            "fields": ["after"],
            "original_hash": planted.hash,
            "redacted_hash": redaction.redacted_hash,
            "redaction_event_ids": [redaction.redaction_event_id],
        }
    ]
    assert verify_chain(cast.workspace.pk)["redacted"][0]["event_id"] == planted.pk  # exports


def test_raw_values_passed_in_are_masked_and_keyed_tokens_unlinked(cast, planted):
    privacy_policy_update(
        actor=cast.user("owner"), workspace=cast.workspace, operators={"EMAIL": "hash"}
    )

    redact(planted, reason=f"asked by {EMAIL}", after={"name": f"Sales of {EMAIL}"})

    stored = row(planted.pk)
    assert stored["reason"] == "asked by <EMAIL_1>"
    assert stored["after"] == {"name": "Sales of <EMAIL_1>"}
    assert chain_result(cast.workspace.pk).ok


def test_redacting_an_event_twice_keeps_the_chain_verifying(cast, planted):
    first = redact(planted, after=MASKED["after"])
    second = redact(planted, reason=MASKED["reason"])

    result = chain_result(cast.workspace.pk)

    assert first is not None and second is not None
    assert first.original_hash == second.original_hash == planted.hash
    assert result.ok, result.problem
    assert result.redacted[0]["fields"] == ["after", "reason"]
    assert result.redacted[0]["redacted_hash"] == second.redacted_hash


def test_the_next_events_still_link_to_the_stored_hash(cast, planted):
    redact(planted, **MASKED)
    successor = AuditEvent.objects.get(
        workspace_id=cast.workspace.pk, chain_seq=planted.chain_seq + 1
    )

    assert successor.action == "test.after"
    assert successor.prev_hash == row(planted.pk)["hash"] == planted.hash
    assert chain_result(cast.workspace.pk).ok


def test_nothing_to_redact_writes_nothing(cast, planted):
    redact(planted, **MASKED)
    before = (AuditEvent.objects.count(), AuditRedaction.objects.count(), row(planted.pk))

    assert redact(planted, **MASKED) is None

    assert (AuditEvent.objects.count(), AuditRedaction.objects.count(), row(planted.pk)) == before


@pytest.mark.parametrize(
    "replacements",
    [{}, {"action": "x"}, {"actor_label": "x"}, {"hash": "0" * 64}, {"reason": 7}],
    ids=["nothing", "action", "actor_label", "hash", "reason-not-text"],
)
def test_only_content_fields_can_be_redacted(cast, planted, replacements):
    original = row(planted.pk)

    with pytest.raises(ValidationFailed):
        redact(planted, **replacements)

    assert row(planted.pk) == original
    assert not AuditRedaction.objects.exists()


@pytest.mark.parametrize("who", [*ROLES_AND_OTHERS, "agent", "system"])
def test_who_may_redact(cast, planted, who):
    actor = {"agent": cast.agent, "system": SYSTEM}.get(who) or cast.user(who)
    original = row(planted.pk)
    events = AuditEvent.objects.count()

    if who in {"operator", "system"}:
        assert redact(planted, actor=actor, **MASKED) is not None
        assert chain_result(cast.workspace.pk).ok
    else:
        with pytest.raises(Forbidden):
            redact(planted, actor=actor, **MASKED)
        assert row(planted.pk) == original
        assert AuditEvent.objects.count() == events
        assert not AuditRedaction.objects.exists()


# --- the database allows exactly the redaction ------------------------------------------------


def test_a_raw_update_without_the_setting_is_refused(cast, planted):
    original = row(planted.pk)

    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [planted.pk])

    assert row(planted.pk) == original


def test_an_update_with_the_setting_naming_another_row_is_refused(cast, planted):
    original = row(planted.pk)
    other = AuditEvent.objects.filter(action="test.after").get()

    with pytest.raises(IntegrityError, match="append-only"):
        with_setting(
            str(other.pk), "UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [planted.pk]
        )
    with pytest.raises(IntegrityError, match="append-only"):  # the setting on, several rows
        with_setting(
            str(planted.pk),
            "UPDATE audit_auditevent SET reason = 'x' WHERE workspace_id = %s",
            [cast.workspace.pk],
        )

    assert row(planted.pk) == original
    assert row(other.pk)["reason"] == ""


@pytest.mark.parametrize(
    "assignment",
    [
        "hash = repeat('a', 64)",
        "prev_hash = repeat('a', 64)",
        "chain_seq = chain_seq + 100",
        "id = id + 100000",
        "workspace_id = NULL",
        "created_at = now()",
        "actor_kind = 'user'",
        "actor_id = 'x'",
        "actor_label = 'x'",
        "action = 'x'",
        "object_type = 'x'",
        "object_id = 'x'",
        "request_id = 'x'",
        "reason = 'x', hash = repeat('a', 64)",
    ],
)
def test_changing_chain_columns_is_refused_even_with_the_setting(cast, planted, assignment):
    original = row(planted.pk)

    with pytest.raises(IntegrityError, match="append-only"):
        with_setting(
            str(planted.pk),
            f"UPDATE audit_auditevent SET {assignment} WHERE id = %s",  # noqa: S608 - fixed text
            [planted.pk],
        )

    assert row(planted.pk) == original


def test_the_setting_alone_does_not_make_a_change_legitimate(cast, planted):
    with_setting(
        str(planted.pk), "UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [planted.pk]
    )

    result = chain_result(cast.workspace.pk)

    assert not result.ok
    assert result.first_broken_event_id == planted.pk
    assert "Content altered" in result.problem


def test_the_setting_is_switched_off_after_a_redaction(cast, planted):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        redact(planted, after=MASKED["after"])
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [planted.pk])

    assert row(planted.pk)["reason"] == f"asked by {EMAIL}"  # all rolled back
    assert not AuditRedaction.objects.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditredaction SET redacted_hash = repeat('a', 64)",
        "UPDATE audit_auditredaction SET fields = '{}'",
        "DELETE FROM audit_auditredaction",
        "TRUNCATE audit_auditredaction",
    ],
)
def test_redaction_records_are_append_only(cast, planted, sql):
    redaction = redact(planted, **MASKED)
    assert redaction is not None
    original = list(AuditRedaction.objects.values())

    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL steward.audit_allow_truncate = off")
        cursor.execute(sql)

    assert list(AuditRedaction.objects.values()) == original
    with pytest.raises(AppendOnlyError):
        redaction.delete()
    with pytest.raises(AppendOnlyError):
        redaction.save()


# --- verification catches what the triggers can't -------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE audit_auditevent SET reason = 'edited later' WHERE id = %s", []),
        ("UPDATE audit_auditevent SET after = %s::jsonb WHERE id = %s", [json.dumps({"x": 1})]),
        # Restoring the raw value (un-redacting) is a change too.
        ("UPDATE audit_auditevent SET after = %s::jsonb WHERE id = %s", ["RAW"]),
    ],
    ids=["reason", "after", "restored-raw"],
)
def test_tampering_with_a_redacted_event_is_detected(cast, planted, sql, params):
    redact(planted, **MASKED)
    if params == ["RAW"]:
        params = [json.dumps({"name": f"Sales of {EMAIL}"})]
    as_attacker(sql, [*params, planted.pk])

    result = chain_result(cast.workspace.pk)

    assert not result.ok
    assert result.first_broken_event_id == planted.pk
    assert "no longer matches its redacted hash" in result.problem
    with pytest.raises(CommandError):
        call_command("audit_verify", stdout=io.StringIO())


def test_a_redaction_record_without_its_chained_audit_event_is_reported(cast, planted):
    """Someone with database access edits an event and forges a record that would excuse it;
    no audit.redact event in the chain states it."""
    as_attacker(
        "UPDATE audit_auditevent SET after = %s::jsonb WHERE id = %s",
        [json.dumps(MASKED["after"]), planted.pk],
    )
    from apps.audit.chain import stored_content_hash

    unrelated = AuditEvent.objects.get(action="test.after")
    AuditRedaction.objects.create(
        event_id=planted.pk,
        workspace_id=planted.workspace_id,
        original_hash=planted.hash,
        redacted_hash=stored_content_hash(planted.pk),
        fields=["after"],
        redaction_event=unrelated,
    )

    result = chain_result(cast.workspace.pk)

    assert not result.ok
    assert "Unconfirmed redaction" in result.problem
    assert (result.first_broken_event_id, result.first_broken_seq) == (
        planted.pk,
        planted.chain_seq,
    )


def test_a_redaction_whose_audit_event_is_missing_is_reported(cast, planted):
    redaction = redact(planted, **MASKED)
    assert redaction is not None
    with transaction.atomic():  # the record's event, as if it had been deleted: another id
        as_attacker(
            "UPDATE audit_auditredaction SET redaction_event_id = %s WHERE id = %s",
            [redaction.redaction_event_id + 10_000, redaction.pk],
        )

    result = chain_result(cast.workspace.pk)

    assert not result.ok and "Unconfirmed redaction" in result.problem


def test_a_redaction_record_moved_to_another_chain_excuses_nothing(cast, planted):
    redaction = redact(planted, **MASKED)
    assert redaction is not None
    as_attacker(
        "UPDATE audit_auditredaction SET workspace_id = %s WHERE id = %s",
        [cast.other_workspace.pk, redaction.pk],
    )

    alone = chain_result(cast.workspace.pk)
    every = {r.workspace_id: r for r in audit_chain_verify()}

    assert not alone.ok and alone.first_broken_event_id == planted.pk
    assert not every[cast.workspace.pk].ok
    assert every[cast.workspace.pk].first_broken_event_id == planted.pk


# --- the admin and the auditor's offline check ------------------------------------------------


def test_the_admin_shows_a_redacted_event(cast, client, planted):
    redaction = redact(planted, **MASKED)
    assert redaction is not None
    audit_verification_run_record(trigger="test")
    client.force_login(cast.user("auditor"))

    listing = client.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    page = client.get(reverse("admin:audit_auditevent_change", args=[planted.pk])).content.decode()
    run = client.get(
        reverse(
            "admin:audit_auditverificationrun_change",
            args=[audit_verification_run_record(trigger="test").pk],
        )
    ).content.decode()

    when = f"{redaction.created_at:%Y-%m-%d %H:%M}"
    shown = f"redacted ({when}, no job, after, object_repr, reason)"
    assert shown in listing
    assert shown in page and f"recorded by audit event {redaction.redaction_event_id}" in page
    assert "1 redacted" in run and f"event {planted.pk} (seq {planted.chain_seq})" in run
    assert EMAIL not in listing + page + run


def test_the_trail_pages_in_constant_queries_with_redactions(
    cast, client, planted, django_assert_max_num_queries
):
    with transaction.atomic():
        events = [
            audit_event_record(actor=SYSTEM, action=f"t.{i}", workspace_id=cast.workspace.pk)
            for i in range(60)
        ]
    for event in events[-5:]:
        as_attacker("UPDATE audit_auditevent SET reason = %s WHERE id = %s", [EMAIL, event.pk])
        redact(event, reason="<EMAIL_1>")
    client.force_login(cast.user("auditor"))
    client.get(reverse("admin:audit_auditevent_changelist"))

    with django_assert_max_num_queries(20) as captured:
        page = client.get(reverse("admin:audit_auditevent_changelist"))

    assert page.status_code == 200
    assert page.content.decode().count("redacted (") >= 5
    assert sum("audit_auditredaction" in q["sql"] for q in captured) == 1  # the subquery


def _offline_event_hash(e: dict[str, Any]) -> str:
    """docs/audit.md, "Checking offline": the auditor's own canonical form."""

    def s(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False)

    text = (
        "{" + f'"action":{s(e["action"])},"actor_id":{s(e["actor_id"])},'
        f'"actor_kind":{s(e["actor_kind"])},"actor_label":{s(e["actor_label"])},'
        f'"after":{e["after"] or "null"},"before":{e["before"] or "null"},'
        f'"created_at":"{e["created_at"]}","id":{e["id"]},'
        f'"object_id":{s(e["object_id"])},"object_repr":{s(e["object_repr"])},'
        f'"object_type":{s(e["object_type"])},"prev_hash":"{e["prev_hash"]}",'
        f'"reason":{s(e["reason"])},"request_id":{s(e["request_id"])},'
        f'"seq":{e["chain_seq"]},"workspace":{json.dumps(e["workspace_id"])}' + "}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _offline_verify(events: list[dict[str, Any]]) -> None:
    """The redaction rule of docs/audit.md for an offline verifier."""
    redactions = {}
    for e in events:
        if e["action"] == "audit.redact":
            after = json.loads(e["after"])
            redactions[after["event_id"]] = after  # a later redaction replaces an earlier one
    prev = "0" * 64
    for e in events:
        r = redactions.get(e["id"])
        assert e["prev_hash"] == prev, e["id"]
        if r is None:
            assert _offline_event_hash(e) == e["hash"], e["id"]
        else:
            assert e["hash"] == r["original_hash"], e["id"]
            assert _offline_event_hash(e) == r["redacted_hash"], e["id"]
        prev = e["hash"]


def _exported(workspace_id: int) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, chain_seq, workspace_id, to_char(created_at AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') AS created_at, actor_kind, actor_id, '
            "actor_label, action, object_type, object_id, object_repr, before::text AS before, "
            "after::text AS after, reason, request_id, prev_hash, hash FROM audit_auditevent "
            "WHERE workspace_id = %s ORDER BY chain_seq",
            [workspace_id],
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def test_an_offline_verifier_following_the_docs_accepts_the_redacted_chain(cast, planted):
    redact(planted, after=MASKED["after"])
    redact(planted, reason=MASKED["reason"])

    _offline_verify(_exported(cast.workspace.pk))

    as_attacker("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [planted.pk])
    with pytest.raises(AssertionError):
        _offline_verify(_exported(cast.workspace.pk))


# --- the operators' admin action --------------------------------------------------------------

REDACT = "admin:audit_auditevent_redact_event"


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_who_may_redact_from_the_admin(cast, client, planted, who):
    client.force_login(cast.user(who))
    original = row(planted.pk)
    events = AuditEvent.objects.count()
    url = reverse(REDACT, args=[planted.pk])

    page = client.get(reverse("admin:audit_auditevent_change", args=[planted.pk]))
    shown = client.get(url)
    posted = client.post(url, {"reason": "spotted in a review"})

    assert (url in page.content.decode()) == (who == "operator")
    if who == "operator":
        assert shown.status_code == 200
        assert "after, object_repr, reason" in shown.content.decode()
        assert posted.status_code == 302
        assert EMAIL not in stored_text("audit_auditevent", planted.pk)
        redaction = AuditRedaction.objects.get()
        assert redaction.redaction_event.actor_label == "operator"
        assert redaction.redaction_event.reason == "spotted in a review"
        assert chain_result(cast.workspace.pk).ok
    else:
        assert shown.status_code in (302, 403, 404)
        assert posted.status_code in (302, 403, 404)
        assert row(planted.pk) == original
        assert AuditEvent.objects.count() == events
        assert not AuditRedaction.objects.exists()


def test_an_admin_redaction_needs_a_reason(cast, client, planted):
    client.force_login(cast.user("operator"))
    original = row(planted.pk)

    response = client.post(reverse(REDACT, args=[planted.pk]), {"reason": "  "}, follow=True)

    assert "Give a reason" in response.content.decode()
    assert row(planted.pk) == original
    assert not AuditRedaction.objects.exists()


def test_an_operator_redacts_an_event_of_no_workspace(cast, client):
    """No workspace re-scan reaches the chain of events of no workspace."""
    with transaction.atomic():
        event = AuditEvent.objects.create(
            actor_kind="system",
            actor_id="legacy",
            actor_label="system:legacy",
            action="login.lockout",
            object_type="auth.user",
            reason=f"too many attempts for {EMAIL}",
        )
    client.force_login(cast.user("operator"))

    client.post(reverse(REDACT, args=[event.pk]), {"reason": "raw address"})

    assert row(event.pk)["reason"] == "too many attempts for <EMAIL_1>"
    [result] = audit_chain_verify(workspace_id=None)[-1:]
    assert result.workspace_id is None and result.ok, result.problem
    assert [r["event_id"] for r in result.redacted] == [event.pk]


def test_the_admin_says_when_there_is_nothing_to_mask(cast, client, planted):
    redact(planted, **MASKED)
    client.force_login(cast.user("operator"))
    url = reverse(REDACT, args=[planted.pk])

    shown = client.get(url).content.decode()
    response = client.post(url, {"reason": "again"}, follow=True)

    assert "changes nothing" in shown
    assert "Nothing to mask" in response.content.decode()
    assert AuditRedaction.objects.count() == 1
