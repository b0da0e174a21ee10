"""Permission matrix for every evals endpoint, every member of the shared cast: members read,
editors define sets and post runs, a harness token (policies:propose) posts runs, owners and
admins change the promotion block. Refused requests change nothing; another workspace's set
or run is a 404 like a missing one."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.evals.models import EvalRun, EvalSettings
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
from tests.evals.conftest import eval_set, post, prompt_versions, state

SETS = "/api/v1/eval-sets"
RUNS = "/api/v1/eval-runs"
MEMBERS = ("owner", "admin", *READERS, "operator")
HIDDEN = (*TEAM, *OUTSIDE)
WRITERS = ("owner", "admin", "editor", "operator")


@pytest.fixture
def world(cast: Any) -> Any:
    made = eval_set(cast, holdout=("d",))
    v1, v2 = prompt_versions(cast, 2)
    run = post(made, v1, {"a": True, "b": True})
    return made, v1, v2, run


def rows(response: Any) -> list[Any]:
    body = response.json()
    return list(body["results"] if isinstance(body, dict) else body)


@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(200, *MEMBERS, *HIDDEN), agent=200, other_agent=200)
)
def test_list_sets(client_as, world, who, status):
    response = client_as(who).get(SETS)

    assert response.status_code == status
    if status == 200:
        sees = who in (*MEMBERS, "agent")
        assert [row["key"] for row in rows(response)] == (["smoke"] if sees else [])


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MEMBERS), **each(404, *HIDDEN), agent=200, other_agent=404),
)
def test_read_cases_dev_and_holdout(client_as, world, who, status):
    made = world[0]
    response = client_as(who).get(f"{SETS}/{made.pk}/cases")

    assert response.status_code == status
    if status == 200:
        splits = {row["key"]: row["split"] for row in rows(response)}
        assert splits == {"a": "dev", "b": "dev", "c": "dev", "d": "holdout"}
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *WRITERS),
        **each(403, "reviewer", "auditor", "viewer", *TEAM),
        **each(400, *OUTSIDE),
    ),
)
def test_create_set(client_as, cast, world, who, status):
    before = state()
    mark = audit_mark()

    response = client_as(who).post(
        SETS, {"workspace": cast.workspace.pk, "key": "new", "name": "New"}, format="json"
    )

    assert response.status_code == status, response.content
    if status == 201:
        assert [e.action for e in audit_since(mark)] == ["evals.set_create"]
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *WRITERS), **each(403, "reviewer", "auditor", "viewer"), **each(404, *HIDDEN)
    ),
)
def test_add_cases(client_as, world, who, status):
    made = world[0]
    before = state()

    response = client_as(who).post(
        f"{SETS}/{made.pk}/cases", {"cases": [{"key": "e", "input": {"t": 1}}]}, format="json"
    )

    assert response.status_code == status, response.content
    if status == 200:
        assert response.json()["version"] == 3
    else:
        assert_error(response, status)
        assert state() == before


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *WRITERS), **each(403, "reviewer", "auditor", "viewer"), **each(404, *HIDDEN)
    ),
)
def test_retire_cases(client_as, world, who, status):
    made = world[0]
    before = state()

    response = client_as(who).post(f"{SETS}/{made.pk}/retire", {"keys": ["a"]}, format="json")

    assert response.status_code == status, response.content
    if status != 200:
        assert_error(response, status)
        assert state() == before


def run_body(world: Any) -> dict[str, Any]:
    made, _, v2, _ = world
    return {
        "eval_set": made.pk,
        "artifact_version": v2.pk,
        "results": [
            {"case": "a", "passed": True, "score": 1},
            {"case": "b", "passed": False, "score": 0.2},
        ],
    }


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(201, *WRITERS), **each(403, "reviewer", "auditor", "viewer"), **each(400, *HIDDEN)
    ),
)
def test_post_run(client_as, world, who, status):
    before = state()

    response = client_as(who).post(RUNS, run_body(world), format="json")

    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["passed_count"] == 1
    else:
        assert_error(response, status)
        assert state() == before


def test_a_harness_token_posts_runs_of_its_own_workspace_only(harness, world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {harness.harness_secret}")
    response = client.post(RUNS, run_body(world), format="json")
    assert response.status_code == 201, response.content
    run = EvalRun.objects.get(pk=response.json()["id"])
    assert run.posted_by_agent == harness.agent and run.posted_label

    from apps.evals import services as evals
    from tests.conftest import SYSTEM

    theirs = evals.eval_set_create(
        actor=SYSTEM, workspace=harness.other_workspace, key="theirs", name="T"
    )
    before = state()
    refused = client.post(RUNS, {**run_body(world), "eval_set": theirs.pk}, format="json")
    assert_error(refused, 400)
    assert state() == before


@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(200, *MEMBERS, *HIDDEN), agent=200, other_agent=200)
)
def test_list_runs(client_as, world, who, status):
    response = client_as(who).get(RUNS)

    assert response.status_code == status
    if status == 200:
        assert len(rows(response)) == (1 if who in (*MEMBERS, "agent") else 0)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MEMBERS), **each(404, *HIDDEN), agent=200, other_agent=404),
)
def test_retrieve_run_with_its_comparison(client_as, world, who, status):
    made, _, v2, first = world
    run = post(made, v2, {"a": False, "b": True})

    response = client_as(who).get(f"{RUNS}/{run.pk}")

    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["previous_run"] == first.pk
        assert body["regressed_cases"] == ["a"] and body["regression_rate"] == 0.5
        assert [r["case"] for r in body["results"]] == ["a", "b"]
    else:
        assert_error(response, status)


MANAGERS = ("owner", "admin", "operator")
SETTINGS = "/api/v1/eval-settings"


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(200, *MEMBERS, *TEAM), **each(400, *OUTSIDE)),
)
def test_read_settings(client_as, cast, who, status):
    response = client_as(who).get(f"{SETTINGS}?workspace={cast.workspace.pk}")

    assert response.status_code == status
    if status == 200:
        assert response.json()["block_promotion"] is False
    else:
        assert_error(response, status)


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(
        **each(200, *MANAGERS),
        **each(403, *READERS, "team_admin", "team_viewer"),
        **each(400, *OUTSIDE),
    ),
)
def test_change_settings(client_as, cast, who, status):
    before = state()
    mark = audit_mark()

    response = client_as(who).patch(
        SETTINGS,
        {"workspace": cast.workspace.pk, "block_promotion": True, "max_regression_rate": 0.05},
        format="json",
    )

    assert response.status_code == status, response.content
    if status == 200:
        saved = EvalSettings.objects.get(workspace=cast.workspace)
        assert saved.block_promotion and saved.max_regression_rate == 0.05
        assert [e.action for e in audit_since(mark)] == ["evals.settings_update"]
    else:
        assert_error(response, status)
        assert state() == before
