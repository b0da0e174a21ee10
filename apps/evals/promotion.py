"""The promotion block: apps.policies asks this check before the production label moves (and
before a move request opens), through apps.policies.promotion, so policies never imports evals.

Off by default. When a workspace turns it on, production does not move to a version whose
latest run of any eval set regresses more than `max_regression_rate` of the cases that passed
on the previous version's latest run of that set, or whose success rate is more than
`max_success_drop` below that run's; with `require_run`, nor to a version with no eval run at
all. Rollbacks are never checked (apps.policies skips them): rolling back stays instant.
"""

from __future__ import annotations

from typing import Any

from apps.evals.models import EvalSettings
from apps.evals.selectors import Comparison, version_evidence
from apps.policies.models import ArtifactVersion
from apps.policies.promotion import PromotionCheck


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def comparison_refusal(comparison: Comparison, settings: EvalSettings) -> str | None:
    name = comparison.run.eval_set.key
    rate = comparison.regression_rate
    if rate is not None and rate > settings.max_regression_rate:
        return (
            f"on eval set {name} it regresses {_pct(rate)} of the cases the previous version "
            f"passed (the limit is {_pct(settings.max_regression_rate)})."
        )
    drop = comparison.success_drop
    if drop is not None and drop > settings.max_success_drop:
        return (
            f"on eval set {name} its success rate drops {_pct(drop)} (the limit is "
            f"{_pct(settings.max_success_drop)})."
        )
    return None


def blocking_reason(version: ArtifactVersion) -> str | None:
    """Why the workspace's promotion block refuses `version` for production, or None."""
    settings = EvalSettings.objects.filter(workspace_id=version.workspace_id).first()
    if settings is None or not settings.block_promotion:
        return None
    evidence = version_evidence(version)
    if not evidence:
        return (
            "it has no eval run, and this workspace requires one." if settings.require_run else None
        )
    for comparison in evidence:
        refusal = comparison_refusal(comparison, settings)
        if refusal:
            return refusal
    return None


class EvalPromotionCheck(PromotionCheck):
    title = "Eval evidence"
    template = "admin/evals/promotion_evidence.html"

    def refusal(self, version: ArtifactVersion) -> str | None:
        return blocking_reason(version)

    def evidence(self, version: ArtifactVersion) -> dict[str, Any] | None:
        settings = EvalSettings.objects.filter(workspace_id=version.workspace_id).first()
        comparisons = version_evidence(version)
        rows = [
            {"comparison": c, "refusal": comparison_refusal(c, settings) if settings else None}
            for c in comparisons
        ]
        return {
            "rows": rows,
            "settings": settings,
            "blocked": blocking_reason(version),
        }
