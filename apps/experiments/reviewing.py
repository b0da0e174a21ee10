"""Experiments in the review queue (registered from ExperimentsConfig.ready()):

- `experiment_result`: a promotion of an experiment's winner, opened by
  apps.experiments.promotion.experiment_promote with the evidence frozen in its details.
  Approving carries the promotion out (promotion.promotion_apply); rejecting changes nothing.
- `experiment_start`: a start asked for where the workspace requires approval. Approving starts
  the experiment; rejecting leaves the draft.

Both are decided by the queue's deciders (reviewers, admins and owners of the workspace), and
never by the person who asked (four eyes, whatever the workspace's four-eyes tiers).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from apps.experiments import promotion
from apps.experiments.models import Experiment
from apps.reviews.kinds import ReviewKind
from apps.reviews.models import Decision, Kind, ReviewRequest
from apps.reviews.services.common import clean_reason, close
from apps.workspaces.principal import Principal


def _experiment(request: ReviewRequest) -> Experiment | None:
    return (
        Experiment.objects.select_related("winner")
        .filter(pk=request.subject_id, workspace_id=request.workspace_id)
        .first()
    )


def _variants_rows(experiment: Experiment | None) -> list[dict[str, Any]]:
    if experiment is None:
        return []
    total = sum(v.weight for v in experiment.variants.all()) or 1
    return [
        {
            "key": v.key,
            "is_control": v.is_control,
            "weight": v.weight,
            "share": round(100 * v.weight / total),
            "policy_versions": v.policy_versions,
            "memory_tag": v.memory_tag,
            "memory_ids": v.memory_ids,
            "retired_at": v.retired_at,
        }
        for v in experiment.variants.order_by("id")
    ]


def evidence_rows(evidence: dict[str, Any]) -> dict[str, Any]:
    """The frozen analysis shaped for the panel: per-variant counts of the primary metric,
    the comparisons against control, SRM and guardrails."""
    result = evidence.get("result") or {}
    comparisons = result.get("comparisons") or []
    primary = comparisons[0].get("metric") if comparisons else None
    per_metric = result.get("variants") or {}
    summaries: dict[str, Any] = per_metric.get(primary) or next(iter(per_metric.values()), {})
    counts = [
        {
            "variant": name,
            "size": summary.get("size"),
            "conversions": round(summary.get("size", 0) * summary.get("estimate", 0)),
            "estimate": summary.get("estimate"),
            "interval": summary.get("interval") or {},
        }
        for name, summary in summaries.items()
    ]
    return {
        "primary": primary,
        "counts": counts,
        "comparisons": comparisons,
        "srm": result.get("sample_ratio") or {},
        "guardrails": result.get("guardrails") or [],
        "decision": result.get("decision") or {},
    }


class _ExperimentReview(ReviewKind):
    """Both experiment kinds: approving (never by the requester) closes the request and then
    does the kind's `apply`; rejecting, with a reason, changes nothing else."""

    apply: Any

    def decide(
        self,
        principal: Principal,
        request: ReviewRequest,
        decision: str,
        *,
        reason: str,
        **arguments: Any,
    ) -> None:
        if decision == "approve":
            promotion.require_someone_else(principal, request)
            reason = clean_reason(request, reason)
            close(principal, request, Decision.APPROVED, reason, "review.approve")
            self.apply(principal, request, reason)
            return
        reason = clean_reason(request, reason, required=True)
        close(principal, request, Decision.REJECTED, reason, "review.reject")


class ExperimentResultReview(_ExperimentReview):
    kinds = (Kind.EXPERIMENT_RESULT,)
    decisions = {"approve": "Approve & promote", "reject": "Reject"}
    panel_template = "admin/experiments/review_result.html"

    apply = staticmethod(promotion.promotion_apply)

    def panel_context(self, http_request: HttpRequest, request: ReviewRequest) -> dict[str, Any]:
        experiment = _experiment(request)
        evidence = request.details.get("evidence") or {}
        return {
            "diff": None,
            "experiment": experiment,
            "experiment_url": reverse("admin:experiments_experiment_change", args=[experiment.pk])
            if experiment
            else None,
            "evidence": evidence,
            "shaped": evidence_rows(evidence),
            "variants": _variants_rows(experiment),
        }


class ExperimentStartReview(_ExperimentReview):
    kinds = (Kind.EXPERIMENT_START,)
    decisions = {"approve": "Approve & start", "reject": "Reject"}
    panel_template = "admin/experiments/review_start.html"

    apply = staticmethod(promotion.start_approved)

    def panel_context(self, http_request: HttpRequest, request: ReviewRequest) -> dict[str, Any]:
        experiment = _experiment(request)
        return {
            "diff": None,
            "experiment": experiment,
            "experiment_url": reverse("admin:experiments_experiment_change", args=[experiment.pk])
            if experiment
            else None,
            "variants": _variants_rows(experiment),
        }


def register() -> None:
    from apps.reviews.kinds import register_review_kind

    register_review_kind(ExperimentResultReview())
    register_review_kind(ExperimentStartReview())
