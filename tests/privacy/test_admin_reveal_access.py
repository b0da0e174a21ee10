"""The "Reveal access" page of a privacy policy, role by role: owners (and operators) see who
holds reveal_pii and grant or revoke it, always through the services (one audit event each);
everyone else changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from guardian.shortcuts import assign_perm

from apps.core.exceptions import Forbidden
from apps.privacy import services
from apps.privacy.models import (
    PrivacyPolicy,
    PrivacyPolicyGroupObjectPermission,
    PrivacyPolicyUserObjectPermission,
)
from tests.conftest import ROLES_AND_OTHERS
from tests.privacy.conftest import recorded
from tests.workspaces.test_admin_permissions import GONE, LOGIN, messages_of, outcome_of

WHO = [*ROLES_AND_OTHERS, "anonymous"]
MAY_MANAGE = {"owner", "operator"}


def expected_for(who: str) -> Any:
    """Like the policy's change page: outsiders don't see Acme's policy at all."""
    if who in MAY_MANAGE:
        return 200
    return {"anonymous": LOGIN, "outsider": GONE}.get(who, 403)


@pytest.fixture
def acme(cast) -> PrivacyPolicy:
    services.policy_for_workspace(cast.other_workspace)
    return services.policy_for_workspace(cast.workspace)


def page(policy: PrivacyPolicy) -> str:
    return reverse("admin:privacy_privacypolicy_reveal_access", args=[policy.pk])


def sign_in(client: Any, cast: Any, who: str) -> None:
    if who != "anonymous":
        client.force_login(cast.user(who))


def grant(cast: Any, who: str) -> None:
    assert services.pii_reveal_grant(
        actor=cast.user("owner"), workspace=cast.workspace, user=cast.user(who)
    )


def holders(policy: PrivacyPolicy) -> set[str]:
    rows = PrivacyPolicyUserObjectPermission.objects.filter(
        content_object=policy, permission__codename="reveal_pii"
    )
    return {row.user.username for row in rows.select_related("user")}


def grant_rows() -> list[dict[str, Any]]:
    return list(PrivacyPolicyUserObjectPermission.objects.order_by("pk").values())


# --- the permission matrix --------------------------------------------------------------------


@pytest.mark.parametrize("who", WHO)
def test_page_matrix(cast, client, acme, who):
    grant(cast, "auditor")
    sign_in(client, cast, who)
    before = grant_rows()

    with recorded() as events:
        response = client.get(page(acme))

    assert outcome_of(response) == expected_for(who)
    assert events == []
    assert grant_rows() == before


@pytest.mark.parametrize("who", WHO)
def test_grant_matrix(cast, client, acme, who):
    sign_in(client, cast, who)

    with recorded() as events:
        response = client.post(page(acme), {"_grant": "1", "username": "viewer", "reason": "DPO"})

    if who in MAY_MANAGE:
        assert (response.status_code, response.url) == (302, page(acme))
        assert [e.action for e in events] == ["pii.reveal_grant"]
        assert events[0].after == {"user": cast.user("viewer").pk, "permission": "reveal_pii"}
        assert events[0].reason == "DPO"
        assert holders(acme) == {"viewer"}
        assert messages_of(response) == ["viewer may now reveal personal data here."]
    else:
        assert outcome_of(response) == expected_for(who)
        assert events == []
        assert not PrivacyPolicyUserObjectPermission.objects.exists()


@pytest.mark.parametrize("who", WHO)
def test_revoke_matrix(cast, client, acme, who):
    grant(cast, "auditor")
    auditor = cast.user("auditor")
    sign_in(client, cast, who)

    with recorded() as events:
        response = client.post(page(acme), {"_revoke": "1", "user": auditor.pk})

    if who in MAY_MANAGE:
        assert (response.status_code, response.url) == (302, page(acme))
        assert [e.action for e in events] == ["pii.reveal_revoke"]
        assert events[0].before == {"user": auditor.pk, "permission": "reveal_pii"}
        assert holders(acme) == set()
        assert messages_of(response) == ["auditor may no longer reveal personal data here."]
    else:
        assert outcome_of(response) == expected_for(who)
        assert events == []
        assert holders(acme) == {"auditor"}


