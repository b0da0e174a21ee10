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
