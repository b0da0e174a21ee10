"""Verify now: who starts a verification from the audit trail, the claim that keeps it to one
run, progress seen from outside the walk, and a real worker finding a tampered event."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from apps.audit import chain, verify_now
from apps.audit.models import AuditEvent, AuditVerificationRun, RunStatus
from apps.audit.services import audit_event_record
from apps.audit.verify_now import (
    REQUEST_ACTION,
    audit_verification_request,
    audit_verification_run,
)
from apps.core.exceptions import Forbidden
from apps.core.models import OutboxMessage
from tests.conftest import ROLES_AND_OTHERS, SYSTEM

CHANGELIST = "admin:audit_auditevent_changelist"
VERIFY_NOW = "admin:audit_auditevent_verify_now"
STATUS = "admin:audit_auditevent_verify_status"
# Those who read a trail: owner, admin and auditor of Acme, the outsider (owner of Globex) and
# the operator. Nobody else opens the trail, so nobody else sees the button.
MAY_VERIFY = {"owner", "admin", "auditor", "outsider", "operator"}


def record(workspace_id: int, n: int) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_event_record(actor=SYSTEM, action="test.event", workspace_id=workspace_id)
            for _ in range(n)
        ]


def tamper(event: AuditEvent) -> None:
    """Rewrite a stored event as someone with database access would (triggers switched off)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_auditevent SET reason = 'rewritten' WHERE id = %s", [event.pk])


def state() -> tuple[int, int, int]:
    return (
        AuditVerificationRun.objects.count(),
        OutboxMessage.objects.filter(task_name="audit.verify_chain_now").count(),
        AuditEvent.objects.filter(action=REQUEST_ACTION).count(),
    )


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_who_may_start_a_verification(cast, client, who):
    record(cast.workspace.pk, 2)
    client.force_login(cast.user(who))
    before = state()

    response = client.post(reverse(VERIFY_NOW))

    if who in MAY_VERIFY:
        assert response.status_code == 302
        run = AuditVerificationRun.objects.get()
        assert (run.status, run.active, run.trigger) == (RunStatus.QUEUED, True, "admin")
        assert state()[:2] == (1, 1)
        assert state()[2] == 1  # the request, in the one chain this user audits
    else:
        assert response.status_code == 403
        assert state() == before


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_who_sees_the_button(cast, client, who):
    record(cast.workspace.pk, 1)
    client.force_login(cast.user(who))

    response = client.get(reverse(CHANGELIST))

    if who in MAY_VERIFY:
        assert response.status_code == 200
        assert b'data-testid="verify-form"' in response.content
        assert b"Verify now" in response.content
    else:  # the trail itself is closed to them
        assert response.status_code == 403
        assert b"Verify now" not in response.content


def test_a_get_starts_nothing(cast, client):
    client.force_login(cast.user("auditor"))

    response = client.get(reverse(VERIFY_NOW))

    assert response.status_code == 405
    assert state() == (0, 0, 0)


def test_two_clicks_while_one_is_pending_make_one_run(cast, client):
    client.force_login(cast.user("auditor"))

    client.post(reverse(VERIFY_NOW))
    response = client.post(reverse(VERIFY_NOW), follow=True)

    assert state()[:2] == (1, 1)
    assert b"already under way" in response.content


def test_the_service_refuses_a_reader_and_joins_an_active_run(cast):
    with pytest.raises(Forbidden):
        audit_verification_request(actor=cast.user("reviewer"))
    first, started = audit_verification_request(actor=cast.user("owner"))
    again, started_again = audit_verification_request(actor=cast.user("auditor"))

    assert (started, started_again) == (True, False)
    assert again.pk == first.pk


def test_a_run_that_stopped_moving_is_abandoned_by_the_next_request(cast):
    stuck, _ = audit_verification_request(actor=cast.user("owner"))
    AuditVerificationRun.objects.filter(pk=stuck.pk).update(
        status=RunStatus.RUNNING,
        heartbeat_at=timezone.now() - verify_now.STALE_AFTER - dt.timedelta(seconds=1),
    )

    fresh, started = audit_verification_request(actor=cast.user("owner"))

    stuck.refresh_from_db()
    assert started and fresh.pk != stuck.pk
    assert (stuck.status, stuck.active) == (RunStatus.ABANDONED, False)


