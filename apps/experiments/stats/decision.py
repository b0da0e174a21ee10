"""The analysis of one look at an experiment and the decision the promotion gate reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from apps.experiments.stats.estimates import (
    SRM_ALPHA,
    FixedHorizon,
    Interval,
    Mean,
    Observation,
    Proportion,
    RelativeLift,
    SampleRatioCheck,
    Sequential,
    confidence_sequence,
    fixed_horizon,
    relative_lift,
    sample_ratio_check,
    variant_interval,
)
from apps.experiments.stats.inputs import (
    StatsInputError,
    as_count,
    as_open_unit,
    as_real,
    check_weights,
)

# --- the analysis and its decision -----------------------------------------------------------


class Outcome(StrEnum):
    WINNER = "winner"
    LOSER = "loser"
    INCONCLUSIVE = "inconclusive"
    BLOCKED_SRM = "blocked_srm"
    BLOCKED_GUARDRAIL = "blocked_guardrail"


@dataclass(frozen=True)
class Metric:
    """One metric's data by variant; tolerance (>= 0, metric units) only matters for guardrails."""

    name: str
    data: Mapping[str, Observation]
    higher_is_better: bool = True
    tolerance: float = 0.0


@dataclass(frozen=True)
class VariantSummary:
    variant: str
    size: int
    estimate: float
    interval: Interval


@dataclass(frozen=True)
class Comparison:
    metric: str
    variant: str
    control: str
    alpha: float
    fixed: FixedHorizon
    relative: RelativeLift
    sequential: Sequential
    degenerate: bool


