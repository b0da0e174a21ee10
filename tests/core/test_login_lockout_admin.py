"""The sign-in lockout pages of the admin (apps/core/admin.py), role by role: only operators
see failure counters and sign-in records or unlock; everyone else gets 403 and changes
nothing (apps/core/logins.py has the lockout itself)."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.conftest import ROLES_AND_OTHERS
from tests.core.test_login_lockout import ADDRESS, PASSWORD, fail, sign_in
from tests.workspaces.factories import UserFactory

LOGIN = "login"
LOCKED = "locked-person"
WHO = [*ROLES_AND_OTHERS, "anonymous"]
OPERATORS_ONLY = dict.fromkeys(WHO, 403) | {"operator": 200, "anonymous": LOGIN}
PAGES = ["accessattempt_changelist", "accessattempt_change", "accesslog_changelist"]


def outcome_of(response: Any) -> Any:
    if response.status_code == 302 and response.url.startswith(reverse("admin:login")):
        return LOGIN
    return response.status_code


def client_for(cast: Any, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(cast.user(who))
    return client


@pytest.fixture
def locked(cast: Any) -> list[int]:
    """LOCKED (not one of the cast: signing a locked user in by `force_login` would reset
    their failures) locked out from ADDRESS, and one earlier sign-in on record."""
    UserFactory(username=LOCKED)
    sign_in(Client(), "viewer", PASSWORD, "192.0.2.1")
    fail(Client(), LOCKED, settings.AXES_FAILURE_LIMIT)
    return sorted(AccessAttempt.objects.values_list("pk", flat=True))


def page_url(page: str, locked: list[int]) -> str:
    if page.endswith("_change"):
        return reverse(f"admin:axes_{page}", args=[locked[0]])
    return reverse(f"admin:axes_{page}")


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("page", PAGES)
def test_who_sees_the_sign_in_lockout_pages(cast, locked, page, who):
    # when
    response = client_for(cast, who).get(page_url(page, locked))

    # then
    assert outcome_of(response) == OPERATORS_ONLY[who]


def test_the_operator_sees_who_is_locked_and_until_when(cast, locked):
    # when
    response = client_for(cast, "operator").get(
        reverse("admin:axes_accessattempt_changelist"), {"locked": "yes"}
    )

    # then
    page = response.content.decode()
    assert LOCKED in page and ADDRESS in page
    assert "Unlock the selected accounts" in page
    assert response.context["cl"].result_count == 1


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("action", ["unlock_accounts", "unlock_accounts_and_addresses"])
def test_who_may_unlock(cast, locked, action, who):
    # given
    events = AuditEvent.objects.count()

    # when
    response = client_for(cast, who).post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": action, "_selected_action": locked, "index": 0},
    )

    # then: the operator unlocks (one audited event); nobody else changes anything
    if who == "operator":
        assert response.status_code == 302
        assert not AccessAttempt.objects.exists()
        unlock = AuditEvent.objects.get(id__gt=0, action="login.unlock")
        assert unlock.after["ids"] == locked
        assert AuditEvent.objects.count() == events + 1
        assert sign_in(Client(), LOCKED, PASSWORD).status_code == 302
    else:
        assert outcome_of(response) == OPERATORS_ONLY[who]
        assert sorted(AccessAttempt.objects.values_list("pk", flat=True)) == locked
        assert AuditEvent.objects.count() == events
        assert sign_in(Client(), LOCKED, PASSWORD).status_code == 429


def test_unlocking_accounts_only_leaves_a_locked_address_locked(cast):
    # given: an address locked by guesses at other accounts, and the editor locked too
    fail(Client(), "editor", settings.AXES_FAILURE_LIMIT, "192.0.2.9")
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), f"guess{n}", "wrong", ADDRESS)
    editor_rows = list(AccessAttempt.objects.filter(username="editor").values_list("pk", flat=True))

    # when
    client_for(cast, "operator").post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "unlock_accounts", "_selected_action": editor_rows, "index": 0},
    )

    # then: the editor signs in from elsewhere, not from the still-locked address
    assert not AccessAttempt.objects.filter(username="editor").exists()
    assert sign_in(Client(), "editor", PASSWORD, ADDRESS).status_code == 429
    assert sign_in(Client(), "editor", PASSWORD, "192.0.2.10").status_code == 302


def test_not_even_an_operator_edits_or_deletes_the_records_by_hand(cast, locked):
    # given
    operator = client_for(cast, "operator")
    log = AccessLog.objects.get(username="viewer")

    # when
    add = operator.get(reverse("admin:axes_accessattempt_add"))
    delete = operator.post(reverse("admin:axes_accessattempt_delete", args=[locked[0]]))
    change = operator.post(
        reverse("admin:axes_accesslog_change", args=[log.pk]), {"username": "someone-else"}
    )

    # then
    assert add.status_code == 403 and delete.status_code == 403 and change.status_code == 403
    assert sorted(AccessAttempt.objects.values_list("pk", flat=True)) == locked
    assert AccessLog.objects.filter(pk=log.pk, username="viewer").exists()


def add_rows(model: Any, count: int, first: int = 1) -> None:
    common = {"user_agent": "x", "http_accept": "*/*", "path_info": "/admin/login/"}
    extra = {"get_data": "", "post_data": "", "failures_since_start": 1}
    model.objects.bulk_create(
        model(
            username=f"user{n}",
            ip_address=f"198.51.{n // 200}.{n % 200 + 1}",
            **common,
            **(extra if model is AccessAttempt else {}),
        )
        for n in range(first, first + count)
    )


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", [AccessAttempt, AccessLog])
def test_changelist_query_count_does_not_grow_with_rows(cast, model):
    # given
    client = client_for(cast, "operator")
    url = reverse(f"admin:axes_{model._meta.model_name}_changelist")
    add_rows(model, 2)
    client.get(url)  # warm the session and content types
    few = queries_for(client, url)

    # when
    add_rows(model, 58, first=3)
    many = queries_for(client, url)

    # then
    assert many == few <= 8


@pytest.mark.parametrize("who", ["operator", "owner", "auditor"])
def test_only_operators_find_the_lockout_pages_in_the_sidebar(cast, who):
    # when
    page = client_for(cast, who).get(reverse("admin:index")).content.decode()

    # then
    shown = reverse("admin:axes_accessattempt_changelist") in page
    assert shown == (who == "operator")
    assert ("Sign-in lockouts" in page) == (who == "operator")
