"""The regression computation on constructed runs: cases that passed on the previous version's
latest run of the same set and fail now."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.evals import selectors
from tests.evals.conftest import eval_set, post, prompt_versions
from tests.policies.conftest import artifact, version


def test_regressions_are_the_cases_that_passed_before_and_fail_now(cast: Any) -> None:
    made = eval_set(cast)
    v1, v2 = prompt_versions(cast, 2)
    post(made, v1, {"a": True, "b": True, "c": True, "d": False})
    run = post(made, v2, {"a": True, "b": False, "c": False, "d": True})
    found = selectors.run_comparison(run)
    assert [case.key for case in found.regressed] == ["b", "c"]
    assert found.previously_passing == 3
    assert found.regression_rate == pytest.approx(2 / 3)
    assert found.success_rate == 0.5
    assert found.success_drop == pytest.approx(0.25)
    assert float(found.cost_per_task) == pytest.approx(0.01)
    assert found.latency_per_task == 100


def test_the_latest_run_of_the_previous_version_counts(cast: Any) -> None:
    made = eval_set(cast)
    v1, v2 = prompt_versions(cast, 2)
    post(made, v1, {"a": False, "b": False})
    latest_v1 = post(made, v1, {"a": True, "b": True})
    run = post(made, v2, {"a": False, "b": True})
    found = selectors.run_comparison(run)
    assert found.previous == latest_v1
    assert [case.key for case in found.regressed] == ["a"]


def test_the_previous_version_is_the_nearest_earlier_one_with_a_run(cast: Any) -> None:
    made = eval_set(cast)
    v1, v2 = prompt_versions(cast, 2)
    v3 = version(v1.artifact, "Write version 3.")
    first = post(made, v1, {"a": True})
    run = post(made, v3, {"a": False})  # v2 has no run
    assert selectors.run_comparison(run).previous == first
    assert selectors.previous_run(post(made, v2, {"a": True})) == first


def test_no_previous_run_no_regression_rate(cast: Any) -> None:
    made = eval_set(cast)
    v1 = prompt_versions(cast, 1)[0]
    found = selectors.run_comparison(post(made, v1, {"a": False}))
    assert found.previous is None and found.regression_rate is None and found.success_drop is None


def test_cases_missing_from_the_new_run_are_not_regressions(cast: Any) -> None:
    made = eval_set(cast)
    v1, v2 = prompt_versions(cast, 2)
    post(made, v1, {"a": True, "b": True})
    found = selectors.run_comparison(post(made, v2, {"a": True}))
    assert found.regressed == [] and found.previously_passing == 1 and found.regression_rate == 0


def test_runs_of_another_set_or_artifact_are_not_compared(cast: Any) -> None:
    made = eval_set(cast)
    _, v2 = prompt_versions(cast, 2)
    other_art_version = version(artifact(cast, name="other"), "x")
    post(made, other_art_version, {"a": True})
    assert selectors.run_comparison(post(made, v2, {"a": False})).previous is None


def test_the_history_and_its_chart_follow_the_versions(cast: Any) -> None:
    made = eval_set(cast)
    v1, v2 = prompt_versions(cast, 2)
    post(made, v1, {"a": True, "b": True})
    post(made, v2, {"a": True, "b": False})
    history = selectors.set_history(made)
    assert [c.run.artifact_version for c in history] == [v1, v2]
    chart = json.loads(selectors.history_chart(history))
    assert chart["labels"] == ["outreach v1", "outreach v2"]
    assert chart["datasets"][0]["data"] == [100.0, 50.0]
    assert chart["datasets"][1]["data"] == [None, 50.0]
