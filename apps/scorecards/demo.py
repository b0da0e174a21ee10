"""Eight weeks of scorecard for each demo workspace, computed from real rows.

The demo's month of history (apps.memories.demo_month, apps.signals.demo) covers the last
four weeks and a bit. For the weeks before it, this module writes a lighter history through the
same services under the frozen clock (apps.core.clock): each agent's runs posted at the day's
end with their outcomes that evening, and every other day two team learnings proposed by each
agent, decided by the workspace's reviewer two days later. Runs get a little better week by
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
OUTCOMES = [("meeting_booked", 3), ("positive_reply", 4), ("reply", 5), ("unsubscribe", 1)]
LEARNINGS = [
    "Prospects in {segment} answer faster when the first line names their {topic}.",
    "In {segment}, a short {topic} summary beats a long attachment in the first reply.",
    "Buyers in {segment} ask about {topic} before they agree to a second call.",
    "Mentioning {topic} in the subject line lifts replies from {segment} accounts.",
]
SEGMENTS = ["logistics", "retail", "healthcare", "manufacturing", "fintech", "education"]
TOPICS = ["payback period", "pilot terms", "security review", "onboarding plan", "pricing tiers"]


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

    def seed(self) -> None:
        days = (self.month_start - self.first).days
        for day in range(max(days, 0)):
            morning = self.first + dt.timedelta(days=day, hours=9)
            progress = day / max(days, 1)  # 0 -> 1 over the early weeks
            self._runs(morning, progress)
            if day % 2 == 0:
                self._learn(morning + dt.timedelta(hours=8))
            self._decide(morning + dt.timedelta(hours=7))
        self._decide(self.month_start - dt.timedelta(hours=2), wait=dt.timedelta(0))

    def _runs(self, morning: dt.datetime, progress: float) -> None:
        specs = []
        for agent in self.agents:
            for n in range(RUNS_PER_AGENT_DAY):
                specs.append(self._run(agent, morning + dt.timedelta(hours=n * 2), progress))
        with clock.frozen_at(morning + dt.timedelta(hours=9)):
            result = signals.traces_ingest(actor=SEED_ACTOR, workspace=self.workspace, items=specs)
        items = []
        for item, spec in zip(result.items, specs, strict=True):
            if spec["status"] == "success" and self.rng.random() < 0.4 + 0.2 * progress:
                started = dt.datetime.fromisoformat(spec["started_at"])
                items.append(self._outcome(item["id"], started + dt.timedelta(hours=1)))
        evening = morning + dt.timedelta(hours=12)
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
                    "content": self.rng.choice(LEARNINGS).format(
                        segment=self.rng.choice(SEGMENTS), topic=self.rng.choice(TOPICS)
                    )
                    + f" (seen in week {at.isocalendar().week}, run {self.keys + n})",
                    "type": "learning",
                    "tier": "team",
                    "team": agent.team,
                    "confidence": 0.7,
                }
                for n in range(2)
            ]
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
