"""People's logins resist guessing (apps/core/logins.py, django-axes): failed sign-ins are
counted per account and per address, a lockout refuses even the right password, an operator
unlocks through a service, and lockouts, unlocks and the expiry of sign-in records are audited
without the raw username or address."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone

from apps.audit.chain import audit_chain_verify
from apps.audit.models import AuditEvent
from apps.audit.reconcile import snapshot, unaudited_changes
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.core.logins import client_ip, login_lockout_clear, login_records_expire
from tests.conftest import SYSTEM
from tests.workspaces.factories import UserFactory

ADDRESS = "203.0.113.7"
PASSWORD = "pw"  # UserFactory's default


def sign_in(client: Client, username: str, password: str, address: str = ADDRESS) -> Any:
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def signed_in(client: Client) -> bool:
    return client.get(reverse("admin:index"), REMOTE_ADDR=ADDRESS).status_code == 200


def fail(client: Client, username: str, times: int, address: str = ADDRESS) -> list[int]:
    return [sign_in(client, username, "wrong-guess", address).status_code for _ in range(times)]


def last_event_id() -> int:
    last = AuditEvent.objects.order_by("-id").first()
    return last.pk if last else 0


def chains_intact() -> bool:
    return all(result.ok for result in audit_chain_verify())


# --- lockout ----------------------------------------------------------------------------------


def test_after_25_wrong_passwords_the_right_one_is_refused(cast):
    # given
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT

    # when
    statuses = fail(client, "reviewer", 25)
    response = sign_in(client, "reviewer", PASSWORD)

    # then: refused from the limit on, the right password included, and not signed in
    assert statuses[: limit - 1] == [200] * (limit - 1)
    assert statuses[limit - 1 :] == [429] * (25 - limit + 1)
    assert response.status_code == 429
    assert not signed_in(client)
    # and the page, in the admin's look, says for how long and what to do
    page = response.content.decode()
    assert f"locked for {settings.LOGIN_LOCKOUT_MINUTES} minutes" in page
    assert "ask a Steward" in page and "operator to unlock" in page
    assert "steward/admin.css" in page  # unfold's layout with Steward's stylesheet
    assert response["Retry-After"] == str(settings.LOGIN_LOCKOUT_MINUTES * 60)


def test_a_lockout_ends_after_the_cool_off(cast):
    # given: locked out
    client = Client()
    fail(client, "reviewer", settings.AXES_FAILURE_LIMIT)
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    )

    # when
    response = sign_in(client, "reviewer", PASSWORD)

    # then
    assert response.status_code == 302
    assert signed_in(client)


def test_a_victims_session_that_was_already_signed_in_keeps_working(cast):
    # given: the reviewer works in one browser
    victim = Client()
    victim.force_login(cast.user("reviewer"))

    # when: someone else locks the account out
    fail(Client(), "reviewer", 25, address="198.51.100.9")

    # then: the open session is untouched; only new sign-ins are refused
    assert victim.get(reverse("admin:index")).status_code == 200
    assert sign_in(Client(), "reviewer", PASSWORD, "192.0.2.50").status_code == 429


def test_a_locked_address_refuses_other_accounts_from_it(cast):
    # given: one address guesses a different account each time, none reaching the limit alone
    attacker = Client()
    statuses = [
        sign_in(attacker, f"guess{n}", "wrong", ADDRESS).status_code
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]

    # when: a real member signs in from that address, then from another one
    same_address = sign_in(Client(), "editor", PASSWORD, ADDRESS)
    elsewhere = sign_in(Client(), "editor", PASSWORD, "192.0.2.60")

    # then
    assert statuses[-1] == 429
    assert same_address.status_code == 429
    assert elsewhere.status_code == 302


def test_an_account_guessed_from_many_addresses_is_locked_everywhere(cast):
    # given: each address tries once
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), "editor", "wrong", f"198.51.100.{n + 1}")

    # when: the right password, from an address that never failed
    response = sign_in(Client(), "editor", PASSWORD, "192.0.2.70")

    # then
    assert response.status_code == 429


def test_a_successful_sign_in_resets_the_accounts_failures(cast):
    # given
    client = Client()
    fail(client, "reviewer", settings.AXES_FAILURE_LIMIT - 1)

    # when
    first = sign_in(client, "reviewer", PASSWORD)
    client.logout()
    again = fail(Client(), "reviewer", settings.AXES_FAILURE_LIMIT - 1)

    # then: the earlier failures no longer count
    assert first.status_code == 302
    assert again == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert AccessLog.objects.filter(username="reviewer").count() == 1


def test_force_login_and_client_login_still_work(cast, client):
    # when / then
    assert client.login(username="owner", password=PASSWORD)
    assert not Client().login(username="owner", password="wrong")
    other = Client()
    other.force_login(cast.user("viewer"))
    assert other.get(reverse("admin:index")).status_code == 200


# --- the other form that checks a secret: the admin's password change ------------------------


def change_password(client: Client, old: str, new: str = "a-much-longer-pass-2026") -> Any:
    return client.post(
        reverse("admin:password_change"),
        {"old_password": old, "new_password1": new, "new_password2": new},
        REMOTE_ADDR=ADDRESS,
    )


def test_wrong_old_passwords_on_the_password_change_count_as_failed_sign_ins(cast):
    # given: a session (perhaps a stolen one) guessing the password it would need to change it
    client = Client()
    client.force_login(cast.user("editor"))
    limit = settings.AXES_FAILURE_LIMIT

    # when
    statuses = [change_password(client, f"guess-{n}").status_code for n in range(limit)]
    right = change_password(client, PASSWORD)

    # then: locked like the sign-in page, the right old password included, password unchanged
    assert statuses[: limit - 1] == [200] * (limit - 1)
    assert statuses[-1] == 429 and right.status_code == 429
    user = get_user_model().objects.get(username="editor")
    assert user.check_password(PASSWORD)
    assert sign_in(Client(), "editor", PASSWORD, "192.0.2.80").status_code == 429


def test_the_password_change_still_works_with_the_right_old_password(cast):
    # given
    client = Client()
    client.force_login(cast.user("editor"))

    # when
    response = change_password(client, PASSWORD)

    # then
    assert response.status_code == 302
    assert response.url == reverse("admin:password_change_done")
    user = get_user_model().objects.get(username="editor")
    assert user.check_password("a-much-longer-pass-2026")


def test_the_password_change_refuses_a_weak_new_password(cast):
    # given
    client = Client()
    client.force_login(cast.user("editor"))

    # when
    response = change_password(client, PASSWORD, new="password")

    # then
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert get_user_model().objects.get(username="editor").check_password(PASSWORD)


# --- audit ------------------------------------------------------------------------------------


def test_a_lockout_is_audited_once_without_the_raw_username_or_address(cast):
    # given: an account whose username is an e-mail address
    UserFactory(username="alice.liddell@example.com")
    since = last_event_id()

    # when
    fail(Client(), "alice.liddell@example.com", 25)

    # then: one event, when the lockout began
    events = list(AuditEvent.objects.filter(id__gt=since, action="login.lockout"))
    assert len(events) == 1
    event = events[0]
    user = get_user_model().objects.get(username="alice.liddell@example.com")
    assert event.object_type == "auth.user" and event.object_id == str(user.pk)
    assert event.after["user_id"] == user.pk
    assert event.after["username"] == "a***"
    assert event.after["failures"] == settings.AXES_FAILURE_LIMIT
    stored = repr(AuditEvent.objects.filter(pk=event.pk).values().get())
    assert "alice" not in stored and "example.com" not in stored
    assert ADDRESS not in stored
    assert chains_intact()


def test_a_lockout_of_an_unknown_username_is_audited_without_an_account(cast):
    # given
    since = last_event_id()

    # when
    fail(Client(), "no-such-person", settings.AXES_FAILURE_LIMIT)

    # then
    event = AuditEvent.objects.get(id__gt=since, action="login.lockout")
    assert event.object_id == "" and event.after["user_id"] is None
    assert event.after["username"] == "n***"


def test_an_operator_unlocks_and_the_user_signs_in_again(cast):
    # given: locked out by account and by address
    fail(Client(), "reviewer", 12)
    since = last_event_id()
    ids = sorted(AccessAttempt.objects.values_list("pk", flat=True))

    # when
    cleared = login_lockout_clear(
        actor=cast.user("operator"), usernames=["reviewer"], ip_addresses=[ADDRESS], reason="ok"
    )

    # then
    assert cleared == len(ids) and not AccessAttempt.objects.exists()
    assert sign_in(Client(), "reviewer", PASSWORD).status_code == 302
    event = AuditEvent.objects.get(id__gt=since, action="login.unlock")
    assert event.actor_id == str(cast.user("operator").pk)
    assert event.object_type == "axes.accessattempt"
    assert event.after["ids"] == ids
    assert event.after["user_ids"] == [cast.user("reviewer").pk]
    assert event.after["usernames"] == ["r***"]
    assert ADDRESS not in repr(AuditEvent.objects.filter(pk=event.pk).values().get())
    assert chains_intact()


@pytest.mark.parametrize("who", ["owner", "admin", "auditor", "nobody"])
def test_only_operators_may_unlock(cast, who):
    # given
    fail(Client(), "reviewer", settings.AXES_FAILURE_LIMIT)
    before, events = AccessAttempt.objects.count(), AuditEvent.objects.count()

    # when / then
    with pytest.raises(Forbidden):
        login_lockout_clear(actor=cast.user(who), usernames=["reviewer"])
    assert AccessAttempt.objects.count() == before
    assert AuditEvent.objects.count() == events


def test_an_unlock_naming_nothing_is_refused_and_one_matching_nothing_changes_nothing(cast):
    # given
    events = AuditEvent.objects.count()

    # when / then
    with pytest.raises(ValidationFailed):
        login_lockout_clear(actor=SYSTEM, usernames=[""], ip_addresses=[])
    assert login_lockout_clear(actor=SYSTEM, usernames=["nobody-locked"]) == 0
    assert AuditEvent.objects.count() == events


def test_sign_in_records_expire_audited_and_accounted_for_by_the_reconciler(cast):
    # given: a sign-in long ago, one today, and a stale failure counter
    sign_in(Client(), "viewer", PASSWORD)
    sign_in(Client(), "owner", PASSWORD)
    fail(Client(), "auditor", 1)
    old = timezone.now() - dt.timedelta(days=settings.LOGIN_RECORDS_KEEP_DAYS + 1)
    AccessLog.objects.filter(username="viewer").update(attempt_time=old)
    AccessAttempt.objects.update(attempt_time=old)
    old_log = AccessLog.objects.get(username="viewer").pk
    old_attempt = AccessAttempt.objects.get().pk
    before, since = snapshot(["axes.accesslog"]), last_event_id()

    # when
    deleted = login_records_expire()

    # then
    assert deleted == 2
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["owner"]
    assert not AccessAttempt.objects.exists()
    events = {e.object_type: e for e in AuditEvent.objects.filter(id__gt=since)}
    assert events["axes.accesslog"].after["ids"] == [old_log]
    assert events["axes.accessattempt"].after["ids"] == [old_attempt]
    assert unaudited_changes(before, snapshot(["axes.accesslog"]), since) == []
    assert chains_intact()


# --- the client address behind a proxy ---------------------------------------------------------


def request_from(remote: str, forwarded: str | None = None) -> Any:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().post("/admin/login/", REMOTE_ADDR=remote, **extra)


def test_without_a_configured_header_the_address_is_remote_addr():
    # when / then: a client's own X-Forwarded-For is ignored
    assert client_ip(request_from("10.0.0.5", "1.2.3.4")) == "10.0.0.5"


@override_settings(LOGIN_CLIENT_IP_HEADER="X-Forwarded-For", LOGIN_TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_the_address_is_the_last_forwarded_one():
    # when / then: the entry the proxy appended, not what the client put in front of it
    assert client_ip(request_from("10.0.0.5", "6.6.6.6, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(request_from("10.0.0.5", "2001:db8::1")) == "2001:db8::1"
    assert client_ip(request_from("10.0.0.5")) == "10.0.0.5"
    assert client_ip(request_from("10.0.0.5", "not-an-address")) == "10.0.0.5"


@override_settings(LOGIN_CLIENT_IP_HEADER="X-Forwarded-For", LOGIN_TRUSTED_PROXY_COUNT=2)
def test_behind_two_proxies_the_address_is_the_second_from_the_right():
    # when / then
    assert client_ip(request_from("10.0.0.5", "6.6.6.6, 203.0.113.9, 10.0.0.4")) == "203.0.113.9"
    assert client_ip(request_from("10.0.0.5", "203.0.113.9")) == "10.0.0.5"


@override_settings(LOGIN_CLIENT_IP_HEADER="X-Forwarded-For", LOGIN_TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_clients_are_locked_by_their_own_address(cast):
    # given: one client behind the proxy fails until its address is locked
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            reverse("admin:login"),
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.5",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )

    # when: another client behind the same proxy signs in
    response = Client().post(
        reverse("admin:login"),
        {"username": "editor", "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="198.51.100.20",
    )

    # then
    assert response.status_code == 302


# --- password validators ------------------------------------------------------------------------


def add_user(client: Client, username: str, password: str) -> Any:
    return client.post(
        reverse("admin:auth_user_add"),
        {
            "username": username,
            "usable_password": "true",
            "password1": password,
            "password2": password,
        },
    )


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short-pw1", "too short"),
        ("password1234", "too common"),
        ("381204958123", "entirely numeric"),
        ("newperson-2026", "too similar"),
    ],
)
def test_the_admins_user_form_refuses_a_weak_password(cast, password, says):
    # given
    client = Client()
    client.force_login(cast.user("operator"))

    # when
    response = add_user(client, "newperson", password)

    # then
    assert response.status_code == 200
    assert says in response.content.decode()
    assert not get_user_model().objects.filter(username="newperson").exists()


def test_the_admins_user_form_takes_a_strong_password(cast):
    # given
    client = Client()
    client.force_login(cast.user("operator"))

    # when
    response = add_user(client, "newperson", "correct horse battery staple")

    # then
    assert response.status_code == 302
    assert (
        get_user_model()
        .objects.get(username="newperson")
        .check_password("correct horse battery staple")
    )


def test_the_demo_passwords_pass_the_validators():
    from django.contrib.auth.password_validation import validate_password

    from apps.core.demo import demo_password

    # when / then: raises if one is refused
    for username in ("operator", "acme-owner", "acme-reviewer"):
        validate_password(demo_password(username), get_user_model()(username=username))


# --- production: behind its TLS proxy, counted per client ---------------------------------------


def test_production_counts_failures_per_forwarded_client_address_unless_told_otherwise(
    monkeypatch,
):
    from tests.core.test_settings import _production_settings, _valid_env

    # when / then: docs/deploy.md's proxy is assumed; an empty value means direct clients
    assert _production_settings(monkeypatch, **_valid_env())["LOGIN_CLIENT_IP_HEADER"] == (
        "X-Forwarded-For"
    )
    direct = _production_settings(monkeypatch, **_valid_env(LOGIN_CLIENT_IP_HEADER=""))
    assert direct["LOGIN_CLIENT_IP_HEADER"] == ""


def test_no_password_typed_into_either_form_is_stored_with_the_failure(cast):
    # given
    client = Client()
    client.force_login(cast.user("editor"))

    # when
    sign_in(Client(), "editor", "typed-at-sign-in")
    change_password(client, "typed-as-old", new="typed-as-new-password")

    # then
    stored = repr(list(AccessAttempt.objects.values("get_data", "post_data")))
    assert "old_password=" in stored  # the password change's failure was recorded
    assert "typed-" not in stored
