"""Reservations: commit settles the actual cost, release gives the hold back, expiry gives it
back too (lazily when a check needs it, and by the beat task); only the agent's own reserved
reservation settles."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.utils import timezone

from apps.guardrails import services
from apps.guardrails.models import Reservation
from apps.guardrails.tasks import guardrails_expire_reservations
from tests.api_helpers import assert_error
from tests.guardrails.conftest import agent_client, ask, limits, request, used

COMMIT = "/api/v1/guardrails/commit"
RELEASE = "/api/v1/guardrails/release"


def test_commit_settles_the_actual_cost_in_the_budgets(crew):
    limits(crew, agent_budget_day=10)
    limits(crew, level="team", team_budget_day=100)
    client = agent_client(crew.agent_secret)
    reservation = ask(client, estimated_cost=4)["reservation"]

    response = client.post(COMMIT, {"reservation": reservation, "actual_cost": 7.5}, "json")

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["actual_cost"]) == ("committed", "7.5000")
    assert used(f"a{crew.agent.pk}", "budget_day") == Decimal("7.5")
    assert used(f"t{crew.sales.pk}", "budget_day") == Decimal("7.5")
    assert ask(client, estimated_cost=3)["code"] == "budget_exceeded"


def test_commit_without_actual_cost_keeps_the_estimate_and_twice_is_a_conflict(crew):
    limits(crew, agent_budget_day=10)
    client = agent_client(crew.agent_secret)
    reservation = ask(client, estimated_cost=4)["reservation"]

    first = client.post(COMMIT, {"reservation": reservation}, "json")
    again = client.post(COMMIT, {"reservation": reservation}, "json")
    release = client.post(RELEASE, {"reservation": reservation}, "json")

    assert first.json()["actual_cost"] == "4.0000"
    assert_error(again, 409, "conflict")
    assert_error(release, 409, "conflict")
    assert used(f"a{crew.agent.pk}", "budget_day") == Decimal(4)


def test_release_gives_the_hold_back(crew):
    limits(crew, agent_budget_day=10, agent_exposure_per_day=1)
    client = agent_client(crew.agent_secret)
    reservation = ask(client, estimated_cost=10)["reservation"]

    response = client.post(RELEASE, {"reservation": reservation}, "json")

    assert response.json()["status"] == "released"
    assert used(f"a{crew.agent.pk}", "budget_day") == 0
    assert used(f"a{crew.agent.pk}", "exposure:email") == 0
    assert ask(client, estimated_cost=10, unit="new@example.test")["decision"] == "allow"


def test_a_check_that_needs_an_expired_hold_expires_it_lazily(crew):
    limits(crew, agent_budget_day=10, reservation_ttl_seconds=60)
    now = timezone.now()
    held = services.guardrail_check(crew.agent, request(estimated_cost=10), now=now)
    assert held.reservation is not None

    before = services.guardrail_check(
        crew.agent, request(estimated_cost=1), now=now + dt.timedelta(seconds=59)
    )
    after = services.guardrail_check(
        crew.agent, request(estimated_cost=1), now=now + dt.timedelta(seconds=61)
    )

    assert before.code == "budget_exceeded"
    assert after.allowed
    held.reservation.refresh_from_db()
    assert held.reservation.status == "expired"
    assert used(f"a{crew.agent.pk}", "budget_day") == 1


def test_the_beat_task_expires_what_is_due_and_nothing_else(crew):
    limits(crew, agent_budget_day=10)
    client = agent_client(crew.agent_secret)
    due = ask(client, estimated_cost=3)["reservation"]
    live = ask(client, estimated_cost=2)["reservation"]
    Reservation.objects.filter(pk=due).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert guardrails_expire_reservations() == 1

    assert Reservation.objects.get(pk=due).status == "expired"
    assert Reservation.objects.get(pk=live).status == "reserved"
    assert used(f"a{crew.agent.pk}", "budget_day") == Decimal(2)
    assert_error(client.post(COMMIT, {"reservation": due}, "json"), 409, "conflict")


def test_only_the_agents_own_reservation_settles(crew):
    mine = ask(agent_client(crew.agent_secret))["reservation"]

    closer = agent_client(crew.closer_secret).post(COMMIT, {"reservation": mine}, "json")
    globex = agent_client(crew.other_agent_secret).post(RELEASE, {"reservation": mine}, "json")
    unknown = agent_client(crew.agent_secret).post(
        COMMIT, {"reservation": str(uuid.uuid4())}, "json"
    )

    for response in (closer, globex, unknown):
        assert_error(response, 404, "not_found")
    assert Reservation.objects.get(pk=mine).status == "reserved"
