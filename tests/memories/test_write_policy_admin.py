"""The write policy in the admin: the list, the read-only page with rules and history, the
rules page (edit -> preview -> save) and restore, as every role; refused POSTs change nothing;
bad input is a form error, never a 500."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.memories import services
from apps.memories.models import Tier, WritePolicy, WritePolicyVersion
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.memories.api_world import make_item

WHO = [*ROLES_AND_OTHERS, "anonymous"]
ACME = {"owner", "admin", "reviewer", "editor", "auditor", "viewer"}
MANAGERS = {"owner", "admin", "operator"}
LOGIN = "login"
USER_ONLY = {"auto_approve": [{"actor_kind": "user"}]}
STRICT = {"auto_approve": [{"tier": "personal", "min_confidence": 0.95}]}


@pytest.fixture
def policy(cast: Any) -> WritePolicy:
    for rules, reason in ((USER_ONLY, "v1 by hand"), (STRICT, "v2 by hand")):
        services.write_policy_update(
            actor=SYSTEM, workspace=cast.workspace, rules=rules, reason=reason
        )
    make_item(
        cast.workspace,
        tier=Tier.PERSONAL,
        agent=cast.agent,
        created_by_agent=cast.agent,
        confidence=0.97,
        created_at=timezone.now() - datetime.timedelta(days=1),
    )
    return services.write_policy_for(cast.workspace)


def outcome_of(response: Any) -> Any:
    if response.status_code == 302 and response.url.startswith(reverse("admin:login")):
        return LOGIN
    return response.status_code


def sign_in(client: Any, cast: Any, who: str) -> None:
    if who != "anonymous":
        client.force_login(cast.user(who))


def state() -> tuple[Any, ...]:
    return (
        list(WritePolicy.objects.order_by("pk").values()),
        list(WritePolicyVersion.objects.order_by("pk").values()),
        AuditEvent.objects.count(),
    )


def rules_post(rules: list[dict[str, Any]], *, extra: int = 0, **fields: Any) -> dict[str, Any]:
    """The rules page's form as a browser sends it: one row per rule plus blank rows."""
    data: dict[str, Any] = {
        "rule-TOTAL_FORMS": str(len(rules) + extra),
        "rule-INITIAL_FORMS": str(len(rules)),
        "rule-MIN_NUM_FORMS": "0",
        "rule-MAX_NUM_FORMS": "1000",
        "dedup_threshold": "0.9",
        "reason": "Agents' notes go to review",
    }
    for index, rule in enumerate(rules):
        for key in ("tier", "actor_kind", "source", "min_confidence"):
            data[f"rule-{index}-{key}"] = str(rule.get(key, ""))
        if rule.get("types"):
            data[f"rule-{index}-types"] = rule["types"]
        if rule.get("DELETE"):
            data[f"rule-{index}-DELETE"] = "on"
    for index in range(len(rules), len(rules) + extra):
        for key in ("tier", "actor_kind", "source", "min_confidence"):
            data[f"rule-{index}-{key}"] = ""
    data.update(fields)
    return data


def url(name: str, policy: WritePolicy, query: str = "") -> str:
    return reverse(f"admin:memories_writepolicy_{name}", args=[policy.pk]) + query


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- who may do what ---------------------------------------------------------------------------


def expected_page(who: str, allowed: set[str]) -> Any:
    if who == "anonymous":
        return LOGIN
    if who in allowed:
        return 200
    if who in ACME or who == "nobody":
        return 403
    return 404  # team-level roles and the other workspace's owner do not see the policy


