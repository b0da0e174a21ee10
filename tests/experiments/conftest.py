"""The experiment tests' extras over the shared cast: a design as the API takes it, and
experiments made through the services (a draft, a running one) on either side."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apps.experiments import services
from apps.experiments.models import Experiment, Exposure, Variant
from tests.api_helpers import row
from tests.conftest import SYSTEM

DESIGN: dict[str, Any] = {
    "name": "Shorter first e-mail",
    "hypothesis": "A first touch under five sentences gets more meetings booked.",
    "unit_kind": "contact",
    "variants": [
        {"key": "control", "is_control": True, "weight": 1},
        {"key": "short", "weight": 1, "config": {"max_sentences": 5}},
    ],
    "primary_metric": {"kind": "conversion", "event": "meeting_booked", "window_days": 14},
    "guardrail_metrics": [{"kind": "rate", "event": "unsubscribe", "window_days": 14}],
    "baseline_rate": 0.05,
    "minimum_detectable_effect": 0.01,
}


def design(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(DESIGN), **changes}


def make(
    workspace: Any, key: str = "short-email", *, start: bool = False, **changes: Any
) -> Experiment:
    experiment = services.experiment_create(
        actor=SYSTEM, workspace=workspace, **design(key=key, **changes)
    )
    if start:
        experiment = services.experiment_start(actor=SYSTEM, experiment=experiment, reason="go")
    return experiment


def state(experiment: Experiment) -> tuple[Any, ...]:
    """Everything a refused request could change about an experiment."""
    return (
        row(experiment, ignore=("updated_at",)),
        list(Variant.objects.filter(experiment=experiment).values()),
        Exposure.objects.filter(experiment=experiment).count(),
    )


@pytest.fixture
def draft(cast: Any) -> Experiment:
    return make(cast.workspace, "draft-one")


@pytest.fixture
def running(cast: Any) -> Experiment:
    return make(cast.workspace, "running-one", start=True)


@pytest.fixture
def theirs(cast: Any) -> Experiment:
    return make(cast.other_workspace, "globex-one", start=True)
