"""Racing agents for the last units of a cap get exactly as many allows as units are left: real
concurrent connections (a thread pool, each thread its own database connection), committed
data (transactional tests). The bench repeats the race 20 times; here a few."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from apps.guardrails import services
from apps.guardrails.models import Reservation, Trip
from tests.conftest import SYSTEM
from tests.guardrails.conftest import request, used
from tests.workspaces.factories import AgentFactory, TeamFactory, WorkspaceFactory

CHECKS = 100
LEFT = 10
WORKERS = 16  # concurrent connections: the shared server has others to serve


def race(checks: list[tuple[Any, services.CheckRequest]]) -> list[services.Decision]:
    def one(item: tuple[Any, services.CheckRequest]) -> services.Decision:
        agent, req = item
        try:
            return services.guardrail_check(agent, req)
        finally:
            connection.close()  # each thread's own connection

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, checks))


@pytest.fixture
def team(transactional_db: None) -> Any:
    workspace = WorkspaceFactory(slug="race")
    sales = TeamFactory(workspace=workspace, slug="sales")
    agents = [
        AgentFactory(workspace=workspace, team=sales, slug=f"a{i}", name=f"A{i}") for i in range(5)
    ]
    return workspace, sales, agents


@pytest.mark.parametrize("round_", range(3))
def test_100_concurrent_checks_for_the_last_10_budget_units_allow_exactly_10(team, round_):
    workspace, sales, agents = team
    services.limits_set(
        actor=SYSTEM, workspace=workspace, level="team", team=sales, team_budget_day=100
    )
    opening = services.guardrail_check(agents[0], request(estimated_cost=90))
    assert opening.allowed

    decisions = race([(agents[i % len(agents)], request(estimated_cost=1)) for i in range(CHECKS)])

    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == LEFT
    assert {d.code for d in decisions if not d.allowed} == {"budget_exceeded"}
    assert used(f"t{sales.pk}", "budget_day") == Decimal(100)
    assert Reservation.objects.filter(status="reserved").count() == LEFT + 1
    assert Trip.objects.count() == CHECKS - LEFT


def test_100_concurrent_checks_for_the_last_10_exposure_units_allow_exactly_10(team):
    """Distinct contacts: 100 checks of 100 new units against a team cap with 10 left."""
    workspace, sales, agents = team
    services.limits_set(
        actor=SYSTEM, workspace=workspace, level="team", team=sales, team_exposure_per_day=15
    )
    for i in range(5):
        assert services.guardrail_check(agents[0], request(unit=f"old{i}@example.test")).allowed

    decisions = race(
        [(agents[i % len(agents)], request(unit=f"new{i}@example.test")) for i in range(CHECKS)]
    )

    assert sum(d.allowed for d in decisions) == LEFT
    assert {d.code for d in decisions if not d.allowed} == {"exposure_cap"}
