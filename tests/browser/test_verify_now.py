"""Verify now in a real browser: the auditor clicks the button on the audit trail, a real
worker walks the chains, the page polls and shows the result; after a tampered event it shows
the first broken link."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from apps.audit.models import AuditEvent, AuditVerificationRun
from apps.audit.services import audit_event_record
from tests.conftest import SYSTEM


def _record(workspace_id: int, n: int) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_event_record(actor=SYSTEM, action="test.event", workspace_id=workspace_id)
            for _ in range(n)
        ]


def _tamper(event: AuditEvent) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_auditevent SET reason = 'rewritten' WHERE id = %s", [event.pk])


def test_an_auditor_verifies_the_chain_now(
    celery_worker: Any, admin_login: Any, cast: Any, live_server: Any
) -> None:
    # given: events nobody has verified yet
    events = _record(cast.workspace.pk, 4)
    page = admin_login("auditor")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/audit/auditevent/")
    assert "not verified yet" in page.content()
    # the trail fits its column beside the sidebar (no sideways scrolling)
    widths = page.evaluate(
        "() => { const t = document.querySelector('#result_list');"
        " return [t.scrollWidth, t.parentElement.clientWidth]; }"
    )
    assert widths[0] <= widths[1], widths

    # when
    page.get_by_role("button", name="Verify now").click()

    # then: the page follows the run and shows the result
    page.get_by_text("intact", exact=False).wait_for()
    assert "not verified yet" not in page.content()
    assert AuditVerificationRun.objects.get().ok is True

    # when: an event is rewritten behind Steward's back, and verified again
    _tamper(events[1])
    page.get_by_role("button", name="Verify now").click()

    # then: the first broken link, with a link to the event
    broken = page.get_by_test_id("verify-broken")
    broken.wait_for()
    assert f"seq {events[1].chain_seq}" in broken.inner_text()
    broken.get_by_role("link", name=f"event {events[1].pk}").click()
    page.wait_for_url(f"**/admin/audit/auditevent/{events[1].pk}/change/")
