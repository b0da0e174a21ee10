"""Experiment looks run by Celery: every running experiment (and stopped ones whose windows
are still maturing) on the beat schedule (EXPERIMENT_ANALYSIS_SECONDS, config/settings/base.py),
and one experiment at its stop (enqueued on commit by apps.experiments.services)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings

from apps.core import clock
from apps.experiments.analysis import (
    experiment_analyze,
    experiments_due_for_analysis,
    latest_analysis,
    still_maturing,
)
from apps.experiments.models import AnalysisTrigger, Experiment, ExperimentStatus

ANALYZE_DUE_TASK = "experiments.analyze_due"
ANALYZE_ONE_TASK = "experiments.analyze_one"
ACTOR_NAME = "experiments.analyze"
logger = logging.getLogger(__name__)


@shared_task(name=ANALYZE_DUE_TASK, ignore_result=True)
def experiments_analyze_due() -> dict[str, int]:
    """Thin: one look per due experiment, each in its own transaction; one failing does not
    stop the rest. Re-running only adds a look (looks are snapshots, never edited)."""
    from apps.workspaces.principal import Principal

    actor = Principal.system(ACTOR_NAME)
    at = clock.now()
    done = failed = 0
    for experiment in experiments_due_for_analysis(at).iterator():
        if not still_maturing(experiment, at) or _looked_recently(experiment, at):
            continue
        try:
            experiment_analyze(
                actor=actor, experiment=experiment, trigger=AnalysisTrigger.SCHEDULED
            )
            done += 1
        except Exception:  # one experiment's trouble must not stop the others' looks
            logger.exception("analysis of experiment %s failed", experiment.pk)
            failed += 1
    return {"analyzed": done, "failed": failed}


def _looked_recently(experiment: Experiment, at: datetime) -> bool:
    """A duplicate delivery of the beat task (or a run right after another) adds nothing."""
    latest = latest_analysis(experiment)
    half = timedelta(seconds=settings.EXPERIMENT_ANALYSIS_SECONDS / 2)
    return latest is not None and latest.computed_at > at - half


@shared_task(name=ANALYZE_ONE_TASK, ignore_result=True)
def experiment_analyze_task(experiment_id: int, trigger: str) -> int | None:
    """One look at one experiment (at its stop); a draft or a vanished experiment is skipped."""
    from apps.workspaces.principal import Principal

    experiment = Experiment.objects.filter(pk=experiment_id).first()
    if experiment is None or experiment.status == ExperimentStatus.DRAFT:
        return None
    look = experiment_analyze(
        actor=Principal.system(ACTOR_NAME), experiment=experiment, trigger=trigger
    )
    return look.pk
