"""One week's scorecard of a workspace or one of its teams, frozen when taken.

A snapshot is a record, not a view: the numbers are computed once from the week's rows
(apps.scorecards.selectors.scorecard_compute) and stored, so the trend stays the same when
traces, outcomes or memories are later erased or expire under retention."""

from __future__ import annotations

import datetime as dt
from typing import Any, Self

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.workspaces.models import ScopedQuerySet, team_ids_for, workspace_ids_for
from apps.workspaces.principal import Principal


class ScorecardQuerySet(ScopedQuerySet):
    """Members of the workspace see its cards (team members: their team's); agents none: a
    scorecard is for the people who govern the agents, not an input the agents act on."""

    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        return self.filter(
            Q(workspace_id__in=workspace_ids_for(user, action))
            | Q(team_id__in=team_ids_for(user, action))
        )

    def for_agent(self, principal: Principal, action: str) -> Self:
        return self.none()


class WeeklyScorecard(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="scorecards"
    )
    team = models.ForeignKey(
        "workspaces.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="scorecards",
        help_text="Empty: the whole workspace.",
    )
    week_start = models.DateField(help_text="The ISO week's Monday (00:00 UTC).")
    complete = models.BooleanField(
        default=False, help_text="Taken after the week ended (a week in progress is redone)."
    )
    computed_at = models.DateTimeField(default=timezone.now)
    runs = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    escalations = models.PositiveIntegerField(default=0)
    success_rate = models.FloatField(null=True, blank=True)
    escalation_rate = models.FloatField(null=True, blank=True)
    cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    positive_outcomes = models.PositiveIntegerField(default=0)
    cost_per_outcome = models.DecimalField(max_digits=16, decimal_places=6, null=True, blank=True)
    memories_created = models.PositiveIntegerField(default=0)
    memories_approved = models.PositiveIntegerField(default=0)
    memories_rejected = models.PositiveIntegerField(default=0)
    memories_expired = models.PositiveIntegerField(default=0)
    memories_net = models.IntegerField(default=0)
    reviews_decided = models.PositiveIntegerField(default=0)
    reviews_open = models.PositiveIntegerField(default=0)
    review_open_age_median_hours = models.FloatField(null=True, blank=True)
    review_open_age_p90_hours = models.FloatField(null=True, blank=True)
    review_decision_median_hours = models.FloatField(null=True, blank=True)
    guardrail_trips = models.PositiveIntegerField(default=0)
    details = models.JSONField(
        default=dict, blank=True, help_text="Outcomes per kind, trips per kind, experiments."
    )

    objects = ScorecardQuerySet.as_manager()

    class Meta:
        ordering = ["workspace_id", "team_id", "-week_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "team", "week_start"],
                name="scorecard_unique_week",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=Q(week_start__week_day=2), name="scorecard_week_starts_monday"
            ),
        ]

    def __str__(self) -> str:
        return f"scorecard {self.week_start} of {self.workspace_id}/{self.team_id or '-'}"

    @property
    def week_end(self) -> dt.date:
        return self.week_start + dt.timedelta(days=7)

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in NUMBER_FIELDS}


NUMBER_FIELDS = (
    "runs",
    "successes",
    "failures",
    "escalations",
    "success_rate",
    "escalation_rate",
    "cost",
    "positive_outcomes",
    "cost_per_outcome",
    "memories_created",
    "memories_approved",
    "memories_rejected",
    "memories_expired",
    "memories_net",
    "reviews_decided",
    "reviews_open",
    "review_open_age_median_hours",
    "review_open_age_p90_hours",
    "review_decision_median_hours",
    "guardrail_trips",
)