@dataclass(frozen=True)
class GuardrailCheck:
    metric: str
    variant: str
    comparison: Comparison
    tolerance: float
    harmed: bool


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    variant: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Analysis:
    control: str
    alpha: float
    sample_ratio: SampleRatioCheck
    variants: dict[str, dict[str, VariantSummary]]
    comparisons: tuple[Comparison, ...]
    guardrails: tuple[GuardrailCheck, ...]
    decision: Decision

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (enums are strings) for storage and the API."""
        return asdict(self)


def compare(
    metric: str,
    treatment_name: str,
    control_name: str,
    data: Mapping[str, Observation],
    *,
    alpha: float,
    planned_sample_size: int,
) -> Comparison:
    treatment, control = data[treatment_name], data[control_name]
    fixed = fixed_horizon(treatment, control, alpha=alpha)
    sequential = confidence_sequence(
        estimate=fixed.difference,
        standard_error=fixed.standard_error,
        sample_size=treatment.size + control.size,
        planned_sample_size=planned_sample_size,
        alpha=alpha,
    )
    return Comparison(
        metric,
        treatment_name,
        control_name,
        alpha,
        fixed,
        relative_lift(treatment, control, alpha=alpha),
        sequential,
        degenerate=fixed.standard_error == 0,
    )


def _check_metric(metric: Metric, variants: set[str]) -> None:
    if set(metric.data) != variants:
        raise StatsInputError(
            f"metric {metric.name!r} has data for {sorted(metric.data)}, "
            f"the experiment has {sorted(variants)}"
        )
    kinds = {type(observation) for observation in metric.data.values()}
    if len(kinds) != 1 or not kinds <= {Proportion, Mean}:
        raise StatsInputError(f"metric {metric.name!r} must be all Proportion or all Mean")
    if as_real(metric.tolerance, "tolerance") < 0:
        raise StatsInputError(f"tolerance of {metric.name!r} must not be negative")


def _check_metrics(metrics: Sequence[Metric], variants: set[str]) -> None:
    names = [metric.name for metric in metrics]
    if len(set(names)) != len(names):
        raise StatsInputError(f"metric names must be unique, got {names}")
    for metric in metrics:
        _check_metric(metric, variants)


def _summaries(metrics: Sequence[Metric], *, alpha: float) -> dict[str, dict[str, VariantSummary]]:
    return {
        metric.name: {
            name: VariantSummary(
                name,
                observation.size,
                observation.estimate,
                variant_interval(observation, alpha=alpha),
            )
            for name, observation in metric.data.items()
        }
        for metric in metrics
    }


def _blocked_or_too_early(srm: SampleRatioCheck, minimum: int) -> Decision | None:
    if srm.failed:
        expected = {name: round(value, 1) for name, value in srm.expected.items()}
        return Decision(
            Outcome.BLOCKED_SRM,
            None,
            (
                f"sample ratio mismatch: chi-square {_fmt(srm.chi_square)}, "
                f"p = {srm.p_value:.3g} < {srm.threshold}; observed {srm.observed}, "
                f"expected {expected}",
            ),
        )
    if min(srm.observed.values()) < minimum:
        return Decision(
            Outcome.INCONCLUSIVE,
            None,
            (f"minimum sample not reached: {minimum} exposures per variant required",),
        )
    return None


def _guardrail_harmed(comparison: Comparison, metric: Metric) -> bool:
    interval = comparison.fixed.interval
    if metric.higher_is_better:
        return interval.below(-metric.tolerance)
    return interval.above(metric.tolerance)


def _guardrail_check(
    metric: Metric, treatment: str, control: str, *, alpha: float, planned: int
) -> GuardrailCheck:
    comparison = compare(
        metric.name, treatment, control, metric.data, alpha=alpha, planned_sample_size=planned
    )
    harmed = _guardrail_harmed(comparison, metric)
    return GuardrailCheck(metric.name, treatment, comparison, float(metric.tolerance), harmed)


def _verdict(comparison: Comparison, higher_is_better: bool) -> int:
    """+1 better than control, -1 worse, 0 undecided, by the confidence sequence."""
    if comparison.degenerate:
        return 0
    sign = 1 if higher_is_better else -1
    if comparison.sequential.interval.above(0.0):
        return sign
    if comparison.sequential.interval.below(0.0):
        return -sign
    return 0


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _decide(
    comparisons: Sequence[Comparison],
    guardrails: Sequence[GuardrailCheck],
    higher_is_better: bool,
) -> Decision:
    verdicts = {c.variant: _verdict(c, higher_is_better) for c in comparisons}
    reasons: list[str] = []
    winners = sorted(
        (c for c in comparisons if verdicts[c.variant] > 0),
        key=lambda c: c.fixed.difference,
        reverse=higher_is_better,
    )
    for winner in winners:
        harmed = [g for g in guardrails if g.variant == winner.variant and g.harmed]
        if not harmed:
            interval = winner.sequential.interval
            reasons.append(
                f"{winner.variant} beats {winner.control} on {winner.metric}: always-valid "
                f"interval [{_fmt(interval.low)}, {_fmt(interval.high)}] excludes 0"
            )
            return Decision(Outcome.WINNER, winner.variant, tuple(reasons))
        for check in harmed:
            interval = check.comparison.fixed.interval
            reasons.append(
                f"{winner.variant} would win but harms guardrail {check.metric}: difference "
                f"interval [{_fmt(interval.low)}, {_fmt(interval.high)}] is beyond the "
                f"tolerance {_fmt(check.tolerance)}"
            )
    if winners:
        return Decision(Outcome.BLOCKED_GUARDRAIL, winners[0].variant, tuple(reasons))
    degenerate = [c.variant for c in comparisons if c.degenerate]
    if degenerate:
        reasons.append(f"no variation yet in {', '.join(degenerate)} and control")
    if comparisons and all(verdict < 0 for verdict in verdicts.values()):
        worst = comparisons[0].variant if len(comparisons) == 1 else None
        reasons.append("every treatment is worse than control (always-valid interval)")
        return Decision(Outcome.LOSER, worst, tuple(reasons))
    reasons.append("no always-valid interval excludes 0 in favour of a treatment yet")
    return Decision(Outcome.INCONCLUSIVE, None, tuple(reasons))


def analyze(
    *,
    weights: Mapping[str, float],
    control: str,
    exposures: Mapping[str, int],
    primary: Metric,
    planned_exposures: int,
    guardrails: Sequence[Metric] = (),
    alpha: float = 0.05,
    guardrail_alpha: float | None = None,
    srm_threshold: float = SRM_ALPHA,
    min_exposures_per_variant: int = 0,
) -> Analysis:
    """Everything the results page and the promotion gate need, from counts and aggregates.

    Order of the rules: a failing sample-ratio check blocks; below the minimum sample nothing
    is decided; a treatment whose always-valid interval (alpha split over the treatments,
    Bonferroni) lies on the good side wins unless a guardrail is harmed for it.
    """
    checked = check_weights(weights)
    if control not in checked:
        raise StatsInputError(f"control {control!r} is not one of the variants {sorted(checked)}")
    alpha = as_open_unit(alpha, "alpha")
    guard_alpha = alpha if guardrail_alpha is None else as_open_unit(guardrail_alpha, "alpha")
    planned = as_count(planned_exposures, "planned_exposures")
    minimum = as_count(min_exposures_per_variant, "min_exposures_per_variant")
    if planned == 0:
        raise StatsInputError("planned_exposures must be at least 1")
    srm = sample_ratio_check(exposures, checked, threshold=srm_threshold)
    _check_metrics((primary, *guardrails), set(checked))
    treatments = [name for name in checked if name != control]
    per_comparison_alpha = alpha / len(treatments)

    def planned_for(name: str) -> int:
        return max(1, round(planned * (checked[name] + checked[control])))

    comparisons = tuple(
        compare(
            primary.name,
            name,
            control,
            primary.data,
            alpha=per_comparison_alpha,
            planned_sample_size=planned_for(name),
        )
        for name in treatments
    )
    guardrail_checks = tuple(
        _guardrail_check(metric, name, control, alpha=guard_alpha, planned=planned_for(name))
        for metric in guardrails
        for name in treatments
    )
    decision = _blocked_or_too_early(srm, minimum) or _decide(
        comparisons, guardrail_checks, primary.higher_is_better
    )
    summaries = _summaries((primary, *guardrails), alpha=alpha)
    return Analysis(control, alpha, srm, summaries, comparisons, guardrail_checks, decision)