@pytest.mark.parametrize("who", WHO)
def test_the_policy_page_shows_rules_history_and_buttons_by_role(cast, client, policy, who):
    sign_in(client, cast, who)

    response = client.get(url("change", policy))

    if who in ACME | {"operator"}:
        assert response.status_code == 200
        html = response.content.decode()
        assert "personal tier, confidence &gt;= 0.95" in html
        assert 'data-testid="version-2"' in html and "v2 by hand" in html
        assert "+ approve at once: personal tier, confidence &gt;= 0.95" in html
        manager = who in MANAGERS
        assert ('data-testid="write-policy-edit"' in html) is manager
        assert ('data-testid="restore-1"' in html) is manager
        assert 'data-testid="restore-2"' not in html  # the policy in force
        assert 'name="_save"' not in html  # the stock form is read-only
    elif who == "anonymous":
        assert outcome_of(response) == LOGIN
    else:  # refused, or sent away from the object
        assert response.status_code in (302, 403, 404)
        assert "v2 by hand" not in response.content.decode()


@pytest.mark.parametrize("who", WHO)
def test_the_list(cast, client, policy, who):
    sign_in(client, cast, who)

    response = client.get(reverse("admin:memories_writepolicy_changelist"))

    if who == "anonymous":
        assert outcome_of(response) == LOGIN
    elif who == "nobody":
        assert response.status_code == 403
    else:
        assert response.status_code == 200
        shown = url("change", policy) in response.content.decode()
        assert shown is (who in ACME | {"operator"})


def test_the_list_makes_the_default_policy_of_a_workspace_without_one(cast, client):
    client.force_login(cast.user("viewer"))
    assert not WritePolicy.objects.filter(workspace=cast.workspace).exists()

    response = client.get(reverse("admin:memories_writepolicy_changelist"))

    assert response.status_code == 200
    created = WritePolicy.objects.get(workspace=cast.workspace)
    assert url("change", created) in response.content.decode()
    assert not WritePolicy.objects.filter(workspace=cast.other_workspace).exists()


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("page", ["rules", "restore"])
def test_the_edit_and_restore_pages_are_for_managers(cast, client, policy, who, page):
    sign_in(client, cast, who)

    response = client.get(url(page, policy, "?version=1" if page == "restore" else ""))

    assert outcome_of(response) == expected_page(who, MANAGERS)
    if outcome_of(response) == 200 and page == "restore":
        html = response.content.decode()
        assert "- approve at once: personal tier, confidence &gt;= 0.95" in html
        assert 'data-testid="to-review">1<' in html  # the sure agent note of yesterday


@pytest.mark.parametrize("who", WHO)
def test_saving_rules(cast, client, policy, who):
    sign_in(client, cast, who)
    before = state()

    response = client.post(
        url("rules", policy), rules_post([{"actor_kind": "user"}], _save="1", base="2")
    )

    if who in MANAGERS:
        assert response.status_code == 302
        policy.refresh_from_db()
        assert policy.rules == USER_ONLY
        version = WritePolicyVersion.objects.filter(policy=policy).first()
        assert (version.number, version.reason) == (3, "Agents' notes go to review")
        assert version.actor_label == cast.user(who).username
        event = AuditEvent.objects.order_by("-id").first()
        assert (event.action, event.reason) == (
            "memory.write_policy_update",
            "Agents' notes go to review",
        )
    else:
        assert outcome_of(response) == expected_page(who, MANAGERS)
        assert state() == before


@pytest.mark.parametrize("who", WHO)
def test_restoring(cast, client, policy, who):
    sign_in(client, cast, who)
    before = state()

    response = client.post(
        url("restore", policy), {"version": "1", "reason": "v2 was too strict", "base": "2"}
    )

    if who in MANAGERS:
        assert response.status_code == 302
        policy.refresh_from_db()
        assert policy.rules == USER_ONLY
        newest = WritePolicyVersion.objects.filter(policy=policy).first()
        assert (newest.number, newest.restored_from) == (3, 1)
    else:
        assert outcome_of(response) == expected_page(who, MANAGERS)
        assert state() == before


# --- the preview step --------------------------------------------------------------------------


