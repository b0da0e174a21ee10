"""Demo experiments for `make run`, in each demo workspace, written through the services under
the service clock (apps.core.clock) so that every exposure, outcome and look has the time it
would have had:

- **running, mid-way**: a shorter first e-mail against the control, on contacts, started 20
  days ago; about half of its planned exposures so far, a look every evening, no decision yet;
- **decided and promoted**: a new objection-reply prompt (a policy version) against the one in
  production, run for 25 days, a clear winner on the always-valid interval, stopped, promoted
  through an `experiment_result` review request that an owner approved: the prompt's
  production label now points at the winning version, the loser is retired;
- **stopped by a guardrail**: a daily follow-up cadence that books more meetings but makes far
  more people unsubscribe; at the first look that showed the unsubscribe rate harmed beyond
  its tolerance, an admin stopped it;
- a **draft** (quoting the price in the first reply, on accounts, capped).

Units are synthetic contacts; what happens to each (a meeting booked, an unsubscribe) is drawn
from a seeded generator with the rates each story needs, and reported as outcomes through the
ingestion service on the day it happened. Looks are taken by the analysis service each evening,
as the beat task would. Idempotent: a workspace with experiments is left alone.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from apps.core import clock
from apps.experiments import services
from apps.experiments.analysis import experiment_analyze
from apps.experiments.models import AnalysisTrigger, Experiment
from apps.privacy.keyring import masking_keys
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
ANALYST = Principal.system("experiments.analyze_due")
EMAIL = services.AssignContext(channel="email")
LOOK_HOUR = 20  # the evening look, as the hourly beat task would have taken it


@dataclass(frozen=True)
class Story:
    """How an experiment's demo history goes: when it started, how many units a day, and the
    true rate of each event per variant (what the synthetic units actually do)."""

    spec: dict[str, Any]
    started_days_ago: int
    days: int
    units_per_day: int
    rates: dict[str, dict[str, float]] = field(default_factory=dict)  # event -> variant -> p


RUNNING = Story(
    spec={
        "key": "short-first-email",
        "name": "Shorter first e-mail",
        "hypothesis": "A first touch under five sentences gets more meetings booked than our "
        "current three-paragraph e-mail, without more unsubscribes.",
        "unit_kind": "contact",
        "variants": [
            {"key": "control", "is_control": True, "weight": 1},
            {"key": "short", "weight": 1, "config": {"max_sentences": 5}},
        ],
        "eligibility": {"channels": ["email"]},
        "primary_metric": {"kind": "conversion", "event": "meeting_booked", "window_days": 7},
        "guardrail_metrics": [
            {"kind": "rate", "event": "unsubscribe", "window_days": 7},
            {"kind": "rate", "event": "complaint", "window_days": 7},
        ],
        "baseline_rate": 0.05,
        "minimum_detectable_effect": 0.02,
    },
    started_days_ago=20,
    days=20,
    units_per_day=120,
    rates={
        "meeting_booked": {"control": 0.05, "short": 0.058},
        "unsubscribe": {"control": 0.01, "short": 0.01},
        "complaint": {"control": 0.002, "short": 0.002},
    },
)
PROMOTED = Story(
    spec={
        "key": "objection-reply-v2",
        "name": "Objection replies that lead with the payback",
        "hypothesis": "Replying to a price objection with the measured payback period books "
        "more meetings than our current reply, which offers a discount first.",
        "unit_kind": "contact",
        "variants": [
            {"key": "current", "is_control": True, "weight": 1},
            {"key": "payback", "weight": 1},
        ],
        "eligibility": {"channels": ["email"]},
        "primary_metric": {"kind": "conversion", "event": "meeting_booked", "window_days": 5},
        "guardrail_metrics": [
            {"kind": "rate", "event": "unsubscribe", "window_days": 5, "tolerance": 0.005}
        ],
        "baseline_rate": 0.08,
        "minimum_detectable_effect": 0.03,
    },
    started_days_ago=29,
    days=24,
    units_per_day=240,
    rates={
        "meeting_booked": {"current": 0.08, "payback": 0.15},
        "unsubscribe": {"current": 0.008, "payback": 0.007},
    },
)
GUARDRAIL = Story(
    spec={
        "key": "daily-follow-up",
        "name": "Follow up every day instead of every third day",
        "hypothesis": "Following up daily for a week books more meetings than following up "
        "every third day.",
        "unit_kind": "contact",
        "variants": [
            {"key": "every-third-day", "is_control": True, "weight": 1},
            {"key": "daily", "weight": 1, "config": {"follow_up_every_days": 1}},
        ],
        "eligibility": {"channels": ["email"]},
        "primary_metric": {"kind": "conversion", "event": "meeting_booked", "window_days": 5},
        "guardrail_metrics": [
            {"kind": "rate", "event": "unsubscribe", "window_days": 5, "tolerance": 0.005}
        ],
        "baseline_rate": 0.05,
        "minimum_detectable_effect": 0.02,
    },
    started_days_ago=22,
    days=16,
    units_per_day=180,
    rates={
        "meeting_booked": {"every-third-day": 0.05, "daily": 0.062},
        "unsubscribe": {"every-third-day": 0.01, "daily": 0.045},
    },
)
DRAFT: dict[str, Any] = {
    "key": "price-in-first-reply",
    "name": "Quote the price in the first reply",
    "hypothesis": "Accounts that see the per-seat price in our first reply move to an "
    "opportunity more often.",
    "unit_kind": "account",
    "variants": [
        {"key": "control", "is_control": True, "weight": 1},
        {"key": "quote", "weight": 1, "config": {"quote_price": True}},
    ],
    "primary_metric": {"kind": "conversion", "event": "stage_move", "window_days": 30},
    "guardrail_metrics": [{"kind": "cost_per_outcome", "event": "spend", "window_days": 30}],
    "baseline_rate": 0.1,
    "minimum_detectable_effect": 0.03,
    "exposure_cap": 2000,
}
OBJECTION_REPLIES = (
    "Thanks for being straight about the budget. We can take 10% off the first year if you "
    "sign this quarter; shall I send the revised quote?",
    "Fair question. In the Hamburg pilot the arm paid for itself in 14 months; I can walk you "
    "through their numbers in 20 minutes. Does Tuesday or Thursday suit you?",
)


@transaction.atomic
def seed_experiments() -> None:
    for workspace in Workspace.objects.filter(slug__in=("acme", "globex")).order_by("slug"):
        if not Experiment.objects.filter(workspace=workspace).exists():
            _Seeder(workspace).seed()


class _Seeder:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.today = clock.now()
        users = get_user_model().objects
        self.editor = users.filter(username=f"{workspace.slug}-editor").first()
        self.admin = users.filter(username=f"{workspace.slug}-admin").first()
        self.owner = users.filter(username=f"{workspace.slug}-owner").first()
        self.outcomes = 0

    def seed(self) -> None:
        self._run(RUNNING, stop=None)
        self._promoted()
        self._run(GUARDRAIL, stop="guardrail")
        with clock.frozen_at(self.today):
            services.experiment_create(
                actor=SEED_ACTOR, workspace=self.workspace, **self._owned(DRAFT)
            )

    def _owned(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {**spec, "owner": self.editor.pk} if self.editor is not None else dict(spec)

    def _day(self, story: Story, day: int, hour: int = 9) -> dt.datetime:
        start = self.today - dt.timedelta(days=story.started_days_ago)
        return (start + dt.timedelta(days=day)).replace(
            hour=hour, minute=0, second=0, microsecond=0
        )

    # --- one experiment's history ---------------------------------------------------------

    def _run(
        self, story: Story, *, stop: str | None, spec: dict[str, Any] | None = None
    ) -> Experiment:
        actor = self.admin or SEED_ACTOR
        with clock.frozen_at(self._day(story, 0, hour=8)):
            experiment = services.experiment_create(
                actor=SEED_ACTOR, workspace=self.workspace, **self._owned(spec or story.spec)
            )
            experiment = services.experiment_start(
                actor=actor, experiment=experiment, reason="Agreed in the weekly growth review"
            )
        pending: dict[dt.date, list[dict[str, Any]]] = {}
        stopped = False
        for day in range(story.days + 1):
            morning = self._day(story, day)
            if morning > self.today:
                break
            if day < story.days:
                with clock.frozen_at(morning):
                    self._expose(experiment, story, day, morning, pending)
            self._report(pending.pop(morning.date(), []), morning)
            evening = self._day(story, day, hour=LOOK_HOUR)
            if evening > self.today:
                break
            _fresh_statistics()
            with clock.frozen_at(evening):
                look = experiment_analyze(
                    actor=ANALYST, experiment=experiment, trigger=AnalysisTrigger.SCHEDULED
                )
            if stop == "guardrail" and not look.guardrails_passed and not stopped:
                with clock.frozen_at(evening + dt.timedelta(minutes=25)):
                    experiment = services.experiment_stop(
                        actor=actor,
                        experiment=experiment,
                        reason=f"The unsubscribe guardrail is harmed (look #{look.pk}): "
                        "stopping before more contacts opt out.",
                    )
                stopped = True
                story = _shortened(story, day + 1)
        for later in sorted(pending):
            self._report(pending[later], dt.datetime.combine(later, dt.time(9), self.today.tzinfo))
        return experiment

    def _expose(
        self,
        experiment: Experiment,
        story: Story,
        day: int,
        morning: dt.datetime,
        pending: dict[dt.date, list[dict[str, Any]]],
    ) -> None:
        """The day's units, as many in each variant as its weight asks. The assignment hashes
        with the installation's keys and the workspace's id, so the units are picked by their
        variant (the allocation is a pure function) and each unit's events are drawn from a
        generator seeded by its variant and rank: the demo's outcomes do not depend on the split
        (tests/core/test_demo_determinism.py)."""
        variants = services._variants_of(experiment)
        allocation = services.Allocation(experiment.salt, variants)
        total = sum(v.weight for v in variants)
        wanted = {v.key: story.units_per_day * v.weight // total for v in variants}
        picked: dict[str, list[str]] = {key: [] for key in wanted}
        key = masking_keys().hash_key or b""
        n = 0
        while any(len(picked[k]) < wanted[k] for k in wanted):
            unit = f"{experiment.key}-{self.workspace.slug}-{day}-{n}"
            n += 1
            variant = allocation.variant_for(services.unit_hash(unit, key)).key
            if len(picked[variant]) < wanted[variant]:
                picked[variant].append(unit)
        units = [unit for key in sorted(picked) for unit in picked[key]]
        services.experiment_assign_bulk(
            actor=SEED_ACTOR, experiment=experiment, unit_ids=units, context=EMAIL
        )
        window = experiment.primary_metric["window_days"]
        for variant, chosen in sorted(picked.items()):
            for rank, unit in enumerate(chosen):
                rng = random.Random(f"{experiment.key}-{day}-{variant}-{rank}")  # noqa: S311
                for event, rates in story.rates.items():
                    if rng.random() < rates[variant]:
                        when = morning + dt.timedelta(
                            days=rng.randint(0, window - 1), hours=rng.randint(1, 9)
                        )
                        if when <= self.today:
                            pending.setdefault(when.date(), []).append(
                                {"kind": event, "experiment_unit": unit, "occurred_at": when}
                            )

    def _report(self, items: list[dict[str, Any]], day: dt.datetime) -> None:
        """The day's outcomes, reported by the CRM sync that evening (before the look)."""
        if not items:
            return
        from apps.signals.services import outcomes_ingest

        batch = []
        for item in sorted(items, key=lambda i: (i["occurred_at"], i["experiment_unit"])):
            self.outcomes += 1
            batch.append(
                {
                    "idempotency_key": f"demo-exp-{self.workspace.slug}-{self.outcomes}",
                    "kind": item["kind"],
                    "contact": item["experiment_unit"],
                    "experiment_unit": item["experiment_unit"],
                    "occurred_at": item["occurred_at"].isoformat(),
                }
            )
        report_at = min(day.replace(hour=LOOK_HOUR - 1), self.today)
        with clock.frozen_at(max(report_at, max(i["occurred_at"] for i in items))):
            outcomes_ingest(actor=SEED_ACTOR, workspace=self.workspace, items=batch)

    # --- decided and promoted ---------------------------------------------------------------

    def _promoted(self) -> None:
        from apps.policies import services as policies
        from apps.reviews.services import review_approve

        author = self.editor or SEED_ACTOR
        with clock.frozen_at(self._day(PROMOTED, -2)):
            prompt = policies.policy_artifact_create(
                actor=SEED_ACTOR, workspace=self.workspace, kind="prompt", name="objection-reply"
            )
            current = policies.policy_version_create(
                actor=author,
                artifact=prompt,
                content={"template": OBJECTION_REPLIES[0], "variables": []},
                message="the reply we have used since spring",
            )
            move = policies.policy_label_move(
                actor=author, artifact=prompt, label="production", version=current
            )
            if move.request is not None:
                review_approve(actor=self.owner or SEED_ACTOR, request=move.request, reason="demo")
            payback = policies.policy_version_create(
                actor=author,
                artifact=prompt,
                content={"template": OBJECTION_REPLIES[1], "variables": []},
                message="lead with the Hamburg payback, propose a slot",
            )
        spec = dict(PROMOTED.spec)
        spec["variants"] = [
            {**PROMOTED.spec["variants"][0], "policy_versions": [current.pk]},
            {**PROMOTED.spec["variants"][1], "policy_versions": [payback.pk]},
        ]
        experiment = self._run(PROMOTED, stop=None, spec=spec)
        self._stop_and_promote(experiment)

    def _stop_and_promote(self, experiment: Experiment) -> None:
        from apps.experiments.promotion import experiment_promote
        from apps.reviews.services import review_decide

        admin = self.admin or SEED_ACTOR
        stop_at = self._day(PROMOTED, PROMOTED.days + 1, hour=10)
        with clock.frozen_at(stop_at):
            experiment = services.experiment_stop(
                actor=admin,
                experiment=experiment,
                reason="The always-valid interval says payback wins; stopping to promote it.",
            )
            experiment_analyze(actor=ANALYST, experiment=experiment, trigger=AnalysisTrigger.STOP)
        with clock.frozen_at(stop_at + dt.timedelta(minutes=20)):
            request = experiment_promote(
                actor=admin,
                experiment=experiment,
                reason="Payback books more meetings with no more unsubscribes.",
            )
        with clock.frozen_at(stop_at + dt.timedelta(hours=2)):
            review_decide(
                actor=self.owner or SEED_ACTOR,
                request=request,
                decision="approve",
                reason="Evidence checked: SRM passes, guardrail fine. Ship it.",
            )


def _fresh_statistics() -> None:
    """The seed writes thousands of exposures and outcomes in one transaction: statistics taken
    when the tables were nearly empty would make the planner loop over them once per row
    (minutes per look). ANALYZE in the transaction counts its own new rows."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE experiments_exposure, signals_outcome")


def _shortened(story: Story, days: int) -> Story:
    return Story(story.spec, story.started_days_ago, days, story.units_per_day, story.rates)
