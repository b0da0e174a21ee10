"""Eval sets and runs through their services: versions, splits, cases from traces, audit."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.evals import services
from apps.evals.models import EvalCase, Split
from tests.conftest import SYSTEM
from tests.evals.conftest import eval_set, post, prompt_versions
from tests.signals.conftest import EMAIL, stored_trace


def test_each_change_of_the_cases_is_a_new_version_and_old_versions_stay_readable(
    cast: Any,
) -> None:
    made = eval_set(cast)
    assert made.version == 2
    services.eval_cases_retire(actor=cast.user("editor"), eval_set=made, keys=["b"])
    services.eval_cases_add(
        actor=cast.user("editor"), eval_set=made, cases=[{"key": "b", "input": {"task": "new b"}}]
    )
    made.refresh_from_db()
    assert made.version == 4
    assert sorted(services.cases_at(made, 2).values_list("key", flat=True)) == ["a", "b", "c", "d"]
    assert sorted(services.cases_at(made, 3).values_list("key", flat=True)) == ["a", "c", "d"]
    now_b = services.cases_at(made).get(key="b")
    assert now_b.input == {"task": "new b"} and now_b.added_in == 4
    old_b = EvalCase.objects.get(eval_set=made, key="b", added_in=2)
    assert old_b.input == {"task": "task b"} and old_b.retired_in == 3
    actions = list(
        AuditEvent.objects.filter(object_type="evals.evalset").values_list("action", flat=True)
    )
    assert actions.count("evals.cases_add") == 2 and actions.count("evals.cases_retire") == 1


def test_a_current_key_is_not_added_twice_and_nothing_changes(cast: Any) -> None:
    made = eval_set(cast)
    with pytest.raises(Conflict):
        services.eval_cases_add(actor=SYSTEM, eval_set=made, cases=[{"key": "a", "input": {}}])
    made.refresh_from_db()
    assert made.version == 2 and EvalCase.objects.count() == 4


def test_the_drawn_split_is_deterministic_and_follows_the_share(cast: Any) -> None:
    made = services.eval_set_create(actor=SYSTEM, workspace=cast.workspace, key="s", name="S")
    cases = [{"key": f"case-{i}", "input": {"i": i}} for i in range(200)]
    services.eval_cases_add(actor=SYSTEM, eval_set=made, cases=cases, holdout_share=0.25)
    held = set(
        EvalCase.objects.filter(eval_set=made, split=Split.HOLDOUT).values_list("key", flat=True)
    )
    assert held == {c["key"] for c in cases if services.holdout_by_share(made.pk, c["key"], 0.25)}
    assert 25 <= len(held) <= 75  # a hash split of 200 at 25%: far from 0 and from all
    assert not any(services.holdout_by_share(made.pk, f"k{i}", 0.0) for i in range(50))
    assert all(services.holdout_by_share(made.pk, f"k{i}", 1.0) for i in range(50))


def test_a_case_given_its_split_keeps_it_whatever_the_share(cast: Any) -> None:
    made = services.eval_set_create(actor=SYSTEM, workspace=cast.workspace, key="s", name="S")
    services.eval_cases_add(
        actor=SYSTEM,
        eval_set=made,
        cases=[{"key": "x", "input": {}, "split": "dev"}],
        holdout_share=1.0,
    )
    assert EvalCase.objects.get(key="x").split == Split.DEV


def test_a_case_made_from_a_trace_takes_its_masked_task_and_output(cast: Any) -> None:
    trace = stored_trace(cast.agent, task=f"Reply to {EMAIL} about pricing", output="Thanks!")
    made = services.eval_set_create(actor=SYSTEM, workspace=cast.workspace, key="s", name="S")
    services.eval_cases_add(
        actor=SYSTEM, eval_set=made, cases=[{"key": "t", "trace": trace.pk, "split": "holdout"}]
    )
    case = EvalCase.objects.get(key="t")
    assert case.source_trace_id == trace.pk
    assert EMAIL not in str(case.input) and "pricing" in case.input["task"]
    assert case.expected == {"output": "Thanks!"}


def test_a_trace_of_another_workspace_is_refused(cast: Any) -> None:
    foreign = stored_trace(cast.other_agent)
    made = services.eval_set_create(actor=SYSTEM, workspace=cast.workspace, key="s", name="S")
    with pytest.raises(ValidationFailed):
        services.eval_cases_add(
            actor=SYSTEM, eval_set=made, cases=[{"key": "t", "trace": foreign.pk}]
        )
    assert not EvalCase.objects.exists()


def test_free_text_is_masked_on_write(cast: Any) -> None:
    made = services.eval_set_create(
        actor=SYSTEM, workspace=cast.workspace, key="s", name=f"Ask {EMAIL}", description=EMAIL
    )
    services.eval_cases_add(
        actor=SYSTEM,
        eval_set=made,
        cases=[{"key": "x", "input": {"to": EMAIL}, "expected": {"cc": EMAIL}, "rubric": EMAIL}],
    )
    case = EvalCase.objects.get(key="x")
    made.refresh_from_db()
    for text in (made.name, made.description, str(case.input), str(case.expected), case.rubric):
        assert EMAIL not in text
    run = post(made, prompt_versions(cast, 1)[0], {"x": True})
    assert run.results.get().notes == ""
    services.eval_run_post(
        actor=SYSTEM,
        eval_set=made,
        artifact_version=run.artifact_version,
        results=[{"case": "x", "passed": True, "score": 1, "notes": f"wrote to {EMAIL}"}],
    )
    assert EMAIL not in "".join(services.EvalResult.objects.values_list("notes", flat=True))


@pytest.mark.parametrize("who", ["viewer", "auditor", "reviewer", "outsider"])
def test_only_editors_and_above_change_sets(cast: Any, who: str) -> None:
    made = eval_set(cast)
    with pytest.raises(Forbidden):
        services.eval_cases_retire(actor=cast.user(who), eval_set=made, keys=["a"])
    made.refresh_from_db()
    assert made.version == 2


def test_a_run_records_its_totals_and_is_audited(cast: Any) -> None:
    made = eval_set(cast)
    v1 = prompt_versions(cast, 1)[0]
    run = post(made, v1, {"a": True, "b": False, "c": True})
    assert (run.case_count, run.passed_count, run.set_version) == (3, 2, 2)
    assert float(run.total_cost) == pytest.approx(0.03) and run.total_latency_ms == 300
    event = AuditEvent.objects.get(action="evals.run_post")
    assert event.after["passed"] == 2 and event.after["artifact_version"] == v1.pk


def test_a_run_against_an_older_set_version_names_that_version_s_cases(cast: Any) -> None:
    made = eval_set(cast)
    services.eval_cases_retire(actor=SYSTEM, eval_set=made, keys=["a"])
    v1 = prompt_versions(cast, 1)[0]
    with pytest.raises(ValidationFailed):
        post(made, v1, {"a": True})  # retired in the current version
    run = post(made, v1, {"a": True}, set_version=2)
    assert run.set_version == 2


def test_the_settings_are_off_by_default_and_changed_by_managers_only(cast: Any) -> None:
    assert services.eval_settings_for(cast.workspace.pk).block_promotion is False
    with pytest.raises(Forbidden):
        services.eval_settings_update(
            actor=cast.user("editor"), workspace=cast.workspace, block_promotion=True
        )
    saved = services.eval_settings_update(
        actor=cast.user("admin"),
        workspace=cast.workspace,
        block_promotion=True,
        max_regression_rate=0.1,
    )
    assert saved.block_promotion and saved.max_regression_rate == 0.1
    event = AuditEvent.objects.get(action="evals.settings_update")
    assert event.before["block_promotion"] is False and event.after["block_promotion"] is True
