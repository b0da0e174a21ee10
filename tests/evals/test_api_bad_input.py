"""Bad input on the evals API: wrong types, unknown ids and cases, cases of another set or
retired, duplicates, too many, other workspaces' ids, repeated requests (Idempotency-Key).
Every refusal is the one error shape and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from apps.evals import services
from apps.evals.models import EvalRun
from apps.policies import services as policies
from tests.api_helpers import assert_error
from tests.conftest import SYSTEM
from tests.evals.conftest import eval_set, prompt_versions, state
from tests.policies.conftest import version

RUNS = "/api/v1/eval-runs"
SETS = "/api/v1/eval-sets"


@pytest.fixture
def world(cast: Any) -> Any:
    made = eval_set(cast)
    services.eval_cases_retire(actor=SYSTEM, eval_set=made, keys=["d"])
    other = services.eval_set_create(actor=SYSTEM, workspace=cast.workspace, key="other", name="O")
    services.eval_cases_add(actor=SYSTEM, eval_set=other, cases=[{"key": "z", "input": {}}])
    v1 = prompt_versions(cast, 1)[0]
    return made, v1


def result(case: str = "a", **extra: Any) -> dict[str, Any]:
    return {"case": case, "passed": True, "score": 1.0, **extra}


def body(world: Any, **extra: Any) -> dict[str, Any]:
    made, v1 = world
    return {"eval_set": made.pk, "artifact_version": v1.pk, "results": [result()], **extra}


def foreign_version(cast: Any) -> int:
    made = policies.policy_artifact_create(
        actor=SYSTEM, workspace=cast.other_workspace, kind="prompt", name="theirs"
    )
    return version(made, "Theirs.").pk


BAD_RUNS = {
    "unknown-case": ({"results": [result("nope")]}, "results.case"),
    "retired-case": ({"results": [result("d")]}, "results.case"),
    "other-set-case": ({"results": [result("z")]}, "results.case"),
    "duplicate-case": ({"results": [result("a"), result("a")]}, "results.case"),
    "no-results": ({"results": []}, "results"),
    "score-over-1": ({"results": [result(score=1.5)]}, "results"),
    "score-string": ({"results": [result(score="1")]}, "results"),
    "passed-string": ({"results": [result(passed="yes")]}, "results"),
    "passed-int": ({"results": [result(passed=1)]}, "results"),
    "negative-cost": ({"results": [result(cost=-1)]}, "results"),
    "latency-float": ({"results": [result(latency_ms=1.5)]}, "results"),
    "notes-int": ({"results": [result(notes=3)]}, "results"),
    "unknown-field": ({"results": [result(grade="A")]}, "results"),
    "set-version-0": ({"set_version": 0}, "set_version"),
    "set-version-future": ({"set_version": 99}, "set_version"),
    "set-string": ({"eval_set": "1"}, "eval_set"),
    "unknown-set": ({"eval_set": 999_999}, "eval_set"),
    "unknown-version": ({"artifact_version": 999_999}, "artifact_version"),
    "results-not-list": ({"results": {"case": "a"}}, "results"),
}


@pytest.mark.parametrize("case", BAD_RUNS, ids=list(BAD_RUNS))
def test_bad_runs_are_refused_and_change_nothing(client_as, world, case):
    change, field = BAD_RUNS[case]
    before = state()

    response = client_as("editor").post(RUNS, body(world, **change), format="json")

    error = assert_error(response, 400)
    assert any(name.startswith(field) for name in error["fields"]), error
    assert state() == before


def test_too_many_results_are_refused(client_as, world):
    many = [result(f"c{i}") for i in range(services.MAX_RESULTS_PER_RUN + 1)]
    before = state()
    response = client_as("editor").post(RUNS, body(world, results=many), format="json")
    assert_error(response, 400)
    assert state() == before


def test_a_version_of_another_workspace_is_refused(client_as, cast, world):
    theirs = foreign_version(cast)
    before = state()
    response = client_as("editor").post(RUNS, body(world, artifact_version=theirs), format="json")
    assert_error(response, 400)
    assert state() == before


def test_a_repeated_post_with_an_idempotency_key_records_one_run(client_as, world):
    client = client_as("editor")
    first = client.post(RUNS, body(world), format="json", HTTP_IDEMPOTENCY_KEY="ci-build-17")
    again = client.post(RUNS, body(world), format="json", HTTP_IDEMPOTENCY_KEY="ci-build-17")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert EvalRun.objects.count() == 1


BAD_CASES = {
    "no-cases": ({"cases": []}, "cases"),
    "key-not-slug": ({"cases": [{"key": "Not a slug", "input": {}}]}, "cases"),
    "no-input": ({"cases": [{"key": "x"}]}, "cases"),
    "split-unknown": ({"cases": [{"key": "x", "input": {}, "split": "test"}]}, "cases"),
    "share-over-1": ({"cases": [{"key": "x", "input": {}}], "holdout_share": 2}, "holdout_share"),
    "duplicate-keys": ({"cases": [{"key": "x", "input": {}}, {"key": "x", "input": {}}]}, "cases"),
    "trace-string": ({"cases": [{"key": "x", "trace": "1"}]}, "cases"),
    "unknown-trace": ({"cases": [{"key": "x", "trace": 999_999}]}, "cases"),
    "rubric-int": ({"cases": [{"key": "x", "input": {}, "rubric": 5}]}, "cases"),
    "too-many": (
        {
            "cases": [
                {"key": f"k{i}", "input": {}} for i in range(services.MAX_CASES_PER_CHANGE + 1)
            ]
        },
        "cases",
    ),
    "oversize-input": ({"cases": [{"key": "x", "input": {"t": "a" * 30_000}}]}, "input"),
}


@pytest.mark.parametrize("case", BAD_CASES, ids=list(BAD_CASES))
def test_bad_cases_are_refused_and_change_nothing(client_as, world, case):
    change, field = BAD_CASES[case]
    made = world[0]
    before = state()

    response = client_as("editor").post(f"{SETS}/{made.pk}/cases", change, format="json")

    error = assert_error(response, 400)
    assert any(name.startswith(field) for name in error["fields"]), error
    assert state() == before


def test_a_current_key_is_a_conflict(client_as, world):
    made = world[0]
    before = state()
    response = client_as("editor").post(
        f"{SETS}/{made.pk}/cases", {"cases": [{"key": "a", "input": {}}]}, format="json"
    )
    assert_error(response, 409)
    assert state() == before


@pytest.mark.parametrize(
    "change",
    [{"keys": ["nope"]}, {"keys": []}, {"keys": ["a", "a"]}, {"keys": "a"}, {"keys": ["d"]}],
    ids=["unknown", "empty", "twice", "not-a-list", "already-retired"],
)
def test_bad_retirements_are_refused(client_as, world, change):
    made = world[0]
    before = state()
    response = client_as("editor").post(f"{SETS}/{made.pk}/retire", change, format="json")
    assert_error(response, 400)
    assert state() == before


WS = "our workspace"
BAD_SETTINGS = {
    "only-workspace": {"workspace": WS},
    "flag-string": {"workspace": WS, "block_promotion": "yes"},
    "rate-over-1": {"workspace": WS, "max_regression_rate": 1.5},
    "drop-string": {"workspace": WS, "max_success_drop": "0.1"},
    "unknown-field": {"workspace": WS, "threshold": 0.1},
    "workspace-string": {"workspace": "1", "block_promotion": True},
    "unknown-workspace": {"workspace": 999_999, "block_promotion": True},
    "no-workspace": {"block_promotion": True},
}


@pytest.mark.parametrize("case", BAD_SETTINGS, ids=list(BAD_SETTINGS))
def test_bad_settings_are_refused(client_as, cast, case):
    change = {k: cast.workspace.pk if v == WS else v for k, v in BAD_SETTINGS[case].items()}
    before = state()
    response = client_as("owner").patch("/api/v1/eval-settings", change, format="json")
    assert_error(response, 400)
    assert state() == before


@pytest.mark.parametrize(
    ("query", "status"),
    [("version=0", 404), ("version=99", 404), ("version=x", 400), ("split=test", 400)],
    ids=lambda q: str(q),
)
def test_bad_case_queries_are_refused(client_as, world, query, status):
    made = world[0]
    assert_error(client_as("viewer").get(f"{SETS}/{made.pk}/cases?{query}"), status)


def test_an_older_version_s_cases_are_listed(client_as, world):
    made = world[0]
    response = client_as("viewer").get(f"{SETS}/{made.pk}/cases?version=2")
    assert {row["key"] for row in response.json()["results"]} == {"a", "b", "c", "d"}
