"""Experiments: a hypothesis tested on units (contacts, accounts or runs) split between a
control and one or more treatments.

An experiment is designed as a draft (variants and their weights, eligibility, metrics, the
power calculation's inputs), started, stopped and decided; every step goes through
apps.experiments.services and is audited. While it runs, units are assigned deterministically
(a hash of the experiment's salt and the unit's keyed hash) and each unit's first assignment is
logged once as an exposure. Unit ids are never stored: only the keyed hash signals' outcomes
carry (apps.signals.services.subject_hash("unit", ...)), so outcomes join exposures.

Scoping: people with a role in the workspace read its experiments; an agent reads its own
workspace's.
"""

from __future__ import annotations

from typing import Self

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.workspaces.models import ScopedQuerySet, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action


class UnitKind(models.TextChoices):
    CONTACT = "contact", "Contact"
    ACCOUNT = "account", "Account"
    RUN = "run", "Agent run"


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    DECIDED = "decided", "Decided"


class MetricKind(models.TextChoices):
    CONVERSION = "conversion", "Conversion per exposed unit within N days"
    RATE = "rate", "Rate of an outcome per exposed unit"
    COST_PER_OUTCOME = "cost_per_outcome", "Cost per outcome"


class ExperimentQuerySet(ScopedQuerySet):
    """Members of the workspace see its experiments; agents see their workspace's (to read
    the variants they are assigned) and change nothing."""

    workspace_path = "workspace_id"

    def for_user(self, principal: Principal, action: str) -> Self:
        ids = workspace_ids_for(principal.required_user, action)
        return self.filter(**{f"{self.workspace_path}__in": ids})

    def for_agent(self, principal: Principal, action: str) -> Self:
        if action != Action.VIEW:
            return self.none()
        return self.filter(**{self.workspace_path: principal.required_agent.workspace_id})


class VariantQuerySet(ExperimentQuerySet):
    workspace_path = "experiment__workspace_id"


class Experiment(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="experiments"
    )
    key = models.SlugField(
        max_length=60, help_text="Unique in the workspace; the API addresses it by this key."
    )
    name = models.CharField(max_length=200)
    hypothesis = models.TextField(help_text="What we expect and why (masked like all free text).")
    owner = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unit_kind = models.CharField(max_length=10, choices=UnitKind.choices)
    salt = models.CharField(max_length=64, editable=False)
    eligibility = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"segments": [...], "channels": [...], "teams": [ids], "agents": [ids]}; '
        "an empty or missing list admits everyone.",
    )
    primary_metric = models.JSONField(
        help_text='{"kind": "conversion", "event": "meeting_booked", "window_days": 14}'
    )
    guardrail_metrics = models.JSONField(default=list, blank=True)
    baseline_rate = models.FloatField()
    minimum_detectable_effect = models.FloatField(help_text="Absolute: 0.05 -> 0.06 is 0.01.")
    alpha = models.FloatField(default=0.05)
    power = models.FloatField(default=0.8)
    sample_size_per_variant = models.PositiveIntegerField(
        editable=False, help_text="From the power calculation (apps.experiments.power)."
    )
    exposure_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many units are exposed (empty: no cap)."
    )
    exposure_count = models.PositiveBigIntegerField(default=0, editable=False)
    status = models.CharField(
        max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT
    )
    winner = models.ForeignKey(
        "experiments.Variant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Set when decided (empty: no variant won).",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    release_notes = models.TextField(
        blank=True,
        editable=False,
        help_text="Written when a promotion is approved: what changed, the evidence, who "
        "approved and when (apps.experiments.promotion).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "key"], name="experiment_key_unique_in_ws"
            ),
            models.CheckConstraint(
                condition=Q(exposure_cap__isnull=True) | Q(exposure_cap__gte=1),
                name="experiment_cap_positive",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "status"], name="experiment_ws_status")]

    def __str__(self) -> str:
        return self.key


