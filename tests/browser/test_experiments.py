"""Experiments in a real browser: an editor designs a draft with two variants through the
"Add experiment" form; the page of a running experiment with looks draws the lift chart."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from apps.core import clock
from apps.experiments import services
from apps.experiments.analysis import experiment_analyze
from apps.experiments.models import Experiment
from apps.signals.services import outcomes_ingest
from tests.conftest import SYSTEM
from tests.experiments.conftest import make


def test_an_editor_designs_a_draft_with_two_variants_in_the_form(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    page = admin_login("editor")

    page.goto(f"{live_server.url}/admin/experiments/experiment/add/")
    page.select_option("select[name=workspace]", str(cast.workspace.pk))
    page.fill("input[name=key]", "browser-draft")
    page.fill("input[name=name]", "Shorter subject lines")
    page.fill("textarea[name=hypothesis]", "Subjects under six words get more replies.")
    page.fill("input[name=variants-1-key]", "short")
    page.fill("input[name=baseline_rate]", "0.05")
    page.fill("input[name=minimum_detectable_effect]", "0.02")
    page.locator("#experiment-design-form [type=submit]").first.click()
    page.wait_for_load_state()

    experiment = Experiment.objects.get(workspace=cast.workspace, key="browser-draft")
    assert experiment.status == "draft"
    assert sorted(experiment.variants.values_list("key", "is_control")) == [
        ("control", True),
        ("short", False),
    ]
    assert experiment.owner == cast.user("editor")
    assert "browser-draft" in page.content()


def test_the_page_of_a_running_experiment_draws_the_lift_chart(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    experiment = make(
        cast.workspace,
        "charted",
        start=True,
        primary_metric={"kind": "conversion", "event": "meeting_booked", "window_days": 1},
        guardrail_metrics=[],
    )
    units = [f"unit-{n}" for n in range(200)]
    answers = services.experiment_assign_bulk(actor=SYSTEM, experiment=experiment, unit_ids=units)
    exposed = timezone.now()
    items = [
        {
            "idempotency_key": f"o-{n}",
            "kind": "meeting_booked",
            "contact": answer.unit_id,
            "experiment_unit": answer.unit_id,
            "occurred_at": (exposed + dt.timedelta(hours=1)).isoformat(),
        }
        for n, answer in enumerate(answers)
        if n % (4 if answer.variant == "control" else 3) == 0
    ]
    outcomes_ingest(actor=SYSTEM, workspace=cast.workspace, items=items)

    for days in (2, 3):  # two looks after every unit's one-day window closed
        with clock.frozen_at(exposed + dt.timedelta(days=days)):
            experiment_analyze(actor=SYSTEM, experiment=experiment, trigger="on_demand")
    page = admin_login("viewer")

    page.goto(f"{live_server.url}/admin/experiments/experiment/{experiment.pk}/change/")

    chart = page.get_by_test_id("lift-chart-short")
    chart.locator("canvas").wait_for()
    box = chart.locator("canvas").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    assert page.get_by_test_id("experiment-decision").is_visible()
    assert page.get_by_test_id("counts-short").is_visible()
