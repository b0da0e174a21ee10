"""Bad input is a 400 naming the field (never a 500) and changes nothing: negative costs,
unknown or foreign currencies, a missing unit, huge or non-integer steps, run ids that are not
ids, another workspace's reservations and run ids, unknown fields."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import assert_error
from tests.guardrails.conftest import CHECK, agent_client, ask, limits, state

BASE = {"action": "email", "channel": "email", "unit": "lead@example.test"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"estimated_cost": -1}, "estimated_cost"),
        ({"estimated_cost": "-0.01"}, "estimated_cost"),
        ({"estimated_cost": "NaN"}, "estimated_cost"),
        ({"estimated_cost": "1e400"}, "estimated_cost"),
        ({"estimated_cost": True}, "estimated_cost"),
        ({"estimated_cost": 10**12}, "estimated_cost"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "USD"}, "currency"),  # known, but not the workspace's (EUR)
        ({"unit": ""}, "unit"),
        ({"unit": None}, "unit"),
        ({"unit": "x" * 321}, "unit"),
        ({"step": 10**12, "run_id": "r"}, "step"),
        ({"step": -1, "run_id": "r"}, "step"),
        ({"step": "3", "run_id": "r"}, "step"),
        ({"step": 1.5, "run_id": "r"}, "step"),
        ({"step": 3}, "run_id"),
        ({"run_id": "has spaces", "step": 1}, "run_id"),
        ({"run_id": "x" * 101}, "run_id"),
        ({"action": "teleport"}, "action"),
        ({"channel": "pigeon"}, "channel"),
        ({"region": "EU/../x"}, "region"),
        ({"agent": 1}, "agent"),
    ],
)
def test_bad_check_input(crew, change, field):
    body: dict[str, Any] = {**BASE, **change}
    body = {k: v for k, v in body.items() if not (k == "unit" and v is None)}
    before = state()

    response = agent_client(crew.agent_secret).post(CHECK, body, format="json")

    error = assert_error(response, 400, "invalid")
    assert field in error["fields"], error
    assert state() == before


def test_missing_unit_on_a_contact_channel_but_not_on_a_tool_call(crew):
    client = agent_client(crew.agent_secret)

    missing = client.post(CHECK, {"action": "email", "channel": "email"}, format="json")
    tool = ask(client, action="tool_call", channel="tool", unit="", estimated_cost=0.02)

    assert "unit" in assert_error(missing, 400)["fields"]
    assert tool["decision"] == "allow"


def test_a_workspace_currency_other_than_eur(crew):
    limits(crew, currency="USD")

    eur = agent_client(crew.agent_secret).post(CHECK, {**BASE, "currency": "EUR"}, format="json")

    assert "budgets in USD" in assert_error(eur, 400)["fields"]["currency"][0]
    assert ask(agent_client(crew.agent_secret), currency="USD")["decision"] == "allow"


def test_another_workspaces_run_ids_and_reservations_mean_nothing_here(crew):
    """Runs are the agent's: Globex's run r-7 at step 9 neither blocks nor informs Acme's r-7;
    a Globex reservation id is unknown to Acme (404, not 403: nothing leaks)."""
    limits(crew, step_limit=5)
    theirs = ask(agent_client(crew.other_agent_secret), run_id="r-7", step=9)

    mine = ask(agent_client(crew.agent_secret), run_id="r-7", step=2)
    commit = agent_client(crew.agent_secret).post(
        "/api/v1/guardrails/commit", {"reservation": theirs["reservation"]}, format="json"
    )

    assert theirs["decision"] == "allow"  # Globex has no step limit
    assert mine["decision"] == "allow"
    assert_error(commit, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reservation": "not-a-uuid"}, "reservation"),
        ({}, "reservation"),
        ({"reservation": "00000000-0000-0000-0000-000000000000", "actual_cost": -2}, "actual_cost"),
        ({"reservation": "00000000-0000-0000-0000-000000000000", "extra": 1}, "extra"),
    ],
)
def test_bad_commit_input(crew, body, field):
    response = agent_client(crew.agent_secret).post(
        "/api/v1/guardrails/commit", body, format="json"
    )

    assert field in assert_error(response, 400, "invalid")["fields"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"agent_budget_day": -5}, "agent_budget_day"),
        ({"step_limit": -1}, "step_limit"),
        ({"step_limit": "5"}, "step_limit"),
        ({"frequency_cap": {"count": 3}}, "frequency_cap"),
        ({"frequency_cap": {"count": 0, "days": 3}}, "frequency_cap"),
        ({"frequency_count": 3}, "frequency_count"),
        ({"sending_hours": [{"region": "EU", "start": 24, "end": 8}]}, "sending_hours"),
        ({"sending_hours": [{"region": "EU/x", "start": 2}]}, "sending_hours"),
        ({"sending_hours": [{"start": 2}]}, "sending_hours"),
        ({"sending_hours": {"EU": {"start": 8}}}, "sending_hours"),  # the list form only
        ({"level": "team", "team": "$team", "frequency_cap": None}, "frequency_cap"),
        ({"sending_hours": [{"region": "EU", "start": 8, "tz": "Mars/Olympus"}]}, "sending_hours"),
        ({"level": "team"}, "team"),
        ({"level": "agent", "agent": 10**9}, "agent"),
        ({"level": "team", "team": "$team", "currency": "USD"}, "currency"),
        ({"level": "agent", "agent": "$agent", "team_budget_day": 5}, "team_budget_day"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_limits_input(crew, client_as, change, field):
    refs = {"$team": crew.sales.pk, "$agent": crew.agent.pk}
    body = {
        "workspace": crew.workspace.pk,
        **{k: refs.get(v, v) if isinstance(v, str) else v for k, v in change.items()},
    }
    before = state()

    response = client_as("admin").post("/api/v1/guardrails/limits", body, format="json")

    assert field in assert_error(response, 400, "invalid")["fields"]
    assert state() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit": ""}, "unit"),
        ({"unit": "   "}, "unit"),
        ({"reason": "annoyed"}, "reason"),
        ({"channel": "fax"}, "channel"),
        ({"workspace": "1"}, "workspace"),
    ],
)
def test_bad_suppression_input(crew, client_as, change, field):
    body = {"workspace": crew.workspace.pk, "unit": "x@example.test", "reason": "unsubscribe"}
    before = state()

    response = client_as("admin").post(
        "/api/v1/guardrails/suppressions", {**body, **change}, format="json"
    )

    assert field in assert_error(response, 400, "invalid")["fields"]
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"level": "team", "reason": "x"}, "team"),
        ({"level": "galaxy", "reason": "x"}, "level"),
    ],
)
def test_bad_kill_switch_input(crew, client_as, body, field):
    before = state()

    response = client_as("admin").post(
        "/api/v1/guardrails/kill-switches", {"workspace": crew.workspace.pk, **body}, format="json"
    )

    assert field in assert_error(response, 400, "invalid")["fields"]
    assert state() == before


@pytest.mark.parametrize(
    "query", ["code=nope", "agent=x", "since=yesterday", "since=", "code=", "agent="]
)
def test_bad_trip_filters(client_as, crew, query):
    response = client_as("viewer").get(f"/api/v1/guardrails/trips?{query}")

    assert_error(response, 400, "invalid")


def test_limits_through_the_api_round_trip(crew, client_as):
    body = {
        "workspace": crew.workspace.pk,
        "currency": "GBP",
        "frequency_cap": {"count": 3, "days": 7},
        "sending_hours": [
            {"region": "EU", "start": 22, "end": 6, "tz": "Europe/Berlin"},
            {"region": "*", "start": 9},
        ],
        "agent_budget_day": "12.5",
    }

    response = client_as("admin").post("/api/v1/guardrails/limits", body, format="json")

    assert response.status_code == 200, response.content
    saved = response.json()
    assert (saved["currency"], saved["frequency_cap"], saved["agent_budget_day"]) == (
        "GBP",
        {"count": 3, "days": 7},
        "12.5000",
    )
    assert saved["sending_hours"] == [
        {"region": "EU", "start": 22, "end": 6, "tz": "Europe/Berlin"},
        {"region": "*", "start": 9, "end": 24, "tz": "UTC"},
    ]
    cleared = client_as("admin").post(
        "/api/v1/guardrails/limits",
        {"workspace": crew.workspace.pk, "frequency_cap": None},
        format="json",
    )
    assert cleared.json()["frequency_cap"] is None
    assert cleared.json()["currency"] == "GBP"  # not sent: kept