class Variant(models.Model):
    """A control or a treatment: what the assigned unit gets (policy or prompt versions, a
    memory set by tag or explicit ids, free-form JSON config) and its allocation weight."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=40)
    is_control = models.BooleanField(default=False)
    weight = models.PositiveIntegerField(help_text="Relative share of the units (1 to 10,000).")
    policy_versions = models.JSONField(
        default=list, blank=True, help_text="Ids of policy, prompt or skill versions."
    )
    memory_tag = models.SlugField(max_length=60, blank=True)
    memory_ids = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict, blank=True)
    retired_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set when another variant's promotion was approved: this one lost "
        "(apps.experiments.promotion says what retiring does).",
    )

    objects = VariantQuerySet.as_manager()

    class Meta:
        ordering = ["experiment_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "key"], name="variant_key_unique_in_experiment"
            ),
            models.UniqueConstraint(
                fields=["experiment"],
                condition=Q(is_control=True),
                name="variant_one_control",
            ),
            models.CheckConstraint(
                condition=Q(weight__gte=1, weight__lte=10_000), name="variant_weight_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}{' (control)' if self.is_control else ''}"


class Exposure(models.Model):
    """A unit's first assignment while the experiment ran: one row per (experiment, unit),
    inserted once. The unit is its keyed hash, the same one outcomes carry.

    Kept lean for the bulk insert (bench/experiments): one random-keyed index, the unique
    (experiment, unit_hash) that also serves lookups by experiment; the workspace and variant
    are foreign keys without a database constraint (the service writes the experiment's own;
    Django still cascades deletes), each with its plain index for erasure, retention and the
    per-variant counts."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="exposures", db_index=False
    )
    variant = models.ForeignKey(
        Variant, on_delete=models.CASCADE, related_name="exposures", db_constraint=False
    )
    unit_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "unit_hash"], name="exposure_once_per_unit"
            )
        ]

    def __str__(self) -> str:
        return f"exposure #{self.pk}"


class AnalysisQuerySet(ExperimentQuerySet):
    workspace_path = "experiment__workspace_id"


class AnalysisTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled (Celery beat)"
    ON_DEMAND = "on_demand", "On demand"
    STOP = "stop", "At the stop"


class ExperimentAnalysis(models.Model):
    """One look at an experiment: the statistics' whole answer (apps.experiments.stats
    `Analysis.as_dict()`) for the exposures and outcomes of that moment, kept so the page can
    draw the lift over time and the promotion gate reads the latest look. Written by
    apps.experiments.analysis only; never edited."""

    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="analyses", db_index=False
    )
    computed_at = models.DateTimeField(default=timezone.now, editable=False)
    trigger = models.CharField(max_length=10, choices=AnalysisTrigger.choices)
    exposures = models.PositiveBigIntegerField(help_text="Exposed units at this look.")
    outcome = models.CharField(
        max_length=20,
        help_text="The decision rule's outcome: winner, loser, inconclusive, blocked_srm, "
        "blocked_guardrail.",
    )
    winner_key = models.SlugField(
        max_length=40, blank=True, help_text="The variant the rule names, if any."
    )
    srm_passed = models.BooleanField()
    guardrails_passed = models.BooleanField()
    result = models.JSONField(help_text="Analysis.as_dict() and the inputs it was computed from.")

    objects = AnalysisQuerySet.as_manager()

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [
            models.Index(fields=["experiment", "-computed_at"], name="analysis_experiment_recent")
        ]

    def __str__(self) -> str:
        return f"analysis #{self.pk} of {self.experiment_id}: {self.outcome}"


class ExperimentSettingsQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        return self.filter(workspace_id__in=workspace_ids_for(principal.required_user, action))


class ExperimentSettings(models.Model):
    """Per workspace: whether starting an experiment needs a second person's approval (an
    `experiment_start` review request). Created with the defaults on first use; owners and
    admins change it through apps.experiments.promotion.experiment_settings_update."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="experiment_settings"
    )
    start_needs_approval = models.BooleanField(
        default=False,
        help_text="Starting an experiment opens a review request; another person approves it.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ExperimentSettingsQuerySet.as_manager()

    class Meta:
        verbose_name = "experiment settings"
        verbose_name_plural = "experiment settings"

    def __str__(self) -> str:
        return f"experiment settings of workspace {self.workspace_id}"
