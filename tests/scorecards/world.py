"""One constructed week with known rows, and the numbers its scorecard must show.

Runs, outcomes, review requests, trips and experiments go straight into the database (read
side); memory decisions go through the memory services under the frozen clock, so their audit
events carry the week's times as in production."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.core import clock
from apps.experiments.models import Experiment, ExperimentAnalysis
from apps.guardrails.models import BreakerTrip, KillSwitch, Trip
from apps.memories.embeddings.hashing import hashed_vector
from apps.memories.models import MemoryItem, Status, Tier
from apps.memories.services import memory_approve, memory_expire, memory_reject
from apps.reviews.models import ReviewRequest
from apps.scorecards.selectors import week_bounds, week_start_of
from apps.signals.models import Outcome, Trace
from tests.memories.factories import memory_type
from tests.workspaces.factories import AgentFactory


def a_past_week() -> dt.date:
    return week_start_of(clock.now()) - dt.timedelta(days=14)


def _trace(agent: Any, status: str, cost: str, at: dt.datetime) -> Trace:
    return Trace.objects.create(
        workspace=agent.workspace,
        agent=agent,
        task="a task",
        status=status,
        cost=Decimal(cost),
        started_at=at,
    )


def _outcome(workspace: Any, kind: str, at: dt.datetime, trace: Trace | None = None) -> None:
    key = f"k{Outcome.objects.count()}-{kind}"
    Outcome.objects.create(
        workspace=workspace, trace=trace, kind=kind, occurred_at=at, idempotency_key=key
    )


def _memory(cast: Any, at: dt.datetime, team: Any, status: str = Status.PROPOSED) -> MemoryItem:
    content = f"Memory {MemoryItem.objects.count()} about a week of pricing calls"
    return MemoryItem.objects.create(
        workspace=cast.workspace,
        tier=Tier.TEAM if team else Tier.WORKSPACE,
        team=team,
        type=memory_type(cast.workspace),
        content=content,
        embedding=hashed_vector(content, settings.EMBEDDING_DIMENSIONS),
        status=status,
        created_at=at,
        updated_at=at,
    )


def _review(cast: Any, team: Any, created: dt.datetime, decided: dt.datetime | None) -> None:
    ReviewRequest.objects.create(
        workspace=cast.workspace,
        team=team,
        kind="policy_version",
        tier="team" if team else "workspace",
        status="decided" if decided else "pending",
        decision="approved" if decided else "",
        created_at=created,
        decided_at=decided,
    )


def build_week(cast: Any) -> tuple[dt.date, Any]:
    """The week two weeks ago in the cast's workspace. Returns (week_start, marketing agent)."""
    week = a_past_week()
    start, end = week_bounds(week)
    day = dt.timedelta(days=1)
    hour = dt.timedelta(hours=1)
    closer = AgentFactory(workspace=cast.workspace, team=cast.marketing, slug="closer")
    sdr = cast.agent  # team sales
    # runs: sales 3 success, 1 failure, 1 escalated at 1.00; marketing 2 success at 0.50
    runs = [_trace(sdr, "success", "1.00", start + day + i * hour) for i in range(3)]
    runs.append(_trace(sdr, "failure", "1.00", start + 2 * day))
    runs.append(_trace(sdr, "escalated", "1.00", start + 3 * day))
    theirs = [_trace(closer, "success", "0.50", start + 4 * day) for _ in range(2)]
    _trace(sdr, "success", "9.00", start - hour)  # the week before
    _trace(sdr, "failure", "9.00", end)  # the week after (end is exclusive)
    # outcomes: sales 2 meetings, 1 positive reply, 1 reply, 1 unsubscribe; marketing 1
    # meeting; 1 meeting linked to no run (the workspace's only); 1 the week after
    for kind in ("meeting_booked", "meeting_booked", "positive_reply", "reply", "unsubscribe"):
        _outcome(cast.workspace, kind, start + 5 * day, runs[0])
    _outcome(cast.workspace, "meeting_booked", start + 5 * day, theirs[0])
    _outcome(cast.workspace, "meeting_booked", start + 5 * day)
    _outcome(cast.workspace, "meeting_booked", end + hour, runs[1])
    _memories(cast, start, end)
    # reviews: two decided in the week (10 h and 96 h), two open at its end (24 h, 72 h)
    _review(cast, cast.sales, start + day, start + day + 10 * hour)
    _review(cast, cast.sales, start - 2 * day, start + 2 * day)
    _review(cast, cast.sales, end - 24 * hour, None)
    _review(cast, None, end - 72 * hour, end + hour)
    _review(cast, cast.sales, start - 3 * day, start - 2 * day)  # decided before
    _trips(cast, closer, start, end)
    _experiments(cast, start, end)
    return week, closer


