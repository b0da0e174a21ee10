"""Bad input to circuit breakers is refused with the field named and nothing written: unknown
vocabularies, out-of-range and wrongly typed numbers, values that belong to another metric or
action, another workspace's team or rule, resets without a reason, twice, or of unknown ids.
Personal data in a rule's name is masked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.core.exceptions import Conflict, NotFound, ValidationFailed
from apps.guardrails import breakers
from apps.guardrails.models import CircuitBreaker
from tests.guardrails.conftest import state
from tests.guardrails.test_breaker_permissions import tripped, values
from tests.workspaces.factories import TeamFactory

pytestmark = pytest.mark.django_db

BAD = [
    ("metric", {"metric": "bounce_rate"}),
    ("metric", {"metric": None}),
    ("scope", {"scope": "workspace"}),
    ("threshold", {"threshold": "abc"}),
    ("threshold", {"threshold": -1}),
    ("threshold", {"threshold": "1.5"}),  # a rate is a fraction
    ("threshold", {"threshold": "NaN"}),
    ("threshold", {"threshold": "Infinity"}),
    ("threshold", {"threshold": True}),
    ("threshold", {"threshold": None}),
    ("window_minutes", {"window_minutes": 0}),
    ("window_minutes", {"window_minutes": 4}),
    ("window_minutes", {"window_minutes": 10**9}),
    ("window_minutes", {"window_minutes": "60"}),
    ("window_minutes", {"window_minutes": 1.5}),
    ("window_minutes", {"window_minutes": True}),
    ("min_volume", {"min_volume": 0}),
    ("min_volume", {"min_volume": -3}),
    ("min_volume", {"min_volume": 10**12}),
    ("per_outcome", {"per_outcome": "meeting_booked"}),  # only for spend per outcome
    ("per_outcome", {"metric": "spend_per_outcome", "per_outcome": "spend", "threshold": 5}),
    ("per_outcome", {"metric": "spend_per_outcome", "per_outcome": "lunch", "threshold": 5}),
    ("action", {"action": "explode"}),
    ("budget_day", {"budget_day": 5}),  # only for the budget action
    ("budget_day", {"action": "budget", "budget_day": -1}),
    ("budget_day", {"action": "budget", "budget_day": "lots"}),
    ("enabled", {"enabled": "yes"}),
    ("name", {"name": ""}),
    ("name", {"name": "   "}),
    ("name", {"name": 42}),
    ("name", {"name": "x" * 2001}),
]


@pytest.mark.parametrize(("field", "change"), BAD, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_a_bad_value_is_refused_by_field_and_nothing_is_written(cast, field, change):
    before = state()

    with pytest.raises(ValidationFailed) as refused:
        breakers.circuit_breaker_set(actor=cast.user("owner"), **values(cast, **change))

    assert field in refused.value.fields
    assert state() == before


def test_a_team_of_another_workspace_is_refused(cast):
    elsewhere = TeamFactory(workspace=cast.other_workspace, name="Ops", slug="ops")
    before = state()

    with pytest.raises(ValidationFailed) as refused:
        breakers.circuit_breaker_set(actor=cast.user("owner"), **values(cast, team=elsewhere))

    assert "team" in refused.value.fields
    assert state() == before


def test_changing_a_rule_of_another_workspace_or_an_unknown_one_is_not_found(cast):
    theirs = breakers.circuit_breaker_set(
        actor=cast.user("operator"), **values(cast, workspace=cast.other_workspace)
    )
    before = state()

    for target in (theirs, 10**9):
        with pytest.raises(NotFound):
            breakers.circuit_breaker_set(actor=cast.user("owner"), breaker=target, **values(cast))
    with pytest.raises(NotFound):
        breakers.circuit_breaker_delete(actor=cast.user("owner"), breaker=10**9)
    assert state() == before


def test_the_name_is_masked_and_the_defaults_hold(cast):
    rule = breakers.circuit_breaker_set(
        actor=cast.user("owner"),
        **values(cast, name="Ask jane.doe@example.test first", action="budget"),
    )

    assert "jane" not in rule.name
    assert rule.budget_day == Decimal(0)
    spend = breakers.circuit_breaker_set(
        actor=cast.user("owner"), **values(cast, metric="spend_per_outcome", threshold=250)
    )
    assert (spend.per_outcome, spend.threshold) == ("meeting_booked", Decimal(250))


@pytest.mark.parametrize("reason", ["", "   ", None, 5, "x" * 2001])
def test_a_reset_needs_a_reason(cast, reason):
    trip = tripped(cast)
    before = state()

    with pytest.raises(ValidationFailed):
        breakers.circuit_breaker_reset(actor=cast.user("owner"), trip=trip, reason=reason)

    assert state() == before


def test_resetting_twice_or_an_unknown_trip(cast):
    trip = tripped(cast)
    breakers.circuit_breaker_reset(actor=cast.user("owner"), trip=trip, reason="ok")
    before = state()

    with pytest.raises(Conflict):
        breakers.circuit_breaker_reset(actor=cast.user("owner"), trip=trip, reason="again")
    with pytest.raises(NotFound):
        breakers.circuit_breaker_reset(actor=cast.user("owner"), trip=10**9, reason="x")
    assert state() == before


def test_the_admin_form_shows_a_service_refusal_and_writes_nothing(client, cast):
    admin_user: Any = cast.user("owner")
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    client.force_login(admin_user)
    before = state()

    response = client.post(
        "/admin/guardrails/circuitbreaker/add/",
        {
            "workspace": cast.workspace.pk,
            "name": "Bad",
            "metric": "complaint_rate",
            "scope": "agent",
            "threshold": "3",  # 300%
            "window_minutes": "60",
            "min_volume": "10",
            "action": "pause",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert b"threshold" in response.content
    assert not CircuitBreaker.objects.exists()
    assert state() == before


def test_the_lists_take_a_fixed_number_of_queries(client, cast, django_assert_max_num_queries):
    owner: Any = cast.user("owner")
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    tripped(cast)
    for n in range(3):
        breakers.circuit_breaker_set(actor=owner, **values(cast, name=f"Rule {n}"))
    client.force_login(owner)
    client.get("/admin/guardrails/circuitbreaker/")  # warm the per-process caches

    with django_assert_max_num_queries(12) as few:
        assert client.get("/admin/guardrails/circuitbreaker/").status_code == 200
    for n in range(3, 30):
        breakers.circuit_breaker_set(actor=owner, **values(cast, name=f"Rule {n}"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/admin/guardrails/circuitbreaker/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/admin/guardrails/breakertrip/").status_code == 200
