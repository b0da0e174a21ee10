"""The admin, page by page and role by role: who gets in, what they see, what their forms and
actions change (always through a service, always with one audit event) and what they don't.

Expected outcomes: 200, 403, LOGIN (302 to the sign-in page) and GONE (302 to the admin index
with "doesn't exist": Django's answer for a missing object, so a row of another workspace looks
exactly like one that never existed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.workspaces import services
from apps.workspaces.models import (
    Agent,
    AgentToken,
    AgentUserObjectPermission,
    Membership,
    Team,
    Workspace,
)
from apps.workspaces.scopes import DEFAULT_SCOPES
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.workspaces.factories import (
    AgentFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.shared_rows()  # built once per module: tests/conftest.py

LOGIN, GONE = "login", "gone"
WHO = [*ROLES_AND_OTHERS, "anonymous"]
ACME_READERS = {"owner", "admin", "reviewer", "editor", "auditor", "viewer"}
TEAM = {"team_admin", "team_viewer"}
MEMBERS = ACME_READERS | TEAM | {"outsider", "operator"}


def outcomes(ok: set[str], gone: Iterable[str] = ()) -> dict[str, Any]:
    """200 for `ok`, GONE for `gone`, LOGIN for anonymous, 403 for everyone else."""
    result: dict[str, Any] = dict.fromkeys(WHO, 403)
    result.update(dict.fromkeys(ok, 200))
    result.update(dict.fromkeys(gone, GONE))
    result["anonymous"] = LOGIN
    return result


NOBODY_MAY = outcomes(set())

# page -> who -> outcome; objects: Acme, Sales (its team admin's), the viewer's workspace
# membership, SDR Bot (in Sales), its token, and an Acme audit event.
PAGES: dict[tuple[str, str], dict[str, Any]] = {
    ("workspace", "changelist"): outcomes(MEMBERS),
    ("workspace", "add"): outcomes({"operator"}),
    ("workspace", "change"): outcomes(ACME_READERS | TEAM | {"operator"}, {"outsider"}),
    ("workspace", "delete"): NOBODY_MAY,
    ("team", "changelist"): outcomes(MEMBERS),
    ("team", "add"): outcomes({"owner", "admin", "outsider", "operator"}),
    ("team", "change"): outcomes(ACME_READERS | TEAM | {"operator"}, {"outsider"}),
    ("team", "delete"): outcomes({"owner", "admin", "operator"}, {"outsider"}),
    ("membership", "changelist"): outcomes(MEMBERS),
    ("membership", "add"): outcomes({"owner", "admin", "team_admin", "outsider", "operator"}),
    ("membership", "change"): outcomes(
        ACME_READERS | {"operator"}, {"team_admin", "team_viewer", "outsider"}
    ),
    ("membership", "delete"): outcomes({"owner", "admin", "operator"}, {"team_admin", "outsider"}),
    ("agent", "changelist"): outcomes(MEMBERS),
    ("agent", "add"): outcomes({"owner", "admin", "team_admin", "outsider", "operator"}),
    ("agent", "change"): outcomes(ACME_READERS | TEAM | {"operator"}, {"outsider"}),
    ("agent", "delete"): NOBODY_MAY,
    ("agenttoken", "changelist"): outcomes(
        {"owner", "admin", "team_admin", "outsider", "operator"}
    ),
    ("agenttoken", "add"): outcomes({"owner", "admin", "team_admin", "outsider", "operator"}),
    ("agenttoken", "change"): outcomes({"owner", "admin", "team_admin", "operator"}, {"outsider"}),
    ("agenttoken", "delete"): NOBODY_MAY,
    ("auditevent", "changelist"): outcomes({"owner", "admin", "auditor", "outsider", "operator"}),
    ("auditevent", "add"): NOBODY_MAY,
    ("auditevent", "change"): outcomes({"owner", "admin", "auditor", "operator"}, {"outsider"}),
    ("auditevent", "delete"): NOBODY_MAY,
}


# --- helpers ----------------------------------------------------------------------------------


def app_of(model: str) -> str:
    return "audit" if model == "auditevent" else "workspaces"


def url(model: str, page: str, *args: Any) -> str:
    return reverse(f"admin:{app_of(model)}_{model}_{page}", args=args)


def target(cast: Any, model: str) -> Any:
    """The object each change/delete page of the matrix is asked for."""
    return {
        "workspace": lambda: cast.workspace,
        "team": lambda: cast.sales,
        "membership": lambda: Membership.objects.get(user=cast.user("viewer")),
        "agent": lambda: cast.agent,
        "agenttoken": lambda: cast.agent_token,
        "auditevent": lambda: AuditEvent.objects.filter(workspace_id=cast.workspace.pk).first(),
    }[model]()


def sign_in(client: Any, cast: Any, who: str) -> None:
    if who != "anonymous":
        client.force_login(cast.user(who))


def outcome_of(response: Any) -> Any:
    if response.status_code != 302:
        return response.status_code
    if response.url.startswith(reverse("admin:login")):
        return LOGIN
    if response.url == reverse("admin:index"):
        return GONE
    return f"302 to {response.url}"


def tenancy_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Workspace, Team, Membership, Agent, AgentToken)
    }
    state["events"] = AuditEvent.objects.count()
    return state


@contextmanager
def recorded() -> Iterator[list[AuditEvent]]:
    last = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    events: list[AuditEvent] = []
    yield events
    events.extend(AuditEvent.objects.filter(id__gt=last).order_by("id"))


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def choices(response: Any, field: str) -> set[str]:
    form = response.context["adminform"].form
    return {str(obj) for obj in form.fields[field].queryset}


# --- the page matrix --------------------------------------------------------------------------

PAGE_CASES = [
    pytest.param(model, page, who, expected, id=f"{model}-{page}-{who}-{expected}")
    for (model, page), by_who in PAGES.items()
    for who, expected in by_who.items()
]


@pytest.mark.parametrize(("model", "page", "who", "expected"), PAGE_CASES)
def test_admin_page_matrix(cast, client, model, page, who, expected):
    sign_in(client, cast, who)
    args = [target(cast, model).pk] if page in ("change", "delete") else []
    before = tenancy_state()

    response = client.get(url(model, page, *args))

    assert outcome_of(response) == expected
    assert tenancy_state() == before


@pytest.mark.parametrize("who", ["team_admin", "team_viewer"])
def test_team_members_do_not_reach_other_teams(cast, client, who):
    client.force_login(cast.user(who))

    assert outcome_of(client.get(url("team", "change", cast.marketing.pk))) == GONE
    delete = client.get(url("team", "delete", cast.marketing.pk))
    assert outcome_of(delete) in (403, GONE)


def test_team_admin_may_not_delete_their_own_team(cast, client):
    client.force_login(cast.user("team_admin"))

    assert client.get(url("team", "delete", cast.sales.pk)).status_code == 403


def test_a_new_owner_of_an_empty_workspace_opens_every_list(client, db):
    """Changelists open by role, not by rows: an empty workspace must be fillable."""
    workspace = WorkspaceFactory(slug="empty")
    owner = UserFactory(username="fresh-owner")
    MembershipFactory(user=owner, workspace=workspace, role="owner")
    client.force_login(owner)

    for model in ("workspace", "team", "membership", "agent", "agenttoken", "auditevent"):
        assert client.get(url(model, "changelist")).status_code == 200, model
    for model in ("team", "membership", "agent"):
        assert client.get(url(model, "add")).status_code == 200, model


def test_staff_without_any_role_sees_no_console(client, db):
    client.force_login(UserFactory(username="lonely"))

    assert client.get(url("workspace", "changelist")).status_code == 403
    assert client.get(reverse("admin:index")).status_code == 200


def test_non_staff_accounts_are_sent_to_sign_in(cast, client):
    user = cast.user("viewer")
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    client.force_login(user)

    assert outcome_of(client.get(url("workspace", "changelist"))) == LOGIN


# --- what each changelist shows ---------------------------------------------------------------


@pytest.fixture
def globex_rows(cast: Any) -> None:
    """Give Globex a team, a member, an agent with a token and events to leak."""
    team = services.team_create(
        actor=SYSTEM, workspace=cast.other_workspace, name="Globex Ops", slug="globex-ops"
    )
    services.membership_grant(
        actor=SYSTEM,
        workspace=cast.other_workspace,
        team=team,
        user=UserFactory(username="globex-hire"),
        role="viewer",
    )
    services.agent_update(actor=SYSTEM, agent=cast.other_agent, team=team)


CHANGELISTS = ["workspace", "team", "membership", "agent", "agenttoken", "auditevent"]
GLOBEX_WORDS = ["Globex", "globex"]
ACME_WORDS = ["Acme", "acme", "SDR Bot", "sdr-bot", "Sales", "Marketing"]


@pytest.mark.parametrize("model", CHANGELISTS)
@pytest.mark.parametrize("who", ["owner", "admin", "auditor", "team_admin", "team_viewer"])
def test_acme_people_never_see_globex_rows(cast, client, globex_rows, model, who):
    client.force_login(cast.user(who))

    response = client.get(url(model, "changelist"))

    if response.status_code == 403:
        return
    page = response.content.decode()
    for word in GLOBEX_WORDS:
        assert word not in page, f"{word!r} leaks into the {model} list of {who}"


@pytest.mark.parametrize("model", CHANGELISTS)
def test_globex_owner_never_sees_acme_rows(cast, client, globex_rows, model):
    client.force_login(cast.user("outsider"))

    response = client.get(url(model, "changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    for word in ACME_WORDS:
        assert word not in page, f"{word!r} leaks into the {model} list of the outsider"


def changelist_rows(response: Any) -> set[str]:
    return {str(obj) for obj in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("who", "model", "rows"),
    [
        ("owner", "workspace", {"Acme"}),
        ("team_viewer", "workspace", {"Acme"}),
        ("outsider", "workspace", {"Globex"}),
        ("operator", "workspace", {"Acme", "Globex"}),
        ("owner", "team", {"Sales", "Marketing"}),
        ("team_admin", "team", {"Sales"}),
        ("team_viewer", "team", {"Sales"}),
        ("outsider", "team", {"Globex Ops"}),
        ("owner", "agent", {"SDR Bot"}),
        ("team_viewer", "agent", {"SDR Bot"}),
        ("outsider", "agent", {"Globex Bot"}),
        ("operator", "agent", {"SDR Bot", "Globex Bot"}),
        ("team_admin", "agenttoken", {f"t (stw_{'{prefix}'}_…)"}),
    ],
)
def test_changelists_hold_only_visible_rows(cast, client, globex_rows, who, model, rows):
    client.force_login(cast.user(who))

    response = client.get(url(model, "changelist"))

    expected = {row.replace("{prefix}", cast.agent_token.prefix) for row in rows}
    assert changelist_rows(response) == expected


def test_membership_list_of_a_team_admin_is_their_team_and_themselves(cast, client, globex_rows):
    client.force_login(cast.user("team_admin"))

    response = client.get(url("membership", "changelist"))

    users = {m.user.username for m in response.context["cl"].result_list}
    assert users == {"team_admin", "team_viewer"}


def test_audit_list_of_an_auditor_is_acme_events_only(cast, client, globex_rows):
    client.force_login(cast.user("auditor"))

    response = client.get(url("auditevent", "changelist"))

    workspaces = {e.workspace_id for e in response.context["cl"].result_list}
    assert workspaces == {cast.workspace.pk}


def test_workspace_counts_cover_only_what_the_person_sees(cast, client):
    client.force_login(cast.user("team_viewer"))

    response = client.get(url("workspace", "changelist"))

    (acme,) = response.context["cl"].result_list
    assert (acme.team_count, acme.member_count, acme.agent_count) == (1, 2, 1)

    client.force_login(cast.user("owner"))
    (acme,) = client.get(url("workspace", "changelist")).context["cl"].result_list
    assert (acme.team_count, acme.member_count, acme.agent_count) == (2, 8, 1)


def test_agent_list_counts_tokens_only_for_those_who_may_see_them(cast, client):
    client.force_login(cast.user("viewer"))
    assert "token_total" not in client.get(url("agent", "changelist")).context["cl"].list_display

    client.force_login(cast.user("team_admin"))
    (agent,) = client.get(url("agent", "changelist")).context["cl"].result_list
    assert agent.token_count == 1


# --- foreign-key choices on add forms ---------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "model", "field", "expected"),
    [
        ("owner", "team", "workspace", {"Acme"}),
        ("admin", "team", "workspace", {"Acme"}),
        ("outsider", "team", "workspace", {"Globex"}),
        ("operator", "team", "workspace", {"Acme", "Globex"}),
        ("admin", "membership", "workspace", {"Acme"}),
        ("admin", "membership", "team", {"Sales", "Marketing"}),
        ("team_admin", "membership", "workspace", {"Acme"}),
        ("team_admin", "membership", "team", {"Sales"}),
        ("outsider", "membership", "workspace", {"Globex"}),
        ("outsider", "membership", "team", set()),
        ("admin", "agent", "workspace", {"Acme"}),
        ("admin", "agent", "team", {"Sales", "Marketing"}),
        ("team_admin", "agent", "workspace", {"Acme"}),
        ("team_admin", "agent", "team", {"Sales"}),
        ("outsider", "agent", "team", set()),
        ("admin", "agenttoken", "agent", {"SDR Bot"}),
        ("team_admin", "agenttoken", "agent", {"SDR Bot"}),
        ("outsider", "agenttoken", "agent", {"Globex Bot"}),
        ("operator", "agenttoken", "agent", {"SDR Bot", "Globex Bot"}),
    ],
)
def test_add_forms_offer_only_what_the_person_may_manage(cast, client, who, model, field, expected):
    client.force_login(cast.user(who))

    response = client.get(url(model, "add"))

    assert response.status_code == 200
    assert choices(response, field) == expected


def test_agent_change_form_offers_teams_of_the_agents_workspace_only(cast, client):
    TeamFactory(workspace=cast.other_workspace, name="Globex Ops")
    client.force_login(cast.user("operator"))

    response = client.get(url("agent", "change", cast.agent.pk))

    assert choices(response, "team") == {"Sales", "Marketing"}


@pytest.mark.parametrize(
    ("model", "data"),
    [
        ("team", lambda c: {"workspace": c.workspace.pk, "name": "Leak", "slug": "leak"}),
        (
            "membership",
            lambda c: {"person": "nobody", "workspace": c.workspace.pk, "role": "viewer"},
        ),
        (
            "agent",
            lambda c: {"workspace": c.workspace.pk, "name": "Leak", "slug": "leak"},
        ),
        ("agenttoken", lambda c: {"agent": c.agent.pk, "name": "leak", "scopes": DEFAULT_SCOPES}),
    ],
)
def test_posting_a_choice_from_another_workspace_is_a_form_error(cast, client, model, data):
    client.force_login(cast.user("outsider"))
    before = tenancy_state()

    response = client.post(url(model, "add"), data(cast))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert tenancy_state() == before


# --- forms change rows through services -------------------------------------------------------


def assert_event(events: list[AuditEvent], action: str, who: Any) -> AuditEvent:
    assert [event.action for event in events] == [action]
    assert events[0].actor_label == who.username
    assert events[0].request_id  # written inside a request
    return events[0]


@pytest.mark.parametrize("who", ["owner", "admin", "operator"])
def test_adding_a_team_goes_through_the_service(cast, client, who):
    client.force_login(cast.user(who))

    with recorded() as events:
        response = client.post(
            url("team", "add"),
            {"workspace": cast.workspace.pk, "name": "Support", "slug": "support"},
        )

    assert outcome_of(response) == f"302 to {url('team', 'changelist')}"
    event = assert_event(events, "team.create", cast.user(who))
    assert event.workspace_id == cast.workspace.pk
    assert Team.objects.filter(workspace=cast.workspace, slug="support").exists()


@pytest.mark.parametrize("who", [w for w in WHO if w not in {"owner", "admin", "operator"}])
def test_adding_a_team_when_not_allowed_changes_nothing(cast, client, who):
    sign_in(client, cast, who)
    before = tenancy_state()

    response = client.post(
        url("team", "add"), {"workspace": cast.workspace.pk, "name": "Support", "slug": "support"}
    )

    assert outcome_of(response) in (403, LOGIN, 200)
    assert tenancy_state() == before


MANAGE_ACME = {"owner", "admin", "operator"}
MANAGE_SALES_PEOPLE = MANAGE_ACME | {"team_admin"}

ADD_POSTS: dict[str, tuple[set[str], str, Any]] = {
    # model: (who may, event, form data)
    "workspace": ({"operator"}, "workspace.create", lambda c: {"name": "I", "slug": "i"}),
    "membership": (
        MANAGE_SALES_PEOPLE,
        "membership.grant",
        lambda c: {
            "person": "nobody",
            "workspace": c.workspace.pk,
            "team": c.sales.pk,
            "role": "viewer",
        },
    ),
    "agent": (
        MANAGE_SALES_PEOPLE,
        "agent.create",
        lambda c: {"workspace": c.workspace.pk, "team": c.sales.pk, "name": "B", "slug": "b"},
    ),
    "agenttoken": (
        MANAGE_SALES_PEOPLE,
        "agent_token.issue",
        lambda c: {"agent": c.agent.pk, "name": "ci", "scopes": DEFAULT_SCOPES},
    ),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("model", ADD_POSTS)
def test_add_form_post_matrix(cast, client, model, who):
    allowed, action, data = ADD_POSTS[model]
    sign_in(client, cast, who)
    before = tenancy_state()

    with recorded() as events:
        response = client.post(url(model, "add"), data(cast))

    if who in allowed:
        assert response.status_code in (200, 302)
        assert events[0].action == action
        assert len(events) == (2 if model == "workspace" else 1)
        assert events[0].actor_label == who
    else:
        assert outcome_of(response) in (200, 403, LOGIN)
        assert tenancy_state() == before


CHANGE_POSTS: dict[str, tuple[set[str], str, Any, Any]] = {
    # model: (who may, event, object, form data)
    "workspace": (MANAGE_ACME, "workspace.update", lambda c: c.workspace, {"name": "New"}),
    "team": (MANAGE_SALES_PEOPLE, "team.update", lambda c: c.sales, {"name": "New"}),
    "membership": (
        MANAGE_ACME,
        "membership.change_role",
        lambda c: Membership.objects.get(user=c.user("viewer")),
        {"role": "editor"},
    ),
    "agent": (
        MANAGE_SALES_PEOPLE,
        "agent.update",
        lambda c: c.agent,
        {"name": "New", "is_active": "on"},
    ),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("model", CHANGE_POSTS)
def test_change_form_post_matrix(cast, client, model, who):
    allowed, action, obj, data = CHANGE_POSTS[model]
    if model == "agent":
        data = {**data, "team": cast.sales.pk}
    sign_in(client, cast, who)
    before = tenancy_state()

    with recorded() as events:
        response = client.post(url(model, "change", obj(cast).pk), data)

    if who in allowed:
        assert response.status_code == 302
        assert [(e.action, e.actor_label) for e in events] == [(action, who)]
    else:
        assert outcome_of(response) in (403, GONE, LOGIN)
        assert tenancy_state() == before


DELETE_POSTS: dict[str, tuple[str, Any]] = {
    "team": ("team.delete", lambda c: c.marketing),
    "membership": ("membership.revoke", lambda c: Membership.objects.get(user=c.user("viewer"))),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("model", DELETE_POSTS)
def test_delete_post_matrix(cast, client, model, who):
    action, obj = DELETE_POSTS[model]
    sign_in(client, cast, who)
    before = tenancy_state()

    with recorded() as events:
        response = client.post(url(model, "delete", obj(cast).pk), {"post": "yes"})

    if who in MANAGE_ACME:
        assert response.status_code == 302
        assert [(e.action, e.actor_label) for e in events] == [(action, who)]
    else:
        assert outcome_of(response) in (403, GONE, LOGIN)
        assert tenancy_state() == before


def test_renaming_a_team_records_the_old_and_new_name(cast, client):
    client.force_login(cast.user("team_admin"))

    with recorded() as events:
        response = client.post(url("team", "change", cast.sales.pk), {"name": "Field Sales"})

    assert response.status_code == 302
    event = assert_event(events, "team.update", cast.user("team_admin"))
    assert (event.before["name"], event.after["name"]) == ("Sales", "Field Sales")


def test_saving_an_unchanged_form_records_nothing(cast, client):
    client.force_login(cast.user("admin"))
    before = tenancy_state()

    response = client.post(url("team", "change", cast.sales.pk), {"name": "Sales"})

    assert response.status_code == 302
    assert tenancy_state() == before


@pytest.mark.parametrize("who", ["reviewer", "viewer", "team_viewer", "auditor"])
def test_readers_cannot_post_change_forms(cast, client, who):
    client.force_login(cast.user(who))
    before = tenancy_state()
    viewer_membership = Membership.objects.get(user=cast.user("viewer"))

    posts = [
        (url("workspace", "change", cast.workspace.pk), {"name": "Hacked"}),
        (url("team", "change", cast.sales.pk), {"name": "Hacked"}),
        (url("membership", "change", viewer_membership.pk), {"role": "owner"}),
        (url("agent", "change", cast.agent.pk), {"team": cast.sales.pk, "name": "Hacked"}),
    ]
    for path, data in posts:
        assert client.post(path, data).status_code == 403, path

    assert tenancy_state() == before


def test_outsider_posting_to_acme_objects_changes_nothing(cast, client):
    client.force_login(cast.user("outsider"))
    before = tenancy_state()

    for path, data in [
        (url("workspace", "change", cast.workspace.pk), {"name": "Hacked"}),
        (url("team", "change", cast.sales.pk), {"name": "Hacked"}),
        (url("agent", "change", cast.agent.pk), {"name": "Hacked"}),
        (url("team", "delete", cast.marketing.pk), {"post": "yes"}),
    ]:
        assert outcome_of(client.post(path, data)) in (403, GONE), path

    assert tenancy_state() == before


def test_renaming_a_workspace_goes_through_the_service(cast, client):
    client.force_login(cast.user("admin"))

    with recorded() as events:
        response = client.post(url("workspace", "change", cast.workspace.pk), {"name": "Acme Corp"})

    assert response.status_code == 302
    event = assert_event(events, "workspace.update", cast.user("admin"))
    assert (event.before, event.after) == ({"name": "Acme"}, {"name": "Acme Corp"})


def test_operator_adds_a_workspace_and_becomes_its_owner(cast, client):
    operator = cast.user("operator")
    client.force_login(operator)

    with recorded() as events:
        response = client.post(url("workspace", "add"), {"name": "Initech", "slug": "initech"})

    assert response.status_code == 302
    assert [e.action for e in events] == ["workspace.create", "membership.grant"]
    workspace = Workspace.objects.get(slug="initech")
    assert Membership.objects.get(workspace=workspace).user == operator


def test_adding_a_member_goes_through_the_service(cast, client):
    client.force_login(cast.user("admin"))

    with recorded() as events:
        response = client.post(
            url("membership", "add"),
            {"person": "nobody@example.test", "workspace": cast.workspace.pk, "role": "editor"},
        )

    assert response.status_code == 302
    event = assert_event(events, "membership.grant", cast.user("admin"))
    assert event.after["user"] == cast.user("nobody").pk
    assert event.after["role"] == "editor"


def test_team_admin_adds_a_member_to_their_team(cast, client):
    client.force_login(cast.user("team_admin"))

    with recorded() as events:
        response = client.post(
            url("membership", "add"),
            {
                "person": "nobody",
                "workspace": cast.workspace.pk,
                "team": cast.sales.pk,
                "role": "editor",
            },
        )

    assert response.status_code == 302
    event = assert_event(events, "membership.grant", cast.user("team_admin"))
    assert event.after["team"] == cast.sales.pk


def test_team_admin_adding_a_workspace_wide_member_is_refused_with_a_message(cast, client):
    client.force_login(cast.user("team_admin"))
    before = tenancy_state()

    response = client.post(
        url("membership", "add"),
        {"person": "nobody", "workspace": cast.workspace.pk, "role": "editor"},
        follow=True,
    )

    assert response.status_code == 200
    assert any("may not" in m for m in messages_of(response))
    assert tenancy_state() == before


def test_admin_cannot_hand_out_the_owner_role(cast, client):
    client.force_login(cast.user("admin"))
    before = tenancy_state()

    response = client.post(
        url("membership", "add"),
        {"person": "nobody", "workspace": cast.workspace.pk, "role": "owner"},
        follow=True,
    )

    assert any("may not" in m for m in messages_of(response))
    assert tenancy_state() == before


@pytest.mark.parametrize(
    ("person", "error"),
    [("ghost", "No account"), ("shared@example.test", "Several accounts"), ("viewer", "already")],
)
def test_membership_add_form_names_what_to_fix(cast, client, person, error):
    UserFactory(username="twin1", email="shared@example.test")
    UserFactory(username="twin2", email="Shared@example.test")
    client.force_login(cast.user("admin"))
    before = tenancy_state()

    response = client.post(
        url("membership", "add"),
        {"person": person, "workspace": cast.workspace.pk, "role": "viewer"},
    )

    assert response.status_code == 200
    assert error in str(response.context["adminform"].form.errors)
    assert tenancy_state() == before


def test_changing_a_role_goes_through_the_service(cast, client):
    client.force_login(cast.user("admin"))
    viewer = Membership.objects.get(user=cast.user("viewer"))

    with recorded() as events:
        response = client.post(url("membership", "change", viewer.pk), {"role": "editor"})

    assert response.status_code == 302
    event = assert_event(events, "membership.change_role", cast.user("admin"))
    assert (event.before["role"], event.after["role"]) == ("viewer", "editor")


def test_the_last_owner_cannot_be_demoted_or_removed_in_the_admin(cast, client):
    client.force_login(cast.user("operator"))
    owner = Membership.objects.get(user=cast.user("owner"))
    before = tenancy_state()

    demote = client.post(url("membership", "change", owner.pk), {"role": "admin"}, follow=True)
    remove = client.post(url("membership", "delete", owner.pk), {"post": "yes"}, follow=True)

    assert any("at least one owner" in m for m in messages_of(demote))
    assert any("at least one owner" in m for m in messages_of(remove))
    assert tenancy_state() == before


def test_removing_a_member_goes_through_the_service(cast, client):
    client.force_login(cast.user("admin"))
    viewer = Membership.objects.get(user=cast.user("viewer"))

    with recorded() as events:
        response = client.post(url("membership", "delete", viewer.pk), {"post": "yes"})

    assert response.status_code == 302
    assert_event(events, "membership.revoke", cast.user("admin"))
    assert not Membership.objects.filter(pk=viewer.pk).exists()


def test_deleting_a_team_goes_through_the_service(cast, client):
    client.force_login(cast.user("owner"))

    with recorded() as events:
        response = client.post(url("team", "delete", cast.marketing.pk), {"post": "yes"})

    assert response.status_code == 302
    assert_event(events, "team.delete", cast.user("owner"))
    assert not Team.objects.filter(pk=cast.marketing.pk).exists()


def test_a_team_with_agents_is_not_deleted(cast, client):
    client.force_login(cast.user("owner"))
    before = tenancy_state()

    response = client.post(url("team", "delete", cast.sales.pk), {"post": "yes"})

    assert response.status_code == 200  # the page lists the agents that protect it
    assert tenancy_state() == before


def test_adding_an_agent_goes_through_the_service(cast, client):
    client.force_login(cast.user("team_admin"))

    with recorded() as events:
        response = client.post(
            url("agent", "add"),
            {
                "workspace": cast.workspace.pk,
                "team": cast.sales.pk,
                "name": "AE Bot",
                "slug": "ae-bot",
            },
        )

    assert response.status_code == 302
    event = assert_event(events, "agent.create", cast.user("team_admin"))
    assert event.after["slug"] == "ae-bot"


def test_changing_an_agent_goes_through_the_service(cast, client):
    client.force_login(cast.user("admin"))

    with recorded() as events:
        response = client.post(
            url("agent", "change", cast.agent.pk),
            {"team": cast.marketing.pk, "name": "SDR Bot", "description": "", "is_active": "on"},
        )

    assert response.status_code == 302
    event = assert_event(events, "agent.update", cast.user("admin"))
    assert (event.before["team"], event.after["team"]) == (cast.sales.pk, cast.marketing.pk)


def test_team_admin_cannot_move_an_agent_to_another_team(cast, client):
    client.force_login(cast.user("team_admin"))
    before = tenancy_state()

    response = client.post(
        url("agent", "change", cast.agent.pk),
        {"team": cast.marketing.pk, "name": "SDR Bot", "is_active": "on"},
    )

    assert response.status_code == 200  # Marketing is not among their choices
    assert tenancy_state() == before


# --- admin actions ----------------------------------------------------------------------------

MANAGE_SALES = {"owner", "admin", "team_admin", "operator"}


def run_action(client: Any, model: str, action: str, pks: list[int]) -> Any:
    return client.post(
        url(model, "changelist"),
        {"action": action, "_selected_action": pks, "index": 0, "select_across": 0},
    )


@pytest.mark.parametrize("who", WHO)
def test_deactivate_agents_action_matrix(cast, client, who):
    sign_in(client, cast, who)
    before = tenancy_state()

    with recorded() as events:
        response = run_action(client, "agent", "deactivate_agents", [cast.agent.pk])

    agent = Agent.objects.get(pk=cast.agent.pk)
    if who in MANAGE_SALES:
        assert response.status_code == 302
        assert not agent.is_active
        assert_event(events, "agent.update", cast.user(who))
        assert (events[0].before["is_active"], events[0].after["is_active"]) == (True, False)
    else:
        assert response.status_code in (200, 302, 403)
        assert agent.is_active
        assert tenancy_state() == before


@pytest.mark.parametrize("who", WHO)
def test_revoke_tokens_action_matrix(cast, client, who):
    sign_in(client, cast, who)
    before = tenancy_state()

    with recorded() as events:
        response = run_action(client, "agenttoken", "revoke_tokens", [cast.agent_token.pk])

    token = AgentToken.objects.get(pk=cast.agent_token.pk)
    if who in MANAGE_SALES:
        assert response.status_code == 302
        assert token.state == "revoked"
        assert_event(events, "agent_token.revoke", cast.user(who))
    else:
        assert response.status_code in (200, 302, 403)
        assert token.state == "active"
        assert tenancy_state() == before


def test_revoking_revoked_tokens_again_records_nothing(cast, client):
    services.agent_token_revoke(actor=SYSTEM, token=cast.agent_token)
    client.force_login(cast.user("admin"))
    before = tenancy_state()

    run_action(client, "agenttoken", "revoke_tokens", [cast.agent_token.pk])

    assert tenancy_state() == before


def test_outsider_selecting_acme_rows_changes_nothing(cast, client):
    client.force_login(cast.user("outsider"))
    before = tenancy_state()

    run_action(client, "agent", "deactivate_agents", [cast.agent.pk, cast.other_agent.pk])

    assert not Agent.objects.get(pk=cast.other_agent.pk).is_active
    after = tenancy_state()
    assert Agent.objects.get(pk=cast.agent.pk).is_active
    assert after["events"] == before["events"] + 1


def test_an_action_is_all_or_nothing(cast, client):
    """Someone who sees every Acme agent but manages only Sales: one refusal undoes all."""
    user = UserFactory(username="mixed")
    MembershipFactory(user=user, workspace=cast.workspace, role="viewer")
    MembershipFactory(user=user, workspace=cast.workspace, team=cast.sales, role="admin")
    wide = AgentFactory(workspace=cast.workspace, name="Wide Bot", slug="wide-bot")
    client.force_login(user)
    before = tenancy_state()

    response = run_action(client, "agent", "deactivate_agents", [cast.agent.pk, wide.pk])

    assert response.status_code == 302
    assert tenancy_state() == before
    assert any("Nothing was changed" in m for m in messages_of(response))


# --- per-agent grants (guardian) -------------------------------------------------------------


def grant_urls(cast: Any, user: Any) -> list[str]:
    return [
        reverse("admin:workspaces_agent_permissions", args=[cast.agent.pk]),
        reverse("admin:workspaces_agent_permissions_manage_user", args=[cast.agent.pk, user.pk]),
    ]


@pytest.mark.parametrize("who", ["owner", "admin", "team_admin"])
def test_only_operators_reach_per_agent_grants(cast, client, who):
    """A grant reaches past membership roles: a team admin must not hand an Acme agent to
    the owner of another workspace."""
    client.force_login(cast.user(who))
    outsider = cast.user("outsider")
    before = tenancy_state()

    for path in grant_urls(cast, outsider):
        assert client.get(path).status_code == 302, path
    client.post(grant_urls(cast, outsider)[1], {"permissions": ["change_agent"]})

    assert AgentUserObjectPermission.objects.count() == 0
    assert tenancy_state() == before
    assert not Agent.objects.visible_to(outsider, "manage").filter(pk=cast.agent.pk).exists()


def test_operator_grants_and_withdraws_per_agent_access_through_the_service(cast, client):
    operator, contractor = cast.user("operator"), UserFactory(username="contractor")
    client.force_login(operator)
    page, manage_user = grant_urls(cast, contractor)
    assert client.get(page).status_code == 200

    with recorded() as granted:
        response = client.post(manage_user, {"permissions": ["change_agent", "view_agent"]})
    assert response.status_code == 302
    with recorded() as withdrawn:
        client.post(manage_user, {"permissions": ["view_agent"]})

    event = assert_event(granted, "agent.access_set", operator)
    assert event.after == {"user": contractor.pk, "permissions": ["change_agent", "view_agent"]}
    assert withdrawn[0].before["permissions"] == ["change_agent", "view_agent"]
    assert withdrawn[0].after["permissions"] == ["view_agent"]
    assert list(Agent.objects.visible_to(contractor, "view")) == [cast.agent]
    assert not Agent.objects.visible_to(contractor, "manage").exists()


def test_a_contractor_with_a_grant_reaches_the_console(cast, client):
    contractor = UserFactory(username="contractor")
    services.agent_access_set(
        actor=SYSTEM, agent=cast.agent, user=contractor, permissions=["change_agent"]
    )
    client.force_login(contractor)

    response = client.get(url("agent", "changelist"))

    assert response.status_code == 200
    assert changelist_rows(response) == {"SDR Bot"}
    assert client.get(url("workspace", "changelist")).status_code == 403


# --- token issue shows the secret once --------------------------------------------------------


def database_rows_containing(text: str) -> list[str]:
    """Tables with any row whose text form contains `text`: the whole database, searched."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT count(*) FROM {quoted} AS t WHERE t::text LIKE %s",  # noqa: S608
                [f"%{text}%"],
            )
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def test_issuing_a_token_shows_the_secret_once_and_stores_only_its_hash(cast, client):
    admin = cast.user("admin")
    client.force_login(admin)

    with recorded() as events:
        response = client.post(
            url("agenttoken", "add"),
            {"agent": cast.agent.pk, "name": "ci", "scopes": ["memories:read", "signals:write"]},
        )

    assert response.status_code == 200
    assert "admin/workspaces/agenttoken/issued.html" in [t.name for t in response.templates]
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    token = AgentToken.objects.get(name="ci")
    assert secret.startswith(f"stw_{token.prefix}_")
    assert secret in response.content.decode()
    assert token.secret_hash == services.hash_token(secret)
    assert token.scopes == ["memories:read", "signals:write"]
    assert token.created_by == admin
    assert_event(events, "agent_token.issue", admin)

    assert database_rows_containing(secret) == []
    assert secret not in str(dict(client.session))
    assert all(secret not in m for m in messages_of(response))
    assert all(secret not in cookie.value for cookie in response.cookies.values())
    assert all(secret not in (e.change_message + e.object_repr) for e in LogEntry.objects.all())

    change_page = client.get(url("agenttoken", "change", token.pk))
    assert change_page.status_code == 200
    assert secret not in change_page.content.decode()
    assert secret.split("_", 2)[2] not in change_page.content.decode()
    assert f"stw_{token.prefix}_" in change_page.content.decode()
    changelist = client.get(url("agenttoken", "changelist"))
    assert secret.split("_", 2)[2] not in changelist.content.decode()


