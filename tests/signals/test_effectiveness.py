"""Memory effectiveness on constructed traces: exact counts, rates, the difference and its
interval (checked against statsmodels' Newcombe and Wilson intervals), who is compared with
whom, the too-little-data state, the caps, and one query however many runs used the memory."""

from __future__ import annotations

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from apps.memories.models import Tier
from apps.signals import effectiveness as eff
from apps.signals.effectiveness import memory_effectiveness, newcombe_interval, wilson_interval
from tests.memories.factories import MemoryItemFactory
from tests.signals.effectiveness_world import runs
from tests.workspaces.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def memory(cast):
    return MemoryItemFactory(workspace=cast.workspace, tier=Tier.WORKSPACE)


@pytest.fixture
def other_memory(cast):
    return MemoryItemFactory(workspace=cast.workspace, tier=Tier.WORKSPACE)


def by_key(result):
    return {metric.key: metric for metric in result.metrics}


def test_counts_rates_and_difference_on_a_constructed_case(cast, memory, other_memory):
    # given 40 runs with the memory: the first 8 got a positive reply and the first 12 a
    # booked meeting (so 12 runs had the primary outcome, counted once each), 2 a complaint
    agent = cast.agent
    runs(
        agent,
        40,
        used=[memory, other_memory],
        outcomes={"positive_reply": 8, "meeting_booked": 12, "complaint": 2},
    )
    # and 50 comparable runs (same agent, same task kind) whose context left it out
    runs(
        agent,
        50,
        used=[other_memory],
        outcomes={"positive_reply": 10, "complaint": 1, "unsubscribe": 3, "reply": 30},
    )

    result = memory_effectiveness(memory)

    assert (result.status, result.traces_with, result.traces_without) == ("ok", 40, 50)
    assert (result.agents, result.task_kinds, result.capped) == (1, ["follow_up_email"], False)
    assert result.label == "observational, not causal"
    metrics = by_key(result)
    primary = metrics["primary"]
    assert (primary.with_memory.count, primary.with_memory.traces) == (12, 40)
    assert (primary.without_memory.count, primary.without_memory.traces) == (10, 50)
    assert primary.with_memory.rate == pytest.approx(0.3)
    assert primary.without_memory.rate == pytest.approx(0.2)
    assert primary.difference == pytest.approx(0.1)
    low, high = confint_proportions_2indep(12, 40, 10, 50, method="newcomb", compare="diff")
    assert (primary.low, primary.high) == (
        pytest.approx(low, abs=1e-9),
        pytest.approx(high, abs=1e-9),
    )
    wilson = proportion_confint(12, 40, method="wilson")
    assert (primary.with_memory.low, primary.with_memory.high) == pytest.approx(wilson, abs=1e-9)
    assert [(m.with_memory.count, m.without_memory.count) for m in result.metrics] == [
        (12, 10),
        (2, 1),
        (0, 3),
    ]
    assert metrics["unsubscribe"].difference == pytest.approx(-0.06)


def test_only_the_same_agents_and_task_kinds_since_the_first_use_are_compared(
    cast, memory, other_memory
):
    agent, teammate = cast.agent, AgentFactory(workspace=cast.workspace)
    runs(agent, 20, used=[memory], outcomes={"positive_reply": 5})
    runs(teammate, 20, used=[memory], kind="pricing_answer", outcomes={"meeting_booked": 10})
    runs(agent, 25, used=[other_memory], outcomes={"positive_reply": 5})
    runs(teammate, 25, used=[], kind="pricing_answer", outcomes={"meeting_booked": 5})
    # left out: another task kind of the agent, the teammate's other kind, an agent that never
    # used it, runs that logged no context, runs before the first use, runs past the window,
    # another workspace
    runs(agent, 30, used=[other_memory], kind="first_touch", outcomes={"positive_reply": 30})
    runs(teammate, 30, used=[other_memory], outcomes={"positive_reply": 30})
    runs(AgentFactory(workspace=cast.workspace), 30, used=[other_memory])
    runs(agent, 30, used=None, outcomes={"positive_reply": 30})
    runs(agent, 30, used=[other_memory], days_ago=3, outcomes={"positive_reply": 30})
    runs(agent, 30, used=[memory], days_ago=100, outcomes={"complaint": 30})
    runs(cast.other_agent, 30, used=[MemoryItemFactory(workspace=cast.other_workspace)])

    result = memory_effectiveness(memory)

    assert (result.traces_with, result.traces_without) == (40, 50)
    assert (result.agents, result.task_kinds) == (2, ["follow_up_email", "pricing_answer"])
    primary = by_key(result)["primary"]
    assert (primary.with_memory.count, primary.without_memory.count) == (15, 10)
    assert by_key(result)["complaint"].with_memory.count == 0