def _memories(cast: Any, start: dt.datetime, end: dt.datetime) -> None:
    """Written in the week: 3 sales, 1 marketing, 1 workspace. Decided in the week: 2 sales
    approved, 1 sales rejected, the marketing one expired by hand; a sales memory written
    earlier reached its time to live in the week."""
    day = dt.timedelta(days=1)
    sales = [_memory(cast, start + day, cast.sales) for _ in range(3)]
    marketing = _memory(cast, start + day, cast.marketing)
    _memory(cast, start + day, None)
    owner = cast.user("owner")
    with clock.frozen_at(start + 2 * day), transaction.atomic():
        memory_approve(actor=owner, item=sales[0])
        memory_approve(actor=owner, item=sales[1])
        memory_reject(actor=owner, item=sales[2])
        memory_expire(actor=owner, item=marketing)
    old = _memory(cast, start - 30 * day, cast.sales, status=Status.EXPIRED)
    MemoryItem.objects.filter(pk=old.pk).update(expires_at=start + 3 * day)
    later = _memory(cast, end + day, cast.sales)
    with clock.frozen_at(end + day), transaction.atomic():
        memory_approve(actor=owner, item=later)  # the week after


def _trips(cast: Any, closer: Any, start: dt.datetime, end: dt.datetime) -> None:
    day = dt.timedelta(days=1)
    for at in (start + day, start + 2 * day, end + day):
        Trip.objects.create(
            workspace=cast.workspace,
            team=cast.sales,
            agent=cast.agent,
            code="budget_exceeded",
            rule="agent_budget_day",
            at=at,
        )
    BreakerTrip.objects.create(
        workspace=cast.workspace,
        breaker_name="complaints",
        metric="complaint_rate",
        subject=f"a{closer.pk}",
        level="agent",
        agent=closer,
        measured=Decimal("0.2"),
        volume=10,
        threshold=Decimal("0.1"),
        window_minutes=60,
        action="pause",
        reason="too many complaints",
        tripped_at=start + 3 * day,
    )
    KillSwitch.objects.create(
        workspace=cast.workspace,
        level="team",
        team=cast.marketing,
        reason="paused for the launch",
        set_by_label="owner",
        set_at=start + 4 * day,
    )


LOOK = {
    "control": "a",
    "comparisons": [
        {
            "metric": "meeting_booked",
            "variant": "b",
            "control": "a",
            "fixed": {"difference": 0.02},
            "relative": {"estimate": 0.1, "interval": {"low": -0.05, "high": 0.3}},
            "sequential": {"interval": {"low": -0.01, "high": 0.05}},
        }
    ],
    "decision": {"outcome": "inconclusive", "variant": None, "reasons": []},
}


def _experiment(cast: Any, key: str, **fields: Any) -> Experiment:
    return Experiment.objects.create(
        workspace=cast.workspace,
        key=key,
        name=key,
        hypothesis="h",
        unit_kind="contact",
        salt=key,
        primary_metric={"kind": "conversion", "event": "meeting_booked", "window_days": 14},
        baseline_rate=0.1,
        minimum_detectable_effect=0.02,
        sample_size_per_variant=1000,
        **fields,
    )


def _look(experiment: Experiment, at: dt.datetime, result: dict[str, Any], outcome: str) -> None:
    ExperimentAnalysis.objects.create(
        experiment=experiment,
        computed_at=at,
        trigger="scheduled",
        exposures=100,
        outcome=outcome,
        srm_passed=True,
        guardrails_passed=True,
        result=result,
    )


def _experiments(cast: Any, start: dt.datetime, end: dt.datetime) -> None:
    """`subject-lines` runs through the week (one look in it, one after); `marketing-only`
    admits the marketing team only and has no look yet; `draft` never started."""
    day = dt.timedelta(days=1)
    running = _experiment(cast, "subject-lines", status="running", started_at=start - 7 * day)
    _look(running, start + 2 * day, LOOK, "inconclusive")
    _look(running, end + day, {**LOOK, "comparisons": []}, "winner")
    _experiment(
        cast,
        "marketing-only",
        status="stopped",
        started_at=start - day,
        stopped_at=start + day,
        eligibility={"teams": [cast.marketing.pk]},
    )
    _experiment(cast, "draft", status="draft")
    _experiment(
        cast, "ended-before", status="stopped", started_at=start - 9 * day, stopped_at=start - day
    )
