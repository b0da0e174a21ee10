"""Each number of the scorecard on one constructed week (tests/scorecards/world.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.core.exceptions import ValidationFailed
from apps.scorecards.selectors import parse_week, primary_comparison, scorecard_compute
from tests.scorecards.world import build_week
from tests.workspaces.factories import TeamFactory

pytestmark = pytest.mark.django_db


def test_the_workspace_card_counts_every_row_of_the_week(cast, django_assert_num_queries):
    week, _ = build_week(cast)

    with django_assert_num_queries(7):
        card = scorecard_compute(cast.workspace, None, week)

    assert (card["runs"], card["successes"], card["failures"], card["escalations"]) == (7, 5, 1, 1)
    assert card["success_rate"] == pytest.approx(5 / 7)
    assert card["escalation_rate"] == pytest.approx(1 / 7)
    assert card["cost"] == Decimal("6.00")
    assert card["positive_outcomes"] == 5
    assert card["cost_per_outcome"] == Decimal("1.200000")
    outcomes = card["details"]["outcomes"]
    assert outcomes["meeting_booked"] == {"count": 4, "per_run": pytest.approx(4 / 7)}
    assert outcomes["unsubscribe"]["count"] == 1
    assert outcomes["complaint"] == {"count": 0, "per_run": 0.0}
    assert "spend" not in outcomes
    assert (
        card["memories_created"],
        card["memories_approved"],
        card["memories_rejected"],
        card["memories_expired"],
        card["memories_net"],
    ) == (5, 2, 1, 2, 0)
    assert (card["reviews_decided"], card["reviews_open"]) == (2, 2)
    assert card["review_decision_median_hours"] == pytest.approx(53.0)
    assert card["review_open_age_median_hours"] == pytest.approx(48.0)
    assert card["review_open_age_p90_hours"] == pytest.approx(67.2)
    assert card["guardrail_trips"] == 4
    assert card["details"]["trips"] == {"denied": 2, "breaker": 1, "kill_switch": 1}


def test_experiments_running_in_the_week_show_the_latest_look_before_its_end(cast):
    week, _ = build_week(cast)

    experiments = scorecard_compute(cast.workspace, None, week)["details"]["experiments"]

    assert [row["key"] for row in experiments] == ["marketing-only", "subject-lines"]
    lines = experiments[1]
    assert lines["primary_metric"]["event"] == "meeting_booked"
    assert (lines["variant"], lines["control"]) == ("b", "a")
    assert lines["difference"] == 0.02
    assert lines["always_valid_interval"] == [-0.01, 0.05]
    assert lines["relative_lift"] == 0.1
    assert lines["decision"] == "inconclusive"
    assert experiments[0]["decision"] is None and experiments[0]["difference"] is None


def test_a_team_card_counts_its_agents_rows_only(cast):
    week, _ = build_week(cast)

    sales = scorecard_compute(cast.workspace, cast.sales, week)
    marketing = scorecard_compute(cast.workspace, cast.marketing, week)

    assert (sales["runs"], sales["successes"], sales["escalations"]) == (5, 3, 1)
    assert sales["cost"] == Decimal("5.00")
    assert sales["positive_outcomes"] == 3
    assert sales["cost_per_outcome"] == Decimal("1.666667")
    assert (marketing["runs"], marketing["positive_outcomes"]) == (2, 1)
    assert marketing["cost_per_outcome"] == Decimal("1.000000")
    memories = ("memories_created", "memories_approved", "memories_rejected", "memories_expired")
    assert [sales[name] for name in memories] == [3, 2, 1, 1]
    assert sales["memories_net"] == 1
    assert [marketing[name] for name in memories] == [1, 0, 0, 1]
    assert (sales["reviews_decided"], sales["reviews_open"]) == (2, 1)
    assert sales["review_open_age_p90_hours"] == pytest.approx(24.0)
    assert marketing["reviews_decided"] == 0 and marketing["review_decision_median_hours"] is None
    assert sales["details"]["trips"] == {"denied": 2, "breaker": 0, "kill_switch": 0}
    assert marketing["details"]["trips"] == {"denied": 0, "breaker": 0, "kill_switch": 1}
    assert [row["key"] for row in sales["details"]["experiments"]] == ["subject-lines"]
    assert len(marketing["details"]["experiments"]) == 2


def test_an_empty_week_has_no_rates(cast):
    card = scorecard_compute(cast.workspace, None, dt.date(2024, 1, 1))

    assert card["runs"] == 0
    assert card["success_rate"] is None and card["cost_per_outcome"] is None
    assert card["review_open_age_median_hours"] is None
    assert card["guardrail_trips"] == 0


def test_a_team_of_another_workspace_is_refused(cast):
    elsewhere = TeamFactory(workspace=cast.other_workspace, slug="x")

    with pytest.raises(ValidationFailed):
        scorecard_compute(cast.workspace, elsewhere, dt.date(2024, 1, 1))


@pytest.mark.parametrize(
    ("raw", "week"),
    [("2026-11-02", dt.date(2026, 11, 2)), ("2026-W45", dt.date(2026, 11, 2))],
)
def test_weeks_are_given_as_a_monday_or_an_iso_week(raw, week):
    assert parse_week(raw) == week


@pytest.mark.parametrize(
    "raw", ["2026-11-03", "2026-W54", "yesterday", "", 20261102, "2026-11-02" + "x" * 20]
)
def test_a_bad_week_is_refused(raw):
    with pytest.raises(ValidationFailed):
        parse_week(raw)


def test_primary_comparison_reads_the_decided_variant_and_survives_odd_results():
    result = {
        "comparisons": [{"variant": "b", "x": 1}, {"variant": "c", "x": 2}],
        "decision": {"variant": "c"},
    }
    assert primary_comparison(result) == {"variant": "c", "x": 2}
    assert primary_comparison({"analysis": result})["x"] == 2
    assert primary_comparison({"comparisons": [{"variant": "b"}]}) == {"variant": "b"}
    for odd in (None, [], "x", {}, {"comparisons": ["x"]}, {"comparisons": None}):
        assert primary_comparison(odd) is None
