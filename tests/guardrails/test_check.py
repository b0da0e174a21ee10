"""Each guardrail trips with its code, reason and values (a Trip per deny) and resets: budgets,
step limits, exposure and frequency caps, suppression, rate limits, sending hours, pauses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from apps.guardrails import services
from apps.guardrails.models import Reservation, Trip
from apps.guardrails.units import unit_hash
from tests.conftest import SYSTEM
from tests.guardrails.conftest import agent_client, ask, limits, request, used

NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def release(client: Any, reservation: str) -> None:
    response = client.post("/api/v1/guardrails/release", {"reservation": reservation}, "json")
    assert response.status_code == 200, response.content


def test_an_allowed_check_returns_a_reservation_that_holds_the_cost(crew):
    limits(crew, agent_budget_day=10)
    client = agent_client(crew.agent_secret)

    body = ask(client, estimated_cost=4, currency="EUR", run_id="run-1", step=1)

    assert body["decision"] == "allow"
    reservation = Reservation.objects.get(pk=body["reservation"])
    assert reservation.status == "reserved"
    assert reservation.estimated_cost == Decimal(4)
    assert reservation.unit_hash == unit_hash(crew.workspace.pk, "lead@example.test")
    assert "lead@example.test" not in str(Reservation.objects.filter(pk=reservation.pk).values())
    assert used(f"a{crew.agent.pk}", "budget_day") == Decimal(4)


def test_agent_budget_trips_with_its_reset_time_and_resets_on_release(crew):
    limits(crew, agent_budget_day=10)
    client = agent_client(crew.agent_secret)
    first = ask(client, estimated_cost=6)

    denied = ask(client, estimated_cost=6)

    assert denied["decision"] == "deny"
    assert denied["code"] == "budget_exceeded"
    assert denied["rule"] == "agent_budget_day"
    assert "budget for today (10.0000 EUR)" in denied["reason"]
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()
    assert denied["resets_at"].startswith(tomorrow.isoformat())
    assert denied["values"] == {"currency": "EUR", "limit": "10.0000", "used": "6.0000",
                                "requested": "6.0000"}  # fmt: skip
    trip = Trip.objects.get()
    assert (trip.agent, trip.code, trip.rule, trip.values["used"]) == (
        crew.agent,
        "budget_exceeded",
        "agent_budget_day",
        "6.0000",
    )
    assert trip.request_id  # the request's id, to find it in the logs

    release(client, first["reservation"])

    assert ask(client, estimated_cost=6)["decision"] == "allow"


def test_team_budget_binds_the_team_as_a_whole(crew):
    limits(crew, level="team", team_budget_month=10)
    ask(agent_client(crew.agent_secret), estimated_cost=7)

    denied = ask(agent_client(crew.closer_secret), estimated_cost=4)

    assert (denied["code"], denied["rule"]) == ("budget_exceeded", "team_budget_month")
    assert "team's budget for this month" in denied["reason"]
    assert denied["resets_at"][:10].endswith("-01")  # the first of next month
    assert ask(agent_client(crew.closer_secret), estimated_cost=3)["decision"] == "allow"


def test_agent_override_wins_over_the_team_and_workspace_default(crew):
    limits(crew, agent_budget_day=100)
    limits(crew, level="team", agent_budget_day=50)
    limits(crew, level="agent", agent_budget_day=5)

    assert ask(agent_client(crew.agent_secret), estimated_cost=6)["code"] == "budget_exceeded"
    assert ask(agent_client(crew.closer_secret), estimated_cost=40)["decision"] == "allow"
    assert ask(agent_client(crew.closer_secret), estimated_cost=20)["code"] == "budget_exceeded"


def test_step_limit_per_run(crew):
    limits(crew, step_limit=5)
    client = agent_client(crew.agent_secret)

    assert ask(client, run_id="r1", step=5)["decision"] == "allow"
    denied = ask(client, run_id="r1", step=6)

    assert (denied["code"], denied["values"]["limit"], denied["values"]["step"]) == (
        "step_limit",
        5,
        6,
    )
    assert "Step 6 of run r1 is past the limit of 5" in denied["reason"]
    assert denied["resets_at"] is None


def test_exposure_cap_counts_distinct_units_per_channel_and_resets_on_release(crew):
    limits(crew, agent_exposure_per_day=2)
    client = agent_client(crew.agent_secret)
    ask(client, unit="a@example.test")
    b = ask(client, unit="b@example.test")

    again = ask(client, unit="a@example.test")  # the same unit again: not a new one
    other_channel = ask(client, channel="sms", action="sms", unit="+49 30 1234567")
    denied = ask(client, unit="c@example.test")

    assert again["decision"] == other_channel["decision"] == "allow"
    assert (denied["code"], denied["rule"]) == ("exposure_cap", "agent_exposure_per_day")
    assert "at most 2 distinct units on email a day" in denied["reason"]
    release(client, b["reservation"])
    assert ask(client, unit="c@example.test")["decision"] == "allow"


def test_team_exposure_cap_across_its_agents(crew):
    limits(crew, level="team", team_exposure_per_day=1)
    ask(agent_client(crew.agent_secret), unit="a@example.test")

    denied = ask(agent_client(crew.closer_secret), unit="b@example.test")
    same = ask(agent_client(crew.closer_secret), unit="a@example.test")

    assert denied["rule"] == "team_exposure_per_day"
    assert same["decision"] == "allow"


def test_frequency_cap_same_contact_across_the_workspace_over_days(crew):
    """Committed contacts count for D days (an uncommitted reservation stops counting when it
    expires: the contact never happened)."""
    limits(crew, frequency_cap={"count": 2, "days": 7})
    agent = services.guardrail_check(crew.agent, request(), now=NOON - dt.timedelta(days=3))
    closer = services.guardrail_check(crew.closer, request(), now=NOON)
    for decision, who in ((agent, crew.agent), (closer, crew.closer)):
        assert decision.reservation is not None
        services.reservation_commit(agent=who, reservation_id=decision.reservation.pk)

    denied = services.guardrail_check(crew.agent, request(), now=NOON)
    other = services.guardrail_check(crew.agent, request(unit="x@example.test"), now=NOON)
    later = services.guardrail_check(crew.agent, request(), now=NOON + dt.timedelta(days=4))

    assert agent.allowed and closer.allowed and other.allowed
    assert (denied.code, denied.rule) == ("exposure_cap", "frequency_cap")
    assert "reached 2 times in the last 7 days" in denied.reason
    assert denied.resets_at == dt.datetime(2026, 12, 11, tzinfo=dt.UTC)  # the oldest + 7 days
    assert later.allowed  # the first contact left the window


def test_suppression_unsubscribe_blocks_its_channel_only(crew):
    services.suppression_add(
        actor=SYSTEM, workspace=crew.workspace, unit="Gone@Example.test", reason="unsubscribe"
    )
    client = agent_client(crew.agent_secret)

    denied = ask(client, unit="gone@example.test ")
    sms = ask(client, channel="sms", action="sms", unit="gone@example.test")
    other = ask(agent_client(crew.other_agent_secret), unit="gone@example.test")

    assert (denied["code"], denied["rule"]) == ("suppressed", "suppression:unsubscribe")
    assert "never contact them on email" in denied["reason"]
    assert sms["decision"] == "allow"
    assert other["decision"] == "allow"  # another workspace's list is not ours


def test_a_complaint_blocks_every_channel(crew):
    services.suppression_add(
        actor=SYSTEM,
        workspace=crew.workspace,
        unit="+49 30 1234567",
        reason="complaint",
        channel="sms",
    )
    client = agent_client(crew.agent_secret)

    for channel in ("sms", "call", "email", "linkedin"):
        denied = ask(client, channel=channel, action="custom", unit="+49 (30) 123-4567")
        assert (denied["code"], denied["values"]["channel"]) == ("suppressed", "all"), channel
    assert "never contact them on any channel" in denied["reason"]


def test_rate_limit_per_minute_resets_next_minute(crew):
    limits(crew, rate_per_minute=2)
    first = services.guardrail_check(crew.agent, request(), now=NOON)
    second = services.guardrail_check(crew.agent, request(), now=NOON + dt.timedelta(seconds=30))

    denied = services.guardrail_check(crew.agent, request(), now=NOON + dt.timedelta(seconds=59))
    next_minute = services.guardrail_check(
        crew.agent, request(), now=NOON + dt.timedelta(seconds=60)
    )

    assert first.allowed and second.allowed and next_minute.allowed
    assert (denied.code, denied.resets_at) == ("rate_limited", NOON + dt.timedelta(minutes=1))
    assert "at most 2 allowed checks a minute" in denied.reason


@pytest.mark.parametrize(
    ("hour", "region", "allowed"),
    [(7, "EU", False), (8, "EU", True), (17, "EU", True), (18, "EU", False), (3, "US", True)],
)
def test_sending_hours_per_region(crew, hour, region, allowed):
    limits(crew, sending_hours={"EU": {"start": 8, "end": 18, "tz": "Europe/Berlin"}})
    berlin = dt.datetime(2026, 12, 7, hour, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))

    decision = services.guardrail_check(crew.agent, request(region=region), now=berlin)

    assert decision.allowed is allowed
    if not allowed:
        assert decision.code == "outside_hours"
        assert "08:00-18:00 Europe/Berlin" in decision.reason
        assert decision.resets_at is not None
        assert decision.resets_at.astimezone(berlin.tzinfo).hour == 8


def test_a_window_may_wrap_midnight(crew):
    limits(crew, sending_hours={"*": {"start": 22, "end": 6, "tz": "UTC"}})

    late = services.guardrail_check(crew.agent, request(), now=NOON.replace(hour=23))
    early = services.guardrail_check(crew.agent, request(), now=NOON.replace(hour=5))
    noon = services.guardrail_check(crew.agent, request(), now=NOON)

    assert late.allowed and early.allowed
    assert noon.code == "outside_hours"
    assert noon.resets_at == NOON.replace(hour=22)


def test_hours_for_other_regions_come_from_the_star_entry(crew):
    limits(crew, sending_hours={"*": {"start": 9, "end": 17, "tz": "UTC"}})

    night = services.guardrail_check(crew.agent, request(region="APAC"), now=NOON.replace(hour=2))
    day = services.guardrail_check(crew.agent, request(region="APAC"), now=NOON)

    assert (night.code, day.allowed) == ("outside_hours", True)


def test_the_service_answers_paused_for_a_paused_agent(crew):
    """The API refuses a paused agent before its check runs (403 agent_paused, see
    test_kill_switch); in-process callers of the service get a `paused` deny and a trip."""
    services.kill_switch_set(
        actor=SYSTEM, workspace=crew.workspace, level="team", team=crew.sales, reason="Audit"
    )

    decision = services.guardrail_check(crew.agent, request())

    assert (decision.code, decision.rule) == ("paused", "kill_switch:team")
    assert "Audit" in decision.reason
    assert Trip.objects.get().code == "paused"


def test_a_deny_takes_nothing(crew):
    """A check denied by its last counter gives back what the earlier ones took."""
    limits(crew, agent_budget_day=100, agent_exposure_per_day=1)
    client = agent_client(crew.agent_secret)
    ask(client, unit="a@example.test", estimated_cost=1)

    denied = ask(client, unit="b@example.test", estimated_cost=5)

    assert denied["code"] == "exposure_cap"
    assert used(f"a{crew.agent.pk}", "budget_day") == Decimal(1)
    assert Reservation.objects.count() == 1


def test_a_limits_change_binds_the_very_next_check(crew):
    """The check view caches the merged limits under the workspace's limits revision (read
    with the token): a change at any level is seen at once."""
    limits(crew, agent_budget_day=10)
    client = agent_client(crew.agent_secret)
    assert ask(client, estimated_cost=8)["decision"] == "allow"
    assert ask(client, estimated_cost=8)["code"] == "budget_exceeded"

    limits(crew, level="agent", agent_budget_day=20)

    assert ask(client, estimated_cost=8)["decision"] == "allow"
    limits(crew, level="team", step_limit=3)
    assert ask(client, run_id="r", step=4)["code"] == "step_limit"


def test_an_allowed_check_is_two_statements(crew):
    """Token lookup (with the switches and the limits revision), then one call that looks the
    contact up, takes every counter and inserts the reservation: no query per limit, no
    BEGIN/COMMIT round trips."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    limits(
        crew,
        agent_budget_day=100,
        agent_budget_month=1000,
        team_budget_day=500,
        team_budget_month=5000,
        step_limit=10,
        agent_exposure_per_day=100,
        team_exposure_per_day=100,
        frequency_cap={"count": 5, "days": 7},
        rate_per_minute=100,
        sending_hours={"*": {"start": 0, "end": 0, "tz": "UTC"}},
    )
    client = agent_client(crew.agent_secret)
    ask(client, unit="warm@example.test")  # the limits cached, last_used_at touched

    with CaptureQueriesContext(connection) as queries:
        body = ask(client, unit="new@example.test", estimated_cost=1, run_id="r", step=2)

    assert body["decision"] == "allow"
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2, statements
    assert "guardrails_take(" in statements[1]


def test_suppressing_twice_through_the_api_adds_one_entry_and_one_event(crew, client_as):
    from apps.audit.models import AuditEvent

    body = {"workspace": crew.workspace.pk, "unit": "Twice@Example.test", "reason": "unsubscribe"}
    first = client_as("admin").post("/api/v1/guardrails/suppressions", body, format="json")
    again = client_as("admin").post(
        "/api/v1/guardrails/suppressions", {**body, "unit": "twice@example.test"}, format="json"
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert AuditEvent.objects.filter(action="guardrail.suppress").count() == 1
    found = client_as("viewer").get("/api/v1/guardrails/suppressions?unit=TWICE@example.test")
    rows = found.json()["results"] if isinstance(found.json(), dict) else found.json()
    assert [r["id"] for r in rows] == [first.json()["id"]]
