"""Reads of eval sets that other apps rely on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from apps.evals.models import EvalCase, EvalResult, EvalRun, EvalSet, Split
from apps.policies.models import ArtifactVersion


def holdout_trace_ids(workspace_id: int) -> QuerySet[EvalCase, int]:
    """The ids of the traces behind the workspace's holdout cases (retired ones too: what was
    once held out stays out), as a subquery for `.exclude(trace_id__in=...)`. Every training
    export and every few-shot example query excludes these."""
    return (
        EvalCase.objects.filter(
            eval_set__workspace_id=workspace_id, split=Split.HOLDOUT, source_trace__isnull=False
        )
        .values_list("source_trace_id", flat=True)
        .order_by()
    )


@dataclass(frozen=True)
class Comparison:
    """One run against the previous version's latest run of the same set."""

    run: EvalRun
    previous: EvalRun | None
    regressed: list[EvalCase]
    previously_passing: int

    @property
    def success_rate(self) -> float | None:
        return self.run.success_rate

    @property
    def regression_rate(self) -> float | None:
        """The share of cases that passed on the previous version (and ran again) that fail
        now; None without a previous run or a case to compare."""
        if self.previous is None or not self.previously_passing:
            return None
        return len(self.regressed) / self.previously_passing

    @property
    def success_drop(self) -> float | None:
        before = self.previous.success_rate if self.previous else None
        now = self.run.success_rate
        if before is None or now is None:
            return None
        return max(0.0, before - now)

    @property
    def cost_per_task(self) -> Decimal | None:
        run = self.run
        return (
            (run.total_cost / run.case_count).quantize(Decimal("0.000001"))
            if run.case_count
            else None
        )

    @property
    def latency_per_task(self) -> float | None:
        run = self.run
        return run.total_latency_ms / run.case_count if run.case_count else None


def latest_runs(version: ArtifactVersion) -> list[EvalRun]:
    """The latest run of each eval set against `version`."""
    rows = (
        EvalRun.objects.filter(artifact_version=version)
        .select_related("eval_set", "artifact_version")
        .order_by("eval_set_id", "-id")
        .distinct("eval_set_id")
    )
    return list(rows)


def previous_run(run: EvalRun) -> EvalRun | None:
    """The latest run of the same set against the artifact's nearest earlier version that has
    one (versions are numbered in order of saving)."""
    version = run.artifact_version
    return (
        EvalRun.objects.filter(
            eval_set_id=run.eval_set_id,
            artifact_version__artifact_id=version.artifact_id,
            artifact_version__number__lt=version.number,
        )
        .select_related("artifact_version")
        .order_by("-artifact_version__number", "-id")
        .first()
    )


def regressed_cases(run: EvalRun, previous: EvalRun) -> tuple[list[EvalCase], int]:
    """The cases that passed in `previous` and fail in `run`, and how many of the cases that
    passed in `previous` ran again in `run` (the regression rate's denominator)."""
    passed_before = EvalResult.objects.filter(run=previous, passed=True).values("case_id")
    again = EvalResult.objects.filter(run=run, case_id__in=passed_before)
    compared = again.count()
    failing = again.filter(passed=False).values("case_id")
    return list(EvalCase.objects.filter(pk__in=failing).order_by("key")), compared


def run_comparison(run: EvalRun) -> Comparison:
    previous = previous_run(run)
    if previous is None:
        return Comparison(run, None, [], 0)
    regressed, compared = regressed_cases(run, previous)
    return Comparison(run, previous, regressed, compared)


def version_evidence(version: ArtifactVersion) -> list[Comparison]:
    """Per eval set run against `version`: its latest run compared with the previous version's."""
    return [run_comparison(run) for run in latest_runs(version)]


def set_history(eval_set: EvalSet, limit: int = 20) -> list[Comparison]:
    """Per artifact version run against the set (its latest run), newest versions last: the
    rows and the chart of the set's page."""
    runs = (
        EvalRun.objects.filter(eval_set=eval_set)
        .select_related("artifact_version__artifact")
        .order_by("artifact_version_id", "-id")
        .distinct("artifact_version_id")
    )
    latest = sorted(runs, key=lambda r: (r.artifact_version.artifact_id, r.artifact_version.number))
    return [run_comparison(run) for run in latest[-limit:]]


def history_chart(history: list[Comparison]) -> str | None:
    """Success and regression rates (in %) per version, as Chart.js JSON for unfold's line
    chart; None without runs."""
    if not history:
        return None

    def pct(value: float | None) -> float | None:
        return None if value is None else round(100 * value, 1)

    labels = [
        f"{c.run.artifact_version.artifact.name} v{c.run.artifact_version.number}" for c in history
    ]
    return json.dumps(
        {
            "labels": labels,
            "datasets": [
                {
                    "label": "Task success %",
                    "data": [pct(c.success_rate) for c in history],
                    "borderColor": "#059669",
                    "backgroundColor": "#059669",
                },
                {
                    "label": "Regression %",
                    "data": [pct(c.regression_rate) for c in history],
                    "borderColor": "#dc2626",
                    "backgroundColor": "#dc2626",
                },
            ],
        }
    )
