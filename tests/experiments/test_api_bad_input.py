"""Bad input to the experiments API is a clear 400 naming the field (or a 404 for what the
caller can't see), never a 500, and changes nothing: wrong types, unknown fields, a broken
design, malformed or oversize assignment requests, an ambiguous key. Repeated writes with an
Idempotency-Key happen once; repeated assignments are sticky by design."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.experiments import services
from apps.experiments.models import Experiment, Exposure
from tests.api_helpers import assert_error
from tests.experiments.conftest import design, make, state

BASE = "/api/v1/experiments"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key": "Has Spaces"}, "key"),
        ({"key": 5}, "key"),
        ({"name": ""}, "name"),
        ({"hypothesis": "a\x00b"}, "hypothesis"),
        ({"hypothesis": "x" * 10_001}, "hypothesis"),
        ({"unit_kind": "lead"}, "unit_kind"),
        ({"variants": "control"}, "variants"),
        ({"variants": [{"key": "only", "is_control": True}]}, "variants"),
        ({"variants": [{"key": "a", "is_control": True}, {"key": "b", "weight": "2"}]}, "variants"),
        ({"variants": [{"key": "a", "is_control": True}, {"key": "b", "config": []}]}, "variants"),
        ({"variants": [{"key": "a"}, {"key": "b"}]}, "variants"),
        ({"eligibility": {"teams": ["sales"]}}, "eligibility"),
        ({"eligibility": {"agents": [10**9]}}, "eligibility"),
        ({"primary_metric": {"kind": "conversion"}}, "primary_metric"),
        ({"primary_metric": {"kind": "conversion", "event": "reply", "days": 3}}, "primary_metric"),
        ({"guardrail_metrics": {"kind": "rate"}}, "guardrail_metrics"),
        ({"baseline_rate": "5%"}, "baseline_rate"),
        ({"baseline_rate": 0}, "baseline_rate"),
        ({"minimum_detectable_effect": 0.99}, "minimum_detectable_effect"),
        ({"alpha": 0.7}, "alpha"),
        ({"power": 1.5}, "power"),
        ({"exposure_cap": -1}, "exposure_cap"),
        ({"exposure_cap": True}, "exposure_cap"),
        ({"owner": 10**9}, "owner"),
        ({"workspace": "acme"}, "workspace"),
        ({"workspace": 10**9}, "workspace"),
        ({"status": "running"}, "status"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_designs(client_as, cast, change, field):
    body = {**design(key="bad", workspace=cast.workspace.pk), **change}

    response = client_as("editor").post(BASE, body, format="json")

    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert not Experiment.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"key": '])
def test_malformed_bodies(client_as, draft, body):
    for path in (BASE, f"{BASE}/{draft.key}/assign", f"{BASE}/{draft.key}/start"):
        response = client_as("owner").post(path, body, content_type="application/json")
        assert_error(response, 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "unit_id"),
        ({"unit_id": ""}, "unit_id"),
        ({"unit_id": "   "}, "unit_id"),
        ({"unit_id": 42}, "unit_id"),
        ({"unit_id": None}, "unit_id"),
        ({"unit_id": "x" * 256}, "unit_id"),
        ({"unit_id": "a", "team": "sales"}, "team"),
        ({"unit_id": "a", "channel": 3}, "channel"),
        ({"unit_id": "a", "unit_ids": ["b"]}, "unit_ids"),
    ],
)
def test_bad_assignments(client_as, running, body, field):
    response = client_as("agent").post(f"{BASE}/{running.key}/assign", body, format="json")

    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert not Exposure.objects.exists()


@pytest.mark.parametrize(
    "unit_ids",
    [[], "a,b", [1, 2], ["a", ""], ["a", None], ["x" * 256], ["u"] * (services.MAX_BULK + 1)],
)
def test_bad_bulk_assignments(client_as, running, unit_ids):
    response = client_as("agent").post(
        f"{BASE}/{running.key}/assign-bulk", {"unit_ids": unit_ids}, format="json"
    )

    error = assert_error(response, 400)
    assert "unit_ids" in error["fields"], error
    assert not Exposure.objects.exists()


def test_unknown_keys_and_other_workspaces_look_the_same(client_as, theirs):
    for path in (f"{BASE}/no-such", f"{BASE}/{theirs.key}"):
        assert_error(client_as("owner").get(path), 404)
        response = client_as("agent").post(f"{path}/assign", {"unit_id": "a"}, format="json")
        assert_error(response, 404)
    assert not Exposure.objects.exists()


def test_a_key_in_two_of_my_workspaces_needs_the_workspace(client_as, cast):
    from tests.workspaces.factories import MembershipFactory

    ours = make(cast.workspace, "shared-key")
    make(cast.other_workspace, "shared-key")
    MembershipFactory(user=cast.user("editor"), workspace=cast.other_workspace, role="viewer")
    client = client_as("editor")

    ambiguous = client.get(f"{BASE}/shared-key")
    named = client.get(f"{BASE}/shared-key?workspace={cast.workspace.pk}")
    malformed = client.get(f"{BASE}/shared-key?workspace=acme")

    assert "workspace" in assert_error(ambiguous, 400)["fields"]
    assert named.status_code == 200 and named.json()["id"] == ours.pk
    assert_error(malformed, 400)


def test_a_started_design_is_fixed_and_empty_changes_are_refused(client_as, draft, running):
    before = state(running)

    fixed = client_as("owner").patch(f"{BASE}/{running.key}", {"exposure_cap": 5}, format="json")
    empty = client_as("owner").patch(f"{BASE}/{draft.key}", {}, format="json")
    key = client_as("owner").patch(f"{BASE}/{draft.key}", {"key": "renamed"}, format="json")

    assert_error(fixed, 409)
    assert_error(empty, 400)
    assert "key" in assert_error(key, 400)["fields"]
    assert state(running) == before


def test_a_repeated_start_with_its_idempotency_key_happens_once(client_as, draft):
    client = client_as("admin")
    headers = {"HTTP_IDEMPOTENCY_KEY": "start-draft-one"}

    first = client.post(f"{BASE}/{draft.key}/start", {"reason": "go"}, format="json", **headers)
    again = client.post(f"{BASE}/{draft.key}/start", {"reason": "go"}, format="json", **headers)
    plain = client.post(f"{BASE}/{draft.key}/start", {"reason": "go"}, format="json")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert_error(plain, 409)


def test_the_list_reads_a_fixed_number_of_queries(client_as, cast, django_assert_max_num_queries):
    for i in range(12):
        make(cast.workspace, f"many-{i}")
    client = client_as("viewer")

    with django_assert_max_num_queries(6):
        response = client.get(BASE)

    assert response.status_code == 200
    assert len(response.json()["results"]) == 12


def test_one_assignment_reads_and_writes_a_handful_of_statements(client_as, running):
    client = client_as("agent")
    client.post(f"{BASE}/{running.key}/assign", {"unit_id": "warm"}, format="json")

    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"{BASE}/{running.key}/assign", {"unit_id": "new"}, format="json")

    assert response.json()["new_exposure"] is True
    statements = [q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) <= 8, [q["sql"][:80] for q in statements]
