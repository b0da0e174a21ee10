"""The evals admin: the set page (cases by split, the per-version table with regressions
listed, the chart), its add-case and retire forms with their permission matrix, the read-only
run page, the promotion block's settings page, and the changelists' query counts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.evals import services
from apps.evals.models import EvalSet, EvalSettings
from tests.conftest import SYSTEM
from tests.evals.conftest import eval_set, post, prompt_versions, state

SETS = "/admin/evals/evalset"
RUNS = "/admin/evals/evalrun"
SETTINGS = "/admin/evals/evalsettings"
EDITORS = ("owner", "admin", "editor", "operator")
DENIED = ("reviewer", "auditor", "viewer", "team_viewer", "outsider")


@pytest.fixture
def world(cast: Any) -> Any:
    made = eval_set(cast, holdout=("d",))
    v1, v2 = prompt_versions(cast, 2)
    post(made, v1, dict.fromkeys("abcd", True))
    run = post(made, v2, {"a": True, "b": False, "c": False, "d": True})
    return made, run


def test_the_set_page_shows_cases_by_split_the_regressions_and_the_chart(client, cast, world):
    made, _ = world
    client.force_login(cast.user("viewer"))

    page = client.get(f"{SETS}/{made.pk}/change/")

    assert page.status_code == 200
    body = page.content.decode()
    dev = body.split('data-testid="eval-dev-cases"')[1].split("</table>")[0]
    holdout = body.split('data-testid="eval-holdout-cases"')[1].split("</table>")[0]
    assert "<code>a</code>" in dev and "<code>d</code>" not in dev
    assert "<code>d</code>" in holdout
    assert body.count('data-testid="eval-history-row"') == 2
    regressions = body.split('data-testid="eval-regressions"')[2].split("</td>")[0]
    assert "2 of 4" in regressions and "<code>b</code>" in regressions
    assert 'data-testid="eval-chart"' in body and "<svg" not in body.split("eval-chart")[1][:400]
    chart = json.loads(page.context["history_chart"])
    assert chart["datasets"][0]["data"] == [100.0, 50.0]
    assert 'data-testid="eval-set-actions"' not in body  # a viewer changes nothing


def test_the_run_page_lists_its_results_and_regressions(client, cast, world):
    _, run = world
    client.force_login(cast.user("auditor"))
    page = client.get(f"{RUNS}/{run.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="run-regressions"' in body and "Regressions: 2 (50%): b, c" in body
    assert body.count("FAIL") == 2


@pytest.mark.parametrize("who", [*EDITORS, *DENIED])
def test_adding_a_case_from_the_page(client, cast, world, who):
    made, _ = world
    client.force_login(cast.user(who))
    before = state()

    page = client.get(f"{SETS}/{made.pk}/add-case/")
    posted = client.post(
        f"{SETS}/{made.pk}/add-case/",
        {"key": "e", "split": "holdout", "input": '{"task": "new"}', "expected": "", "rubric": ""},
    )

    if who in EDITORS:
        assert page.status_code == 200 and posted.status_code == 302
        made.refresh_from_db()
        assert made.version == 3
        assert services.cases_at(made).get(key="e").split == "holdout"
    else:
        assert page.status_code in (302, 403, 404) and posted.status_code in (302, 403, 404)
        assert state() == before


@pytest.mark.parametrize("who", [*EDITORS, *DENIED])
def test_retiring_cases_from_the_page(client, cast, world, who):
    made, _ = world
    client.force_login(cast.user(who))
    before = state()

    posted = client.post(f"{SETS}/{made.pk}/retire/", {"keys": ["a", "b"], "reason": "stale"})

    if who in EDITORS:
        assert posted.status_code == 302
        assert sorted(services.cases_at(EvalSet.objects.get()).values_list("key", flat=True)) == [
            "c",
            "d",
        ]
    else:
        assert posted.status_code in (302, 403, 404)
        assert state() == before


def test_a_bad_case_form_shows_its_error_and_changes_nothing(client, cast, world):
    made, _ = world
    client.force_login(cast.user("editor"))
    before = state()
    page = client.post(f"{SETS}/{made.pk}/add-case/", {"key": "e", "input": "{not json"})
    assert page.status_code == 200 and b"Not valid JSON." in page.content
    assert state() == before


@pytest.mark.parametrize("who", ["owner", "admin", "editor", "reviewer", "viewer"])
def test_creating_a_set_in_the_admin(client, cast, who):
    client.force_login(cast.user(who))
    before = EvalSet.objects.count()
    response = client.post(
        f"{SETS}/add/", {"workspace": cast.workspace.pk, "key": "new", "name": "New"}
    )
    created = EvalSet.objects.count() - before
    if who in ("owner", "admin", "editor"):
        assert response.status_code == 302 and created == 1
    else:
        assert response.status_code == 403 and created == 0


@pytest.mark.parametrize("who", ["owner", "admin", "editor", "reviewer", "auditor", "viewer"])
def test_the_promotion_block_page_is_for_owners_and_admins(client, cast, who):
    settings = services.eval_settings_for(cast.workspace.pk)
    client.force_login(cast.user(who))
    marks = AuditEvent.objects.count()

    response = client.post(
        f"{SETTINGS}/{settings.pk}/change/",
        {"block_promotion": "on", "max_regression_rate": "0.1", "max_success_drop": "0.05"},
    )

    settings.refresh_from_db()
    if who in ("owner", "admin"):
        assert response.status_code == 302
        assert settings.block_promotion and settings.max_regression_rate == 0.1
        assert AuditEvent.objects.filter(action="evals.settings_update").count() == 1
    else:
        assert response.status_code in (302, 403)
        assert not settings.block_promotion and AuditEvent.objects.count() == marks


def test_the_promotion_block_is_added_for_a_workspace(client, cast):
    client.force_login(cast.user("owner"))
    response = client.post(
        f"{SETTINGS}/add/",
        {"workspace": cast.workspace.pk, "max_regression_rate": "0", "max_success_drop": "0.1"},
    )
    assert response.status_code == 302
    assert EvalSettings.objects.get(workspace=cast.workspace).max_success_drop == 0.1


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_changelists_read_a_fixed_number_of_queries(client, cast, world):
    _, run = world
    client.force_login(cast.user("viewer"))
    client.get(f"{SETS}/")
    few_sets, few_runs = _queries(client, f"{SETS}/"), _queries(client, f"{RUNS}/")
    for i in range(8):
        other = services.eval_set_create(
            actor=SYSTEM, workspace=cast.workspace, key=f"set-{i}", name="S"
        )
        services.eval_cases_add(actor=SYSTEM, eval_set=other, cases=[{"key": "a", "input": {}}])
        post(other, run.artifact_version, {"a": i % 2 == 0})
    assert _queries(client, f"{SETS}/") == few_sets
    assert _queries(client, f"{RUNS}/") == few_runs
    assert few_sets <= 14 and few_runs <= 14


def test_the_api_lists_read_a_fixed_number_of_queries(
    client_as, cast, world, django_assert_num_queries
):
    made, run = world
    client = client_as("viewer")
    counts = {}
    for url in ("/api/v1/eval-sets", "/api/v1/eval-runs", f"/api/v1/eval-sets/{made.pk}/cases"):
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        counts[url] = len(captured)
    for i in range(6):
        post(made, run.artifact_version, {"a": True})
        other = services.eval_set_create(
            actor=SYSTEM, workspace=cast.workspace, key=f"s{i}", name="S"
        )
        services.eval_cases_add(
            actor=SYSTEM, eval_set=made, cases=[{"key": f"more-{i}", "input": {}}]
        )
        del other
    for url, count in counts.items():
        with django_assert_num_queries(count):
            assert client.get(url).status_code == 200
