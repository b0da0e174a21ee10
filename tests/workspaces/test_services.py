"""Tenancy services: each change writes exactly one audit event in its own transaction, each
refusal writes nothing, and the rules about owners, teams, agents and tokens hold for everyone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import AuditOutsideTransactionError, audit_event_record
from apps.core.exceptions import Conflict, Forbidden, ServiceError, ValidationFailed
from apps.workspaces import services
from apps.workspaces.models import (
    Agent,
    AgentGroupObjectPermission,
    AgentToken,
    AgentUserObjectPermission,
    Membership,
    Team,
    Workspace,
)
from apps.workspaces.roles import Role
from apps.workspaces.scopes import DEFAULT_SCOPES
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.workspaces.factories import (
    MembershipFactory,
    TeamFactory,
    UserFactory,
)

User = get_user_model()

EVERYONE = [*ROLES_AND_OTHERS, "agent"]
MANAGE_ACME = {"owner", "admin", "operator"}
MANAGE_SALES = MANAGE_ACME | {"team_admin"}


# --- helpers ----------------------------------------------------------------------------------


def actor_for(cast: Any, who: str) -> Any:
    if who == "agent":
        return cast.agent
    if who == "system":
        return SYSTEM
    return cast.user(who)


@contextmanager
def recorded() -> Iterator[list[AuditEvent]]:
    """The audit events written inside the block, oldest first."""
    last = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    events: list[AuditEvent] = []
    yield events
    events.extend(AuditEvent.objects.filter(id__gt=last).order_by("id"))


def tenancy_state() -> dict[str, Any]:
    """Every tenancy row and the audit trail's size: equal before and after means no change."""
    state: dict[str, Any] = {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            Workspace,
            Team,
            Membership,
            Agent,
            AgentToken,
            AgentUserObjectPermission,
            AgentGroupObjectPermission,
        )
    }
    state["staff"] = list(User.objects.order_by("pk").values_list("pk", "is_staff"))
    state["events"] = AuditEvent.objects.count()
    return state


def assert_refused(call: Callable[[], Any], error: type[ServiceError]) -> ServiceError:
    before = tenancy_state()
    with pytest.raises(error) as info:
        call()
    assert tenancy_state() == before
    return info.value


def assert_one_event(
    events: list[AuditEvent], action: str, actor: Any, workspace: Workspace
) -> AuditEvent:
    assert [event.action for event in events] == [action]
    event = events[0]
    assert event.workspace_id == workspace.pk
    if isinstance(actor, Agent):
        assert (event.actor_kind, event.actor_id) == ("agent", str(actor.pk))
    elif actor is SYSTEM:
        assert (event.actor_kind, event.actor_id) == ("system", "tests")
    else:
        assert (event.actor_kind, event.actor_id) == ("user", str(actor.pk))
        assert event.actor_label == actor.username
    return event


# --- workspaces -------------------------------------------------------------------------------


def test_operator_creates_a_workspace_and_its_first_owner_with_two_events(cast):
    operator, owner = cast.user("operator"), cast.user("nobody")

    with recorded() as events:
        workspace = services.workspace_create(
            actor=operator, name="Initech", slug="initech", owner=owner
        )

    assert [e.action for e in events] == ["workspace.create", "membership.grant"]
    assert events[0].after == {"name": "Initech", "slug": "initech"}
    assert events[0].object_id == str(workspace.pk)
    assert {e.workspace_id for e in events} == {workspace.pk}
    assert {e.actor_id for e in events} == {str(operator.pk)}
    assert events[1].after["role"] == "owner"
    assert events[1].after["user"] == owner.pk
    assert Membership.objects.get(workspace=workspace, team=None).user == owner


@pytest.mark.parametrize("who", [w for w in EVERYONE if w != "operator"])
def test_only_operators_create_workspaces(cast, who):
    error = assert_refused(
        lambda: services.workspace_create(
            actor=actor_for(cast, who), name="X", slug="x", owner=cast.user("nobody")
        ),
        Forbidden,
    )
    assert error.status_code == 403


def test_workspace_slug_must_be_unique(cast):
    error = assert_refused(
        lambda: services.workspace_create(
            actor=SYSTEM, name="Acme again", slug="acme", owner=cast.user("nobody")
        ),
        Conflict,
    )
    assert error.fields == {"slug": ["A workspace with slug 'acme' exists."]}