def test_the_window_reaches_further_back_when_asked(cast, memory, other_memory):
    runs(cast.agent, 30, used=[memory], days_ago=100, outcomes={"complaint": 3})
    runs(cast.agent, 30, used=[other_memory], days_ago=50)

    assert memory_effectiveness(memory).traces_with == 0
    wide = memory_effectiveness(memory, window_days=365)

    assert (wide.traces_with, wide.traces_without, wide.status) == (30, 30, "ok")
    assert by_key(wide)["complaint"].difference == pytest.approx(0.1)


def test_too_little_data_gives_counts_and_rates_but_no_difference(cast, memory, other_memory):
    runs(cast.agent, 5, used=[memory], outcomes={"positive_reply": 2})
    runs(cast.agent, 30, used=[other_memory], outcomes={"positive_reply": 3})

    result = memory_effectiveness(memory)

    assert result.status == "too_little_data"
    assert "Too little data" in result.message and "20" in result.message
    primary = by_key(result)["primary"]
    assert (primary.with_memory.count, primary.with_memory.traces) == (2, 5)
    assert primary.with_memory.rate == pytest.approx(0.4)
    assert (primary.difference, primary.low, primary.high) == (None, None, None)


def test_a_memory_no_run_used(cast, memory, other_memory):
    runs(cast.agent, 30, used=[other_memory])

    result = memory_effectiveness(memory)

    assert (result.status, result.traces_with, result.traces_without) == ("too_little_data", 0, 0)
    assert result.message.startswith("No run in the window")
    primary = by_key(result)["primary"]
    assert (primary.with_memory.rate, primary.with_memory.low) == (None, None)


def test_caps_keep_the_newest_runs_and_say_so(cast, memory, other_memory, monkeypatch):
    monkeypatch.setattr(eff, "MAX_TRACES", 25)
    runs(cast.agent, 30, used=[memory])
    runs(cast.agent, 10, used=[other_memory])

    result = memory_effectiveness(memory)

    assert (result.traces_with, result.traces_without, result.capped) == (25, 10, True)


def test_one_query_however_many_runs_used_it(cast, memory, other_memory, django_assert_num_queries):
    runs(cast.agent, 200, used=[memory], outcomes={"positive_reply": 50})
    runs(AgentFactory(workspace=cast.workspace), 200, used=[memory, other_memory])
    runs(cast.agent, 200, used=[other_memory], outcomes={"meeting_booked": 20})

    with django_assert_num_queries(1):
        result = memory_effectiveness(memory)

    assert (result.traces_with, result.traces_without) == (400, 200)


@pytest.mark.parametrize("window_days", [0, -1, eff.MAX_WINDOW_DAYS + 1])
def test_a_window_out_of_range_is_refused(memory, window_days):
    with pytest.raises(ValueError, match="window_days"):
        memory_effectiveness(memory, window_days=window_days)


@pytest.mark.parametrize(
    ("c1", "n1", "c2", "n2"),
    [(0, 20, 0, 20), (20, 20, 0, 20), (1, 21, 7, 33), (150, 1000, 120, 1000), (0, 1, 1, 1)],
)
def test_intervals_match_statsmodels_at_the_edges(c1, n1, c2, n2):
    difference, low, high = newcombe_interval(c1, n1, c2, n2)
    ref_low, ref_high = confint_proportions_2indep(c1, n1, c2, n2, method="newcomb", compare="diff")

    assert difference == pytest.approx(c1 / n1 - c2 / n2)
    assert (low, high) == (pytest.approx(ref_low, abs=1e-9), pytest.approx(ref_high, abs=1e-9))
    assert wilson_interval(c1, n1) == pytest.approx(
        proportion_confint(c1, n1, method="wilson"), abs=1e-9
    )
