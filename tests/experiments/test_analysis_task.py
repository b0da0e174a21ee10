"""The looks Celery takes: every due experiment on the beat schedule (each on its own, one
failing does not stop the others, a repeated delivery adds nothing), and one at the stop,
enqueued once the stop commits — with a real worker."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction

from apps.core import clock
from apps.experiments import services
from apps.experiments.models import Experiment, ExperimentAnalysis, ExperimentStatus
from apps.experiments.tasks import (
    ANALYZE_DUE_TASK,
    experiment_analyze_task,
    experiments_analyze_due,
)
from config.celery import app
from tests.conftest import SYSTEM
from tests.experiments.conftest import make
from tests.experiments.test_analysis import expose


def wait_for(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)


def test_the_task_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["experiments-analyze-due"]

    assert entry["task"] == ANALYZE_DUE_TASK == experiments_analyze_due.name
    assert entry["schedule"] == float(settings.EXPERIMENT_ANALYSIS_SECONDS) == 3600.0
    assert ANALYZE_DUE_TASK in app.tasks


@pytest.mark.django_db
def test_due_experiments_are_looked_at_once_and_one_failure_does_not_stop_the_rest(cast):
    # given two running experiments, a draft, a long-decided one, and one whose design is broken
    first = make(cast.workspace, "first", start=True)
    second = make(cast.workspace, "second", start=True)
    make(cast.workspace, "draft-z")
    broken = make(cast.workspace, "broken", start=True)
    Experiment.objects.filter(pk=broken.pk).update(primary_metric={"kind": "conversion"})
    for experiment in (first, second):
        expose(experiment, "control", 3, days_ago=1)
        expose(experiment, "short", 3, days_ago=1)

    # when the sweep runs twice (a repeated delivery)
    answer = experiments_analyze_due()
    again = experiments_analyze_due()

    # then each healthy experiment has exactly one scheduled look; the broken one none
    assert answer == {"analyzed": 2, "failed": 1}
    assert again == {"analyzed": 0, "failed": 1}
    looks = ExperimentAnalysis.objects.order_by("experiment_id")
    assert [(a.experiment_id, a.trigger) for a in looks] == [
        (first.pk, "scheduled"),
        (second.pk, "scheduled"),
    ]


@pytest.mark.django_db
def test_a_stopped_experiment_is_looked_at_while_its_windows_mature(cast):
    experiment = make(cast.workspace, "stopped", start=True)
    services.experiment_stop(actor=SYSTEM, experiment=experiment, reason="enough")
    Experiment.objects.filter(pk=experiment.pk).update(stopped_at=clock.now() - timedelta(days=40))

    assert experiments_analyze_due() == {"analyzed": 0, "failed": 0}
    Experiment.objects.filter(pk=experiment.pk).update(stopped_at=clock.now() - timedelta(days=5))
    assert experiments_analyze_due() == {"analyzed": 1, "failed": 0}


@pytest.mark.django_db
def test_the_one_experiment_task_skips_drafts_and_missing_ones(cast):
    draft = make(cast.workspace, "draft-y")

    assert experiment_analyze_task(draft.pk, "stop") is None
    assert experiment_analyze_task(999_999, "stop") is None
    assert not ExperimentAnalysis.objects.exists()


@pytest.mark.slow
def test_a_real_worker_takes_the_scheduled_looks(celery_worker, cast):
    experiment = make(cast.workspace, "worker-sweep", start=True)
    expose(experiment, "control", 5, days_ago=30)
    expose(experiment, "short", 5, days_ago=30)

    experiments_analyze_due.delay()

    wait_for(lambda: ExperimentAnalysis.objects.filter(experiment=experiment).exists())
    look = ExperimentAnalysis.objects.get(experiment=experiment)
    assert (look.trigger, look.exposures) == ("scheduled", 10)


@pytest.mark.slow
def test_a_real_worker_takes_a_look_when_the_stop_commits(celery_worker, cast):
    experiment = make(cast.workspace, "worker-stop", start=True)
    expose(experiment, "control", 4, days_ago=30)
    expose(experiment, "short", 4, days_ago=30)

    with transaction.atomic():
        services.experiment_stop(actor=SYSTEM, experiment=experiment, reason="done")
        time.sleep(0.3)  # the worker must not see the stop before it commits
        assert not ExperimentAnalysis.objects.filter(experiment=experiment).exists()

    wait_for(lambda: ExperimentAnalysis.objects.filter(experiment=experiment).exists())
    look = ExperimentAnalysis.objects.get(experiment=experiment)
    assert look.trigger == "stop"
    assert Experiment.objects.get(pk=experiment.pk).status == ExperimentStatus.STOPPED