@pytest.mark.parametrize("who", EVERYONE)
def test_workspace_update_matrix(cast, who):
    actor = actor_for(cast, who)
    call = lambda: services.workspace_update(  # noqa: E731
        actor=actor, workspace=cast.workspace, name="Acme Corp"
    )

    if who not in MANAGE_ACME:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "workspace.update", actor, cast.workspace)
    assert (event.before, event.after) == ({"name": "Acme"}, {"name": "Acme Corp"})
    assert Workspace.objects.get(pk=cast.workspace.pk).name == "Acme Corp"


def test_workspace_update_records_the_stored_name_even_if_the_caller_changed_it(cast):
    """The admin hands over an instance its form already changed; `before` must not lie."""
    cast.workspace.name = "Acme Corp"

    with recorded() as events:
        services.workspace_update(actor=SYSTEM, workspace=cast.workspace, name="Acme Corp")

    assert (events[0].before, events[0].after) == ({"name": "Acme"}, {"name": "Acme Corp"})


def test_workspace_update_to_the_same_name_changes_and_records_nothing(cast):
    before = tenancy_state()

    services.workspace_update(actor=cast.user("owner"), workspace=cast.workspace, name="Acme")

    assert tenancy_state() == before


# --- teams ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", EVERYONE)
def test_team_create_matrix(cast, who):
    actor = actor_for(cast, who)
    call = lambda: services.team_create(  # noqa: E731
        actor=actor, workspace=cast.workspace, name="Support", slug="support"
    )

    if who not in MANAGE_ACME:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        team = call()

    event = assert_one_event(events, "team.create", actor, cast.workspace)
    assert event.before is None
    assert event.after == {"workspace": cast.workspace.pk, "name": "Support", "slug": "support"}
    assert event.object_type == "workspaces.team"
    assert event.object_id == str(team.pk)


def test_team_slug_is_unique_per_workspace_only(cast):
    assert_refused(
        lambda: services.team_create(
            actor=SYSTEM, workspace=cast.workspace, name="Sales 2", slug="sales"
        ),
        Conflict,
    )

    team = services.team_create(
        actor=SYSTEM, workspace=cast.other_workspace, name="Sales", slug="sales"
    )

    assert team.workspace == cast.other_workspace


@pytest.mark.parametrize("who", EVERYONE)
def test_team_update_matrix(cast, who):
    actor = actor_for(cast, who)
    call = lambda: services.team_update(actor=actor, team=cast.sales, name="Field Sales")  # noqa: E731

    if who not in MANAGE_SALES:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "team.update", actor, cast.workspace)
    assert (event.before["name"], event.after["name"]) == ("Sales", "Field Sales")


def test_team_admin_renames_only_their_own_team(cast):
    assert_refused(
        lambda: services.team_update(actor=cast.user("team_admin"), team=cast.marketing, name="M"),
        Forbidden,
    )


@pytest.mark.parametrize("who", EVERYONE)
def test_team_delete_matrix(cast, who):
    actor = actor_for(cast, who)
    team_pk = cast.marketing.pk
    call = lambda: services.team_delete(actor=actor, team=cast.marketing, reason="merged")  # noqa: E731

    if who not in MANAGE_ACME:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "team.delete", actor, cast.workspace)
    assert event.object_id == str(team_pk)
    assert event.before["slug"] == "marketing"
    assert event.after is None
    assert event.reason == "merged"
    assert not Team.objects.filter(pk=team_pk).exists()


def test_team_admin_cannot_delete_their_own_team(cast):
    support = TeamFactory(workspace=cast.workspace, slug="support")
    MembershipFactory(
        user=cast.user("team_admin"), workspace=cast.workspace, team=support, role="admin"
    )

    assert_refused(
        lambda: services.team_delete(actor=cast.user("team_admin"), team=support), Forbidden
    )


def test_team_delete_refuses_a_team_with_agents(cast):
    error = assert_refused(
        lambda: services.team_delete(actor=cast.user("owner"), team=cast.sales), Conflict
    )

    assert error.status_code == 409
    assert "agents" in error.message


def test_team_delete_lists_the_memberships_that_go_with_it(cast):
    member = MembershipFactory(
        user=cast.user("viewer"), workspace=cast.workspace, team=cast.marketing, role="editor"
    )

    with recorded() as events:
        services.team_delete(actor=cast.user("admin"), team=cast.marketing)

    assert [e.action for e in events] == ["team.delete"]
    assert events[0].before["memberships"] == [
        {
            "user": cast.user("viewer").pk,
            "workspace": cast.workspace.pk,
            "team": cast.marketing.pk,
            "role": "editor",
        }
    ]
    assert not Membership.objects.filter(pk=member.pk).exists()


