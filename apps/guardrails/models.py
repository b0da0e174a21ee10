"""Guardrails the API enforces: kill switches, limits, reservations, suppression and trips.

An agent asks `POST /guardrails/check` before it acts. An allowed check takes a reservation
and, in the same transaction, adds its amounts to `LimitCounter` rows (one per scope, limit and
window); a conditional upsert refuses the increment that would pass the cap, so racing checks
for the last unit get exactly one allow. The reservation remembers what it added (`holds`):
releasing or expiring it gives the amounts back, committing it settles the actual cost.

Scoping follows apps.workspaces: `objects.visible_to(principal, action)`; team-level and
agent-level rows are also visible to the roles of their team.
"""

from __future__ import annotations

import uuid
from typing import Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.workspaces.models import ScopedQuerySet, Team, team_ids_for, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN")


class Level(models.TextChoices):
    WORKSPACE = "workspace", "Workspace"
    TEAM = "team", "Team"
    AGENT = "agent", "Agent"


class ActionKind(models.TextChoices):
    EMAIL = "email", "Email"
    CALL = "call", "Call"
    LINKEDIN = "linkedin", "LinkedIn"
    SMS = "sms", "SMS"
    AD_SPEND = "ad_spend", "Ad spend"
    TOOL_CALL = "tool_call", "Tool call"
    CUSTOM = "custom", "Custom"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    CALL = "call", "Call"
    LINKEDIN = "linkedin", "LinkedIn"
    SMS = "sms", "SMS"
    ADS = "ads", "Ads"
    TOOL = "tool", "Tool"
    OTHER = "other", "Other"


CONTACT_CHANNELS = ("email", "call", "linkedin", "sms")
SUPPRESSION_CHANNELS = [(c, c) for c in (*CONTACT_CHANNELS, "all")]


class DenyCode(models.TextChoices):
    BUDGET_EXCEEDED = "budget_exceeded", "Budget exceeded"
    STEP_LIMIT = "step_limit", "Step limit"
    EXPOSURE_CAP = "exposure_cap", "Exposure cap"
    SUPPRESSED = "suppressed", "Suppressed contact"
    PAUSED = "paused", "Paused (kill switch)"
    RATE_LIMITED = "rate_limited", "Rate limited"
    OUTSIDE_HOURS = "outside_hours", "Outside sending hours"


class PartitionQuerySet(ScopedQuerySet):
    """Rows with `workspace` and `team` columns: a workspace role sees the workspace's rows, a
    team role its team's; agents see nothing here (they read their own answers)."""

    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        return self.filter(
            Q(workspace_id__in=workspace_ids_for(user, action))
            | Q(team_id__in=team_ids_for(user, action))
        )


class WorkspaceRowQuerySet(ScopedQuerySet):
    """Rows of a workspace (suppression, reservations, counters): workspace roles, and team
    roles read their workspace's rows (`view` only)."""

    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        visible = Q(workspace_id__in=workspace_ids_for(user, action))
        if action == Action.VIEW:
            teams = Team.objects.filter(id__in=team_ids_for(user, action))
            visible |= Q(workspace_id__in=teams.values("workspace_id"))
        return self.filter(visible)


