"""The demo's guardrails: Campaign Bot paused, Sales near its daily budget (the next 5 EUR is
denied), a frequency cap, suppressed contacts, and a week of trips for the chart; seeding
twice adds nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.core.demo import seed_demo
from apps.guardrails import services
from apps.guardrails.admin import trip_chart
from apps.guardrails.models import (
    BreakerTrip,
    CircuitBreaker,
    GuardrailLimits,
    KillSwitch,
    SuppressionEntry,
    Trip,
)
from apps.signals.models import Outcome
from apps.workspaces.models import Agent

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_guardrails_and_seeding_twice_adds_nothing():
    seed_demo(month_days=0)  # the guardrails' week of trips is their own, not the month's
    first = (
        Trip.objects.count(),
        KillSwitch.objects.count(),
        GuardrailLimits.objects.count(),
        CircuitBreaker.objects.count(),
        BreakerTrip.objects.count(),
    )

    seed_demo(month_days=0)

    assert (
        Trip.objects.count(),
        KillSwitch.objects.count(),
        GuardrailLimits.objects.count(),
        CircuitBreaker.objects.count(),
        BreakerTrip.objects.count(),
    ) == first
    paused = KillSwitch.objects.get(cleared_at__isnull=True, level="agent")
    assert paused.agent.slug == "campaign-bot"
    assert {e.reason for e in SuppressionEntry.objects.all()} == {"unsubscribe", "complaint"}
    limits = services.limits_for(Agent.objects.get(slug="sdr-bot"))
    assert (limits.get("frequency_count"), limits.get("frequency_days")) == (3, 7)
    assert limits.get("team_budget_day") == Decimal(50)
    sdr = Agent.objects.get(slug="sdr-bot")
    near = services.guardrail_check(
        sdr,
        services.CheckRequest(action="ad_spend", channel="ads", estimated_cost=Decimal(5)),
    )
    assert (near.code, near.rule) == ("budget_exceeded", "team_budget_day")
    week = Trip.objects.filter(at__gte=timezone.now() - timezone.timedelta(days=8))
    codes = set(week.values_list("code", flat=True))
    assert {"suppressed", "step_limit", "exposure_cap", "outside_hours"} <= codes
    assert len({t.at.date() for t in week}) >= 7
    chart = trip_chart(Trip.objects.all())
    assert chart is not None and '"suppressed"' in chart


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_has_breaker_rules_and_a_tripped_breaker_with_its_reason():
    seed_demo(month_days=0)

    assert CircuitBreaker.objects.count() == 3
    trip = BreakerTrip.objects.get()
    assert (trip.level, trip.team.slug, trip.active) == ("team", "marketing", True)
    assert trip.reason.startswith('Circuit breaker "Marketing unsubscribe wave"')
    measured = re.search(
        r"unsubscribe rate [0-9.]+% \((\d+) unsubscribes in (\d+) runs\) in the last 30 days",
        trip.reason,
    )
    assert measured, trip.reason
    # the demo's spring-campaign wave (8 unsubscribes in 20 runs) on top of the month's runs
    assert int(measured[1]) >= 8 and int(measured[2]) >= 20
    switch = KillSwitch.objects.get(level="team", cleared_at__isnull=True)
    assert (trip.kill_switch, switch.reason) == (switch, trip.reason)
    # every unsubscribe or complaint naming a contact is on the suppression list: the wave's 8
    # (in a demo with no month) and the experiments' unsubscribed units (apps/experiments/demo.py)
    left = Outcome.objects.filter(kind__in=("unsubscribe", "complaint")).exclude(contact_hash="")
    entries = SuppressionEntry.objects.filter(source="signal")
    assert entries.count() == left.values("workspace", "contact_hash").distinct().count()
    wave = left.filter(workspace__slug="acme", trace__isnull=False)
    assert wave.count() == 8