# --- memberships ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", EVERYONE)
def test_membership_grant_in_the_workspace_matrix(cast, who):
    actor, newcomer = actor_for(cast, who), cast.user("nobody")
    call = lambda: services.membership_grant(  # noqa: E731
        actor=actor, workspace=cast.workspace, user=newcomer, role=Role.EDITOR
    )

    if who not in MANAGE_ACME:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        membership = call()

    event = assert_one_event(events, "membership.grant", actor, cast.workspace)
    assert event.before is None
    assert event.after == {
        "user": newcomer.pk,
        "workspace": cast.workspace.pk,
        "team": None,
        "role": "editor",
    }
    assert event.object_id == str(membership.pk)


@pytest.mark.parametrize("who", EVERYONE)
def test_membership_grant_in_a_team_matrix(cast, who):
    actor, newcomer = actor_for(cast, who), cast.user("nobody")
    call = lambda: services.membership_grant(  # noqa: E731
        actor=actor, workspace=cast.workspace, team=cast.sales, user=newcomer, role=Role.REVIEWER
    )

    if who not in MANAGE_SALES:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "membership.grant", actor, cast.workspace)
    assert event.after["team"] == cast.sales.pk


def test_granting_a_role_lets_a_non_staff_account_sign_in(cast):
    person = UserFactory(username="newhire", is_staff=False)

    services.membership_grant(
        actor=cast.user("admin"), workspace=cast.workspace, user=person, role=Role.VIEWER
    )

    person.refresh_from_db()
    assert person.is_staff


@pytest.mark.parametrize("who", ["admin", "team_admin", "reviewer", "outsider"])
def test_only_owners_grant_the_owner_role(cast, who):
    error = assert_refused(
        lambda: services.membership_grant(
            actor=cast.user(who), workspace=cast.workspace, user=cast.user("nobody"), role="owner"
        ),
        Forbidden,
    )
    assert error.status_code == 403


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_owners_and_operators_grant_the_owner_role(cast, who):
    with recorded() as events:
        services.membership_grant(
            actor=cast.user(who), workspace=cast.workspace, user=cast.user("nobody"), role="owner"
        )

    assert events[0].after["role"] == "owner"


def test_owner_is_never_given_for_a_team(cast):
    error = assert_refused(
        lambda: services.membership_grant(
            actor=cast.user("owner"),
            workspace=cast.workspace,
            team=cast.sales,
            user=cast.user("nobody"),
            role="owner",
        ),
        ValidationFailed,
    )
    assert "role" in error.fields

    team_membership = Membership.objects.get(user=cast.user("team_viewer"))
    assert_refused(
        lambda: services.membership_change_role(
            actor=cast.user("owner"), membership=team_membership, role="owner"
        ),
        ValidationFailed,
    )


@pytest.mark.parametrize("role", ["superadmin", "", "OWNER", None])
def test_unknown_roles_are_refused(cast, role):
    viewer = Membership.objects.get(user=cast.user("viewer"))

    assert_refused(
        lambda: services.membership_grant(
            actor=cast.user("owner"), workspace=cast.workspace, user=cast.user("nobody"), role=role
        ),
        ValidationFailed,
    )
    assert_refused(
        lambda: services.membership_change_role(
            actor=cast.user("owner"), membership=viewer, role=role
        ),
        ValidationFailed,
    )


def test_a_team_of_another_workspace_is_refused(cast):
    globex_team = TeamFactory(workspace=cast.other_workspace, slug="globex-sales")

    error = assert_refused(
        lambda: services.membership_grant(
            actor=SYSTEM,
            workspace=cast.workspace,
            team=globex_team,
            user=cast.user("nobody"),
            role="viewer",
        ),
        ValidationFailed,
    )
    assert "team" in error.fields


def test_a_second_role_in_the_same_place_is_a_conflict(cast):
    error = assert_refused(
        lambda: services.membership_grant(
            actor=cast.user("owner"),
            workspace=cast.workspace,
            user=cast.user("viewer"),
            role="editor",
        ),
        Conflict,
    )
    assert error.status_code == 409