def test_the_task_claims_its_run_once(cast):
    record(cast.workspace.pk, 3)
    run, _ = audit_verification_request(actor=cast.user("auditor"))

    done = audit_verification_run(run_id=run.pk)
    repeated = audit_verification_run(run_id=run.pk)

    assert repeated is None
    assert done is not None
    assert (done.status, done.active, done.ok) == (RunStatus.DONE, False, True)
    assert done.events_checked == AuditEvent.objects.count()
    assert done.events_total == AuditEvent.objects.count()
    assert AuditVerificationRun.objects.count() == 1


def test_progress_is_visible_outside_the_walk_while_it_runs(transactional_db, cast, monkeypatch):
    """The walk holds one snapshot for its whole length; progress written on that connection
    would show nobody anything until the end."""
    record(cast.workspace.pk, 10)
    with transaction.atomic():
        run, _ = audit_verification_request(actor=cast.user("auditor"))
    monkeypatch.setattr(chain, "FETCH_SIZE", 4)
    seen: list[tuple[int, int | None]] = []
    write = verify_now._ProgressWriter.__call__

    def write_and_look(self: Any, checked: int) -> None:
        write(self, checked)
        outside = connection.get_new_connection(connection.get_connection_params())
        try:
            with outside.cursor() as cursor:
                cursor.execute(
                    "SELECT events_checked, events_total FROM audit_auditverificationrun "
                    "WHERE id = %s",
                    [run.pk],
                )
                seen.append(cursor.fetchone())
        finally:
            outside.close()

    monkeypatch.setattr(verify_now._ProgressWriter, "__call__", write_and_look)

    done = audit_verification_run(run_id=run.pk)

    total = AuditEvent.objects.count()
    assert [checked for checked, _ in seen] == list(range(4, total + 1, 4))
    assert {t for _, t in seen} == {total}
    assert done is not None and done.events_checked == total


def test_each_event_shows_it_is_covered_after_verify_now(cast, client):
    events = record(cast.workspace.pk, 2)
    client.force_login(cast.user("auditor"))
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "not verified yet" in page
    run, _ = audit_verification_request(actor=cast.user("auditor"))
    audit_verification_run(run_id=run.pk)

    page = client.get(reverse(CHANGELIST)).content.decode()

    assert "not verified yet" not in page
    assert page.count("verified ") >= len(events)
    assert "intact" in page


def test_the_status_poll_reports_progress_then_the_result(cast, client):
    record(cast.workspace.pk, 2)
    client.force_login(cast.user("auditor"))
    run, _ = audit_verification_request(actor=cast.user("auditor"))

    pending = client.get(reverse(STATUS)).json()
    audit_verification_run(run_id=run.pk)
    finished = client.get(reverse(STATUS)).json()

    assert pending["active"] is True and "queued" in pending["text"]
    assert finished["active"] is False and "intact" in finished["text"]


def test_the_status_poll_is_closed_to_those_outside_the_trail(cast, client):
    client.force_login(cast.user("reviewer"))

    assert client.get(reverse(STATUS)).status_code == 403


def test_a_broken_chain_of_another_workspace_is_not_shown(cast, client):
    record(cast.workspace.pk, 2)
    globex = record(cast.other_workspace.pk, 2)
    tamper(globex[0])
    run, _ = audit_verification_request(actor=cast.user("operator"))
    audit_verification_run(run_id=run.pk)
    client.force_login(cast.user("auditor"))

    page = client.get(reverse(CHANGELIST)).content.decode()

    assert "intact" in page
    assert "BROKEN" not in page


def wait_for(run_pk: int, seconds: float = 30) -> AuditVerificationRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = AuditVerificationRun.objects.get(pk=run_pk)
        if not run.active:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_pk} still active after {seconds} s")


def test_verify_now_end_to_end_on_a_real_worker(celery_worker, cast, client):
    events = record(cast.workspace.pk, 5)
    client.force_login(cast.user("auditor"))

    client.post(reverse(VERIFY_NOW))
    first = wait_for(AuditVerificationRun.objects.get().pk)
    tamper(events[2])
    client.post(reverse(VERIFY_NOW))
    second = wait_for(AuditVerificationRun.objects.exclude(pk=first.pk).get().pk)
    page = client.get(reverse(CHANGELIST)).content.decode()

    assert (first.status, first.ok) == (RunStatus.DONE, True)
    assert (second.status, second.ok) == (RunStatus.DONE, False)
    assert "First broken link" in page
    assert f"seq {events[2].chain_seq}" in page
    assert reverse("admin:audit_auditevent_change", args=[events[2].pk]) in page
    assert f"BROKEN at seq {events[2].chain_seq}" in page
