"""Demo guardrails for `make run`, in Acme: workspace limits (budgets, a step limit, an exposure
cap, a frequency cap of 3 contacts in 7 days, a rate limit, EU and US sending hours), a Sales
team budget near its limit today, Campaign Bot paused, two suppressed contacts (an
unsubscribe, a complaint) and a week of trips from real checks, so the trips chart shows
something. Idempotent: a workspace that already has guardrail limits is left alone.

After the signals demo (`seed_breakers`): three circuit breakers in Acme, one of which — the
Marketing team's unsubscribe rate over 30 days — trips on the demo's outcomes and pauses the
team, with its reason; the other two stay armed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.core import clock
from apps.guardrails import breakers, services
from apps.guardrails.models import CircuitBreaker, GuardrailLimits
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
TEAM_BUDGET = Decimal(50)
SPENT_TODAY = (Decimal(18), Decimal(15), Decimal("13.50"))  # 46.50 of 50 EUR


@transaction.atomic
def seed_guardrails() -> None:
    workspace = Workspace.objects.filter(slug="acme").first()
    if workspace is None or GuardrailLimits.objects.filter(workspace=workspace).exists():
        return
    admin = get_user_model().objects.filter(username="acme-admin").first() or SEED_ACTOR
    sales = Team.objects.get(workspace=workspace, slug="sales")
    sdr = Agent.objects.get(workspace=workspace, slug="sdr-bot")
    campaign = Agent.objects.filter(workspace=workspace, slug="campaign-bot").first()
    services.limits_set(
        actor=admin,
        workspace=workspace,
        currency="EUR",
        agent_budget_day=Decimal(60),
        agent_budget_month=Decimal(600),
        step_limit=25,
        agent_exposure_per_day=200,
        frequency_cap={"count": 3, "days": 7},
        rate_per_minute=120,
        sending_hours={
            "EU": {"start": 8, "end": 18, "tz": "Europe/Berlin"},
            "US": {"start": 8, "end": 18, "tz": "America/New_York"},
        },
    )
    services.limits_set(
        actor=admin,
        workspace=workspace,
        level="team",
        team=sales,
        team_budget_day=TEAM_BUDGET,
        team_budget_month=Decimal(900),
    )
    for unit, reason in (
        ("unsubscribed@example.com", "unsubscribe"),
        ("angry@example.com", "complaint"),
    ):
        services.suppression_add(
            actor=admin, workspace=workspace, unit=unit, reason=reason, source="admin"
        )
    _week_of_checks(sdr)
    _spend_today(sdr)
    if campaign is not None:
        services.kill_switch_set(
            actor=admin,
            workspace=workspace,
            level="agent",
            agent=campaign,
            reason="Unsubscribe rate tripled on the spring campaign; paused while we review it",
        )


def _check(agent: Agent, at: dt.datetime, **values: Any) -> services.Decision:
    base = services.CheckRequest(action="email", channel="email", unit="lead@example.com")
    return services.guardrail_check(agent, dataclasses.replace(base, **values), now=at)


def _week_of_checks(agent: Agent) -> None:
    """Real checks over the last 7 days (at 10:00 UTC): allowed sends committed, and the
    denies a working week brings (suppressed contacts, a run past its step limit, a contact
    reached too often, a send outside the EU hours); the denies are the trips."""
    today = clock.now().replace(hour=10, minute=0, second=0, microsecond=0)
    for days_ago in range(7, 0, -1):
        at = today - dt.timedelta(days=days_ago)
        for n in range(days_ago % 3 + 1):
            decision = _check(agent, at, unit=f"prospect{days_ago}-{n}@example.com", region="EU")
            if decision.reservation is not None:
                services.reservation_commit(
                    agent=agent, reservation_id=decision.reservation.pk, actual_cost=Decimal("0.02")
                )
        _check(agent, at, unit="unsubscribed@example.com")
        if days_ago % 2:
            _check(agent, at, channel="sms", action="sms", unit="angry@example.com")
        if days_ago in (6, 3):
            _check(agent, at, run_id=f"run-{days_ago}", step=31)
        if days_ago in (5, 2):
            _check(agent, at.replace(hour=21), unit=f"late{days_ago}@example.com", region="EU")
    for _ in range(4):  # the fourth contact in a week is one too many
        decision = _check(agent, today - dt.timedelta(days=2), unit="busy@example.com")
        if decision.reservation is not None:
            services.reservation_commit(agent=agent, reservation_id=decision.reservation.pk)


def _spend_today(agent: Agent) -> None:
    """Sales has spent 46.50 of its 50 EUR today: the next 5 EUR action is denied."""
    now = clock.now()
    for n, cost in enumerate(SPENT_TODAY):
        decision = _check(
            agent, now, action="ad_spend", channel="ads", unit="", estimated_cost=cost
        )
        if decision.reservation is not None:
            services.reservation_commit(agent=agent, reservation_id=decision.reservation.pk)
        elif n == 0:  # the workspace's own limits refused: leave the demo as it is
            return


@transaction.atomic
def seed_breakers() -> None:
    """Rules made by Acme's admin, then one evaluation on the month's signals (the service
    clock's now): Marketing's 4 unsubscribes in 18 runs (22%) trip its 10% breaker."""
    workspace = Workspace.objects.filter(slug="acme").first()
    if workspace is None or CircuitBreaker.objects.filter(workspace=workspace).exists():
        return
    admin = get_user_model().objects.filter(username="acme-admin").first() or SEED_ACTOR
    teams = {team.slug: team for team in Team.objects.filter(workspace=workspace)}
    breakers.circuit_breaker_set(
        actor=admin,
        workspace=workspace,
        name="Complaint spike",
        metric="complaint_rate",
        scope="agent",
        threshold=Decimal("0.02"),
        window_minutes=24 * 60,
        min_volume=50,
    )
    if "marketing" in teams:
        breakers.circuit_breaker_set(
            actor=admin,
            workspace=workspace,
            name="Marketing unsubscribe wave",
            metric="unsubscribe_rate",
            scope="team",
            team=teams["marketing"],
            threshold=Decimal("0.10"),
            window_minutes=30 * 24 * 60,
            min_volume=10,
        )
    if "sales" in teams:
        breakers.circuit_breaker_set(
            actor=admin,
            workspace=workspace,
            name="Cost per meeting",
            metric="spend_per_outcome",
            scope="team",
            team=teams["sales"],
            threshold=Decimal(200),
            window_minutes=7 * 24 * 60,
            min_volume=3,
            per_outcome="meeting_booked",
            action="budget",
            budget_day=Decimal(0),
        )
    if "marketing" in teams:
        _spring_campaign_wave(workspace, teams["marketing"])
    breakers.circuit_breakers_evaluate(workspace_id=workspace.pk)


WAVE_RUNS = 20
WAVE_UNSUBSCRIBES = 8


def _spring_campaign_wave(workspace: Workspace, team: Team) -> None:
    """The spring campaign's sends of the last two days and the unsubscribes they drew (8 of
    20 runs): enough to trip Marketing's 10% breaker whatever else the month holds."""
    from apps.signals import services as signals

    agent = Agent.objects.filter(workspace=workspace, team=team).order_by("pk").first()
    if agent is None:
        return
    now = clock.now()
    runs = []
    for n in range(WAVE_RUNS):
        started = now - dt.timedelta(hours=46 - 2 * n)
        runs.append(
            {
                "agent": agent.pk,
                "task": f"Send the spring campaign e-mail, segment {n % 4 + 1}",
                "task_kind": "campaign_send",
                "output": "Spring is here: see what the new arm does on your line.",
                "status": "success",
                "started_at": started.isoformat(),
                "ended_at": (started + dt.timedelta(seconds=40)).isoformat(),
            }
        )
    result = signals.traces_ingest(actor=SEED_ACTOR, workspace=workspace, items=runs)
    ids = [item["id"] for item in result.items if item.get("id")]
    outcomes = [
        {
            "kind": "unsubscribe",
            "trace": trace_id,
            "idempotency_key": f"demo-spring-wave-{n}",
            "contact": f"spring-reader-{n}@{workspace.slug}.example",
            "occurred_at": (now - dt.timedelta(hours=40 - 4 * n)).isoformat(),
        }
        for n, trace_id in enumerate(ids[:WAVE_UNSUBSCRIBES])
    ]
    signals.outcomes_ingest(actor=SEED_ACTOR, workspace=workspace, items=outcomes)