class KillSwitch(models.Model):
    """A pause on a workspace, a team or one agent. Active while `cleared_at` is empty; an
    active switch makes every request of the agents it covers a 403 `agent_paused`."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="kill_switches"
    )
    level = models.CharField(max_length=10, choices=Level.choices)
    team = models.ForeignKey(
        "workspaces.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="kill_switches",
        help_text="Team level: the team; agent level: the agent's team (for scoping).",
    )
    agent = models.ForeignKey(
        "workspaces.Agent",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="kill_switches",
    )
    reason = models.TextField(help_text="Why (required; masked).")
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_by_label = models.CharField(max_length=200)
    set_at = models.DateTimeField(default=timezone.now, editable=False)
    cleared_at = models.DateTimeField(null=True, blank=True, editable=False)
    cleared_by_label = models.CharField(max_length=200, blank=True, editable=False)
    clear_reason = models.TextField(blank=True, editable=False)

    objects = PartitionQuerySet.as_manager()

    class Meta:
        ordering = ["-set_at", "-id"]
        verbose_name = "kill switch"
        verbose_name_plural = "kill switches"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "level", "team", "agent"],
                condition=Q(cleared_at__isnull=True),
                nulls_distinct=False,
                name="guardrail_one_active_switch",
            ),
            models.CheckConstraint(
                condition=(
                    Q(level="workspace", team__isnull=True, agent__isnull=True)
                    | Q(level="team", team__isnull=False, agent__isnull=True)
                    | Q(level="agent", agent__isnull=False)
                ),
                name="guardrail_switch_level_matches",
            ),
        ]
        indexes = [
            models.Index(
                fields=["workspace"],
                condition=Q(cleared_at__isnull=True),
                name="guardrail_switch_active",
            )
        ]

    def __str__(self) -> str:
        state = "active" if self.cleared_at is None else "cleared"
        return f"pause of {self.target_label} ({state})"

    @property
    def target_label(self) -> str:
        if self.level == Level.AGENT:
            return f"agent {self.agent_id}"
        if self.level == Level.TEAM:
            return f"team {self.team_id}"
        return f"workspace {self.workspace_id}"

    @property
    def active(self) -> bool:
        return self.cleared_at is None


class GuardrailLimits(models.Model):
    """Limits at one level; an empty value inherits (agent > team > workspace, field by field).

    `agent_*` values bind each agent on its own, `team_*` values each team as a whole; a team
    row sets its team's values and its agents' defaults, an agent row only that agent's."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="guardrail_limits"
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.WORKSPACE)
    team = models.ForeignKey(
        "workspaces.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    agent = models.ForeignKey(
        "workspaces.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(
        max_length=3, blank=True, help_text="Workspace level: the currency of every budget."
    )
    agent_budget_day = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    agent_budget_month = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    team_budget_day = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    team_budget_month = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    step_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Steps per run.")
    agent_exposure_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Distinct units one agent may contact per channel a day."
    )
    team_exposure_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Distinct units one team may contact per channel a day."
    )
    frequency_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Workspace: the same unit at most N times..."
    )
    frequency_days = models.PositiveIntegerField(null=True, blank=True, help_text="...in D days.")
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Checks per agent per minute."
    )
    sending_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per region: {"EU": {"start": 8, "end": 18, "tz": "Europe/Berlin"}}; "*" '
        "applies to regions not listed.",
    )
    reservation_ttl_seconds = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PartitionQuerySet.as_manager()

    class Meta:
        verbose_name = "guardrail limits"
        verbose_name_plural = "guardrail limits"
        ordering = ["workspace_id", "level", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "level", "team", "agent"],
                nulls_distinct=False,
                name="guardrail_limits_one_per_level",
            ),
            models.CheckConstraint(
                condition=(
                    Q(level="workspace", team__isnull=True, agent__isnull=True)
                    | Q(level="team", team__isnull=False, agent__isnull=True)
                    | Q(level="agent", agent__isnull=False)
                ),
                name="guardrail_limits_level_matches",
            ),
        ]

    def __str__(self) -> str:
        if self.level == Level.AGENT:
            return f"limits of agent {self.agent_id}"
        if self.level == Level.TEAM:
            return f"limits of team {self.team_id}"
        return f"limits of workspace {self.workspace_id}"