def test_the_issued_token_authenticates_the_agent(cast, client):
    client.force_login(cast.user("admin"))
    response = client.post(
        url("agenttoken", "add"), {"agent": cast.agent.pk, "name": "ci", "scopes": DEFAULT_SCOPES}
    )
    client.logout()

    me = client.get("/api/v1/agents/me", HTTP_AUTHORIZATION=f"Bearer {response.context['secret']}")

    assert me.status_code == 200
    assert me.json()["slug"] == "sdr-bot"


def test_token_form_refuses_a_past_expiry_and_unknown_scopes(cast, client):
    client.force_login(cast.user("admin"))
    before = tenancy_state()

    response = client.post(
        url("agenttoken", "add"),
        {
            "agent": cast.agent.pk,
            "name": "old",
            "scopes": ["memories:read", "root"],
            "expires_at_0": "2001-01-01",
            "expires_at_1": "00:00:00",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"scopes", "expires_at"}
    assert tenancy_state() == before


def test_existing_tokens_cannot_be_edited(cast, client):
    client.force_login(cast.user("owner"))
    before = tenancy_state()

    response = client.post(url("agenttoken", "change", cast.agent_token.pk), {"name": "renamed"})

    assert response.status_code == 403
    assert tenancy_state() == before


# --- dashboard --------------------------------------------------------------------------------

DASHBOARD = {
    # who: (people with access, active agents, usable tokens, activity chart shown)
    "owner": (8, 1, 1, True),
    "admin": (8, 1, 1, True),
    # usable tokens: of the agents the person sees, whatever the role (issue 16, finding 7)
    "reviewer": (8, 1, 1, False),
    "editor": (8, 1, 1, False),
    "auditor": (8, 1, 1, True),
    "viewer": (8, 1, 1, False),
    "team_admin": (2, 1, 1, False),
    "team_viewer": (2, 1, 1, False),
    "outsider": (1, 1, 1, True),
    "operator": (9, 2, 2, True),
}


@pytest.mark.parametrize("who", WHO)
def test_dashboard_renders_for_everyone_with_their_own_counts(cast, client, who):
    sign_in(client, cast, who)

    response = client.get(reverse("admin:index"))

    if who == "anonymous":
        assert outcome_of(response) == LOGIN
        return
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    if who == "nobody":
        assert dashboard is None
        return
    totals = dashboard["totals"]
    members, agents, tokens, chart = DASHBOARD[who]
    assert (totals["members"], totals["agents"], totals["active_tokens"]) == (
        members,
        agents,
        tokens,
    )
    assert (dashboard["activity_chart"] is not None) == chart
    page = response.content.decode()
    if who != "operator":
        assert ("Globex" in page) == (who == "outsider")
        assert ("Acme" in page) == (who != "outsider")


def test_dashboard_workspace_rows_count_only_what_a_team_member_sees(cast, client):
    client.force_login(cast.user("team_viewer"))

    (acme,) = client.get(reverse("admin:index")).context["dashboard"]["workspaces"]

    assert (acme.team_count, acme.member_count, acme.active_agent_count) == (1, 2, 1)


@pytest.mark.parametrize(
    ("who", "audit", "tokens"),
    [("viewer", False, False), ("auditor", True, False), ("team_admin", False, True)],
)
def test_sidebar_shows_only_pages_the_person_may_open(cast, client, who, audit, tokens):
    client.force_login(cast.user(who))

    page = client.get(reverse("admin:index")).content.decode()

    assert (url("auditevent", "changelist") in page) == audit
    assert (url("agenttoken", "changelist") in page) == tokens
    assert url("agent", "changelist") in page


# --- no N+1 -----------------------------------------------------------------------------------


def fill(cast: Any, n: int = 20) -> None:
    """n more of everything in Acme (through services, so with audit events) and n workspaces
    where Acme's owner is a viewer."""
    for i in range(n):
        team = services.team_create(
            actor=SYSTEM, workspace=cast.workspace, name=f"Team {i}", slug=f"team-{i}"
        )
        services.membership_grant(
            actor=SYSTEM,
            workspace=cast.workspace,
            team=team,
            user=UserFactory(username=f"member-{i}"),
            role="editor",
        )
        agent = services.agent_create(
            actor=SYSTEM, workspace=cast.workspace, team=team, name=f"Bot {i}", slug=f"bot-{i}"
        )
        services.agent_token_issue(actor=SYSTEM, agent=agent, name=f"t{i}", scopes=DEFAULT_SCOPES)
        tenant = WorkspaceFactory(name=f"Tenant {i}", slug=f"tenant-{i}")
        MembershipFactory(user=cast.user("owner"), workspace=tenant, role="viewer")


def queries_for(client: Any, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("model", CHANGELISTS)
@pytest.mark.parametrize("who", ["operator", "owner"])
def test_changelist_query_count_does_not_grow_with_rows(
    cast, client, django_assert_max_num_queries, model, who
):
    client.force_login(cast.user(who))
    path = url(model, "changelist")
    few = queries_for(client, path)

    fill(cast)
    with django_assert_max_num_queries(few) as captured:
        response = client.get(path)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 20
    assert len(captured) <= 25


@pytest.mark.parametrize("who", ["operator", "owner", "viewer"])
def test_dashboard_query_count_does_not_grow_with_rows(
    cast, client, django_assert_max_num_queries, who
):
    client.force_login(cast.user(who))
    few = queries_for(client, reverse("admin:index"))

    fill(cast)
    with django_assert_max_num_queries(few):
        assert client.get(reverse("admin:index")).status_code == 200
