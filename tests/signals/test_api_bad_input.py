"""Bad input to the signals API is a clear 400 naming the field, never a 500, and stores nothing:
wrong types, unknown fields, missing requirements, out-of-range numbers, malformed batches."""

from __future__ import annotations

import pytest

from apps.signals.models import Feedback, Outcome, Trace
from tests.api_helpers import assert_error
from tests.signals.conftest import outcome_item, stored_trace, trace_item


def counts() -> tuple[int, int, int]:
    return Trace.objects.count(), Feedback.objects.count(), Outcome.objects.count()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"task": ""}, "task"),
        ({"task": 5}, "task"),
        ({"task": "a\x00b"}, "task"),
        ({"status": "lost"}, "status"),
        ({"tokens_in": -1}, "tokens_in"),
        ({"tokens_in": "5"}, "tokens_in"),
        ({"cost": -0.5}, "cost"),
        ({"cost": 1e12}, "cost"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": None}, "started_at"),
        ({"ended_at": "2000-01-01T00:00:00Z"}, "ended_at"),
        ({"steps": {"not": "a list"}}, "steps"),
        ({"model_name": "gpt 4"}, "model_name"),
        ({"task_kind": "Follow up"}, "task_kind"),
        ({"task_kind": "x" * 61}, "task_kind"),
        ({"task_kind": 3}, "task_kind"),
        ({"experiment_assignments": ["a"]}, "experiment_assignments"),
        ({"policy_versions": "1"}, "policy_versions"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_traces(client_as, change, field):
    response = client_as("agent").post("/api/v1/traces", trace_item(**change), format="json")

    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "5"}, "rating"),
        ({"thumbs": "sideways"}, "thumbs"),
        ({"thumbs": True}, "thumbs"),
        ({"kind": "oracle"}, "kind"),
        ({"trace": "1"}, "trace"),
        ({"explanation": 7}, "explanation"),
        ({"given_by": 1}, "given_by"),
    ],
)
def test_bad_feedback(cast, client_as, change, field):
    trace = stored_trace(cast.agent)
    body = {"trace": trace.pk, "thumbs": "up", **change}

    error = assert_error(client_as("agent").post("/api/v1/feedback", body, format="json"), 400)

    assert field in error["fields"], error
    assert Feedback.objects.count() == 0


def test_feedback_with_nothing_to_say_is_refused(cast, client_as):
    trace = stored_trace(cast.agent)

    response = client_as("agent").post("/api/v1/feedback", {"trace": trace.pk}, format="json")

    assert_error(response, 400)
    assert Feedback.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "é"}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"kind": "sale"}, "kind"),
        ({"occurred_at": "soon"}, "occurred_at"),
        ({"kind": "spend", "amount": 5}, "currency"),
        ({"kind": "spend", "amount": "a lot", "currency": "EUR"}, "amount"),
        ({"kind": "spend", "amount": 1e20, "currency": "EUR"}, "amount"),
        ({"kind": "stage_move", "to_stage": "Won Deal!"}, "to_stage"),
        ({"kind": "custom", "custom_kind": "jane@example.com"}, "custom_kind"),
        ({"contact": 42}, "contact"),
    ],
)
def test_bad_outcomes(cast, client_as, change, field):
    body = {**outcome_item("k", account="acme-1"), **change}

    error = assert_error(client_as("agent").post("/api/v1/outcomes", body, format="json"), 400)

    assert field in error["fields"], error
    assert Outcome.objects.count() == 0


def test_an_outcome_about_nobody_is_refused(client_as):
    response = client_as("agent").post("/api/v1/outcomes", outcome_item("k"), format="json")

    error = assert_error(response, 400)
    assert "trace" in error["fields"]


@pytest.mark.parametrize("kind", ["traces", "feedback", "outcomes"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"items": "all of them"}, "items"),
        ({"items": [1, 2]}, "items"),
        ({}, "items"),
        ({"items": [{}] * 1001}, "items"),
        ({"items": [{}], "extra": True}, "extra"),
    ],
)
def test_unusable_batches_are_one_400(client_as, kind, body, field):
    response = client_as("agent").post(f"/api/v1/{kind}/batch", body, format="json")

    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert counts() == (0, 0, 0)


def test_malformed_json_is_a_400(client_as):
    response = client_as("agent").post(
        "/api/v1/outcomes/batch", data="{not json", content_type="application/json"
    )

    assert_error(response, 400)


def test_a_person_must_name_a_workspace_they_may_write(cast, client_as):
    trace = stored_trace(cast.agent)
    body = {"trace": trace.pk, "thumbs": "up"}

    assert (
        "workspace"
        in assert_error(client_as("editor").post("/api/v1/feedback", body, format="json"), 400)[
            "fields"
        ]
    )
    assert_error(
        client_as("editor").post(
            "/api/v1/feedback", {**body, "workspace": cast.other_workspace.pk}, format="json"
        ),
        404,
    )
    assert Feedback.objects.count() == 0


def test_an_agent_names_no_other_workspace(cast, client_as):
    body = {"items": [outcome_item("k", account="a")], "workspace": cast.other_workspace.pk}

    error = assert_error(
        client_as("agent").post("/api/v1/outcomes/batch", body, format="json"), 400
    )

    assert "workspace" in error["fields"]
    assert Outcome.objects.count() == 0
