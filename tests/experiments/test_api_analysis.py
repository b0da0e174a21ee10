"""The analysis endpoints: the latest look, every look (cursor pages) and a look now. Members
read (agents with policies:read too), editors and up take a look, agents never; refused
requests change nothing; bad input is a 400 naming the field; the lists read a fixed number
of queries."""

from __future__ import annotations

import pytest

from apps.experiments import analysis
from apps.experiments.models import Experiment, ExperimentAnalysis
from tests.api_helpers import (
    OUTSIDE,
    READERS,
    TEAM,
    assert_error,
    audit_mark,
    audit_since,
    each,
    matrix,
)
from tests.conftest import SYSTEM
from tests.experiments.test_analysis import expose

BASE = "/api/v1/experiments"
MEMBERS = ("owner", "admin", *READERS, "operator")
HIDDEN = (*TEAM, *OUTSIDE)
ANALYSTS = ("owner", "admin", "editor", "operator")


def take_look(experiment, trigger="scheduled"):
    return analysis.experiment_analyze(actor=SYSTEM, experiment=experiment, trigger=trigger)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MEMBERS), **each(404, *HIDDEN), agent=200, other_agent=404),
)
def test_latest(client_as, running, who, status):
    expose(running, "control", 3, days_ago=30)
    expose(running, "short", 3, days_ago=30)
    take_look(running)
    newest = take_look(running)

    response = client_as(who).get(f"{BASE}/{running.key}/analysis")

    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert (body["id"], body["exposures"], body["trigger"]) == (newest.pk, 6, "scheduled")
        assert body["result"]["decision"]["outcome"] == body["outcome"]
        assert set(body["result"]["inputs"]["exposures"]) == {"control", "short"}
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MEMBERS), **each(404, *HIDDEN), agent=200, other_agent=404),
)
def test_history(client_as, running, who, status):
    looks = [take_look(running) for _ in range(3)]

    response = client_as(who).get(f"{BASE}/{running.key}/analyses?page_size=2")

    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert [item["id"] for item in body["results"]] == [looks[2].pk, looks[1].pk]
        rest = client_as(who).get(body["next"]).json()
        assert [item["id"] for item in rest["results"]] == [looks[0].pk]
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *ANALYSTS),
        **each(403, "reviewer", "auditor", "viewer"),
        **each(404, *HIDDEN),
    ),
)
def test_take_a_look_now(client_as, running, who, status):
    expose(running, "control", 2, days_ago=2)
    expose(running, "short", 2, days_ago=2)
    mark = audit_mark()

    response = client_as(who).post(f"{BASE}/{running.key}/analysis", {}, format="json")

    assert response.status_code == status, response.content[:300]
    looks = ExperimentAnalysis.objects.filter(experiment=running)
    if status == 201:
        body = response.json()
        assert (body["trigger"], body["exposures"]) == ("on_demand", 4)
        assert looks.get().pk == body["id"]
        assert [e.action for e in audit_since(mark)] == ["experiment.analyze"]
    else:
        assert_error(response, status)
        assert not looks.exists() and audit_since(mark) == []


def test_no_look_yet_is_a_404(client_as, running):
    assert_error(client_as("viewer").get(f"{BASE}/{running.key}/analysis"), 404)


def test_a_draft_has_nothing_to_analyze(client_as, draft):
    response = client_as("editor").post(f"{BASE}/{draft.key}/analysis", {}, format="json")

    assert_error(response, 409)
    assert not ExperimentAnalysis.objects.exists()


@pytest.mark.parametrize(
    "body", [{"trigger": "stop"}, {"history": 3}, [], "now", {"x": None}], ids=repr
)
def test_a_look_takes_no_input(client_as, running, body):
    response = client_as("editor").post(f"{BASE}/{running.key}/analysis", body, format="json")

    assert_error(response, 400)
    assert not ExperimentAnalysis.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "page_size=0",
        "page_size=x",
        "cursor=%%%",
        "cursor=cD05OTk5OTk5OTk5OTk5OTk5OTk5OQ==",
        "workspace=abc",
    ],
)
def test_bad_list_parameters_are_400(client_as, running, query):
    take_look(running)

    response = client_as("viewer").get(f"{BASE}/{running.key}/analyses?{query}")

    assert_error(response, 400)


