"""Permission matrix for every management endpoint under /api/v1/: every member of the cast tries
each one. Refused requests must change nothing and write no audit event; allowed writes write
exactly one, naming the actor and the workspace."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from tests.api_helpers import (
    OUTSIDE,
    READERS,
    TEAM,
    assert_error,
    assert_one_audit,
    audit_mark,
    audit_since,
    each,
    matrix,
    row,
)
from tests.workspaces.factories import (
    AgentFactory,
    AgentTokenFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.shared_rows()  # built once per module: tests/conftest.py

MACHINES = {"agent": 403, "other_agent": 403, "anonymous": 401}
TOKEN_IGNORED = ("last_used_at",)  # telemetry the agent's own requests may touch


@pytest.fixture
def world(cast: Any) -> dict[str, Any]:
    """More rows on both sides so lists show what scoping keeps out, not just emptiness."""
    mkt_bot = AgentFactory(workspace=cast.workspace, team=cast.marketing, slug="mkt-bot")
    return {
        "cast": cast,
        "ops": TeamFactory(workspace=cast.other_workspace, name="Ops", slug="ops"),
        "mkt_bot": mkt_bot,
        "mkt_token": AgentTokenFactory(agent=mkt_bot),
        "spare_token": AgentTokenFactory(agent=cast.agent, name="spare"),
        "other_token": AgentToken.objects.get(agent=cast.other_agent),
    }


def then_allowed(response: Any, status: int, mark: int, cast: Any, who: str, action: str) -> Any:
    assert response.status_code == status, response.content[:500]
    assert_one_audit(mark, action=action, actor=cast.user(who), workspace_id=cast.workspace.pk)
    return response.json() if response.content else None


def then_refused(response: Any, status: int, mark: int, *unchanged: tuple[Any, Any]) -> None:
    assert_error(response, status)
    assert audit_since(mark) == []
    for obj, before in unchanged:
        ignore = TOKEN_IGNORED if isinstance(obj, AgentToken) else ()
        assert row(obj, ignore=ignore) == before


def snapshot(obj: Any) -> tuple[Any, Any]:
    ignore = TOKEN_IGNORED if isinstance(obj, AgentToken) else ()
    return obj, row(obj, ignore=ignore)


def membership_of(cast: Any, who: str) -> Membership:
    return Membership.objects.get(user=cast.user(who))


def listed(response: Any, key: str) -> set[Any]:
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["next"] is None
    return {item[key] for item in body["results"]}


# --- workspaces -------------------------------------------------------------------------------

ACME_MEMBERS = ("owner", "admin", *READERS, *TEAM)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        *[(who, {"acme"}) for who in ACME_MEMBERS],
        ("outsider", {"globex"}),
        ("nobody", set()),
        ("operator", {"acme", "globex"}),
        *MACHINES.items(),
    ],
)
def test_workspace_list(cast, client_as, who, expected):
    response = client_as(who).get("/api/v1/workspaces")

    if isinstance(expected, int):
        assert_error(response, expected)
    else:
        assert {Workspace.objects.get(pk=pk).slug for pk in listed(response, "id")} == expected


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *ACME_MEMBERS, "operator"), **each(404, *OUTSIDE)),
)
def test_workspace_retrieve(cast, client_as, who, status):
    response = client_as(who).get(f"/api/v1/workspaces/{cast.workspace.pk}")

    if status == 200:
        assert response.json()["slug"] == "acme"
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, "owner", "admin", "operator"),
        **each(403, *READERS, *TEAM),
        **each(404, *OUTSIDE),
    ),
)
def test_workspace_rename(cast, client_as, who, status):
    before, mark = snapshot(cast.workspace), audit_mark()

    response = client_as(who).patch(
        f"/api/v1/workspaces/{cast.workspace.pk}", {"name": "Acme Corp"}
    )

    if status == 200:
        then_allowed(response, status, mark, cast, who, "workspace.update")
        assert Workspace.objects.get(pk=cast.workspace.pk).name == "Acme Corp"
    else:
        then_refused(response, status, mark, before)


# --- teams ------------------------------------------------------------------------------------

ALL_ACME_TEAMS = {"sales", "marketing"}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        *[(who, ALL_ACME_TEAMS) for who in ("owner", "admin", *READERS)],
        *[(who, {"sales"}) for who in TEAM],
        ("outsider", {"ops"}),
        ("nobody", set()),
        ("operator", {*ALL_ACME_TEAMS, "ops"}),
        *MACHINES.items(),
    ],
)
def test_team_list(world, client_as, who, expected):
    response = client_as(who).get("/api/v1/teams")

    if isinstance(expected, int):
        assert_error(response, expected)
    else:
        assert listed(response, "slug") == expected


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, "owner", "admin", "operator"),
        **each(403, *READERS, *TEAM),
        **each(400, *OUTSIDE),  # the workspace reads as missing: a bad reference, not a URL
    ),
)
def test_team_create(cast, client_as, who, status):
    mark, count = audit_mark(), Team.objects.count()

    response = client_as(who).post(
        "/api/v1/teams", {"workspace": cast.workspace.pk, "name": "Support", "slug": "support"}
    )

    if status == 201:
        body = then_allowed(response, status, mark, cast, who, "team.create")
        assert Team.objects.get(pk=body["id"]).workspace == cast.workspace
    else:
        then_refused(response, status, mark)
        assert Team.objects.count() == count


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, "owner", "admin", *READERS, "operator"), **each(404, *TEAM, *OUTSIDE)),
)
def test_team_retrieve_of_a_team_outside_ones_own(cast, client_as, who, status):
    response = client_as(who).get(f"/api/v1/teams/{cast.marketing.pk}")

    if status == 200:
        assert response.json()["slug"] == "marketing"
    else:
        assert_error(response, status, "not_found" if status == 404 else None)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, "owner", "admin", *READERS, *TEAM, "operator"), **each(404, *OUTSIDE)),
)
def test_team_retrieve_of_ones_own_team(cast, client_as, who, status):
    response = client_as(who).get(f"/api/v1/teams/{cast.sales.pk}")

    if status == 200:
        assert response.json()["slug"] == "sales"
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        # A team admin manages its own team, name included (services.team_update).
        **each(200, "owner", "admin", "team_admin", "operator"),
        **each(403, *READERS, "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_team_rename(cast, client_as, who, status):
    before, mark = snapshot(cast.sales), audit_mark()

    response = client_as(who).patch(f"/api/v1/teams/{cast.sales.pk}", {"name": "Field Sales"})

    if status == 200:
        then_allowed(response, status, mark, cast, who, "team.update")
        assert Team.objects.get(pk=cast.sales.pk).name == "Field Sales"
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(204, "owner", "admin", "operator"),
        **each(403, *READERS),
        **each(404, *TEAM, *OUTSIDE),
    ),
)
def test_team_delete(cast, client_as, who, status):
    before, mark = snapshot(cast.marketing), audit_mark()

    response = client_as(who).delete(f"/api/v1/teams/{cast.marketing.pk}")

    if status == 204:
        then_allowed(response, status, mark, cast, who, "team.delete")
        assert not Team.objects.filter(pk=cast.marketing.pk).exists()
    else:
        then_refused(response, status, mark, before)


def test_team_admin_cannot_delete_its_own_team(cast, client_as):
    before, mark = snapshot(cast.sales), audit_mark()

    response = client_as("team_admin").delete(f"/api/v1/teams/{cast.sales.pk}")

    then_refused(response, 403, mark, before)


def test_team_with_agents_cannot_be_deleted(cast, client_as):
    before, mark = snapshot(cast.sales), audit_mark()

    response = client_as("owner").delete(f"/api/v1/teams/{cast.sales.pk}")

    then_refused(response, 409, mark, before)


def test_deleting_a_team_records_the_memberships_that_go_with_it(cast, client_as):
    support = TeamFactory(workspace=cast.workspace, slug="support")
    member = MembershipFactory(user=cast.user("viewer"), workspace=cast.workspace, team=support)
    mark = audit_mark()

    response = client_as("owner").delete(f"/api/v1/teams/{support.pk}")

    then_allowed(response, 204, mark, cast, "owner", "team.delete")
    event = audit_since(mark)[0]
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert [m["user"] for m in event.before["memberships"]] == [cast.user("viewer").pk]


# --- memberships ------------------------------------------------------------------------------

ACME_MEMBERSHIPS = {
    *[(who, None) for who in ("owner", "admin", *READERS)],
    ("team_admin", "sales"),
    ("team_viewer", "sales"),
}
SALES_MEMBERSHIPS = {("team_admin", "sales"), ("team_viewer", "sales")}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        *[(who, ACME_MEMBERSHIPS) for who in ("owner", "admin", *READERS)],
        *[(who, SALES_MEMBERSHIPS) for who in TEAM],
        ("outsider", {("outsider", None)}),
        ("nobody", set()),
        ("operator", {*ACME_MEMBERSHIPS, ("outsider", None)}),
        *MACHINES.items(),
    ],
)
def test_membership_list(cast, client_as, who, expected):
    response = client_as(who).get("/api/v1/memberships")

    if isinstance(expected, int):
        assert_error(response, expected)
    else:
        pairs = {
            (item["user"], Team.objects.get(pk=item["team"]).slug if item["team"] else None)
            for item in response.json()["results"]
        }
        assert response.status_code == 200
        assert pairs == expected


def _grant(
    cast: Any, client: APIClient, role: str, team: Team | None = None
) -> tuple[Any, Any, int]:
    newcomer = UserFactory(username="newcomer")
    mark = audit_mark()
    payload = {"workspace": cast.workspace.pk, "user": "newcomer", "role": role}
    if team is not None:
        payload["team"] = team.pk
    return client.post("/api/v1/memberships", payload), newcomer, mark


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, "owner", "admin", "operator"),
        **each(403, *READERS, *TEAM),
        **each(400, *OUTSIDE),
    ),
)
def test_membership_grant_in_the_workspace(cast, client_as, who, status):
    response, newcomer, mark = _grant(cast, client_as(who), "viewer")

    if status == 201:
        then_allowed(response, status, mark, cast, who, "membership.grant")
        assert Membership.objects.get(user=newcomer).role == "viewer"
    else:
        then_refused(response, status, mark)
        assert not Membership.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, "owner", "admin", "team_admin", "operator"),
        **each(403, *READERS, "team_viewer"),
        **each(400, *OUTSIDE),
    ),
)
def test_membership_grant_in_the_sales_team(cast, client_as, who, status):
    response, newcomer, mark = _grant(cast, client_as(who), "editor", team=cast.sales)

    if status == 201:
        then_allowed(response, status, mark, cast, who, "membership.grant")
        assert Membership.objects.get(user=newcomer).team == cast.sales
    else:
        then_refused(response, status, mark)
        assert not Membership.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, "owner", "operator"),
        **each(403, "admin", *READERS, *TEAM),
        **each(400, *OUTSIDE),
    ),
)
def test_only_owners_grant_the_owner_role(cast, client_as, who, status):
    response, newcomer, mark = _grant(cast, client_as(who), "owner")

    if status == 201:
        then_allowed(response, status, mark, cast, who, "membership.grant")
        assert Membership.objects.get(user=newcomer).role == "owner"
    else:
        then_refused(response, status, mark)
        assert not Membership.objects.filter(user=newcomer).exists()


def _change_role(cast: Any, client: APIClient, target: str, role: str) -> tuple[Any, Any, int]:
    membership = membership_of(cast, target)
    before, mark = snapshot(membership), audit_mark()
    response = client.patch(f"/api/v1/memberships/{membership.pk}", {"role": role})
    return response, before, mark


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, "owner", "admin", "operator"),
        **each(403, *READERS),
        **each(404, *TEAM, *OUTSIDE),
    ),
)
def test_membership_change_role_in_the_workspace(cast, client_as, who, status):
    response, before, mark = _change_role(cast, client_as(who), "viewer", "editor")

    if status == 200:
        then_allowed(response, status, mark, cast, who, "membership.change_role")
        assert membership_of(cast, "viewer").role == "editor"
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, "owner", "admin", "team_admin", "operator"),
        **each(403, *READERS, "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_membership_change_role_in_the_sales_team(cast, client_as, who, status):
    response, before, mark = _change_role(cast, client_as(who), "team_viewer", "editor")

    if status == 200:
        then_allowed(response, status, mark, cast, who, "membership.change_role")
        assert membership_of(cast, "team_viewer").role == "editor"
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, "owner", "operator"),
        **each(403, "admin", *READERS),
        **each(404, *TEAM, *OUTSIDE),
    ),
)
def test_only_owners_promote_to_owner(cast, client_as, who, status):
    response, before, mark = _change_role(cast, client_as(who), "admin", "owner")

    if status == 200:
        then_allowed(response, status, mark, cast, who, "membership.change_role")
        assert membership_of(cast, "admin").role == "owner"
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(409, "owner", "operator"),
        **each(403, "admin", *READERS),
        **each(404, *TEAM, *OUTSIDE),
    ),
)
def test_the_last_owner_cannot_be_demoted(cast, client_as, who, status):
    response, before, mark = _change_role(cast, client_as(who), "owner", "admin")

    then_refused(response, status, mark, before)
    if status == 409:
        assert response.json()["error"]["code"] == "conflict"


def test_an_owner_demotes_another_owner_while_one_remains(cast, client_as):
    second = MembershipFactory(user=UserFactory(), workspace=cast.workspace, role="owner")
    mark = audit_mark()

    response = client_as("owner").patch(f"/api/v1/memberships/{second.pk}", {"role": "admin"})

    then_allowed(response, 200, mark, cast, "owner", "membership.change_role")
    assert Membership.objects.get(pk=second.pk).role == "admin"


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(204, "owner", "admin", "operator"),
        **each(403, *READERS),
        **each(404, *TEAM, *OUTSIDE),
    ),
)
def test_membership_revoke(cast, client_as, who, status):
    membership = membership_of(cast, "viewer")
    before, mark = snapshot(membership), audit_mark()

    response = client_as(who).delete(f"/api/v1/memberships/{membership.pk}")

    if status == 204:
        then_allowed(response, status, mark, cast, who, "membership.revoke")
        assert not Membership.objects.filter(pk=membership.pk).exists()
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(204, "owner", "admin", "team_admin", "operator"),
        **each(403, *READERS, "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_membership_revoke_in_the_sales_team(cast, client_as, who, status):
    membership = membership_of(cast, "team_viewer")
    before, mark = snapshot(membership), audit_mark()

    response = client_as(who).delete(f"/api/v1/memberships/{membership.pk}")

    if status == 204:
        then_allowed(response, status, mark, cast, who, "membership.revoke")
        assert not Membership.objects.filter(pk=membership.pk).exists()
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(409, "owner", "operator"),
        **each(403, "admin", *READERS),
        **each(404, *TEAM, *OUTSIDE),
    ),
)
def test_the_last_owner_cannot_be_removed(cast, client_as, who, status):
    membership = membership_of(cast, "owner")
    before, mark = snapshot(membership), audit_mark()

    response = client_as(who).delete(f"/api/v1/memberships/{membership.pk}")

    then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(204, "owner", "operator"),
        **each(403, "admin", *READERS),
        **each(404, *TEAM, *OUTSIDE),
    ),
)
def test_only_owners_remove_another_owner(cast, client_as, who, status):
    second = MembershipFactory(user=UserFactory(), workspace=cast.workspace, role="owner")
    before, mark = snapshot(second), audit_mark()

    response = client_as(who).delete(f"/api/v1/memberships/{second.pk}")

    if status == 204:
        then_allowed(response, status, mark, cast, who, "membership.revoke")
        assert not Membership.objects.filter(pk=second.pk).exists()
    else:
        then_refused(response, status, mark, before)


# --- agents -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        *[(who, {"sdr-bot", "mkt-bot"}) for who in ("owner", "admin", *READERS)],
        *[(who, {"sdr-bot"}) for who in TEAM],
        ("outsider", {"globex-bot"}),
        ("nobody", set()),
        ("operator", {"sdr-bot", "mkt-bot", "globex-bot"}),
        *MACHINES.items(),
    ],
)
def test_agent_list(world, client_as, who, expected):
    response = client_as(who).get("/api/v1/agents")

    if isinstance(expected, int):
        assert_error(response, expected)
    else:
        assert listed(response, "slug") == expected


def _create_agent(cast: Any, client: APIClient, team: Team | None) -> tuple[Any, int, int]:
    mark, count = audit_mark(), Agent.objects.count()
    payload = {"workspace": cast.workspace.pk, "name": "Closer", "slug": "closer"}
    payload["team"] = team.pk if team is not None else None
    return client.post("/api/v1/agents", payload), mark, count


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, "owner", "admin", "team_admin", "operator"),
        **each(403, *READERS, "team_viewer"),
        **each(400, *OUTSIDE),
    ),
)
def test_agent_create_in_the_sales_team(cast, client_as, who, status):
    response, mark, count = _create_agent(cast, client_as(who), cast.sales)

    if status == 201:
        body = then_allowed(response, status, mark, cast, who, "agent.create")
        assert Agent.objects.get(pk=body["id"]).team == cast.sales
    else:
        then_refused(response, status, mark)
        assert Agent.objects.count() == count


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, "owner", "admin", "operator"),
        **each(403, *READERS, *TEAM),
        **each(400, *OUTSIDE),
    ),
)
def test_agent_create_for_the_whole_workspace(cast, client_as, who, status):
    response, mark, count = _create_agent(cast, client_as(who), None)

    if status == 201:
        body = then_allowed(response, status, mark, cast, who, "agent.create")
        assert Agent.objects.get(pk=body["id"]).team is None
    else:
        then_refused(response, status, mark)
        assert Agent.objects.count() == count


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, "owner", "admin", *READERS, *TEAM, "operator"), **each(404, *OUTSIDE)),
)
def test_agent_retrieve(cast, client_as, who, status):
    response = client_as(who).get(f"/api/v1/agents/{cast.agent.pk}")

    if status == 200:
        assert response.json()["slug"] == "sdr-bot"
    else:
        assert_error(response, status, "not_found" if status == 404 else None)


def _update_agent(cast: Any, client: APIClient, payload: dict[str, Any]) -> tuple[Any, Any, int]:
    before, mark = snapshot(cast.agent), audit_mark()
    return client.patch(f"/api/v1/agents/{cast.agent.pk}", payload), before, mark


SALES_AGENT_MANAGERS = ("owner", "admin", "team_admin", "operator")


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *SALES_AGENT_MANAGERS),
        **each(403, *READERS, "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_agent_rename(cast, client_as, who, status):
    response, before, mark = _update_agent(cast, client_as(who), {"name": "SDR Bot 2"})

    if status == 200:
        then_allowed(response, status, mark, cast, who, "agent.update")
        assert Agent.objects.get(pk=cast.agent.pk).name == "SDR Bot 2"
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *SALES_AGENT_MANAGERS),
        **each(403, *READERS, "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_agent_deactivate(cast, client_as, who, status):
    response, before, mark = _update_agent(cast, client_as(who), {"is_active": False})

    if status == 200:
        then_allowed(response, status, mark, cast, who, "agent.update")
        assert Agent.objects.get(pk=cast.agent.pk).is_active is False
        assert client_as("agent").get("/api/v1/agents/me").status_code == 401
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, "owner", "admin", "operator"),
        **each(403, *READERS),
        **each(400, *TEAM),  # Marketing is not theirs to see, so the reference is unknown
        **each(404, *OUTSIDE),
    ),
)
def test_agent_move_to_another_team(cast, client_as, who, status):
    response, before, mark = _update_agent(cast, client_as(who), {"team": cast.marketing.pk})

    if status == 200:
        then_allowed(response, status, mark, cast, who, "agent.update")
        assert Agent.objects.get(pk=cast.agent.pk).team == cast.marketing
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, "owner", "admin", "operator"),
        **each(403, *READERS, *TEAM),
        **each(404, *OUTSIDE),
    ),
)
def test_agent_move_out_of_its_team(cast, client_as, who, status):
    response, before, mark = _update_agent(cast, client_as(who), {"team": None})

    if status == 200:
        then_allowed(response, status, mark, cast, who, "agent.update")
        assert Agent.objects.get(pk=cast.agent.pk).team is None
    else:
        then_refused(response, status, mark, before)


# --- tokens -----------------------------------------------------------------------------------

TOKEN_MANAGERS = ("owner", "admin", "team_admin", "operator")


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        *[(who, {"sdr-bot", "mkt-bot"}) for who in ("owner", "admin")],
        ("team_admin", {"sdr-bot"}),
        *[(who, set()) for who in (*READERS, "team_viewer")],
        ("outsider", {"globex-bot"}),
        ("nobody", set()),
        ("operator", {"sdr-bot", "mkt-bot", "globex-bot"}),
        *MACHINES.items(),
    ],
)
def test_token_list_shows_tokens_of_the_agents_one_manages(world, client_as, who, expected):
    response = client_as(who).get("/api/v1/tokens")

    if isinstance(expected, int):
        assert_error(response, expected)
    else:
        agents = {Agent.objects.get(pk=pk).slug for pk in listed(response, "agent")}
        assert agents == expected
        assert all("token" not in item for item in response.json()["results"])


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *TOKEN_MANAGERS),
        **each(403, *READERS, "team_viewer"),
        **each(400, *OUTSIDE),
    ),
)
def test_token_create_shows_the_secret_once(cast, client_as, who, status):
    mark, count = audit_mark(), AgentToken.objects.count()
    client = client_as(who)

    response = client.post(
        "/api/v1/tokens", {"agent": cast.agent.pk, "name": "ci", "scopes": ["memories:read"]}
    )

    if status == 201:
        body = then_allowed(response, status, mark, cast, who, "agent_token.issue")
        assert body["token"].startswith(f"stw_{body['prefix']}_")
        assert "token" not in client.get(f"/api/v1/tokens/{body['id']}").json()
        bearer = APIClient(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
        assert bearer.get("/api/v1/agents/me").json()["scopes"] == ["memories:read"]
    else:
        then_refused(response, status, mark)
        assert AgentToken.objects.count() == count


TOKEN_DETAIL = matrix(
    **each(200, *TOKEN_MANAGERS),
    **each(404, *READERS, "team_viewer", *OUTSIDE),
)


@pytest.mark.parametrize(("who", "status"), TOKEN_DETAIL)
def test_token_retrieve(world, client_as, who, status):
    token = world["spare_token"]

    response = client_as(who).get(f"/api/v1/tokens/{token.pk}")

    if status == 200:
        body = response.json()
        assert (body["prefix"], body["state"]) == (token.prefix, "active")
        assert "token" not in body
    else:
        assert_error(response, status)


@pytest.mark.parametrize(("who", "status"), TOKEN_DETAIL)
def test_token_revoke(world, client_as, who, status):
    token = world["spare_token"]
    before, mark = snapshot(token), audit_mark()

    response = client_as(who).post(f"/api/v1/tokens/{token.pk}/revoke", {"reason": "rotated"})

    if status == 200:
        then_allowed(response, status, mark, world["cast"], who, "agent_token.revoke")
        assert response.json()["state"] == "revoked"
        assert AgentToken.objects.get(pk=token.pk).revoked_reason == "rotated"
    else:
        then_refused(response, status, mark, before)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(204, *TOKEN_MANAGERS), **each(404, *READERS, "team_viewer", *OUTSIDE)),
)
def test_token_delete_revokes(world, client_as, who, status):
    token = world["spare_token"]
    before, mark = snapshot(token), audit_mark()

    response = client_as(who).delete(f"/api/v1/tokens/{token.pk}")

    if status == 204:
        then_allowed(response, status, mark, world["cast"], who, "agent_token.revoke")
        assert AgentToken.objects.get(pk=token.pk).revoked_at is not None
    else:
        then_refused(response, status, mark, before)
