"""Who may manage circuit breakers: every role and agent tries each service and each admin
page and action; a refusal changes nothing. Rules of the workspace need its manage role, a
team's rule and a trip of a team's agent also the team admin's; agents manage nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils.html import escape

from apps.core.exceptions import ServiceError
from apps.guardrails import breakers
from apps.guardrails.models import BreakerTrip, CircuitBreaker, KillSwitch
from tests.api_helpers import WHO
from tests.guardrails.conftest import state
from tests.guardrails.test_breakers import outcome, runs

pytestmark = pytest.mark.django_db

PEOPLE = [who for who in WHO if who not in ("agent", "other_agent", "anonymous")]
ACTORS = [who for who in WHO if who != "anonymous"]
MANAGERS = ("owner", "admin", "operator")


def actor(cast: Any, who: str) -> Any:
    return {"agent": cast.agent, "other_agent": cast.other_agent}.get(who) or cast.user(who)


def values(cast: Any, **extra: Any) -> dict[str, Any]:
    return {
        "workspace": cast.workspace,
        "name": "Complaints",
        "metric": "complaint_rate",
        "scope": "agent",
        "threshold": Decimal("0.05"),
        "window_minutes": 180,
        "min_volume": 2,
        **extra,
    }


def tripped(cast: Any) -> BreakerTrip:
    breakers.circuit_breaker_set(actor=cast.user("owner"), **values(cast))
    for trace_id in runs(cast.agent, 2):
        outcome(trace_id, "complaint", cast.workspace.pk)
    (trip,) = breakers.circuit_breakers_evaluate(workspace_id=cast.workspace.pk)
    return trip


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("team_rule", [False, True], ids=["workspace-rule", "sales-rule"])
def test_creating_a_rule(cast, who, team_rule):
    extra = {"team": cast.sales} if team_rule else {}
    before = state()

    try:
        made = breakers.circuit_breaker_set(actor=actor(cast, who), **values(cast, **extra))
    except ServiceError:
        made = None

    allowed = who in MANAGERS or (team_rule and who == "team_admin")
    assert (made is not None) is allowed
    if not allowed:
        assert state() == before


@pytest.mark.parametrize("who", ACTORS)
def test_changing_and_deleting_a_rule(cast, who):
    rule = breakers.circuit_breaker_set(actor=SYSTEM_OWNER(cast), **values(cast))
    before = state()

    outcomes = []
    for call in (
        lambda: breakers.circuit_breaker_set(
            actor=actor(cast, who), breaker=rule, **values(cast, name="Renamed")
        ),
        lambda: breakers.circuit_breaker_delete(actor=actor(cast, who), breaker=rule.pk),
    ):
        try:
            call()
            outcomes.append(True)
        except ServiceError:
            outcomes.append(False)

    if who in MANAGERS:
        assert outcomes == [True, True]
        assert not CircuitBreaker.objects.exists()
    else:
        assert outcomes == [False, False]
        assert state() == before


def SYSTEM_OWNER(cast: Any) -> Any:
    return cast.user("owner")


@pytest.mark.parametrize("who", ACTORS)
def test_resetting_a_trip(cast, who):
    trip = tripped(cast)
    before = state()

    try:
        breakers.circuit_breaker_reset(actor=actor(cast, who), trip=trip.pk, reason="ok")
        done = True
    except ServiceError:
        done = False

    allowed = who in (*MANAGERS, "team_admin")  # the agent is in Sales
    assert done is allowed
    if allowed:
        assert not KillSwitch.objects.filter(cleared_at__isnull=True).exists()
    else:
        assert state() == before


# --- admin ----------------------------------------------------------------------------------------


@pytest.fixture
def staff(cast: Any) -> Any:
    for who in PEOPLE:
        user = cast.user(who)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return cast


@pytest.mark.parametrize("who", PEOPLE)
def test_the_lists_open_for_every_role_holder_and_show_the_reason(client, staff, who):
    trip = tripped(staff)
    client.force_login(staff.user(who))

    rules = client.get("/admin/guardrails/circuitbreaker/")
    trips = client.get("/admin/guardrails/breakertrip/?state=tripped")

    expected = 403 if who == "nobody" else 200
    assert (rules.status_code, trips.status_code) == (expected, expected)
    # the workspace's rule: its roles; the trip of a Sales agent: also the Sales team's roles
    shown = who not in ("outsider", "nobody", "team_viewer", "team_admin")
    if expected == 200:
        assert (escape(trip.reason).encode() in trips.content) is (
            shown or who in ("team_admin", "team_viewer")
        )
        assert (b"tripped" in rules.content) is shown


@pytest.mark.parametrize("who", PEOPLE)
def test_adding_a_rule_in_the_admin(client, staff, who):
    client.force_login(staff.user(who))
    before = state()

    response = client.post(
        "/admin/guardrails/circuitbreaker/add/",
        {
            "workspace": staff.workspace.pk,
            "name": "Unsubscribes",
            "metric": "unsubscribe_rate",
            "scope": "team",
            "threshold": "0.1",
            "window_minutes": "1440",
            "min_volume": "30",
            "per_outcome": "",
            "action": "pause",
            "enabled": "on",
        },
    )

    if who in MANAGERS:
        assert response.status_code == 302, response.content[:3000]
        rule = CircuitBreaker.objects.get()
        assert (rule.metric, rule.scope, rule.threshold) == (
            "unsubscribe_rate",
            "team",
            Decimal("0.1"),
        )
    else:
        assert response.status_code in (403, 302, 200)
        assert state() == before


@pytest.mark.parametrize("who", PEOPLE)
def test_resetting_in_the_admin_needs_manage_and_a_reason(client, staff, who):
    trip = tripped(staff)
    client.force_login(staff.user(who))
    page = client.get(f"/admin/guardrails/breakertrip/{trip.pk}/change/")
    before = state()

    empty = client.post(f"/admin/guardrails/breakertrip/{trip.pk}/reset/", {"reason": ""})
    after_empty = state()
    reset = client.post(f"/admin/guardrails/breakertrip/{trip.pk}/reset/", {"reason": "Fixed"})

    may = who in (*MANAGERS, "team_admin")
    trip.refresh_from_db()
    if may:
        assert b'data-testid="reset-breaker"' in page.content
        assert empty.status_code == 302 and after_empty == before
        assert reset.status_code == 302
        assert trip.reset_reason == "Fixed" and trip.reset_at is not None
    else:
        assert b'data-testid="reset-breaker"' not in page.content
        assert reset.status_code in (302, 403)
        assert trip.active and state() == before