@pytest.mark.parametrize("who", EVERYONE)
def test_membership_change_role_matrix(cast, who):
    actor = actor_for(cast, who)
    viewer = Membership.objects.get(user=cast.user("viewer"))
    call = lambda: services.membership_change_role(actor=actor, membership=viewer, role="editor")  # noqa: E731

    if who not in MANAGE_ACME:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "membership.change_role", actor, cast.workspace)
    assert (event.before["role"], event.after["role"]) == ("viewer", "editor")


def test_team_admin_changes_roles_in_their_team_only(cast):
    team_viewer = Membership.objects.get(user=cast.user("team_viewer"))
    workspace_viewer = Membership.objects.get(user=cast.user("viewer"))

    with recorded() as events:
        services.membership_change_role(
            actor=cast.user("team_admin"), membership=team_viewer, role="reviewer"
        )

    assert len(events) == 1
    assert_refused(
        lambda: services.membership_change_role(
            actor=cast.user("team_admin"), membership=workspace_viewer, role="editor"
        ),
        Forbidden,
    )


def test_changing_to_the_same_role_records_nothing(cast):
    viewer = Membership.objects.get(user=cast.user("viewer"))
    before = tenancy_state()

    services.membership_change_role(actor=cast.user("owner"), membership=viewer, role="viewer")

    assert tenancy_state() == before


@pytest.mark.parametrize("who", ["admin", "team_admin", "auditor"])
def test_only_owners_promote_to_owner_or_demote_an_owner(cast, who):
    admin_membership = Membership.objects.get(user=cast.user("admin"))
    MembershipFactory(user=cast.user("nobody"), workspace=cast.workspace, role="owner")
    owner_membership = Membership.objects.get(user=cast.user("owner"))

    assert_refused(
        lambda: services.membership_change_role(
            actor=cast.user(who), membership=admin_membership, role="owner"
        ),
        Forbidden,
    )
    assert_refused(
        lambda: services.membership_change_role(
            actor=cast.user(who), membership=owner_membership, role="admin"
        ),
        Forbidden,
    )
    assert_refused(
        lambda: services.membership_revoke(actor=cast.user(who), membership=owner_membership),
        Forbidden,
    )


def test_an_owner_promotes_another_and_then_may_step_down(cast):
    owner = cast.user("owner")
    admin_membership = Membership.objects.get(user=cast.user("admin"))
    own = Membership.objects.get(user=owner)

    with recorded() as events:
        services.membership_change_role(actor=owner, membership=admin_membership, role="owner")
        services.membership_change_role(actor=owner, membership=own, role="viewer")

    assert [(e.before["role"], e.after["role"]) for e in events] == [
        ("admin", "owner"),
        ("owner", "viewer"),
    ]


@pytest.mark.parametrize("who", ["owner", "operator"])
def test_the_last_owner_can_be_neither_demoted_nor_removed(cast, who):
    last_owner = Membership.objects.get(user=cast.user("owner"))

    demote = assert_refused(
        lambda: services.membership_change_role(
            actor=cast.user(who), membership=last_owner, role="admin"
        ),
        Conflict,
    )
    remove = assert_refused(
        lambda: services.membership_revoke(actor=cast.user(who), membership=last_owner),
        Conflict,
    )

    assert demote.status_code == remove.status_code == 409
    assert "at least one owner" in demote.message


def test_an_owner_may_leave_when_another_owner_stays(cast):
    MembershipFactory(user=cast.user("nobody"), workspace=cast.workspace, role="owner")
    own = Membership.objects.get(user=cast.user("owner"))

    with recorded() as events:
        services.membership_revoke(actor=cast.user("owner"), membership=own, reason="leaving")

    assert [e.action for e in events] == ["membership.revoke"]
    assert events[0].reason == "leaving"


@pytest.mark.parametrize("who", EVERYONE)
def test_membership_revoke_matrix(cast, who):
    actor = actor_for(cast, who)
    viewer = Membership.objects.get(user=cast.user("viewer"))
    call = lambda: services.membership_revoke(actor=actor, membership=viewer, reason="left")  # noqa: E731

    if who not in MANAGE_ACME:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "membership.revoke", actor, cast.workspace)
    assert event.before["role"] == "viewer"
    assert event.after is None
    assert not Membership.objects.filter(pk=viewer.pk).exists()


