"""The audit trail in the admin: who opens it, what it shows (chain fields, last verification,
object history), signed heads to download, and that nothing on it writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse

from apps.audit.chain import audit_verification_run_record
from apps.audit.models import AuditEvent, AuditVerificationRun
from apps.audit.services import audit_event_record
from apps.audit.signing import read_signed_head
from tests.conftest import ROLES_AND_OTHERS, SYSTEM

AUDITS_ACME = {"owner", "admin", "auditor", "operator"}
OPENS_TRAIL = AUDITS_ACME | {"outsider"}  # the outsider audits Globex
CHANGELIST = "admin:audit_auditevent_changelist"
RUNS = "admin:audit_auditverificationrun_changelist"


@pytest.fixture
def events(cast: Any) -> list[AuditEvent]:
    with transaction.atomic():
        acme = [
            audit_event_record(
                actor=cast.user("owner"),
                action="test.acme",
                obj=cast.agent,
                workspace_id=cast.workspace.pk,
            )
            for _ in range(3)
        ]
        audit_event_record(actor=SYSTEM, action="test.globex", workspace_id=cast.other_workspace.pk)
    return acme


def trail_state() -> tuple[int, int]:
    return AuditEvent.objects.count(), AuditVerificationRun.objects.count()


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_who_opens_the_trail_and_what_they_see(cast, client, events, who):
    client.force_login(cast.user(who))

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == (200 if who in OPENS_TRAIL else 403)
    if response.status_code == 200:
        actions = {e.action for e in response.context["cl"].result_list}
        assert ("test.acme" in actions) == (who in AUDITS_ACME)
        assert ("test.globex" in actions) == (who in {"outsider", "operator"})


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_who_opens_an_event(cast, client, events, who):
    client.force_login(cast.user(who))

    response = client.get(reverse("admin:audit_auditevent_change", args=[events[0].pk]))

    assert response.status_code in ((200,) if who in AUDITS_ACME else (302, 403))
    if response.status_code == 302:  # the admin sends an unknown object back to the index
        assert "/admin/" in response["Location"]


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_who_downloads_signed_heads(cast, client, events, who):
    client.force_login(cast.user(who))

    response = client.get(reverse("admin:audit_auditevent_download_heads"))

    assert response.status_code == (200 if who in OPENS_TRAIL else 403)
    if response.status_code == 200:
        heads = [read_signed_head(json.dumps(h)) for h in json.loads(response.content)]
        chains = {h["workspace_id"] for h in heads}
        assert (cast.workspace.pk in chains) == (who in AUDITS_ACME)
        assert (None in chains) == (who == "operator")


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_who_downloads_the_head_of_an_events_chain(cast, client, events, who):
    client.force_login(cast.user(who))

    response = client.get(reverse("admin:audit_auditevent_download_head", args=[events[0].pk]))

    if who in AUDITS_ACME:
        assert response.status_code == 200
        head = read_signed_head(response.content.decode())
        assert (head["workspace_id"], head["head_hash"]) == (cast.workspace.pk, events[-1].hash)
    else:
        assert response.status_code in (403, 404)


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_who_reads_verification_runs(cast, client, events, who):
    audit_verification_run_record(trigger="test")
    client.force_login(cast.user(who))

    response = client.get(reverse(RUNS))

    assert response.status_code == (200 if who in OPENS_TRAIL else 403)


@pytest.mark.parametrize("who", ["operator", "owner", "auditor", "outsider"])
def test_nothing_on_the_trail_writes(cast, client, events, who):
    client.force_login(cast.user(who))
    before = trail_state()
    run = audit_verification_run_record(trigger="test")

    changelist = client.get(reverse(CHANGELIST)).content.decode()
    runs = client.get(reverse(RUNS)).content.decode()
    posted = client.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": [events[0].pk], "post": "yes"},
    )

    assert "delete_selected" not in changelist and "action-checkbox" not in changelist
    assert "action-checkbox" not in runs
    assert posted.status_code in (200, 302, 403)
    for name in ("add", "delete"):
        url = reverse(
            f"admin:audit_auditverificationrun_{name}", args=[] if name == "add" else [run.pk]
        )
        assert client.get(url).status_code in (302, 403)
    assert trail_state() == (before[0], before[1] + 1)


def test_an_event_page_shows_its_chain_and_links_to_its_object(cast, client, events):
    audit_verification_run_record(trigger="test")
    client.force_login(cast.user("auditor"))
    event = events[1]

    page = client.get(reverse("admin:audit_auditevent_change", args=[event.pk])).content.decode()

    assert event.hash in page and event.prev_hash in page
    assert "verified " in page
    assert reverse("admin:workspaces_agent_change", args=[cast.agent.pk]) in page
    history = client.get(
        reverse(CHANGELIST), {"object_type": "workspaces.agent", "object_id": str(cast.agent.pk)}
    )
    assert history.status_code == 200
    listed = {e.pk for e in history.context["cl"].result_list}
    assert {e.pk for e in events} <= listed
    assert all(e.object_id == str(cast.agent.pk) for e in history.context["cl"].result_list)


def test_a_broken_chain_shows_on_its_events(cast, client, events):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[1].pk])
        cursor.execute("SET LOCAL session_replication_role = origin")
    run = audit_verification_run_record(trigger="test")
    client.force_login(cast.user("auditor"))

    page = client.get(reverse("admin:audit_auditevent_change", args=[events[2].pk]))
    runs = client.get(reverse(RUNS)).content.decode()

    assert not run.ok and "Content altered" in run.problem
    assert f"BROKEN at seq {events[1].chain_seq}" in page.content.decode()
    assert "BROKEN" in runs


def test_an_outsider_does_not_see_that_another_workspaces_chain_broke(cast, client, events):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [events[1].pk])
        cursor.execute("SET LOCAL session_replication_role = origin")
    audit_verification_run_record(trigger="test")
    client.force_login(cast.user("outsider"))

    runs = client.get(reverse(RUNS)).content.decode()

    assert "intact" in runs and "BROKEN" not in runs


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action__icontains": "acme"}, {"test.acme"}),
        ({"actor_label__icontains": "owner"}, {"test.acme"}),
        ({"object_type__icontains": "agent"}, {"test.acme"}),
        ({"actor_kind__exact": "system"}, {"test.globex"}),
    ],
)
def test_filters(cast, client, events, params, expected):
    client.force_login(cast.user("operator"))

    response = client.get(reverse(CHANGELIST), {**params, "workspace": ""})

    assert response.status_code == 200
    actions = {e.action for e in response.context["cl"].result_list}
    assert expected <= actions
    assert actions <= expected | {"agent_token.issue"}


def test_workspace_filter_lists_only_audited_workspaces(cast, client, events):
    client.force_login(cast.user("auditor"))

    response = client.get(reverse(CHANGELIST), {"workspace": str(cast.workspace.pk)})

    assert response.status_code == 200
    assert "Globex" not in response.content.decode()
    assert {e.workspace_id for e in response.context["cl"].result_list} == {cast.workspace.pk}


def test_the_trail_and_runs_page_in_constant_queries(cast, client, django_assert_max_num_queries):
    with transaction.atomic():
        for i in range(60):
            audit_event_record(actor=SYSTEM, action=f"t.{i}", workspace_id=cast.workspace.pk)
    for _ in range(3):
        audit_verification_run_record(trigger="test")
    client.force_login(cast.user("auditor"))
    client.get(reverse(CHANGELIST))

    with django_assert_max_num_queries(20) as captured:
        page = client.get(reverse(CHANGELIST))
    with django_assert_max_num_queries(20):
        runs = client.get(reverse(RUNS))

    assert page.status_code == runs.status_code == 200
    assert len(page.context["cl"].result_list) == 50
    assert sum("audit_auditverificationrun" in q["sql"] for q in captured) == 1


@pytest.mark.parametrize(
    ("who", "sees_acme"), [("operator", True), ("auditor", True), ("outsider", False)]
)
def test_a_run_page_lists_only_the_chains_the_user_audits(cast, client, events, who, sees_acme):
    with transaction.atomic():
        audit_event_record(actor=SYSTEM, action="system.sweep")
    run = audit_verification_run_record(trigger="test")
    client.force_login(cast.user(who))

    page = client.get(reverse("admin:audit_auditverificationrun_change", args=[run.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert (f"{cast.workspace.pk}: ok, 4 events" in text) == sees_acme
    assert (f"{cast.other_workspace.pk}: ok" in text) == (who != "auditor")
    assert ("(no workspace)" in text) == (who == "operator")