@pytest.mark.parametrize("who", ["admin", "viewer", "outsider", "team_admin"])
def test_other_workspaces_policy_is_out_of_reach(cast, client, acme, who):
    """The outsider owns Globex; nobody else here may manage its reveal access."""
    globex = services.policy_for_workspace(cast.other_workspace)
    client.force_login(cast.user(who))

    response = client.post(page(globex), {"_grant": "1", "username": "outsider"})

    if who == "outsider":
        assert response.status_code == 302 and response.url == page(globex)
        assert holders(globex) == {"outsider"}
    else:
        assert outcome_of(response) == GONE
        assert holders(globex) == set()


def test_an_unknown_policy_is_gone(cast, client):
    client.force_login(cast.user("owner"))

    assert (
        outcome_of(client.get(reverse("admin:privacy_privacypolicy_reveal_access", args=[0])))
        == GONE
    )
    assert outcome_of(client.get("/admin/privacy/privacypolicy/nope/reveal-access/")) == GONE
    assert client.get("/admin/privacy/privacypolicy/nope/reveal_access_detail/").status_code == 403


# --- the grant form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("outsider", "outsider is not a member of this workspace."),
        ("nobody", "nobody is not a member of this workspace."),
        ("no-such-user", "No user has this username."),
        ("", "This field is required."),
    ],
)
def test_granting_to_a_non_member_is_a_form_error(cast, client, acme, username, error):
    client.force_login(cast.user("owner"))

    with recorded() as events:
        response = client.post(page(acme), {"_grant": "1", "username": username})

    assert response.status_code == 200
    assert response.context["grant_form"].errors == {"username": [error]}
    assert error.encode() in response.content
    assert events == []
    assert not PrivacyPolicyUserObjectPermission.objects.exists()


def test_only_members_are_offered(cast, client, acme):
    grant(cast, "auditor")
    client.force_login(cast.user("owner"))

    response = client.get(page(acme))

    offered = {user.username for user in response.context["members"]}
    assert offered == {
        "owner",
        "admin",
        "reviewer",
        "editor",
        "viewer",
        "team_admin",
        "team_viewer",
    }  # the auditor already holds it; outsider, nobody and the operator are not members
    assert b'<datalist id="reveal-members">' in response.content


def test_a_team_member_can_be_granted(cast, client, acme):
    client.force_login(cast.user("owner"))

    with recorded() as events:
        client.post(page(acme), {"_grant": "1", "username": "team_viewer"})

    assert holders(acme) == {"team_viewer"}
    assert [e.action for e in events] == ["pii.reveal_grant"]


def test_granting_again_writes_nothing(cast, client, acme):
    grant(cast, "viewer")
    client.force_login(cast.user("owner"))

    with recorded() as events:
        response = client.post(page(acme), {"_grant": "1", "username": "viewer"})

    assert response.status_code == 302
    assert events == []
    assert messages_of(response) == ["viewer already holds the reveal right."]


def test_a_grant_refusal_is_a_message_not_an_error(cast, client, acme, monkeypatch):
    def refuse(**kwargs: Any) -> bool:
        raise Forbidden("You may not manage_owners this workspace.")

    monkeypatch.setattr(services, "pii_reveal_grant", refuse)
    grant_rows_before = grant_rows()
    client.force_login(cast.user("owner"))

    granted = client.post(page(acme), {"_grant": "1", "username": "viewer"})

    assert granted.status_code == 302
    assert messages_of(granted) == ["You may not manage_owners this workspace."]
    assert grant_rows() == grant_rows_before


def test_a_revoke_refusal_is_a_message(cast, client, acme, monkeypatch):
    grant(cast, "viewer")

    def refuse(**kwargs: Any) -> bool:
        raise Forbidden("You may not manage_owners this workspace.")

    monkeypatch.setattr(services, "pii_reveal_revoke", refuse)
    client.force_login(cast.user("owner"))

    response = client.post(page(acme), {"_revoke": "1", "user": cast.user("viewer").pk})

    assert response.status_code == 302
    assert messages_of(response) == ["You may not manage_owners this workspace."]
    assert holders(acme) == {"viewer"}


def test_forms_need_the_csrf_token(cast, acme):
    grant(cast, "viewer")
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.user("owner"))

    with recorded() as events:
        granted = client.post(page(acme), {"_grant": "1", "username": "auditor"})
        revoked = client.post(page(acme), {"_revoke": "1", "user": cast.user("viewer").pk})

    assert (granted.status_code, revoked.status_code) == (403, 403)
    assert events == []
    assert holders(acme) == {"viewer"}