class LimitCounter(models.Model):
    """How much of one limit one scope has used in one window: the row the conditional upsert
    locks. `scope` is "a<agent id>", "t<team id>" or "u<unit hash>"; `kind` names the limit."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    scope = models.CharField(max_length=80)
    kind = models.CharField(max_length=40)
    window = models.DateTimeField()
    used = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    cap = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, help_text="The cap at the last take."
    )

    objects = WorkspaceRowQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "kind", "window"], name="guardrail_counter_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.kind} @ {self.window:%Y-%m-%d %H:%M}"


class ReservationStatus(models.TextChoices):
    RESERVED = "reserved", "Reserved"
    COMMITTED = "committed", "Committed"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Reservation(models.Model):
    """An allowed check: it holds its share of every limit until committed (the actual cost
    settles it), released or expired (the share is given back)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    agent = models.ForeignKey(
        "workspaces.Agent", on_delete=models.CASCADE, related_name="guardrail_reservations"
    )
    action = models.CharField(max_length=12, choices=ActionKind.choices)
    channel = models.CharField(max_length=12, choices=Channel.choices)
    unit_hash = models.CharField(max_length=64, blank=True)
    region = models.CharField(max_length=20, blank=True)
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=4)
    actual_cost = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3)
    run_id = models.CharField(max_length=100, blank=True)
    step = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.RESERVED
    )
    holds = models.JSONField(
        default=list, blank=True, help_text="[[counter id, amount], ...] this reservation added."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceRowQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(status="reserved"),
                name="guardrail_resv_expiring",
            ),
            models.Index(fields=["workspace", "-created_at"], name="guardrail_resv_ws"),
            # "Is this unit new today?" for the exposure caps.
            models.Index(
                fields=["unit_hash", "created_at"],
                condition=~Q(unit_hash=""),
                name="guardrail_resv_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"reservation {self.pk} ({self.status})"


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
    COMPLAINT = "complaint", "Complained"


class SuppressionSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    CSV = "csv", "CSV import"
    API = "api", "API"
    SIGNAL = "signal", "Outcome event"


ALL_CHANNELS = "all"


class SuppressionEntry(models.Model):
    """A contact no agent of the workspace may reach on `channel` ("all" for a complaint).
    The identifier is kept only as its keyed hash."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="suppressions"
    )
    unit_hash = models.CharField(max_length=64)
    channel = models.CharField(max_length=12)
    reason = models.CharField(max_length=12, choices=SuppressionReason.choices)
    source = models.CharField(max_length=10, choices=SuppressionSource.choices)
    created_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = WorkspaceRowQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "suppressed contact"
        verbose_name_plural = "suppression list"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "unit_hash", "channel"], name="guardrail_suppression_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.unit_hash[:12]}… on {self.channel} ({self.reason})"


class Trip(models.Model):
    """One deny: which agent, which rule, the values compared, the request id."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="guardrail_trips"
    )
    team = models.ForeignKey(
        "workspaces.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    agent = models.ForeignKey(
        "workspaces.Agent", on_delete=models.CASCADE, related_name="guardrail_trips"
    )
    code = models.CharField(max_length=20, choices=DenyCode.choices)
    rule = models.CharField(max_length=40)
    action = models.CharField(max_length=12, blank=True)
    channel = models.CharField(max_length=12, blank=True)
    values = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PartitionQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["workspace", "-at"], name="guardrail_trip_ws_at")]

    def __str__(self) -> str:
        return f"{self.code} ({self.rule}) for agent {self.agent_id}"


class BreakerMetric(models.TextChoices):
    COMPLAINT_RATE = "complaint_rate", "Complaint rate (complaints per run)"
    UNSUBSCRIBE_RATE = "unsubscribe_rate", "Unsubscribe rate (unsubscribes per run)"
    SPEND_PER_OUTCOME = "spend_per_outcome", "Spend per outcome"
    TRACE_FAILURE_RATE = "trace_failure_rate", "Trace failure rate (failed runs per run)"


class BreakerScope(models.TextChoices):
    AGENT = "agent", "Each agent"
    TEAM = "team", "Each team"


class BreakerAction(models.TextChoices):
    PAUSE = "pause", "Pause it (kill switch)"
    BUDGET = "budget", "Set its day budget"


