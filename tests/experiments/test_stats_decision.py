"""The decision `analyze` hands to the promotion gate: the order of its rules and its reasons."""

from __future__ import annotations

import json

import pytest

from apps.experiments.stats import (
    Analysis,
    Mean,
    Metric,
    Outcome,
    Proportion,
    analyze,
    sample_ratio_check,
)

HALF = {"control": 0.5, "treatment": 0.5}


def conversion(control: tuple[int, int], treatment: tuple[int, int], **kwargs: object) -> Metric:
    return Metric(
        "conversion",
        {"control": Proportion(*control), "treatment": Proportion(*treatment)},
        **kwargs,  # type: ignore[arg-type]
    )


def run(primary: Metric, **kwargs: object) -> Analysis:
    exposures = {name: observation.size for name, observation in primary.data.items()}
    options: dict[str, object] = {
        "weights": HALF,
        "control": "control",
        "exposures": exposures,
        "primary": primary,
        "planned_exposures": 20_000,
    }
    options.update(kwargs)
    return analyze(**options)  # type: ignore[arg-type]


def test_srm_is_detected_on_a_skewed_split_and_not_on_a_fair_one() -> None:
    skewed = sample_ratio_check({"control": 5000, "treatment": 5400}, HALF)
    fair = sample_ratio_check({"control": 5000, "treatment": 5050}, HALF)
    assert skewed.failed
    assert skewed.p_value < 0.001
    assert not fair.failed
    assert fair.p_value > 0.5


def test_srm_is_checked_against_unequal_weights() -> None:
    weights = {"control": 0.2, "treatment": 0.8}
    assert not sample_ratio_check({"control": 2000, "treatment": 8000}, weights).failed
    assert sample_ratio_check({"control": 5000, "treatment": 5000}, weights).failed


def test_srm_blocks_a_decision_that_would_otherwise_be_a_win() -> None:
    # given a treatment that clearly wins, but 5,400 exposures against 5,000 on a 50/50 split
    primary = conversion((5000, 250), (5400, 540))
    # when analysed
    result = run(primary)
    # then the decision is blocked, with the numbers in the reason
    assert result.decision.outcome is Outcome.BLOCKED_SRM
    assert result.comparisons[0].sequential.interval.low > 0
    assert "sample ratio mismatch" in result.decision.reasons[0]


def test_clear_win_and_clear_loss() -> None:
    win = run(conversion((10_000, 500), (10_000, 650)))
    loss = run(conversion((10_000, 650), (10_000, 500)))
    assert (win.decision.outcome, win.decision.variant) == (Outcome.WINNER, "treatment")
    assert (loss.decision.outcome, loss.decision.variant) == (Outcome.LOSER, "treatment")


def test_significant_at_a_fixed_horizon_is_not_enough_for_the_sequential_rule() -> None:
    # given a difference with p ~ 0.01 at a single look
    result = run(conversion((10_000, 500), (10_000, 580)))
    comparison = result.comparisons[0]
    assert comparison.fixed.p_value < 0.05
    # then the always-valid interval still contains 0 and nothing is decided yet
    assert comparison.sequential.interval.low < 0 < comparison.sequential.interval.high
    assert comparison.sequential.p_value > 0.05
    assert result.decision.outcome is Outcome.INCONCLUSIVE


def test_minimum_sample_not_reached_decides_nothing() -> None:
    result = run(conversion((10_000, 500), (10_000, 650)), min_exposures_per_variant=12_000)
    assert result.decision.outcome is Outcome.INCONCLUSIVE
    assert "minimum sample" in result.decision.reasons[0]


def unsubscribes(control: int, treatment: int, tolerance: float = 0.0) -> Metric:
    return Metric(
        "unsubscribe",
        {"control": Proportion(10_000, control), "treatment": Proportion(10_000, treatment)},
        higher_is_better=False,
        tolerance=tolerance,
    )


def test_a_harmed_guardrail_blocks_the_win_and_says_why() -> None:
    primary = conversion((10_000, 500), (10_000, 650))
    blocked = run(primary, guardrails=[unsubscribes(40, 90)])
    assert blocked.decision.outcome is Outcome.BLOCKED_GUARDRAIL
    assert blocked.decision.variant == "treatment"
    assert "unsubscribe" in " ".join(blocked.decision.reasons)
    assert blocked.guardrails[0].harmed


def test_guardrail_within_tolerance_or_not_significantly_worse_does_not_block() -> None:
    primary = conversion((10_000, 500), (10_000, 650))
    tolerated = run(primary, guardrails=[unsubscribes(40, 90, tolerance=0.008)])
    noise = run(primary, guardrails=[unsubscribes(40, 48)])
    assert tolerated.decision.outcome is Outcome.WINNER
    assert noise.decision.outcome is Outcome.WINNER


def test_a_mean_guardrail_cost_per_unit_blocks_when_it_rises() -> None:
    primary = conversion((10_000, 500), (10_000, 650))
    cost = Metric(
        "cost_per_task",
        {"control": Mean(2000, 0.80, 0.09), "treatment": Mean(2000, 0.95, 0.12)},
        higher_is_better=False,
    )
    result = run(primary, guardrails=[cost])
    assert result.decision.outcome is Outcome.BLOCKED_GUARDRAIL
    welch_df = result.guardrails[0].comparison.fixed.degrees_of_freedom
    assert welch_df is not None
    assert welch_df > 1000


def test_lower_is_better_primary_metric_wins_when_it_falls() -> None:
    result = run(conversion((10_000, 650), (10_000, 500), higher_is_better=False))
    assert result.decision.outcome is Outcome.WINNER


def test_several_treatments_split_alpha_and_the_best_unharmed_winner_wins() -> None:
    weights = {"control": 0.25, "a": 0.25, "b": 0.25, "c": 0.25}
    primary = Metric(
        "conversion",
        {
            "control": Proportion(10_000, 500),
            "a": Proportion(10_000, 700),
            "b": Proportion(10_000, 650),
            "c": Proportion(10_000, 510),
        },
    )
    guardrail = Metric(
        "unsubscribe",
        {
            "control": Proportion(10_000, 40),
            "a": Proportion(10_000, 95),
            "b": Proportion(10_000, 41),
            "c": Proportion(10_000, 40),
        },
        higher_is_better=False,
    )
    result = analyze(
        weights=weights,
        control="control",
        exposures=dict.fromkeys(weights, 10_000),
        primary=primary,
        guardrails=[guardrail],
        planned_exposures=40_000,
    )
    assert {c.alpha for c in result.comparisons} == {0.05 / 3}
    assert (result.decision.outcome, result.decision.variant) == (Outcome.WINNER, "b")
    assert any("a would win but harms guardrail unsubscribe" in r for r in result.decision.reasons)


def test_no_variation_yet_is_inconclusive() -> None:
    result = run(conversion((300, 0), (300, 0)))
    assert result.decision.outcome is Outcome.INCONCLUSIVE
    assert result.comparisons[0].degenerate
    assert "no variation" in result.decision.reasons[0]


def test_the_analysis_is_plain_json_for_the_gate() -> None:
    result = run(conversion((10_000, 500), (10_000, 650)), guardrails=[unsubscribes(40, 41)])
    data = json.loads(json.dumps(result.as_dict()))
    assert data["decision"]["outcome"] == "winner"
    assert data["sample_ratio"]["p_value"] == pytest.approx(1.0)
    assert data["variants"]["conversion"]["treatment"]["estimate"] == pytest.approx(0.065)
    assert data["comparisons"][0]["relative"]["estimate"] == pytest.approx(0.3)
