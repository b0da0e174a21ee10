"""Permission matrix for every guardrails endpoint, every member of the shared cast: agents ask
and settle, people read (by their roles' reach) and admins manage (the workspace's, or the
team's for a team-level entry). Refused writes change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from apps.guardrails import services
from tests.api_helpers import OUTSIDE, assert_error, each, matrix
from tests.conftest import SYSTEM
from tests.guardrails.conftest import agent_client, ask, state

MANAGERS = ("owner", "admin", "operator")
READERS = ("reviewer", "editor", "auditor", "viewer")
TEAM = ("team_admin", "team_viewer")
PEOPLE = (*MANAGERS, *READERS, *TEAM, *OUTSIDE)


@pytest.fixture
def world(crew: Any) -> dict[str, Any]:
    """Acme: a cleared workspace pause, a cleared Sales pause, a live Marketing pause (the
    cast's agents keep working); Globex: a cleared pause. Suppressions, limits, trips and a
    reservation on both sides."""
    ws = services.kill_switch_set(actor=SYSTEM, workspace=crew.workspace, reason="drill")
    services.kill_switch_clear(actor=SYSTEM, switch=ws, reason="drill over")
    sales = services.kill_switch_set(
        actor=SYSTEM, workspace=crew.workspace, level="team", team=crew.sales, reason="drill"
    )
    services.kill_switch_clear(actor=SYSTEM, switch=sales, reason="over")
    live = services.kill_switch_set(
        actor=SYSTEM, workspace=crew.workspace, level="team", team=crew.marketing, reason="x"
    )
    globex = services.kill_switch_set(
        actor=SYSTEM, workspace=crew.other_workspace, reason="Globex drill"
    )
    services.kill_switch_clear(actor=SYSTEM, switch=globex, reason="over")
    suppressed = services.suppression_add(
        actor=SYSTEM, workspace=crew.workspace, unit="gone@example.test", reason="unsubscribe"
    )
    services.suppression_add(
        actor=SYSTEM, workspace=crew.other_workspace, unit="gone@example.test", reason="complaint"
    )
    ws_limits = services.limits_set(actor=SYSTEM, workspace=crew.workspace, step_limit=10)
    services.limits_set(
        actor=SYSTEM, workspace=crew.workspace, level="team", team=crew.sales, step_limit=8
    )
    ask(agent_client(crew.agent_secret), unit="gone@example.test")  # a Sales trip
    ask(agent_client(crew.other_agent_secret), unit="gone@example.test")  # a Globex trip
    reservation = ask(agent_client(crew.agent_secret))["reservation"]
    return {
        "ws": ws,
        "sales": sales,
        "live": live,
        "globex": globex,
        "suppressed": suppressed,
        "limits": ws_limits,
        "reservation": reservation,
    }


def rows(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    return list(body["results"] if isinstance(body, dict) else body)


# --- agents ask and settle ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(403, *PEOPLE), agent=200, other_agent=200)
)
def test_check(client_as, world, who, status):
    before = state() if status != 200 else None

    response = client_as(who).post(
        "/api/v1/guardrails/check",
        {"action": "email", "channel": "email", "unit": "new@example.test"},
        format="json",
    )

    assert response.status_code == status
    if status == 200:
        assert response.json()["decision"] == "allow"
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize("endpoint", ["commit", "release"])
@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(403, *PEOPLE), agent=200, other_agent=404)
)
def test_commit_and_release(client_as, world, endpoint, who, status):
    before = state() if status != 200 else None

    response = client_as(who).post(
        f"/api/v1/guardrails/{endpoint}", {"reservation": world["reservation"]}, format="json"
    )

    assert response.status_code == status
    if status != 200:
        assert_error(response, status)
        assert state() == before


# --- people read ----------------------------------------------------------------------------

SWITCHES_SEEN = {
    **{who: {"ws", "sales", "live"} for who in (*MANAGERS[:2], *READERS)},
    "team_admin": {"sales"},
    "team_viewer": {"sales"},
    "outsider": {"globex"},
    "nobody": set(),
    "operator": {"ws", "sales", "live", "globex"},
}


@pytest.mark.parametrize(("who", "status"), matrix(**each(200, *PEOPLE)))
def test_kill_switch_list_and_detail(client_as, world, who, status):
    response = client_as(who).get("/api/v1/guardrails/kill-switches")

    assert response.status_code == status
    if status == 200:
        names = {world[k].pk: k for k in ("ws", "sales", "live", "globex")}
        assert {names[r["id"]] for r in rows(response)} == SWITCHES_SEEN[who]
        detail = client_as(who).get(f"/api/v1/guardrails/kill-switches/{world['sales'].pk}")
        assert detail.status_code == (200 if "sales" in SWITCHES_SEEN[who] else 404)


@pytest.mark.parametrize(("who", "status"), matrix(**each(200, *PEOPLE)))
def test_trip_reservation_limit_and_suppression_lists(client_as, world, crew, who, status):
    client = client_as(who)
    trips = client.get("/api/v1/guardrails/trips")
    reservations = client.get("/api/v1/guardrails/reservations")
    limits = client.get("/api/v1/guardrails/limits")
    suppressions = client.get("/api/v1/guardrails/suppressions")

    assert {r.status_code for r in (trips, reservations, limits, suppressions)} == {status}
    if status != 200:
        return
    acme = who in (*MANAGERS, *READERS, *TEAM)
    globex = who in ("outsider", "operator")
    workspaces = {crew.workspace.pk} if acme else set()
    if globex:
        workspaces.add(crew.other_workspace.pk)
    assert {r["workspace"] for r in rows(trips)} == workspaces  # a Sales trip: team roles too
    assert {r["workspace"] for r in rows(suppressions)} == workspaces
    assert {r["workspace"] for r in rows(reservations)} <= workspaces
    team_only = who in TEAM
    assert {r["level"] for r in rows(limits)} == (
        {"team"} if team_only else {"workspace", "team"} if acme else set()
    )


# --- admins manage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(201, *MANAGERS), **each(403, *READERS, *TEAM), **each(400, *OUTSIDE)),
)
def test_pause_the_workspace(client_as, world, crew, who, status):
    before = state()

    response = client_as(who).post(
        "/api/v1/guardrails/kill-switches",
        {"workspace": crew.workspace.pk, "reason": "Spam complaints"},
        format="json",
    )

    assert response.status_code == status
    if status == 201:
        assert response.json()["active"] is True
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *MANAGERS, "team_admin"),
        **each(403, *READERS, "team_viewer"),
        **each(400, *OUTSIDE),
    ),
)
def test_pause_an_agent_of_sales(client_as, world, crew, who, status):
    before = state()

    response = client_as(who).post(
        "/api/v1/guardrails/kill-switches",
        {"workspace": crew.workspace.pk, "level": "agent", "agent": crew.closer.pk, "reason": "x"},
        format="json",
    )

    assert response.status_code == status
    if status != 201:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MANAGERS), **each(403, *READERS), **each(404, *TEAM, *OUTSIDE)),
)
def test_clear_a_pause(client_as, world, who, status):
    before = state()

    response = client_as(who).post(
        f"/api/v1/guardrails/kill-switches/{world['live'].pk}/clear",
        {"reason": "Back to work"},
        format="json",
    )

    assert response.status_code == status
    if status == 200:
        assert response.json()["active"] is False
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MANAGERS), **each(403, *READERS, *TEAM), **each(400, *OUTSIDE)),
)
def test_set_workspace_limits(client_as, world, crew, who, status):
    before = state()

    response = client_as(who).post(
        "/api/v1/guardrails/limits",
        {"workspace": crew.workspace.pk, "agent_budget_day": 25},
        format="json",
    )

    assert response.status_code == status
    if status == 200:
        assert response.json()["agent_budget_day"] == "25.0000"
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *MANAGERS, "team_admin"),
        **each(403, *READERS, "team_viewer"),
        **each(400, *OUTSIDE),
    ),
)
def test_set_team_limits(client_as, world, crew, who, status):
    before = state()

    response = client_as(who).post(
        "/api/v1/guardrails/limits",
        {"workspace": crew.workspace.pk, "level": "team", "team": crew.sales.pk, "step_limit": 3},
        format="json",
    )

    assert response.status_code == status
    if status != 200:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(201, *MANAGERS), **each(403, *READERS, *TEAM), **each(400, *OUTSIDE)),
)
def test_suppress_a_contact(client_as, world, crew, who, status):
    before = state()

    response = client_as(who).post(
        "/api/v1/guardrails/suppressions",
        {"workspace": crew.workspace.pk, "unit": "angry@example.test", "reason": "complaint"},
        format="json",
    )

    assert response.status_code == status
    if status == 201:
        assert response.json()["channel"] == "all"
        assert "angry" not in response.content.decode()
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(204, *MANAGERS), **each(403, *READERS, *TEAM), **each(404, *OUTSIDE)),
)
def test_remove_a_suppression(client_as, world, who, status):
    before = state()

    response = client_as(who).delete(f"/api/v1/guardrails/suppressions/{world['suppressed'].pk}")

    assert response.status_code == status
    if status != 204:
        assert_error(response, status)
        assert state() == before
