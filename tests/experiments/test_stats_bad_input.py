"""Every input path of apps.experiments.stats refuses bad values with StatsInputError.

StatsInputError subclasses ValueError, so a caller that catches ValueError catches it too; its
message names the value and the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.experiments import stats
from apps.experiments.stats import Mean, Metric, Proportion, StatsInputError

HALF = {"control": 0.5, "treatment": 0.5}


def primary(**data: Any) -> Metric:
    return Metric(
        "conversion", data or {"control": Proportion(100, 5), "treatment": Proportion(100, 7)}
    )


def analyze(**overrides: Any) -> stats.Analysis:
    options: dict[str, Any] = {
        "weights": HALF,
        "control": "control",
        "exposures": {"control": 100, "treatment": 100},
        "primary": primary(),
        "planned_exposures": 1000,
    }
    options.update(overrides)
    return stats.analyze(**options)


CASES: list[tuple[str, Callable[[], object], str]] = [
    ("negative exposures", lambda: Proportion(-1, 0), "must not be negative"),
    ("negative conversions", lambda: Proportion(10, -2), "must not be negative"),
    ("conversions above exposures", lambda: Proportion(10, 11), "cannot exceed"),
    ("zero exposures", lambda: Proportion(0, 0), "at least 1"),
    ("float count", lambda: Proportion(10.5, 1), "integer count"),  # type: ignore[arg-type]
    ("bool count", lambda: Proportion(True, 0), "integer count"),
    ("string count", lambda: Proportion("10", 1), "integer count"),  # type: ignore[arg-type]
    ("mean of one unit", lambda: Mean(1, 2.0, 0.0), "at least 2"),
    ("negative variance", lambda: Mean(10, 2.0, -1.0), "must not be negative"),
    ("nan mean", lambda: Mean(10, float("nan"), 1.0), "finite"),
    ("infinite variance", lambda: Mean(10, 1.0, float("inf")), "finite"),
    ("string mean", lambda: Mean(10, "2", 1.0), "a number"),  # type: ignore[arg-type]
    (
        "weights not summing to 1",
        lambda: stats.sample_ratio_check({"a": 10, "b": 10}, {"a": 0.5, "b": 0.6}),
        "sum to 1",
    ),
    (
        "zero weight",
        lambda: stats.sample_ratio_check({"a": 10, "b": 10}, {"a": 0.0, "b": 1.0}),
        "positive",
    ),
    ("one variant", lambda: stats.sample_ratio_check({"a": 10}, {"a": 1.0}), "two variants"),
    (
        "srm names differ",
        lambda: stats.sample_ratio_check({"a": 10, "c": 10}, {"a": 0.5, "b": 0.5}),
        "weights name",
    ),
    (
        "srm without exposures",
        lambda: stats.sample_ratio_check({"control": 0, "treatment": 0}, HALF),
        "no exposures",
    ),
    (
        "srm negative",
        lambda: stats.sample_ratio_check({"control": -1, "treatment": 3}, HALF),
        "negative",
    ),
    (
        "srm threshold",
        lambda: stats.sample_ratio_check({"control": 1, "treatment": 3}, HALF, threshold=0),
        "between 0 and 1",
    ),
    ("unknown control", lambda: analyze(control="nobody"), "not one of the variants"),
    ("alpha of 1", lambda: analyze(alpha=1.0), "between 0 and 1"),
    ("alpha nan", lambda: analyze(alpha=float("nan")), "finite"),
    ("guardrail alpha 0", lambda: analyze(guardrail_alpha=0.0), "between 0 and 1"),
    ("planned exposures 0", lambda: analyze(planned_exposures=0), "at least 1"),
    ("negative minimum", lambda: analyze(min_exposures_per_variant=-5), "negative"),
    (
        "metric misses a variant",
        lambda: analyze(primary=primary(control=Proportion(100, 5))),
        "has data for",
    ),
    (
        "metric mixes kinds",
        lambda: analyze(primary=primary(control=Proportion(100, 5), treatment=Mean(100, 1.0, 1.0))),
        "all Proportion or all Mean",
    ),
    (
        "metric holds something else",
        lambda: analyze(primary=primary(control=(100, 5), treatment=(100, 7))),
        "all Proportion or all Mean",
    ),
    (
        "two metrics of one name",
        lambda: analyze(guardrails=[Metric("conversion", primary().data)]),
        "unique",
    ),
    (
        "negative tolerance",
        lambda: analyze(guardrails=[Metric("g", primary().data, tolerance=-0.1)]),
        "tolerance",
    ),
    (
        "exposures for another variant set",
        lambda: analyze(exposures={"control": 100, "other": 100}),
        "weights name",
    ),
    (
        "fixed horizon of two kinds",
        lambda: stats.fixed_horizon(Proportion(10, 1), Mean(10, 1.0, 1.0)),
        "same kind",
    ),
    (
        "sequence without units",
        lambda: stats.confidence_sequence(
            estimate=0.1, standard_error=0.1, sample_size=0, planned_sample_size=10
        ),
        "at least 1",
    ),
    (
        "baseline of 0",
        lambda: stats.sample_size_two_proportions(
            baseline_rate=0.0, minimum_detectable_effect=0.01
        ),
        "between 0 and 1",
    ),
    (
        "effect of 0",
        lambda: stats.sample_size_two_proportions(baseline_rate=0.1, minimum_detectable_effect=0.0),
        "non-zero",
    ),
    (
        "effect past 1",
        lambda: stats.sample_size_two_proportions(baseline_rate=0.9, minimum_detectable_effect=0.2),
        "treatment rate in",
    ),
    (
        "relative effect below -100%",
        lambda: stats.sample_size_two_proportions(
            baseline_rate=0.1, minimum_detectable_effect=-1.5, relative=True
        ),
        "treatment rate in",
    ),
    (
        "power of 1",
        lambda: stats.sample_size_two_proportions(
            baseline_rate=0.1, minimum_detectable_effect=0.01, power=1.0
        ),
        "between 0 and 1",
    ),
    (
        "power below alpha",
        lambda: stats.sample_size_two_proportions(
            baseline_rate=0.1, minimum_detectable_effect=0.01, power=0.01
        ),
        "must exceed",
    ),
    (
        "treatment share 1",
        lambda: stats.sample_size_two_proportions(
            baseline_rate=0.1, minimum_detectable_effect=0.01, treatment_share=1.0
        ),
        "between 0 and 1",
    ),
    (
        "power without exposures",
        lambda: stats.power_two_proportions(
            baseline_rate=0.1, treatment_rate=0.12, treatment_exposures=0, control_exposures=10
        ),
        "at least one",
    ),
    (
        "mde of one unit",
        lambda: stats.minimum_detectable_effect(baseline_rate=0.1, total_exposures=1),
        "at least 2",
    ),
    ("t quantile at 1", lambda: stats.student_t_quantile(1.0, 10), "between|in \\(0, 1\\)"),
    ("incomplete gamma a 0", lambda: stats.regularized_gamma_q(0.0, 1.0), "a > 0"),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_value_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(StatsInputError, match=message) as raised:
        call()
    assert isinstance(raised.value, ValueError)


def test_numpy_counts_and_decimal_like_numbers_are_accepted() -> None:
    import numpy as np

    observed = Proportion(np.int64(100), np.int64(7))
    assert (observed.exposures, observed.conversions) == (100, 7)
    assert type(observed.exposures) is int
    assert Mean(10, np.float64(1.5), 2).variance == 2.0
