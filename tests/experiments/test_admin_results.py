"""The experiment's page in the admin, with and without stored looks: progress per variant, live
counts (exposures from the table, conversions from the latest look), the lift chart built from
the looks (one point per look, the always-valid bounds around the difference), the fixed-horizon
result beside it, the sample-ratio and guardrail checks, the decision in plain words; and the
list with status, progress, exposures and the latest decision. Looks are stored from a real
computation: apps.experiments.stats.analyze on counts, `.as_dict()` kept whole."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import asdict
from typing import Any

import pytest
from django.utils import timezone

from apps.experiments import services
from apps.experiments.models import Experiment, ExperimentAnalysis
from apps.experiments.stats import Mean, Metric, Proportion, analyze, sample_ratio_check
from tests.conftest import SYSTEM
from tests.experiments.conftest import make

ADMIN = "/admin/experiments/experiment"
FOUR_VARIANTS = [
    {"key": "control", "is_control": True, "weight": 1},
    {"key": "short", "weight": 1},
    {"key": "shorter", "weight": 1},
    {"key": "shortest", "weight": 1},
]


def store_look(
    experiment: Experiment,
    exposures: dict[str, int],
    conversions: dict[str, int],
    *,
    unsubscribes: dict[str, int] | None = None,
    minutes_ago: int = 0,
) -> ExperimentAnalysis:
    """One look as the analysis service stores it: analyze() on these counts, as_dict()."""
    variants = list(experiment.variants.all())
    total = sum(v.weight for v in variants)
    weights = {v.key: v.weight / total for v in variants}
    control = next(v.key for v in variants if v.is_control)
    primary = Metric(
        "meeting_booked", {k: Proportion(exposures[k], conversions[k]) for k in exposures}
    )
    guards = []
    if unsubscribes is not None:
        guards.append(
            Metric(
                "unsubscribe",
                {k: Proportion(exposures[k], unsubscribes[k]) for k in exposures},
                higher_is_better=False,
            )
        )
    analysis = analyze(
        weights=weights,
        control=control,
        exposures=exposures,
        primary=primary,
        planned_exposures=experiment.sample_size_per_variant * len(variants),
        guardrails=guards,
        alpha=experiment.alpha,
    )
    result = json.loads(json.dumps(analysis.as_dict()))
    return ExperimentAnalysis.objects.create(
        experiment=experiment,
        computed_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        trigger="on_demand",
        exposures=sum(exposures.values()),
        outcome=analysis.decision.outcome,
        winner_key=analysis.decision.variant or "",
        srm_passed=not analysis.sample_ratio.failed,
        guardrails_passed=not any(g.harmed for g in analysis.guardrails),
        result=result,
    )


@pytest.fixture
def staff(cast: Any) -> Any:
    for who in ("owner", "admin", "editor", "reviewer", "auditor", "viewer", "outsider"):
        user = cast.user(who)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return cast


def charts_on(page: Any) -> list[dict[str, Any]]:
    """The Chart.js data of every line chart canvas on the page, as the browser reads it."""
    values = re.findall(r'data-type="line" data-value="([^"]*)"', page.content.decode())
    return [json.loads(html.unescape(value)) for value in values]


def test_without_a_look_the_page_says_so_and_shows_live_progress(client, staff):
    experiment = make(staff.workspace, "no-look", start=True)
    services.experiment_assign_bulk(
        actor=SYSTEM, experiment=experiment, unit_ids=[f"u{i}" for i in range(40)]
    )
    client.force_login(staff.user("viewer"))

    page = client.get(f"{ADMIN}/{experiment.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="experiment-no-look"' in text and "No look yet" in text
    assert charts_on(page) == [] and 'data-testid="experiment-decision"' not in text
    rows = {row["key"]: row for row in page.context["results"]["variant_rows"]}
    assert sum(row["exposures"] for row in rows.values()) == 40
    assert rows["control"]["exposures"] > 0 and rows["short"]["exposures"] > 0
    planned = experiment.sample_size_per_variant
    assert f"{rows['short']['exposures']:,} of {planned:,}" in text
    assert "Not measured yet" in text  # the designed guardrail, before any look


def test_with_looks_the_page_draws_the_lift_and_the_decision(client, staff):
    experiment = make(staff.workspace, "looked", start=True)
    first = store_look(
        experiment,
        {"control": 500, "short": 500},
        {"control": 25, "short": 30},
        unsubscribes={"control": 5, "short": 5},
        minutes_ago=60,
    )
    second = store_look(
        experiment,
        {"control": 2000, "short": 2000},
        {"control": 100, "short": 160},
        unsubscribes={"control": 20, "short": 21},
        minutes_ago=30,
    )
    last = store_look(
        experiment,
        {"control": 4000, "short": 4000},
        {"control": 200, "short": 330},
        unsubscribes={"control": 40, "short": 41},
    )
    client.force_login(staff.user("auditor"))

    page = client.get(f"{ADMIN}/{experiment.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200 and "No look yet" not in text
    assert last.outcome == "winner" and last.winner_key == "short"
    assert "A winner: short beats the control" in text
    for reason in last.result["decision"]["reasons"]:
        assert html.escape(reason) in text
    [chart] = charts_on(page)
    assert len(chart["labels"]) == 3
    difference, upper, lower = chart["datasets"]
    expected = [look.result["comparisons"][0] for look in (first, second, last)]
    assert difference["data"] == [round(c["fixed"]["difference"] * 100, 4) for c in expected]
    assert upper["data"] == [round(c["sequential"]["interval"]["high"] * 100, 4) for c in expected]
    assert lower["data"] == [round(c["sequential"]["interval"]["low"] * 100, 4) for c in expected]
    assert all(
        lo < d < hi
        for lo, d, hi in zip(lower["data"], difference["data"], upper["data"], strict=True)
    )
    # the fixed-horizon result beside the always-valid one, from the latest look
    fixed = last.result["comparisons"][0]["fixed"]
    assert f"{fixed['p_value']:.3g}" in text
    assert f"{100 * fixed['difference']:+.2f} pp" in text
    # live counts: conversions and rates from the latest look
    rows = {row["key"]: row for row in page.context["results"]["variant_rows"]}
    assert rows["short"]["conversions"] == 330 and rows["short"]["estimate"] == "8.25%"
    assert rows["control"]["conversions"] == 200 and rows["control"]["size"] == 4000
    # the sample ratio passes and the guardrail is not harmed
    assert "Passed" in text and "Failed" not in text
    [guard] = page.context["results"]["guardrail_rows"]
    assert guard["metric"] == "unsubscribe" and guard["harmed"] is False
    # read-only role: no buttons
    assert 'data-testid="experiment-lifecycle"' not in text
    assert 'data-testid="experiment-design-link"' not in text


def test_a_sample_ratio_mismatch_and_a_harmed_guardrail_read_as_blocked(client, staff):
    srm = make(staff.workspace, "srm", start=True)
    store_look(srm, {"control": 5000, "short": 4000}, {"control": 250, "short": 200})
    harmed = make(staff.workspace, "harmed", start=True)
    look = store_look(
        harmed,
        {"control": 5000, "short": 5000},
        {"control": 250, "short": 400},
        unsubscribes={"control": 50, "short": 150},
    )
    client.force_login(staff.user("viewer"))

    srm_page = client.get(f"{ADMIN}/{srm.pk}/change/").content.decode()
    harmed_page = client.get(f"{ADMIN}/{harmed.pk}/change/")

    assert "Blocked: the units are not split" in srm_page and "Failed" in srm_page
    assert look.outcome == "blocked_guardrail"
    text = harmed_page.content.decode()
    assert "Blocked: short would win, but it harms a guardrail metric." in text
    assert "Harmed" in text
    assert [r["harmed"] for r in harmed_page.context["results"]["guardrail_rows"]] == [True]


def test_four_variants_get_a_chart_per_treatment(client, staff):
    experiment = make(staff.workspace, "four", start=True, variants=FOUR_VARIANTS)
    counts = {"control": 3000, "short": 3000, "shorter": 3000, "shortest": 3000}
    store_look(experiment, counts, {"control": 150, "short": 160, "shorter": 140, "shortest": 300})
    client.force_login(staff.user("viewer"))

    page = client.get(f"{ADMIN}/{experiment.pk}/change/")

    charts = page.context["results"]["lift_charts"]
    assert [chart["variant"] for chart in charts] == ["short", "shorter", "shortest"]
    assert len(charts_on(page)) == 3
    assert len(page.context["results"]["comparison_rows"]) == 3
    assert len(page.context["results"]["variant_rows"]) == 4


def test_the_page_reads_a_fixed_number_of_queries_however_many_looks(
    client, staff, django_assert_max_num_queries
):
    experiment = make(staff.workspace, "many-looks", start=True)
    client.force_login(staff.user("viewer"))
    store_look(experiment, {"control": 100, "short": 100}, {"control": 5, "short": 6})
    client.get(f"{ADMIN}/{experiment.pk}/change/")
    with django_assert_max_num_queries(16) as few:
        client.get(f"{ADMIN}/{experiment.pk}/change/")
    for i in range(30):
        store_look(
            experiment,
            {"control": 100 + i, "short": 100 + i},
            {"control": 5, "short": 6},
            minutes_ago=i + 1,
        )

    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(f"{ADMIN}/{experiment.pk}/change/")

    assert page.context["results"]["look_count"] == 31


def test_the_list_shows_progress_exposures_and_the_latest_decision(client, staff):
    won = make(staff.workspace, "won", start=True)
    store_look(won, {"control": 100, "short": 100}, {"control": 5, "short": 6}, minutes_ago=5)
    store_look(won, {"control": 4000, "short": 4000}, {"control": 200, "short": 330})
    services.experiment_assign_bulk(actor=SYSTEM, experiment=won, unit_ids=["a", "b", "c"])
    make(staff.workspace, "fresh")
    client.force_login(staff.user("viewer"))

    page = client.get(f"{ADMIN}/")

    text = page.content.decode()
    assert page.status_code == 200
    assert "winner" in text and "inconclusive" not in text  # the latest look, not the first
    total = 2 * won.sample_size_per_variant
    assert f"3 of {total:,}" in text
    assert 'class="h-1.5 bg-primary-600' in text


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("status__exact=running", "runs", "drafted"),
        ("status__exact=draft", "drafted", "runs"),
        ("unit_kind__exact=account", "drafted", "runs"),
    ],
)
def test_the_list_filters_by_status_and_unit_kind(client, staff, query, shown, hidden):
    make(staff.workspace, "runs", start=True)
    make(staff.workspace, "drafted", unit_kind="account")
    client.force_login(staff.user("viewer"))

    page = client.get(f"{ADMIN}/?{query}")

    assert page.status_code == 200
    assert f">{shown}<" in page.content.decode()
    assert f">{hidden}<" not in page.content.decode()


def test_the_list_with_looks_reads_a_fixed_number_of_queries(
    client, staff, django_assert_max_num_queries
):
    for i in range(12):
        experiment = make(staff.workspace, f"listed-{i}", start=True)
        store_look(experiment, {"control": 100, "short": 100}, {"control": 5, "short": 6})
    client.force_login(staff.user("viewer"))
    client.get(f"{ADMIN}/")

    with django_assert_max_num_queries(14):
        page = client.get(f"{ADMIN}/")

    assert page.status_code == 200 and b"listed-11" in page.content


def test_another_workspace_sees_neither_the_page_nor_its_looks(client, staff):
    experiment = make(staff.workspace, "private", start=True)
    store_look(experiment, {"control": 100, "short": 100}, {"control": 5, "short": 6})
    client.force_login(staff.user("outsider"))

    page = client.get(f"{ADMIN}/{experiment.pk}/change/", follow=True)

    assert page.redirect_chain and page.redirect_chain[0][1] == 302
    assert "experiment-results" not in page.content.decode()
    assert "Shorter first e-mail" not in page.content.decode()


MEMBERS = ("owner", "admin", "editor", "reviewer", "auditor", "viewer", "operator")
RUNNERS = ("owner", "admin", "operator")


@pytest.mark.parametrize(
    "who", [*MEMBERS[:-1], "outsider", "nobody", "team_viewer", "team_admin", "operator"]
)
def test_who_sees_the_results_and_who_gets_buttons(client, staff, who):
    for name in ("nobody", "team_viewer", "team_admin", "operator"):
        user = staff.user(name)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    experiment = make(staff.workspace, "matrix", start=True)
    store_look(experiment, {"control": 4000, "short": 4000}, {"control": 200, "short": 330})
    client.force_login(staff.user(who))

    page = client.get(f"{ADMIN}/{experiment.pk}/change/")

    text = page.content.decode()
    if who in MEMBERS:
        assert page.status_code == 200
        assert 'data-testid="experiment-decision"' in text and "A winner: short" in text
        assert ('data-testid="experiment-lifecycle"' in text) is (who in RUNNERS)
        assert 'data-testid="experiment-design-link"' not in text  # started: design fixed
    else:
        assert page.status_code in (302, 403)
        assert "experiment-results" not in text


def test_a_look_before_any_unit_matured_shows_its_reason_and_the_sample_ratio(client, staff):
    """The analysis stores such a look without comparisons (nothing to compare yet): the
    sample-ratio check on exposures (a real chi-square) and an inconclusive decision."""
    experiment = make(staff.workspace, "early", start=True)
    srm = sample_ratio_check({"control": 60, "short": 40}, {"control": 0.5, "short": 0.5})
    why = "too few matured units for primary yet: windows of 14 days are still open"
    ExperimentAnalysis.objects.create(
        experiment=experiment,
        trigger="scheduled",
        exposures=100,
        outcome="inconclusive",
        srm_passed=True,
        guardrails_passed=True,
        result={
            "control": "control",
            "alpha": 0.05,
            "sample_ratio": {**asdict(srm), "failed": srm.failed},
            "variants": {},
            "comparisons": [],
            "guardrails": [],
            "decision": {"outcome": "inconclusive", "variant": None, "reasons": [why]},
            "inputs": {"exposures": {"control": 60, "short": 40}},
        },
    )
    client.force_login(staff.user("viewer"))

    page = client.get(f"{ADMIN}/{experiment.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200 and "No decision yet" in text and why in text
    assert charts_on(page) == [] and "No look yet" not in text
    assert page.context["results"]["sample_ratio"]["p_value"] == f"{srm.p_value:.3g}"
    assert "Passed" in text
    assert {row["measured"] for row in page.context["results"]["variant_rows"]} == {False}


def test_a_cost_metric_is_shown_in_its_own_units(client, staff):
    experiment = make(
        staff.workspace,
        "cost",
        start=True,
        primary_metric={"kind": "cost_per_outcome", "event": "spend", "window_days": 7},
    )
    variants = list(experiment.variants.all())
    data = {"control": Mean(count=500, mean=2.0, variance=1.0), "short": Mean(500, 1.7, 1.0)}
    analysis = analyze(
        weights={v.key: 0.5 for v in variants},
        control="control",
        exposures={"control": 500, "short": 500},
        primary=Metric("primary", data, higher_is_better=False),
        planned_exposures=2 * experiment.sample_size_per_variant,
    )
    ExperimentAnalysis.objects.create(
        experiment=experiment,
        trigger="on_demand",
        exposures=1000,
        outcome=analysis.decision.outcome,
        winner_key=analysis.decision.variant or "",
        srm_passed=True,
        guardrails_passed=True,
        result=json.loads(json.dumps(analysis.as_dict())),
    )
    client.force_login(staff.user("viewer"))

    page = client.get(f"{ADMIN}/{experiment.pk}/change/")

    results = page.context["results"]
    difference = analysis.comparisons[0].fixed.difference
    assert [row["difference"] for row in results["comparison_rows"]] == [f"{difference:+.4g}"]
    [chart] = charts_on(page)
    assert chart["datasets"][0]["data"] == [round(difference, 4)]
    rows = {row["key"]: row for row in results["variant_rows"]}
    assert rows["short"]["estimate"] == "1.7" and rows["short"]["conversions"] is None
