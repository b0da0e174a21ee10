from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import AppConfig, apps

RETENTION_WEEKS = 156


class ScorecardsConfig(AppConfig):
    name = "apps.scorecards"
    label = "scorecards"
    verbose_name = "Weekly scorecards"

    def ready(self) -> None:
        register_pii_fields()
        register_audit()
        register_compliance()


def register_pii_fields() -> None:
    """A scorecard holds counts, rates, money and durations; its details JSON adds outcome
    kinds, trip kinds and experiments' keys, metric definitions and statistics. Nothing a
    person typed: exempt."""
    from apps.privacy.registry import register_exempt_fields

    register_exempt_fields(
        "scorecards.WeeklyScorecard",
        ("details",),
        reason="computed numbers keyed by fixed vocabularies (outcome and trip kinds) and "
        "experiments' keys and primary metrics (slugs and JSON of slugs, screened on write)",
    )


def register_audit() -> None:
    """A snapshot is a record of what the week's rows said: written by its service with one
    `scorecard.snapshot` event each, and deleted in bulk by retention."""
    from apps.audit.reconcile import governed_model_register

    governed_model_register("scorecards.weeklyscorecard", log=True)


def register_compliance() -> None:
    """No erasure target: a card holds no data subject's identifiers, only aggregates (which
    is why it may outlive the rows it counted). Retention: three years of weeks."""
    if not apps.is_installed("apps.compliance"):
        return
    from apps.compliance.registry import RetentionTarget, register_retention_target

    register_retention_target(
        RetentionTarget(
            "scorecards.WeeklyScorecard",
            "Weekly scorecards (snapshots of aggregates)",
            RETENTION_WEEKS * 7,
            _weeks_before,
        )
    )


def _weeks_before(workspace_id: int, cutoff: dt.datetime) -> Any:
    model = apps.get_model("scorecards.WeeklyScorecard")
    return model._base_manager.filter(workspace_id=workspace_id, week_start__lt=cutoff.date())
