"""Eval sets: fixed tasks with expected outcomes or rubrics, and the holdout no training
export may ever include.

An eval set is versioned: each change of its cases makes a new `version` number, and a case
records the version it was added in and the version it was retired in (a case is never edited
in place, so an eval run against version N is reproducible). A case in the `holdout` split is
never part of a training export nor a few-shot example: when a case was made from a trace,
that trace is held out too (apps.evals.selectors.holdout_trace_ids, used by every export
query).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.experiments.models import ExperimentQuerySet


class Split(models.TextChoices):
    DEV = "dev", "Development (may be trained on)"
    HOLDOUT = "holdout", "Holdout (never trained on)"


class EvalSetQuerySet(ExperimentQuerySet):
    """Members of the workspace read its eval sets; agents read their workspace's (a harness
    fetches the cases it runs) and change nothing."""

    workspace_path = "workspace_id"


class EvalCaseQuerySet(ExperimentQuerySet):
    workspace_path = "eval_set__workspace_id"


class EvalSet(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="eval_sets"
    )
    key = models.SlugField(max_length=60, help_text="Unique in the workspace.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(
        default=1, help_text="Raised by every change of the cases."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EvalSetQuerySet.as_manager()

    class Meta:
        ordering = ["workspace_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="evalset_key_unique_in_ws")
        ]

    def __str__(self) -> str:
        return self.key


class EvalCase(models.Model):
    eval_set = models.ForeignKey(EvalSet, on_delete=models.CASCADE, related_name="cases")
    key = models.SlugField(max_length=80)
    split = models.CharField(max_length=10, choices=Split.choices, default=Split.DEV)
    input = models.JSONField(help_text="The task as the agent receives it.")
    expected = models.JSONField(
        null=True, blank=True, help_text="The expected outcome, when there is one."
    )
    rubric = models.TextField(
        blank=True, help_text="How a grader scores it, when no outcome is fixed."
    )
    source_trace = models.ForeignKey(
        "signals.Trace",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="eval_cases",
        help_text="The run this case was made from; a holdout case holds its trace out too.",
    )
    added_in = models.PositiveIntegerField(help_text="The set's version that added it.")
    retired_in = models.PositiveIntegerField(
        null=True, blank=True, help_text="The set's version that retired it (empty: current)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = EvalCaseQuerySet.as_manager()

    class Meta:
        ordering = ["eval_set_id", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["eval_set", "key", "added_in"], name="evalcase_key_unique_per_version"
            ),
            models.CheckConstraint(
                condition=Q(retired_in__isnull=True) | Q(retired_in__gt=models.F("added_in")),
                name="evalcase_retired_after_added",
            ),
        ]
        indexes = [
            models.Index(
                fields=["source_trace"],
                condition=Q(split="holdout"),
                name="evalcase_holdout_trace",
            )
        ]

    def __str__(self) -> str:
        return f"{self.eval_set_id}/{self.key}"


class EvalRunQuerySet(ExperimentQuerySet):
    """Members read their workspace's runs; an agent reads its workspace's (a harness reads
    back what it posted). Posting is the service's decision, not the scoping's."""

    workspace_path = "workspace_id"


class EvalResultQuerySet(ExperimentQuerySet):
    workspace_path = "run__workspace_id"


class EvalRun(models.Model):
    """One run of an eval set, at one of its versions, against one artifact version (the
    policy, prompt or skill version under test: "the bundle version"). Immutable once posted:
    a re-run is a new run, and the latest run of a (set, artifact version) pair counts."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="eval_runs"
    )
    eval_set = models.ForeignKey(EvalSet, on_delete=models.CASCADE, related_name="runs")
    set_version = models.PositiveIntegerField(help_text="The set's version the run ran.")
    artifact_version = models.ForeignKey(
        "policies.ArtifactVersion", on_delete=models.CASCADE, related_name="eval_runs"
    )
    posted_by_user = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    posted_by_agent = models.ForeignKey(
        "workspaces.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    posted_label = models.CharField(max_length=200)
    case_count = models.PositiveIntegerField(default=0)
    passed_count = models.PositiveIntegerField(default=0)
    total_cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    total_latency_ms = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = EvalRunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["artifact_version", "eval_set", "-id"], name="evalrun_latest"),
            models.Index(fields=["workspace", "-id"], name="evalrun_ws_recent"),
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} of {self.eval_set_id} v{self.set_version}"

    @property
    def success_rate(self) -> float | None:
        return self.passed_count / self.case_count if self.case_count else None


class EvalResult(models.Model):
    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(EvalCase, on_delete=models.CASCADE, related_name="results")
    passed = models.BooleanField()
    score = models.FloatField(help_text="0 to 1.")
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    notes = models.TextField(blank=True, help_text="The grader's notes (masked).")

    objects = EvalResultQuerySet.as_manager()

    class Meta:
        ordering = ["run_id", "case_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "case"], name="evalresult_case_once_per_run"),
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=1), name="evalresult_score_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.case_id}: {'pass' if self.passed else 'fail'}"


class EvalSettingsQuerySet(EvalRunQuerySet):
    def for_agent(self, principal: Any, action: str) -> Any:
        return self.none()


class EvalSettings(models.Model):
    """Per workspace: the promotion block. Off by default; when on, the production label does
    not move to a version whose latest eval run regresses more than `max_regression_rate` or
    whose success rate drops more than `max_success_drop` against the previous version's."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="eval_settings"
    )
    block_promotion = models.BooleanField(
        default=False, help_text="Refuse production moves that exceed the thresholds."
    )
    max_regression_rate = models.FloatField(
        default=0.0, help_text="0 to 1: the share of previously passing cases allowed to fail."
    )
    max_success_drop = models.FloatField(
        default=0.0, help_text="0 to 1: how far the success rate may fall (0.05 = 5 points)."
    )
    require_run = models.BooleanField(
        default=False,
        help_text="Also refuse a version that has no eval run (of a set that has been run "
        "against this artifact before).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = EvalSettingsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "eval settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(max_regression_rate__gte=0)
                & Q(max_regression_rate__lte=1)
                & Q(max_success_drop__gte=0)
                & Q(max_success_drop__lte=1),
                name="evalsettings_thresholds_0_1",
            )
        ]

    def __str__(self) -> str:
        return f"eval settings of workspace {self.workspace_id}"