class CircuitBreaker(models.Model):
    """A rule on outcome rates, measured per agent or per team over a rolling window: above
    `threshold` with at least `min_volume` in the window, it trips (pauses the agent or team,
    or sets its day budget). Evaluated after every signals batch that touches the scope and by
    a beat task (apps.guardrails.breakers)."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="circuit_breakers"
    )
    name = models.CharField(max_length=100, help_text="Shown in the trip's reason (masked).")
    metric = models.CharField(max_length=20, choices=BreakerMetric.choices)
    scope = models.CharField(max_length=10, choices=BreakerScope.choices)
    team = models.ForeignKey(
        "workspaces.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="circuit_breakers",
        help_text="Only this team (its agents, for the agent scope); empty: every one.",
    )
    threshold = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        help_text="Rates as a fraction (0.02 = 2%); spend per outcome in the budget currency.",
    )
    window_minutes = models.PositiveIntegerField(help_text="The rolling window, in minutes.")
    min_volume = models.PositiveIntegerField(
        default=20,
        help_text="Runs in the window (spend events for spend per outcome) before it may trip.",
    )
    per_outcome = models.CharField(
        max_length=16,
        blank=True,
        help_text="Spend per outcome: the outcome kind counted (meeting_booked by default).",
    )
    action = models.CharField(
        max_length=10, choices=BreakerAction.choices, default=BreakerAction.PAUSE
    )
    budget_day = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The day budget action: the budget while tripped (0 by default).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PartitionQuerySet.as_manager()

    class Meta:
        ordering = ["workspace_id", "name", "id"]
        verbose_name = "circuit breaker"
        verbose_name_plural = "circuit breakers"
        indexes = [
            models.Index(
                fields=["workspace"], condition=Q(enabled=True), name="guardrail_breaker_on"
            )
        ]

    def __str__(self) -> str:
        return f"circuit breaker {self.name}"


class BreakerTrip(models.Model):
    """A circuit breaker that tripped for one agent or team: what it measured, why, and what
    it did (the kill switch it set, or the day budget it replaced). Active until reset; while
    active the same breaker does not trip again for that scope, and after a reset it counts
    only what happened since."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="breaker_trips"
    )
    breaker = models.ForeignKey(
        CircuitBreaker, on_delete=models.SET_NULL, null=True, blank=True, related_name="trips"
    )
    breaker_name = models.CharField(max_length=100)
    metric = models.CharField(max_length=20, choices=BreakerMetric.choices)
    subject = models.CharField(max_length=24, help_text='"a<agent id>" or "t<team id>".')
    level = models.CharField(max_length=10, choices=Level.choices)
    team = models.ForeignKey(
        "workspaces.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    agent = models.ForeignKey(
        "workspaces.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    measured = models.DecimalField(max_digits=20, decimal_places=6)
    volume = models.PositiveIntegerField()
    threshold = models.DecimalField(max_digits=14, decimal_places=4)
    window_minutes = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=BreakerAction.choices)
    reason = models.TextField()
    kill_switch = models.ForeignKey(
        KillSwitch, on_delete=models.SET_NULL, null=True, blank=True, related_name="breaker_trips"
    )
    budget_before = models.JSONField(
        default=dict, blank=True, help_text="The budget action: {field: the value it replaced}."
    )
    tripped_at = models.DateTimeField(default=timezone.now, editable=False)
    reset_at = models.DateTimeField(null=True, blank=True, editable=False)
    reset_by_label = models.CharField(max_length=200, blank=True, editable=False)
    reset_reason = models.TextField(blank=True, editable=False)

    objects = PartitionQuerySet.as_manager()

    class Meta:
        ordering = ["-tripped_at", "-id"]
        verbose_name = "circuit breaker trip"
        verbose_name_plural = "circuit breaker trips"
        constraints = [
            models.UniqueConstraint(
                fields=["breaker", "subject"],
                condition=Q(reset_at__isnull=True),
                name="guardrail_breaker_one_active_trip",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-tripped_at"], name="guardrail_btrip_ws_at"),
            models.Index(fields=["breaker", "subject", "-reset_at"], name="guardrail_btrip_reset"),
        ]

    def __str__(self) -> str:
        state = "tripped" if self.reset_at is None else "reset"
        return f"{self.breaker_name} on {self.target_label} ({state})"

    @property
    def target_label(self) -> str:
        if self.level == Level.AGENT:
            return f"agent {self.agent_id}"
        return f"team {self.team_id}"

    @property
    def active(self) -> bool:
        return self.reset_at is None