def test_revoking_a_membership_twice_refuses_the_second_time_and_writes_nothing(cast):
    viewer = Membership.objects.get(user=cast.user("viewer"))
    services.membership_revoke(actor=cast.user("owner"), membership=viewer)

    assert_refused(
        lambda: services.membership_revoke(actor=cast.user("owner"), membership=viewer),
        Forbidden,
    )


# --- agents -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", EVERYONE)
def test_agent_create_in_a_team_matrix(cast, who):
    actor = actor_for(cast, who)
    call = lambda: services.agent_create(  # noqa: E731
        actor=actor, workspace=cast.workspace, team=cast.sales, name="AE Bot", slug="ae-bot"
    )

    if who not in MANAGE_SALES:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        agent = call()

    event = assert_one_event(events, "agent.create", actor, cast.workspace)
    assert event.after == {
        "workspace": cast.workspace.pk,
        "team": cast.sales.pk,
        "name": "AE Bot",
        "slug": "ae-bot",
        "description": "",
        "is_active": True,
    }
    assert event.object_id == str(agent.pk)


def test_team_admin_cannot_create_workspace_wide_agents(cast):
    assert_refused(
        lambda: services.agent_create(
            actor=cast.user("team_admin"), workspace=cast.workspace, name="X", slug="x"
        ),
        Forbidden,
    )


def test_agent_slug_must_be_unique_in_the_workspace(cast):
    assert_refused(
        lambda: services.agent_create(
            actor=SYSTEM, workspace=cast.workspace, name="Again", slug="sdr-bot"
        ),
        Conflict,
    )


def test_agent_in_a_team_of_another_workspace_is_refused(cast):
    globex_team = TeamFactory(workspace=cast.other_workspace, slug="globex-sales")

    assert_refused(
        lambda: services.agent_create(
            actor=SYSTEM, workspace=cast.workspace, team=globex_team, name="X", slug="x"
        ),
        ValidationFailed,
    )
    assert_refused(
        lambda: services.agent_update(actor=SYSTEM, agent=cast.agent, team=globex_team),
        ValidationFailed,
    )


@pytest.mark.parametrize("who", EVERYONE)
def test_agent_update_matrix(cast, who):
    actor = actor_for(cast, who)
    call = lambda: services.agent_update(  # noqa: E731
        actor=actor, agent=cast.agent, name="SDR Bot 2", is_active=False
    )

    if who not in MANAGE_SALES:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "agent.update", actor, cast.workspace)
    assert (event.before["name"], event.after["name"]) == ("SDR Bot", "SDR Bot 2")
    assert (event.before["is_active"], event.after["is_active"]) == (True, False)


@pytest.mark.parametrize(
    "changes", [{"slug": "renamed"}, {"workspace": None}, {"name": "ok", "secret": "x"}]
)
def test_agent_update_refuses_unknown_or_fixed_fields(cast, changes):
    error = assert_refused(
        lambda: services.agent_update(actor=cast.user("owner"), agent=cast.agent, **changes),
        ValidationFailed,
    )
    assert "Can't change" in error.message


def test_team_admin_cannot_move_an_agent_out_of_their_team(cast):
    for team in (cast.marketing, None):
        assert_refused(
            lambda team=team: services.agent_update(
                actor=cast.user("team_admin"), agent=cast.agent, team=team
            ),
            Forbidden,
        )


def test_admin_moves_an_agent_between_teams(cast):
    with recorded() as events:
        services.agent_update(actor=cast.user("admin"), agent=cast.agent, team=cast.marketing)

    assert (events[0].before["team"], events[0].after["team"]) == (
        cast.sales.pk,
        cast.marketing.pk,
    )


def test_agent_update_without_a_real_change_records_nothing(cast):
    before = tenancy_state()

    services.agent_update(actor=cast.user("owner"), agent=cast.agent, name="SDR Bot")
    services.agent_update(actor=cast.user("owner"), agent=cast.agent)

    assert tenancy_state() == before


def test_an_agent_cannot_manage_itself(cast):
    assert_refused(
        lambda: services.agent_update(actor=cast.agent, agent=cast.agent, name="Me"), Forbidden
    )


