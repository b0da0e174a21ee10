"""Few-shot examples on the context endpoint: the agent's best-rated past responses to similar
tasks, masked, from its own visible runs, and never from an eval holdout."""

from __future__ import annotations

import random
from typing import Any

import pytest

from apps.evals import services
from apps.evals.examples import few_shot_examples
from apps.evals.models import EvalCase, EvalSet
from apps.signals import services as signals
from apps.signals.models import Trace
from tests.conftest import SYSTEM
from tests.signals.conftest import EMAIL, stored_trace


def rated(agent: Any, task: str, rating: int = 5, **extra: Any) -> Trace:
    trace = stored_trace(agent, task=task, **extra)
    signals.feedback_ingest(actor=agent, items=[{"trace": trace.pk, "rating": rating}])
    return trace


@pytest.fixture
def history(cast: Any) -> list[Trace]:
    return [rated(cast.agent, f"Follow up with the pricing lead number {i}") for i in range(12)]


def test_the_best_rated_similar_responses_come_back(cast: Any) -> None:
    good = rated(cast.agent, "Follow up on the pricing question", output="Here are our prices.")
    rated(cast.agent, "Follow up on the pricing question", rating=2)  # poorly rated
    rated(cast.agent, "Book the quarterly dentist appointment")  # not similar
    stored_trace(cast.agent, task="Follow up on pricing")  # no feedback
    failed = rated(cast.agent, "Follow up on the pricing question", status="failure")

    found = few_shot_examples(agent=cast.agent, task_text="pricing follow up", n=5)

    assert [e.trace_id for e in found] == [good.pk]
    assert found[0].response == "Here are our prices." and found[0].rating == 5
    assert failed.pk not in [e.trace_id for e in found]


def test_a_person_s_edit_is_the_response_shown(cast: Any) -> None:
    trace = stored_trace(cast.agent, task="Reply about pricing", output="draft")
    signals.feedback_ingest(
        actor=cast.user("editor"),
        items=[{"trace": trace.pk, "edited_output": "The edited reply.", "kind": "user"}],
        workspace=cast.workspace,
    )
    found = few_shot_examples(agent=cast.agent, task_text="pricing reply", n=3)
    assert [(e.trace_id, e.response, e.edited) for e in found] == [
        (trace.pk, "The edited reply.", True)
    ]


def test_examples_are_masked(cast: Any) -> None:
    rated(cast.agent, f"Follow up on pricing with {EMAIL}", output=f"Mail {EMAIL} again")
    found = few_shot_examples(agent=cast.agent, task_text="pricing follow up", n=3)
    assert len(found) == 1
    assert EMAIL not in found[0].task and EMAIL not in found[0].response


def test_only_the_agent_s_own_visible_runs(cast: Any) -> None:
    rated(cast.other_agent, "Follow up on the pricing question")
    from tests.workspaces.factories import AgentFactory

    teammate = AgentFactory(workspace=cast.workspace, team=cast.sales, slug="teammate")
    rated(teammate, "Follow up on the pricing question")
    assert few_shot_examples(agent=cast.agent, task_text="pricing follow up", n=10) == []


def test_n_zero_asks_nothing(cast: Any, history: Any, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert few_shot_examples(agent=cast.agent, task_text="pricing", n=0) == []


def test_the_holdout_never_leaks_into_examples_over_random_splits(
    cast: Any, history: list[Trace]
) -> None:
    """Property-style: for random splits (per case, and by a drawn share), no example is a
    trace behind a holdout case, retired ones included, and every dev trace stays eligible."""
    ids = [trace.pk for trace in history]
    for seed in range(20):
        rng = random.Random(seed)
        EvalCase.objects.all().delete()
        EvalSet.objects.all().delete()
        made = services.eval_set_create(actor=SYSTEM, workspace=cast.workspace, key="s", name="S")
        chosen = rng.sample(ids, rng.randint(0, len(ids)))
        by_share = seed % 2 == 1
        cases = [
            {"key": f"t{pk}", "trace": pk}
            | ({} if by_share else {"split": rng.choice(["dev", "holdout"])})
            for pk in chosen
        ]
        if cases:
            services.eval_cases_add(
                actor=SYSTEM, eval_set=made, cases=cases, holdout_share=rng.random()
            )
        if cases and rng.random() < 0.5:  # a retired holdout case still holds its trace out
            services.eval_cases_retire(actor=SYSTEM, eval_set=made, keys=[cases[0]["key"]])
        held = set(
            EvalCase.objects.filter(split="holdout").values_list("source_trace_id", flat=True)
        )

        found = {
            e.trace_id for e in few_shot_examples(agent=cast.agent, task_text="pricing lead", n=10)
        }

        assert not found & held, (seed, found & held)
        assert len(found) == min(10, len(set(ids) - held)), seed


def test_the_context_endpoint_returns_examples_when_asked(
    cast: Any, client_as: Any, history: Any
) -> None:
    agent = client_as("agent")
    without = agent.post("/api/v1/context", {"task": "pricing lead"}, format="json")
    asked = agent.post("/api/v1/context", {"task": "pricing lead", "examples": 3}, format="json")
    assert without.status_code == 200 and without.json()["examples"] == []
    assert asked.status_code == 200
    examples = asked.json()["examples"]
    assert len(examples) == 3
    assert set(examples[0]) == {"trace_id", "task", "response", "edited", "rating", "similarity"}


@pytest.mark.parametrize("bad", [-1, 11, "3", 2.5, True, None])
def test_bad_examples_counts_are_refused(cast: Any, client_as: Any, bad: Any) -> None:
    answer = client_as("agent").post(
        "/api/v1/context", {"task": "pricing", "examples": bad}, format="json"
    )
    assert answer.status_code == 400 and "examples" in answer.json()["error"]["fields"]