def test_preview_shows_what_changes_and_saves_nothing(cast, client, policy):
    client.force_login(cast.user("owner"))
    before = state()

    response = client.post(
        url("rules", policy), rules_post([{"actor_kind": "user"}], extra=1, _preview="1")
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="write-policy-confirm"' in html
    assert "- approve at once: personal tier, confidence &gt;= 0.95" in html
    assert "+ approve at once: written by a person" in html
    assert 'data-testid="to-review">1<' in html
    assert 'data-testid="approved-before">1<' in html
    assert 'data-testid="approved-after">0<' in html
    assert 'data-testid="preview-sample"' in html
    assert 'name="_save"' in html
    assert 'name="rule-0-actor_kind" value="user"' in html  # carried to the save
    assert state() == before


def test_back_to_the_form_keeps_what_was_typed(cast, client, policy):
    client.force_login(cast.user("owner"))

    response = client.post(
        url("rules", policy), rules_post([{"actor_kind": "user"}], _edit="1", base="2")
    )

    html = response.content.decode()
    assert 'data-testid="write-policy-edit-page"' in html
    assert '<option value="user" selected>' in html


def test_the_edit_form_shows_the_rules_in_force(cast, client, policy):
    client.force_login(cast.user("admin"))

    html = client.get(url("rules", policy)).content.decode()

    assert 'name="rule-0-min_confidence"' in html and 'value="0.95"' in html
    assert 'name="rule-TOTAL_FORMS" value="3"' in html  # the rule and two blank rows


def test_removing_every_rule_and_a_blank_row_is_no_rule(cast, client, policy):
    client.force_login(cast.user("owner"))

    client.post(
        url("rules", policy),
        rules_post([{**STRICT["auto_approve"][0], "DELETE": True}], extra=2, _save="1", base="2"),
    )

    policy.refresh_from_db()
    assert policy.rules == {"auto_approve": []}


@pytest.mark.parametrize(
    ("rules", "fields", "error"),
    [
        ([{"min_confidence": "1.5"}], {}, "Ensure this value is less than or equal to 1"),
        ([{"min_confidence": "lots"}], {}, "Enter a number"),
        ([{"tier": "galaxy"}], {}, "Select a valid choice"),
        ([{"types": ["galaxy"]}], {}, "Select a valid choice"),
        ([{"actor_kind": "user"}], {"reason": ""}, "This field is required"),
        ([{"actor_kind": "user"}], {"dedup_threshold": "0.2"}, "greater than or equal to 0.5"),
    ],
)
@pytest.mark.parametrize("button", ["_preview", "_save"])
def test_bad_input_is_a_form_error_and_changes_nothing(
    cast, client, policy, rules, fields, error, button
):
    client.force_login(cast.user("owner"))
    before = state()

    response = client.post(url("rules", policy), rules_post(rules, **fields, **{button: "1"}))

    assert response.status_code == 200
    assert error in response.content.decode()
    assert 'data-testid="write-policy-edit-page"' in response.content.decode()
    assert state() == before


def test_a_save_based_on_an_old_version_is_refused(cast, client, policy):
    client.force_login(cast.user("owner"))
    before = state()

    response = client.post(
        url("rules", policy), rules_post([{"actor_kind": "user"}], _save="1", base="1")
    )

    assert response.status_code == 200
    assert any("changed since you looked" in m for m in messages_of(response))
    assert state() == before


@pytest.mark.parametrize(("query", "status"), [("", 400), ("?version=x", 400), ("?version=9", 404)])
def test_restore_needs_a_version_of_this_policy(cast, client, policy, query, status):
    client.force_login(cast.user("owner"))

    assert client.get(url("restore", policy, query)).status_code == status


def test_restore_without_a_reason_changes_nothing(cast, client, policy):
    client.force_login(cast.user("owner"))
    before = state()

    response = client.post(url("restore", policy), {"version": "1", "reason": " ", "base": "2"})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert state() == before


def test_the_other_workspace_policy_is_not_found(cast, client, policy):
    theirs = services.write_policy_for(cast.other_workspace)
    client.force_login(cast.user("owner"))
    before = state()

    for page in ("rules", "restore"):
        assert client.get(url(page, theirs, "?version=1")).status_code == 404
    response = client.post(url("rules", theirs), rules_post([], _save="1"))
    assert response.status_code == 404
    assert state() == before
