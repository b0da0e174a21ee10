"""Eight weeks of scorecard for each demo workspace, computed from real rows.

The demo's month of history (apps.memories.demo_month, apps.signals.demo) covers the last
four weeks and a bit. For the weeks before it, this module writes a lighter history through the
same services under the frozen clock (apps.core.clock), a week at a time: each agent's runs
of the week posted on its last day with their outcomes and the editor's ratings that evening,
and three team learnings proposed by each agent on the Monday, decided by the workspace's
reviewer at the week's end (most approved, some rejected). Runs get a little better week by
week, so the trend has something to show. Then the eight complete weeks before the current one
are snapshot for the workspace and each team (apps.scorecards.services). Deterministic; a
workspace that already has a scorecard is left alone."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model

from apps.core import clock
from apps.memories.demo_month import AGENT_SCOPES, MONTH_DAYS
from apps.memories.models import MemoryItem, Status
from apps.memories.services import memory_approve, memory_reject, memory_write_batch
from apps.scorecards.models import WeeklyScorecard
from apps.scorecards.selectors import week_start_of
from apps.scorecards.services import scorecard_snapshot
from apps.signals import services as signals
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
SEED = "steward-demo-scorecards-1"
WEEKS = 8
RUNS_PER_AGENT_DAY = 3
LEARNINGS_PER_AGENT_WEEK = 3
OUTCOMES = [("meeting_booked", 3), ("positive_reply", 4), ("reply", 5), ("unsubscribe", 1)]
# Distinct on purpose: a near-repeat would reinforce an earlier learning instead (which one
# it finds first must not decide what the demo holds). Each agent uses each once at most.
LEARNINGS = [
    "Warehouse managers answer calls before eight in the morning, rarely after lunch.",
    "Procurement teams at hospitals need the security questionnaire before any demo.",
    "Retail chains sign pilots in January, once the holiday season's numbers are in.",
    "A one-page ROI sheet gets forwarded to finance; a slide deck does not.",
    "Mentioning the Hamburg reference customer doubles the reply rate from German prospects.",
    "Fintech buyers ask where data is hosted in the first call; have the EU region ready.",
    "School districts buy through cooperative contracts; ask which one they use first.",
    "Plant engineers prefer a site visit to a video demo for anything on the shop floor.",
    "Subject lines with a question mark get fewer opens from legal departments.",
    "Resellers want the margin table in writing before they introduce us to an account.",
    "Trial users who invite a colleague in week one convert three times as often.",
    "Chief operating officers reply to short notes that name a metric they already track.",
    "Public sector leads stall without a named budget line; ask for it politely but early.",
    "Startups under fifty people decide within a week or not at all.",
    "Long-time customers respond well to an invitation to the product advisory board.",
]
SEGMENTS = ["logistics", "retail", "healthcare", "manufacturing", "fintech", "education"]


def seed_scorecards(*, history: bool = True) -> None:
    """`history=False` (a demo seeded without its month, for other apps' tests) snapshots the
    eight weeks from what is there without writing the earlier weeks' history."""
    now = clock.now()
    for workspace in Workspace.objects.filter(slug__in=("acme", "globex")).order_by("slug"):
        if not WeeklyScorecard.objects.filter(workspace=workspace).exists():
            if history:
                _History(workspace, now).seed()
            _snapshots(workspace, now)


def _snapshots(workspace: Workspace, now: dt.datetime) -> None:
    this_week = week_start_of(now)
    teams: list[Team | None] = [None, *Team.objects.filter(workspace=workspace).order_by("pk")]
    for back in range(WEEKS, 0, -1):
        for team in teams:
            scorecard_snapshot(
                actor=SEED_ACTOR,
                workspace=workspace,
                team=team,
                week_start=this_week - dt.timedelta(weeks=back),
            )


class _History:
    """The days between the first scorecard week and the demo month's first day."""

    def __init__(self, workspace: Workspace, now: dt.datetime) -> None:
        self.workspace = workspace
        self.rng = random.Random(f"{SEED}:{workspace.slug}")  # noqa: S311 (demo data)
        self.agents = list(Agent.objects.filter(workspace=workspace).order_by("pk"))
        users = get_user_model().objects
        self.reviewer = users.filter(username=f"{workspace.slug}-reviewer").first()
        self.editor = users.filter(username=f"{workspace.slug}-editor").first()
        self.first = dt.datetime.combine(
            week_start_of(now) - dt.timedelta(weeks=WEEKS), dt.time.min, tzinfo=dt.UTC
        )
        self.month_start = now - dt.timedelta(days=MONTH_DAYS)
        self.keys = 0
        self.proposed: list[tuple[dt.datetime, int]] = []
        # Each agent its own learnings (a disjoint share, in a seeded order): the same text
        # from two agents of a team would be deduplicated, and which write reinforces which
        # depends on the order the database returns near neighbours in (not deterministic).
        shuffled = self.rng.sample(LEARNINGS, len(LEARNINGS))
        count = max(len(self.agents), 1)
        self.learnings = {
            agent.pk: shuffled[index::count] for index, agent in enumerate(self.agents)
        }

    def seed(self) -> None:
        """Week by week (the first day is a Monday): the week's runs posted in one batch on its
        last day, their outcomes and ratings, each agent's learnings proposed on its Monday
        and decided on its last day."""
        total = max((self.month_start - self.first).days - 1, 0)  # the month's eve is its own
        for week_first in range(0, total, 7):
            days = range(week_first, min(week_first + 7, total))
            monday = self.first + dt.timedelta(days=week_first)
            posted = self.first + dt.timedelta(days=days[-1], hours=19)
            self._learn(monday + dt.timedelta(hours=17))
            self._runs(days, total, posted)
            self._decide(posted)
        self._decide(self.month_start - dt.timedelta(hours=2), wait=dt.timedelta(0))

    def _runs(self, days: range, total: int, posted: dt.datetime) -> None:
        specs = []
        for day in days:
            morning = self.first + dt.timedelta(days=day, hours=9)
            for agent in self.agents:
                for n in range(RUNS_PER_AGENT_DAY):
                    started = morning + dt.timedelta(hours=n * 2)
                    specs.append(self._run(agent, started, day / max(total, 1)))
        with clock.frozen_at(posted):
            result = signals.traces_ingest(actor=SEED_ACTOR, workspace=self.workspace, items=specs)
        items = []
        for item, spec in zip(result.items, specs, strict=True):
            started = dt.datetime.fromisoformat(spec["started_at"])
            progress = (started - self.first).days / max(total, 1)
            if spec["status"] == "success" and self.rng.random() < 0.4 + 0.2 * progress:
                items.append(self._outcome(item["id"], started + dt.timedelta(hours=1)))
        evening = posted + dt.timedelta(hours=2)
        if items:
            with clock.frozen_at(evening):
                signals.outcomes_ingest(actor=SEED_ACTOR, workspace=self.workspace, items=items)
        self._ratings(result.items, specs, evening)

    def _ratings(self, stored: list[Any], specs: list[dict[str, Any]], at: dt.datetime) -> None:
        """The editor rates about a third of the runs (ratings only: nothing to learn from)."""
        items = []
        for item, spec in zip(stored, specs, strict=True):
            if self.editor is None or self.rng.random() > 0.33:
                continue
            good = spec["status"] == "success"
            rating = self.rng.choice([4, 5, 5] if good else [1, 2, 3])
            thumbs = "up" if rating >= 4 else "down"
            items.append({"trace": item["id"], "rating": rating, "thumbs": thumbs})
        if items:
            with clock.frozen_at(at):
                signals.feedback_ingest(actor=self.editor, workspace=self.workspace, items=items)

    def _run(self, agent: Agent, started: dt.datetime, progress: float) -> dict[str, Any]:
        status = self.rng.choices(
            ["success", "failure", "escalated"], weights=[70 + 12 * progress, 14, 16 - 6 * progress]
        )[0]
        return {
            "agent": agent.pk,
            "task": f"Follow up with a {self.rng.choice(SEGMENTS)} lead",
            "task_kind": "lead_follow_up",
            "model_name": "gpt-4o-mini",
            "tokens_in": self.rng.randint(600, 1800),
            "tokens_out": self.rng.randint(120, 480),
            "cost": round(self.rng.uniform(0.002, 0.012) * (1.2 - 0.3 * progress), 6),
            "latency_ms": self.rng.randint(3000, 30000),
            "status": status,
            "started_at": started.isoformat(),
            "ended_at": (started + dt.timedelta(seconds=20)).isoformat(),
        }

    def _outcome(self, trace_id: int, occurred: dt.datetime) -> dict[str, Any]:
        self.keys += 1
        kinds, weights = zip(*OUTCOMES, strict=True)
        return {
            "idempotency_key": f"demo-history-{self.workspace.slug}-{self.keys}",
            "trace": trace_id,
            "kind": self.rng.choices(kinds, weights=weights)[0],
            "occurred_at": occurred.isoformat(),
        }

    def _learn(self, at: dt.datetime) -> None:
        for agent in self.agents:
            items: list[Mapping[str, Any]] = [
                {
                    "content": self.learnings[agent.pk].pop(),
                    "type": "learning",
                    "tier": "team",
                    "team": agent.team,
                    "confidence": 0.7,
                }
                for _ in range(min(LEARNINGS_PER_AGENT_WEEK, len(self.learnings[agent.pk])))
            ]
            if not items:
                continue
            with clock.frozen_at(at):
                results = memory_write_batch(
                    actor=agent,
                    workspace=self.workspace,
                    items=items,
                    token_scopes=AGENT_SCOPES,
                    review_required=True,
                )
            self.proposed += [(at, r.item.pk) for r in results if r.outcome != "reinforced"]

    def _decide(self, at: dt.datetime, wait: dt.timedelta = dt.timedelta(days=2)) -> None:
        """Proposals `wait` old or more: the reviewer approves most, rejects some (the last
        ones before the month are all decided: the month's queue is its own)."""
        if self.reviewer is None:
            return
        due = [pk for when, pk in self.proposed if when <= at - wait]
        self.proposed = [(when, pk) for when, pk in self.proposed if pk not in due]
        items = MemoryItem.objects.filter(pk__in=due, status=Status.PROPOSED).order_by("pk")
        with clock.frozen_at(at):
            for item in items:
                decide = memory_reject if self.rng.random() < 0.2 else memory_approve
                decide(actor=self.reviewer, item=item, reason="Weekly review of team learnings.")