@pytest.mark.parametrize("who", EVERYONE)
def test_agent_access_set_is_for_operators_only(cast, who):
    actor = actor_for(cast, who)
    contractor = UserFactory(username="contractor")
    call = lambda: services.agent_access_set(  # noqa: E731
        actor=actor, agent=cast.agent, user=contractor, permissions=["change_agent"]
    )

    if who != "operator":
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "agent.access_set", actor, cast.workspace)
    assert (event.before, event.after) == (
        {"user": contractor.pk, "permissions": []},
        {"user": contractor.pk, "permissions": ["change_agent"]},
    )
    assert Agent.objects.visible_to(contractor, "manage").get() == cast.agent


def test_agent_access_set_for_a_group_and_without_change(cast):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="contractors")
    services.agent_access_set(
        actor=SYSTEM, agent=cast.agent, group=group, permissions=["view_agent"]
    )
    before = tenancy_state()

    services.agent_access_set(
        actor=SYSTEM, agent=cast.agent, group=group, permissions=["view_agent"]
    )

    assert tenancy_state() == before
    member = UserFactory(username="in-group")
    member.groups.add(group)
    assert Agent.objects.visible_to(member, "view").get() == cast.agent


@pytest.mark.parametrize(
    "kwargs",
    [
        {"permissions": ["delete_agent"]},
        {"permissions": ["change_agent"], "both": True},
        {"permissions": ["change_agent"], "neither": True},
    ],
    ids=["unknown-permission", "user-and-group", "neither"],
)
def test_agent_access_set_refuses_bad_input(cast, kwargs):
    from django.contrib.auth.models import Group

    holders: dict[str, Any] = {"user": cast.user("nobody")}
    if kwargs.pop("both", False):
        holders["group"] = Group.objects.create(name="g")
    if kwargs.pop("neither", False):
        holders = {}

    assert_refused(
        lambda: services.agent_access_set(actor=SYSTEM, agent=cast.agent, **holders, **kwargs),
        ValidationFailed,
    )


# --- agent tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", EVERYONE)
def test_agent_token_issue_matrix(cast, who):
    actor = actor_for(cast, who)
    call = lambda: services.agent_token_issue(  # noqa: E731
        actor=actor, agent=cast.agent, name="ci", scopes=["memories:read"]
    )

    if who not in MANAGE_SALES:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        token, raw = call()

    event = assert_one_event(events, "agent_token.issue", actor, cast.workspace)
    assert event.after["prefix"] == token.prefix
    assert event.after["scopes"] == ["memories:read"]
    assert raw.startswith(f"stw_{token.prefix}_")
    assert raw not in str(event.after)
    assert token.secret_hash == services.hash_token(raw)
    stored = AgentToken.objects.filter(pk=token.pk).values()[0]
    assert raw not in str(stored)
    assert token.created_by_id == (actor.pk if who != "agent" else None)


def test_token_expiry_must_be_in_the_future(cast):
    error = assert_refused(
        lambda: services.agent_token_issue(
            actor=cast.user("owner"),
            agent=cast.agent,
            name="old",
            scopes=DEFAULT_SCOPES,
            expires_at=timezone.now() - dt.timedelta(minutes=1),
        ),
        ValidationFailed,
    )
    assert "expires_at" in error.fields


@pytest.mark.parametrize("scopes", [["memories:delete"], "memories:read", [1]])
def test_token_scopes_must_be_known(cast, scopes):
    error = assert_refused(
        lambda: services.agent_token_issue(
            actor=cast.user("owner"), agent=cast.agent, name="x", scopes=scopes
        ),
        ValidationFailed,
    )
    assert "scopes" in error.fields


def test_a_reused_raw_token_is_a_conflict_not_a_server_error(cast):
    raw = "stw_0123456789ab_" + "s" * 43
    services.agent_token_issue(actor=SYSTEM, agent=cast.agent, name="a", scopes=[], raw_token=raw)

    assert_refused(
        lambda: services.agent_token_issue(
            actor=SYSTEM, agent=cast.agent, name="b", scopes=[], raw_token=raw
        ),
        Conflict,
    )


@pytest.mark.parametrize("who", EVERYONE)
def test_agent_token_revoke_matrix(cast, who):
    actor = actor_for(cast, who)
    call = lambda: services.agent_token_revoke(  # noqa: E731
        actor=actor, token=cast.agent_token, reason="leaked"
    )

    if who not in MANAGE_SALES:
        assert_refused(call, Forbidden)
        return
    with recorded() as events:
        call()

    event = assert_one_event(events, "agent_token.revoke", actor, cast.workspace)
    assert event.before["revoked_at"] is None
    assert event.after["revoked_at"] is not None
    assert event.reason == "leaked"
    assert AgentToken.objects.get(pk=cast.agent_token.pk).state == "revoked"


