"""The allowed check is one statement (guardrails_take) in autocommit: committed data
(transactional tests, no outer transaction), so what a refusal leaves is what a real request
leaves. A counter refused after others were taken in the same statement leaves every counter
as it was, rows and caps alike; a refusal before anything is taken too."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from apps.guardrails import services
from apps.guardrails.models import LimitCounter, Reservation, Trip
from tests.conftest import SYSTEM
from tests.guardrails.conftest import request
from tests.workspaces.factories import AgentFactory, TeamFactory, WorkspaceFactory


@pytest.fixture
def agent(transactional_db: None) -> Any:
    workspace = WorkspaceFactory(slug="one-statement")
    sales = TeamFactory(workspace=workspace, slug="sales")
    agent = AgentFactory(workspace=workspace, team=sales, slug="a", name="A")
    services.limits_set(
        actor=SYSTEM,
        workspace=workspace,
        agent_budget_day=Decimal(1000),
        agent_budget_month=Decimal(10000),
        team_budget_day=Decimal(100),
        agent_exposure_per_day=1000,
        frequency_cap={"count": 50, "days": 7},
        rate_per_minute=1000,
    )
    return agent


def counters() -> list[dict[str, Any]]:
    return list(LimitCounter.objects.order_by("pk").values())


def test_a_counter_the_upsert_refuses_leaves_every_counter_as_it_was(agent):
    opening = services.guardrail_check(agent, request(unit="a@example.test", estimated_cost=95))
    before, reservations = counters(), Reservation.objects.count()

    assert not connection.in_atomic_block  # autocommit: the statement is the transaction
    denied = services.guardrail_check(agent, request(unit="b@example.test", estimated_cost=10))

    assert opening.allowed
    assert (denied.allowed, denied.code, denied.rule) == (
        False,
        "budget_exceeded",
        "team_budget_day",
    )
    assert denied.values == {
        "currency": "EUR",
        "limit": "100.0000",
        "used": "95.0000",
        "requested": "10",
    }
    # The rate, the agent's budgets, its exposure and the unit's frequency counter were taken
    # before the team's day budget refused: all rolled back, no new row, no cap changed.
    assert counters() == before
    assert Reservation.objects.count() == reservations
    assert Trip.objects.filter(agent=agent, rule="team_budget_day").count() == 1


def test_an_amount_past_the_cap_itself_is_refused_before_anything_is_taken(agent):
    before = counters()

    denied = services.guardrail_check(agent, request(unit="c@example.test", estimated_cost=101))

    assert (denied.code, denied.rule, denied.values["used"]) == (
        "budget_exceeded",
        "team_budget_day",
        "0",
    )
    assert counters() == before == []
    assert Reservation.objects.count() == 0


def test_the_allowed_reservation_is_the_row_the_statement_wrote(agent):
    decision = services.guardrail_check(
        agent, request(unit="d@example.test", estimated_cost="2.5", run_id="r-1", step=3)
    )

    assert decision.allowed and decision.reservation is not None
    stored = Reservation.objects.get(pk=decision.reservation.pk)
    assert stored.holds == decision.reservation.holds
    kinds = {c.kind: c.pk for c in LimitCounter.objects.filter(pk__in=[h[0] for h in stored.holds])}
    # Every counter but the rate is held (the rate is never given back).
    assert set(kinds) == {"budget_day", "budget_month", "exposure:email", "frequency"}
    assert [h[1] for h in stored.holds] == ["2.5", "2.5", "2.5", "1", "1"]
    assert (stored.status, stored.run_id, stored.step, stored.estimated_cost) == (
        "reserved",
        "r-1",
        3,
        Decimal("2.5"),
    )
    assert stored.expires_at == decision.reservation.expires_at


@pytest.mark.parametrize(
    "values",
    [
        ["a17", "t3", "u" + "0f" * 32],
        ["exposure:email", "2026-12-07T00:00:00+00:00", "0.0200", "1E+6", "t", "3"],
        [],
        [""],
        ["NULL", "null"],
        ['quote"d', "back\\slash", "{braced}", "com,ma", "two words", "tab\there"],
    ],
)
def test_the_counters_arrays_reach_postgresql_as_they_were(db, values):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [services._array_literal(values)])
        (found,) = cursor.fetchone()

    assert found == values