def test_another_workspaces_experiment_is_a_404_like_a_missing_one(client_as, theirs):
    take_look(theirs)
    for path in ("analysis", "analyses"):
        assert_error(client_as("owner").get(f"{BASE}/{theirs.key}/{path}"), 404)
        assert_error(client_as("owner").get(f"{BASE}/no-such/{path}"), 404)
    assert_error(client_as("owner").post(f"{BASE}/{theirs.key}/analysis", {}, format="json"), 404)
    assert ExperimentAnalysis.objects.filter(experiment=theirs).count() == 1


def test_a_repeated_request_with_an_idempotency_key_takes_one_look(client_as, running):
    client = client_as("editor")
    headers = {"HTTP_IDEMPOTENCY_KEY": "look-1"}

    first = client.post(f"{BASE}/{running.key}/analysis", {}, format="json", **headers)
    second = client.post(f"{BASE}/{running.key}/analysis", {}, format="json", **headers)

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert ExperimentAnalysis.objects.filter(experiment=running).count() == 1


def test_the_lists_read_a_fixed_number_of_queries(
    client_as, running, django_assert_max_num_queries
):
    for _ in range(12):
        take_look(running)
    client = client_as("viewer")

    with django_assert_max_num_queries(5):
        history = client.get(f"{BASE}/{running.key}/analyses")
    with django_assert_max_num_queries(5):
        latest = client.get(f"{BASE}/{running.key}/analysis")

    assert len(history.json()["results"]) == 12 and latest.status_code == 200


def test_the_design_answer_shows_both_sample_sizes(client_as, draft):
    body = client_as("viewer").get(f"{BASE}/{draft.key}").json()

    plan = body["power_plan"]
    assert plan["fixed_horizon_per_variant"] == body["sample_size_per_variant"]
    assert plan["sequential_per_variant"] > plan["fixed_horizon_per_variant"]
    assert plan["planned_exposures"] >= 2 * plan["sequential_per_variant"] - 1


GUARD = {"kind": "rate", "event": "unsubscribe", "window_days": 14}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"primary_metric": {**GUARD, "kind": "conversion", "tolerance": 0.1}}, "primary_metric"),
        ({"guardrail_metrics": [{**GUARD, "tolerance": -0.1}]}, "guardrail_metrics"),
        ({"guardrail_metrics": [{**GUARD, "tolerance": "0.1"}]}, "guardrail_metrics"),
        ({"guardrail_metrics": [{**GUARD, "tolerance": True}]}, "guardrail_metrics"),
        ({"guardrail_metrics": [{**GUARD, "higher_is_better": "maybe"}]}, "guardrail_metrics"),
        ({"guardrail_metrics": [{**GUARD, "custom_kind": "demo"}]}, "guardrail_metrics"),
        (
            {"primary_metric": {**GUARD, "event": "custom", "custom_kind": "Not A Slug"}},
            "primary_metric",
        ),
        (
            {"primary_metric": {**GUARD, "event": "custom", "custom_kind": "x" * 61}},
            "primary_metric",
        ),
    ],
    ids=repr,
)
def test_bad_metric_options_are_refused(client_as, cast, change, field):
    from tests.experiments.conftest import design

    response = client_as("editor").post(
        BASE, design(key="opts", workspace=cast.workspace.pk, **change), format="json"
    )

    error = assert_error(response, 400)
    assert field in error["fields"] or field in error["message"]
    assert not Experiment.objects.filter(key="opts").exists()


def test_metric_options_are_kept_and_used(client_as, cast):
    from tests.experiments.conftest import design

    guard = {**GUARD, "tolerance": 0.25, "higher_is_better": False}
    primary = {"kind": "conversion", "event": "custom", "custom_kind": "demo", "window_days": 7}
    response = client_as("editor").post(
        BASE,
        design(
            key="opts",
            workspace=cast.workspace.pk,
            primary_metric=primary,
            guardrail_metrics=[guard],
        ),
        format="json",
    )

    assert response.status_code == 201, response.content[:300]
    body = response.json()
    assert body["primary_metric"] == primary and body["guardrail_metrics"] == [guard]