def test_token_revoke_is_idempotent(cast):
    first = services.agent_token_revoke(actor=SYSTEM, token=cast.agent_token, reason="leaked")
    before = tenancy_state()

    again = services.agent_token_revoke(actor=cast.user("owner"), token=cast.agent_token)

    assert tenancy_state() == before
    assert again.revoked_at == first.revoked_at
    assert again.revoked_reason == "leaked"


def test_outsider_cannot_revoke_even_a_revoked_token(cast):
    services.agent_token_revoke(actor=SYSTEM, token=cast.agent_token)

    assert_refused(
        lambda: services.agent_token_revoke(actor=cast.user("outsider"), token=cast.agent_token),
        Forbidden,
    )


# --- transactions -----------------------------------------------------------------------------


def _changes(cast: Any) -> dict[str, Callable[[], Any]]:
    owner = cast.user("owner")
    viewer = Membership.objects.get(user=cast.user("viewer"))
    return {
        "workspace_create": lambda: services.workspace_create(
            actor=SYSTEM, name="I", slug="i", owner=owner
        ),
        "workspace_update": lambda: services.workspace_update(
            actor=owner, workspace=cast.workspace, name="New"
        ),
        "team_create": lambda: services.team_create(
            actor=owner, workspace=cast.workspace, name="S", slug="s"
        ),
        "team_update": lambda: services.team_update(actor=owner, team=cast.sales, name="New"),
        "team_delete": lambda: services.team_delete(actor=owner, team=cast.marketing),
        "membership_grant": lambda: services.membership_grant(
            actor=owner, workspace=cast.workspace, user=cast.user("nobody"), role="viewer"
        ),
        "membership_change_role": lambda: services.membership_change_role(
            actor=owner, membership=viewer, role="editor"
        ),
        "membership_revoke": lambda: services.membership_revoke(actor=owner, membership=viewer),
        "agent_create": lambda: services.agent_create(
            actor=owner, workspace=cast.workspace, name="B", slug="b"
        ),
        "agent_update": lambda: services.agent_update(
            actor=owner, agent=cast.agent, is_active=False
        ),
        "agent_token_issue": lambda: services.agent_token_issue(
            actor=owner, agent=cast.agent, name="t", scopes=DEFAULT_SCOPES
        ),
        "agent_token_revoke": lambda: services.agent_token_revoke(
            actor=owner, token=cast.agent_token
        ),
    }


SERVICES = [
    "workspace_create",
    "workspace_update",
    "team_create",
    "team_update",
    "team_delete",
    "membership_grant",
    "membership_change_role",
    "membership_revoke",
    "agent_create",
    "agent_update",
    "agent_token_issue",
    "agent_token_revoke",
]


@pytest.mark.parametrize("service", SERVICES)
def test_a_change_rolled_back_after_the_service_leaves_no_event(cast, service):
    call = _changes(cast)[service]
    before = tenancy_state()

    with pytest.raises(RuntimeError, match="later step failed"), transaction.atomic():
        call()
        assert AuditEvent.objects.count() > before["events"]
        raise RuntimeError("later step failed")

    assert tenancy_state() == before


@pytest.mark.parametrize("service", SERVICES)
def test_a_failing_audit_write_undoes_the_change(cast, service, monkeypatch):
    call = _changes(cast)[service]
    before = tenancy_state()

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_event_record", broken)

    with pytest.raises(RuntimeError, match="audit store down"):
        call()

    assert tenancy_state() == before


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_writes_one_event_per_change(cast, service):
    expected = 2 if service == "workspace_create" else 1

    with recorded() as events:
        _changes(cast)[service]()

    assert len(events) == expected
    assert all(e.actor_kind in ("user", "system") for e in events)


@pytest.mark.django_db(transaction=True)
def test_audit_event_record_refuses_to_run_outside_a_transaction():
    assert not transaction.get_connection().in_atomic_block

    with pytest.raises(AuditOutsideTransactionError):
        audit_event_record(actor=SYSTEM, action="test.outside")

    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_services_open_their_own_transaction_when_called_without_one():
    workspace = services.workspace_create(
        actor=SYSTEM, name="Solo", slug="solo", owner=UserFactory(username="solo-owner")
    )

    assert AuditEvent.objects.filter(workspace_id=workspace.pk).count() == 2