# --- revoke: confirmation first ---------------------------------------------------------------


def test_revoke_asks_for_confirmation_and_changes_nothing(cast, client, acme):
    grant(cast, "viewer")
    viewer = cast.user("viewer")
    client.force_login(cast.user("owner"))

    with recorded() as events:
        response = client.get(f"{page(acme)}?revoke={viewer.pk}")

    assert response.status_code == 200
    assert response.context["revoke_user"] == viewer
    body = response.content.decode()
    assert 'data-testid="reveal-revoke-confirm"' in body
    assert 'name="_revoke"' in body and "csrfmiddlewaretoken" in body
    assert f'name="user" value="{viewer.pk}"' in body
    assert events == []
    assert holders(acme) == {"viewer"}


@pytest.mark.parametrize("target", ["auditor", "nonsense"])
def test_revoking_someone_without_the_right_is_a_message(cast, client, acme, target):
    grant(cast, "viewer")
    client.force_login(cast.user("owner"))
    user = cast.user(target).pk if target != "nonsense" else "x"

    with recorded() as events:
        asked = client.get(f"{page(acme)}?revoke={user}")
        posted = client.post(page(acme), {"_revoke": "1", "user": user})

    assert (asked.status_code, asked.url) == (302, page(acme))
    assert (posted.status_code, posted.url) == (302, page(acme))
    assert messages_of(posted)
    assert events == []
    assert holders(acme) == {"viewer"}


def test_revoke_records_the_reason(cast, client, acme):
    grant(cast, "viewer")
    client.force_login(cast.user("owner"))

    with recorded() as events:
        client.post(
            page(acme), {"_revoke": "1", "user": cast.user("viewer").pk, "reason": "left DPO"}
        )

    assert [(e.action, e.reason) for e in events] == [("pii.reveal_revoke", "left DPO")]


# --- the list ---------------------------------------------------------------------------------


def test_the_page_lists_people_and_groups_holding_the_right(cast, client, acme):
    from apps.workspaces.models import Membership
    from apps.workspaces.services import membership_revoke

    grant(cast, "auditor")
    grant(cast, "viewer")
    membership_revoke(
        actor=cast.user("owner"),
        membership=Membership.objects.get(user=cast.user("viewer"), team=None),
    )
    group = Group.objects.create(name="dpo")
    cast.user("editor").groups.add(group)
    assign_perm("reveal_pii", group, acme)
    client.force_login(cast.user("owner"))

    response = client.get(page(acme))

    rows = [(row["user"].username, row["is_member"]) for row in response.context["users"]]
    assert rows == [("auditor", True), ("viewer", False)]
    assert [(g.name, size) for g, size in response.context["groups"]] == [("dpo", 1)]
    body = response.content.decode()
    assert 'data-holder="auditor"' in body and 'data-holder="viewer"' in body
    assert 'data-group="dpo"' in body
    assert "no longer a member" in body
    assert f"?revoke={cast.user('auditor').pk}" in body
    assert PrivacyPolicyGroupObjectPermission.objects.count() == 1


def test_another_workspaces_grants_are_not_listed(cast, client, acme):
    globex = services.policy_for_workspace(cast.other_workspace)
    services.pii_reveal_grant(
        actor=cast.user("outsider"), workspace=cast.other_workspace, user=cast.user("outsider")
    )
    client.force_login(cast.user("owner"))

    response = client.get(page(acme))

    assert response.context["users"] == []
    assert b'id="reveal-no-holders"' in response.content
    assert holders(globex) == {"outsider"}


# --- the link from the policy page ------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "operator", "admin", "viewer"])
def test_the_policy_page_links_to_reveal_access_for_owners(cast, client, acme, who):
    client.force_login(cast.user(who))
    action_url = reverse("admin:privacy_privacypolicy_reveal_access_detail", args=[acme.pk])

    body = client.get(reverse("admin:privacy_privacypolicy_change", args=[acme.pk])).content
    followed = client.get(action_url)

    if who in MAY_MANAGE:
        assert action_url.encode() in body
        assert (followed.status_code, followed.url) == (302, page(acme))
    else:
        assert action_url.encode() not in body
        assert followed.status_code == 403
