"""The circuit breaker API: a permission matrix for every endpoint (people read by their roles'
reach, admins of the workspace or of the team manage; agents and outsiders are refused and
nothing changes), and bad input (wrong types, out of range, another workspace's ids, unknown
fields, resets without a reason or twice)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.guardrails import breakers
from apps.guardrails.models import CircuitBreaker
from tests.api_helpers import OUTSIDE, assert_error, each, matrix
from tests.conftest import SYSTEM
from tests.guardrails.conftest import state
from tests.guardrails.test_breakers import outcome, runs
from tests.workspaces.factories import TeamFactory

MANAGERS = ("owner", "admin", "operator")
READERS = ("reviewer", "editor", "auditor", "viewer")
TEAM = ("team_admin", "team_viewer")
PEOPLE = (*MANAGERS, *READERS, *TEAM, *OUTSIDE)
RULES = "/api/v1/guardrails/circuit-breakers"
TRIPS = "/api/v1/guardrails/breaker-trips"


def body(cast: Any, **extra: Any) -> dict[str, Any]:
    return {
        "workspace": cast.workspace.pk,
        "name": "Complaints",
        "metric": "complaint_rate",
        "scope": "agent",
        "threshold": "0.05",
        "window_minutes": 180,
        "min_volume": 2,
        **extra,
    }


@pytest.fixture
def world(cast: Any) -> dict[str, Any]:
    """Acme: a workspace rule that tripped for SDR Bot (day budget), a Sales rule; Globex: a
    rule that tripped for its agent."""

    def rule(workspace: Any, **extra: Any) -> CircuitBreaker:
        values = {**body(cast), "workspace": workspace, "action": "budget", **extra}
        return breakers.circuit_breaker_set(actor=SYSTEM, **values)

    made = {
        "ws": rule(cast.workspace),
        "sales": rule(cast.workspace, team=cast.sales, name="Sales", metric="unsubscribe_rate"),
        "globex": rule(cast.other_workspace, name="Globex"),
    }
    for agent, workspace in (
        (cast.agent, cast.workspace),
        (cast.other_agent, cast.other_workspace),
    ):
        for trace_id in runs(agent, 2):
            outcome(trace_id, "complaint", workspace.pk)
    trips = breakers.circuit_breakers_evaluate()
    made["trip"], made["globex_trip"] = sorted(
        trips, key=lambda t: t.workspace_id != cast.workspace.pk
    )
    return made


def ids(response: Any) -> set[int]:
    payload = response.json()
    return {row["id"] for row in (payload["results"] if isinstance(payload, dict) else payload)}


RULES_SEEN = {
    **{who: {"ws", "sales"} for who in (*MANAGERS[:2], *READERS)},
    "team_admin": {"sales"},
    "team_viewer": {"sales"},
    "outsider": {"globex"},
    "nobody": set(),
    "operator": {"ws", "sales", "globex"},
}
TRIPS_SEEN = {
    **{who: {"trip"} for who in (*MANAGERS[:2], *READERS, *TEAM)},  # SDR Bot is in Sales
    "outsider": {"globex_trip"},
    "nobody": set(),
    "operator": {"trip", "globex_trip"},
}


@pytest.mark.parametrize(("who", "status"), matrix(**each(200, *PEOPLE)))
def test_lists_and_details(client_as, world, who, status):
    client = client_as(who)

    rules = client.get(RULES)
    trips = client.get(f"{TRIPS}?active=true")

    assert (rules.status_code, trips.status_code) == (status, status)
    if status != 200:
        assert_error(rules, status)
        return
    assert ids(rules) == {world[k].pk for k in RULES_SEEN[who]}
    assert ids(trips) == {world[k].pk for k in TRIPS_SEEN[who]}
    detail = client.get(f"{RULES}/{world['ws'].pk}")
    assert detail.status_code == (200 if "ws" in RULES_SEEN[who] else 404)
    if detail.status_code == 200:
        assert detail.json()["tripped"] == 1
    trip = client.get(f"{TRIPS}/{world['trip'].pk}")
    assert trip.status_code == (200 if "trip" in TRIPS_SEEN[who] else 404)
    if trip.status_code == 200:
        assert trip.json()["reason"].startswith('Circuit breaker "Complaints"')


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(201, *MANAGERS), **each(403, *READERS, *TEAM), **each(400, *OUTSIDE)),
)
def test_create_a_workspace_rule(client_as, world, cast, who, status):
    before = state()

    response = client_as(who).post(RULES, body(cast), format="json")

    assert response.status_code == status
    if status == 201:
        assert response.json()["metric"] == "complaint_rate"
        assert response.json()["tripped"] == 0
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
def test_create_a_sales_rule(client_as, world, cast, who, status):
    before = state()

    response = client_as(who).post(RULES, body(cast, team=cast.sales.pk), format="json")

    assert response.status_code == status
    if status != 201:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MANAGERS), **each(403, *READERS), **each(404, *TEAM, *OUTSIDE)),
)
def test_replace_a_workspace_rule(client_as, world, cast, who, status):
    before = state()

    response = client_as(who).put(
        f"{RULES}/{world['ws'].pk}", body(cast, name="Renamed", enabled=False), format="json"
    )

    assert response.status_code == status
    if status == 200:
        assert (response.json()["name"], response.json()["enabled"]) == ("Renamed", False)
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(204, *MANAGERS, "team_admin"),
        **each(403, *READERS, "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_delete_a_sales_rule(client_as, world, who, status):
    before = state()

    response = client_as(who).delete(f"{RULES}/{world['sales'].pk}")

    assert response.status_code == status
    if status == 204:
        assert not CircuitBreaker.objects.filter(pk=world["sales"].pk).exists()
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *MANAGERS, "team_admin"),
        **each(403, *READERS, "team_viewer"),
        **each(404, *OUTSIDE),
    ),
)
def test_reset_a_trip_of_a_sales_agent(client_as, world, cast, who, status):
    before = state()

    response = client_as(who).post(
        f"{TRIPS}/{world['trip'].pk}/reset", {"reason": "List cleaned"}, format="json"
    )

    assert response.status_code == status
    if status == 200:
        assert response.json()["active"] is False
        assert response.json()["reset_reason"] == "List cleaned"
    else:
        assert_error(response, status)
        assert state() == before


# --- bad input ------------------------------------------------------------------------------------

BAD = [
    {"metric": "bounce_rate"},
    {"scope": 3},
    {"threshold": "lots"},
    {"threshold": -1},
    {"threshold": "1.5"},
    {"threshold": True},
    {"window_minutes": "60"},
    {"window_minutes": 1},
    {"window_minutes": 10**9},
    {"min_volume": 0},
    {"min_volume": 2.5},
    {"per_outcome": "meeting_booked"},
    {"action": "explode"},
    {"budget_day": -5, "action": "budget"},
    {"enabled": "maybe"},
    {"name": ""},
    {"name": "x" * 101},
    {"name": ["a"]},
    {"colour": "red"},
    {"team": 10**9},
    {"workspace": "acme"},
]


@pytest.mark.parametrize("change", BAD, ids=[next(iter(c)) + str(i) for i, c in enumerate(BAD)])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(client_as, world, cast, change):
    before = state()

    response = client_as("owner").post(RULES, body(cast, **change), format="json")

    error = assert_error(response, 400)
    assert set(change) & set(error["fields"]), error
    assert state() == before


def test_malformed_json_and_another_workspace_s_team_are_refused(client_as, world, cast):
    globex_team = TeamFactory(workspace=cast.other_workspace, name="Ops", slug="ops")
    client = client_as("owner")
    before = state()

    garbled = client.post(RULES, "{not json", content_type="application/json")
    theirs = client.post(RULES, body(cast, team=globex_team.pk), format="json")
    moved = client.put(
        f"{RULES}/{world['ws'].pk}", body(cast, workspace=cast.other_workspace.pk), format="json"
    )
    unknown = client.put(f"{RULES}/999999", body(cast), format="json")
    other = client.put(f"{RULES}/{world['globex'].pk}", body(cast), format="json")

    assert_error(garbled, 400)
    assert "team" in assert_error(theirs, 400)["fields"]
    assert_error(moved, 400)
    assert_error(unknown, 404)
    assert_error(other, 404)
    assert state() == before


def test_resets_need_a_reason_and_happen_once(client_as, world):
    client = client_as("owner")
    url = f"{TRIPS}/{world['trip'].pk}/reset"
    before = state()

    assert_error(client.post(url, {}, format="json"), 400)
    assert_error(client.post(url, {"reason": 5}, format="json"), 400)
    assert state() == before
    assert client.post(url, {"reason": "ok"}, format="json").status_code == 200
    assert_error(client.post(url, {"reason": "again"}, format="json"), 409)
    assert_error(client.post(f"{TRIPS}/999999/reset", {"reason": "x"}, format="json"), 404)


def test_the_same_create_with_an_idempotency_key_makes_one_rule(client_as, world, cast):
    client = client_as("owner")
    headers = {"HTTP_IDEMPOTENCY_KEY": "rule-1"}

    first = client.post(RULES, body(cast, name="Once"), format="json", **headers)
    again = client.post(RULES, body(cast, name="Once"), format="json", **headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert CircuitBreaker.objects.filter(name="Once").count() == 1


def test_lists_take_a_fixed_number_of_queries(
    client_as, world, cast, django_assert_max_num_queries
):
    client = client_as("owner")
    client.get(RULES)
    client.get(TRIPS)
    with django_assert_max_num_queries(10) as few:
        assert client.get(RULES).status_code == 200
    for n in range(20):
        breakers.circuit_breaker_set(
            actor=SYSTEM,
            **{
                **body(cast),
                "workspace": cast.workspace,
                "name": f"R{n}",
                "threshold": Decimal("0.5"),
            },
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(RULES).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(TRIPS).status_code == 200
